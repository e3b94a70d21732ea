//! The chain of trust (RFC 4035 §5.1-5.2): from the closest trust anchor down to the zone that
//! signed an RRset. Each step is known from the key cache or needs one lookup ([`Lookup`]):
//! the DNSKEY RRset of a zone whose DS (or anchor) is known, or the DS RRset of the next name
//! below the last zone cut (asked of the parent's servers). A denial of that DS says whether the
//! name is an unsigned delegation (the walk ends insecure) or no zone cut at all (the walk goes
//! one label further down).

use super::denial::{prove_no_ds, NoDs};
use super::verify::{ds_supported, verify_dnskeys_within, verify_rrset_within, vouched_keys, KeyVerdict};
use super::{Bogus, Context, Ede};
use crate::cache::keys::ZoneKeys;
use crate::cache::{Rrset, BOGUS_TTL};
use portcullis_wire::{NameBuf, Rcode, Rtype};

/// A DS or DNSKEY RRset the walk needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The DS RRset at this name (from the parent zone).
    Ds(NameBuf),
    /// The DNSKEY RRset of this zone.
    Dnskey(NameBuf),
}

impl Lookup {
    /// The name and type to resolve.
    pub fn question(&self) -> (NameBuf, Rtype) {
        match self {
            Lookup::Ds(name) => (*name, Rtype::DS),
            Lookup::Dnskey(name) => (*name, Rtype::DNSKEY),
        }
    }
}

/// The answer to a [`Lookup`], as the resolution's frame ended.
#[derive(Clone, Debug, Default)]
pub struct Fetched {
    /// The rcode, `None` when the lookup failed.
    pub rcode: Option<Rcode>,
    /// The answer chain.
    pub chain: Vec<Rrset>,
    /// The SOA of a denial.
    pub authority: Vec<Rrset>,
    /// NSEC/NSEC3 RRsets of a denial.
    pub proofs: Vec<Rrset>,
}

/// Where the walk to a zone stands.
pub enum Walk {
    /// What is known about the closest zone at or above the target.
    Known(ZoneKeys, NameBuf),
    /// This lookup is needed first.
    Need(Lookup),
}

/// Most steps of one walk (a name has at most 127 labels).
const MAX_STEPS: usize = 260;

/// Walks from the closest anchor to `target`.
pub fn keys_for(target: &NameBuf, context: &Context<'_>) -> Walk {
    let settings = context.settings;
    if !context.anchors_apply || settings.negative(target) {
        return Walk::Known(ZoneKeys::Insecure(0), *target);
    }
    let Some(anchor) = settings.anchor_for(target) else { return Walk::Known(ZoneKeys::Insecure(0), *target) };
    let mut zone = anchor.zone;
    let keys = &context.cache.keys;
    for _ in 0..MAX_STEPS {
        let known = match keys.get(&zone, context.now) {
            None | Some(ZoneKeys::Ds(_)) => return Walk::Need(Lookup::Dnskey(zone)),
            Some(ZoneKeys::NotCut) => ZoneKeys::Bogus(Ede::BOGUS, format!("{zone}: not a zone")),
            Some(known) => known,
        };
        if !matches!(known, ZoneKeys::Secure(_)) || zone == *target {
            return Walk::Known(known, zone);
        }
        match next_cut(&zone, target, context) {
            Ok(Some(cut)) => zone = cut,
            Ok(None) => return Walk::Known(known, zone),
            Err(lookup) => return Walk::Need(lookup),
        }
    }
    Walk::Known(ZoneKeys::Bogus(Ede::BOGUS, format!("{target}: chain of trust too long")), zone)
}

/// The next known zone cut below `zone` towards `target` (`None`: none down to the target), or
/// the DS lookup that finds out.
#[allow(clippy::result_large_err)] // the lookup's inline name: no heap
fn next_cut(zone: &NameBuf, target: &NameBuf, context: &Context<'_>) -> Result<Option<NameBuf>, Lookup> {
    let total = target.label_count();
    for depth in zone.label_count() + 1..=total {
        let Some(name) = target.suffix(total - depth) else { break };
        match context.cache.keys.get(&name, context.now) {
            None => return Err(Lookup::Ds(name)),
            Some(ZoneKeys::NotCut) => continue,
            Some(_) => return Ok(Some(name)),
        }
    }
    Ok(None)
}

/// The keys of the closest secure zone strictly above `name`, and that zone.
fn parent_keys(name: &NameBuf, context: &Context<'_>) -> Option<(Vec<Vec<u8>>, NameBuf)> {
    let mut above = name.parent();
    while let Some(zone) = above {
        match context.cache.keys.get(&zone, context.now) {
            Some(ZoneKeys::Secure(keys)) => return Some((keys, zone)),
            Some(ZoneKeys::NotCut) | None => above = zone.parent(),
            Some(_) => return None,
        }
    }
    None
}

/// Takes in the answer to `lookup`. A zone another resolution has meanwhile proven secure
/// stays so: its DS answer (or its DNSKEY RRset, now that the key cache no longer holds the DS
/// to check it with) must not replace what is known.
pub fn learn(lookup: Lookup, fetched: &Fetched, context: &Context<'_>) {
    let (Lookup::Ds(name) | Lookup::Dnskey(name)) = lookup;
    if matches!(context.cache.keys.get(&name, context.now), Some(ZoneKeys::Secure(_))) {
        return;
    }
    let (name, keys, ttl) = match lookup {
        Lookup::Dnskey(zone) => {
            let (keys, ttl) = learn_dnskey(&zone, fetched, context);
            (zone, keys, ttl)
        }
        Lookup::Ds(name) => {
            let (keys, ttl) = learn_ds(&name, fetched, context);
            (name, keys, ttl)
        }
    };
    let ttl = if matches!(keys, ZoneKeys::Bogus(..)) { ttl.min(BOGUS_TTL) } else { ttl };
    context.cache.keys.put(&name, keys, ttl.max(1), context.now);
}

