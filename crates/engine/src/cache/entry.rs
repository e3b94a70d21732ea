//! What the cache stores: owned RRsets ([`Rrset`]) on the way in and out of the resolver, the
//! credibility ranking of RFC 2181 §5.4.1 ([`Trust`]), and the packed wire form of one entry
//! (positive RRset, or RFC 2308 negative entry with its SOA).

use crate::base::Instant;
use portcullis_wire::message::Section;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rtype, WriteError};

/// Credibility of cached data, lowest first (RFC 2181 §5.4.1). Data of a lower rank never replaces
/// unexpired data of a higher rank, and only [`Trust::Answer`] and above is returned to clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Trust {
    /// Glue: addresses from the additional section of a referral. Only for reaching servers.
    Glue = 1,
    /// Additional-section data of an answer.
    Additional = 2,
    /// Authority-section data of a non-authoritative reply (a referral's NS RRset).
    Authority = 3,
    /// Answer-section data of a non-authoritative reply.
    Answer = 4,
    /// Authority-section data of an authoritative reply (the SOA of a negative answer).
    AuthAuthority = 5,
    /// Answer-section data of an authoritative reply.
    AuthAnswer = 6,
}

/// What DNSSEC validation said about cached data (RFC 4035 §4.3), lowest first: an entry of a
/// lower status never replaces an unexpired one of a higher status and the same trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Security {
    /// Not validated (validation off, glue, referral data) or not decidable.
    #[default]
    Indeterminate = 0,
    /// Validation failed: served only to CD=1 queries, SERVFAIL with an EDE to others.
    Bogus = 1,
    /// Proven to lie in an unsigned zone (or below a negative trust anchor): no AD.
    Insecure = 2,
    /// Validated from a trust anchor: AD=1 to clients that ask.
    Secure = 3,
}

/// An owned RRset: owner, type, class, one TTL and uncompressed rdatas (RFC 2181 §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rrset {
    /// Owner name (case as received; the cache keys it lower-cased).
    pub owner: NameBuf,
    /// Type.
    pub rtype: Rtype,
    /// Class.
    pub class: Class,
    /// TTL in seconds (RFC 2181 §5.2: one per RRset; the smallest when they differed).
    pub ttl: u32,
    /// Rdatas in uncompressed wire form, in the order received, duplicates removed.
    pub rdatas: Vec<Vec<u8>>,
    /// The rdatas of the RRSIGs covering this RRset (RFC 4034 §3), as received.
    pub sigs: Vec<Vec<u8>>,
}

impl Rrset {
    /// An empty RRset.
    pub fn new(owner: NameBuf, rtype: Rtype, class: Class, ttl: u32) -> Self {
        Self { owner, rtype, class, ttl, rdatas: Vec::new(), sigs: Vec::new() }
    }

    /// Writes the RRSIGs covering the RRset into `section` with `ttl`, all or nothing (a DO=1
    /// reply, RFC 4035 §3.2.1).
    pub fn write_sigs(&self, section: Section, ttl: u32, writer: &mut MessageWriter<'_>) -> Result<(), WriteError> {
        let mark = writer.mark();
        for rdata in &self.sigs {
            if let Err(error) = writer.push(section, &self.owner, Rtype::RRSIG, self.class, ttl, rdata) {
                writer.rollback(mark);
                return Err(error);
            }
        }
        Ok(())
    }

    /// Adds one rdata, keeping the smaller TTL and skipping duplicates (RFC 2181 §5).
    pub fn push(&mut self, ttl: u32, rdata: &[u8]) {
        self.ttl = self.ttl.min(ttl);
        if !self.rdatas.iter().any(|have| have == rdata) {
            self.rdatas.push(rdata.to_vec());
        }
    }

    /// Writes the whole RRset into `section` with `ttl`, all or nothing.
    pub fn write(&self, section: Section, ttl: u32, writer: &mut MessageWriter<'_>) -> Result<(), WriteError> {
        let mark = writer.mark();
        for rdata in &self.rdatas {
            if let Err(error) = writer.push(section, &self.owner, self.rtype, self.class, ttl, rdata) {
                writer.rollback(mark);
                return Err(error);
            }
        }
        Ok(())
    }

    /// The single name in the rdata of a CNAME, DNAME or NS record at `index`.
    pub fn name_at(&self, index: usize) -> Option<NameBuf> {
        NameBuf::from_wire(self.rdatas.get(index)?).ok()
    }
}

/// The kind of one cache entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EntryKind {
    /// An RRset.
    Positive,
    /// RFC 2308 NODATA for (name, type).
    NoData,
    /// RFC 2308 NXDOMAIN for the name (stored under the reserved type 0).
    NxDomain,
}

