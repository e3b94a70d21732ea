//! The DNSSEC records of an authoritative answer to a DO=1 query (RFC 4035 §3.1, RFC 5155
//! §7.2): the RRSIGs beside each RRset, and the NSEC or NSEC3 records that prove a name or type
//! absent, a wildcard expansion, or a delegation insecure. With DO=0 it writes the RRsets alone.
//!
//! Each NSEC/NSEC3 goes into the authority section once per answer, whatever proof asks for it
//! again (an NXDOMAIN whose qname and wildcard the same NSEC covers). Nothing here allocates:
//! the NSEC3 hashes are computed into arrays, the pending wildcard proofs of a CNAME chain and
//! the records written are kept inline (`SmallVec`s never filled past their inline size, and
//! left uninitialised until used, so that an answer without DNSSEC pays nothing for them).

use super::answer::MAX_CHAIN;
use super::signed::Nsec3Table;
use super::zone::{Node, Rrset, Zone};
use portcullis_wire::message::Section;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{NameBuf, Rtype};
use smallvec::SmallVec;

/// Most distinct NSEC/NSEC3 records one answer writes (a wildcard proof per chain link, plus a
/// three-record NSEC3 NXDOMAIN proof).
const MAX_WRITTEN: usize = MAX_CHAIN + 8;

/// A proof that did not fit: the answer must set TC (RFC 4035 §3.1.1: mandatory records).
#[derive(Debug)]
pub(super) struct NoRoom;

