//! [`MessageWriter`]: builds a message into the caller's buffer, with name compression (RFC 1035
//! §4.1.4), sections in order, and all-or-nothing pushes: a record or RRset that does not fit
//! leaves the message exactly as it was, so the caller can set TC and finish.
//!
//! The compression table is an inline array; nothing here allocates.

use crate::error::WriteError;
use crate::header::{Flags, HEADER_LEN};
use crate::message::Section;
use crate::name::NameBuf;
use crate::types::{Class, Rcode, Rtype};

/// Label offsets remembered for compression.
const COMPRESSION_ENTRIES: usize = 96;

/// A position in the message to roll back to.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    pos: usize,
    counts: [u16; 4],
    entries: usize,
}

/// Writes a message into a borrowed buffer.
pub struct MessageWriter<'b> {
    buf: &'b mut [u8],
    limit: usize,
    pos: usize,
    section: usize,
    counts: [u16; 4],
    entries: [u16; COMPRESSION_ENTRIES],
    entry_count: usize,
}

impl<'b> MessageWriter<'b> {
    /// Starts a message in `buf`; it will not grow beyond `limit` bytes (nor the buffer).
    pub fn new(buf: &'b mut [u8], limit: usize) -> Result<Self, WriteError> {
        let limit = limit.min(buf.len()).min(65_535);
        if limit < HEADER_LEN {
            return Err(WriteError::NoSpace);
        }
        buf[..HEADER_LEN].fill(0);
        Ok(Self { buf, limit, pos: HEADER_LEN, section: 0, counts: [0; 4], entries: [0; COMPRESSION_ENTRIES], entry_count: 0 })
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
        Mark { pos: self.pos, counts: self.counts, entries: self.entry_count }
    }

    /// Returns to a rollback point taken in the same section or an earlier one.
    pub fn rollback(&mut self, mark: Mark) {
        self.pos = mark.pos;
        self.counts = mark.counts;
        self.entry_count = mark.entries;
    }

    /// Appends a question; the name is written as given (case kept) and remembered for compression.
    pub fn push_question(&mut self, qname: &NameBuf, qtype: Rtype, qclass: Class) -> Result<(), WriteError> {
        if self.section != 0 {
            return Err(WriteError::NoSpace);
        }
        let mark = self.mark();
        let result = self.write_name(qname, false).and_then(|()| self.write_fixed(&[qtype.0, qclass.0]));
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
        self.write_name(owner, true)?;
        self.write_fixed(&[rtype.0, class.0])?;
        self.write_bytes(&ttl.to_be_bytes())?;
        let length_at = self.pos;
        self.write_bytes(&[0, 0])?;
        if rtype.has_compressible_names() {
            self.write_compressed_rdata(rtype, rdata)?;
        } else {
            self.write_bytes(rdata)?;
        }
        let rdlength = u16::try_from(self.pos - length_at - 2).map_err(|_| WriteError::NoSpace)?;
        self.buf[length_at..length_at + 2].copy_from_slice(&rdlength.to_be_bytes());
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
        let mut parsed = [NameBuf::ROOT; 2];
        let mut pos = prefix;
        for slot in parsed.iter_mut().take(names) {
            let Ok((name, next)) = NameBuf::parse_uncompressed(rdata, pos) else { return self.write_bytes(rdata) };
            *slot = name;
            pos = next;
        }
        self.write_bytes(head)?;
        for name in parsed.iter().take(names) {
            self.write_name(name, true)?;
        }
        self.write_bytes(&rdata[pos..])
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

    /// Writes a name, pointing at the longest suffix already in the message when `compress`.
    fn write_name(&mut self, name: &NameBuf, compress: bool) -> Result<(), WriteError> {
        let wire = name.as_wire();
        let (literal_len, pointer) = if compress { self.find_suffix(name) } else { (wire.len(), None) };
        let start = self.pos;
        match pointer {
            Some(target) => {
                self.write_bytes(&wire[..literal_len])?;
                self.write_bytes(&(0xC000 | target).to_be_bytes())?;
            }
            None => self.write_bytes(wire)?,
        }
        self.remember_labels(start, &wire[..literal_len.min(wire.len().saturating_sub(1))]);
        Ok(())
    }

    /// The length of the literal prefix and the pointer target for the longest known suffix.
    fn find_suffix(&self, name: &NameBuf) -> (usize, Option<u16>) {
        let wire = name.as_wire();
        let mut offset = 0;
        while offset + 1 < wire.len() {
            let suffix = &wire[offset..];
            let found = self.entries[..self.entry_count].iter().find(|&&entry| self.name_at_equals(usize::from(entry), suffix));
            if let Some(&entry) = found {
                return (offset, Some(entry));
            }
            offset += 1 + usize::from(wire[offset]);
        }
        (wire.len(), None)
    }

    /// Case-insensitive comparison of the (possibly compressed) name at `at` with `suffix`.
    fn name_at_equals(&self, mut at: usize, suffix: &[u8]) -> bool {
        let mut index = 0;
        for _ in 0..255 {
            let Some(&len) = self.buf.get(at) else { return false };
            if len & 0xC0 == 0xC0 {
                let Some(&low) = self.buf.get(at + 1) else { return false };
                at = (usize::from(len & 0x3F) << 8) | usize::from(low);
                continue;
            }
            let end = at + 1 + usize::from(len);
            let (Some(mine), Some(theirs)) = (self.buf.get(at..end), suffix.get(index..index + 1 + usize::from(len))) else { return false };
            if !mine.eq_ignore_ascii_case(theirs) {
                return false;
            }
            if len == 0 {
                return true;
            }
            index += 1 + usize::from(len);
            at = end;
        }
        false
    }

    fn remember_labels(&mut self, start: usize, literal: &[u8]) {
        let mut offset = 0;
        while offset < literal.len() && self.entry_count < COMPRESSION_ENTRIES {
            let Ok(at) = u16::try_from(start + offset) else { return };
            if at >= 0x4000 {
                return;
            }
            self.entries[self.entry_count] = at;
            self.entry_count += 1;
            offset += 1 + usize::from(literal[offset]);
        }
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
    use crate::message::Message;

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
    }
}
