//! [`Zone`]: an immutable snapshot of one zone, built once from records and then only read.
//!
//! Layout, chosen for a lookup that does not allocate and a small footprint:
//! - every owner name (and every empty non-terminal between an owner and the apex) is a [`Node`],
//!   its lower-cased wire name kept in one byte arena;
//! - an open-addressing hash table maps a lower-cased name to its node;
//! - each node's RRsets are a range of [`Rrset`]s, sorted by type; each RRset's rdatas are
//!   length-prefixed in one rdata arena, in uncompressed wire form;
//! - nodes are ordered parents first; [`Zone::canonical_order`] gives RFC 4034 order on demand.

use portcullis_wire::{Class, NameBuf, Rtype};
use std::collections::{HashMap, HashSet};

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
    /// [`Node::BELOW_CUT_OR_DNAME`] and [`Node::WILDCARD_CHILD`].
    flags: u8,
    rrsets_start: u32,
    rrsets_len: u16,
}

impl Node {
    /// A proper ancestor is a zone cut or owns a DNAME: the descent must look at it.
    const BELOW_CUT_OR_DNAME: u8 = 1;
    /// The node has a child `*` (a wildcard; RFC 4592).
    const WILDCARD_CHILD: u8 = 2;

    /// True when a proper ancestor (below the apex) is a zone cut, or any proper ancestor owns a
    /// DNAME: an exact match alone does not settle the answer.
    pub fn below_cut_or_dname(&self) -> bool {
        self.flags & Self::BELOW_CUT_OR_DNAME != 0
    }

    /// True when `*.` + this node's name exists: only then can a name below it that does not
    /// exist be synthesised (RFC 4592 §3.3.1).
    pub fn has_wildcard_child(&self) -> bool {
        self.flags & Self::WILDCARD_CHILD != 0
    }
}

/// An immutable zone.
#[derive(Clone, Debug)]
pub struct Zone {
    origin: NameBuf,
    class: Class,
    names: Vec<u8>,
    nodes: Vec<Node>,
    rrsets: Vec<Rrset>,
    rdatas: Vec<u8>,
    /// Slots of (node index + 1, high 32 bits of the name's hash); 0 = empty. The fingerprint
    /// spares a probe that does not match the fetch of a node and its name (two cache misses).
    table: Vec<(u32, u32)>,
}

