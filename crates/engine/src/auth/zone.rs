//! [`Zone`]: an immutable snapshot of one zone, built once from records and then only read.
//!
//! Layout, chosen for a lookup that does not allocate and a small footprint:
//! - every owner name (and every empty non-terminal between an owner and the apex) is a [`Node`],
//!   its lower-cased wire name kept in one byte arena;
//! - an open-addressing hash table maps a lower-cased name to its node;
//! - each node's RRsets are a range of [`Rrset`]s, sorted by type; each RRset's rdatas are
//!   length-prefixed in one rdata arena, in uncompressed wire form.

use portcullis_wire::{Class, NameBuf, Rtype};
use std::collections::BTreeMap;

/// Most records in one RRset kept by a zone (larger RRsets cannot be served anyway).
pub const MAX_RRSET_RECORDS: usize = 65_535;

/// One record handed to [`Zone::build`].
#[derive(Clone, Debug)]
pub struct RecordData<'r> {
    /// Owner.
    pub owner: &'r NameBuf,
    /// Type.
    pub rtype: Rtype,
    /// TTL.
    pub ttl: u32,
    /// Uncompressed wire rdata.
    pub rdata: &'r [u8],
}

/// An RRset stored in wire form.
#[derive(Clone, Copy, Debug)]
pub struct Rrset {
    /// The type.
    pub rtype: Rtype,
    /// The TTL (RFC 2181 §5.2: one per RRset; the lowest given wins).
    pub ttl: u32,
    rdata_start: u32,
    rdata_end: u32,
    count: u32,
}

/// A name in the zone: its RRsets, possibly none (an empty non-terminal).
#[derive(Clone, Copy, Debug)]
pub struct Node {
    name_start: u32,
    name_len: u8,
    rrsets_start: u32,
    rrsets_len: u16,
}

/// An immutable zone.
#[derive(Debug)]
pub struct Zone {
    origin: NameBuf,
    class: Class,
    names: Vec<u8>,
    nodes: Vec<Node>,
    rrsets: Vec<Rrset>,
    rdatas: Vec<u8>,
    table: Vec<u32>,
}

impl Zone {
    /// Builds a zone from records (which must lie at or below `origin`; others are skipped by
    /// the caller's checks). Duplicate rdatas in one RRset are merged.
    pub fn build<'r>(origin: &NameBuf, class: Class, records: impl IntoIterator<Item = RecordData<'r>>) -> Self {
        let mut grouped: BTreeMap<Vec<u8>, BTreeMap<u16, (u32, Vec<&'r [u8]>)>> = BTreeMap::new();
        let origin_lower = origin.to_lowercase();
        for record in records {
            if !record.owner.is_subdomain_of(origin) {
                continue;
            }
            add_with_ancestors(&mut grouped, &record.owner.to_lowercase(), &origin_lower);
            let types = grouped.entry(record.owner.to_lowercase().as_wire().to_vec()).or_default();
            let (ttl, rdatas) = types.entry(record.rtype.0).or_insert((record.ttl, Vec::new()));
            *ttl = (*ttl).min(record.ttl);
            if !rdatas.contains(&record.rdata) && rdatas.len() < MAX_RRSET_RECORDS {
                rdatas.push(record.rdata);
            }
        }
        grouped.entry(origin_lower.as_wire().to_vec()).or_default();
        let mut zone = Self { origin: *origin, class, names: Vec::new(), nodes: Vec::new(), rrsets: Vec::new(), rdatas: Vec::new(), table: Vec::new() };
        for (name, types) in grouped {
            zone.push_node(&name, types);
        }
        zone.build_table();
        zone
    }

    /// The apex name.
    pub fn origin(&self) -> &NameBuf {
        &self.origin
    }

    /// The zone's class.
    pub fn class(&self) -> Class {
        self.class
    }

    /// Number of nodes (names and empty non-terminals).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The node of `name` (any case), if it exists.
    pub fn node(&self, name: &NameBuf) -> Option<&Node> {
        let lower = name.to_lowercase();
        self.node_lower(lower.as_wire())
    }

    /// The node of an already lower-cased wire name.
    pub fn node_lower(&self, wire: &[u8]) -> Option<&Node> {
        if self.table.is_empty() {
            return None;
        }
        let mask = self.table.len() - 1;
        let mut slot = hash(wire) as usize & mask;
        for _ in 0..self.table.len() {
            let entry = self.table[slot];
            if entry == 0 {
                return None;
            }
            let node = &self.nodes[entry as usize - 1];
            if self.name_bytes(node) == wire {
                return Some(node);
            }
            slot = (slot + 1) & mask;
        }
        None
    }

    /// The apex node.
    pub fn apex(&self) -> Option<&Node> {
        self.node(&self.origin)
    }

    /// The RRsets of a node, sorted by type.
    pub fn rrsets(&self, node: &Node) -> &[Rrset] {
        let start = node.rrsets_start as usize;
        &self.rrsets[start..start + usize::from(node.rrsets_len)]
    }

    /// The RRset of `rtype` at `node`.
    pub fn rrset(&self, node: &Node, rtype: Rtype) -> Option<&Rrset> {
        let rrsets = self.rrsets(node);
        rrsets.binary_search_by_key(&rtype, |r| r.rtype).ok().map(|i| &rrsets[i])
    }

    /// The rdatas of an RRset, each in uncompressed wire form.
    pub fn rdatas<'z>(&'z self, rrset: &Rrset) -> RdataIter<'z> {
        RdataIter { rest: &self.rdatas[rrset.rdata_start as usize..rrset.rdata_end as usize] }
    }

    /// The first rdata of an RRset (for singletons such as SOA, CNAME, DNAME).
    pub fn first_rdata<'z>(&'z self, rrset: &Rrset) -> &'z [u8] {
        self.rdatas(rrset).next().unwrap_or(&[])
    }

    /// The lower-cased name of a node, as a `NameBuf`.
    pub fn node_name(&self, node: &Node) -> NameBuf {
        NameBuf::from_wire(self.name_bytes(node)).unwrap_or(NameBuf::ROOT)
    }

    /// Every node, in canonical order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.names.capacity() + self.rdatas.capacity() + self.nodes.capacity() * size_of::<Node>() + self.rrsets.capacity() * size_of::<Rrset>() + self.table.capacity() * 4
    }

    fn name_bytes(&self, node: &Node) -> &[u8] {
        let start = node.name_start as usize;
        &self.names[start..start + usize::from(node.name_len)]
    }

    fn push_node(&mut self, name: &[u8], types: BTreeMap<u16, (u32, Vec<&[u8]>)>) {
        let node = Node { name_start: self.names.len() as u32, name_len: name.len() as u8, rrsets_start: self.rrsets.len() as u32, rrsets_len: types.len() as u16 };
        self.names.extend_from_slice(name);
        for (rtype, (ttl, rdatas)) in types {
            let rdata_start = self.rdatas.len() as u32;
            for rdata in &rdatas {
                self.rdatas.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                self.rdatas.extend_from_slice(rdata);
            }
            self.rrsets.push(Rrset { rtype: Rtype(rtype), ttl, rdata_start, rdata_end: self.rdatas.len() as u32, count: rdatas.len() as u32 });
        }
        self.nodes.push(node);
    }

    fn build_table(&mut self) {
        let capacity = (self.nodes.len() * 2).next_power_of_two().max(8);
        self.table = vec![0; capacity];
        let mask = capacity - 1;
        for (index, node) in self.nodes.iter().enumerate() {
            let mut slot = hash(self.name_bytes(node)) as usize & mask;
            while self.table[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            self.table[slot] = index as u32 + 1;
        }
        self.names.shrink_to_fit();
        self.rdatas.shrink_to_fit();
        self.nodes.shrink_to_fit();
        self.rrsets.shrink_to_fit();
        // Nodes were pushed in byte order of lower-cased wire names; sort canonically for NSEC.
        let names = &self.names;
        let key = |node: &Node| {
            let start = node.name_start as usize;
            NameBuf::from_wire(&names[start..start + usize::from(node.name_len)]).unwrap_or(NameBuf::ROOT)
        };
        let mut order: Vec<u32> = (0..self.nodes.len() as u32).collect();
        order.sort_by(|&a, &b| key(&self.nodes[a as usize]).canonical_cmp(&key(&self.nodes[b as usize])));
        let mut position = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            position[old as usize] = new as u32;
        }
        self.nodes = order.iter().map(|&old| self.nodes[old as usize]).collect();
        for entry in self.table.iter_mut().filter(|e| **e != 0) {
            *entry = position[*entry as usize - 1] + 1;
        }
    }
}

