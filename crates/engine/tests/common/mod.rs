//! Shared fixtures of the engine's integration tests (`hostile.rs`, `rfc_answers.rs`,
//! `no_alloc.rs`): the zones of `testdata/engine/`, a raw-wire query builder that can also build
//! malformed messages, and a reply view that renders records as presentation-format lines.
//!
//! Every binary uses a different part of this module.
#![allow(dead_code)]

use portcullis_engine::auth::{Zone, ZoneSet};
use portcullis_engine::load::load_zone_text;
use portcullis_engine::metrics::EngineCounters;
use portcullis_engine::zonefile::NoIncludes;
use portcullis_engine::{Engine, EngineSettings, Outcome, Request, Transport};
use portcullis_wire::message::{decompress_rdata, Message, Section};
use portcullis_wire::rdata::rdata_to_text;
use portcullis_wire::{NameBuf, Rtype};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// The ID every query carries unless a test sets another (distinct bytes, so a swap shows).
pub const ID: u16 = 0xBE1F;

/// A client address on an ordinary port.
pub fn peer() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 200], 40_000))
}

// ---------------------------------------------------------------------------------------------
// Zones and engines
// ---------------------------------------------------------------------------------------------

/// `testdata/engine/<file>`.
pub fn testdata(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/engine").join(file)
}

