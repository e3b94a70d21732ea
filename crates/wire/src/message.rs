//! Checked views of whole received messages (RFC 1035 §4.1) and the server's query view.
//!
//! [`Message::parse`] walks every section once and checks names (RFC 9267 compression rules),
//! record lengths, counts against data, trailing bytes, the place of OPT and TSIG (RFC 6891
//! §6.1.1, RFC 8945 §5.1) and names inside compressible rdata. After it succeeds the accessors
//! cannot fail. Nothing is allocated.

use crate::edns::Edns;
use crate::error::{ParseError, ParseErrorKind};
use crate::header::{Header, HEADER_LEN};
use crate::name::NameBuf;
use crate::types::{Class, Opcode, Rtype};

/// The sections that carry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// Answer.
    Answer = 0,
    /// Authority.
    Authority = 1,
    /// Additional.
    Additional = 2,
}

/// A question, copied out of the message (the name keeps its case).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    /// The name asked about.
    pub qname: NameBuf,
    /// The type asked for.
    pub qtype: Rtype,
    /// The class asked for.
    pub qclass: Class,
}

/// One record: owner decompressed, rdata borrowed (possibly compressed, see [`decompress_rdata`]).
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Owner name.
    pub owner: NameBuf,
    /// Type.
    pub rtype: Rtype,
    /// Class (for OPT: the UDP payload size).
    pub class: Class,
    /// TTL (for OPT: extended rcode, version, flags).
    pub ttl: u32,
    /// Rdata as found in the message.
    pub rdata: &'a [u8],
    /// Offset of the rdata in the message (needed to follow compression pointers).
    pub rdata_offset: usize,
    /// Offset of the owner name in the message.
    pub offset: usize,
}

/// Records of a message as raw bytes (see [`Message::records_before_opt`]): their compression
/// pointers refer to the message they come from.
#[derive(Clone, Copy, Debug)]
pub struct RawRecords<'a> {
    /// Where the records start in their message.
    pub start: usize,
    /// The records.
    pub bytes: &'a [u8],
    /// Answer, authority and additional counts.
    pub counts: [u16; 3],
}

/// A checked message.
#[derive(Clone, Copy)]
pub struct Message<'a> {
    bytes: &'a [u8],
    header: Header<'a>,
    question_start: usize,
    section_starts: [usize; 3],
    edns: Option<Edns<'a>>,
    /// Offset of the TSIG record, when present (always the last record).
    tsig_offset: Option<usize>,
    /// Offset of the OPT record, when present.
    opt_offset: Option<usize>,
}

impl core::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Message(id {}, {} bytes)", self.header.id(), self.bytes.len())
    }
}

impl<'a> Message<'a> {
    /// Checks `bytes` as a whole message.
    #[inline]
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ParseError> {
        let (header, _) = Header::split(bytes)?;
        if let Some(message) = Self::parse_query(bytes, header) {
            return Ok(message);
        }
        Self::parse_sections(bytes, header)
    }

    /// The usual query (one question, no answer or authority record, at most an OPT record in
    /// the additional section) checked in one straight pass, by the same rules as
    /// [`Self::parse_sections`]; `None` for any other shape and for any fault, which the general
    /// walk then reports with its offset.
    #[inline]
    fn parse_query(bytes: &'a [u8], header: Header<'a>) -> Option<Self> {
        if header.qdcount() != 1 || header.ancount() != 0 || header.nscount() != 0 || header.arcount() > 1 {
            return None;
        }
        let (pos, _) = skip_question(bytes, HEADER_LEN).ok()?;
        let mut message = Self { bytes, header, question_start: HEADER_LEN, section_starts: [pos; 3], edns: None, tsig_offset: None, opt_offset: None };
        if header.arcount() == 0 {
            return (pos == bytes.len()).then_some(message);
        }
        let record = read_raw_record(bytes, pos).ok()?;
        if record.rtype != Rtype::OPT || !record.owner_is_root || record.rdata_offset + record.rdata.len() != bytes.len() {
            return None;
        }
        message.edns = Some(Edns::parse(record.class.0, record.ttl, record.rdata, record.rdata_offset).ok()?);
        message.opt_offset = Some(record.offset);
        Some(message)
    }

