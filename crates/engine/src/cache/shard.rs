//! One shard of the cache: an open-addressing table (linear probing, at most half full,
//! backward-shift deletion) from the hash of (owner, type, class) to a slot in a slab, the slots
//! threaded on a doubly linked list evicted from its tail with a second chance (CLOCK: an entry
//! used since it was put at the front goes back to the front once instead of out), a per-owner
//! type count (SECURITY-REFERENCE §7: at most 100 types per owner) and the RFC 9520 failure
//! table.
//!
//! Each entry carries its own key (owner, type, class), so a probe compares a 32-bit hash tag
//! first and the owner's bytes only on a tag match. A lookup only marks its slot used (one write
//! to the line it has just read; moving it to the front at once would write its two neighbours
//! on the list, two more cache misses per hit): lookups never allocate. Expired entries stay
//! until they are replaced or evicted (serve-stale, RFC 8767, may still want them).

use super::entry::Entry;
use super::key::{mix, FailureKey, KeyedState, Owner};
use crate::base::Instant;
use portcullis_wire::{Class, Rtype};
use std::collections::HashMap;

/// Marks the end of the list, and an empty bucket.
const NIL: u32 = u32::MAX;

/// Buckets of a new shard's table (a power of two).
const MIN_BUCKETS: usize = 16;

/// A resolution failure remembered for RFC 9520.
#[derive(Clone, Copy, Debug)]
pub(super) struct Failure {
    pub until: Instant,
    pub backoff_secs: u32,
}

/// One table bucket: the low 32 bits of the key's hash and the slot, or `NIL`.
#[derive(Clone, Copy)]
struct Bucket {
    hash: u32,
    slot: u32,
}

const EMPTY: Bucket = Bucket { hash: 0, slot: NIL };

struct Slot {
    entry: Entry,
    owner_hash: u64,
    prev: u32,
    next: u32,
    /// Used since it was last put at the front of the list (its second chance).
    used: bool,
}

/// One shard; always used under its mutex.
pub(super) struct Shard {
    buckets: Vec<Bucket>,
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    len: usize,
    head: u32,
    tail: u32,
    bytes: usize,
    /// Types cached per owner, by the owner's keyed hash (a collision only makes the limit stricter).
    owners: HashMap<u64, u16, KeyedState>,
    pub failures: HashMap<FailureKey, Failure, KeyedState>,
    max_entries: usize,
    max_bytes: usize,
}

