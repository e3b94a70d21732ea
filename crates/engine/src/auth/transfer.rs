//! Outgoing zone transfers: AXFR (RFC 5936), and IXFR (RFC 1995) from the zone's history.
//! [`Transfer`] writes the zone as a stream of messages for one TCP connection, one message per
//! call, so that the connection's back-pressure bounds the memory a transfer holds: a snapshot
//! of the zone (an `Arc`) and a place in it. An incremental transfer
//! ([`Transfer::incremental`]) writes a list of records instead: [`ixfr_records`] of the
//! condensed difference from the client's serial (RFC 1995 §4: new SOA, old SOA, deletions, new
//! SOA, additions, new SOA).
//!
//! - The zone's SOA comes first and last (RFC 5936 §2.2); between them every other record of the
//!   zone once, glue and data below delegations included, node by node (parents first) and RRset
//!   by RRset; a signed zone's NSEC3 records and their RRSIGs (kept apart from the names) follow.
//! - Messages are filled up to [`MESSAGE_TARGET`] octets (16 KiB, as NSD: compression pointers
//!   reach every octet); an RRset may be split between messages (§2.2). A record too large for
//!   that gets a message of its own, up to 65 535 octets.
//! - The question is copied into the first message only (§2.2.1); an OPT record goes into every
//!   message when the query had one (§2.2.5).
//! - Serial arithmetic (RFC 1982) decides whether an IXFR client is already up to date.