    /// Every section walked record by record: the general case of [`Self::parse`].
    fn parse_sections(bytes: &'a [u8], header: Header<'a>) -> Result<Self, ParseError> {
        let mut pos = HEADER_LEN;
        let mut qclass = None;
        for _ in 0..header.qdcount() {
            let (next, class) = skip_question(bytes, pos)?;
            qclass.get_or_insert(class);
            pos = next;
        }
        let mut message = Self { bytes, header, question_start: HEADER_LEN, section_starts: [pos; 3], edns: None, tsig_offset: None, opt_offset: None };
        let counts = [header.ancount(), header.nscount(), header.arcount()];
        let checks = RecordChecks { opcode: header.opcode(), qclass, record_class: core::cell::Cell::new(None) };
        for (index, count) in counts.into_iter().enumerate() {
            message.section_starts[index] = pos;
            for remaining in (0..count).rev() {
                let record = read_raw_record(bytes, pos)?;
                pos = record.rdata_offset + record.rdata.len();
                checks.check(&record, index, remaining == 0, &mut message)?;
            }
        }
        if pos != bytes.len() {
            return Err(ParseError::new(pos, ParseErrorKind::TrailingData));
        }
        Ok(message)
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The header.
    pub fn header(&self) -> Header<'a> {
        self.header
    }

    /// The questions, in order.
    #[inline(always)]
    pub fn questions(&self) -> impl Iterator<Item = Question> + 'a {
        let bytes = self.bytes;
        let mut pos = self.question_start;
        (0..self.header().qdcount()).map_while(move |_| {
            let (question, next) = read_question(bytes, pos).ok()?;
            pos = next;
            Some(question)
        })
    }

    /// The first question, if any.
    #[inline(always)]
    pub fn question(&self) -> Option<Question> {
        self.questions().next()
    }

    /// [`Message::question`] read into `slot` (the name copied once, straight from the message):
    /// true when there is one; on false `slot` is unspecified.
    #[inline(always)]
    pub fn question_into(&self, slot: &mut Question) -> bool {
        if self.header.qdcount() == 0 {
            return false;
        }
        let Ok(pos) = slot.qname.parse_compressed_into(self.bytes, self.question_start) else { return false };
        let Some(fixed) = self.bytes.get(pos..pos + 4) else { return false };
        slot.qtype = Rtype(u16::from_be_bytes([fixed[0], fixed[1]]));
        slot.qclass = Class(u16::from_be_bytes([fixed[2], fixed[3]]));
        true
    }

    /// The raw bytes of the question section.
    pub fn question_bytes(&self) -> &'a [u8] {
        &self.bytes[self.question_start..self.section_starts[0]]
    }

    /// The records of one section (OPT included in the additional section).
    pub fn records(&self, section: Section) -> impl Iterator<Item = Record<'a>> + 'a {
        let header = self.header();
        let count = [header.ancount(), header.nscount(), header.arcount()][section as usize];
        let bytes = self.bytes;
        let mut pos = self.section_starts[section as usize];
        (0..count).map_while(move |_| {
            let record = read_record(bytes, pos).ok()?;
            pos = record.rdata_offset + record.rdata.len();
            Some(record)
        })
    }

    /// The OPT record's view, when present.
    pub fn edns(&self) -> Option<Edns<'a>> {
        self.edns
    }

    /// The OPT record's content, borrowed: [`Message::edns`] without copying it.
    #[inline]
    pub fn edns_ref(&self) -> Option<&Edns<'a>> {
        self.edns.as_ref()
    }

    /// Offset of the TSIG record, when present.
    pub fn tsig_offset(&self) -> Option<usize> {
        self.tsig_offset
    }

    /// The records after the question section as raw bytes, with the section counts: every
    /// record when there is no OPT record, else those before it, provided it is the last record.
    /// None when a TSIG record signs the message, or an OPT record is followed by others.
    pub fn records_before_opt(&self) -> Option<RawRecords<'a>> {
        if self.tsig_offset.is_some() {
            return None;
        }
        let header = self.header();
        let start = self.section_starts[0];
        let (end, opt) = match self.opt_offset {
            None => (self.bytes.len(), 0),
            Some(at) => {
                let record = read_raw_record(self.bytes, at).ok()?;
                if record.rdata_offset + record.rdata.len() != self.bytes.len() {
                    return None;
                }
                (at, 1)
            }
        };
        let counts = [header.ancount(), header.nscount(), header.arcount() - opt];
        Some(RawRecords { start, bytes: self.bytes.get(start..end)?, counts })
    }

    /// The full rcode: header bits plus the OPT extension.
    pub fn rcode(&self) -> crate::types::Rcode {
        let high = self.edns.map_or(0, |e| u16::from(e.extended_rcode)) << 4;
        crate::types::Rcode(high | u16::from(self.header().rcode_bits()))
    }

    /// A reply without a question that may still answer a query: an error (FORMERR, NOTIMP,
    /// SERVFAIL, REFUSED) with no answer or authority records, from a server that could not read
    /// the question. Any other question-less reply matches no query (RFC 5452 §9.1).
    pub fn is_bare_error(&self) -> bool {
        use crate::types::Rcode;
        let header = self.header();
        let error = [Rcode::FORMERR, Rcode::NOTIMP, Rcode::SERVFAIL, Rcode::REFUSED].contains(&self.rcode());
        header.qdcount() == 0 && error && header.ancount() == 0 && header.nscount() == 0
    }

    /// True when this message answers `query`: the same ID, QR set, and the same question, or
    /// no question but a bare error ([`Message::is_bare_error`]).
    pub fn answers(&self, query: &Message<'_>) -> bool {
        let header = self.header();
        if header.id() != query.header().id() || !header.is_response() {
            return false;
        }
        match header.qdcount() {
            0 => self.is_bare_error(),
            1 => self.question() == query.question(),
            _ => false,
        }
    }
}

