//! Receiving a zone by IXFR (RFC 1995, the secondary's side): the query, carrying our SOA in
//! the authority section (§3), and [`IncomingIxfr`], which reads the answer's messages one at a
//! time and tells which of the three answers it is (§4):
//!
//! - our serial is current: the primary's SOA alone ([`Received::UpToDate`]);
//! - the differences: the new SOA, then for each difference the old SOA, the deletions, the
//!   new SOA and the additions, then the new SOA again ([`Received::Incremental`], applied by
//!   the caller to a copy with [`super::diff::apply`]: a difference that does not apply never
//!   touches the copy served);
//! - the whole zone in AXFR form: the SOA, every other record, the SOA
//!   ([`Received::Full`], built with the checks of a zone file).
//!
//! The serials must follow one another: the first difference starts at our serial, each starts
//! where the one before ended, and the last ends at the first SOA's serial; anything else is an
//! error, and the caller falls back to AXFR. The records are bounded by [`TransferLimits`] as for
//! AXFR.

use super::diff::{check_sequence, ZoneDiff};
use super::receive::{check_header, TransferError, TransferLimit, TransferLimits};
use super::transfer::{serial_greater, soa_serial};
use super::zone::Zone;
use crate::load::build_checked;
use crate::zonefile::ZoneRecord;
use portcullis_wire::header::Flags;
use portcullis_wire::message::{decompress_rdata, Message, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rtype};

/// The IXFR query for `origin` with ID `id`, with our SOA (`soa`, the apex SOA record of the copy
/// we hold) in the authority section (RFC 1995 §3).
pub fn ixfr_query(origin: &NameBuf, id: u16, soa: &ZoneRecord) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let Ok(mut writer) = MessageWriter::new(&mut buf, 1024) else { return Vec::new() };
    writer.set_header(id, Flags::default());
    if writer.push_question(origin, Rtype::IXFR, Class::IN).is_err()
        || writer.push(Section::Authority, origin, Rtype::SOA, Class::IN, soa.ttl, &soa.rdata).is_err()
    {
        return Vec::new();
    }
    let len = writer.finish();
    buf.truncate(len);
    buf
}

/// What an IXFR brought.
#[derive(Debug)]
pub enum Received {
    /// Our copy is current.
    UpToDate,
    /// The differences from our serial to the primary's, in order.
    Incremental(Vec<ZoneDiff>),
    /// The whole zone (AXFR form).
    Full(Box<Zone>),
}

/// Where the stream is.
#[derive(Debug)]
enum State {
    /// Nothing read yet.
    Start,
    /// The first SOA read; the next record tells the form.
    AfterFirst,
    /// Deleting records of the current difference.
    Deleting(ZoneDiff),
    /// Adding records of the current difference.
    Adding(ZoneDiff),
    /// AXFR form: every record to the closing SOA.
    Whole,
    /// The closing SOA came.
    Done,
}

/// An IXFR answer being received.
pub struct IncomingIxfr {
    origin: NameBuf,
    id: u16,
    /// Our serial.
    ours: u32,
    limits: TransferLimits,
    /// The first SOA (the primary's version).
    first: Option<ZoneRecord>,
    state: State,
    diffs: Vec<ZoneDiff>,
    /// AXFR form: the zone's records.
    records: Vec<ZoneRecord>,
    count: usize,
    messages: usize,
    bytes: u64,
    exceeded: Option<TransferLimit>,
}

impl IncomingIxfr {
    /// Receives the answer to our IXFR query for `origin` with `id`, sent with serial `ours`.
    pub fn new(origin: NameBuf, id: u16, ours: u32, limits: TransferLimits) -> Self {
        Self {
            origin,
            id,
            ours,
            limits,
            first: None,
            state: State::Start,
            diffs: Vec::new(),
            records: Vec::new(),
            count: 0,
            messages: 0,
            bytes: 0,
            exceeded: None,
        }
    }

    /// The limit the transfer went past, when it did.
    pub fn exceeded(&self) -> Option<TransferLimit> {
        self.exceeded
    }

