//! Checking one RRset's signatures against a zone's keys (RFC 4035 §5.3), and a DNSKEY RRset
//! against the DS RRset or trust anchor that vouches for it (RFC 4035 §5.2).
//!
//! Each RRSIG is checked in the order of RFC 4035 §5.3.1: it covers the RRset's type, its signer
//! is the zone and the owner lies inside it, its label count is not above the owner's (fewer
//! labels: a wildcard expansion, RFC 4035 §5.3.2), the time lies in its validity window (RFC
//! 1982 arithmetic), and a zone key of the zone with its algorithm and tag verifies it. At most
//! [`MAX_SIGS_TRIED`] RRSIGs and [`MAX_KEYS_PER_TAG`] keys per RRSIG are tried, at most
//! [`MAX_FAILURES_PER_RRSET`] checks may fail, and a check that failed lately (the cache's
//! [`FailedChecks`]) fails again without the cryptography (KeyTrap, SECURITY-REFERENCE §2.2,
//! §3.12: a KeyTrap answer costs at most two verifications, and nothing when its signatures
//! were seen before). The TTL of a secure RRset is capped by the RRSIG's original TTL
//! and by the time left before it expires (RFC 4035 §5.3.3).

use super::{Bogus, Ede};
use crate::base::Instant;
use crate::cache::failed_checks::FailedChecks;
use crate::cache::Rrset;
use portcullis_dnssec::rrsig::{signed_owner, signing_input};
use portcullis_dnssec::{ds_digest, key_tag, verify, DigestType, Dnskey, Rrsig};
use portcullis_wire::{NameBuf, Rtype};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Most RRSIGs of one RRset tried before it is bogus.
pub const MAX_SIGS_TRIED: usize = 8;

/// Most keys with the same tag and algorithm tried for one RRSIG (PowerDNS `max-dnskeys` 2).
pub const MAX_KEYS_PER_TAG: usize = 2;

/// Most checks of one RRset that may fail before it is bogus (BIND's
/// `max-validation-failures-per-fetch` is 1; one more here for a second key of the same tag).
/// A failure remembered by [`FailedChecks`] counts too.
pub const MAX_FAILURES_PER_RRSET: usize = 2;

/// Most signature checks (cryptographic verifications) for one client question, the chain of
/// trust and bogus retries included (KeyTrap, SECURITY-REFERENCE §2.2 and §7).
pub const MAX_VERIFICATIONS: u32 = 64;

/// The signature checks one client question may still spend; shared by the clones of one
/// question's contexts.
#[derive(Clone, Debug)]
pub struct Budget(Arc<AtomicU32>);

impl Budget {
    /// A budget of `checks` signature checks.
    pub fn new(checks: u32) -> Self {
        Self(Arc::new(AtomicU32::new(checks)))
    }

    /// Spends one check; false when none is left.
    fn take(&self) -> bool {
        self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(1)).is_ok()
    }

    /// The checks left.
    pub fn left(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// True when every check is spent.
    pub fn spent(&self) -> bool {
        self.0.load(Ordering::Relaxed) == 0
    }
}

impl Default for Budget {
    fn default() -> Self {
        Self::new(MAX_VERIFICATIONS)
    }
}

/// What the signature checks of one question spend and consult: its [`Budget`], and the
/// failures the cache remembers with the time (none where only the cryptography is tested).
#[derive(Clone, Copy, Debug)]
pub struct Checks<'a> {
    /// The question's budget.
    pub budget: &'a Budget,
    /// The failed checks remembered, and now.
    pub failed: Option<(&'a FailedChecks, Instant)>,
}

impl<'a> Checks<'a> {
    /// Checks spending `budget` and remembering nothing.
    pub fn new(budget: &'a Budget) -> Self {
        Self { budget, failed: None }
    }
}

/// A verified RRset: the TTL it may be kept and the label count of the RRSIG that verified it
/// (below the owner's: a wildcard expansion).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// min(TTL, original TTL, seconds to the RRSIG's expiration).
    pub ttl: u32,
    /// The RRSIG's labels field.
    pub labels: u8,
}

/// Verifies `set` with the DNSKEY rdatas `keys` of `zone` at `unix` (seconds since the epoch).
pub fn verify_rrset(set: &Rrset, zone: &NameBuf, keys: &[Vec<u8>], unix: u64) -> Result<Verified, Bogus> {
    verify_rrset_within(set, zone, keys, unix, &Checks::new(&Budget::default()))
}