use super::diff::ZoneDiff;
use super::zone::{Rrset, Zone};
use crate::zonefile::ZoneRecord;
use portcullis_wire::header::Flags;
use portcullis_wire::message::{decompress_rdata, Message, Question, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{NameBuf, Rcode, Rtype};
use std::sync::Arc;

/// Octets a transfer message is filled to.
pub const MESSAGE_TARGET: usize = 16 * 1024;
/// Largest message (a single record larger than [`MESSAGE_TARGET`]).
pub const MESSAGE_MAX: usize = 65_535;
/// Octets of an OPT record without options.
const OPT_LEN: usize = 11;

/// Where the stream is.
#[derive(Clone, Copy, Debug)]
enum Place {
    OpeningSoa,
    /// At `rrset` (the index among the node's RRsets, `set` once read) of node `node`,
    /// `offset` octets into its rdatas.
    Body {
        node: usize,
        rrset: usize,
        set: Option<Rrset>,
        offset: u32,
    },
    ClosingSoa,
    /// At this record of an incremental transfer's list.
    Listed(usize),
    Done,
}

/// One zone transfer in progress.
pub struct Transfer {
    zone: Arc<Zone>,
    /// An incremental transfer's records ([`ixfr_records`]), sent instead of the zone.
    list: Option<Arc<[ZoneRecord]>>,
    id: u16,
    question: Question,
    /// Our payload size for the OPT record, when the query had one.
    opt: Option<u16>,
    place: Place,
    /// The name of the node the body is at.
    owner: NameBuf,
    messages: u32,
    records: u64,
    /// Signs every message (RFC 8945 §5.3.1) when the request was signed, at `now` (seconds
    /// since the epoch).
    signer: Option<Box<dyn MessageSigner>>,
    now: u64,
}

/// Signs each message of a transfer (RFC 8945 §5.3.1). The zones say what they need; the
/// pipeline's TSIG (`policy::tsig::Signer`) provides it, so that zones depend on no policy.
pub trait MessageSigner: Send {
    /// Octets the signature adds to a message (kept free while the message is written).
    fn record_len(&self) -> usize;

    /// Signs the finished message `out[..len]` at `now` (seconds since the epoch); returns the
    /// new length, or `None` when `out` has no room.
    fn sign(&mut self, out: &mut [u8], len: usize, now: u64) -> Option<usize>;
}

impl Transfer {
    /// The transfer of `zone` for the query with `id` and `question`.
    pub fn new(zone: Arc<Zone>, id: u16, question: Question, opt: Option<u16>) -> Self {
        let owner = *zone.origin();
        Self { zone, list: None, id, question, opt, place: Place::OpeningSoa, owner, messages: 0, records: 0, signer: None, now: 0 }
    }

    /// An incremental transfer (RFC 1995 §4) of `zone` sending `records` ([`ixfr_records`]).
    pub fn incremental(zone: Arc<Zone>, id: u16, question: Question, opt: Option<u16>, records: Vec<ZoneRecord>) -> Self {
        Self { list: Some(records.into()), place: Place::Listed(0), ..Self::new(zone, id, question, opt) }
    }

    /// True for an incremental transfer.
    pub fn is_incremental(&self) -> bool {
        self.list.is_some()
    }

    /// Signs every message with `signer` (the verified request's), at `now`.
    pub fn signed(self, signer: Box<dyn MessageSigner>, now: u64) -> Self {
        Self { signer: Some(signer), now, ..self }
    }

    /// The zone's name.
    pub fn zone(&self) -> &NameBuf {
        self.zone.origin()
    }

    /// Messages written so far.
    pub fn messages(&self) -> u32 {
        self.messages
    }

    /// Records written so far (the SOA counted twice).
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Writes the next message into `out` and returns its length; `None` once the closing SOA
    /// went out (or when `out` cannot hold a message).
    pub fn next_message(&mut self, out: &mut [u8]) -> Option<usize> {
        let zone = Arc::clone(&self.zone);
        let list = self.list.clone();
        let list = list.as_deref().unwrap_or(&[]);
        self.current(&zone, list)?;
        let room = if self.opt.is_some() { OPT_LEN } else { 0 } + self.signer.as_ref().map_or(0, |signer| signer.record_len());
        let mut writer = MessageWriter::new(out, MESSAGE_MAX).ok()?;
        writer.set_header(self.id, Flags { qr: true, aa: true, ..Flags::default() });
        if self.messages == 0 {
            writer.push_question(&self.question.qname, self.question.qtype, self.question.qclass).ok()?;
            // Names compress against the zone's own names only, so the zone keeps its case.
            writer.forget_names();
        }
        writer.set_limit(MESSAGE_TARGET.saturating_sub(room));
        while let Some((rtype, ttl, rdata)) = self.current(&zone, list) {
            if writer.push(Section::Answer, &self.owner, rtype, zone.class(), ttl, rdata).is_err() {
                if writer.count(Section::Answer) > 0 {
                    break;
                }
                // Alone and still too large: a message of its own, up to the largest.
                writer.set_limit(MESSAGE_MAX - room);
                if writer.push(Section::Answer, &self.owner, rtype, zone.class(), ttl, rdata).is_err() {
                    self.place = Place::Done;
                    return None;
                }
                self.records += 1;
                self.advance(&zone, list);
                break;
            }
            self.records += 1;
            self.advance(&zone, list);
        }
        if let Some(payload) = self.opt {
            writer.push_opt(payload, Rcode::NOERROR, false, &[]).ok()?;
        }
        self.messages += 1;
        let len = writer.finish();
        match &mut self.signer {
            Some(signer) => signer.sign(out, len, self.now),
            None => Some(len),
        }
    }

    /// The record at the current place, after moving past RRsets and nodes that have none left;
    /// `None` when done.
    fn current<'z>(&mut self, zone: &'z Zone, list: &'z [ZoneRecord]) -> Option<(Rtype, u32, &'z [u8])> {
        loop {
            match self.place {
                Place::Done => return None,
                Place::Listed(index) => {
                    let record = list.get(index)?;
                    self.owner = record.owner;
                    return Some((record.rtype, record.ttl, &record.rdata));
                }
                Place::OpeningSoa | Place::ClosingSoa => {
                    self.owner = *zone.origin();
                    let Some(soa) = zone.soa() else {
                        self.place = Place::Done;
                        return None;
                    };
                    return Some((Rtype::SOA, soa.ttl, zone.first_rdata(&soa)));
                }
                Place::Body { node, rrset, set, offset } => {
                    // The name tree, then the NSEC3 table (its records are the zone's too).
                    let Some((zone, at)) = zone.transfer_node(node) else {
                        self.place = Place::ClosingSoa;
                        continue;
                    };
                    let set = match set {
                        Some(set) => set,
                        None => match zone.rrsets(at).nth(rrset) {
                            // The apex SOA opens and closes the stream instead.
                            Some(set) if node == 0 && set.rtype == Rtype::SOA => {
                                self.place = Place::Body { node, rrset: rrset + 1, set: None, offset: 0 };
                                continue;
                            }
                            Some(set) => {
                                self.owner = zone.node_name(at);
                                self.place = Place::Body { node, rrset, set: Some(set), offset };
                                set
                            }
                            None => {
                                self.place = Place::Body { node: node + 1, rrset: 0, set: None, offset: 0 };
                                continue;
                            }
                        },
                    };
                    match zone.rdata_at(&set, offset) {
                        Some((rdata, _)) => return Some((set.rtype, set.ttl, rdata)),
                        None => self.place = Place::Body { node, rrset: rrset + 1, set: None, offset: 0 },
                    }
                }
            }
        }
    }

    /// Moves past the record [`Transfer::current`] returned.
    fn advance(&mut self, zone: &Zone, list: &[ZoneRecord]) {
        self.place = match self.place {
            Place::Listed(index) if index + 1 < list.len() => Place::Listed(index + 1),
            Place::Listed(_) => Place::Done,
            Place::OpeningSoa => Place::Body { node: 0, rrset: 0, set: None, offset: 0 },
            Place::Body { node, rrset, set: Some(set), offset } => match zone.transfer_node(node).and_then(|(zone, _)| zone.rdata_at(&set, offset)) {
                Some((_, next)) => Place::Body { node, rrset, set: Some(set), offset: next },
                None => Place::Body { node, rrset: rrset + 1, set: None, offset: 0 },
            },
            Place::Body { node, rrset, .. } => Place::Body { node, rrset: rrset + 1, set: None, offset: 0 },
            Place::ClosingSoa | Place::Done => Place::Done,
        };
    }
}

