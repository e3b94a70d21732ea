//! [`Validation`]: one answer being validated. The resolution calls [`Validation::step`] until
//! it says [`Progress::Done`]; on [`Progress::Need`] it resolves the DS or DNSKEY RRset asked for
//! (a frame of its own) and hands the outcome to [`Validation::learn`].
//!
//! The answer's RRsets are checked in chain order (a CNAME synthesised from a DNAME follows
//! the DNAME's status, RFC 6672 §5.3.3), then the denial of a negative answer. The result is the
//! lowest status met; the first bogus RRset gives the reason. Statuses are written back to the
//! cache entries ([`Cache::set_security`]), so that later cache hits need no validation.

use super::denial::{prove, prove_wildcard, Denied, Proven};
use super::verify::verify_rrset_within;
use super::walk::{keys_for, learn, Walk};
pub use super::walk::{Fetched, Lookup};
use super::{Bogus, Context, Ede, Security};
use crate::base::Instant;
use crate::cache::keys::ZoneKeys;
use crate::cache::{negative_ttl, Cache, Cached, Rrset};
use portcullis_dnssec::Rrsig;
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};

/// How long the state before a bogus lookup is kept while the lookup is asked again.
const RETRY_TTL: u32 = 60;

/// What the validation needs next. `Need` carries an inline name on purpose (no heap).
#[allow(clippy::large_enum_variant)]
pub enum Progress {
    /// Resolve this lookup, then call [`Validation::learn`].
    Need(Lookup),
    /// Finished: the status and why (for bogus, or an insecure answer with an EDE to report).
    Done(Security, Option<Bogus>),
}

/// An answer being validated.
#[derive(Debug)]
pub struct Validation {
    /// The rcode of the answer.
    pub rcode: Rcode,
    /// The answer chain.
    pub answer: Vec<Rrset>,
    /// The authority section (SOA of a denial).
    pub authority: Vec<Rrset>,
    /// NSEC/NSEC3 proofs.
    pub proofs: Vec<Rrset>,
    /// The type asked.
    qtype: Rtype,
    /// The class.
    class: Class,
    /// The name denied (end of the chain).
    end: NameBuf,
    /// Next answer RRset to check.
    next: usize,
    /// The denial is checked.
    denial_done: bool,
    security: Security,
    bogus: Option<Bogus>,
    /// The lookup asked for, awaiting [`Validation::learn`].
    pending: Option<Lookup>,
    /// What the key cache knew of the last lookup's name before its answer.
    before: Option<ZoneKeys>,
}