impl Zone {
    /// Builds a zone from records (records outside `origin` are skipped; the caller's checks
    /// report them). Duplicate rdatas in one RRset are merged; the lowest TTL of an RRset wins.
    pub fn build<'r>(origin: &NameBuf, class: Class, records: impl IntoIterator<Item = RecordData<'r>>) -> Self {
        let mut names = Vec::new();
        let mut entries: Vec<Entry<'r>> = Vec::new();
        for record in records {
            if !record.owner.is_subdomain_of(origin) {
                continue;
            }
            let lower = record.owner.to_lowercase();
            let start = names.len() as u32;
            names.extend_from_slice(lower.as_wire());
            entries.push(Entry { name: start, len: lower.len() as u8, hash: hash(lower.as_wire()), rtype: record.rtype, ttl: record.ttl, rdata: record.rdata });
        }
        // Grouping needs equal names together, not an order: sort by hash first (cheap integer
        // compares), by bytes only on equal hashes.
        entries.sort_unstable_by(|a, b| a.hash.cmp(&b.hash).then_with(|| a.name(&names).cmp(b.name(&names))).then(a.rtype.cmp(&b.rtype)));
        let mut groups: HashMap<&[u8], (usize, usize), FnvBuild> = HashMap::with_capacity_and_hasher(entries.len(), FnvBuild::default());
        let mut start = 0;
        while start < entries.len() {
            let name = entries[start].name(&names);
            let end = start + entries[start..].iter().take_while(|e| e.name(&names) == name).count();
            groups.insert(name, (start, end));
            start = end;
        }
        let mut zone = Self { origin: *origin, class, names: Vec::new(), nodes: Vec::new(), rrsets: Vec::new(), rdatas: Vec::new(), table: Vec::new() };
        let origin_lower = origin.to_lowercase();
        for name in node_names(&groups, origin_lower.as_wire()) {
            let (start, end) = groups.get(name).copied().unwrap_or((0, 0));
            zone.push_node(name, &entries[start..end]);
        }
        zone.build_table();
        zone.mark_occluded();
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
        self.node_wire(name.as_wire())
    }

    /// The node of an uncompressed wire name in any case: the hash folds case and node names
    /// are lower-case, so no lower-cased copy of the name is needed.
    pub fn node_wire(&self, wire: &[u8]) -> Option<&Node> {
        self.probe(wire, |stored| stored == wire || stored.eq_ignore_ascii_case(wire)).map(|index| &self.nodes[index])
    }

    /// The node of an already lower-cased wire name.
    pub fn node_lower(&self, wire: &[u8]) -> Option<&Node> {
        self.probe(wire, |stored| stored == wire).map(|index| &self.nodes[index])
    }

    /// The apex node (always the first: nodes are ordered parents first).
    pub fn apex(&self) -> Option<&Node> {
        self.nodes.first()
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

    /// Every node; a parent always comes before its children, the apex first.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Indexes into [`Self::nodes`] in canonical DNS order (RFC 4034 §6.1), for NSEC chains and
    /// signing; computed on demand.
    pub fn canonical_order(&self) -> Vec<u32> {
        let mut keys = Vec::new();
        let mut spans: Vec<(u32, u32, u32)> = Vec::with_capacity(self.nodes.len());
        for (index, node) in self.nodes.iter().enumerate() {
            let start = keys.len() as u32;
            canonical_key(self.name_bytes(node), &mut keys);
            spans.push((start, keys.len() as u32, index as u32));
        }
        spans.sort_unstable_by(|a, b| keys[a.0 as usize..a.1 as usize].cmp(&keys[b.0 as usize..b.1 as usize]));
        spans.into_iter().map(|(_, _, index)| index).collect()
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.names.capacity()
            + self.rdatas.capacity()
            + self.nodes.capacity() * size_of::<Node>()
            + self.rrsets.capacity() * size_of::<Rrset>()
            + self.table.capacity() * 8
    }

    /// Looks `wire` up in the hash table; `same` compares a node's (lower-case) name with it.
    /// Returns the node's index.
    #[inline]
    fn probe(&self, wire: &[u8], same: impl Fn(&[u8]) -> bool) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let mask = self.table.len() - 1;
        let hashed = hash(wire);
        let fingerprint = (hashed >> 32) as u32;
        let mut slot = hashed as usize & mask;
        for _ in 0..self.table.len() {
            let (entry, print) = self.table[slot];
            if entry == 0 {
                return None;
            }
            if print == fingerprint {
                let index = entry as usize - 1;
                if same(self.name_bytes(&self.nodes[index])) {
                    return Some(index);
                }
            }
            slot = (slot + 1) & mask;
        }
        None
    }

    fn name_bytes(&self, node: &Node) -> &[u8] {
        let start = node.name_start as usize;
        &self.names[start..start + usize::from(node.name_len)]
    }

    /// Appends a node and its RRsets; `entries` are this name's records, sorted by type.
    fn push_node(&mut self, name: &[u8], entries: &[Entry<'_>]) {
        let node_start = self.rrsets.len();
        self.nodes.push(Node { name_start: self.names.len() as u32, name_len: name.len() as u8, flags: 0, rrsets_start: node_start as u32, rrsets_len: 0 });
        self.names.extend_from_slice(name);
        let mut index = 0;
        while index < entries.len() {
            let rtype = entries[index].rtype;
            let same: &[Entry<'_>] = &entries[index..index + entries[index..].iter().take_while(|e| e.rtype == rtype).count()];
            index += same.len();
            let rdata_start = self.rdatas.len();
            let mut count = 0u32;
            for (i, entry) in same.iter().enumerate() {
                let duplicate = same[..i].iter().any(|earlier| earlier.rdata == entry.rdata);
                if duplicate || count as usize >= MAX_RRSET_RECORDS {
                    continue;
                }
                self.rdatas.extend_from_slice(&(entry.rdata.len() as u16).to_be_bytes());
                self.rdatas.extend_from_slice(entry.rdata);
                count += 1;
            }
            let ttl = same.iter().map(|e| e.ttl).min().unwrap_or(0);
            self.rrsets.push(Rrset { rtype, ttl, rdata_start: rdata_start as u32, rdata_end: self.rdatas.len() as u32, count });
        }
        if let Some(node) = self.nodes.last_mut() {
            node.rrsets_len = (self.rrsets.len() - node_start) as u16;
        }
    }

    /// Sets the flags of every node: below a cut or DNAME (parents precede children in `nodes`,
    /// so a parent's flag is final when its children are visited), and parent of a wildcard.
    fn mark_occluded(&mut self) {
        let apex_len = self.origin.len();
        for index in 0..self.nodes.len() {
            let node = self.nodes[index];
            let name = self.name_bytes(&node);
            if name.len() <= apex_len {
                continue;
            }
            let wildcard = name.starts_with(&[1, b'*']);
            let parent_wire = &name[1 + usize::from(name[0])..];
            let Some(parent_index) = self.probe(parent_wire, |stored| stored == parent_wire) else { continue };
            let parent = &self.nodes[parent_index];
            let parent_is_apex = parent_wire.len() == apex_len;
            let flag =
                parent.below_cut_or_dname() || (!parent_is_apex && self.rrset(parent, Rtype::NS).is_some()) || self.rrset(parent, Rtype::DNAME).is_some();
            if flag {
                self.nodes[index].flags |= Node::BELOW_CUT_OR_DNAME;
            }
            if wildcard {
                self.nodes[parent_index].flags |= Node::WILDCARD_CHILD;
            }
        }
    }

    /// Builds the hash index over the nodes and trims the arenas.
    fn build_table(&mut self) {
        self.names.shrink_to_fit();
        self.rdatas.shrink_to_fit();
        self.nodes.shrink_to_fit();
        self.rrsets.shrink_to_fit();
        let capacity = (self.nodes.len() * 2).next_power_of_two().max(8);
        self.table = vec![(0, 0); capacity];
        let mask = capacity - 1;
        for (index, node) in self.nodes.iter().enumerate() {
            let hashed = hash(self.name_bytes(node));
            let mut slot = hashed as usize & mask;
            while self.table[slot].0 != 0 {
                slot = (slot + 1) & mask;
            }
            self.table[slot] = (index as u32 + 1, (hashed >> 32) as u32);
        }
    }
}

/// One record during the build: its lower-cased name in the build's name arena.
struct Entry<'r> {
    name: u32,
    len: u8,
    hash: u64,
    rtype: Rtype,
    ttl: u32,
    rdata: &'r [u8],
}

