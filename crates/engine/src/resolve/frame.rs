//! One frame of a resolution ([`Frame`]: a name and type being resolved, the chain gathered so
//! far, QNAME-minimisation progress) and the delegation it is working through ([`Delegation`]:
//! the zone, its server addresses and the NS names still without an address).
//!
//! Delegations are built from a referral's NS RRset and glue, or from the cache: at most
//! `max_ns_per_delegation` NS names (NXNSAttack, SECURITY-REFERENCE §3.9), addresses
//! de-duplicated (BIND CVE-2026-3592), addresses on the do-not-query list dropped (a name whose
//! only addresses are on the list is dropped too, Unbound CVE-2026-50251).

use super::hints::address_of;
use super::settings::ResolverSettings;
use crate::base::Instant;
use crate::cache::{Cache, Cached, Rrset};
use portcullis_wire::{Class, NameBuf, Rtype};
use std::net::{IpAddr, SocketAddr};

/// Where a server stands for the frame's current question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Attempt {
    /// Not asked yet.
    Fresh,
    /// Timed out with EDNS: one more try without OPT, after the fresh servers (RFC 6891 §7).
    TimedOutEdns,
    /// Failed, lame or timed out for good.
    Done,
}

/// The zone being asked and its servers.
#[derive(Clone, Debug)]
pub(super) struct Delegation {
    pub zone: NameBuf,
    pub servers: Vec<(SocketAddr, Attempt)>,
    pub unresolved: Vec<NameBuf>,
    /// Parent-side glue of NS names whose own zone gave other addresses: asked only when every
    /// other server and NS name failed (parent and child disagree; Unbound's last resort).
    pub last_resort: Vec<SocketAddr>,
}

impl Delegation {
    /// An empty delegation for `zone`.
    pub fn new(zone: NameBuf) -> Self {
        Self { zone, servers: Vec::new(), unresolved: Vec::new(), last_resort: Vec::new() }
    }

    /// Adds an address unless already present.
    pub fn add(&mut self, addr: SocketAddr) {
        if !self.servers.iter().any(|(have, _)| *have == addr) {
            self.servers.push((addr, Attempt::Fresh));
        }
    }

    /// Records a failure of `server`.
    pub fn mark_failed(&mut self, server: SocketAddr, timed_out_with_edns: bool) {
        for (addr, attempt) in &mut self.servers {
            if *addr == server {
                *attempt = if timed_out_with_edns && *attempt == Attempt::Fresh { Attempt::TimedOutEdns } else { Attempt::Done };
            }
        }
    }

    /// The servers to choose from and whether EDNS may be used: fresh ones first, then those that
    /// timed out with EDNS (without it).
    pub fn candidates(&self) -> (Vec<SocketAddr>, bool) {
        let pick = |wanted| self.servers.iter().filter(|(_, attempt)| *attempt == wanted).map(|(addr, _)| *addr).collect::<Vec<_>>();
        let fresh = pick(Attempt::Fresh);
        if fresh.is_empty() {
            (pick(Attempt::TimedOutEdns), false)
        } else {
            (fresh, true)
        }
    }

    /// Keeps `addr` for the last resort unless it is already a server.
    pub fn add_last_resort(&mut self, addr: SocketAddr) {
        if !self.servers.iter().any(|(have, _)| *have == addr) && !self.last_resort.contains(&addr) {
            self.last_resort.push(addr);
        }
    }

    /// Moves the last-resort addresses not asked yet to the servers; false when there were none.
    pub fn use_last_resort(&mut self) -> bool {
        let before = self.servers.len();
        for addr in std::mem::take(&mut self.last_resort) {
            self.add(addr);
        }
        self.servers.len() > before
    }

    /// True when there is no address and every NS name lies inside the zone: their addresses can
    /// only come from the parent's glue (Unbound's useless delegation point), so the parent is
    /// asked instead.
    pub fn needs_glue(&self) -> bool {
        self.servers.is_empty() && self.last_resort.is_empty() && self.unresolved.iter().all(|name| name.is_subdomain_of(&self.zone))
    }

