//! The detector's fast path for repeated names: a lock-free, direct-mapped filter of the
//! (client address, query name) pairs seen in the current or the previous half window. A repeat
//! adds no new label, so it cannot raise an account's score: when no account is held, the
//! detector answers it at once without splitting the name, hashing the account or taking a
//! lock. That is most of a resolver's cache hits. While any account is held (block mode), every
//! query takes the full path, so a held client's repeats are refused too.
//!
//! The filter is two-way set-associative (a key may sit in either slot of its pair; a new key
//! takes the slot holding an older half window, or the one its hash picks), so that a busy
//! resolver's working set of names stays in it: with one way and as many slots as names, a
//! third of the repeats were pushed out by collisions and took the full path.
//!
//! The key is a fast keyed hash (secret seed) of the exact client address and the name as sent
//! (case kept: a client that varies the case only takes the full path). A collision can only make
//! a new name look repeated for one query; names are not counted twice either way.

use super::window::{hash, HALF_SECS};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Low bits of a slot that hold the half-window epoch.
const EPOCH_BITS: u64 = 0xffff;

/// The filter.
pub struct Recent {
    slots: Box<[AtomicU64]>,
    seed: u64,
    /// No account is held after this second.
    holds_until: AtomicU64,
}

impl Recent {
    /// A filter of `size` slots (at least 64, rounded up to an even number).
    pub fn new(size: usize, seed: u64) -> Self {
        let slots = (0..size.max(64).next_multiple_of(2)).map(|_| AtomicU64::new(0)).collect();
        Self { slots, seed, holds_until: AtomicU64::new(0) }
    }

    /// The key of a query.
    pub fn key(&self, client: IpAddr, qname: &[u8]) -> u64 {
        let client = match client {
            IpAddr::V4(v4) => u64::from(u32::from(v4)),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                (bits as u64) ^ ((bits >> 64) as u64).rotate_left(7)
            }
        };
        hash(self.seed ^ client, 0xfe, qname) & !EPOCH_BITS
    }

    /// The two slots `key` may sit in.
    fn pair(&self, key: u64) -> [&AtomicU64; 2] {
        let first = ((key >> 16) as usize % (self.slots.len() / 2)) * 2;
        [&self.slots[first], &self.slots[first + 1]]
    }

    /// True when `key` was remembered in the half window of `secs` or the one before, and no
    /// account is held.
    pub fn is_repeat(&self, key: u64, secs: u64) -> bool {
        if secs < self.holds_until.load(Ordering::Relaxed) {
            return false;
        }
        let epoch = secs / HALF_SECS;
        let (now, before) = (key | (epoch & EPOCH_BITS), key | (epoch.wrapping_sub(1) & EPOCH_BITS));
        self.pair(key).iter().any(|slot| {
            let held = slot.load(Ordering::Relaxed);
            held == now || held == before
        })
    }

    /// Remembers `key` at `secs`: in the slot that holds it already, else in one holding an
    /// older half window, else in the one the key's hash picks.
    pub fn remember(&self, key: u64, secs: u64) {
        let epoch = secs / HALF_SECS;
        let pair = self.pair(key);
        let held = pair.map(|slot| slot.load(Ordering::Relaxed));
        let stale = |value: u64| value & EPOCH_BITS != epoch & EPOCH_BITS;
        let way = match held {
            [first, _] if first & !EPOCH_BITS == key => 0,
            [_, second] if second & !EPOCH_BITS == key => 1,
            [first, _] if stale(first) => 0,
            [_, second] if stale(second) => 1,
            _ => ((key >> 15) & 1) as usize,
        };
        pair[way].store(key | (epoch & EPOCH_BITS), Ordering::Relaxed);
    }

    /// Some account is held until `secs`: repeats take the full path until then.
    pub fn hold_until(&self, secs: u64) {
        self.holds_until.fetch_max(secs, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::Recent;

    #[test]
    fn repeats_are_known_for_a_window_and_not_while_a_hold_lasts() {
        let recent = Recent::new(1024, 42);
        let client = "192.0.2.1".parse().expect("address");
        let key = recent.key(client, b"\x03www\x07example\x00");
        assert_ne!(key, recent.key("192.0.2.2".parse().expect("address"), b"\x03www\x07example\x00"));
        assert!(!recent.is_repeat(key, 1000));
        recent.remember(key, 1000);
        assert!(recent.is_repeat(key, 1000) && recent.is_repeat(key, 1035));
        assert!(!recent.is_repeat(key, 1000 + 90), "forgotten after a full window");
        recent.hold_until(1010);
        assert!(!recent.is_repeat(key, 1005), "every query takes the full path while a hold lasts");
        assert!(recent.is_repeat(key, 1011));
    }

    #[test]
    fn two_keys_of_one_pair_are_both_kept() {
        let recent = Recent::new(64, 42);
        let client = "192.0.2.1".parse().expect("address");
        // Keys whose pairs are the same (32 pairs): found among the first few hundred names.
        let keys: Vec<u64> = (0..400u32).map(|n| recent.key(client, format!("\x04n{n:03}\x00").as_bytes())).collect();
        let pair_of = |key: u64| (key >> 16) % 32;
        let (a, b) =
            keys.iter().enumerate().find_map(|(i, a)| keys[i + 1..].iter().find(|b| pair_of(**b) == pair_of(*a)).map(|b| (*a, *b))).expect("a shared pair");
        recent.remember(a, 1000);
        recent.remember(b, 1000);
        assert!(recent.is_repeat(a, 1000) && recent.is_repeat(b, 1000), "both ways used");
        // A third key of the pair in a later half window takes a stale way, never both.
        let c = keys.iter().copied().find(|c| *c != a && *c != b && pair_of(*c) == pair_of(a));
        if let Some(c) = c {
            recent.remember(c, 1031);
            assert!(recent.is_repeat(c, 1031));
            assert!(recent.is_repeat(a, 1031) != recent.is_repeat(b, 1031), "one of the older keys gave way");
        }
    }
}