/// [`verify_rrset`] spending the question's `checks`; an exhausted budget is bogus.
pub fn verify_rrset_within(set: &Rrset, zone: &NameBuf, keys: &[Vec<u8>], unix: u64, checks: &Checks<'_>) -> Result<Verified, Bogus> {
    let now = unix as u32;
    let mut worst = None;
    let mut tally = Tally { scratch: Vec::new(), failures: 0 };
    for rdata in set.sigs.iter().take(MAX_SIGS_TRIED) {
        if tally.failures >= MAX_FAILURES_PER_RRSET {
            break;
        }
        let Ok((rrsig, signature)) = Rrsig::parse(rdata) else { continue };
        match check_one(set, zone, keys, (&rrsig, signature), now, &mut tally, checks) {
            Ok(()) => {
                let left = rrsig.expiration.wrapping_sub(now);
                let ttl = set.ttl.min(rrsig.original_ttl).min(left);
                return Ok(Verified { ttl, labels: rrsig.labels });
            }
            Err(ede) => worst = Some(pick(worst, ede)),
        }
    }
    let ede = worst.unwrap_or(Ede::RRSIGS_MISSING);
    if checks.budget.spent() {
        let why = format!("{} {}: validation budget exhausted ({MAX_VERIFICATIONS} signature checks for one question)", set.owner, type_text(set.rtype));
        return Err(Bogus::new(Ede::BOGUS, why));
    }
    Err(Bogus::new(ede, format!("{} {}: {}", set.owner, type_text(set.rtype), Ede::text(ede))))
}

/// The more telling of two failures: a bad signature says more than a missing key, which says
/// more than an RRSIG of another zone or type.
fn pick(old: Option<u16>, new: u16) -> u16 {
    let rank = |ede: u16| match ede {
        Ede::BOGUS => 4,
        Ede::SIGNATURE_EXPIRED | Ede::SIGNATURE_NOT_YET_VALID => 3,
        Ede::DNSKEY_MISSING => 2,
        _ => 1,
    };
    match old {
        Some(old) if rank(old) >= rank(new) => old,
        _ => new,
    }
}

/// What the checks of one RRset share: the signing input's buffer and the failures so far.
struct Tally {
    scratch: Vec<u8>,
    failures: usize,
}

/// One RRSIG against the keys; the EDE code of the failure.
fn check_one(
    set: &Rrset,
    zone: &NameBuf,
    keys: &[Vec<u8>],
    (rrsig, signature): (&Rrsig, &[u8]),
    now: u32,
    tally: &mut Tally,
    checks: &Checks<'_>,
) -> Result<(), u16> {
    if rrsig.type_covered != set.rtype || rrsig.signer != *zone || !set.owner.is_subdomain_of(zone) {
        return Err(Ede::RRSIGS_MISSING);
    }
    if usize::from(rrsig.labels) > set.owner.label_count() - usize::from(set.owner.is_wildcard()) {
        return Err(Ede::BOGUS);
    }
    if signed_owner(&set.owner, rrsig.labels).is_err() {
        return Err(Ede::BOGUS);
    }
    if !rrsig.is_current(now) {
        let expired = rrsig.expiration.wrapping_sub(now) >= 0x8000_0000;
        return Err(if expired { Ede::SIGNATURE_EXPIRED } else { Ede::SIGNATURE_NOT_YET_VALID });
    }
    let candidates = keys.iter().filter(|key| zone_key(key).is_some_and(|k| k.algorithm == rrsig.algorithm) && key_tag(key) == rrsig.key_tag);
    let (mut tried, mut too_small) = (0, 0);
    tally.scratch.clear();
    signing_input(rrsig, &set.owner, set.class, set.rdatas.iter().map(Vec::as_slice), &mut tally.scratch).map_err(|_| Ede::BOGUS)?;
    let started = checks.failed.map(|(table, now)| (table, now, table.start(&tally.scratch, signature)));
    for key in candidates.take(MAX_KEYS_PER_TAG) {
        if tally.failures >= MAX_FAILURES_PER_RRSET {
            break;
        }
        tried += 1;
        let Some(dnskey) = zone_key(key) else { continue };
        let remembered = started.as_ref().map(|(table, now, hasher)| (*table, *now, FailedChecks::fingerprint(hasher, key)));
        if remembered.is_some_and(|(table, now, fingerprint)| table.failed(fingerprint, now)) {
            tally.failures += 1;
            continue;
        }
        if !checks.budget.take() {
            return Err(Ede::BOGUS);
        }
        match verify(dnskey.algorithm, dnskey.public_key, &tally.scratch, signature) {
            Ok(()) => return Ok(()),
            Err(portcullis_dnssec::Error::UnsupportedKeySize) => too_small += 1,
            Err(_) => {
                tally.failures += 1;
                if let Some((table, now, fingerprint)) = remembered {
                    table.record(fingerprint, now);
                }
            }
        }
    }
    Err(match tried {
        0 => Ede::DNSKEY_MISSING,
        // Keys `ring` cannot use (RSA below 1024 bits) count as an unsupported algorithm.
        _ if too_small == tried => Ede::UNSUPPORTED_DNSKEY_ALGORITHM,
        _ => Ede::BOGUS,
    })
}