    /// True when no server and no NS name is left to try.
    pub fn exhausted(&self) -> bool {
        self.unresolved.is_empty() && self.last_resort.is_empty() && self.servers.iter().all(|(_, attempt)| *attempt == Attempt::Done)
    }
}

/// A name and type being resolved.
#[derive(Clone, Debug)]
pub(super) struct Frame {
    pub qname: NameBuf,
    pub qtype: Rtype,
    pub qclass: Class,
    /// This frame finds an NS name's address for the frame below.
    pub for_address: bool,
    /// Answer RRsets gathered (CNAME/DNAME links, then the data).
    pub chain: Vec<Rrset>,
    pub links: usize,
    pub delegation: Option<Delegation>,
    /// Labels of the minimised name to send; `None` sends the full name.
    pub minimise: Option<usize>,
    pub minimise_steps: usize,
    /// The type of minimised queries: A (RFC 9156 §2.1), NS (RFC 7816) after an A-type minimised
    /// query went unanswered.
    pub minimise_qtype: Rtype,
    /// For an NS-name frame: the addresses of the name in the glue of referrals followed (the
    /// parent side), kept for the frame below as a last resort.
    pub parent_side: Vec<IpAddr>,
    /// For an NS-name frame: the parent of a failed zone was asked once more.
    pub asked_parent: bool,
    /// NSEC/NSEC3 RRsets (with RRSIGs) of the replies that ended the chain: the proofs of a
    /// denial or of a wildcard expansion, for validation.
    pub proofs: Vec<Rrset>,
    /// The server whose reply was taken last (asked again elsewhere when its data is bogus).
    pub answered_by: Option<SocketAddr>,
}

impl Frame {
    /// A fresh frame.
    pub fn new(qname: NameBuf, qtype: Rtype, qclass: Class, for_address: bool) -> Self {
        Self {
            qname,
            qtype,
            qclass,
            for_address,
            chain: Vec::new(),
            links: 0,
            delegation: None,
            minimise: None,
            minimise_steps: 0,
            minimise_qtype: Rtype::A,
            parent_side: Vec::new(),
            asked_parent: false,
            proofs: Vec::new(),
            answered_by: None,
        }
    }

    /// The name whose closest delegation is asked: the name itself, or for a DS RRset its
    /// parent (DS lives on the parent side of a zone cut, RFC 4035 §3.1.4.1).
    pub fn cut_name(&self) -> NameBuf {
        match self.qname.parent() {
            Some(parent) if self.qtype == Rtype::DS => parent,
            _ => self.qname,
        }
    }

    /// The name and type to send now: the minimised name with type A (RFC 9156 §3) or NS, or the
    /// question itself.
    pub fn query_name(&self) -> (NameBuf, Rtype) {
        let total = self.qname.label_count();
        match self.minimise.filter(|&labels| labels < total).and_then(|labels| self.qname.suffix(total - labels)) {
            Some(name) => (name, self.minimise_qtype),
            None => (self.qname, self.qtype),
        }
    }

    /// True when the name to send now is minimised.
    pub fn minimised(&self) -> bool {
        self.query_name().0.label_count() < self.qname.label_count()
    }

    /// Enters `delegation`, restarting minimisation one label below its zone.
    pub fn enter(&mut self, delegation: Delegation, settings: &ResolverSettings) {
        let labels = delegation.zone.label_count() + 1;
        let minimise = settings.qname_minimisation && labels < self.qname.label_count();
        self.minimise = minimise.then_some(labels);
        self.minimise_steps = 0;
        self.delegation = Some(delegation);
    }

    /// After a minimised query found no cut: one more label, or the full name after
    /// `max_minimise_steps`.
    pub fn next_label(&mut self, settings: &ResolverSettings) {
        self.minimise_steps += 1;
        let next = self.minimise.map(|labels| labels + 1).filter(|&labels| labels < self.qname.label_count());
        self.minimise = next.filter(|_| self.minimise_steps < settings.max_minimise_steps);
    }