/// One stored entry, with its key: the lower-cased owner in wire form, then the positive rdatas
/// as `[len u16][bytes]…` followed by the RRSIG rdatas the same way (from `sig_start`), or a
/// negative entry's SOA as `[owner wire][rdata]` (nothing when the negative entry came without
/// a SOA).
pub(super) struct Entry {
    data: Box<[u8]>,
    /// Where the RRSIG rdatas start in `data`.
    sig_start: u32,
    /// Where the NSEC/NSEC3 proofs kept with a positive entry start (a wildcard expansion's,
    /// RFC 4035 §3.1.3.3); the end of `data` when there are none.
    proof_start: u32,
    /// What validation said.
    pub security: Security,
    /// The Extended DNS Error (RFC 8914) of bogus data.
    pub ede: u16,
    pub expires_at: Instant,
    pub original_ttl: u32,
    pub rtype: Rtype,
    pub class: Class,
    pub kind: EntryKind,
    pub trust: Trust,
    owner_len: u8,
}

impl Entry {
    /// Packs a positive RRset owned by `owner` (lower-cased wire form).
    pub fn positive(owner: &[u8], rrset: &Rrset, ttl: u32, trust: Trust, now: Instant) -> Self {
        let size: usize = owner.len() + rrset.rdatas.iter().chain(&rrset.sigs).map(|r| 2 + r.len()).sum::<usize>();
        let mut data = Vec::with_capacity(size);
        data.extend_from_slice(owner);
        pack(&mut data, &rrset.rdatas);
        let sig_start = data.len();
        pack(&mut data, &rrset.sigs);
        let mut entry = Self::packed(owner, data, rrset.rtype, rrset.class, EntryKind::Positive, ttl, trust, now);
        entry.sig_start = sig_start as u32;
        entry.proof_start = entry.data.len() as u32;
        entry
    }

    /// Packs a negative entry at (`owner`, `rtype`) with its SOA and the DNSSEC records of the
    /// denial: the SOA's RRSIGs and the NSEC/NSEC3 RRsets with theirs (`proofs`, written to
    /// DO=1 queries answered from the cache, RFC 4035 §3.1.3).
    #[allow(clippy::too_many_arguments)]
    pub fn negative(owner: &[u8], rtype: Rtype, class: Class, kind: EntryKind, soa: &Rrset, proofs: &[Rrset], ttl: u32, trust: Trust, now: Instant) -> Self {
        let rdata = soa.rdatas.first().map_or(&[][..], Vec::as_slice);
        let mut data = Vec::with_capacity(owner.len() + soa.owner.len() + rdata.len() + 2);
        data.extend_from_slice(owner);
        data.extend_from_slice(soa.owner.as_wire());
        data.extend_from_slice(&(rdata.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
        data.extend_from_slice(&rdata[..rdata.len().min(usize::from(u16::MAX))]);
        let proof_start = data.len();
        let soa_sigs = Rrset { owner: soa.owner, rtype: Rtype::SOA, class, ttl: soa.ttl, rdatas: Vec::new(), sigs: soa.sigs.clone() };
        pack_proofs(&mut data, std::iter::once(&soa_sigs).filter(|set| !set.sigs.is_empty()).chain(proofs));
        let mut entry = Self::packed(owner, data, rtype, class, kind, ttl, trust, now);
        entry.sig_start = proof_start as u32;
        entry
    }

    /// A copy of this positive entry with `proofs` (the NSEC/NSEC3 RRsets that prove a wildcard
    /// expansion, with their RRSIGs) kept after its RRSIGs, for DO=1 answers from the cache.
    pub fn with_proofs(&self, proofs: &[Rrset]) -> Self {
        let mut data = self.data.to_vec();
        let proof_start = data.len() as u32;
        pack_proofs(&mut data, proofs.iter());
        let Self { sig_start, security, ede, expires_at, original_ttl, rtype, class, kind, trust, owner_len, .. } = *self;
        Self { data: data.into_boxed_slice(), sig_start, proof_start, security, ede, expires_at, original_ttl, rtype, class, kind, trust, owner_len }
    }

    #[allow(clippy::too_many_arguments)]
    fn packed(owner: &[u8], data: Vec<u8>, rtype: Rtype, class: Class, kind: EntryKind, ttl: u32, trust: Trust, now: Instant) -> Self {
        let expires_at = now.plus_secs(u64::from(ttl));
        let sig_start = data.len() as u32;
        let (security, ede) = (Security::Indeterminate, 0);
        let owner_len = owner.len() as u8;
        Self {
            data: data.into_boxed_slice(),
            sig_start,
            proof_start: sig_start,
            security,
            ede,
            expires_at,
            original_ttl: ttl,
            rtype,
            class,
            kind,
            trust,
            owner_len,
        }
    }

    /// The lower-cased owner in wire form.
    pub fn owner(&self) -> &[u8] {
        &self.data[..usize::from(self.owner_len)]
    }

    /// True when this entry is keyed (`owner`, `rtype`, `class`).
    pub fn is(&self, owner: &[u8], rtype: Rtype, class: Class) -> bool {
        self.rtype == rtype && self.class == class && self.owner() == owner
    }

    /// Whole seconds left before expiry (0 once expired).
    pub fn remaining(&self, now: Instant) -> u32 {
        let millis = self.expires_at.as_millis().saturating_sub(now.as_millis());
        u32::try_from(millis / 1000).unwrap_or(u32::MAX)
    }

    /// True once the TTL has run out.
    pub fn expired(&self, now: Instant) -> bool {
        now >= self.expires_at
    }

    /// The rdatas of a positive entry, without allocating.
    pub fn rdatas(&self) -> RdataIter<'_> {
        let rdatas = self.data.get(usize::from(self.owner_len)..self.sig_start as usize).unwrap_or(&[]);
        RdataIter { rest: if self.kind == EntryKind::Positive { rdatas } else { &[] } }
    }

    /// The RRSIG rdatas of a positive entry, without allocating.
    pub fn sigs(&self) -> RdataIter<'_> {
        let end = if self.kind == EntryKind::Positive { self.proof_start as usize } else { self.data.len() };
        RdataIter { rest: self.data.get(self.sig_start as usize..end).unwrap_or(&[]) }
    }

