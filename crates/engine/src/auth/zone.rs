//! [`Zone`]: an immutable snapshot of one zone, built once from records and then only read.
//!
//! Layout, chosen so that answering a name costs about two cache misses and no allocation:
//! - an open-addressing hash table of [`Node`]s, one per owner name and per empty non-terminal
//!   between an owner and the apex; a slot holds the node itself and a fingerprint of its name's
//!   hash, so a probe that does not match touches nothing else;
//! - one byte arena holding, per node and side by side: its lower-cased wire name, a 12-byte
//!   header per RRset (type, TTL, record count, rdata bytes; sorted by type) and the RRsets'
//!   rdatas, each length-prefixed, in uncompressed wire form. The name compare of a lookup thus
//!   brings in the node's RRsets with it;
//! - the nodes in parent-first order (the apex first), as slot numbers, for walks over the zone;
//!   [`Zone::canonical_order`] gives RFC 4034 order on demand.
//!
//! A signed zone keeps the same layout ([`super::signed`]): its RRSIGs are RRsets of type RRSIG
//! split by covered type (one header each, the covered type in their first rdata), its NSEC3
//! records live in a separate table, and an index of the NSEC owners in canonical order serves
//! the denial proofs. An unsigned zone pays nothing for it.

use super::diff::History;
pub use super::names::hash;
pub(crate) use super::names::FnvBuild;
use super::names::{canonical_key, label_starts};
use super::signed::{covered_type, in_nsec3_table, Denial};
use portcullis_wire::{Class, NameBuf, Rtype};
use std::collections::{HashMap, HashSet};

/// Most records in one RRset kept by a zone (larger RRsets cannot be served anyway).
pub const MAX_RRSET_RECORDS: usize = 65_535;
/// RRsets up to this size find duplicates by scanning; larger ones by hashing.
const DUPLICATE_SCAN: usize = 16;

/// Bytes of an RRset's header in the arena: type (2), TTL (4), records (2), rdata bytes (4).
const HEADER: usize = 12;

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

/// An RRset of a zone, read from the arena (a small value: pass it around by copy).
#[derive(Clone, Copy, Debug)]
pub struct Rrset {
    /// The type.
    pub rtype: Rtype,
    /// The TTL (RFC 2181 §5.2: one per RRset; the lowest given wins).
    pub ttl: u32,
    rdata_start: u32,
    rdata_end: u32,
    count: u16,
}

/// A name in the zone: its RRsets, possibly none (an empty non-terminal).
#[derive(Clone, Copy, Debug, Default)]
pub struct Node {
    /// Where the node's name starts in the arena (its RRset headers and rdatas follow).
    start: u32,
    /// 0 marks an empty slot (every name has at least the root label's byte).
    name_len: u8,
    /// [`Node::BELOW_CUT_OR_DNAME`] and [`Node::WILDCARD_CHILD`].
    flags: u8,
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

    fn headers_start(&self) -> usize {
        self.start as usize + usize::from(self.name_len)
    }
}

/// A table slot: the high 32 bits of the name's hash, and the node.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    print: u32,
    node: Node,
}

/// An immutable zone.
#[derive(Clone, Debug)]
pub struct Zone {
    origin: NameBuf,
    class: Class,
    /// Per node: name, RRset headers, rdatas.
    arena: Vec<u8>,
    /// The hash table, a power of two long, at most half full.
    slots: Vec<Slot>,
    /// Slot numbers of the nodes, parents first.
    order: Vec<u32>,
    /// The NSEC owner index and the NSEC3 table of a signed zone (empty when unsigned).
    denial: Denial,
    /// The differences that led to this version, for IXFR ([`Zone::with_history`]).
    history: History,
}

