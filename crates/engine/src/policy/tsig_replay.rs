//! The TSIG replay cache (SECURITY-REFERENCE §6.4 row 49, a hardening beyond RFC 8945, which
//! bounds replay only by the fudge window, §5.2.3): a signed request seen again while its Time
//! Signed is still acceptable is refused. A captured transfer request replayed from another
//! address would otherwise get the zone, since a `key NAME` ACL admits the key from anywhere.
//!
//! An entry is the request's Time Signed and the first [`FINGERPRINT`] octets of its MAC, which
//! every accepted MAC has (RFC 8945 §5.2.2.1: at least 10) and which a truncated copy of the
//! same MAC shares. The MAC stands for the key: a MAC under another key has the same first 80
//! bits with probability 2^-80. An entry lives until its Time Signed plus the fudge (at most
//! [`super::tsig::MAX_FUDGE`]) has passed, after which the time check refuses the request anyway.
//!
//! Memory is bounded: a table of [`WAYS`]-way sets allocated at the first signed request,
//! indexed by MAC octets (unpredictable without the key). Only requests whose MAC verified are
//! recorded, so only holders of a key fill it; when a set is full of live entries, the one that
//! expires first is overwritten (counted in [`ReplayCache::evictions`]). Time comes in as an
//! argument: the cache reads no clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Octets of the MAC kept per entry.
pub const FINGERPRINT: usize = 10;
/// Entries per set.
pub const WAYS: usize = 8;
/// Entries of the server's cache: 16 384 x 32 bytes = 512 KiB, room for about 50 signed
/// requests a second over the usual 300 s an entry lives (up to 600 s for a client whose clock
/// is ahead) before live entries are overwritten.
pub const DEFAULT_CAPACITY: usize = 16_384;

/// One signed request seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Entry {
    /// First second (Unix time) at which the request's time check fails; 0 = free.
    expires: u64,
    time_signed: u64,
    mac: [u8; FINGERPRINT],
}

/// Signed requests seen within their time window; shared by every worker through `&self`.
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    table: Mutex<Vec<Entry>>,
    replays: AtomicU64,
    evictions: AtomicU64,
}

impl Default for ReplayCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl ReplayCache {
    /// A cache of at least `capacity` entries (whole sets, at least one), allocated on first use.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.div_ceil(WAYS).max(1) * WAYS;
        Self { capacity, table: Mutex::new(Vec::new()), replays: AtomicU64::new(0), evictions: AtomicU64::new(0) }
    }

    /// Records the request signed at `time_signed` with `mac`, acceptable until `time_signed +
    /// fudge` (the fudge already capped), at `now`; false when it was seen before (a replay).
    /// A MAC shorter than [`FINGERPRINT`] octets (never accepted by the check) is not recorded.
    pub fn first_use(&self, time_signed: u64, fudge: u64, mac: &[u8], now: u64) -> bool {
        let Some(prefix) = mac.get(..FINGERPRINT) else { return true };
        let mut fingerprint = [0u8; FINGERPRINT];
        fingerprint.copy_from_slice(prefix);
        let entry = Entry { expires: time_signed.saturating_add(fudge).saturating_add(1), time_signed, mac: fingerprint };
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if table.is_empty() {
            table.resize(self.capacity, Entry::default());
        }
        let sets = self.capacity / WAYS;
        let index = (u64::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3], prefix[4], prefix[5], prefix[6], prefix[7]]) % sets as u64) as usize;
        let Some(set) = table.get_mut(index * WAYS..(index + 1) * WAYS) else { return true };
        let live = |candidate: &Entry| candidate.expires > now;
        if set.iter().any(|seen| live(seen) && seen.time_signed == entry.time_signed && seen.mac == entry.mac) {
            self.replays.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if let Some(slot) = set.iter_mut().min_by_key(|slot| slot.expires) {
            if live(slot) {
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
            *slot = entry;
        }
        true
    }

    /// Replayed requests refused.
    pub fn replays(&self) -> u64 {
        self.replays.load(Ordering::Relaxed)
    }

    /// Live entries overwritten because their set was full.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Entries the table holds once allocated.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(seed: u8) -> [u8; 32] {
        let mut mac = [0u8; 32];
        for (i, octet) in mac.iter_mut().enumerate() {
            *octet = seed.wrapping_mul(31).wrapping_add(i as u8);
        }
        mac
    }

    #[test]
    fn a_request_is_refused_the_second_time_within_its_window_only() {
        let cache = ReplayCache::new(64);
        assert!(cache.first_use(1000, 300, &mac(1), 1000));
        assert!(!cache.first_use(1000, 300, &mac(1), 1200), "the same request again");
        assert!(!cache.first_use(1000, 300, &mac(1)[..16], 1200), "a truncated copy of its MAC");
        assert!(cache.first_use(1001, 300, &mac(1), 1200), "another time signed");
        assert!(cache.first_use(1000, 300, &mac(2), 1200), "another MAC");
        assert!(cache.first_use(1000, 300, &mac(1), 1301), "past time signed + fudge the entry is gone");
        assert_eq!(cache.replays(), 2);
    }

    #[test]
    fn memory_is_bounded_and_full_sets_drop_the_entry_expiring_first() {
        let cache = ReplayCache::new(WAYS);
        assert_eq!(cache.capacity(), WAYS, "one set");
        for seed in 0..WAYS as u8 {
            assert!(cache.first_use(1000 + u64::from(seed), 300, &mac(seed), 1000));
        }
        assert!(cache.first_use(2000, 300, &mac(100), 1000), "a full set still records");
        assert_eq!(cache.evictions(), 1);
        assert!(!cache.first_use(1007, 300, &mac(7), 1000), "the others stay");
        assert!(cache.first_use(1000, 300, &mac(0), 1000), "the entry expiring first went (and takes the next one's place)");
        assert_eq!(cache.evictions(), 2);
        assert_eq!(cache.table.lock().unwrap().len(), WAYS, "never grows");
    }
}