    /// A minimised query got no usable reply (timeout) in relaxed mode (RFC 9156 §2.3): ask the
    /// same name with type NS, which some servers and middleboxes handle where they drop others
    /// (RFC 7816's type), and when that fails too, the full name. The type stays NS for the rest
    /// of the frame.
    pub fn minimised_unanswered(&mut self) {
        if self.minimise_qtype == Rtype::NS {
            self.minimise = None;
        } else {
            self.minimise_qtype = Rtype::NS;
        }
    }

    /// Continues with `target` (a CNAME/DNAME target) from the cache and the root down.
    pub fn restart(&mut self, target: NameBuf) {
        self.qname = target;
        self.delegation = None;
        self.minimise = None;
    }

    /// The addresses in the frame's final RRset (for an NS-name lookup).
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.chain.iter().filter(|set| set.owner == self.qname).flat_map(|set| set.rdatas.iter().filter_map(|rdata| address_of(set.rtype, rdata))).collect()
    }
}

/// The delegation from the root hints.
pub(super) fn root_delegation(settings: &ResolverSettings) -> Delegation {
    let mut delegation = Delegation::new(NameBuf::ROOT);
    for addr in settings.root_servers.iter().filter(|addr| settings.may_query(**addr)) {
        delegation.add(SocketAddr::new(*addr, settings.upstream_port));
    }
    delegation
}

/// The closest enclosing delegation of `name` known to the cache that has a server address or an
/// NS name outside the zone left to resolve; the root hints when there is none.
pub(super) fn find_delegation(cache: &Cache, name: &NameBuf, class: Class, now: Instant, settings: &ResolverSettings) -> Delegation {
    let mut cut = Some(*name);
    while let Some(zone) = cut {
        if let Some(Cached::Positive(ns, _)) = cache.get(&zone, Rtype::NS, class, now, false) {
            let delegation = delegation_from(&ns, &[], cache, now, settings);
            if !delegation.exhausted() && !delegation.needs_glue() {
                return delegation;
            }
        }
        cut = zone.parent();
    }
    root_delegation(settings)
}

/// A delegation to `ns.owner` from its NS RRset, glue and cached addresses.
pub(super) fn delegation_from(ns: &Rrset, glue: &[Rrset], cache: &Cache, now: Instant, settings: &ResolverSettings) -> Delegation {
    let mut delegation = Delegation::new(ns.owner.to_lowercase());
    let mut names: Vec<NameBuf> = Vec::new();
    for target in (0..ns.rdatas.len()).filter_map(|index| ns.name_at(index)) {
        if !names.contains(&target) && names.len() < settings.max_ns_per_delegation {
            names.push(target);
        }
    }
    for name in names {
        let (addresses, known) = addresses_of(&name, glue, cache, ns.class, now, settings);
        let usable: Vec<IpAddr> = addresses.into_iter().filter(|addr| settings.may_query(*addr)).collect();
        for addr in &usable {
            delegation.add(SocketAddr::new(*addr, settings.upstream_port));
        }
        if usable.is_empty() && !known {
            delegation.unresolved.push(name);
        }
    }
    delegation
}

/// Addresses of `name` from glue and the cache; `known` is true when the cache or glue said
/// anything about them (addresses, even unusable ones, or a negative answer).
fn addresses_of(name: &NameBuf, glue: &[Rrset], cache: &Cache, class: Class, now: Instant, settings: &ResolverSettings) -> (Vec<IpAddr>, bool) {
    let mut addresses = Vec::new();
    let mut known = false;
    for set in glue.iter().filter(|set| set.owner == *name) {
        known = true;
        addresses.extend(set.rdatas.iter().filter_map(|rdata| address_of(set.rtype, rdata)));
    }
    let types: &[Rtype] = if settings.use_ipv6 { &[Rtype::A, Rtype::AAAA] } else { &[Rtype::A] };
    for rtype in types {
        match cache.get(name, *rtype, class, now, false) {
            Some(Cached::Positive(set, _)) => {
                known = true;
                addresses.extend(set.rdatas.iter().filter_map(|rdata| address_of(set.rtype, rdata)));
            }
            Some(Cached::NxDomain(..)) => known = true,
            _ => {}
        }
    }
    (addresses, known)
}