impl Shard {
    /// An empty shard with its own share of the budget.
    pub fn new(state: KeyedState, max_entries: usize, max_bytes: usize) -> Self {
        Self {
            buckets: vec![EMPTY; MIN_BUCKETS],
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
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
        self.len
    }

    /// Bytes charged.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Slots in the slab, used or free (the handover's export walks them, `handover.rs`).
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// True when an entry costing `cost` fits without evicting anything (the handover's import).
    pub fn has_room(&self, cost: usize) -> bool {
        self.len < self.max_entries && self.bytes + cost <= self.max_bytes
    }

    /// Types cached at `owner`.
    pub fn types_at(&self, owner: &Owner) -> u16 {
        self.owners.get(&owner.hash).copied().unwrap_or(0)
    }

    /// The slot holding (`owner`, `rtype`, `class`). Does not allocate.
    pub fn find(&self, owner: &Owner, rtype: Rtype, class: Class) -> Option<u32> {
        let hash = mix(owner.hash, rtype, class) as u32;
        let mask = self.buckets.len() - 1;
        let mut pos = hash as usize & mask;
        loop {
            let bucket = self.buckets[pos];
            if bucket.slot == NIL {
                return None;
            }
            if bucket.hash == hash && self.entry(bucket.slot).is_some_and(|entry| entry.is(owner.wire(), rtype, class)) {
                return Some(bucket.slot);
            }
            pos = (pos + 1) & mask;
        }
    }

    /// The entry in `slot`.
    pub fn entry(&self, slot: u32) -> Option<&Entry> {
        self.slots.get(slot as usize)?.as_ref().map(|slot| &slot.entry)
    }

    /// The entry in `slot`, to change its validation status.
    pub fn entry_mut(&mut self, slot: u32) -> Option<&mut Entry> {
        self.slots.get_mut(slot as usize)?.as_mut().map(|slot| &mut slot.entry)
    }

    /// Marks `slot` as used: the eviction passes over it once ([`Shard::evict_one`]).
    pub fn touch(&mut self, slot: u32) {
        if let Some(slot) = self.slots.get_mut(slot as usize).and_then(Option::as_mut) {
            slot.used = true;
        }
    }

    /// Evicts the entry at the tail of the list that was not used since it was put at the
    /// front; the used ones before it go back to the front, unmarked. Bounded: after one pass
    /// over the list every mark is cleared. False when nothing was evicted.
    fn evict_one(&mut self) -> bool {
        for _ in 0..=self.len {
            let tail = self.tail;
            let Some(slot) = self.slots.get_mut(tail as usize).and_then(Option::as_mut) else { return false };
            if !std::mem::take(&mut slot.used) {
                let before = self.len;
                self.remove(tail);
                return self.len != before;
            }
            self.unlink(tail);
            self.push_front(tail);
        }
        false
    }

    /// Stores `entry` (keyed by its owner, type and class; `owner` is its owner), replacing what
    /// was there, evicting from the tail to stay within budget. Returns the number of entries
    /// evicted.
    pub fn insert(&mut self, owner: &Owner, entry: Entry) -> usize {
        if let Some(slot) = self.find(owner, entry.rtype, entry.class) {
            self.remove(slot);
        }
        let cost = entry.cost();
        let mut evicted = 0;
        while self.tail != NIL && (self.len + 1 > self.max_entries || self.bytes + cost > self.max_bytes) {
            if !self.evict_one() {
                break;
            }
            evicted += 1;
        }
        if 2 * (self.len + 1) > self.buckets.len() {
            self.grow();
        }
        *self.owners.entry(owner.hash).or_insert(0) += 1;
        self.bytes += cost;
        let hash = mix(owner.hash, entry.rtype, entry.class) as u32;
        let slot = Slot { entry, owner_hash: owner.hash, prev: NIL, next: NIL, used: false };
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
        self.place(Bucket { hash, slot: index });
        self.len += 1;
        self.push_front(index);
        evicted
    }

    /// Removes the entry in `slot`, if any.
    pub fn remove(&mut self, slot: u32) {
        let Some((hash, owner_hash, cost)) = self.slots.get(slot as usize).and_then(Option::as_ref).map(|s| {
            let entry = &s.entry;
            (mix(s.owner_hash, entry.rtype, entry.class) as u32, s.owner_hash, entry.cost())
        }) else {
            return;
        };
        self.unbucket(hash, slot);
        self.unlink(slot);
        self.slots[slot as usize] = None;
        self.free.push(slot);
        self.len -= 1;
        self.bytes = self.bytes.saturating_sub(cost);
        if let Some(count) = self.owners.get_mut(&owner_hash) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.owners.remove(&owner_hash);
            }
        }
    }

    /// Removes every entry whose lower-cased wire owner `matches`; returns how many. Visits every
    /// slot: for the operator's flush, not for the query path.
    pub fn remove_owners(&mut self, matches: impl Fn(&[u8]) -> bool) -> usize {
        let doomed: Vec<u32> = (0..self.slots.len() as u32).filter(|&slot| self.entry(slot).is_some_and(|entry| matches(entry.owner()))).collect();
        for &slot in &doomed {
            self.remove(slot);
        }
        doomed.len()
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.buckets = vec![EMPTY; MIN_BUCKETS];
        self.slots.clear();
        self.free.clear();
        self.owners.clear();
        self.failures.clear();
        (self.len, self.head, self.tail, self.bytes) = (0, NIL, NIL, 0);
    }

    /// Puts `bucket` in the first free place from its home.
    fn place(&mut self, bucket: Bucket) {
        let mask = self.buckets.len() - 1;
        let mut pos = bucket.hash as usize & mask;
        while self.buckets[pos].slot != NIL {
            pos = (pos + 1) & mask;
        }
        self.buckets[pos] = bucket;
    }

    /// Doubles the table.
    fn grow(&mut self) {
        let doubled = vec![EMPTY; 2 * self.buckets.len()];
        let old = std::mem::replace(&mut self.buckets, doubled);
        for bucket in old.into_iter().filter(|bucket| bucket.slot != NIL) {
            self.place(bucket);
        }
    }

    /// Takes the bucket of `slot` out of the table, shifting later buckets of the same run back
    /// (no tombstones).
    fn unbucket(&mut self, hash: u32, slot: u32) {
        let mask = self.buckets.len() - 1;
        let mut hole = hash as usize & mask;
        while self.buckets[hole].slot != slot {
            if self.buckets[hole].slot == NIL {
                return;
            }
            hole = (hole + 1) & mask;
        }
        let mut pos = hole;
        loop {
            pos = (pos + 1) & mask;
            let bucket = self.buckets[pos];
            if bucket.slot == NIL {
                break;
            }
            let home = bucket.hash as usize & mask;
            // The bucket may move back into the hole unless its home lies cyclically in (hole, pos].
            if (pos.wrapping_sub(home) & mask) >= (pos.wrapping_sub(hole) & mask) {
                self.buckets[hole] = bucket;
                hole = pos;
            }
        }
        self.buckets[hole] = EMPTY;
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
