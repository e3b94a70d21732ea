//! Aggressive use of DNSSEC-validated NSEC3 records (RFC 8198 §5, with the proofs of RFC 5155
//! §8): the NSEC3 RRsets of secure denials are kept per zone by hash, and a later question is
//! answered from them when they prove it on their own:
//!
//! - NODATA: an NSEC3 matches the name's hash and lists neither the type nor CNAME (and is no
//!   delegation, unless the question is for DS);
//! - NXDOMAIN: the closest encloser proof (an NSEC3 matching the closest encloser, which is no
//!   delegation or DNAME, and one covering the next closer name) and an NSEC3 covering the
//!   wildcard at the closest encloser.
//!
//! A span with the Opt-Out flag proves nothing here (an unsigned delegation may hide in it, RFC
//! 8198 §5.2 and RFC 5155 §9.2); neither does a wildcard that exists. The hashes computed per
//! question are bounded ([`MAX_HASHES`]); the records were validated, so their iterations are
//! within the limit.

use super::Rrset;
use crate::base::Instant;
use portcullis_dnssec::bitmap::contains;
use portcullis_dnssec::chain::{nsec3_covers, Nsec3, OPT_OUT};
use portcullis_dnssec::nsec3::{base32hex_decode, SHA1};
use portcullis_wire::{NameBuf, Rcode, Rtype};

/// Most NSEC3 hashes computed for one question.
pub const MAX_HASHES: usize = 32;

/// One kept NSEC3 RRset: the hash its owner names, the RRset, and when it expires.
#[derive(Debug, Clone)]
pub(super) struct Kept {
    hash: Vec<u8>,
    set: Rrset,
    until: Instant,
}

impl Kept {
    /// The RRset and its expiry (the upgrade's cache handover).
    pub(super) fn parts(&self) -> (&Rrset, Instant) {
        (&self.set, self.until)
    }
}

/// The hash named by the first label of an NSEC3 owner directly below `zone`.
pub(super) fn owner_hash(set: &Rrset, zone: &NameBuf) -> Option<Vec<u8>> {
    if set.rtype != Rtype::NSEC3 || set.rdatas.len() != 1 || set.owner.parent()? != *zone {
        return None;
    }
    base32hex_decode(&String::from_utf8_lossy(set.owner.labels().next()?)).ok()
}

/// Keeps `set` (its hash `hash`) until `until` in `kept`, replacing the record of that hash.
pub(super) fn keep(kept: &mut Vec<Kept>, hash: Vec<u8>, set: &Rrset, until: Instant) {
    kept.retain(|old| old.hash != hash);
    kept.push(Kept { hash, set: set.clone(), until });
}