/// The records of an incremental transfer of `change` (RFC 1995 §4): the new SOA, the old SOA,
/// the deletions, the new SOA, the additions, and the new SOA again.
pub fn ixfr_records(change: &ZoneDiff) -> Vec<ZoneRecord> {
    let mut records = Vec::with_capacity(change.deleted.len() + change.added.len() + 4);
    records.push(change.new_soa.clone());
    records.push(change.old_soa.clone());
    records.extend(change.deleted.iter().cloned());
    records.push(change.new_soa.clone());
    records.extend(change.added.iter().cloned());
    records.push(change.new_soa.clone());
    records
}

/// The serial in an SOA rdata (after MNAME and RNAME, uncompressed as zones store them).
pub fn soa_serial(rdata: &[u8]) -> Option<u32> {
    soa_number(rdata, 0)
}

/// The serial of the SOA of `origin` in `section` of `message`, when it holds one.
pub fn soa_serial_in(message: &Message<'_>, section: Section, origin: &NameBuf) -> Option<u32> {
    let record = message.records(section).find(|record| record.rtype == Rtype::SOA && record.owner.as_wire().eq_ignore_ascii_case(origin.as_wire()))?;
    let mut rdata = Vec::new();
    decompress_rdata(message.bytes(), &record, &mut rdata).ok()?;
    soa_serial(&rdata)
}

/// Refresh, retry and expire, in seconds, of an SOA rdata.
pub fn soa_timers(rdata: &[u8]) -> Option<(u32, u32, u32)> {
    Some((soa_number(rdata, 1)?, soa_number(rdata, 2)?, soa_number(rdata, 3)?))
}

/// The `index`-th 32-bit number after MNAME and RNAME (0: serial ... 4: minimum).
fn soa_number(rdata: &[u8], index: usize) -> Option<u32> {
    let mut pos = 0;
    for _ in 0..2 {
        pos = portcullis_wire::name::uncompressed_at(rdata, pos)?.len() + pos;
    }
    let number = rdata.get(pos + 4 * index..pos + 4 * index + 4)?;
    Some(u32::from_be_bytes([number[0], number[1], number[2], number[3]]))
}

/// RFC 1982 §3.2: `ours` is greater than `theirs` in serial number arithmetic.
pub fn serial_greater(ours: u32, theirs: u32) -> bool {
    ours != theirs && ours.wrapping_sub(theirs) < 1 << 31
}

#[cfg(test)]
#[path = "transfer_tests.rs"]
pub(crate) mod tests;