/// Writes the rdata of `record` into `out` with every compressed name expanded (RFC 3597 §4).
pub fn decompress_rdata(message: &[u8], record: &Record<'_>, out: &mut Vec<u8>) -> Result<(), ParseError> {
    let end = record.rdata_offset + record.rdata.len();
    let mut pos = record.rdata_offset;
    for field in layout(record.rtype) {
        match *field {
            Field::Name => {
                let (name, next) = NameBuf::parse_compressed(message, pos)?;
                out.extend_from_slice(name.as_wire());
                pos = next;
            }
            Field::Fixed(len) => {
                let bytes = message.get(pos..pos + len).ok_or(ParseError::new(pos, ParseErrorKind::BadRdata))?;
                out.extend_from_slice(bytes);
                pos += len;
            }
            Field::CharString => {
                let len = usize::from(*message.get(pos).ok_or(ParseError::new(pos, ParseErrorKind::BadRdata))?);
                let bytes = message.get(pos..pos + 1 + len).ok_or(ParseError::new(pos, ParseErrorKind::BadRdata))?;
                out.extend_from_slice(bytes);
                pos += 1 + len;
            }
        }
        if pos > end {
            return Err(ParseError::new(pos, ParseErrorKind::BadRdata));
        }
    }
    let rest = message.get(pos..end).ok_or(ParseError::new(pos, ParseErrorKind::BadRdata))?;
    if !layout(record.rtype).is_empty() && !rest.is_empty() {
        return Err(ParseError::new(pos, ParseErrorKind::BadRdata));
    }
    out.extend_from_slice(rest);
    Ok(())
}

/// Reads the question at `pos`; returns it and the offset after it.
#[inline(always)]
pub fn read_question(bytes: &[u8], pos: usize) -> Result<(Question, usize), ParseError> {
    let (qname, pos) = NameBuf::parse_compressed(bytes, pos)?;
    let fixed = bytes.get(pos..pos + 4).ok_or(ParseError::new(pos, ParseErrorKind::ShortInput))?;
    let qtype = Rtype(u16::from_be_bytes([fixed[0], fixed[1]]));
    let qclass = Class(u16::from_be_bytes([fixed[2], fixed[3]]));
    Ok((Question { qname, qtype, qclass }, pos + 4))
}

/// Reads the record at `pos`.
pub fn read_record(bytes: &[u8], pos: usize) -> Result<Record<'_>, ParseError> {
    let (owner, after_name) = NameBuf::parse_compressed(bytes, pos)?;
    let fixed = bytes.get(after_name..after_name + 10).ok_or(ParseError::new(after_name, ParseErrorKind::ShortInput))?;
    let rtype = Rtype(u16::from_be_bytes([fixed[0], fixed[1]]));
    let class = Class(u16::from_be_bytes([fixed[2], fixed[3]]));
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let rdata_offset = after_name + 10;
    let rdata = bytes.get(rdata_offset..rdata_offset + rdlength).ok_or(ParseError::new(after_name + 8, ParseErrorKind::ShortInput))?;
    Ok(Record { owner, rtype, class, ttl, rdata, rdata_offset, offset: pos })
}