/// What the live records of `kept` prove about (`qname`, `qtype`) in `zone`: the rcode
/// (NXDOMAIN, or NOERROR for NODATA), the RRsets used and the seconds the shortest of them has
/// left. `None` when they prove neither.
pub(super) fn synthesise(kept: &[Kept], zone: &NameBuf, qname: &NameBuf, qtype: Rtype, now: Instant) -> Option<(Rcode, Vec<Rrset>, u32)> {
    let live: Vec<(&Kept, Nsec3<'_>)> = kept.iter().filter(|k| k.until > now).filter_map(|k| Some((k, Nsec3::parse(k.set.rdatas.first()?).ok()?))).collect();
    let params = live.first()?.1.params;
    if params.algorithm != SHA1 {
        return None;
    }
    let live: Vec<&(&Kept, Nsec3<'_>)> = live.iter().filter(|(_, view)| view.params == params).collect();
    let mut hashes = 0;
    let mut hash = |name: &NameBuf| {
        hashes += 1;
        (hashes <= MAX_HASHES).then(|| params.hash(name).ok()).flatten()
    };
    let matching = |hash: &[u8]| live.iter().find(|(k, _)| k.hash == hash).copied();
    let covering = |hash: &[u8]| live.iter().find(|(k, view)| nsec3_covers(&k.hash, view.next_hash, hash)).copied();
    let own = hash(qname)?;
    if let Some((kept, view)) = matching(&own) {
        let delegation = contains(view.bitmap, Rtype::NS) && !contains(view.bitmap, Rtype::SOA);
        let listed = contains(view.bitmap, qtype) || contains(view.bitmap, Rtype::CNAME);
        return (!listed && (!delegation || qtype == Rtype::DS)).then(|| used(Rcode::NOERROR, &[kept], now));
    }
    let (mut next_closer, mut candidate) = (*qname, qname.parent());
    let (encloser, encloser_record) = loop {
        let ancestor = candidate.filter(|ancestor| ancestor.is_subdomain_of(zone))?;
        if let Some(found) = matching(&hash(&ancestor)?) {
            break (ancestor, found);
        }
        next_closer = ancestor;
        candidate = ancestor.parent();
    };
    let cut = contains(encloser_record.1.bitmap, Rtype::NS) && !contains(encloser_record.1.bitmap, Rtype::SOA);
    if cut || contains(encloser_record.1.bitmap, Rtype::DNAME) {
        return None;
    }
    let (next_cover, next_view) = covering(&hash(&next_closer)?)?;
    if next_view.flags & OPT_OUT != 0 {
        return None;
    }
    let wildcard = hash(&encloser.wildcard_child()?)?;
    if matching(&wildcard).is_some() {
        return None;
    }
    let (wildcard_cover, _) = covering(&wildcard)?;
    Some(used(Rcode::NXDOMAIN, &[encloser_record.0, next_cover, wildcard_cover], now))
}

/// The answer made of `records` (each RRset once) and the time the shortest has left.
fn used(rcode: Rcode, records: &[&Kept], now: Instant) -> (Rcode, Vec<Rrset>, u32) {
    let mut sets: Vec<Rrset> = Vec::new();
    for kept in records {
        if !sets.iter().any(|set| set.owner == kept.set.owner) {
            sets.push(kept.set.clone());
        }
    }
    let left = records.iter().map(|kept| kept.until.as_millis().saturating_sub(now.as_millis()) / 1000).min().unwrap_or(0);
    (rcode, sets, u32::try_from(left).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::super::aggressive::NsecIndex;
    use super::*;
    use portcullis_dnssec::chain::{nsec3_chain, Nsec3Params};
    use portcullis_wire::Class;

    fn name(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap()
    }

    /// The NSEC3 chain (SHA-1, no salt, no iterations) of `example.` with `www` (A) and the
    /// empty non-terminal `b` above `a.b`, every record with `flags`, as RRsets.
    fn chain(flags: u8) -> Vec<Rrset> {
        let params = Nsec3Params { algorithm: SHA1, iterations: 0, salt: &[] };
        let owners = [
            (name("example."), vec![Rtype::SOA, Rtype::NS, Rtype::DNSKEY, Rtype::NSEC3PARAM]),
            (name("www.example."), vec![Rtype::A]),
            (name("b.example."), vec![]),
            (name("a.b.example."), vec![Rtype::TXT]),
        ];
        let records = nsec3_chain(&name("example."), &params, flags, &owners).unwrap();
        records
            .into_iter()
            .map(|(owner, rdata)| {
                let mut set = Rrset::new(owner, Rtype::NSEC3, Class::IN, 300);
                set.push(300, &rdata);
                set
            })
            .collect()
    }

    fn index(flags: u8) -> NsecIndex {
        let index = NsecIndex::default();
        let mut soa = Rrset::new(name("example."), Rtype::SOA, Class::IN, 300);
        soa.push(300, &[0; 22]);
        index.insert(&name("example."), &soa, &chain(flags), 300, Instant::ZERO);
        index
    }

    #[test]
    fn cached_nsec3_records_answer_what_they_prove() {
        let index = index(0);
        let at = Instant::from_secs(100);
        let nx = index.synthesise(&name("nothere.example."), Rtype::A, at).unwrap();
        assert_eq!(nx.rcode, Rcode::NXDOMAIN);
        assert!((1..=3).contains(&nx.proofs.len()) && nx.proofs.iter().all(|set| set.rtype == Rtype::NSEC3 && set.ttl == 200), "{nx:?}");
        assert_eq!(nx.soa.ttl, 200, "TTLs are the time left");
        // Below a name that does not exist either: the closest encloser is the apex.
        assert_eq!(index.synthesise(&name("x.y.example."), Rtype::A, at).unwrap().rcode, Rcode::NXDOMAIN);
        // NODATA: an existing name without the type, and an empty non-terminal.
        assert_eq!(index.synthesise(&name("www.example."), Rtype::TXT, at).unwrap().rcode, Rcode::NOERROR);
        assert_eq!(index.synthesise(&name("b.example."), Rtype::A, at).unwrap().rcode, Rcode::NOERROR);
        // Data that exists, and expired records, prove nothing.
        assert!(index.synthesise(&name("www.example."), Rtype::A, at).is_none());
        assert!(index.synthesise(&name("nothere.example."), Rtype::A, Instant::from_secs(300)).is_none());
    }

    #[test]
    fn opt_out_spans_prove_no_nxdomain() {
        let index = index(OPT_OUT);
        assert!(index.synthesise(&name("nothere.example."), Rtype::A, Instant::ZERO).is_none());
        // A matching record still proves NODATA (it is no opt-out span).
        assert_eq!(index.synthesise(&name("www.example."), Rtype::TXT, Instant::ZERO).unwrap().rcode, Rcode::NOERROR);
    }
}
