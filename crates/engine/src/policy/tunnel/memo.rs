//! The parent memo: a lock-free, direct-mapped table from (client address, parent name) to the
//! account its names go to and their split, so that a client's first query for a new host under
//! a domain it already asked about skips the Public Suffix List and the account's hash.
//!
//! A name's parent is the name without its leftmost label. An entry is made only from a split
//! that holds for every name under that parent ([`ParentSplit`]: the list's walk never looked at
//! the leftmost label, and the registered domain lies in the parent), and an account's tag is a
//! function of the client prefix and the registered domain alone: a hit gives exactly what the
//! full computation would. Allow-listed domains are never entered (the lists do not change
//! during a detector's life).
//!
//! An entry is three words written one by one without a lock: a check word (the key xored
//! with the others), the tag and the split. A reader takes an entry only when the three agree
//! with its key, so a read torn by a concurrent writer is a miss (unless the keyed hashes
//! happen to match, about 2^-64, which no client can aim: the key is secret). Memory is fixed.

use super::hash::Seed;
use super::name::ParentSplit;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the memo gives for a parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memoed {
    /// The account's tag.
    pub tag: u64,
    /// The split of names under the parent.
    pub split: ParentSplit,
}

/// The memo.
pub struct Memo {
    /// Three words an entry: check, tag, split.
    words: Box<[AtomicU64]>,
    /// Entries minus one (their number is a power of two).
    mask: usize,
    seed: Seed,
}

impl Memo {
    /// A memo of about `size` entries (a power of two, at least 64).
    pub fn new(size: usize, seed: u64) -> Self {
        let entries = size.max(64).next_power_of_two();
        Self { words: (0..entries * 3).map(|_| AtomicU64::new(0)).collect(), mask: entries - 1, seed: Seed::new(seed) }
    }

    /// The key of `parent` (lower-case wire form) for `client` (its exact address: the account
    /// is a function of it and the registered domain); never 0.
    #[inline]
    pub fn key(&self, client: IpAddr, parent: &[u8]) -> u64 {
        // The address is the hash's tweak (mixed in before the first block and again after the
        // last, so no difference in it cancels one in the parent); IPv6's upper half after.
        match client {
            IpAddr::V4(v4) => self.seed.of(u64::from(u32::from(v4)), parent) | 1,
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                self.seed.pair(self.seed.of(bits as u64, parent), (bits >> 64) as u64 | 1 << 63) | 1
            }
        }
    }

    /// The entry of `key`, if the memo has it.
    #[inline]
    pub fn get(&self, key: u64) -> Option<Memoed> {
        let entry = self.entry(key);
        let [check, tag, split] = [0, 1, 2].map(|index| entry[index].load(Ordering::Relaxed));
        (check == key ^ tag ^ split.rotate_left(29)).then_some(Memoed { tag, split: unpack(split) })
    }

    /// Enters `memoed` under `key`, in place of whatever entry was there.
    #[inline]
    pub fn put(&self, key: u64, memoed: Memoed) {
        let entry = self.entry(key);
        let split = u64::from(memoed.split.registered) | u64::from(memoed.split.sub_labels) << 8;
        entry[1].store(memoed.tag, Ordering::Relaxed);
        entry[2].store(split, Ordering::Relaxed);
        entry[0].store(key ^ memoed.tag ^ split.rotate_left(29), Ordering::Relaxed);
    }

    #[inline]
    fn entry(&self, key: u64) -> &[AtomicU64] {
        let first = ((key >> 32) as usize & self.mask) * 3;
        &self.words[first..first + 3]
    }
}

fn unpack(split: u64) -> ParentSplit {
    ParentSplit { registered: split as u8, sub_labels: (split >> 8) as u8 }
}

#[cfg(test)]
mod tests {
    use super::{Memo, Memoed};
    use crate::policy::tunnel::name::ParentSplit;

    #[test]
    fn entries_are_found_by_their_key_only() {
        let memo = Memo::new(64, 9);
        let client = "192.0.2.1".parse().expect("address");
        let key = memo.key(client, b"\x07example\x03com\x00");
        assert_ne!(key, memo.key("192.0.2.2".parse().expect("address"), b"\x07example\x03com\x00"), "the client counts");
        assert_eq!(memo.get(key), None, "an empty entry is no hit");
        let memoed = Memoed { tag: 0x1234_5678_9abc_def1, split: ParentSplit { registered: 0, sub_labels: 1 } };
        memo.put(key, memoed);
        assert_eq!(memo.get(key), Some(memoed));
        // Another key of the same entry takes it over; the first is then a miss.
        let other = (0..10_000u32)
            .map(|n| memo.key(client, format!("\x05n{n:04}\x03com\x00").as_bytes()))
            .find(|other| *other != key && (other >> 32) & 63 == (key >> 32) & 63)
            .expect("a key of the same entry");
        assert_eq!(memo.get(other), None);
        memo.put(other, Memoed { tag: 5, split: ParentSplit { registered: 3, sub_labels: 2 } });
        assert_eq!(memo.get(key), None);
        assert_eq!(memo.get(other).map(|hit| hit.tag), Some(5));
    }
}
