//! The DNSSEC side of a zone snapshot, built once with it and only read by the answers.
//!
//! - RRSIGs stay in the name tree, one RRset per covered type ([`covered_type`] splits them at
//!   build time), so "the RRSIGs covering T at N" is one more header scan ([`Zone::signatures`]).
//! - NSEC owners are indexed in canonical order (RFC 4034 §6.1) as byte keys: the NSEC that
//!   covers a name is a binary search over them ([`Zone::nsec_at_or_before`]), no allocation.
//! - NSEC3 records and their RRSIGs are no names of the zone (a hashed owner would otherwise
//!   take part in wildcard and closest-encloser logic, RFC 5155 §7.2): they live in a table of
//!   their own ([`Nsec3Table`], a second [`Zone`] of the hashed owners) with the hashes sorted,
//!   for the matching and covering NSEC3 of a hashed name.

use super::names::{canonical_key, canonical_key_into, KEY_MAX};
use super::zone::{Node, RecordData, Rrset, Zone};
use portcullis_wire::{NameBuf, Rtype};

/// Length of an NSEC3 SHA-1 hash (RFC 5155 §11).
pub const NSEC3_HASH_LEN: usize = 20;

/// The type an RRSIG covers (its rdata's first two octets), 0 for other types: the key that
/// splits an RRSIG RRset of mixed covered types into one group per type.
pub(super) fn covered_type(rtype: Rtype, rdata: &[u8]) -> u16 {
    match (rtype, rdata) {
        (Rtype::RRSIG, [high, low, ..]) => u16::from_be_bytes([*high, *low]),
        _ => 0,
    }
}

/// True for the records of the NSEC3 table: NSEC3 records and the RRSIGs that cover them.
pub(super) fn in_nsec3_table(record: &RecordData<'_>) -> bool {
    record.rtype == Rtype::NSEC3 || covered_type(record.rtype, record.rdata) == Rtype::NSEC3.0
}

/// The DNSSEC indexes of a zone; empty (and free) for an unsigned zone.
#[derive(Clone, Debug, Default)]
pub(super) struct Denial {
    /// Canonical keys of the NSEC owners, back to back.
    keys: Vec<u8>,
    /// Per NSEC owner, in canonical order: its key's span in `keys` and its table slot.
    nsec: Vec<(u32, u32, u32)>,
    nsec3: Option<Box<Nsec3Table>>,
    /// The zone holds RRSIGs: DO=1 answers from it carry DNSSEC records.
    signed: bool,
}

impl Denial {
    /// The indexes of `zone` (its name tree built) and its NSEC3 table of `hashed` records.
    pub(super) fn build(zone: &Zone, hashed: Vec<RecordData<'_>>) -> Self {
        let mut keys = Vec::new();
        let mut nsec = Vec::new();
        let mut signed = !hashed.is_empty();
        for &slot in zone.slots_in_order() {
            let node = zone.node_in_slot(slot);
            signed |= zone.rrset(node, Rtype::RRSIG).is_some();
            if zone.rrset(node, Rtype::NSEC).is_none() {
                continue;
            }
            let start = keys.len() as u32;
            canonical_key(zone.name_bytes(node), &mut keys);
            nsec.push((start, keys.len() as u32, slot));
        }
        nsec.sort_unstable_by(|a, b| keys[a.0 as usize..a.1 as usize].cmp(&keys[b.0 as usize..b.1 as usize]));
        let nsec3 = (!hashed.is_empty()).then(|| Box::new(Nsec3Table::build(zone, hashed)));
        Self { keys, nsec, nsec3, signed }
    }

    /// Approximate heap bytes held.
    pub(super) fn heap_bytes(&self) -> usize {
        self.keys.capacity() + self.nsec.capacity() * 12 + self.nsec3.as_ref().map_or(0, |table| table.heap_bytes())
    }
}

/// NSEC3 parameters (RFC 5155 §4.1): the apex NSEC3PARAM's, which the served chain uses.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Nsec3Params {
    algorithm: u8,
    iterations: u16,
    salt: Vec<u8>,
}

impl Nsec3Params {
    /// Reads algorithm, iterations and salt from NSEC3 or NSEC3PARAM rdata (same leading
    /// fields, RFC 5155 §3.2 and §4.2).
    fn parse(rdata: &[u8]) -> Option<Self> {
        let [algorithm, _flags, high, low, salt_len, rest @ ..] = rdata else { return None };
        let salt = rest.get(..usize::from(*salt_len))?.to_vec();
        Some(Self { algorithm: *algorithm, iterations: u16::from_be_bytes([*high, *low]), salt })
    }
}

/// The NSEC3 records of a zone, apart from its names.
#[derive(Clone, Debug)]
pub struct Nsec3Table {
    /// The hashed owners as a zone of their own (same storage, same RRSIG groups).
    owners: Zone,
    /// Per NSEC3 owner of the served chain: its hash and its slot in `owners`, sorted by hash.
    hashes: Vec<([u8; NSEC3_HASH_LEN], u32)>,
    /// The parameters of the served chain, when the apex has an NSEC3PARAM.
    params: Option<Nsec3Params>,
}

impl Nsec3Table {
    fn build(zone: &Zone, records: Vec<RecordData<'_>>) -> Self {
        let owners = Zone::build_tree(zone.origin(), zone.class(), records);
        let params = zone.apex().and_then(|apex| zone.rrset(apex, Rtype::NSEC3PARAM)).and_then(|set| Nsec3Params::parse(zone.first_rdata(&set)));
        let mut hashes = Vec::new();
        for &slot in owners.slots_in_order() {
            let node = owners.node_in_slot(slot);
            let Some(nsec3) = owners.rrset(node, Rtype::NSEC3) else { continue };
            if params.is_none() || Nsec3Params::parse(owners.first_rdata(&nsec3)) != params {
                continue;
            }
            if let Some(hash) = owner_hash(owners.name_bytes(node)) {
                hashes.push((hash, slot));
            }
        }
        hashes.sort_unstable();
        Self { owners, hashes, params }
    }