/// Checks the question at `pos`; returns the offset after it and its class.
fn skip_question(bytes: &[u8], pos: usize) -> Result<(usize, Class), ParseError> {
    let (pos, _) = NameBuf::skip_compressed(bytes, pos)?;
    let fixed = bytes.get(pos..pos + 4).ok_or(ParseError::new(pos, ParseErrorKind::ShortInput))?;
    Ok((pos + 4, Class(u16::from_be_bytes([fixed[2], fixed[3]]))))
}

/// A record as the parse checks it: the owner only checked, not copied.
struct RawRecord<'a> {
    owner_is_root: bool,
    rtype: Rtype,
    class: Class,
    ttl: u32,
    rdata: &'a [u8],
    rdata_offset: usize,
    offset: usize,
}

fn read_raw_record(bytes: &[u8], pos: usize) -> Result<RawRecord<'_>, ParseError> {
    let (after_name, owner_is_root) = NameBuf::skip_compressed(bytes, pos)?;
    let fixed = bytes.get(after_name..after_name + 10).ok_or(ParseError::new(after_name, ParseErrorKind::ShortInput))?;
    let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let rdata_offset = after_name + 10;
    let rdata = bytes.get(rdata_offset..rdata_offset + rdlength).ok_or(ParseError::new(after_name + 8, ParseErrorKind::ShortInput))?;
    Ok(RawRecord {
        owner_is_root,
        rtype: Rtype(u16::from_be_bytes([fixed[0], fixed[1]])),
        class: Class(u16::from_be_bytes([fixed[2], fixed[3]])),
        ttl: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
        rdata,
        rdata_offset,
        offset: pos,
    })
}

/// The per-record rules of a message: OPT and TSIG placement, meta types, class mixing.
struct RecordChecks {
    opcode: Opcode,
    qclass: Option<Class>,
    record_class: core::cell::Cell<Option<Class>>,
}

impl RecordChecks {
    fn check<'a>(&self, record: &RawRecord<'a>, section: usize, last: bool, message: &mut Message<'a>) -> Result<(), ParseError> {
        let at = |kind| ParseError::new(record.offset, kind);
        if message.tsig_offset.is_some() {
            return Err(at(ParseErrorKind::BadRecord));
        }
        match record.rtype {
            Rtype::OPT => {
                if section != 2 || message.edns.is_some() || !record.owner_is_root {
                    return Err(at(ParseErrorKind::BadOpt));
                }
                message.edns = Some(Edns::parse(record.class.0, record.ttl, record.rdata, record.rdata_offset)?);
                message.opt_offset = Some(record.offset);
                return Ok(());
            }
            Rtype::TSIG => {
                if section != 2 || !last || record.class != Class::ANY {
                    return Err(at(ParseErrorKind::BadRecord));
                }
                message.tsig_offset = Some(record.offset);
                return Ok(());
            }
            Rtype::TKEY => return Ok(()),
            _ => {}
        }
        if self.opcode != Opcode::UPDATE {
            if record.rtype.is_meta() {
                return Err(at(ParseErrorKind::BadRecord));
            }
            if self.qclass.is_some_and(|c| c != record.class && c != Class::ANY) {
                return Err(at(ParseErrorKind::BadRecord));
            }
            if *self.record_class.get().get_or_insert(record.class) != record.class {
                return Err(at(ParseErrorKind::BadRecord));
            }
            self.record_class.set(Some(record.class));
            return check_rdata(message.bytes, record);
        }
        // UPDATE (RFC 2136 §2.5) uses empty rdata with classes ANY and NONE.
        if record.rdata.is_empty() {
            return Ok(());
        }
        check_rdata(message.bytes, record)
    }
}