impl Zone {
    /// Builds a zone from records (records outside `origin` are skipped; the caller's checks
    /// report them). Duplicate rdatas in one RRset are merged; the lowest TTL of an RRset wins.
    /// NSEC3 records and their RRSIGs go to the NSEC3 table, not the name tree (RFC 5155 §7.2:
    /// a hashed owner is no name of the zone).
    pub fn build<'r>(origin: &NameBuf, class: Class, records: impl IntoIterator<Item = RecordData<'r>>) -> Self {
        let mut hashed = Vec::new();
        let tree = records.into_iter().filter(|record| {
            let nsec3 = in_nsec3_table(record);
            if nsec3 {
                hashed.push(record.clone());
            }
            !nsec3
        });
        let mut zone = Self::build_tree(origin, class, tree);
        zone.denial = Denial::build(&zone, hashed);
        zone
    }

    /// The name tree of [`Zone::build`], without the DNSSEC indexes.
    pub(super) fn build_tree<'r>(origin: &NameBuf, class: Class, records: impl IntoIterator<Item = RecordData<'r>>) -> Self {
        let mut names = Vec::new();
        let mut entries: Vec<Entry<'r>> = Vec::new();
        for record in records {
            if !record.owner.is_subdomain_of(origin) {
                continue;
            }
            let lower = record.owner.to_lowercase();
            let start = names.len() as u32;
            names.extend_from_slice(lower.as_wire());
            let covered = covered_type(record.rtype, record.rdata);
            entries.push(Entry {
                name: start,
                len: lower.len() as u8,
                hash: hash(lower.as_wire()),
                rtype: record.rtype,
                covered,
                ttl: record.ttl,
                rdata: record.rdata,
            });
        }
        // Grouping needs equal names together, not an order: sort by hash first (cheap integer
        // compares), by bytes only on equal hashes.
        entries.sort_unstable_by(|a, b| {
            a.hash.cmp(&b.hash).then_with(|| a.name(&names).cmp(b.name(&names))).then(a.rtype.cmp(&b.rtype)).then(a.covered.cmp(&b.covered))
        });
        let mut groups: HashMap<&[u8], (usize, usize), FnvBuild> = HashMap::with_capacity_and_hasher(entries.len(), FnvBuild::default());
        let mut start = 0;
        while start < entries.len() {
            let name = entries[start].name(&names);
            let end = start + entries[start..].iter().take_while(|e| e.name(&names) == name).count();
            groups.insert(name, (start, end));
            start = end;
        }
        let origin_lower = origin.to_lowercase();
        let all = node_names(&groups, origin_lower.as_wire());
        let capacity = (all.len() * 2).next_power_of_two().max(8);
        let mut zone = Self {
            origin: *origin,
            class,
            arena: Vec::new(),
            slots: vec![Slot::default(); capacity],
            order: Vec::with_capacity(all.len()),
            denial: Denial::default(),
            history: History::new(),
        };
        for name in all {
            let (start, end) = groups.get(name).copied().unwrap_or((0, 0));
            zone.push_node(name, &entries[start..end]);
        }
        zone.arena.shrink_to_fit();
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
        self.order.len()
    }

    /// The node of `name` (any case), if it exists.
    pub fn node(&self, name: &NameBuf) -> Option<&Node> {
        self.node_wire(name.as_wire())
    }

    /// The node of an uncompressed wire name in any case: the hash folds case and node names
    /// are lower-case, so no lower-cased copy of the name is needed.
    pub fn node_wire(&self, wire: &[u8]) -> Option<&Node> {
        self.probe(wire, |stored| stored == wire || stored.eq_ignore_ascii_case(wire)).map(|slot| &self.slots[slot].node)
    }

    /// The table slot where a lookup of `wire` (any case) starts: computed, nothing is read
    /// ([`super::warm`] reads ahead with it).
    pub fn home_slot(&self, wire: &[u8]) -> usize {
        hash(wire) as usize & self.slots.len().saturating_sub(1)
    }

    /// Reads table slot `slot` (a lookup's first read): where its node starts in the arena, 0
    /// for an empty slot.
    pub fn slot_start(&self, slot: usize) -> u32 {
        self.slots.get(slot).map_or(0, |entry| entry.node.start)
    }

    /// Reads the arena byte at `start` (a lookup's second read: the node's name, then its
    /// RRsets).
    pub fn arena_byte(&self, start: u32) -> u8 {
        self.arena.get(start as usize).copied().unwrap_or(0)
    }

    /// The apex node (always the first: nodes are ordered parents first).
    pub fn apex(&self) -> Option<&Node> {
        self.order.first().map(|&slot| &self.slots[slot as usize].node)
    }

    /// The apex SOA RRset.
    #[inline]
    pub fn soa(&self) -> Option<Rrset> {
        self.apex().and_then(|apex| self.rrset(apex, Rtype::SOA))
    }

    /// The apex SOA's rdata.
    pub fn soa_rdata(&self) -> Option<&[u8]> {
        self.soa().map(|soa| self.first_rdata(&soa))
    }

    /// The serial of the apex SOA.
    pub fn serial(&self) -> Option<u32> {
        self.soa_rdata().and_then(super::transfer::soa_serial)
    }

    /// The RRsets of a node, sorted by type.
    pub fn rrsets(&self, node: &Node) -> Rrsets<'_> {
        let headers = node.headers_start();
        let rdata = headers + HEADER * usize::from(node.rrsets_len);
        Rrsets { headers: self.arena.get(headers..rdata).unwrap_or(&[]), rdata: rdata as u32 }
    }

    /// The RRset of `rtype` at `node`.
    pub fn rrset(&self, node: &Node, rtype: Rtype) -> Option<Rrset> {
        self.rrsets(node).find(|rrset| rrset.rtype >= rtype).filter(|rrset| rrset.rtype == rtype)
    }

    /// The rdatas of an RRset, each in uncompressed wire form.
    pub fn rdatas<'z>(&'z self, rrset: &Rrset) -> RdataIter<'z> {
        RdataIter { rest: self.arena.get(rrset.rdata_start as usize..rrset.rdata_end as usize).unwrap_or(&[]) }
    }

    /// The rdata of `rrset` that starts `offset` octets into its rdatas, and the offset of the
    /// next one: a walk through an RRset that holds no borrow between steps (zone transfers).
    pub fn rdata_at(&self, rrset: &Rrset, offset: u32) -> Option<(&[u8], u32)> {
        let start = (rrset.rdata_start as usize).checked_add(offset as usize)?;
        let rdata = RdataIter { rest: self.arena.get(start..rrset.rdata_end as usize)? }.next()?;
        Some((rdata, offset + 2 + rdata.len() as u32))
    }

    /// The node at `index` of [`Zone::nodes`].
    pub fn node_at(&self, index: usize) -> Option<&Node> {
        self.order.get(index).map(|&slot| &self.slots[slot as usize].node)
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
    pub fn nodes(&self) -> impl Iterator<Item = &Node> + '_ {
        self.order.iter().map(|&slot| &self.slots[slot as usize].node)
    }

    /// The nodes in canonical DNS order (RFC 4034 §6.1), for NSEC chains and signing; computed
    /// on demand.
    pub fn canonical_order(&self) -> Vec<&Node> {
        let mut keys = Vec::new();
        let mut spans: Vec<(u32, u32, &Node)> = Vec::with_capacity(self.order.len());
        for node in self.nodes() {
            let start = keys.len() as u32;
            canonical_key(self.name_bytes(node), &mut keys);
            spans.push((start, keys.len() as u32, node));
        }
        spans.sort_unstable_by(|a, b| keys[a.0 as usize..a.1 as usize].cmp(&keys[b.0 as usize..b.1 as usize]));
        spans.into_iter().map(|(_, _, node)| node).collect()
    }

    /// This version with `history`, the differences that led to it (RFC 1995: what an IXFR
    /// answer is made of). A history that does not end at this version's serial is not kept:
    /// the zone then has none, and IXFR clients get the whole zone.
    pub fn with_history(mut self, history: History) -> Self {
        self.history = if history.last_serial().is_some() && history.last_serial() == self.serial() { history } else { History::new() };
        self
    }

    /// The differences that led to this version (possibly none).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity() + self.slots.capacity() * size_of::<Slot>() + self.order.capacity() * 4 + self.denial.heap_bytes()
    }

    /// The DNSSEC indexes.
    pub(super) fn denial(&self) -> &Denial {
        &self.denial
    }

    /// The node in table slot `slot` (a slot from [`Zone::slots_in_order`]).
    pub(super) fn node_in_slot(&self, slot: u32) -> &Node {
        &self.slots[slot as usize].node
    }

    /// The table slots of the nodes, parents first.
    pub(super) fn slots_in_order(&self) -> &[u32] {
        &self.order
    }

    /// Looks `wire` up in the hash table; `same` compares a node's (lower-case) name with it.
    /// Returns the node's slot.
    #[inline]
    fn probe(&self, wire: &[u8], same: impl Fn(&[u8]) -> bool) -> Option<usize> {
        let mask = self.slots.len().checked_sub(1)?;
        let hashed = hash(wire);
        let print = (hashed >> 32) as u32;
        let mut slot = hashed as usize & mask;
        for _ in 0..self.slots.len() {
            let entry = &self.slots[slot];
            if entry.node.name_len == 0 {
                return None;
            }
            if entry.print == print && same(self.name_bytes(&entry.node)) {
                return Some(slot);
            }
            slot = (slot + 1) & mask;
        }
        None
    }

    /// The lower-case wire name of a node.
    pub(super) fn name_bytes(&self, node: &Node) -> &[u8] {
        self.arena.get(node.start as usize..node.headers_start()).unwrap_or(&[])
    }

    /// Appends a node, its RRset headers and rdatas to the arena and puts it in the table;
    /// `entries` are this name's records, sorted by type.
    fn push_node(&mut self, name: &[u8], entries: &[Entry<'_>]) {
        let start = self.arena.len();
        self.arena.extend_from_slice(name);
        // RRSIGs are grouped by the type they cover (RFC 4035 §3.1.1: the writer sends "the
        // RRSIGs covering T").
        let groups: Vec<&[Entry<'_>]> = entries.chunk_by(|a, b| a.rtype == b.rtype && a.covered == b.covered).collect();
        let mut headers_at = self.arena.len();
        self.arena.resize(headers_at + HEADER * groups.len(), 0);
        for same in &groups {
            let rdata_start = self.arena.len();
            let mut count = 0usize;
            // Duplicates merged: a scan of the earlier records for a small RRset, a sort for a
            // large one, so that a hostile zone or transfer cannot make this quadratic (and no
            // hasher: std's would read the OS random source).
            let large = (same.len() > DUPLICATE_SCAN).then(|| repeated_rdatas(same));
            for (i, entry) in same.iter().enumerate() {
                let duplicate = match &large {
                    Some(repeated) => repeated[i],
                    None => same[..i].iter().any(|earlier| earlier.rdata == entry.rdata),
                };
                if duplicate || count >= MAX_RRSET_RECORDS {
                    continue;
                }
                self.arena.extend_from_slice(&(entry.rdata.len() as u16).to_be_bytes());
                self.arena.extend_from_slice(entry.rdata);
                count += 1;
            }
            let ttl = same.iter().map(|e| e.ttl).min().unwrap_or(0);
            let bytes = (self.arena.len() - rdata_start) as u32;
            let header = &mut self.arena[headers_at..headers_at + HEADER];
            header[..2].copy_from_slice(&same[0].rtype.0.to_be_bytes());
            header[2..6].copy_from_slice(&ttl.to_be_bytes());
            header[6..8].copy_from_slice(&(count as u16).to_be_bytes());
            header[8..].copy_from_slice(&bytes.to_be_bytes());
            headers_at += HEADER;
        }
        let node = Node { start: start as u32, name_len: name.len() as u8, flags: 0, rrsets_len: groups.len() as u16 };
        let hashed = hash(name);
        let mask = self.slots.len() - 1;
        let mut slot = hashed as usize & mask;
        while self.slots[slot].node.name_len != 0 {
            slot = (slot + 1) & mask;
        }
        self.slots[slot] = Slot { print: (hashed >> 32) as u32, node };
        self.order.push(slot as u32);
    }

    /// Sets the flags of every node: below a cut or DNAME (parents precede children in `order`,
    /// so a parent's flag is final when its children are visited), and parent of a wildcard.
    fn mark_occluded(&mut self) {
        let apex_len = self.origin.len();
        for index in 0..self.order.len() {
            let slot = self.order[index] as usize;
            let node = self.slots[slot].node;
            let name = self.name_bytes(&node);
            if name.len() <= apex_len {
                continue;
            }
            let wildcard = name.starts_with(&[1, b'*']);
            let parent_wire = &name[1 + usize::from(name[0])..];
            let Some(parent_slot) = self.probe(parent_wire, |stored| stored == parent_wire) else { continue };
            let parent = &self.slots[parent_slot].node;
            let parent_is_apex = parent_wire.len() == apex_len;
            let flag =
                parent.below_cut_or_dname() || (!parent_is_apex && self.rrset(parent, Rtype::NS).is_some()) || self.rrset(parent, Rtype::DNAME).is_some();
            if flag {
                self.slots[slot].node.flags |= Node::BELOW_CUT_OR_DNAME;
            }
            if wildcard {
                self.slots[parent_slot].node.flags |= Node::WILDCARD_CHILD;
            }
        }
    }
}

/// One record during the build: its lower-cased name in the build's name arena.
struct Entry<'r> {
    name: u32,
    len: u8,
    hash: u64,
    rtype: Rtype,
    /// The covered type of an RRSIG, else 0.
    covered: u16,
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
/// Which records of an RRset repeat the rdata of an earlier one, found by sorting them by
/// (rdata, place): O(n log n), deterministic.
fn repeated_rdatas(same: &[Entry<'_>]) -> Vec<bool> {
    let mut order: Vec<usize> = (0..same.len()).collect();
    order.sort_unstable_by(|&a, &b| same[a].rdata.cmp(same[b].rdata).then(a.cmp(&b)));
    let mut repeated = vec![false; same.len()];
    for pair in order.windows(2) {
        if same[pair[0]].rdata == same[pair[1]].rdata {
            repeated[pair[1]] = true;
        }
    }
    repeated
}

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

impl Rrset {
    /// Number of records.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// True when the RRset has no records (never, for a built zone).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Iterator over the RRsets of a node, read from their headers in the arena.
#[derive(Clone)]
pub struct Rrsets<'z> {
    headers: &'z [u8],
    /// Where the next RRset's rdatas start in the arena.
    rdata: u32,
}

impl Rrsets<'_> {
    /// True when the node has no RRsets (an empty non-terminal).
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }
}

impl Iterator for Rrsets<'_> {
    type Item = Rrset;

    fn next(&mut self) -> Option<Rrset> {
        let (header, rest) = self.headers.split_first_chunk::<HEADER>()?;
        self.headers = rest;
        let bytes = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
        let rrset = Rrset {
            rtype: Rtype(u16::from_be_bytes([header[0], header[1]])),
            ttl: u32::from_be_bytes([header[2], header[3], header[4], header[5]]),
            rdata_start: self.rdata,
            rdata_end: self.rdata + bytes,
            count: u16::from_be_bytes([header[6], header[7]]),
        };
        self.rdata += bytes;
        Some(rrset)
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

#[cfg(test)]
#[path = "zone_tests.rs"]
mod tests;
