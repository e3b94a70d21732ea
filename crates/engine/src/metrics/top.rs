//! The most asked names and the busiest clients, estimated from a sample of the queries (one in
//! [`SAMPLE_EVERY`] of each worker's queries of one transport and type) with the space-saving
//! algorithm (Metwally, Agrawal, El Abbadi, "Efficient Computation of Frequent and Top-k Elements
//! in Data Streams", 2005): [`CAPACITY`] counters per table, a new key taking the place of the
//! smallest count plus one. Each worker has its own tables (its counter shard's), preallocated:
//! recording a sample takes the shard's own lock (contended only by a reader), compares at most
//! [`CAPACITY`] fingerprints and copies at most 255 bytes; nothing is allocated.

use crate::base::hash::Fnv;
use std::hash::Hasher;
use std::net::IpAddr;

/// One query in this many (per worker, transport and type) is sampled.
pub const SAMPLE_EVERY: u64 = 64;
/// Keys counted per table.
pub const CAPACITY: usize = 64;

/// A key and its estimated count, as read.
pub type Counted = (Vec<u8>, u64);

/// A key: a lower-cased wire name, or a client address (16 bytes, IPv4 mapped).
#[derive(Clone, Copy)]
struct Slot {
    fingerprint: u64,
    len: u8,
    key: [u8; 255],
    count: u64,
}

const EMPTY: Slot = Slot { fingerprint: 0, len: 0, key: [0; 255], count: 0 };

/// One space-saving table.
pub struct TopTable {
    slots: Box<[Slot; CAPACITY]>,
}

impl Default for TopTable {
    fn default() -> Self {
        Self { slots: Box::new([EMPTY; CAPACITY]) }
    }
}

impl std::fmt::Debug for TopTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopTable").field("used", &self.slots.iter().filter(|s| s.count > 0).count()).finish()
    }
}

impl TopTable {
    /// Counts one sighting of `key` (at most 255 bytes are kept). Slots fill in order and
    /// never empty, so the first empty one ends the search.
    pub fn see(&mut self, key: &[u8]) {
        let key = &key[..key.len().min(255)];
        let mut hasher = Fnv::default();
        hasher.write(key);
        let fingerprint = hasher.finish();
        let (mut smallest, mut smallest_count) = (0, u64::MAX);
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if slot.count == 0 {
                smallest = index;
                break;
            }
            if slot.fingerprint == fingerprint && &slot.key[..usize::from(slot.len)] == key {
                slot.count += 1;
                return;
            }
            if slot.count < smallest_count {
                (smallest, smallest_count) = (index, slot.count);
            }
        }
        let slot = &mut self.slots[smallest];
        slot.count += 1;
        slot.fingerprint = fingerprint;
        slot.len = key.len() as u8;
        slot.key[..key.len()].copy_from_slice(key);
    }

    /// Every key counted, with its count (not sorted).
    pub fn entries(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.slots.iter().filter(|slot| slot.count > 0).map(|slot| (&slot.key[..usize::from(slot.len)], slot.count))
    }
}

/// A worker's two tables.
#[derive(Debug, Default)]
pub struct TopTables {
    /// Question names, lower-cased wire form.
    pub names: TopTable,
    /// Client addresses, 16 bytes (IPv4 mapped into IPv6).
    pub clients: TopTable,
}

impl TopTables {
    /// Counts one sampled query: its question name (wire form, folded to lower case here) and
    /// its client.
    pub fn sample(&mut self, name: &[u8], client: IpAddr) {
        let mut lower = [0u8; 255];
        let len = name.len().min(255);
        for (out, byte) in lower.iter_mut().zip(&name[..len]) {
            *out = byte.to_ascii_lowercase();
        }
        self.names.see(&lower[..len]);
        let address = match client {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        self.clients.see(&address);
    }
}

/// The question name of a raw request: the wire bytes from offset 12 to its root label, when
/// they read (no compression, within the message).
pub fn question_name(bytes: &[u8]) -> Option<&[u8]> {
    let mut at = 12;
    for _ in 0..128 {
        match bytes.get(at)? {
            0 => return bytes.get(12..=at),
            &len if len < 64 => at += usize::from(len) + 1,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{question_name, TopTable, TopTables, CAPACITY};

    #[test]
    fn frequent_keys_stay_and_rare_ones_take_the_smallest_place() {
        let mut table = TopTable::default();
        for round in 0..1000u32 {
            table.see(b"popular");
            if round % 2 == 0 {
                table.see(b"second");
            }
            // A new key each time: they share the smallest places.
            table.see(&round.to_be_bytes());
        }
        let mut entries: Vec<(Vec<u8>, u64)> = table.entries().map(|(k, n)| (k.to_vec(), n)).collect();
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.1));
        assert_eq!(entries[0], (b"popular".to_vec(), 1000));
        assert_eq!(entries[1], (b"second".to_vec(), 500));
        assert!(entries.len() <= CAPACITY);
    }

    #[test]
    fn names_are_folded_and_clients_kept_apart() {
        let mut tables = TopTables::default();
        tables.sample(b"\x03WWW\x07example\x00", "192.0.2.1".parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()));
        tables.sample(b"\x03www\x07EXAMPLE\x00", "2001:db8::1".parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()));
        let names: Vec<_> = tables.names.entries().collect();
        assert_eq!(names, [(&b"\x03www\x07example\x00"[..], 2)]);
        assert_eq!(tables.clients.entries().count(), 2);
        let mut query = vec![0u8; 12];
        query.extend_from_slice(b"\x01a\x00\x00\x01\x00\x01");
        assert_eq!(question_name(&query), Some(&b"\x01a\x00"[..]));
        assert_eq!(question_name(&query[..14]), None);
    }
}