impl Validation {
    /// Starts validating an answer to (`end` after the chain, `qtype`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(rcode: Rcode, answer: Vec<Rrset>, authority: Vec<Rrset>, proofs: Vec<Rrset>, end: NameBuf, qtype: Rtype, class: Class) -> Self {
        Self {
            rcode,
            answer,
            authority,
            proofs,
            qtype,
            class,
            end,
            next: 0,
            denial_done: false,
            security: Security::Secure,
            bogus: None,
            pending: None,
            before: None,
        }
    }

    /// Takes in the answer to the pending lookup; returns the lookup when what it brought is
    /// bogus (the caller may ask another server: [`Validation::ask_again`]).
    pub fn learn(&mut self, fetched: &Fetched, context: &Context<'_>) -> Option<Lookup> {
        let lookup = self.pending.take()?;
        let name = lookup.question().0;
        self.before = context.cache.keys.get(&name, context.now);
        learn(lookup, fetched, context);
        matches!(context.cache.keys.get(&name, context.now), Some(ZoneKeys::Bogus(..))).then_some(lookup)
    }

    /// Forgets what `lookup` brought (what was known before stays: a DNSKEY lookup keeps its
    /// DS) and waits for it again.
    pub fn ask_again(&mut self, lookup: Lookup, context: &Context<'_>) {
        let name = lookup.question().0;
        match self.before.take() {
            Some(before) => context.cache.keys.put(&name, before, RETRY_TTL, context.now),
            None => context.cache.keys.remove(&name),
        }
        self.pending = Some(lookup);
    }

    /// Gives the validation up unfinished (no server answered a lookup, or the question ran out
    /// of time or queries). The answer was cached before it was validated: what of it is still
    /// unvalidated is marked bogus (EDE 5, DNSSEC Indeterminate) for the bogus TTL, so that no
    /// cache hit serves it as if it had been checked (RFC 4035 §5: data that cannot be
    /// validated is not answered as good).
    pub fn abandon(&self, cache: &Cache, now: Instant) {
        for set in self.answer.iter().skip(self.next) {
            cache.abandon_unvalidated(&set.owner, Some(set.rtype), set.class, Some(&set.rdatas), Ede::INDETERMINATE, now);
        }
        if !self.denial_done && self.negative() {
            let rtype = (self.rcode != Rcode::NXDOMAIN).then_some(self.qtype);
            cache.abandon_unvalidated(&self.denied_name(), rtype, self.class, None, Ede::INDETERMINATE, now);
        }
    }

    /// Advances as far as the key cache allows.
    pub fn step(&mut self, context: &Context<'_>) -> Progress {
        while self.next < self.answer.len() {
            match self.check_rrset(self.next, context) {
                Ok((status, ttl)) => {
                    // RFC 4035 §5.3.3: a validated RRset's TTL is capped by its RRSIG.
                    if let (Security::Secure, Some(set)) = (status.0, self.answer.get_mut(self.next)) {
                        set.ttl = set.ttl.min(ttl);
                    }
                    self.note(status);
                }
                Err(lookup) => return self.need(lookup),
            }
            self.next += 1;
        }
        if !self.denial_done && self.negative() {
            match self.check_denial(context) {
                Ok(status) => self.note(status),
                Err(lookup) => return self.need(lookup),
            }
            self.denial_done = true;
        }
        Progress::Done(self.security, self.bogus.clone())
    }

    fn need(&mut self, lookup: Lookup) -> Progress {
        self.pending = Some(lookup);
        Progress::Need(lookup)
    }

    /// Takes in one RRset's or the denial's status and reason: the first bogus reason wins,
    /// else the first reason of an insecure status (an unsupported algorithm, too many NSEC3
    /// iterations), reported as an EDE with the answer.
    fn note(&mut self, (security, reason): (Security, Option<Bogus>)) {
        let first_bogus = security == Security::Bogus && self.security != Security::Bogus;
        if security < self.security {
            self.security = security;
        }
        if first_bogus || self.bogus.is_none() {
            self.bogus = reason.or(self.bogus.take());
        }
    }

    /// True for NXDOMAIN and NODATA (the chain does not end in data of the type asked).
    fn negative(&self) -> bool {
        let data = self.answer.last().is_some_and(|set| set.rtype == self.qtype || self.qtype == Rtype::ANY);
        self.rcode == Rcode::NXDOMAIN || (self.rcode == Rcode::NOERROR && !data)
    }

    /// The name a denial is about: the target of the chain's last CNAME, else the name asked.
    fn denied_name(&self) -> NameBuf {
        match self.answer.last() {
            Some(set) if set.rtype == Rtype::CNAME => set.name_at(0).unwrap_or(self.end),
            _ => self.end,
        }
    }

    /// Checks answer RRset `index`; a lookup when keys are missing.
    #[allow(clippy::result_large_err)] // the lookup's inline name: no heap
    fn check_rrset(&self, index: usize, context: &Context<'_>) -> Result<((Security, Option<Bogus>), u32), Lookup> {
        let set = &self.answer[index];
        let synthesised = set.rtype == Rtype::CNAME && set.sigs.is_empty() && index > 0 && self.answer.iter().any(|dname| synthesises(dname, set));
        if synthesised {
            return Ok(((Security::Secure, None), set.ttl));
        }
        if set.rtype == Rtype::RRSIG {
            // RRSIGs are not signed (RFC 4035 §2.2): an answer of them is not authenticated.
            return Ok(((Security::Insecure, None), set.ttl));
        }
        if let Some((known, ttl)) = cached_status(context.cache, set, context) {
            return Ok((known, ttl));
        }
        let signer = signer_of(set);
        let target = signer.unwrap_or(set.owner);
        let (keys, zone) = match keys_for(&target, context) {
            Walk::Need(lookup) => return Err(lookup),
            Walk::Known(keys, zone) => (keys, zone),
        };
        let (status, bogus, ttl) = match keys {
            ZoneKeys::Secure(keys) => match verify_rrset_within(set, &zone, &keys, context.unix, &context.checks()) {
                Ok(verified) if usize::from(verified.labels) < set.owner.label_count() - usize::from(set.owner.is_wildcard()) => {
                    match prove_wildcard(&set.owner, verified.labels, &zone, &self.proofs, context.settings.max_nsec3_iterations) {
                        Proven::Secure => {
                            context.cache.keep_wildcard_proofs(set, &self.proofs, context.now);
                            (Security::Secure, None, verified.ttl)
                        }
                        Proven::Insecure(ede) => (Security::Insecure, reason(ede, &set.owner), verified.ttl),
                        Proven::Bogus(bogus) => (Security::Bogus, Some(bogus), set.ttl),
                    }
                }
                Ok(verified) => (Security::Secure, None, verified.ttl),
                // Signed only by keys we cannot use (RSA below 1024 bits): as an unsupported algorithm.
                Err(bogus) if bogus.ede == Ede::UNSUPPORTED_DNSKEY_ALGORITHM => (Security::Insecure, None, set.ttl),
                Err(bogus) => (Security::Bogus, Some(bogus), set.ttl),
            },
            other => from_zone(other, &target, set.ttl),
        };
        context.cache.set_security(&set.owner, Some(set.rtype), set.class, Some(&set.rdatas), (status, ede_of(&bogus)), ttl, context.now);
        Ok(((status, bogus), ttl))
    }

    /// Checks the denial of a negative answer.
    #[allow(clippy::result_large_err)] // the lookup's inline name: no heap
    fn check_denial(&self, context: &Context<'_>) -> Result<(Security, Option<Bogus>), Lookup> {
        let soa = self.authority.iter().find(|set| set.rtype == Rtype::SOA);
        let end = self.denied_name();
        let target = soa.and_then(signer_of).or(soa.map(|soa| soa.owner)).unwrap_or(end);
        let (keys, zone) = match keys_for(&target, context) {
            Walk::Need(lookup) => return Err(lookup),
            Walk::Known(keys, zone) => (keys, zone),
        };
        let rtype = (self.rcode != Rcode::NXDOMAIN).then_some(self.qtype);
        // A denial answered from the cache: its status was decided when it was cached.
        if let Some(known) = cached_denial(context, &end, rtype.unwrap_or(self.qtype), self.class) {
            return Ok(known);
        }
        let ttl = soa.map_or(60, |soa| soa.ttl);
        let (status, bogus) = match keys {
            ZoneKeys::Secure(keys) => self.prove_denial(&end, &zone, &keys, rtype, context),
            other => {
                let (status, bogus, _) = from_zone(other, &target, ttl);
                (status, bogus)
            }
        };
        context.cache.set_security(&end, rtype, self.class, None, (status, ede_of(&bogus)), ttl, context.now);
        Ok((status, bogus))
    }

    /// Verifies the SOA and proofs with the zone's keys and checks the proof.
    fn prove_denial(&self, end: &NameBuf, zone: &NameBuf, keys: &[Vec<u8>], rtype: Option<Rtype>, context: &Context<'_>) -> (Security, Option<Bogus>) {
        let signed = self.authority.iter().filter(|set| set.rtype == Rtype::SOA).chain(&self.proofs);
        for set in signed {
            match verify_rrset_within(set, zone, keys, context.unix, &context.checks()) {
                Ok(_) => {}
                Err(bogus) if bogus.ede == Ede::UNSUPPORTED_DNSKEY_ALGORITHM => return (Security::Insecure, None),
                Err(bogus) => return (Security::Bogus, Some(bogus)),
            }
        }
        let denied = Denied { name: end, rtype, zone };
        match prove(&denied, &self.proofs, context.settings.max_nsec3_iterations) {
            Proven::Secure => {
                // RFC 8198: the proven gaps answer later questions without asking.
                if let Some(soa) = self.authority.iter().find(|set| set.rtype == Rtype::SOA) {
                    let ttl = self.proofs.iter().map(|set| set.ttl).chain([negative_ttl(soa)]).min().unwrap_or(0);
                    context.cache.nsec.insert(zone, soa, &self.proofs, ttl, context.now);
                }
                (Security::Secure, None)
            }
            Proven::Insecure(ede) => (Security::Insecure, reason(ede, end)),
            Proven::Bogus(bogus) => (Security::Bogus, Some(bogus)),
        }
    }
}