    /// Takes the next message; `Ok(true)` once the answer is complete.
    pub fn add(&mut self, bytes: &[u8]) -> Result<bool, TransferError> {
        if matches!(self.state, State::Done) {
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
            let mut rdata = Vec::new();
            decompress_rdata(bytes, &record, &mut rdata).map_err(|e| TransferError(format!("rdata of {} {}: {e}", record.owner, record.rtype)))?;
            self.take(ZoneRecord { owner: record.owner, rtype: record.rtype, class: record.class, ttl: record.ttl, rdata })?;
        }
        // The SOA alone, not newer than ours: we are up to date (RFC 1995 §4).
        if matches!(self.state, State::AfterFirst) && self.messages == 1 {
            let newer = self.first.as_ref().and_then(|soa| soa_serial(&soa.rdata)).is_some_and(|theirs| serial_greater(theirs, self.ours));
            if !newer {
                self.state = State::Done;
            }
        }
        Ok(matches!(self.state, State::Done))
    }

    /// What the answer brought, once complete: differences checked for sequence (they are
    /// applied by the caller), or the whole zone built with the checks of a zone file.
    pub fn finish(self) -> Result<Received, TransferError> {
        if !matches!(self.state, State::Done) {
            return Err(TransferError("the transfer ended before its closing SOA".into()));
        }
        if self.diffs.is_empty() && self.records.is_empty() {
            return Ok(Received::UpToDate);
        }
        if !self.records.is_empty() {
            let zone = build_checked(&self.origin, &self.records).map_err(|e| TransferError(format!("the zone received is not servable: {e}")))?;
            return Ok(Received::Full(Box::new(zone)));
        }
        check_sequence(&self.diffs).map_err(|e| TransferError(format!("the differences are inconsistent: {e}")))?;
        let start = self.diffs.first().map_or(self.ours, ZoneDiff::old_serial);
        if start != self.ours {
            return Err(TransferError(format!("the differences start at serial {start}, ours is {}", self.ours)));
        }
        Ok(Received::Incremental(self.diffs))
    }

    /// One record of the answer.
    fn take(&mut self, record: ZoneRecord) -> Result<(), TransferError> {
        self.count += 1;
        if self.count > self.limits.max_records {
            self.exceeded = Some(TransferLimit::Records);
            return Err(TransferError(format!("more than {} records", self.limits.max_records)));
        }
        let is_soa = record.rtype == Rtype::SOA && record.owner == self.origin;
        let state = std::mem::replace(&mut self.state, State::Done);
        self.state = match state {
            State::Done => return Err(TransferError("records after the closing SOA".into())),
            State::Start if is_soa => {
                self.first = Some(record);
                State::AfterFirst
            }
            State::Start => return Err(TransferError(format!("the answer starts with {} {}, not the zone's SOA", record.owner, record.rtype))),
            State::AfterFirst if is_soa => State::Deleting(ZoneDiff { old_soa: record.clone(), new_soa: record, deleted: Vec::new(), added: Vec::new() }),
            State::AfterFirst => {
                let first = self.first.clone().ok_or_else(|| TransferError("no first SOA".into()))?;
                self.records.push(first);
                self.records.push(record);
                State::Whole
            }
            State::Whole if is_soa => {
                if self.first.as_ref().is_some_and(|first| first.rdata == record.rdata) {
                    State::Done
                } else {
                    return Err(TransferError("the closing SOA differs from the opening one".into()));
                }
            }
            State::Whole => {
                self.records.push(record);
                State::Whole
            }
            State::Deleting(mut change) if is_soa => {
                change.new_soa = record;
                State::Adding(change)
            }
            State::Deleting(mut change) => {
                change.deleted.push(record);
                State::Deleting(change)
            }
            State::Adding(change) if is_soa => self.next_difference(change, record)?,
            State::Adding(mut change) => {
                change.added.push(record);
                State::Adding(change)
            }
        };
        Ok(())
    }

    /// An SOA after a difference's additions: the closing SOA when that difference ends at the
    /// primary's serial, else the next difference's old SOA.
    fn next_difference(&mut self, change: ZoneDiff, soa: ZoneRecord) -> Result<State, TransferError> {
        let last = self.first.as_ref().and_then(|first| soa_serial(&first.rdata));
        let ends_at_last = Some(change.new_serial()) == last;
        self.diffs.push(change);
        if ends_at_last {
            if self.first.as_ref().is_some_and(|first| first.rdata == soa.rdata) {
                return Ok(State::Done);
            }
            return Err(TransferError("the closing SOA differs from the opening one".into()));
        }
        Ok(State::Deleting(ZoneDiff { old_soa: soa.clone(), new_soa: soa, deleted: Vec::new(), added: Vec::new() }))
    }
}

#[cfg(test)]
#[path = "receive_ixfr_tests.rs"]
mod tests;
