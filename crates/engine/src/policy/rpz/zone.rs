//! One response policy zone, compiled from the zone snapshot that serves it: name triggers
//! (QNAME, NSDNAME) are looked up in the snapshot itself (its hash table, no copy: the exact
//! name, then `*.` at each ancestor from the closest, BIND's precedence); address triggers
//! (client IP, answer IP, NS IP) are indexed per kind and family by prefix length, and a lookup
//! tries the lengths present from the longest (the longest prefix wins).

use super::action::{self, Action};
use super::trigger::{self, Trigger, TriggerKind};
use crate::auth::zone::Node;
use crate::auth::Zone;
use crate::base::Prefix;
use portcullis_wire::name::MAX_NAME_LEN;
use portcullis_wire::NameBuf;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// The address triggers of one kind: per family, prefix -> node index, and the lengths present.
#[derive(Debug, Default)]
struct AddressTable {
    v4: BTreeMap<(u8, u32), u32>,
    v6: BTreeMap<(u8, u128), u32>,
    lengths_v4: Vec<u8>,
    lengths_v6: Vec<u8>,
}

impl AddressTable {
    fn insert(&mut self, prefix: Prefix, node: u32) {
        match prefix.addr() {
            IpAddr::V4(v4) => {
                self.v4.insert((prefix.len(), u32::from(v4)), node);
                add_length(&mut self.lengths_v4, prefix.len());
            }
            IpAddr::V6(v6) => {
                self.v6.insert((prefix.len(), u128::from(v6)), node);
                add_length(&mut self.lengths_v6, prefix.len());
            }
        }
    }

    /// The longest prefix containing `addr`: (its length, its node index).
    fn longest(&self, addr: IpAddr) -> Option<(u8, u32)> {
        let prefix_of = |len: u8| Prefix::covering(addr, len);
        match crate::base::prefix::canonical(addr) {
            IpAddr::V4(_) => self.lengths_v4.iter().find_map(|&len| match prefix_of(len).addr() {
                IpAddr::V4(net) => self.v4.get(&(len, u32::from(net))).map(|&node| (len, node)),
                IpAddr::V6(_) => None,
            }),
            IpAddr::V6(_) => self.lengths_v6.iter().find_map(|&len| match prefix_of(len).addr() {
                IpAddr::V6(net) => self.v6.get(&(len, u128::from(net))).map(|&node| (len, node)),
                IpAddr::V4(_) => None,
            }),
        }
    }

    fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

/// Keeps `lengths` sorted longest first, without repeats.
fn add_length(lengths: &mut Vec<u8>, len: u8) {
    if let Err(at) = lengths.binary_search_by(|probe| len.cmp(probe)) {
        lengths.insert(at, len);
    }
}

/// A policy zone ready for lookups.
#[derive(Debug)]
pub struct PolicyZone {
    /// The snapshot compiled (a new one is compiled again).
    pub zone: Arc<Zone>,
    /// `rpz-nsdname.` + origin, where NSDNAME triggers live.
    nsdname_origin: Option<NameBuf>,
    client_ips: AddressTable,
    ips: AddressTable,
    ns_ips: AddressTable,
    /// The zone has NSDNAME triggers.
    has_nsdname: bool,
    /// Triggers by kind (for the log at load).
    pub counts: [usize; 5],
}

/// A trigger that matched: the zone's node holding the action, and the action.
#[derive(Clone, Copy, Debug)]
pub struct Matched {
    /// The trigger kind.
    pub kind: TriggerKind,
    /// The node of the trigger in the policy zone.
    pub node: Node,
    /// What its records say to do.
    pub action: Action,
}

impl PolicyZone {
    /// Compiles `zone`; the bad owner names and actions are returned as warnings (their
    /// triggers are left out).
    pub fn compile(zone: Arc<Zone>) -> (Self, Vec<String>) {
        let origin = *zone.origin();
        let nsdname_origin = prepend(b"rpz-nsdname", &origin);
        let mut compiled = Self {
            zone: zone.clone(),
            nsdname_origin,
            client_ips: AddressTable::default(),
            ips: AddressTable::default(),
            ns_ips: AddressTable::default(),
            has_nsdname: false,
            counts: [0; 5],
        };
        let mut warnings = Vec::new();
        let origin_labels = origin.label_count();
        for (index, node) in zone.nodes().enumerate() {
            if zone.rrsets(node).is_empty() {
                continue;
            }
            let name = zone.node_name(node);
            let labels: Vec<&[u8]> = name.labels().collect();
            let relative = labels.get(..labels.len().saturating_sub(origin_labels)).unwrap_or_default();
            if relative.is_empty() {
                continue; // The apex: SOA and NS, no trigger.
            }
            let parsed = trigger::parse(relative).and_then(|t| action::of(&zone, node).map(|_| t).map_err(|e| trigger::TriggerError(e.into())));
            match parsed {
                Ok(Trigger::Name(kind)) => {
                    compiled.has_nsdname |= kind == TriggerKind::NsDname;
                    compiled.counts[kind as usize] += 1;
                }
                Ok(Trigger::Address(kind, prefix)) => {
                    let table = match kind {
                        TriggerKind::ClientIp => &mut compiled.client_ips,
                        TriggerKind::NsIp => &mut compiled.ns_ips,
                        _ => &mut compiled.ips,
                    };
                    table.insert(prefix, u32::try_from(index).unwrap_or(u32::MAX));
                    compiled.counts[kind as usize] += 1;
                }
                Err(error) => warnings.push(format!("{name}: {error}; ignored")),
            }
        }
        (compiled, warnings)
    }