impl Entry<'_> {
    fn name<'n>(&self, names: &'n [u8]) -> &'n [u8] {
        &names[self.name as usize..self.name as usize + usize::from(self.len)]
    }
}

/// Every node name: the owners, plus the empty non-terminals between each owner and the apex
/// (suffixes of owners, so slices of the same bytes), plus the apex; ordered by label count, so
/// that a parent always comes before its children (the apex first). Canonical order, which only
/// DNSSEC needs, is computed on demand by [`Zone::canonical_order`].
fn node_names<'n>(groups: &HashMap<&'n [u8], (usize, usize), FnvBuild>, origin: &'n [u8]) -> Vec<&'n [u8]> {
    let mut all: HashSet<&'n [u8], FnvBuild> = HashSet::with_capacity_and_hasher(groups.len(), FnvBuild::default());
    all.insert(origin);
    for &owner in groups.keys() {
        let mut name = owner;
        while name.len() > origin.len() && all.insert(name) {
            name = &name[1 + usize::from(name[0])..];
        }
    }
    let mut sorted: Vec<(u8, &'n [u8])> = all.into_iter().map(|name| (label_starts(name, &mut [0; 128]) as u8, name)).collect();
    sorted.sort_unstable_by_key(|(labels, _)| *labels);
    sorted.into_iter().map(|(_, name)| name).collect()
}

/// A byte string whose plain order is the canonical order of the name (RFC 4034 §6.1): labels
/// from the right, each followed by 0x00, with 0x00 and 0x01 inside labels escaped as 0x01 0x01
/// and 0x01 0x02 so that a shorter label sorts first.
fn canonical_key(wire: &[u8], out: &mut Vec<u8>) {
    let mut starts = [0u8; 128];
    let count = label_starts(wire, &mut starts);
    for &start in starts[..count].iter().rev() {
        for &byte in label_at(wire, start) {
            match byte {
                0 => out.extend_from_slice(&[1, 1]),
                1 => out.extend_from_slice(&[1, 2]),
                other => out.push(other),
            }
        }
        out.push(0);
    }
}

/// FNV-1a as a `Hasher`, for build-time tables keyed by our own names.
#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

pub(crate) type FnvBuild = std::hash::BuildHasherDefault<Fnv>;

/// Canonical DNS order (RFC 4034 §6.1) of two lower-cased, uncompressed wire names.
pub fn canonical_cmp_wire(left: &[u8], right: &[u8]) -> std::cmp::Ordering {
    let mut left_starts = [0u8; 128];
    let mut right_starts = [0u8; 128];
    let left_count = label_starts(left, &mut left_starts);
    let right_count = label_starts(right, &mut right_starts);
    let (mut i, mut j) = (left_count, right_count);
    while i > 0 && j > 0 {
        i -= 1;
        j -= 1;
        let a = label_at(left, left_starts[i]);
        let b = label_at(right, right_starts[j]);
        match a.cmp(b) {
            std::cmp::Ordering::Equal => {}
            other => return other,
        }
    }
    left_count.cmp(&right_count)
}

fn label_starts(wire: &[u8], starts: &mut [u8; 128]) -> usize {
    let mut count = 0;
    let mut pos = 0usize;
    while let Some(&len) = wire.get(pos) {
        if len == 0 || count == starts.len() {
            break;
        }
        starts[count] = pos as u8;
        count += 1;
        pos += 1 + usize::from(len);
    }
    count
}

fn label_at(wire: &[u8], start: u8) -> &[u8] {
    let start = usize::from(start);
    let len = usize::from(wire.get(start).copied().unwrap_or(0));
    wire.get(start + 1..start + 1 + len).unwrap_or(&[])
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

/// A multiply-rotate hash over the wire name with ASCII case folded, eight bytes at a time,
/// finished with a 64-bit mix so the low bits (the table index) depend on every byte. Cheap; the
/// keys are ours, not the attacker's (a query can only probe, not insert). Names that differ only
/// in case hash alike, so a query name needs no lower-cased copy.
pub fn hash(wire: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = wire.len() as u64;
    let mut chunks = wire.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]);
        h = (h.rotate_left(5) ^ fold_case(word)).wrapping_mul(K);
    }
    h = (h.rotate_left(5) ^ fold_case(tail_word(wire, chunks.remainder()))).wrapping_mul(K);
    h ^= h >> 32;
    h = h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