/// The status of a zone that is not secure, for an RRset of it.
fn from_zone(keys: ZoneKeys, target: &NameBuf, ttl: u32) -> (Security, Option<Bogus>, u32) {
    match keys {
        ZoneKeys::Bogus(ede, why) => (Security::Bogus, Some(Bogus::new(ede, why)), ttl),
        ZoneKeys::Insecure(ede) => (Security::Insecure, reason(ede, target), ttl),
        ZoneKeys::NotCut | ZoneKeys::Secure(_) => (Security::Insecure, None, ttl),
        ZoneKeys::Ds(_) => (Security::Bogus, Some(Bogus::new(Ede::DNSKEY_MISSING, format!("{target}: DNSKEY not checked"))), ttl),
    }
}

/// True when `cname` is the CNAME that DNAME RRset `dname` synthesises (RFC 6672 §3.3).
fn synthesises(dname: &Rrset, cname: &Rrset) -> bool {
    let (Some(to), Some(target)) = (dname.name_at(0), cname.name_at(0)) else { return false };
    dname.rtype == Rtype::DNAME && cname.owner != dname.owner && cname.owner.replace_suffix(&dname.owner, &to) == Some(target)
}

/// The reason reported with an insecure answer: its EDE code (none for 0).
fn reason(ede: u16, name: &NameBuf) -> Option<Bogus> {
    (ede != 0).then(|| Bogus::new(ede, format!("{name}: {}", Ede::text(ede))))
}

