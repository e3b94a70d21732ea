//! What DNSSEC validation adds to the cache: entries stored with their validation status
//! ([`Security`]) and, for denials, the NSEC/NSEC3 RRsets and RRSIGs that prove them (written
//! to DO=1 queries, RFC 4035 §3.1.3), and for secure wildcard expansions the proofs that no
//! closer name matched (RFC 4035 §3.1.3.3); the status set on an entry once its validation is
//! done.

use super::entry::{Entry, EntryKind};
use super::key::Owner;
use super::{negative_ttl, Cache, InsertOutcome, Rrset, Security, Trust, BOGUS_TTL, NXDOMAIN_TYPE};
use crate::base::Instant;
use portcullis_wire::message::Section;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rtype};

impl Cache {
    /// Keeps `proofs` (the NSEC/NSEC3 RRsets proving that no closer name matched) with the
    /// cached positive RRset `set`, a secure wildcard expansion, so that a DO=1 answer from the
    /// cache carries them in its authority section as the resolved one did (RFC 4035 §3.1.3.3).
    /// Nothing happens when the entry is gone, holds other data or has its proofs already.
    pub fn keep_wildcard_proofs(&self, set: &Rrset, proofs: &[Rrset], now: Instant) {
        if proofs.is_empty() {
            return;
        }
        let owner = Owner::new(&self.state, &set.owner);
        let mut shard = self.shard(&owner);
        let Some(entry) = shard.find(&owner, set.rtype, set.class).and_then(|slot| shard.entry(slot)) else { return };
        let same = entry.kind == EntryKind::Positive && entry.rdatas().eq(set.rdatas.iter().map(Vec::as_slice));
        if !same || entry.expired(now) || entry.proofs().next().is_some() {
            return;
        }
        let proved = entry.with_proofs(proofs);
        self.store(&mut shard, &owner, proved, now);
    }

    /// Writes the proofs kept with the positive entry at (`name`, `rtype`) into the authority
    /// section, with the entry's remaining TTL (the end of a DO=1 answer from the cache).
    pub(super) fn write_kept_proofs(&self, name: &NameBuf, rtype: Rtype, class: Class, now: Instant, writer: &mut MessageWriter<'_>) -> bool {
        let owner = Owner::new(&self.state, name);
        let mut shard = self.shard(&owner);
        let Some((entry, hit)) = self.found(&mut shard, &owner, rtype, class, now, true) else { return true };
        let mut fitted = true;
        for (owner, rtype, rdatas, sigs) in entry.proofs() {
            for (rtype, rdata) in rdatas.map(|rdata| (rtype, rdata)).chain(sigs.map(|sig| (Rtype::RRSIG, sig))) {
                fitted &= writer.push(Section::Authority, &owner, rtype, class, hit.ttl, rdata).is_ok();
            }
        }
        fitted
    }

