//! Receiving a zone by AXFR (RFC 5936, the secondary's side): the query, and [`Incoming`], which
//! takes the answer's messages one at a time and builds the zone with the checks a zone file
//! gets (one SOA, NS at the apex, nothing outside the zone...). Sockets and retries are the I/O
//! layer's.
//!
//! A message must answer our query: our ID, QR, NOERROR, the question in the first message (if
//! any, in the others). The first record is the zone's SOA; the transfer ends with the next SOA
//! record, which must be the same. Anything after it in that message is an error, and so is a
//! transfer past its [`TransferLimits`] (records and bytes: a hostile primary cannot fill our
//! memory; the overall deadline is the I/O layer's).

use super::zone::Zone;
use crate::load::{build_checked, LoadError};
use crate::zonefile::ZoneRecord;
use portcullis_wire::header::Flags;
use portcullis_wire::message::{decompress_rdata, Message, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};
use std::fmt;

/// What one transfer may bring before it is given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferLimits {
    /// Records (the opening SOA counted, the closing one not).
    pub max_records: usize,
    /// Bytes of messages.
    pub max_bytes: u64,
}

/// Which of [`TransferLimits`] a transfer went past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferLimit {
    /// `max_records`.
    Records,
    /// `max_bytes`.
    Bytes,
}

impl TransferLimits {
    /// 10 million records and 1 GiB.
    pub const DEFAULT: Self = Self { max_records: 10_000_000, max_bytes: 1 << 30 };
}

impl Default for TransferLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The AXFR query for `origin` with ID `id`.
pub fn axfr_query(origin: &NameBuf, id: u16) -> Vec<u8> {
    query(origin, Rtype::AXFR, id)
}

/// The SOA query for `origin` with ID `id` (RD clear), to learn the primary's serial.
pub fn soa_query(origin: &NameBuf, id: u16) -> Vec<u8> {
    query(origin, Rtype::SOA, id)
}

fn query(origin: &NameBuf, qtype: Rtype, id: u16) -> Vec<u8> {
    let mut buf = vec![0u8; 300];
    let Ok(mut writer) = MessageWriter::new(&mut buf, 300) else { return Vec::new() };
    writer.set_header(id, Flags::default());
    if writer.push_question(origin, qtype, Class::IN).is_err() {
        return Vec::new();
    }
    let len = writer.finish();
    buf.truncate(len);
    buf
}

/// The serial in an authoritative answer to [`soa_query`]; an error says why there is none.
pub fn soa_answer_serial(reply: &[u8], origin: &NameBuf, id: u16) -> Result<u32, TransferError> {
    let message = Message::parse(reply).map_err(|e| TransferError(format!("malformed SOA answer: {e}")))?;
    check_header(&message, id, origin, true)?;
    if !message.header().aa() {
        return Err(TransferError("the SOA answer is not authoritative".into()));
    }
    super::transfer::soa_serial_in(&message, Section::Answer, origin).ok_or_else(|| TransferError("no readable SOA of the zone in the answer".into()))
}

/// Why a transfer or an SOA check failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferError(pub String);

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A zone being received.
pub struct Incoming {
    origin: NameBuf,
    id: u16,
    records: Vec<ZoneRecord>,
    messages: usize,
    bytes: u64,
    limits: TransferLimits,
    /// The opening SOA's rdata, once seen.
    soa: Option<Vec<u8>>,
    done: bool,
    /// The limit the transfer went past, once it has.
    exceeded: Option<TransferLimit>,
}

impl Incoming {
    /// Receives `origin` for the AXFR query with `id`, within the default limits.
    pub fn new(origin: NameBuf, id: u16) -> Self {
        Self::with_limits(origin, id, TransferLimits::DEFAULT)
    }

    /// [`Incoming::new`] within `limits`.
    pub fn with_limits(origin: NameBuf, id: u16, limits: TransferLimits) -> Self {
        Self { origin, id, records: Vec::new(), messages: 0, bytes: 0, limits, soa: None, done: false, exceeded: None }
    }

    /// The limit the transfer went past: set when [`Incoming::add`] gave it up for that reason.
    pub fn exceeded(&self) -> Option<TransferLimit> {
        self.exceeded
    }

    /// Takes the next message; `Ok(true)` once the closing SOA came.
    pub fn add(&mut self, bytes: &[u8]) -> Result<bool, TransferError> {
        if self.done {
            return Err(TransferError("a message after the closing SOA".into()));
        }
        self.bytes = self.bytes.saturating_add(bytes.len() as u64);
        if self.bytes > self.limits.max_bytes {
            self.exceeded = Some(TransferLimit::Bytes);
            return Err(TransferError(format!("more than {} bytes", self.limits.max_bytes)));
        }
        let message = Message::parse(bytes).map_err(|e| TransferError(format!("message {} is malformed: {e}", self.messages + 1)))?;
        check_header(&message, self.id, &self.origin, self.messages == 0)?;
        self.messages += 1;
        for record in message.records(Section::Answer) {
            if self.done {
                return Err(TransferError("records after the closing SOA".into()));
            }
            let mut rdata = Vec::new();
            decompress_rdata(bytes, &record, &mut rdata).map_err(|e| TransferError(format!("rdata of {} {}: {e}", record.owner, record.rtype)))?;
            let is_soa = record.rtype == Rtype::SOA && record.owner.as_wire().eq_ignore_ascii_case(self.origin.as_wire());
            match &self.soa {
                None if is_soa => self.soa = Some(rdata.clone()),
                None => return Err(TransferError(format!("the transfer starts with {} {}, not the zone's SOA", record.owner, record.rtype))),
                Some(first) if is_soa => {
                    if *first != rdata {
                        return Err(TransferError("the closing SOA differs from the opening one".into()));
                    }
                    self.done = true;
                    continue;
                }
                Some(_) => {}
            }
            if self.records.len() >= self.limits.max_records {
                self.exceeded = Some(TransferLimit::Records);
                return Err(TransferError(format!("more than {} records", self.limits.max_records)));
            }
            self.records.push(ZoneRecord { owner: record.owner, rtype: record.rtype, class: record.class, ttl: record.ttl, rdata });
        }
        Ok(self.done)
    }

    /// Messages taken so far.
    pub fn messages(&self) -> usize {
        self.messages
    }

    /// Builds the zone from a finished transfer, with the checks of a zone file.
    pub fn finish(self) -> Result<Zone, TransferError> {
        if !self.done {
            return Err(TransferError("the transfer ended before its closing SOA".into()));
        }
        build_checked(&self.origin, &self.records).map_err(|e: LoadError| TransferError(format!("the zone received is not servable: {e}")))
    }
}

/// ID, QR, NOERROR and the question (required in the first message, checked in any).
pub(super) fn check_header(message: &Message<'_>, id: u16, origin: &NameBuf, first: bool) -> Result<(), TransferError> {
    let header = message.header();
    if header.id() != id || !header.is_response() {
        return Err(TransferError("a message that does not answer our query".into()));
    }
    if message.rcode() != Rcode::NOERROR {
        return Err(TransferError(format!("the primary answered {}", message.rcode())));
    }
    match message.question() {
        Some(question) if !question.qname.as_wire().eq_ignore_ascii_case(origin.as_wire()) => Err(TransferError("an answer for another name".into())),
        None if first => Err(TransferError("the first message has no question".into())),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[path = "receive_tests.rs"]
mod tests;