/// The EDE code of a failure (0 for none).
fn ede_of(bogus: &Option<Bogus>) -> u16 {
    bogus.as_ref().map_or(0, |bogus| bogus.ede)
}

/// The signer named by the first usable RRSIG of `set`: covering its type, the owner inside
/// the signer's zone.
fn signer_of(set: &Rrset) -> Option<NameBuf> {
    set.sigs
        .iter()
        .filter_map(|rdata| Rrsig::parse(rdata).ok())
        .find(|(rrsig, _)| rrsig.type_covered == set.rtype && set.owner.is_subdomain_of(&rrsig.signer))
        .map(|(rrsig, _)| rrsig.signer)
}

/// The status the cache already holds for exactly this RRset, if validation decided it, and
/// the TTL it has left.
fn cached_status(cache: &Cache, set: &Rrset, context: &Context<'_>) -> Option<((Security, Option<Bogus>), u32)> {
    let Some(Cached::Positive(cached, hit)) = cache.get(&set.owner, set.rtype, set.class, context.now, false) else { return None };
    if cached.rdatas != set.rdatas {
        return None;
    }
    let status = match hit.security {
        Security::Indeterminate => return None,
        Security::Bogus => {
            let ede = if hit.ede == 0 { Ede::BOGUS } else { hit.ede };
            (Security::Bogus, Some(Bogus::new(ede, format!("{} {}: cached as bogus", set.owner, super::verify::type_text(set.rtype)))))
        }
        other => (other, None),
    };
    Some((status, hit.ttl))
}

/// The status the cache holds for the denial of (`name`, `rtype`), if validation decided it.
fn cached_denial(context: &Context<'_>, name: &NameBuf, rtype: Rtype, class: Class) -> Option<(Security, Option<Bogus>)> {
    let hit = match context.cache.get(name, rtype, class, context.now, false)? {
        Cached::NxDomain(_, hit) | Cached::NoData(_, hit) => hit,
        Cached::Positive(..) => return None,
    };
    match hit.security {
        Security::Indeterminate => None,
        Security::Bogus => {
            Some((Security::Bogus, Some(Bogus::new(if hit.ede == 0 { Ede::BOGUS } else { hit.ede }, format!("{name}: denial cached as bogus")))))
        }
        other => Some((other, None)),
    }
}
