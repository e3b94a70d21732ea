//! The scripted upstream: an outgoing query is matched against the entries of the ranges active
//! at the current step (first range in file order whose ADDRESS list holds the server, or that
//! has none; entries in order), and the reply is built from the matching entry: REPLY flags and
//! rcode, ADJUST `copy_id` (the query's ID), `copy_query` (the query's question, case kept),
//! `raw_id`, `do_not_answer`.

use super::rpl::{Entry, Range, Rec};
use portcullis_engine::Transport;
use portcullis_wire::header::Flags;
use portcullis_wire::message::{decompress_rdata, Message, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rtype};
use std::net::IpAddr;

/// An outgoing query as the upstream sees it.
#[derive(Clone, Debug)]
pub struct SeenQuery {
    pub id: u16,
    pub opcode: u8,
    pub flags: Flags,
    pub qname: NameBuf,
    pub qtype: Rtype,
    pub qclass: Class,
    pub transport: Transport,
    pub edns: bool,
    pub dnssec_ok: bool,
}

impl SeenQuery {
    pub fn parse(bytes: &[u8], transport: Transport) -> Option<Self> {
        let message = Message::parse(bytes).ok()?;
        let question = message.question()?;
        let header = message.header();
        let edns = message.edns();
        Some(Self {
            id: header.id(),
            opcode: header.opcode().0,
            flags: Flags::from_header(header),
            qname: question.qname,
            qtype: question.qtype,
            qclass: question.qclass,
            transport,
            edns: edns.is_some(),
            dnssec_ok: edns.is_some_and(|e| e.dnssec_ok),
        })
    }
}

/// True when `entry`'s MATCH rules accept `query`.
pub fn entry_matches(entry: &Entry, query: &SeenQuery) -> bool {
    let question = entry.question.first();
    for word in &entry.matches {
        let ok = match word.as_str() {
            "opcode" => entry.opcode() == query.opcode,
            "qtype" => question.is_some_and(|q| q.qtype == query.qtype),
            "qname" => question.is_some_and(|q| q.qname.to_lowercase() == query.qname.to_lowercase()),
            "subdomain" => question.is_some_and(|q| query.qname.is_subdomain_of(&q.qname)),
            "question" | "all" => {
                question.is_some_and(|q| q.qname.to_lowercase() == query.qname.to_lowercase() && q.qtype == query.qtype && q.qclass == query.qclass)
            }
            "tcp" => query.transport == Transport::Tcp,
            "udp" => query.transport == Transport::Udp,
            // Section, flags, rcode and TTL rules describe replies; a query has none of these.
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// What the scripted world does with a query.
pub enum Answer<'a> {
    Reply(&'a Entry),
    Silent(&'a Entry),
}

/// Finds the entry that answers `query` sent to `server` at `step`.
pub fn find<'a>(ranges: &'a [Range], step: u64, server: IpAddr, query: &SeenQuery) -> Option<Answer<'a>> {
    for range in ranges {
        if step < range.begin || step > range.end {
            continue;
        }
        if !range.addresses.is_empty() && !range.addresses.contains(&server) {
            continue;
        }
        for entry in &range.entries {
            if entry_matches(entry, query) {
                if entry.has_adjust("do_not_answer") {
                    return Some(Answer::Silent(entry));
                }
                return Some(Answer::Reply(entry));
            }
        }
    }
    None
}

/// Builds the reply of `entry` to `query`.
pub fn build_reply(entry: &Entry, query: &SeenQuery) -> Vec<u8> {
    if let Some(raw) = &entry.raw {
        let mut bytes = raw.clone();
        if entry.has_adjust("copy_id") && bytes.len() >= 2 {
            bytes[..2].copy_from_slice(&query.id.to_be_bytes());
        }
        return bytes;
    }
    let mut buf = vec![0u8; 65_535];
    let Ok(mut writer) = MessageWriter::new(&mut buf, 65_535) else { return Vec::new() };
    let id = if entry.has_adjust("copy_id") { query.id } else { 0 };
    let rcode = entry.rcode();
    let flags = Flags {
        qr: entry.has_flag("QR"),
        opcode: entry.opcode(),
        aa: entry.has_flag("AA"),
        tc: entry.has_flag("TC"),
        rd: entry.has_flag("RD"),
        ra: entry.has_flag("RA"),
        ad: entry.has_flag("AD"),
        cd: entry.has_flag("CD"),
        rcode: rcode.header_bits(),
    };
    writer.set_header(id, flags);
    if entry.has_adjust("copy_query") {
        let _ = writer.push_question(&query.qname, query.qtype, query.qclass);
    } else {
        for q in &entry.question {
            let _ = writer.push_question(&q.qname, q.qtype, q.qclass);
        }
    }
    for (section, records) in [(Section::Answer, &entry.sections[0]), (Section::Authority, &entry.sections[1]), (Section::Additional, &entry.sections[2])] {
        for r in records {
            if writer.push(section, &r.owner, r.rtype, r.class, r.ttl, &r.rdata).is_err() {
                break;
            }
        }
    }
    if query.edns || entry.has_flag("DO") {
        let _ = writer.push_opt(4096, rcode, entry.has_flag("DO"), &[]);
    }
    let len = writer.finish();
    buf.truncate(len);
    buf
}

/// Records of a section of a parsed message, OPT left out, rdata decompressed.
pub fn section_records(message: &Message<'_>, section: Section) -> Vec<Rec> {
    let mut out = Vec::new();
    for record in message.records(section) {
        if record.rtype == Rtype::OPT {
            continue;
        }
        let mut rdata = Vec::new();
        if decompress_rdata(message.bytes(), &record, &mut rdata).is_err() {
            rdata = record.rdata.to_vec();
        }
        out.push(Rec { owner: record.owner, rtype: record.rtype, class: record.class, ttl: record.ttl, rdata });
    }
    out
}