/// The zone's DNSKEY RRset checked against its DS RRset or anchor.
fn learn_dnskey(zone: &NameBuf, fetched: &Fetched, context: &Context<'_>) -> (ZoneKeys, u32) {
    let anchor = context.settings.anchor_for(zone).filter(|anchor| anchor.zone == *zone);
    // An anchored zone's keys: the anchor's, and those RFC 5011 came to trust.
    let (ds, anchor_keys, managed) = match (context.cache.keys.get(zone, context.now), anchor) {
        (Some(ZoneKeys::Ds(ds)), _) => (ds, Vec::new(), None),
        (_, Some(anchor)) => {
            let fingerprint = super::rfc5011::fingerprint(anchor);
            (anchor.ds.clone(), [anchor.dnskeys.clone(), context.cache.trust.trusted(zone, fingerprint)].concat(), Some(fingerprint))
        }
        _ => return (ZoneKeys::Bogus(Ede::DNSKEY_MISSING, format!("{zone}: no DS for its DNSKEY")), BOGUS_TTL),
    };
    let Some(dnskeys) = fetched.chain.iter().find(|set| set.rtype == Rtype::DNSKEY && set.owner == *zone) else {
        return (ZoneKeys::Bogus(Ede::DNSKEY_MISSING, format!("{zone} DNSKEY: no DNSKEY RRset")), BOGUS_TTL);
    };
    match verify_dnskeys_within(dnskeys, zone, &ds, &anchor_keys, context.unix, &context.checks()) {
        KeyVerdict::Secure(keys, ttl) => {
            if let Some(fingerprint) = managed {
                context.cache.trust.observe(zone, fingerprint, dnskeys, &vouched_keys(dnskeys, zone, &ds, &anchor_keys), context.unix);
                // RFC 5011 §2.3: an anchored zone's keys are asked again after half their
                // lifetime (not more often than hourly), whenever the resolver needs them.
                return (ZoneKeys::Secure(keys), (ttl / 2).max(ttl.min(3600)));
            }
            (ZoneKeys::Secure(keys), ttl)
        }
        KeyVerdict::Unsupported(ede) => (ZoneKeys::Insecure(ede), dnskeys.ttl),
        KeyVerdict::Bogus(Bogus { ede, why }) => (ZoneKeys::Bogus(ede, why), BOGUS_TTL),
    }
}

/// The DS RRset at `name`, or its denial, checked with the parent zone's keys.
fn learn_ds(name: &NameBuf, fetched: &Fetched, context: &Context<'_>) -> (ZoneKeys, u32) {
    let Some((keys, parent)) = parent_keys(name, context) else {
        return (ZoneKeys::Bogus(Ede::BOGUS, format!("{name} DS: the parent zone has no secure keys")), BOGUS_TTL);
    };
    if fetched.rcode.is_none() {
        return (ZoneKeys::Bogus(Ede::BOGUS, format!("{name} DS: the lookup failed")), BOGUS_TTL);
    }
    if let Some(ds) = fetched.chain.iter().find(|set| set.rtype == Rtype::DS && set.owner == *name) {
        return match verify_rrset_within(ds, &parent, &keys, context.unix, &context.checks()) {
            Ok(_) if !ds.rdatas.iter().any(|ds| ds_supported(ds)) => {
                let algorithm = ds.rdatas.iter().any(|ds| ds.get(2).is_some_and(|alg| !portcullis_dnssec::Algorithm(*alg).is_supported()));
                (ZoneKeys::Insecure(if algorithm { Ede::UNSUPPORTED_DNSKEY_ALGORITHM } else { Ede::UNSUPPORTED_DS_DIGEST }), ds.ttl)
            }
            Ok(verified) => (ZoneKeys::Ds(ds.rdatas.clone()), verified.ttl),
            Err(Bogus { ede: Ede::UNSUPPORTED_DNSKEY_ALGORITHM, .. }) => (ZoneKeys::Insecure(Ede::UNSUPPORTED_DNSKEY_ALGORITHM), ds.ttl),
            Err(Bogus { ede, why }) => (ZoneKeys::Bogus(ede, why), BOGUS_TTL),
        };
    }
    if fetched.chain.iter().any(|set| set.rtype == Rtype::CNAME && set.owner == *name) {
        return (ZoneKeys::NotCut, 60);
    }
    for proof in &fetched.proofs {
        match verify_rrset_within(proof, &parent, &keys, context.unix, &context.checks()) {
            Ok(_) => {}
            Err(Bogus { ede: Ede::UNSUPPORTED_DNSKEY_ALGORITHM, .. }) => return (ZoneKeys::Insecure(Ede::UNSUPPORTED_DNSKEY_ALGORITHM), 60),
            Err(Bogus { ede, why }) => return (ZoneKeys::Bogus(ede, why), BOGUS_TTL),
        }
    }
    let ttl = fetched.authority.iter().find(|set| set.rtype == Rtype::SOA).map_or(60, |soa| soa.ttl);
    match prove_no_ds(name, &parent, &fetched.proofs, context.settings.max_nsec3_iterations) {
        NoDs::InsecureCut => (ZoneKeys::Insecure(0), ttl),
        NoDs::NotCut => (ZoneKeys::NotCut, ttl),
        NoDs::Insecure(ede) => (ZoneKeys::Insecure(ede), ttl),
        NoDs::Bogus(Bogus { ede, why }) => (ZoneKeys::Bogus(ede, why), BOGUS_TTL),
    }
}