/// Loads `testdata/engine/<file>` as the zone `origin`.
pub fn load_zone(origin: &str, file: &str) -> Zone {
    let path = testdata(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let origin = name(origin);
    load_zone_text(&origin, &text, file, &NoIncludes).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// An engine over zones given as (origin, file) pairs.
pub fn engine_over(zones: &[(&str, &str)], settings: EngineSettings) -> Engine {
    let zones = zones.iter().map(|(origin, file)| Arc::new(load_zone(origin, file))).collect();
    Engine::new(ZoneSet::new(zones), settings, Arc::new(EngineCounters::default()))
}

/// The engine over `tricky.test.` with default settings.
pub fn tricky() -> Engine {
    tricky_with(EngineSettings::default())
}

/// The engine over `tricky.test.` with `settings`.
pub fn tricky_with(settings: EngineSettings) -> Engine {
    engine_over(&[("tricky.test.", "tricky.zone")], settings)
}

/// The engine over the RFC 4592 §2.2.1 example zone `example.`.
pub fn rfc4592() -> Engine {
    engine_over(&[("example.", "rfc4592.zone")], EngineSettings::default())
}

// ---------------------------------------------------------------------------------------------
// Building queries as raw bytes
// ---------------------------------------------------------------------------------------------

/// A name in uncompressed wire form.
pub fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// A name's uncompressed wire bytes.
pub fn wire(text: &str) -> Vec<u8> {
    name(text).as_wire().to_vec()
}

/// A question entry: name bytes (possibly malformed) + type + class.
pub fn question(name_wire: &[u8], qtype: u16, qclass: u16) -> Vec<u8> {
    let mut out = name_wire.to_vec();
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&qclass.to_be_bytes());
    out
}

/// A resource record: owner bytes (possibly compressed or malformed) + fixed fields + rdata.
pub fn rr(owner: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut out = owner.to_vec();
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&class.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
    out
}

/// One EDNS option: code, length, data.
pub fn option(code: u16, data: &[u8]) -> Vec<u8> {
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// An OPT pseudo-record, field by field (RFC 6891 §6.1.2-6.1.3).
#[derive(Clone, Debug)]
pub struct Opt {
    /// Owner (the root unless a test breaks it).
    pub owner: Vec<u8>,
    /// Requestor's UDP payload size.
    pub udp: u16,
    /// Extended rcode (high bits).
    pub ext_rcode: u8,
    /// Version.
    pub version: u8,
    /// DO and the Z bits.
    pub flags: u16,
    /// Raw option area.
    pub options: Vec<u8>,
}

impl Opt {
    /// Version 0, no flags, no options.
    pub fn new(udp: u16) -> Self {
        Self { owner: vec![0], udp, ext_rcode: 0, version: 0, flags: 0, options: Vec::new() }
    }

    /// Appends one option.
    pub fn with(mut self, code: u16, data: &[u8]) -> Self {
        self.options.extend_from_slice(&option(code, data));
        self
    }

    /// The record bytes.
    pub fn record(&self) -> Vec<u8> {
        let ttl = u32::from_be_bytes([self.ext_rcode, self.version, (self.flags >> 8) as u8, self.flags as u8]);
        rr(&self.owner, Rtype::OPT.0, self.udp, ttl, &self.options)
    }
}

/// A query built as raw bytes; every field can be set to something wrong.
#[derive(Clone, Debug)]
pub struct Query {
    /// Message ID.
    pub id: u16,
    /// Header bytes 2 and 3 (flags, opcode, rcode).
    pub flags: [u8; 2],
    /// Raw question section.
    pub questions: Vec<u8>,
    /// Number of questions written.
    pub qdcount: u16,
    /// Raw records of the answer, authority and additional sections.
    pub sections: [Vec<u8>; 3],
    /// Number of records written per section.
    pub section_counts: [u16; 3],
    /// Header counts to write instead of the real ones.
    pub counts_override: Option<[u16; 4]>,
    /// Bytes after the last record.
    pub trailing: Vec<u8>,
}

impl Query {
    /// A standard query (opcode QUERY, RD=0) for `qname`/`qtype` in class IN.
    pub fn new(qname: &str, qtype: Rtype) -> Self {
        Self::empty().question(&question(&wire(qname), qtype.0, 1))
    }

    /// A query with no question.
    pub fn empty() -> Self {
        Self {
            id: ID,
            flags: [0, 0],
            questions: Vec::new(),
            qdcount: 0,
            sections: Default::default(),
            section_counts: [0; 3],
            counts_override: None,
            trailing: Vec::new(),
        }
    }

    /// Appends a raw question entry.
    pub fn question(mut self, bytes: &[u8]) -> Self {
        self.questions.extend_from_slice(bytes);
        self.qdcount += 1;
        self
    }

    /// Sets the ID.
    pub fn id(mut self, id: u16) -> Self {
        self.id = id;
        self
    }

    /// Sets the opcode.
    pub fn opcode(mut self, opcode: u8) -> Self {
        self.flags[0] = (self.flags[0] & 0x87) | ((opcode & 0x0F) << 3);
        self
    }

    /// ORs bits into header byte 2 (QR 0x80, AA 0x04, TC 0x02, RD 0x01).
    pub fn bits2(mut self, bits: u8) -> Self {
        self.flags[0] |= bits;
        self
    }

    /// ORs bits into header byte 3 (RA 0x80, Z 0x40, AD 0x20, CD 0x10, rcode).
    pub fn bits3(mut self, bits: u8) -> Self {
        self.flags[1] |= bits;
        self
    }

    /// Appends a raw record to a section.
    pub fn record(mut self, section: Section, bytes: &[u8]) -> Self {
        self.sections[section as usize].extend_from_slice(bytes);
        self.section_counts[section as usize] += 1;
        self
    }

    /// Appends an OPT record to the additional section.
    pub fn edns(self, opt: Opt) -> Self {
        let record = opt.record();
        self.record(Section::Additional, &record)
    }

    /// Writes these header counts whatever the sections hold.
    pub fn counts(mut self, qd: u16, an: u16, ns: u16, ar: u16) -> Self {
        self.counts_override = Some([qd, an, ns, ar]);
        self
    }

    /// Appends bytes after the last record.
    pub fn trailing(mut self, bytes: &[u8]) -> Self {
        self.trailing.extend_from_slice(bytes);
        self
    }

    /// The message bytes.
    pub fn build(&self) -> Vec<u8> {
        let [an, ns, ar] = self.section_counts;
        let counts = self.counts_override.unwrap_or([self.qdcount, an, ns, ar]);
        let mut out = self.id.to_be_bytes().to_vec();
        out.extend_from_slice(&self.flags);
        for count in counts {
            out.extend_from_slice(&count.to_be_bytes());
        }
        out.extend_from_slice(&self.questions);
        for section in &self.sections {
            out.extend_from_slice(section);
        }
        out.extend_from_slice(&self.trailing);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Sending and reading replies
// ---------------------------------------------------------------------------------------------

/// Runs one request through the engine; returns the outcome and the reply bytes (empty on drop).
pub fn exchange(engine: &Engine, bytes: &[u8], transport: Transport, peer: SocketAddr) -> (Outcome, Vec<u8>) {
    let mut out = vec![0u8; 65_535];
    let outcome = engine.handle(&Request::at_zero(bytes, peer, transport), &mut out);
    match outcome {
        Outcome::Reply(len) | Outcome::ReplyAndPrefetch(len) => {
            out.truncate(len);
            (outcome, out)
        }
        Outcome::Drop(_) | Outcome::Resolve | Outcome::Transfer | Outcome::Update => (outcome, Vec::new()),
    }
}

/// Sends raw bytes; panics unless the engine replies.
pub fn ask_raw(engine: &Engine, bytes: &[u8], transport: Transport) -> Reply {
    match exchange(engine, bytes, transport, peer()) {
        (Outcome::Reply(_), reply) => Reply::new(reply),
        (outcome, _) => panic!("expected a reply, got {outcome:?}"),
    }
}

/// Sends a query over UDP.
pub fn udp(engine: &Engine, query: &Query) -> Reply {
    ask_raw(engine, &query.build(), Transport::Udp)
}

/// Sends a query over TCP.
pub fn tcp(engine: &Engine, query: &Query) -> Reply {
    ask_raw(engine, &query.build(), Transport::Tcp)
}

/// The engine still answers an ordinary query correctly (after something hostile).
pub fn assert_still_serves(engine: &Engine) {
    let reply = udp(engine, &Query::new("www.tricky.test.", Rtype::A).id(0x5EED));
    assert_eq!(reply.id(), 0x5EED);
    assert!(reply.qr() && reply.aa() && !reply.tc());
    assert_eq!(reply.rcode(), 0);
    assert_eq!(reply.answer(), ["www.tricky.test. 120 IN A 192.0.2.80"]);
}

/// The OPT record of a reply, field by field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptView {
    /// Advertised UDP payload size.
    pub udp: u16,
    /// Extended rcode (high eight bits).
    pub ext_rcode: u8,
    /// Version.
    pub version: u8,
    /// DO and Z bits.
    pub flags: u16,
    /// (code, data) of each option.
    pub options: Vec<(u16, Vec<u8>)>,
}

/// A reply, checked by [`Message::parse`] when read.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Reply {
    /// Wraps and checks a reply.
    pub fn new(bytes: Vec<u8>) -> Self {
        if let Err(error) = Message::parse(&bytes) {
            panic!("the engine's reply does not parse: {error}: {bytes:02x?}");
        }
        Self { bytes }
    }

    /// The parsed message.
    pub fn message(&self) -> Message<'_> {
        Message::parse(&self.bytes).unwrap_or_else(|e| panic!("checked in new: {e}"))
    }

    /// Message ID.
    pub fn id(&self) -> u16 {
        u16::from_be_bytes([self.bytes[0], self.bytes[1]])
    }

    /// QR.
    pub fn qr(&self) -> bool {
        self.bytes[2] & 0x80 != 0
    }

    /// Opcode.
    pub fn opcode(&self) -> u8 {
        (self.bytes[2] >> 3) & 0x0F
    }

    /// AA.
    pub fn aa(&self) -> bool {
        self.bytes[2] & 0x04 != 0
    }

    /// TC.
    pub fn tc(&self) -> bool {
        self.bytes[2] & 0x02 != 0
    }

    /// RD.
    pub fn rd(&self) -> bool {
        self.bytes[2] & 0x01 != 0
    }

    /// RA.
    pub fn ra(&self) -> bool {
        self.bytes[3] & 0x80 != 0
    }

    /// The rcode bits of the header.
    pub fn header_rcode(&self) -> u8 {
        self.bytes[3] & 0x0F
    }

    /// The full rcode (header bits + OPT extension).
    pub fn rcode(&self) -> u16 {
        self.message().rcode().0
    }

    /// QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
    pub fn counts(&self) -> [u16; 4] {
        let b = &self.bytes;
        [0, 1, 2, 3].map(|i| u16::from_be_bytes([b[4 + 2 * i], b[5 + 2 * i]]))
    }

    /// The raw question section.
    pub fn question_bytes(&self) -> Vec<u8> {
        self.message().question_bytes().to_vec()
    }

    /// Records of the answer section, one presentation line each.
    pub fn answer(&self) -> Vec<String> {
        self.section(Section::Answer)
    }

    /// Records of the authority section.
    pub fn authority(&self) -> Vec<String> {
        self.section(Section::Authority)
    }

    /// Records of the additional section, OPT left out.
    pub fn additional(&self) -> Vec<String> {
        self.section(Section::Additional)
    }

    /// Records of a section as `owner ttl class type rdata` (OPT left out).
    pub fn section(&self, section: Section) -> Vec<String> {
        let message = self.message();
        message
            .records(section)
            .filter(|record| record.rtype != Rtype::OPT)
            .map(|record| {
                let mut rdata = Vec::new();
                decompress_rdata(message.bytes(), &record, &mut rdata).unwrap_or_else(|e| panic!("{}: rdata does not decompress: {e}", record.owner));
                let mut text = String::new();
                rdata_to_text(record.rtype, &rdata, &mut text).unwrap_or_else(|e| panic!("{}: rdata does not render: {e}", record.owner));
                format!("{} {} {} {} {}", record.owner, record.ttl, record.class, record.rtype, text)
            })
            .collect()
    }

    /// The owners of a section's records exactly as sent (case kept).
    pub fn owners(&self, section: Section) -> Vec<String> {
        self.message().records(section).filter(|r| r.rtype != Rtype::OPT).map(|r| r.owner.to_string()).collect()
    }

    /// The OPT record, when present.
    pub fn opt(&self) -> Option<OptView> {
        let record = self.message().records(Section::Additional).find(|r| r.rtype == Rtype::OPT)?;
        let [ext_rcode, version, high, low] = record.ttl.to_be_bytes();
        let mut options = Vec::new();
        let mut rest = record.rdata;
        while rest.len() >= 4 {
            let code = u16::from_be_bytes([rest[0], rest[1]]);
            let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            options.push((code, rest[4..4 + len].to_vec()));
            rest = &rest[4 + len..];
        }
        Some(OptView { udp: record.class.0, ext_rcode, version, flags: u16::from_be_bytes([high, low]), options })
    }

    /// Asserts the common shape of an error reply: QR=1, the ID and opcode of the query, AA=0,
    /// TC=0, the rcode, and nothing in the answer and authority sections.
    pub fn assert_error(&self, query: &[u8], rcode: u16) {
        assert!(self.qr(), "QR must be set");
        assert_eq!(self.id(), u16::from_be_bytes([query[0], query[1]]), "ID must be preserved");
        assert_eq!(self.opcode(), (query[2] >> 3) & 0x0F, "opcode must be echoed");
        assert!(!self.aa(), "AA must be clear on an error");
        assert!(!self.tc(), "TC must be clear");
        assert_eq!(self.rcode(), rcode, "rcode");
        assert_eq!(self.counts()[1..3], [0, 0], "no answer or authority records");
        assert!(self.additional().is_empty(), "no additional records");
    }
}
