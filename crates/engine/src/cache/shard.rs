//! One shard of the cache: a hash map from key to a slot in a slab, the slots threaded on a
//! doubly linked least-recently-used list, a per-owner type count (SECURITY-REFERENCE §7: at most
//! 100 types per owner) and the RFC 9520 failure table.
//!
//! Lookups only move a slot to the front of the list: they never allocate. Expired entries stay
//! until they are replaced or evicted (serve-stale, RFC 8767, may still want them).

use super::entry::Entry;
use crate::policy::Instant;
use portcullis_wire::{Class, NameBuf, Rtype};
use siphasher::sip::SipHasher13;
use std::collections::HashMap;
use std::hash::BuildHasher;

/// Marks the end of the list.
const NIL: u32 = u32::MAX;

/// A cache key: lower-cased owner, type (0 for an NXDOMAIN entry), class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub owner: NameBuf,
    pub rtype: Rtype,
    pub class: Class,
}

impl Key {
    /// A key for `owner` (lower-cased here).
    pub fn new(owner: &NameBuf, rtype: Rtype, class: Class) -> Self {
        Self { owner: owner.to_lowercase(), rtype, class }
    }
}

/// SipHash-1-3 with the cache's secret key, so that names cannot be chosen to collide.
#[derive(Clone, Copy, Debug)]
pub(super) struct KeyedState {
    pub key: [u8; 16],
}

impl BuildHasher for KeyedState {
    type Hasher = SipHasher13;

    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_key(&self.key)
    }
}

/// A resolution failure remembered for RFC 9520.
#[derive(Clone, Copy, Debug)]
pub(super) struct Failure {
    pub until: Instant,
    pub backoff_secs: u32,
}

struct Slot {
    key: Key,
    entry: Entry,
    prev: u32,
    next: u32,
}

/// One shard; always used under its mutex.
pub(super) struct Shard {
    map: HashMap<Key, u32, KeyedState>,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
    bytes: usize,
    owners: HashMap<NameBuf, u16, KeyedState>,
    pub failures: HashMap<Key, Failure, KeyedState>,
    max_entries: usize,
    max_bytes: usize,
}

impl Shard {
    /// An empty shard with its own share of the budget.
    pub fn new(state: KeyedState, max_entries: usize, max_bytes: usize) -> Self {
        Self {
            map: HashMap::with_hasher(state),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            bytes: 0,
            owners: HashMap::with_hasher(state),
            failures: HashMap::with_hasher(state),
            max_entries: max_entries.max(1),
            max_bytes,
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Bytes charged.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Types cached at `owner` (lower-cased).
    pub fn types_at(&self, owner: &NameBuf) -> u16 {
        self.owners.get(owner).copied().unwrap_or(0)
    }

    /// The entry at `key`, marked as most recently used. Does not allocate.
    pub fn get(&mut self, key: &Key) -> Option<&Entry> {
        let index = *self.map.get(key)?;
        self.unlink(index);
        self.push_front(index);
        self.slots.get(index as usize)?.as_ref().map(|slot| &slot.entry)
    }

    /// The entry at `key` without touching the recency list.
    pub fn peek(&self, key: &Key) -> Option<&Entry> {
        let index = *self.map.get(key)?;
        self.slots.get(index as usize)?.as_ref().map(|slot| &slot.entry)
    }

    /// Stores `entry` at `key`, replacing what was there, evicting from the tail to stay within
    /// budget. Returns the number of entries evicted.
    pub fn insert(&mut self, key: Key, entry: Entry) -> usize {
        self.remove(&key);
        let cost = entry.cost();
        let mut evicted = 0;
        while self.tail != NIL && (self.map.len() + 1 > self.max_entries || self.bytes + cost > self.max_bytes) {
            let tail = self.tail;
            if let Some(old) = self.slots.get(tail as usize).and_then(|slot| slot.as_ref().map(|slot| slot.key)) {
                self.remove(&old);
                evicted += 1;
            } else {
                break;
            }
        }
        *self.owners.entry(key.owner).or_insert(0) += 1;
        self.bytes += cost;
        let slot = Slot { key, entry, prev: NIL, next: NIL };
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index as usize] = Some(slot);
                index
            }
            None => {
                self.slots.push(Some(slot));
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(key, index);
        self.push_front(index);
        evicted
    }

    /// Removes the entry at `key`, if any.
    pub fn remove(&mut self, key: &Key) -> bool {
        let Some(index) = self.map.remove(key) else { return false };
        self.unlink(index);
        if let Some(slot) = self.slots.get_mut(index as usize).and_then(Option::take) {
            self.bytes = self.bytes.saturating_sub(slot.entry.cost());
        }
        self.free.push(index);
        if let Some(count) = self.owners.get_mut(&key.owner) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.owners.remove(&key.owner);
            }
        }
        true
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.map.clear();
        self.slots.clear();
        self.free.clear();
        self.owners.clear();
        self.failures.clear();
        (self.head, self.tail, self.bytes) = (NIL, NIL, 0);
    }

    fn unlink(&mut self, index: u32) {
        let Some((prev, next)) = self.slots.get(index as usize).and_then(Option::as_ref).map(|slot| (slot.prev, slot.next)) else { return };
        match self.slots.get_mut(prev as usize).and_then(Option::as_mut) {
            Some(slot) => slot.next = next,
            None => self.head = next,
        }
        match self.slots.get_mut(next as usize).and_then(Option::as_mut) {
            Some(slot) => slot.prev = prev,
            None => self.tail = prev,
        }
        if let Some(slot) = self.slots.get_mut(index as usize).and_then(Option::as_mut) {
            (slot.prev, slot.next) = (NIL, NIL);
        }
    }

    fn push_front(&mut self, index: u32) {
        let old_head = self.head;
        if let Some(slot) = self.slots.get_mut(index as usize).and_then(Option::as_mut) {
            (slot.prev, slot.next) = (NIL, old_head);
        }
        match self.slots.get_mut(old_head as usize).and_then(Option::as_mut) {
            Some(slot) => slot.prev = index,
            None => self.tail = index,
        }
        self.head = index;
    }
}