impl Rrset {
    /// Number of records.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when the RRset has no records (never, for a built zone).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Iterator over the rdatas of an RRset.
#[derive(Clone)]
pub struct RdataIter<'z> {
    rest: &'z [u8],
}

impl<'z> Iterator for RdataIter<'z> {
    type Item = &'z [u8];

    fn next(&mut self) -> Option<&'z [u8]> {
        let (head, body) = self.rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*head)).min(body.len());
        let (rdata, rest) = body.split_at(len);
        self.rest = rest;
        Some(rdata)
    }
}

/// FNV-1a over the lower-cased wire name: cheap, and the keys are ours, not the attacker's
/// (a query can only probe, not insert).
pub fn hash(wire: &[u8]) -> u64 {
    wire.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn add_with_ancestors<'r>(grouped: &mut BTreeMap<Vec<u8>, BTreeMap<u16, (u32, Vec<&'r [u8]>)>>, owner: &NameBuf, origin: &NameBuf) {
    let extra = owner.label_count().saturating_sub(origin.label_count());
    for skip in 1..extra {
        if let Some(ancestor) = owner.suffix(skip) {
            grouped.entry(ancestor.as_wire().to_vec()).or_default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap()
    }

    #[test]
    fn empty_non_terminals_exist_and_lookup_ignores_case() {
        let owner = name("a.B.c.example.");
        let origin = name("example.");
        let zone = Zone::build(&origin, Class::IN, [RecordData { owner: &owner, rtype: Rtype::A, ttl: 60, rdata: &[1, 2, 3, 4] }]);
        assert_eq!(zone.node_count(), 4);
        let ent = zone.node(&name("b.c.EXAMPLE.")).unwrap();
        assert!(zone.rrsets(ent).is_empty());
        let leaf = zone.node(&name("A.b.C.example.")).unwrap();
        let rrset = zone.rrset(leaf, Rtype::A).unwrap();
        assert_eq!(zone.rdatas(rrset).collect::<Vec<_>>(), vec![&[1u8, 2, 3, 4][..]]);
        assert!(zone.node(&name("x.example.")).is_none());
        assert_eq!(zone.node_name(&zone.nodes()[0]).to_string(), "example.");
    }

    #[test]
    fn duplicate_rdata_is_merged_and_lowest_ttl_wins() {
        let owner = name("example.");
        let records = [
            RecordData { owner: &owner, rtype: Rtype::A, ttl: 60, rdata: &[1, 2, 3, 4] },
            RecordData { owner: &owner, rtype: Rtype::A, ttl: 30, rdata: &[1, 2, 3, 4] },
        ];
        let zone = Zone::build(&owner, Class::IN, records);
        let rrset = zone.rrset(zone.apex().unwrap(), Rtype::A).unwrap();
        assert_eq!((rrset.len(), rrset.ttl), (1, 30));
    }
}