/// The last bytes of a name (`rest`, fewer than eight) as a little-endian word padded with zeros:
/// the name's last eight bytes shifted down when it has that many (no copy into a padded array,
/// which costs a library call), else that copy.
fn tail_word(wire: &[u8], rest: &[u8]) -> u64 {
    if rest.is_empty() {
        return 0;
    }
    if let Some(last) = wire.last_chunk::<8>() {
        return u64::from_le_bytes(*last) >> (8 * (8 - rest.len()));
    }
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    u64::from_le_bytes(tail)
}

/// ASCII lower-casing of eight bytes at once: 0x20 is added to every byte in `A..=Z`.
fn fold_case(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = word & !HIGH;
    // The high bit of each byte: set when its low seven bits are >= 'A', respectively > 'Z'
    // (no carry crosses a byte: low7 + 0x3F <= 0xBE).
    let at_least_a = low7 + ONES * u64::from(0x80 - b'A');
    let above_z = low7 + ONES * u64::from(0x80 - b'Z' - 1);
    let upper = at_least_a & !above_z & !word & HIGH;
    word | (upper >> 2)
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
        let canonical: Vec<String> = zone.canonical_order().iter().map(|&i| zone.node_name(&zone.nodes()[i as usize]).to_string()).collect();
        assert_eq!(canonical, ["example.", "c.example.", "b.c.example.", "a.b.c.example."]);
    }

    #[test]
    fn canonical_keys_order_like_rfc4034() {
        let ordered = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "z.a.example.",
            "zabc.a.example.",
            "z.example.",
            "\\000.z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        let keys: Vec<Vec<u8>> = ordered
            .iter()
            .map(|n| {
                let mut k = Vec::new();
                canonical_key(name(n).as_wire(), &mut k);
                k
            })
            .collect();
        for (pair, names) in keys.windows(2).zip(ordered.windows(2)) {
            assert!(pair[0] < pair[1], "{names:?}");
            assert_eq!(canonical_cmp_wire(name(names[0]).as_wire(), name(names[1]).as_wire()), std::cmp::Ordering::Less);
        }
    }

    #[test]
    fn fold_case_lowers_ascii_letters_only() {
        for byte in 0..=255u8 {
            let bytes = [byte, b'A', b'z', byte, 0xC1, b'@', b'[', byte];
            assert_eq!(fold_case(u64::from_le_bytes(bytes)), u64::from_le_bytes(bytes.map(|b| b.to_ascii_lowercase())), "byte {byte:#x}");
        }
        assert_eq!(hash(b"\x03WwW\x07ExAmple\x00"), hash(b"\x03www\x07example\x00"));
        for len in 1..24 {
            let wire: Vec<u8> = (1..=len as u8).collect();
            let rest = &wire[wire.len() / 8 * 8..];
            let mut padded = [0u8; 8];
            padded[..rest.len()].copy_from_slice(rest);
            assert_eq!(tail_word(&wire, rest), if rest.is_empty() { 0 } else { u64::from_le_bytes(padded) }, "{len}");
        }
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
