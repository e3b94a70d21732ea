//! The detector's fast path for repeated names: a lock-free, set-associative filter of the
//! (client address, query name) pairs seen in the current or the previous half window. A repeat
//! adds no new label, so it cannot raise an account's score: when no account is held, the
//! detector answers it at once without splitting the name, hashing the account or taking a
//! lock. That is most of a resolver's cache hits. While any account is held (block mode), every
//! query takes the full path, so a held client's repeats are refused too.
//!
//! The filter is four-way set-associative: a key may sit in any slot of its bucket (four words,
//! half a cache line, aligned: a probe reads one line); a new key takes the slot holding it
//! already, else one holding an older half window, else the one its hash picks. With one way and as many slots as names, a third of
//! the repeats were pushed out by collisions and took the full path; with two ways, about one in
//! thirty still was (three keys of one pair in one half window evict each other in turn).
//!
//! The key is a keyed hash ([`super::hash`]) of the exact client address and of the name's keyed
//! hash, lower-cased (the cache's owner key on the engine's path, made once for the lookup and
//! the detector): a name asked again in another case ("0x20") is a repeat too, as it brings no
//! new label (the windows count lower-cased labels). A collision can only make a new name look repeated for one query; the hash leaves no
//! difference that collides under every seed, so a client cannot aim them.

use super::hash::Seed;
use super::window::HALF_SECS;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Low bits of a slot that hold the half-window epoch.
const EPOCH_BITS: u64 = 0xffff;
/// Slots per bucket.
const WAYS: usize = 4;

/// What the filter says about a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Asked in this half window or the one before, and no account is held: skip it.
    Repeat,
    /// Not in the filter: a first sighting, or pushed out of its bucket.
    Unknown,
    /// In the filter from a half window older than the one before.
    Stale,
    /// Some account is held: every query takes the full path.
    Held,
}

/// One bucket's slots: 32 octets aligned to 32, so that a probe reads one cache line.
#[repr(align(32))]
struct Bucket([AtomicU64; WAYS]);

/// The filter.
pub struct Recent {
    buckets: Box<[Bucket]>,
    /// Buckets minus one (their number is a power of two).
    mask: usize,
    seed: Seed,
    /// No account is held after this second.
    holds_until: AtomicU64,
}

impl Recent {
    /// A filter of about `size` slots (a power of two, at least 64).
    pub fn new(size: usize, seed: u64) -> Self {
        let buckets = (size.max(64) / WAYS).next_power_of_two();
        let mask = buckets - 1;
        let buckets = (0..buckets).map(|_| Bucket(std::array::from_fn(|_| AtomicU64::new(0)))).collect();
        Self { buckets, mask, seed: Seed::new(seed), holds_until: AtomicU64::new(0) }
    }