    /// The zone needs the resolution's answer or delegation (answer IP, NSDNAME, NSIP triggers).
    pub fn needs_answer(&self) -> bool {
        !self.ips.is_empty() || self.has_nsdname || !self.ns_ips.is_empty()
    }

    /// The client IP trigger with the longest prefix containing `client`.
    pub fn client_ip(&self, client: IpAddr) -> Option<Matched> {
        self.address_in(&self.client_ips, TriggerKind::ClientIp, client)
    }

    /// The QNAME trigger of `qname`: exact, else the closest wildcard.
    pub fn qname(&self, qname: &NameBuf) -> Option<Matched> {
        self.name_in(self.zone.origin(), TriggerKind::Qname, qname)
    }

    /// The longest answer-IP trigger among `addresses` (the first address wins a tie).
    pub fn answer_ip(&self, addresses: &[IpAddr]) -> Option<Matched> {
        self.best_address(&self.ips, TriggerKind::Ip, addresses)
    }

    /// The NSDNAME trigger of the first name in `names` that has one.
    pub fn nsdname(&self, names: &[NameBuf]) -> Option<Matched> {
        let origin = self.nsdname_origin.as_ref().filter(|_| self.has_nsdname)?;
        names.iter().find_map(|name| self.name_in(origin, TriggerKind::NsDname, name))
    }

    /// The longest NSIP trigger among `addresses`.
    pub fn nsip(&self, addresses: &[IpAddr]) -> Option<Matched> {
        self.best_address(&self.ns_ips, TriggerKind::NsIp, addresses)
    }

    fn best_address(&self, table: &AddressTable, kind: TriggerKind, addresses: &[IpAddr]) -> Option<Matched> {
        if table.is_empty() {
            return None;
        }
        let best = addresses.iter().filter_map(|&addr| table.longest(addr)).fold(None, |best: Option<(u8, u32)>, found| match best {
            Some(kept) if kept.0 >= found.0 => Some(kept),
            _ => Some(found),
        })?;
        self.matched(kind, best.1)
    }

    fn address_in(&self, table: &AddressTable, kind: TriggerKind, addr: IpAddr) -> Option<Matched> {
        let (_, node) = table.longest(addr)?;
        self.matched(kind, node)
    }

    fn matched(&self, kind: TriggerKind, index: u32) -> Option<Matched> {
        let node = *self.zone.node_at(index as usize)?;
        let action = action::of(&self.zone, &node).ok()?;
        Some(Matched { kind, node, action })
    }

    /// `name` under `origin` in the zone, else `*.` + an ancestor of `name` (closest first).
    fn name_in(&self, origin: &NameBuf, kind: TriggerKind, name: &NameBuf) -> Option<Matched> {
        let labels = name.label_count();
        let exact = self.lookup(&concat(name.as_wire(), origin)?, kind);
        if exact.is_some() {
            return exact;
        }
        for skip in 1..labels {
            let offset = name.suffix_offset(skip)?;
            let mut wire = [0u8; MAX_NAME_LEN];
            let tail = name.as_wire().get(offset..)?;
            let len = 2 + tail.len();
            wire.get_mut(..2)?.copy_from_slice(&[1, b'*']);
            wire.get_mut(2..len)?.copy_from_slice(tail);
            if let Some(found) = concat(wire.get(..len)?, origin).and_then(|candidate| self.lookup(&candidate, kind)) {
                return Some(found);
            }
        }
        None
    }

    fn lookup(&self, owner: &NameBuf, kind: TriggerKind) -> Option<Matched> {
        let node = *self.zone.node_wire(owner.as_wire())?;
        if self.zone.rrsets(&node).is_empty() {
            return None;
        }
        let action = action::of(&self.zone, &node).ok()?;
        Some(Matched { kind, node, action })
    }
}

/// `name` (absolute wire form) with its root label replaced by `origin`; `None` past 255 octets.
fn concat(name: &[u8], origin: &NameBuf) -> Option<NameBuf> {
    let head = name.get(..name.len().checked_sub(1)?)?;
    if head.len() + origin.len() > MAX_NAME_LEN {
        return None;
    }
    let mut wire = [0u8; MAX_NAME_LEN];
    wire.get_mut(..head.len())?.copy_from_slice(head);
    wire.get_mut(head.len()..head.len() + origin.len())?.copy_from_slice(origin.as_wire());
    NameBuf::from_wire(wire.get(..head.len() + origin.len())?).ok()
}

/// `label.` + `origin`.
fn prepend(label: &[u8], origin: &NameBuf) -> Option<NameBuf> {
    let mut wire = vec![u8::try_from(label.len()).ok()?];
    wire.extend_from_slice(label);
    wire.push(0);
    concat(&wire, origin)
}