    /// [`Cache::insert_negative`] with what validation said about the denial.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_negative_checked(
        &self,
        owner: &NameBuf,
        rtype: Option<Rtype>,
        class: Class,
        soa: Option<&Rrset>,
        trust: Trust,
        checked: (Security, u16),
        now: Instant,
    ) -> InsertOutcome {
        self.insert_denial(owner, rtype, class, (soa, &[]), trust, checked, now)
    }

    /// [`Cache::insert_negative_checked`] keeping the denial's NSEC/NSEC3 RRsets (`proofs`) and
    /// the SOA's RRSIGs, for DO=1 answers from the cache and for validation.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_denial(
        &self,
        owner: &NameBuf,
        rtype: Option<Rtype>,
        class: Class,
        (soa, proofs): (Option<&Rrset>, &[Rrset]),
        trust: Trust,
        (security, ede): (Security, u16),
        now: Instant,
    ) -> InsertOutcome {
        let Some(soa) = soa else { return InsertOutcome::NoSoa };
        let mut ttl = negative_ttl(soa).clamp(self.settings.min_ttl, self.settings.max_negative_ttl.max(self.settings.min_ttl));
        if security == Security::Bogus {
            ttl = ttl.min(BOGUS_TTL);
        }
        let kind = if rtype.is_some() { EntryKind::NoData } else { EntryKind::NxDomain };
        let owner = Owner::new(&self.state, owner);
        let mut shard = self.shard(&owner);
        let mut entry = Entry::negative(owner.wire(), rtype.unwrap_or(NXDOMAIN_TYPE), class, kind, soa, proofs, ttl, trust, now);
        (entry.security, entry.ede) = (security, ede);
        self.store(&mut shard, &owner, entry, now)
    }

    /// The DNSSEC records kept with the negative entry at (`owner`, `rtype`) (`None`: the
    /// NXDOMAIN entry): the SOA's RRSIGs and the NSEC/NSEC3 RRsets with theirs.
    pub fn denial_proofs(&self, owner: &NameBuf, rtype: Option<Rtype>, class: Class, now: Instant) -> (Vec<Vec<u8>>, Vec<Rrset>) {
        let owner = Owner::new(&self.state, owner);
        let mut shard = self.shard(&owner);
        let Some((entry, hit)) = self.found(&mut shard, &owner, rtype.unwrap_or(NXDOMAIN_TYPE), class, now, false) else { return Default::default() };
        let (mut soa_sigs, mut proofs) = (Vec::new(), Vec::new());
        for (name, rtype, rdatas, sigs) in entry.proofs() {
            let sigs: Vec<Vec<u8>> = sigs.map(<[u8]>::to_vec).collect();
            if rtype == Rtype::SOA {
                soa_sigs = sigs;
            } else {
                proofs.push(Rrset { owner: name, rtype, class, ttl: hit.ttl, rdatas: rdatas.map(<[u8]>::to_vec).collect(), sigs });
            }
        }
        (soa_sigs, proofs)
    }

    /// Sets what validation said about the entry at (`owner`, `rtype`) (`None`: the NXDOMAIN
    /// entry of `owner`) when its rdatas are `rdatas` (or it is negative and `rdatas` is
    /// `None`); its TTL is shortened to `ttl` when that is less (RRSIG limits, [`BOGUS_TTL`]).
    #[allow(clippy::too_many_arguments)]
    pub fn set_security(
        &self,
        owner: &NameBuf,
        rtype: Option<Rtype>,
        class: Class,
        rdatas: Option<&[Vec<u8>]>,
        (security, ede): (Security, u16),
        ttl: u32,
        now: Instant,
    ) {
        self.settle(owner, (rtype, class), rdatas, (security, ede), ttl, now, false);
    }

    /// Marks the entry at (`owner`, `rtype`) bogus with `ede` for at most [`BOGUS_TTL`] when it
    /// holds `rdatas` (or is negative and `rdatas` is `None`) and was never validated: the
    /// validation that was to decide it was given up (no server answered a key lookup, or the
    /// question ran out of time or queries). An entry validated before keeps its status.
    pub fn abandon_unvalidated(&self, owner: &NameBuf, rtype: Option<Rtype>, class: Class, rdatas: Option<&[Vec<u8>]>, ede: u16, now: Instant) {
        self.settle(owner, (rtype, class), rdatas, (Security::Bogus, ede), BOGUS_TTL, now, true);
    }

    #[allow(clippy::too_many_arguments)]
    fn settle(
        &self,
        owner: &NameBuf,
        (rtype, class): (Option<Rtype>, Class),
        rdatas: Option<&[Vec<u8>]>,
        (security, ede): (Security, u16),
        ttl: u32,
        now: Instant,
        only_unvalidated: bool,
    ) {
        let owner = Owner::new(&self.state, owner);
        let mut shard = self.shard(&owner);
        let Some(slot) = shard.find(&owner, rtype.unwrap_or(NXDOMAIN_TYPE), class) else { return };
        let Some(entry) = shard.entry_mut(slot) else { return };
        if only_unvalidated && entry.security != Security::Indeterminate {
            return;
        }
        let same = match rdatas {
            Some(rdatas) => entry.kind == EntryKind::Positive && entry.rdatas().eq(rdatas.iter().map(Vec::as_slice)),
            None => entry.kind != EntryKind::Positive,
        };
        if !same || entry.expired(now) {
            return;
        }
        let ttl = if security == Security::Bogus { ttl.min(BOGUS_TTL) } else { ttl };
        entry.security = security;
        entry.ede = ede;
        let until = now.plus_secs(u64::from(ttl));
        if until < entry.expires_at {
            entry.expires_at = until;
        }
    }
}