    /// The key of a query from `client` for the name whose keyed hash is `name` (the cache's
    /// owner hash, or a [`Seed::of`] of the lower-cased wire form). An IPv4 address takes one
    /// folded multiply with the name's hash: that hash is secret, so no client can choose two
    /// names whose hashes differ by two addresses' difference.
    #[inline]
    pub fn key(&self, client: IpAddr, name: u64) -> u64 {
        let key = match client {
            IpAddr::V4(v4) => self.seed.word(u64::from(u32::from(v4)) ^ name),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                self.seed.pair(bits as u64 ^ name, (bits >> 64) as u64 | 1 << 63)
            }
        };
        key & !EPOCH_BITS
    }

    /// The bucket of `key`.
    #[inline]
    fn bucket(&self, key: u64) -> &[AtomicU64; WAYS] {
        &self.buckets[(key >> 40) as usize & self.mask].0
    }

    /// Whether `key` was remembered in the half window of `secs` or the one before, while no
    /// account is held; with the slot [`remember`](Self::remember) should take (read from the
    /// same bucket now rather than again later).
    #[inline]
    pub fn seen(&self, key: u64, secs: u64) -> (Seen, usize) {
        let epoch = secs / HALF_SECS;
        let (now, before) = (epoch & EPOCH_BITS, epoch.wrapping_sub(1) & EPOCH_BITS);
        let held_now = secs < self.holds_until.load(Ordering::Relaxed);
        let bucket = self.bucket(key);
        let (current, previous) = (key | now, key | before);
        if !held_now && bucket.iter().any(|slot| matches!(slot.load(Ordering::Relaxed), held if held == current || held == previous)) {
            return (Seen::Repeat, 0);
        }
        let (found, way) = Self::slot(bucket, key, now, before);
        (if held_now { Seen::Held } else { found }, way)
    }

    /// The slot for `key` in `bucket` (not a repeat): the key's own, else an expired one, else
    /// one of the previous half (`before`), else the one the key's hash picks; with what the
    /// bucket said of it (`Stale` when it holds the key from an older half window). One pass,
    /// without branches: each slot's rank (0 the key's own, 1 expired, 2 the previous half, 3
    /// this half `now`) above its index, the least wins; the first of equals.
    #[inline(never)]
    fn slot(bucket: &[AtomicU64; WAYS], key: u64, now: u64, before: u64) -> (Seen, usize) {
        let best = bucket.iter().enumerate().fold(u64::MAX, |best, (index, slot)| {
            let held = slot.load(Ordering::Relaxed);
            let epoch = held & EPOCH_BITS;
            let rank = if held & !EPOCH_BITS == key { 0 } else { 1 + u64::from(epoch == before) + 2 * u64::from(epoch == now) };
            best.min(rank << 2 | index as u64)
        });
        match best >> 2 {
            0 => (Seen::Stale, (best & 3) as usize),
            3 => (Seen::Unknown, (key >> 16) as usize % WAYS),
            _ => (Seen::Unknown, (best & 3) as usize),
        }
    }

    /// True when `key` is a repeat ([`seen`](Self::seen)).
    pub fn is_repeat(&self, key: u64, secs: u64) -> bool {
        self.seen(key, secs).0 == Seen::Repeat
    }

    /// Remembers `key` at `secs` in slot `way` of its bucket (from [`seen`](Self::seen)).
    pub fn remember(&self, key: u64, secs: u64, way: usize) {
        let epoch = (secs / HALF_SECS) & EPOCH_BITS;
        self.bucket(key)[way % WAYS].store(key | epoch, Ordering::Relaxed);
    }

    /// Some account is held until `secs`: repeats take the full path until then.
    pub fn hold_until(&self, secs: u64) {
        self.holds_until.fetch_max(secs, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::{Recent, Seen};
    use crate::policy::tunnel::hash::Seed;

    fn remember(recent: &Recent, key: u64, secs: u64) {
        let (_, way) = recent.seen(key, secs);
        recent.remember(key, secs, way);
    }

    fn name(seed: &Seed, wire: &[u8]) -> u64 {
        seed.of(0, wire)
    }

    #[test]
    fn repeats_are_known_for_a_window_and_not_while_a_hold_lasts() {
        let recent = Recent::new(1024, 42);
        let seed = Seed::new(1);
        let client = "192.0.2.1".parse().expect("address");
        let key = recent.key(client, name(&seed, b"\x03www\x07example\x00"));
        assert_ne!(key, recent.key("192.0.2.2".parse().expect("address"), name(&seed, b"\x03www\x07example\x00")));
        assert_eq!(recent.seen(key, 1000).0, Seen::Unknown);
        remember(&recent, key, 1000);
        assert!(recent.is_repeat(key, 1000) && recent.is_repeat(key, 1035));
        assert_eq!(recent.seen(key, 1000 + 90).0, Seen::Stale, "forgotten after a full window");
        recent.hold_until(1010);
        assert_eq!(recent.seen(key, 1005).0, Seen::Held, "every query takes the full path while a hold lasts");
        assert!(recent.is_repeat(key, 1011));
    }

    #[test]
    fn four_keys_of_one_bucket_are_all_kept() {
        let recent = Recent::new(64, 42);
        let seed = Seed::new(1);
        let client = "192.0.2.1".parse().expect("address");
        // Keys whose buckets are the same (16 buckets): found among the first few hundred names.
        let keys: Vec<u64> = (0..400u32).map(|n| recent.key(client, name(&seed, format!("\x04n{n:03}\x00").as_bytes()))).collect();
        let bucket_of = |key: u64| (key >> 40) & 15;
        let same: Vec<u64> = keys.iter().copied().filter(|key| bucket_of(*key) == bucket_of(keys[0])).take(5).collect();
        assert_eq!(same.len(), 5);
        for key in &same[..4] {
            remember(&recent, *key, 1000);
        }
        assert!(same[..4].iter().all(|key| recent.is_repeat(*key, 1000)), "every way used");
        // A fifth key of the bucket in a later half window takes a stale way: one older key gives way.
        remember(&recent, same[4], 1031);
        assert!(recent.is_repeat(same[4], 1031));
        assert_eq!(same[..4].iter().filter(|key| recent.is_repeat(**key, 1031)).count(), 3, "one of the older keys gave way");
    }
}
