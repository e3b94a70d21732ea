//! Signature checks that failed, remembered for [`super::BOGUS_TTL`] so that an answer carrying
//! the same failing RRSIG over the same data with the same key fails again without the
//! cryptography (KeyTrap, CVE-2023-50387; SECURITY-REFERENCE §2.2 and §3.12).
//!
//! A KeyTrap zone makes every answer cost the validator its budget of signature checks; a
//! wildcard or a static zone hands out the same failing RRSIGs for every name asked, so the
//! second answer and every later one are found here and cost a hash per (RRSIG, key) instead
//! of a verification. The fingerprint covers the whole signing input (RFC 4034 §3.1.8.1: the
//! RRSIG fields and the canonical RRset), the signature and the key, hashed with keyed SipHash
//! (the cache's secret key), so that a failure recorded for tampered data can never be taken
//! for the genuine data signed by the same RRSIG; only failures are kept, so a collision could
//! at worst make one check be done again or fail once more, never make bogus data secure.
//!
//! The table is direct-mapped and fixed in size ([`SLOTS`]): a newer failure takes the slot of
//! an older one, so memory stays bounded whatever the attacker sends.

use crate::base::Instant;
use siphasher::sip::SipHasher13;
use std::hash::Hasher;
use std::sync::{Mutex, PoisonError};

/// Failures remembered (a power of two).
pub const SLOTS: usize = 4096;

/// A fingerprint of one (signing input, signature, key) check, keyed by the cache's secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint(u64);

/// The fingerprints of failed checks, each with the time it is forgotten.
#[derive(Debug)]
pub struct FailedChecks {
    key: [u8; 16],
    slots: Mutex<Box<[(u64, Instant)]>>,
}

impl FailedChecks {
    /// An empty table whose fingerprints are keyed by `key` (secret, from the I/O layer).
    pub fn new(key: [u8; 16]) -> Self {
        Self { key, slots: Mutex::new(vec![(0, Instant::ZERO); SLOTS].into_boxed_slice()) }
    }

    /// A hasher over the signing input and signature of one RRSIG, to be finished per key by
    /// [`FailedChecks::fingerprint`].
    pub fn start(&self, signing_input: &[u8], signature: &[u8]) -> SipHasher13 {
        let mut hasher = SipHasher13::new_with_key(&self.key);
        hasher.write_usize(signing_input.len());
        hasher.write(signing_input);
        hasher.write_usize(signature.len());
        hasher.write(signature);
        hasher
    }

    /// The fingerprint of checking the RRSIG `started` with DNSKEY rdata `key`.
    pub fn fingerprint(started: &SipHasher13, key: &[u8]) -> Fingerprint {
        let mut hasher = *started;
        hasher.write(key);
        // 0 marks an empty slot.
        Fingerprint(hasher.finish().max(1))
    }

    /// True when the check of `fingerprint` failed within the last [`super::BOGUS_TTL`] seconds.
    pub fn failed(&self, fingerprint: Fingerprint, now: Instant) -> bool {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.get(slot_of(fingerprint)).is_some_and(|(held, until)| *held == fingerprint.0 && *until > now)
    }

    /// Remembers that the check of `fingerprint` failed at `now`.
    pub fn record(&self, fingerprint: Fingerprint, now: Instant) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get_mut(slot_of(fingerprint)) {
            *slot = (fingerprint.0, now.plus_secs(u64::from(super::BOGUS_TTL)));
        }
    }

    /// Forgets every failure (a changed trust anchor or a flushed cache).
    pub fn clear(&self) {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner).fill((0, Instant::ZERO));
    }
}

/// The slot of a fingerprint.
fn slot_of(fingerprint: Fingerprint) -> usize {
    (fingerprint.0 as usize) & (SLOTS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_remembered_for_its_data_signature_and_key_only_and_for_a_while() {
        let table = FailedChecks::new([7; 16]);
        let now = Instant::from_secs(100);
        let started = table.start(b"input", b"signature");
        let key = FailedChecks::fingerprint(&started, b"key");
        assert!(!table.failed(key, now));
        table.record(key, now);
        assert!(table.failed(key, now.plus_secs(59)));
        assert!(!table.failed(key, now.plus_secs(u64::from(super::super::BOGUS_TTL))), "forgotten after the bogus TTL");
        assert!(!table.failed(FailedChecks::fingerprint(&started, b"other key"), now));
        assert!(!table.failed(FailedChecks::fingerprint(&table.start(b"inpuT", b"signature"), b"key"), now), "other data");
        assert!(!table.failed(FailedChecks::fingerprint(&table.start(b"input", b"signaturE"), b"key"), now), "another signature");
        // The split between input and signature counts.
        assert!(!table.failed(FailedChecks::fingerprint(&table.start(b"inputs", b"ignature"), b"key"), now));
        let other_secret = FailedChecks::new([8; 16]);
        assert_ne!(FailedChecks::fingerprint(&other_secret.start(b"input", b"signature"), b"key"), key, "another secret");
        table.clear();
        assert!(!table.failed(key, now));
    }
}