/// What an answer adds for DNSSEC, as the answer writer sees it: nothing ([`Unsigned`], for
/// DO=0 or an unsigned zone: every call compiles away, so such answers cost what they did before
/// DNSSEC) or the RRSIGs and proofs ([`Proofs`]).
pub(super) trait Dnssec<'z> {
    /// True when DNSSEC records go into this answer.
    fn on(&self) -> bool;

    /// Pushes `rrset` of `node` with `owner` (an expanded wildcard's name, for synthesised data)
    /// and TTL `ttl`, then its RRSIGs when on; all or nothing.
    #[allow(clippy::too_many_arguments)]
    fn push_with_ttl(
        &self,
        zone: &Zone,
        section: Section,
        owner: &NameBuf,
        node: &Node,
        rrset: &Rrset,
        ttl: u32,
        writer: &mut MessageWriter<'_>,
    ) -> Result<(), NoRoom>;

    /// [`Dnssec::push_with_ttl`] with the RRset's own TTL.
    #[inline]
    fn push(&self, zone: &Zone, section: Section, owner: &NameBuf, node: &Node, rrset: &Rrset, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        self.push_with_ttl(zone, section, owner, node, rrset, rrset.ttl, writer)
    }

    /// Remembers that `qname` was answered from `wildcard`, to prove later.
    fn wildcard_answer(&mut self, qname: &NameBuf, wildcard: &'z Node);

    /// Writes the proofs of the remembered wildcard answers.
    fn write_wildcards(&mut self, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom>;

    /// The NXDOMAIN proof.
    fn nxdomain(&mut self, qname: &NameBuf, encloser: Option<&Node>, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom>;

    /// The NODATA proof (wildcard NODATA with `wildcard`).
    fn nodata(&mut self, qname: &NameBuf, node: &'z Node, wildcard: Option<&'z Node>, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom>;

    /// The proof that a delegation has no DS.
    fn no_ds(&mut self, cut_name: &NameBuf, cut: &'z Node, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom>;
}

/// No DNSSEC records: DO=0, or a zone without signatures.
pub(super) struct Unsigned;

impl<'z> Dnssec<'z> for Unsigned {
    #[inline(always)]
    fn on(&self) -> bool {
        false
    }

    #[inline(always)]
    fn push_with_ttl(
        &self,
        zone: &Zone,
        section: Section,
        owner: &NameBuf,
        _: &Node,
        rrset: &Rrset,
        ttl: u32,
        writer: &mut MessageWriter<'_>,
    ) -> Result<(), NoRoom> {
        writer.push_rrset(section, owner, rrset.rtype, zone.class(), ttl, zone.rdatas(rrset)).map_err(|_| NoRoom)
    }

    #[inline(always)]
    fn wildcard_answer(&mut self, _: &NameBuf, _: &'z Node) {}

    #[inline(always)]
    fn write_wildcards(&mut self, _: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        Ok(())
    }

    #[inline(always)]
    fn nxdomain(&mut self, _: &NameBuf, _: Option<&Node>, _: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        Ok(())
    }

    #[inline(always)]
    fn nodata(&mut self, _: &NameBuf, _: &'z Node, _: Option<&'z Node>, _: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        Ok(())
    }

    #[inline(always)]
    fn no_ds(&mut self, _: &NameBuf, _: &'z Node, _: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        Ok(())
    }
}

impl<'z> Dnssec<'z> for Proofs<'z> {
    fn on(&self) -> bool {
        true
    }

    fn push_with_ttl(
        &self,
        zone: &Zone,
        section: Section,
        owner: &NameBuf,
        node: &Node,
        rrset: &Rrset,
        ttl: u32,
        writer: &mut MessageWriter<'_>,
    ) -> Result<(), NoRoom> {
        push_from(zone, section, owner, node, rrset, ttl, writer)
    }

    fn wildcard_answer(&mut self, qname: &NameBuf, wildcard: &'z Node) {
        Proofs::wildcard_answer(self, qname, wildcard);
    }

    fn write_wildcards(&mut self, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        Proofs::write_wildcards(self, writer)
    }

    fn nxdomain(&mut self, qname: &NameBuf, encloser: Option<&Node>, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        Proofs::nxdomain(self, qname, encloser, writer)
    }

    fn nodata(&mut self, qname: &NameBuf, node: &'z Node, wildcard: Option<&'z Node>, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        Proofs::nodata(self, qname, node, wildcard, writer)
    }

    fn no_ds(&mut self, cut_name: &NameBuf, cut: &'z Node, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        Proofs::no_ds(self, cut_name, cut, writer)
    }
}

/// The DNSSEC records of one answer to a DO=1 query from a signed zone, and what was written.
pub(super) struct Proofs<'z> {
    zone: &'z Zone,
    /// Wildcard expansions of the chain still to prove: (expanded name, wildcard node).
    wildcards: SmallVec<[(NameBuf, &'z Node); MAX_CHAIN + 1]>,
    /// Denial records written so far, by node address (both tables' nodes are distinct).
    written: SmallVec<[usize; MAX_WRITTEN]>,
}

impl<'z> Proofs<'z> {
    /// The proofs of an answer from the signed `zone` to a query with DO set (RFC 3225).
    pub(super) fn new(zone: &'z Zone) -> Self {
        Self { zone, wildcards: SmallVec::new(), written: SmallVec::new() }
    }

    /// Remembers that `qname` was answered from `wildcard`: [`Proofs::write_wildcards`] later
    /// proves that `qname` itself does not exist (RFC 4035 §3.1.3.3, RFC 5155 §7.2.6).
    pub(super) fn wildcard_answer(&mut self, qname: &NameBuf, wildcard: &'z Node) {
        // One per chain link at most, so never past the inline size (which would allocate).
        if self.wildcards.len() < self.wildcards.inline_size() {
            self.wildcards.push((*qname, wildcard));
        }
    }

    /// Writes the proofs of the remembered wildcard answers into the authority section.
    pub(super) fn write_wildcards(&mut self, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        for index in 0..self.wildcards.len() {
            let (qname, wildcard) = self.wildcards[index];
            let encloser = self.wildcard_encloser_labels(wildcard);
            match self.zone.nsec3().filter(|table| table.is_served()) {
                Some(table) => self.nsec3_cover(table, &next_closer(&qname, encloser), writer)?,
                None => self.nsec_cover(&qname, writer)?,
            }
        }
        Ok(())
    }

    /// NXDOMAIN (RFC 4035 §3.1.3.2, RFC 5155 §7.2.2): `qname` and the wildcard at its closest
    /// encloser `encloser` do not exist.
    pub(super) fn nxdomain(&mut self, qname: &NameBuf, encloser: Option<&Node>, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        let labels = encloser.map_or(self.zone.origin().label_count(), |node| self.zone.node_name(node).label_count());
        match self.zone.nsec3().filter(|table| table.is_served()) {
            Some(table) => {
                let proven = self.closest_encloser_proof(table, qname, labels, writer)?;
                let wildcard = suffix(qname, proven).wildcard_child().unwrap_or(*qname);
                self.nsec3_cover(table, &wildcard, writer)
            }
            None => {
                self.nsec_cover(qname, writer)?;
                match suffix(qname, labels).wildcard_child() {
                    Some(wildcard) => self.nsec_cover(&wildcard, writer),
                    None => Ok(()),
                }
            }
        }
    }

    /// NODATA at an existing `node` named `qname` (RFC 4035 §3.1.3.1, RFC 5155 §7.2.3), or, from
    /// a wildcard `wildcard`, the wildcard NODATA (RFC 4035 §3.1.3.4, RFC 5155 §7.2.5).
    pub(super) fn nodata(&mut self, qname: &NameBuf, node: &'z Node, wildcard: Option<&'z Node>, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        let nsec3 = self.zone.nsec3().filter(|table| table.is_served());
        match (nsec3, wildcard) {
            (Some(table), Some(wildcard)) => {
                let encloser = self.wildcard_encloser_labels(wildcard);
                let proven = self.closest_encloser_proof(table, qname, encloser, writer)?;
                let name = suffix(qname, proven).wildcard_child().unwrap_or(*qname);
                self.nsec3_match_or_cover(table, &name, writer)
            }
            (Some(table), None) => match self.nsec3_find(table, qname) {
                Some(Ok(matching)) => self.push_nsec3(table, matching, writer),
                // No NSEC3 of its own: a name an opt-out span leaves out (an unsigned
                // delegation's DS, RFC 5155 §7.2.4): the closest provable encloser's proof.
                _ => self.closest_encloser_proof(table, qname, qname.label_count().saturating_sub(1), writer).map(drop),
            },
            (None, Some(wildcard)) => {
                self.push_nsec(wildcard, writer)?;
                self.nsec_cover(qname, writer)
            }
            (None, None) if self.zone.rrset(node, Rtype::NSEC).is_some() => self.push_nsec(node, writer),
            // An empty non-terminal has no NSEC: the one covering it proves it empty.
            (None, None) => self.nsec_cover(qname, writer),
        }
    }

    /// The proof that the delegation at `cut` (named `cut_name`) has no DS (RFC 4035 §3.1.4.1,
    /// RFC 5155 §7.2.7): its NSEC or matching NSEC3, or with opt-out the closest provable
    /// encloser's proof.
    pub(super) fn no_ds(&mut self, cut_name: &NameBuf, cut: &'z Node, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        match self.zone.nsec3().filter(|table| table.is_served()) {
            Some(table) => match self.nsec3_find(table, cut_name) {
                Some(Ok(matching)) => self.push_nsec3(table, matching, writer),
                _ => self.closest_encloser_proof(table, cut_name, cut_name.label_count().saturating_sub(1), writer).map(drop),
            },
            None if self.zone.rrset(cut, Rtype::NSEC).is_some() => self.push_nsec(cut, writer),
            None => Ok(()),
        }
    }

    /// The closest encloser proof (RFC 5155 §7.2.1) for `qname`, starting from the encloser of
    /// `labels` labels and going up to the first one an NSEC3 matches (the closest provable
    /// encloser): that NSEC3, and the one covering the next closer name. Returns the labels of
    /// the encloser proven.
    fn closest_encloser_proof(&mut self, table: &'z Nsec3Table, qname: &NameBuf, labels: usize, writer: &mut MessageWriter<'_>) -> Result<usize, NoRoom> {
        let apex = self.zone.origin().label_count();
        let mut labels = labels.min(qname.label_count());
        while labels >= apex {
            if let Some(Ok(matching)) = self.nsec3_find(table, &suffix(qname, labels)) {
                self.push_nsec3(table, matching, writer)?;
                if labels < qname.label_count() {
                    self.nsec3_cover(table, &next_closer(qname, labels), writer)?;
                }
                return Ok(labels);
            }
            labels -= 1;
        }
        Ok(apex)
    }

    /// Labels of the closest encloser of a wildcard expansion: the wildcard's parent.
    fn wildcard_encloser_labels(&self, wildcard: &Node) -> usize {
        self.zone.node_name(wildcard).label_count().saturating_sub(1)
    }

    fn nsec_cover(&mut self, name: &NameBuf, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        match self.zone.nsec_at_or_before(name.as_wire()) {
            Some(node) => self.push_nsec(node, writer),
            None => Ok(()),
        }
    }

    fn push_nsec(&mut self, node: &Node, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        let Some(nsec) = self.zone.rrset(node, Rtype::NSEC) else { return Ok(()) };
        if !self.first_time(node) {
            return Ok(());
        }
        push_from(self.zone, Section::Authority, &self.zone.node_name(node), node, &nsec, nsec.ttl, writer)
    }

    fn nsec3_find(&self, table: &'z Nsec3Table, name: &NameBuf) -> Option<Result<&'z Node, &'z Node>> {
        table.find(&table.hash(name.as_wire())?)
    }

    fn nsec3_cover(&mut self, table: &'z Nsec3Table, name: &NameBuf, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        self.nsec3_match_or_cover(table, name, writer)
    }

    fn nsec3_match_or_cover(&mut self, table: &'z Nsec3Table, name: &NameBuf, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        match self.nsec3_find(table, name) {
            Some(Ok(node) | Err(node)) => self.push_nsec3(table, node, writer),
            None => Ok(()),
        }
    }

    fn push_nsec3(&mut self, table: &'z Nsec3Table, node: &Node, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
        let owners = table.owners();
        let Some(nsec3) = owners.rrset(node, Rtype::NSEC3) else { return Ok(()) };
        if !self.first_time(node) {
            return Ok(());
        }
        push_from(owners, Section::Authority, &owners.node_name(node), node, &nsec3, nsec3.ttl, writer)
    }

    /// True (and remembered) when the denial record at `node` is not in the answer yet.
    fn first_time(&mut self, node: &Node) -> bool {
        let address = std::ptr::from_ref(node) as usize;
        if self.written.contains(&address) {
            return false;
        }
        if self.written.len() < self.written.inline_size() {
            self.written.push(address);
        }
        true
    }
}

/// Pushes `rrset` of `node` from `zone` with `owner` and `ttl`, and its RRSIGs (same owner, the
/// lower of the two TTLs) when the zone has them; all or nothing.
fn push_from(zone: &Zone, section: Section, owner: &NameBuf, node: &Node, rrset: &Rrset, ttl: u32, writer: &mut MessageWriter<'_>) -> Result<(), NoRoom> {
    let Some(signatures) = zone.signatures(node, rrset.rtype) else {
        return writer.push_rrset(section, owner, rrset.rtype, zone.class(), ttl, zone.rdatas(rrset)).map_err(|_| NoRoom);
    };
    let mark = writer.mark();
    writer.push_rrset(section, owner, rrset.rtype, zone.class(), ttl, zone.rdatas(rrset)).map_err(|_| NoRoom)?;
    if writer.push_rrset(section, owner, Rtype::RRSIG, zone.class(), ttl.min(signatures.ttl), zone.rdatas(&signatures)).is_err() {
        writer.rollback(mark);
        return Err(NoRoom);
    }
    Ok(())
}

/// The suffix of `name` with `labels` labels (the name itself when it has no more).
fn suffix(name: &NameBuf, labels: usize) -> NameBuf {
    name.suffix(name.label_count().saturating_sub(labels)).unwrap_or(*name)
}

/// The next closer name (RFC 5155 §1.3): the suffix of `qname` one label longer than its
/// closest encloser of `encloser` labels.
fn next_closer(qname: &NameBuf, encloser: usize) -> NameBuf {
    suffix(qname, encloser + 1)
}