/// The DNSKEY of `rdata` when it is a zone key of protocol 3 (RFC 4034 §2.1.1-2), not revoked.
fn zone_key(rdata: &[u8]) -> Option<Dnskey<'_>> {
    Dnskey::parse(rdata).ok().filter(|key| key.flags & Dnskey::ZONE != 0 && key.protocol == 3 && key.flags & Dnskey::REVOKE == 0)
}

/// What a DS RRset (or a trust anchor) says about a zone's DNSKEY RRset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyVerdict {
    /// The DNSKEY RRset is signed by a key the DS names: all its keys are the zone's.
    Secure(Vec<Vec<u8>>, u32),
    /// No DS uses an algorithm and digest we support: the zone is treated as unsigned (RFC 4035
    /// §5.2, RFC 6840 §5.2).
    Unsupported(u16),
    /// The chain breaks here.
    Bogus(Bogus),
}

/// True when a validator can use DS rdata `ds`: its algorithm and digest are supported.
pub fn ds_supported(ds: &[u8]) -> bool {
    match ds {
        [_, _, algorithm, digest, ..] => portcullis_dnssec::Algorithm(*algorithm).is_supported() && matches!(*digest, 1 | 2 | 4),
        _ => false,
    }
}

/// Checks the DNSKEY RRset `dnskeys` of `zone` against the DS rdatas `ds` and the anchor keys
/// `anchor_keys` (DNSKEY rdatas trusted as they are).
pub fn verify_dnskeys(dnskeys: &Rrset, zone: &NameBuf, ds: &[Vec<u8>], anchor_keys: &[Vec<u8>], unix: u64) -> KeyVerdict {
    verify_dnskeys_within(dnskeys, zone, ds, anchor_keys, unix, &Checks::new(&Budget::default()))
}

/// [`verify_dnskeys`] spending the question's `checks`.
pub fn verify_dnskeys_within(dnskeys: &Rrset, zone: &NameBuf, ds: &[Vec<u8>], anchor_keys: &[Vec<u8>], unix: u64, checks: &Checks<'_>) -> KeyVerdict {
    let usable: Vec<&Vec<u8>> = ds.iter().filter(|ds| ds_supported(ds)).collect();
    if usable.is_empty() && anchor_keys.is_empty() {
        let ede = if ds.iter().any(|ds| ds.get(2).is_some_and(|alg| !portcullis_dnssec::Algorithm(*alg).is_supported())) {
            Ede::UNSUPPORTED_DNSKEY_ALGORITHM
        } else {
            Ede::UNSUPPORTED_DS_DIGEST
        };
        return KeyVerdict::Unsupported(ede);
    }
    let trusted = vouched_keys(dnskeys, zone, ds, anchor_keys);
    if trusted.is_empty() {
        let why = format!("{zone} DNSKEY: no key matches the DS RRset or trust anchor");
        return KeyVerdict::Bogus(Bogus::new(Ede::DNSKEY_MISSING, why));
    }
    match verify_rrset_within(dnskeys, zone, &trusted, unix, checks) {
        Ok(verified) => KeyVerdict::Secure(dnskeys.rdatas.clone(), verified.ttl),
        Err(bogus) if bogus.ede == Ede::UNSUPPORTED_DNSKEY_ALGORITHM => KeyVerdict::Unsupported(bogus.ede),
        Err(bogus) => KeyVerdict::Bogus(bogus),
    }
}

/// The keys of the DNSKEY RRset `dnskeys` that the DS rdatas `ds` (those we can use) or the
/// anchor keys `anchor_keys` name: the keys allowed to sign it.
pub fn vouched_keys(dnskeys: &Rrset, zone: &NameBuf, ds: &[Vec<u8>], anchor_keys: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let usable: Vec<&Vec<u8>> = ds.iter().filter(|ds| ds_supported(ds)).collect();
    dnskeys.rdatas.iter().filter(|key| anchor_keys.contains(key) || usable.iter().any(|ds| ds_matches(ds, zone, key))).cloned().collect()
}

/// True when DS rdata `ds` names DNSKEY rdata `key` of `zone` (tag, algorithm and digest).
fn ds_matches(ds: &[u8], zone: &NameBuf, key: &[u8]) -> bool {
    let [t0, t1, algorithm, digest_type, digest @ ..] = ds else { return false };
    let Ok(dnskey) = Dnskey::parse(key) else { return false };
    if u16::from_be_bytes([*t0, *t1]) != key_tag(key) || dnskey.algorithm.0 != *algorithm || dnskey.flags & Dnskey::ZONE == 0 {
        return false;
    }
    ds_digest(zone, key, DigestType(*digest_type)).is_ok_and(|computed| computed == digest)
}

/// The type's mnemonic for messages.
pub fn type_text(rtype: Rtype) -> String {
    rtype.mnemonic().map_or_else(|| format!("TYPE{}", rtype.0), str::to_string)
}
