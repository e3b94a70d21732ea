//! [`MessageWriter`]: builds a message into the caller's buffer, with name compression (RFC 1035
//! §4.1.4), sections in order, and all-or-nothing pushes: a record or RRset that does not fit
//! leaves the message exactly as it was, so the caller can set TC and finish.
//!
//! The compression table (`compress.rs`) is an inline array; nothing here allocates.

use crate::compress::{uncompressed_len, Table};
use crate::error::WriteError;
use crate::header::{Flags, HEADER_LEN};
use crate::message::{RawRecords, Section};
use crate::name::NameBuf;
use crate::types::{Class, Rcode, Rtype};

/// A position in the message to roll back to.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    pos: usize,
    counts: [u16; 4],
    entries: usize,
}

/// How the owner of an RRset's first record was written, for the records after it.
#[derive(Clone, Copy)]
enum OwnerBytes {
    /// A pointer to where the first owner starts.
    Pointer(u16),
    /// The same bytes again (a pointer, or a name the table has no room for, or the root).
    Copy(usize, usize),
}

/// Writes a message into a borrowed buffer.
pub struct MessageWriter<'b> {
    buf: &'b mut [u8],
    limit: usize,
    pos: usize,
    section: usize,
    counts: [u16; 4],
    table: Table,
    /// Wire length of the question name written at offset 12 and remembered as the first
    /// compression entry; 0 when there is none.
    question_len: usize,
}

impl<'b> MessageWriter<'b> {
    /// Starts a message in `buf`; it will not grow beyond `limit` bytes (nor the buffer).
    #[inline]
    pub fn new(buf: &'b mut [u8], limit: usize) -> Result<Self, WriteError> {
        let limit = limit.min(buf.len()).min(65_535);
        if limit < HEADER_LEN {
            return Err(WriteError::NoSpace);
        }
        buf[..HEADER_LEN].fill(0);
        Ok(Self { buf, limit, pos: HEADER_LEN, section: 0, counts: [0; 4], table: Table::new(), question_len: 0 })
    }

    /// Sets the ID and flags.
    pub fn set_header(&mut self, id: u16, flags: Flags) {
        self.buf[..2].copy_from_slice(&id.to_be_bytes());
        self.buf[2..4].copy_from_slice(&flags.to_bytes());
    }

    /// Sets or clears TC.
    pub fn set_tc(&mut self, tc: bool) {
        self.buf[2] = (self.buf[2] & !0x02) | (u8::from(tc) << 1);
    }

    /// Sets or clears AA.
    pub fn set_aa(&mut self, aa: bool) {
        self.buf[2] = (self.buf[2] & !0x04) | (u8::from(aa) << 2);
    }

    /// Sets or clears AD (RFC 4035 §3.2.3: the answer is authenticated).
    pub fn set_ad(&mut self, ad: bool) {
        self.buf[3] = (self.buf[3] & !0x20) | (u8::from(ad) << 5);
    }

    /// Sets the low bits of the rcode.
    pub fn set_rcode(&mut self, rcode: Rcode) {
        crate::header::set_rcode(self.buf, rcode);
    }

