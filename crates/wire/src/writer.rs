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
        let mark = self.mark();
        let result = self.write_name(qname.as_wire(), false).and_then(|()| self.write_fixed(&[qtype.0, qclass.0]));
        if result.is_ok() && mark.pos == HEADER_LEN && mark.entries == 0 && self.table.len() > 0 {
            self.question_len = qname.len();
        }
        self.commit(mark, result, 0)
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

    /// Writes the counts into the header and returns the message length.
    pub fn finish(self) -> usize {
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
mod tests {
    use super::*;
    use crate::message::{decompress_rdata, Message};

    fn name(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap()
    }

    #[test]
    fn rfc1035_4_1_4_compression_example() {
        // F.ISI.ARPA, FOO.F.ISI.ARPA, ARPA and the root, as in the RFC's figure.
        let mut buf = [0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.push_question(&name("F.ISI.ARPA."), Rtype::A, Class::IN).unwrap();
        writer.push(Section::Answer, &name("FOO.F.ISI.ARPA."), Rtype::A, Class::IN, 0, &[1, 2, 3, 4]).unwrap();
        writer.push(Section::Answer, &name("ARPA."), Rtype::A, Class::IN, 0, &[1, 2, 3, 4]).unwrap();
        writer.push(Section::Answer, &name("."), Rtype::A, Class::IN, 0, &[1, 2, 3, 4]).unwrap();
        let len = writer.finish();
        // FOO + pointer to offset 12
        assert_eq!(&buf[28..34], &[3, b'F', b'O', b'O', 0xC0, 12]);
        // ARPA: pointer to offset 12 + 6 (the ARPA label of the question)
        assert_eq!(&buf[48..50], &[0xC0, 18]);
        let message = Message::parse(&buf[..len]).unwrap();
        let owners: Vec<String> = message.records(Section::Answer).map(|r| r.owner.to_string()).collect();
        assert_eq!(owners, ["FOO.F.ISI.ARPA.", "ARPA.", "."]);
    }

    #[test]
    fn raw_records_copied_behind_the_same_question_decode_alike() {
        // The source: compressed records pointing into the question, then OPT last.
        let mut source = [0u8; 512];
        let mut writer = MessageWriter::new(&mut source, 512).unwrap();
        writer.push_question(&name("www.example."), Rtype::MX, Class::IN).unwrap();
        writer.push(Section::Answer, &name("www.example."), Rtype::MX, Class::IN, 60, &[0, 10, 4, b'm', b'a', b'i', b'l', 0xC0, 16]).unwrap();
        writer.push(Section::Authority, &name("example."), Rtype::NS, Class::IN, 60, &[2, b'n', b's', 0xC0, 16]).unwrap();
        writer.push(Section::Additional, &name("ns.example."), Rtype::A, Class::IN, 60, &[192, 0, 2, 1]).unwrap();
        writer.push_opt(1232, Rcode::NOERROR, false, &[]).unwrap();
        let len = writer.finish();
        let message = Message::parse(&source[..len]).unwrap();
        let records = message.records_before_opt().unwrap();
        assert_eq!(records.counts, [1, 1, 1], "OPT left out");
        // The copy: the same question in another case, then our own OPT.
        let mut copy = [0u8; 512];
        let mut writer = MessageWriter::new(&mut copy, 512).unwrap();
        writer.push_question(&name("WwW.ExAmple."), Rtype::MX, Class::IN).unwrap();
        writer.push_raw_records(&records).unwrap();
        writer.push_opt(512, Rcode::NOERROR, false, &[]).unwrap();
        let copy_len = writer.finish();
        let copied = Message::parse(&copy[..copy_len]).unwrap();
        for section in [Section::Answer, Section::Authority, Section::Additional] {
            let rdata = |m: &Message<'_>| -> Vec<(String, Rtype, Vec<u8>)> {
                m.records(section)
                    .filter(|r| r.rtype != Rtype::OPT)
                    .map(|r| {
                        let mut out = Vec::new();
                        decompress_rdata(m.bytes(), &r, &mut out).unwrap();
                        // Names pointing into the question take its case: equal names all the same.
                        (r.owner.to_string().to_lowercase(), r.rtype, out.to_ascii_lowercase())
                    })
                    .collect()
            };
            assert_eq!(rdata(&copied), rdata(&message), "{section:?}");
        }
        assert_eq!(copied.edns().map(|edns| edns.udp_size), Some(512), "our OPT, not theirs");
        // Anywhere but right behind a question at the same offset, or beyond the limit: refused.
        let mut other = [0u8; 512];
        let mut writer = MessageWriter::new(&mut other, 512).unwrap();
        writer.push_question(&name("example."), Rtype::MX, Class::IN).unwrap();
        assert!(writer.push_raw_records(&records).is_err(), "shorter question");
        let mut writer = MessageWriter::new(&mut other, records.start + records.bytes.len() - 1).unwrap();
        writer.push_question(&name("www.example."), Rtype::MX, Class::IN).unwrap();
        assert!(writer.push_raw_records(&records).is_err(), "over the limit");
        assert_eq!(writer.finish(), records.start, "left as it was");
    }

    #[test]
    fn an_owner_equal_to_the_question_points_at_it_in_any_case() {
        let mut buf = [0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.push_question(&name("WwW.Example."), Rtype::A, Class::IN).unwrap();
        let start = writer.len();
        writer.push(Section::Answer, &name("WwW.Example."), Rtype::A, Class::IN, 0, &[1, 2, 3, 4]).unwrap();
        writer.push(Section::Answer, &name("www.example."), Rtype::A, Class::IN, 0, &[1, 2, 3, 4]).unwrap();
        let len = writer.finish();
        assert_eq!(&buf[start..start + 2], &[0xC0, 12]);
        assert_eq!(&buf[start + 16..start + 18], &[0xC0, 12]);
        assert_eq!(len, start + 32);
    }

    #[test]
    fn a_rollback_before_the_question_forgets_it() {
        let mut buf = [0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        let mark = writer.mark();
        writer.push_question(&name("example."), Rtype::A, Class::IN).unwrap();
        writer.rollback(mark);
        writer.push(Section::Answer, &name("example."), Rtype::A, Class::IN, 0, &[1, 2, 3, 4]).unwrap();
        let len = writer.finish();
        assert_eq!(&buf[12..21], b"\x07example\x00");
        assert_eq!(len, 12 + 9 + 14);
    }

    #[test]
    fn records_are_all_or_nothing() {
        let mut buf = [0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 40).unwrap();
        writer.push_question(&name("example."), Rtype::TXT, Class::IN).unwrap();
        let before = writer.len();
        assert_eq!(writer.push(Section::Answer, &name("example."), Rtype::TXT, Class::IN, 0, &[30; 31]), Err(WriteError::NoSpace));
        assert_eq!(writer.len(), before);
        assert_eq!(writer.count(Section::Answer), 0);
    }

    #[test]
    fn rdata_names_are_compressed_for_rfc1035_types() {
        let mut buf = [0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.push_question(&name("example."), Rtype::MX, Class::IN).unwrap();
        let mut rdata = vec![0, 10];
        rdata.extend_from_slice(name("mail.example.").as_wire());
        writer.push(Section::Answer, &name("example."), Rtype::MX, Class::IN, 300, &rdata).unwrap();
        let len = writer.finish();
        assert_eq!(&buf[len - 11..len], &[0, 9, 0, 10, 4, b'm', b'a', b'i', b'l', 0xC0, 12][..]);
    }
}

/// parse → write → parse: any message the writer builds parses back to the same records.
#[cfg(test)]
mod round_trip {
    use super::*;
    use crate::message::{decompress_rdata, Message};
    use proptest::prelude::*;

    fn label() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-zA-Z0-9-]{1,12}").expect("valid regex")
    }

    fn name() -> impl Strategy<Value = NameBuf> {
        proptest::collection::vec(label(), 0..4).prop_map(|labels| {
            let text = if labels.is_empty() { ".".to_string() } else { format!("{}.example.", labels.join(".")) };
            NameBuf::from_text(&text, None).expect("generated names are valid")
        })
    }

    /// (type, rdata) pairs of a few layouts, names inside compressible ones.
    fn record() -> impl Strategy<Value = (NameBuf, Rtype, u32, Vec<u8>)> {
        let rdata = prop_oneof![
            proptest::collection::vec(any::<u8>(), 4).prop_map(|b| (Rtype::A, b)),
            proptest::collection::vec(any::<u8>(), 16).prop_map(|b| (Rtype::AAAA, b)),
            name().prop_map(|n| (Rtype::NS, n.as_wire().to_vec())),
            name().prop_map(|n| (Rtype::CNAME, n.as_wire().to_vec())),
            (any::<u16>(), name()).prop_map(|(p, n)| {
                let mut b = p.to_be_bytes().to_vec();
                b.extend_from_slice(n.as_wire());
                (Rtype::MX, b)
            }),
            proptest::collection::vec(any::<u8>(), 1..200).prop_map(|mut b| {
                b[0] = (b.len() - 1) as u8;
                (Rtype::TXT, b)
            }),
        ];
        (name(), rdata, any::<u32>()).prop_map(|(owner, (rtype, rdata), ttl)| (owner, rtype, ttl, rdata))
    }

    proptest! {
        #[test]
        fn written_messages_parse_back_identically(question in name(), records in proptest::collection::vec(record(), 0..30)) {
            let mut buf = vec![0u8; 65_535];
            let mut writer = MessageWriter::new(&mut buf, 65_535).expect("buffer holds a header");
            writer.set_header(0x4242, Flags { qr: true, aa: true, ..Flags::default() });
            writer.push_question(&question, Rtype::A, Class::IN).expect("question fits");
            for (owner, rtype, ttl, rdata) in &records {
                writer.push(Section::Answer, owner, *rtype, Class::IN, *ttl, rdata).expect("fits in 64 KiB");
            }
            let len = writer.finish();
            let message = Message::parse(&buf[..len]).expect("what we write parses");
            let echoed = message.question().map(|q| q.qname.as_wire().to_vec());
            prop_assert_eq!(echoed.as_deref(), Some(question.as_wire()), "the question keeps its case");
            let parsed: Vec<_> = message.records(Section::Answer).collect();
            prop_assert_eq!(parsed.len(), records.len());
            for (record, (owner, rtype, ttl, rdata)) in parsed.iter().zip(&records) {
                let mut expanded = Vec::new();
                decompress_rdata(message.bytes(), record, &mut expanded).expect("rdata expands");
                // Compression matches names case-insensitively (as NSD and Knot do), so a name may
                // take the case of an earlier one it points to: compare ignoring ASCII case.
                prop_assert_eq!(&record.owner, owner);
                prop_assert_eq!((record.rtype, record.ttl), (*rtype, *ttl));
                if rtype.has_compressible_names() {
                    prop_assert!(expanded.eq_ignore_ascii_case(rdata));
                } else {
                    prop_assert_eq!(&expanded, rdata);
                }
            }
        }

        /// `push_rrset` writes the same bytes as one `push` per record, rollbacks included.
        #[test]
        fn push_rrset_matches_push_per_record(
            question in name(),
            rrsets in proptest::collection::vec((record(), 1..4usize), 0..40),
            limit in 60..2000usize,
        ) {
            let mut one = vec![0u8; 65_535];
            let mut each = vec![0u8; 65_535];
            let mut by_rrset = MessageWriter::new(&mut one, limit).expect("buffer holds a header");
            let mut by_record = MessageWriter::new(&mut each, limit).expect("buffer holds a header");
            let _ = by_rrset.push_question(&question, Rtype::A, Class::IN);
            let _ = by_record.push_question(&question, Rtype::A, Class::IN);
            for ((owner, rtype, ttl, rdata), copies) in &rrsets {
                let rdatas = vec![rdata.as_slice(); *copies];
                let whole = by_rrset.push_rrset(Section::Answer, owner, *rtype, Class::IN, *ttl, rdatas.iter().copied());
                let mark = by_record.mark();
                let mut single = Ok(());
                for rdata in &rdatas {
                    single = single.and_then(|()| by_record.push(Section::Answer, owner, *rtype, Class::IN, *ttl, rdata));
                }
                if single.is_err() {
                    by_record.rollback(mark);
                }
                prop_assert_eq!(whole, single);
            }
            let (len_one, len_each) = (by_rrset.finish(), by_record.finish());
            prop_assert_eq!(&one[..len_one], &each[..len_each]);
        }
    }
}