    /// The SOA owner and rdata of a negative entry.
    pub fn soa(&self) -> Option<(NameBuf, &[u8])> {
        let payload = self.data.get(usize::from(self.owner_len)..self.sig_start as usize)?;
        if self.kind == EntryKind::Positive || payload.is_empty() {
            return None;
        }
        let (owner, end) = NameBuf::parse_uncompressed(payload, 0).ok()?;
        let (len, rdata) = payload.get(end..)?.split_first_chunk::<2>()?;
        Some((owner, rdata.get(..usize::from(u16::from_be_bytes(*len)))?))
    }

    /// The DNSSEC records of a negative entry: (owner, type, rdatas, RRSIGs) per RRset, the
    /// SOA's RRSIGs first (under type SOA, without rdatas); of a positive entry, the proofs of
    /// its wildcard expansion ([`Entry::with_proofs`]).
    pub fn proofs(&self) -> ProofIter<'_> {
        let start = if self.kind == EntryKind::Positive { self.proof_start } else { self.sig_start };
        ProofIter { rest: self.data.get(start as usize..).unwrap_or(&[]) }
    }

    /// Bytes charged against the cache's budget: the entry, its data, and its share of the
    /// shard's bookkeeping (table buckets, recency links, per-owner type count, allocator).
    pub fn cost(&self) -> usize {
        core::mem::size_of::<Self>() + self.data.len() + 64
    }
}

/// Appends `rdatas` as `[len u16][bytes]…` (an rdata is at most 65535 octets).
fn pack(data: &mut Vec<u8>, rdatas: &[Vec<u8>]) {
    for rdata in rdatas {
        let len = rdata.len().min(usize::from(u16::MAX));
        data.extend_from_slice(&(len as u16).to_be_bytes());
        data.extend_from_slice(&rdata[..len]);
    }
}

/// Appends `sets` as `[owner][type u16][len u32][rdatas][len u32][RRSIGs]` each.
fn pack_proofs<'a>(data: &mut Vec<u8>, sets: impl Iterator<Item = &'a Rrset>) {
    for set in sets {
        data.extend_from_slice(set.owner.as_wire());
        data.extend_from_slice(&set.rtype.0.to_be_bytes());
        for list in [&set.rdatas, &set.sigs] {
            let at = data.len();
            data.extend_from_slice(&[0; 4]);
            pack(data, list);
            let len = (data.len() - at - 4) as u32;
            data[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
    }
}

/// Iterates over the packed proof RRsets of a negative entry.
pub(super) struct ProofIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ProofIter<'a> {
    type Item = (NameBuf, Rtype, RdataIter<'a>, RdataIter<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let (owner, end) = NameBuf::parse_uncompressed(self.rest, 0).ok()?;
        let (rtype, mut rest) = self.rest.get(end..)?.split_first_chunk::<2>()?;
        let mut lists = [&[][..]; 2];
        for list in &mut lists {
            let (len, body) = rest.split_first_chunk::<4>()?;
            let len = u32::from_be_bytes(*len) as usize;
            *list = body.get(..len)?;
            rest = &body[len..];
        }
        self.rest = rest;
        Some((owner, Rtype(u16::from_be_bytes(*rtype)), RdataIter { rest: lists[0] }, RdataIter { rest: lists[1] }))
    }
}

/// Iterates over packed `[len u16][bytes]` rdatas.
pub(super) struct RdataIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for RdataIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (head, body) = self.rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*head));
        let rdata = body.get(..len)?;
        self.rest = &body[len..];
        Some(rdata)
    }
}

/// The negative-caching TTL of RFC 2308 §5: the smaller of the SOA's TTL and its MINIMUM field.
pub fn negative_ttl(soa: &Rrset) -> u32 {
    let minimum = soa.rdatas.first().and_then(|rdata| rdata.len().checked_sub(4).and_then(|at| rdata.get(at..)));
    match minimum.and_then(|bytes| <[u8; 4]>::try_from(bytes).ok()) {
        Some(bytes) => soa.ttl.min(u32::from_be_bytes(bytes)),
        None => soa.ttl,
    }
}