    /// The hashed owners' zone: their NSEC3 RRsets and RRSIGs, for answers and transfers.
    pub fn owners(&self) -> &Zone {
        &self.owners
    }

    /// True when the chain can prove something: the apex names its parameters and some NSEC3
    /// uses them.
    pub fn is_served(&self) -> bool {
        self.params.is_some() && !self.hashes.is_empty()
    }

    /// The NSEC3 hash of a wire name in any case (RFC 5155 §5), without allocating.
    pub fn hash(&self, wire: &[u8]) -> Option<[u8; NSEC3_HASH_LEN]> {
        let params = self.params.as_ref()?;
        let name = NameBuf::from_wire(wire).ok()?;
        portcullis_dnssec::nsec3::hash(&name, params.algorithm, &params.salt, params.iterations).ok()
    }

    /// The NSEC3 whose hash is `hash` (`Ok`), or else the one that covers it (`Err`: the
    /// greatest hash below it, the last one when none is below). `None` for an empty chain.
    pub fn find(&self, hash: &[u8; NSEC3_HASH_LEN]) -> Option<Result<&Node, &Node>> {
        let after = self.hashes.partition_point(|(stored, _)| stored <= hash);
        let (stored, slot) = self.hashes.get(after.checked_sub(1).unwrap_or(self.hashes.len().checked_sub(1)?))?;
        let node = self.owners.node_in_slot(*slot);
        Some(if stored == hash { Ok(node) } else { Err(node) })
    }

    /// True when the NSEC3 at `node` has the Opt-Out flag (RFC 5155 §3.1.2.1).
    pub fn opt_out(&self, node: &Node) -> bool {
        self.owners.rrset(node, Rtype::NSEC3).is_some_and(|set| self.owners.first_rdata(&set).get(1).is_some_and(|flags| flags & 1 != 0))
    }

    fn heap_bytes(&self) -> usize {
        self.owners.heap_bytes() + self.hashes.capacity() * (NSEC3_HASH_LEN + 4)
    }
}

/// The hash in a hashed owner's first label (base32hex, RFC 5155 §3), when it is one.
fn owner_hash(wire: &[u8]) -> Option<[u8; NSEC3_HASH_LEN]> {
    let len = usize::from(*wire.first()?);
    let label = std::str::from_utf8(wire.get(1..1 + len)?).ok()?;
    let mut bytes = Vec::with_capacity(NSEC3_HASH_LEN);
    portcullis_wire::rdata::decode_base32hex(label, &mut bytes).ok()?;
    bytes.try_into().ok()
}

impl Zone {
    /// The RRSIGs at `node` that cover `covered` (one RRset, the TTL of its records).
    #[inline]
    pub fn signatures(&self, node: &Node, covered: Rtype) -> Option<Rrset> {
        self.rrsets(node)
            .skip_while(|rrset| rrset.rtype < Rtype::RRSIG)
            .take_while(|rrset| rrset.rtype == Rtype::RRSIG)
            .find(|rrset| covered_type(Rtype::RRSIG, self.first_rdata(rrset)) == covered.0)
    }

    /// True when the zone holds RRSIGs (or NSEC3 records): DO=1 answers get DNSSEC records.
    pub fn is_signed(&self) -> bool {
        self.denial().signed
    }

    /// True when the zone has an NSEC chain (its owners are indexed).
    pub fn has_nsec(&self) -> bool {
        !self.denial().nsec.is_empty()
    }

    /// The NSEC owner at or before `wire` (any case) in canonical order: the NSEC that matches
    /// the name, or else the one that covers it (the last one when the name sorts before all).
    pub fn nsec_at_or_before(&self, wire: &[u8]) -> Option<&Node> {
        let denial = self.denial();
        let last = denial.nsec.len().checked_sub(1)?;
        let mut buffer = [0u8; KEY_MAX];
        let len = canonical_key_into(wire, &mut buffer);
        let key = &buffer[..len];
        let after = denial.nsec.partition_point(|&(start, end, _)| &denial.keys[start as usize..end as usize] <= key);
        let (_, _, slot) = denial.nsec[after.checked_sub(1).unwrap_or(last)];
        Some(self.node_in_slot(slot))
    }

    /// The node at `index` of every node a transfer sends: the name tree's ([`Zone::nodes`]),
    /// then the NSEC3 table's, with the zone (the tree or the table) that holds it.
    pub fn transfer_node(&self, index: usize) -> Option<(&Zone, &Node)> {
        match index.checked_sub(self.node_count()) {
            None => Some((self, self.node_at(index)?)),
            Some(rest) => self.nsec3().and_then(|table| Some((table.owners(), table.owners().node_at(rest)?))),
        }
    }

    /// Every node with its zone: the name tree's, then the NSEC3 table's (zone text, checks).
    pub fn all_nodes(&self) -> impl Iterator<Item = (&Zone, &Node)> + '_ {
        let table = self.nsec3().map(Nsec3Table::owners);
        self.nodes().map(move |node| (self, node)).chain(table.into_iter().flat_map(|owners| owners.nodes().map(move |node| (owners, node))))
    }

    /// The NSEC3 table, when the zone holds NSEC3 records.
    pub fn nsec3(&self) -> Option<&Nsec3Table> {
        self.denial().nsec3.as_deref()
    }
}

#[cfg(test)]
#[path = "signed_tests.rs"]
mod tests;