    /// Changes the size limit (e.g. to make room for OPT at the end); never beyond the buffer.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.min(self.buf.len()).min(65_535).max(self.pos);
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.pos
    }

    /// True when only the header is written.
    pub fn is_empty(&self) -> bool {
        self.pos == HEADER_LEN
    }

    /// Records in a section so far.
    pub fn count(&self, section: Section) -> u16 {
        self.counts[section as usize + 1]
    }

    /// A rollback point.
    pub fn mark(&self) -> Mark {
        Mark { pos: self.pos, counts: self.counts, entries: self.table.len() }
    }

    /// Returns to a rollback point taken in the same section or an earlier one.
    pub fn rollback(&mut self, mark: Mark) {
        self.pos = mark.pos;
        self.counts = mark.counts;
        self.table.truncate(mark.entries);
        if mark.entries == 0 {
            self.question_len = 0;
        }
    }

    /// Appends a question; the name is written as given (case kept) and remembered for compression.
    pub fn push_question(&mut self, qname: &NameBuf, qtype: Rtype, qclass: Class) -> Result<(), WriteError> {
        if self.section != 0 {
            return Err(WriteError::NoSpace);
        }
        if self.pos == HEADER_LEN && self.table.len() == 0 {
            return self.push_first_question(qname.as_wire(), qtype, qclass);
        }
        // A later question (only the first one, above, can be the name `question_len` marks).
        let mark = self.mark();
        let result = self.write_name(qname.as_wire(), false).and_then(|()| self.write_fixed(&[qtype.0, qclass.0]));
        self.commit(mark, result, 0)
    }

    /// The first question of a message (every reply's): what the general path writes and
    /// remembers, with one bounds check for name, type and class; nothing changes when it does
    /// not fit.
    fn push_first_question(&mut self, wire: &[u8], qtype: Rtype, qclass: Class) -> Result<(), WriteError> {
        let end = HEADER_LEN + wire.len() + 4;
        if end > self.limit {
            return Err(WriteError::NoSpace);
        }
        let out = &mut self.buf[HEADER_LEN..end];
        let (name, fixed) = out.split_at_mut(wire.len());
        name.copy_from_slice(wire);
        fixed[..2].copy_from_slice(&qtype.0.to_be_bytes());
        fixed[2..].copy_from_slice(&qclass.0.to_be_bytes());
        self.pos = end;
        self.table.remember(HEADER_LEN, wire, wire.len().saturating_sub(1));
        if self.table.len() > 0 {
            self.question_len = wire.len();
        }
        self.counts[0] = self.counts[0].saturating_add(1);
        Ok(())
    }

    /// Forgets every name written so far for compression: later names point only at names
    /// written after this (a zone transfer keeps the zone's case, not the question's).
    pub fn forget_names(&mut self) {
        self.table.truncate(0);
        self.question_len = 0;
    }

    /// Moves to `section`; sections only move forward.
    pub fn enter(&mut self, section: Section) {
        self.section = self.section.max(section as usize + 1);
    }

    /// Appends one record to `section`, compressing the owner and the names of RFC 1035 types.
    pub fn push(&mut self, section: Section, owner: &NameBuf, rtype: Rtype, class: Class, ttl: u32, rdata: &[u8]) -> Result<(), WriteError> {
        self.enter(section);
        if self.section != section as usize + 1 {
            return Err(WriteError::NoSpace);
        }
        let mark = self.mark();
        let result = self.write_record(owner, rtype, class, ttl, rdata);
        self.commit(mark, result, self.section)
    }

    /// Appends a whole RRset to `section` (one record per rdata) or nothing: the owner is
    /// compressed once and repeated as the same bytes (the same choice `push` makes per record).
    pub fn push_rrset<'r>(
        &mut self,
        section: Section,
        owner: &NameBuf,
        rtype: Rtype,
        class: Class,
        ttl: u32,
        rdatas: impl IntoIterator<Item = &'r [u8]>,
    ) -> Result<(), WriteError> {
        self.enter(section);
        if self.section != section as usize + 1 {
            return Err(WriteError::NoSpace);
        }
        let mark = self.mark();
        let mut owner_at = None;
        for rdata in rdatas {
            let result = self.write_rrset_record(owner, &mut owner_at, rtype, class, ttl, rdata);
            if let Err(error) = result {
                self.rollback(mark);
                return Err(error);
            }
            self.counts[self.section] = self.counts[self.section].saturating_add(1);
        }
        Ok(())
    }

    /// Appends records copied as they are from another message (see
    /// [`Message::records_before_opt`](crate::message::Message::records_before_opt)), right after
    /// a question that sits at the same offset as in that message, so that their compression
    /// pointers, which only point backwards, land on the same bytes here. The caller checks that
    /// the two questions are the same bytes but for case. Only OPT may follow.
    pub fn push_raw_records(&mut self, records: &RawRecords<'_>) -> Result<(), WriteError> {
        let end = self.pos + records.bytes.len();
        if self.section != 0 || self.pos != records.start || end > self.limit {
            return Err(WriteError::NoSpace);
        }
        self.buf[self.pos..end].copy_from_slice(records.bytes);
        self.pos = end;
        self.counts[1..].copy_from_slice(&records.counts);
        self.section = Section::Additional as usize + 1;
        Ok(())
    }

    /// Appends the OPT record (RFC 6891 §6.1.2) to the additional section, ignoring the limit but
    /// not the buffer's size.
    pub fn push_opt(&mut self, udp_size: u16, rcode: Rcode, dnssec_ok: bool, options: &[(u16, &[u8])]) -> Result<(), WriteError> {
        self.enter(Section::Additional);
        let saved_limit = self.limit;
        self.limit = self.buf.len().min(65_535);
        let mark = self.mark();
        let ttl = u32::from_be_bytes([rcode.extended_bits(), 0, if dnssec_ok { 0x80 } else { 0 }, 0]);
        let result = self.write_opt(udp_size, ttl, options);
        self.limit = saved_limit;
        self.commit(mark, result, 3)
    }

    /// Appends a TSIG record (RFC 8945 §4.2) of `key`, always the last record of a message: the
    /// key name is written uncompressed, as the MAC covers it.
    pub fn push_tsig(&mut self, key: &NameBuf, rdata: &[u8]) -> Result<(), WriteError> {
        self.enter(Section::Additional);
        let mark = self.mark();
        let result = self.write_name(key.as_wire(), false).and_then(|()| self.write_plain_body(Rtype::TSIG, Class::ANY, 0, rdata));
        self.commit(mark, result, 3)
    }

    /// Writes the counts into the header and returns the message length.
    pub fn finish(mut self) -> usize {
        self.write_counts()
    }

    /// Writes the counts into the header and returns the message length, in place: what
    /// [`MessageWriter::finish`] does without moving the writer (it is a few hundred bytes).
    #[inline]
    pub fn write_counts(&mut self) -> usize {
        for (index, count) in self.counts.iter().enumerate() {
            self.buf[4 + 2 * index..6 + 2 * index].copy_from_slice(&count.to_be_bytes());
        }
        self.pos
    }

    /// The bytes written so far (header counts not yet filled in).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.pos]
    }

    fn commit(&mut self, mark: Mark, result: Result<(), WriteError>, counter: usize) -> Result<(), WriteError> {
        match result {
            Ok(()) => {
                self.counts[counter] = self.counts[counter].saturating_add(1);
                Ok(())
            }
            Err(error) => {
                self.rollback(mark);
                Err(error)
            }
        }
    }

    fn write_record(&mut self, owner: &NameBuf, rtype: Rtype, class: Class, ttl: u32, rdata: &[u8]) -> Result<(), WriteError> {
        self.write_name(owner.as_wire(), true)?;
        self.write_record_body(rtype, class, ttl, rdata)
    }

    /// One record of an RRset: the first writes the owner, the others repeat what it became.
    fn write_rrset_record(
        &mut self,
        owner: &NameBuf,
        owner_at: &mut Option<OwnerBytes>,
        rtype: Rtype,
        class: Class,
        ttl: u32,
        rdata: &[u8],
    ) -> Result<(), WriteError> {
        match *owner_at {
            Some(OwnerBytes::Pointer(target)) => self.write_bytes(&(0xC000 | target).to_be_bytes())?,
            Some(OwnerBytes::Copy(start, end)) => self.copy_earlier(start, end)?,
            None => {
                let start = self.pos;
                let entries = self.table.len();
                self.write_name(owner.as_wire(), true)?;
                // A search for the same name would find the entry made here for its first label
                // (always the first one made), else the same suffix this search found.
                *owner_at = Some(if self.table.len() > entries { OwnerBytes::Pointer(start as u16) } else { OwnerBytes::Copy(start, self.pos) });
            }
        }
        self.write_record_body(rtype, class, ttl, rdata)
    }

    fn write_record_body(&mut self, rtype: Rtype, class: Class, ttl: u32, rdata: &[u8]) -> Result<(), WriteError> {
        if !rtype.has_compressible_names() {
            return self.write_plain_body(rtype, class, ttl, rdata);
        }
        self.write_fixed(&[rtype.0, class.0])?;
        self.write_bytes(&ttl.to_be_bytes())?;
        let length_at = self.pos;
        self.write_bytes(&[0, 0])?;
        self.write_compressed_rdata(rtype, rdata)?;
        let rdlength = u16::try_from(self.pos - length_at - 2).map_err(|_| WriteError::NoSpace)?;
        self.buf[length_at..length_at + 2].copy_from_slice(&rdlength.to_be_bytes());
        Ok(())
    }

    /// Type, class, TTL, length and rdata copied as they are: one bounds check, one copy.
    fn write_plain_body(&mut self, rtype: Rtype, class: Class, ttl: u32, rdata: &[u8]) -> Result<(), WriteError> {
        let end = self.pos + 10 + rdata.len();
        let Ok(rdlength) = u16::try_from(rdata.len()) else { return Err(WriteError::NoSpace) };
        if end > self.limit {
            return Err(WriteError::NoSpace);
        }
        let out = &mut self.buf[self.pos..end];
        out[..2].copy_from_slice(&rtype.0.to_be_bytes());
        out[2..4].copy_from_slice(&class.0.to_be_bytes());
        out[4..8].copy_from_slice(&ttl.to_be_bytes());
        out[8..10].copy_from_slice(&rdlength.to_be_bytes());
        out[10..].copy_from_slice(rdata);
        self.pos = end;
        Ok(())
    }

    /// Writes rdata of an RFC 1035 type, compressing its names; falls back to a verbatim copy
    /// when the rdata does not follow the type's layout.
    fn write_compressed_rdata(&mut self, rtype: Rtype, rdata: &[u8]) -> Result<(), WriteError> {
        let (prefix, names) = match rtype {
            Rtype::MX => (2, 1),
            Rtype::SOA | Rtype::MINFO => (0, 2),
            _ => (0, 1),
        };
        let Some(head) = rdata.get(..prefix) else { return self.write_bytes(rdata) };
        let mut ends = [prefix; 3];
        for index in 0..names {
            let Some(len) = uncompressed_len(rdata, ends[index]) else { return self.write_bytes(rdata) };
            ends[index + 1] = ends[index] + len;
        }
        self.write_bytes(head)?;
        for index in 0..names {
            self.write_name(&rdata[ends[index]..ends[index + 1]], true)?;
        }
        self.write_bytes(&rdata[ends[names]..])
    }

    fn write_opt(&mut self, udp_size: u16, ttl: u32, options: &[(u16, &[u8])]) -> Result<(), WriteError> {
        if options.is_empty() {
            // The usual OPT: root owner, type, payload size, TTL, no rdata; one piece.
            let [s0, s1] = udp_size.to_be_bytes();
            let [t0, t1, t2, t3] = ttl.to_be_bytes();
            let [o0, o1] = Rtype::OPT.0.to_be_bytes();
            return self.write_bytes(&[0, o0, o1, s0, s1, t0, t1, t2, t3, 0, 0]);
        }
        self.write_bytes(&[0])?;
        self.write_fixed(&[Rtype::OPT.0, udp_size])?;
        self.write_bytes(&ttl.to_be_bytes())?;
        let total: usize = options.iter().map(|(_, data)| 4 + data.len()).sum();
        self.write_fixed(&[u16::try_from(total).map_err(|_| WriteError::NoSpace)?])?;
        for (code, data) in options {
            self.write_fixed(&[*code, u16::try_from(data.len()).map_err(|_| WriteError::NoSpace)?])?;
            self.write_bytes(data)?;
        }
        Ok(())
    }

    /// Writes a checked uncompressed name, pointing at the longest suffix already in the message
    /// when `compress`, and remembers its labels.
    fn write_name(&mut self, wire: &[u8], compress: bool) -> Result<(), WriteError> {
        let (literal_len, pointer) = match compress {
            // The question's own name (an answer's usual owner): the table's first entry holds
            // it, so the search would end there.
            true if self.is_question_name(wire) => {
                debug_assert_eq!(self.table.find(self.buf, wire), (0, Some(HEADER_LEN as u16)));
                (0, Some(HEADER_LEN as u16))
            }
            true => self.table.find(self.buf, wire),
            false => (wire.len(), None),
        };
        let start = self.pos;
        match pointer {
            Some(target) => {
                self.write_bytes(&wire[..literal_len])?;
                self.write_bytes(&(0xC000 | target).to_be_bytes())?;
            }
            None => self.write_bytes(wire)?,
        }
        self.table.remember(start, wire, literal_len.min(wire.len().saturating_sub(1)));
        Ok(())
    }

    /// True when `wire` is, octet for octet, the question name at offset 12.
    fn is_question_name(&self, wire: &[u8]) -> bool {
        self.question_len == wire.len() && self.buf.get(HEADER_LEN..HEADER_LEN + wire.len()) == Some(wire)
    }

    /// Appends a copy of the bytes `start..end` already written.
    fn copy_earlier(&mut self, start: usize, end: usize) -> Result<(), WriteError> {
        let to = self.pos + (end - start);
        if to > self.limit {
            return Err(WriteError::NoSpace);
        }
        self.buf.copy_within(start..end, self.pos);
        self.pos = to;
        Ok(())
    }

    fn write_fixed(&mut self, values: &[u16]) -> Result<(), WriteError> {
        for value in values {
            self.write_bytes(&value.to_be_bytes())?;
        }
        Ok(())
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        let end = self.pos + bytes.len();
        if end > self.limit {
            return Err(WriteError::NoSpace);
        }
        self.buf[self.pos..end].copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests;

/// parse → write → parse: any message the writer builds parses back to the same records.
#[cfg(test)]
mod round_trip;