/// Checks rdata: names inside layouts we know with the same rules as owner names, the other
/// known types against their wire format.
fn check_rdata(bytes: &[u8], record: &RawRecord<'_>) -> Result<(), ParseError> {
    let fields = layout(record.rtype);
    if fields.is_empty() {
        return match crate::rdata::rdata_check(record.rtype, record.rdata) {
            true => Ok(()),
            false => Err(ParseError::new(record.rdata_offset, ParseErrorKind::BadRdata)),
        };
    }
    let end = record.rdata_offset + record.rdata.len();
    let mut pos = record.rdata_offset;
    for field in fields {
        pos = match *field {
            Field::Name => NameBuf::parse_compressed(bytes, pos)?.1,
            Field::Fixed(len) => pos + len,
            Field::CharString => pos + 1 + usize::from(*bytes.get(pos).ok_or(ParseError::new(pos, ParseErrorKind::BadRdata))?),
        };
        if pos > end {
            return Err(ParseError::new(record.rdata_offset, ParseErrorKind::BadRdata));
        }
    }
    if pos != end {
        return Err(ParseError::new(record.rdata_offset, ParseErrorKind::BadRdata));
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Field {
    Name,
    Fixed(usize),
    CharString,
}

/// Rdata layouts of the types whose names may arrive compressed (RFC 3597 §4), plus their
/// fixed fields. Other types are opaque here.
fn layout(rtype: Rtype) -> &'static [Field] {
    use Field::*;
    match rtype {
        Rtype::NS | Rtype::MD | Rtype::MF | Rtype::CNAME | Rtype::MB | Rtype::MG | Rtype::MR | Rtype::PTR | Rtype::DNAME => &[Name],
        Rtype::SOA => &[Name, Name, Fixed(20)],
        Rtype::MINFO | Rtype::RP => &[Name, Name],
        Rtype::MX | Rtype::AFSDB | Rtype::RT | Rtype::KX => &[Fixed(2), Name],
        Rtype::PX => &[Fixed(2), Name, Name],
        Rtype::SRV => &[Fixed(6), Name],
        Rtype::NAPTR => &[Fixed(4), CharString, CharString, CharString, Name],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name_wire: &[u8], qtype: u16) -> Vec<u8> {
        let mut out = vec![0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        out.extend_from_slice(name_wire);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        out
    }

    fn set_count(message: &mut [u8], index: usize, count: u16) {
        message[4 + 2 * index..6 + 2 * index].copy_from_slice(&count.to_be_bytes());
    }

    #[test]
    fn plain_query_parses() {
        let bytes = query(b"\x03www\x07example\x00", 1);
        let message = Message::parse(&bytes).unwrap();
        let question = message.question().unwrap();
        assert_eq!(question.qname.to_string(), "www.example.");
        assert_eq!(question.qtype, Rtype::A);
        assert!(message.edns().is_none());
    }

    #[test]
    fn counts_exceeding_data_are_rejected() {
        let mut bytes = query(b"\x00", 1);
        set_count(&mut bytes, 3, 5);
        assert_eq!(Message::parse(&bytes).unwrap_err().kind, ParseErrorKind::ShortInput);
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = query(b"\x00", 1);
        bytes.push(0);
        assert_eq!(Message::parse(&bytes).unwrap_err().kind, ParseErrorKind::TrailingData);
    }

    #[test]
    fn rfc6891_6_1_1_two_opts_are_rejected() {
        let mut bytes = query(b"\x00", 1);
        let opt = [0u8, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&opt);
        bytes.extend_from_slice(&opt);
        set_count(&mut bytes, 3, 2);
        assert_eq!(Message::parse(&bytes).unwrap_err().kind, ParseErrorKind::BadOpt);
        set_count(&mut bytes, 3, 1);
        bytes.truncate(bytes.len() - opt.len());
        assert_eq!(Message::parse(&bytes).unwrap().edns().unwrap().udp_size, 1232);
    }

    #[test]
    fn borrowed_edns_is_the_copied_one() {
        let mut bytes = query(b"\x00", 1);
        bytes.extend_from_slice(&[0u8, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]);
        set_count(&mut bytes, 3, 1);
        let message = Message::parse(&bytes).unwrap();
        let (copied, borrowed) = (message.edns().unwrap(), message.edns_ref().unwrap());
        assert_eq!((borrowed.udp_size, borrowed.dnssec_ok), (copied.udp_size, copied.dnssec_ok));
        assert_eq!((borrowed.udp_size, borrowed.dnssec_ok), (1232, true));
        assert!(Message::parse(&query(b"\x00", 1)).unwrap().edns_ref().is_none());
    }

    #[test]
    fn meta_type_as_record_is_rejected() {
        let mut bytes = query(b"\x00", 1);
        bytes.extend_from_slice(&[0, 0, 252, 0, 1, 0, 0, 0, 0, 0, 0]);
        set_count(&mut bytes, 3, 1);
        assert_eq!(Message::parse(&bytes).unwrap_err().kind, ParseErrorKind::BadRecord);
    }

    #[test]
    fn compressed_rdata_is_expanded() {
        // Answer: www.example. CNAME -> pointer to "example." at offset 16.
        let mut bytes = query(b"\x03www\x07example\x00", 5);
        bytes[2] = 0x81;
        set_count(&mut bytes, 1, 1);
        bytes.extend_from_slice(&[0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3, b'f', b't', b'p', 0xC0, 16]);
        let message = Message::parse(&bytes).unwrap();
        let record = message.records(Section::Answer).next().unwrap();
        let mut out = Vec::new();
        decompress_rdata(message.bytes(), &record, &mut out).unwrap();
        assert_eq!(NameBuf::from_wire(&out).unwrap().to_string(), "ftp.example.");
    }

    /// The fields a parse fills in, to compare the two walks.
    fn summary<'a>(message: &Message<'a>) -> (usize, [usize; 3], Option<Edns<'a>>, Option<usize>, Option<usize>) {
        (message.question_start, message.section_starts, message.edns, message.tsig_offset, message.opt_offset)
    }

    proptest::proptest! {
        /// The one-pass query parse accepts only what the section walk accepts, with the same
        /// result, and `parse` answers as the walk does; `question_into` reads what `question`
        /// returns: queries with and without OPT (options, counts and bytes mutated at random).
        #[test]
        fn the_query_fast_path_agrees_with_the_section_walk_and_question_into_with_question(
            labels in proptest::collection::vec(proptest::collection::vec(0u8..=255, 0..5), 0..4),
            opt in proptest::option::of(proptest::collection::vec(0u8..=255, 0..24)),
            arcount in 0u16..3,
            owner_is_pointer in proptest::bool::ANY,
            flips in proptest::collection::vec((0usize..64, 0u8..=255), 0..3),
        ) {
            let mut wire = Vec::new();
            for label in &labels {
                wire.push(label.len() as u8);
                wire.extend_from_slice(label);
            }
            wire.push(0);
            let mut bytes = query(&wire, 1);
            if let Some(options) = &opt {
                // The owner: the root, or a pointer to the question's name.
                bytes.extend_from_slice(if owner_is_pointer { &[0xC0, 12] } else { &[0] });
                bytes.extend_from_slice(&[0, 41, 0x04, 0xD0, 0, 0, 0x80, 0]);
                bytes.extend_from_slice(&(options.len() as u16).to_be_bytes());
                bytes.extend_from_slice(options);
            }
            set_count(&mut bytes, 3, arcount);
            for (at, byte) in flips {
                if let Some(target) = bytes.get_mut(at) {
                    *target = byte;
                }
            }
            let Ok((header, _)) = Header::split(&bytes) else { return Ok(()) };
            let general = Message::parse_sections(&bytes, header);
            // Anything else (a TSIG or TKEY record, another shape) is left to the section walk.
            if let Some(fast) = Message::parse_query(&bytes, header) {
                proptest::prop_assert_eq!(Some(summary(&fast)), general.as_ref().ok().map(summary));
            }
            proptest::prop_assert_eq!(Message::parse(&bytes).ok().as_ref().map(summary), general.as_ref().ok().map(summary));
            // The question read in place is the one `question` returns, octet for octet.
            if let Ok(message) = &general {
                let exact = |q: &Question| (q.qname.as_wire().to_vec(), q.qtype, q.qclass);
                let mut slot = Question { qname: NameBuf::from_wire(b"\x03old\x00").unwrap(), qtype: Rtype(0), qclass: Class(0) };
                let read = message.question_into(&mut slot).then(|| exact(&slot));
                proptest::prop_assert_eq!(read, message.question().as_ref().map(exact));
            }
        }
    }
}
