//! Outgoing queries and the acceptance test of replies (RFC 5452 §9.1, SECURITY-REFERENCE §3.6,
//! §3.8): a reply is accepted only from the address and port asked, with the query's ID, QR set,
//! and the question echoed exactly, case included (0x20, draft-vixie-dnsext-dns0x20).

use super::{QueryId, Random};
use crate::base::Instant;
use crate::Transport;
use portcullis_wire::header::Header;
use portcullis_wire::message::Message;
use portcullis_wire::{Class, NameBuf, Rtype};
use std::net::SocketAddr;

/// One query in flight.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sent {
    pub id: QueryId,
    pub wire_id: u16,
    pub server: SocketAddr,
    pub transport: Transport,
    /// The name as sent (0x20 case included).
    pub qname: NameBuf,
    pub qtype: Rtype,
    pub qclass: Class,
    pub edns: bool,
    pub case_randomised: bool,
    pub sent_at: Instant,
    pub deadline: Instant,
}

/// How a received datagram relates to the query in flight.
#[derive(Debug)]
pub(super) enum Match<'a> {
    /// Everything matches.
    Accept(Message<'a>),
    /// From the server asked, but wrong ID, not a response, or another question: discard.
    NearMiss,
    /// Right server and ID, question equal but for case: the server does not echo 0x20.
    CaseMismatch,
    /// From another address or port: discard.
    Stray,
    /// Right server and ID, but the message does not parse: a server failure.
    Malformed,
}

/// A query message: random ID, RD clear, the question, and OPT when `edns_payload` is set.
/// (Written directly: nothing to compress in a question and an empty OPT.)
pub(super) fn build_query(wire_id: u16, qname: &NameBuf, qtype: Rtype, qclass: Class, edns_payload: Option<u16>) -> Vec<u8> {
    build_query_with(wire_id, qname, qtype, qclass, edns_payload, false)
}

/// [`build_query`], with DO=1 in the OPT record when `dnssec_ok` (RFC 3225: a validator asks
/// for the RRSIGs and denials it needs, RFC 4035 §4.1).
pub(super) fn build_query_with(wire_id: u16, qname: &NameBuf, qtype: Rtype, qclass: Class, edns_payload: Option<u16>, dnssec_ok: bool) -> Vec<u8> {
    let name = qname.as_wire();
    let mut buf = Vec::with_capacity(12 + name.len() + 4 + 11);
    let arcount = u16::from(edns_payload.is_some());
    for field in [wire_id, 0, 1, 0, 0, arcount] {
        buf.extend_from_slice(&field.to_be_bytes());
    }
    buf.extend_from_slice(name);
    buf.extend_from_slice(&qtype.0.to_be_bytes());
    buf.extend_from_slice(&qclass.0.to_be_bytes());
    if let Some(payload) = edns_payload {
        // Root owner, type OPT, class = payload size, TTL = extended rcode/version/flags 0, no options.
        buf.push(0);
        buf.extend_from_slice(&Rtype::OPT.0.to_be_bytes());
        buf.extend_from_slice(&payload.to_be_bytes());
        buf.extend_from_slice(&[0, 0, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
    }
    buf
}

/// `name` with the case of each ASCII letter flipped by a fresh random bit (0x20).
pub(super) fn randomise_case(name: &NameBuf, random: &mut dyn Random) -> NameBuf {
    let mut bits = [0u8; 32];
    // One random bit per letter: at most one per octet of the name.
    let needed = name.len().div_ceil(8).min(bits.len());
    random.fill(&mut bits[..needed]);
    let mut letter = 0usize;
    name.with_case(|| {
        let bit = bits[(letter / 8) % bits.len()] >> (letter % 8) & 1;
        letter += 1;
        bit == 1
    })
}

/// Classifies a datagram from `from` against the query in flight.
pub(super) fn check_reply<'a>(sent: &Sent, from: SocketAddr, bytes: &'a [u8]) -> Match<'a> {
    if from != sent.server {
        return Match::Stray;
    }
    let Ok((header, _)) = Header::split(bytes) else { return Match::NearMiss };
    if header.id() != sent.wire_id || !header.is_response() {
        return Match::NearMiss;
    }
    let Ok(message) = Message::parse(bytes) else { return Match::Malformed };
    let Some(question) = message.question() else {
        return if message.is_bare_error() { Match::Accept(message) } else { Match::NearMiss };
    };
    if header.qdcount() != 1 || question.qtype != sent.qtype || question.qclass != sent.qclass || question.qname != sent.qname {
        return Match::NearMiss;
    }
    if sent.case_randomised && question.qname.as_wire() != sent.qname.as_wire() {
        return Match::CaseMismatch;
    }
    Match::Accept(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::SeededRandom;
    use portcullis_wire::Rcode;

    #[test]
    fn case_randomisation_keeps_the_name() {
        let name = NameBuf::from_text("www.example-42.com.", None).unwrap();
        let mut random = SeededRandom::new(3);
        let mixed = randomise_case(&name, &mut random);
        assert_eq!(mixed, name);
        assert_ne!(mixed.as_wire(), name.as_wire());
        assert!(mixed.to_string().contains("-42"));
    }

    #[test]
    fn query_has_one_question_and_opt() {
        let name = NameBuf::from_text("example.", None).unwrap();
        let bytes = build_query(0x1234, &name, Rtype::A, Class::IN, Some(1232));
        let message = Message::parse(&bytes).unwrap();
        assert_eq!(message.header().id(), 0x1234);
        assert!(!message.header().rd());
        assert_eq!(message.edns().unwrap().udp_size, 1232);
        assert!(Message::parse(&build_query(1, &name, Rtype::A, Class::IN, None)).unwrap().edns().is_none());
    }

    #[test]
    fn query_bytes_are_what_the_writer_would_write() {
        use portcullis_wire::header::Flags;
        use portcullis_wire::writer::MessageWriter;
        let name = NameBuf::from_text("WwW.example-42.com.", None).unwrap();
        for payload in [Some(1232), None] {
            let mut buf = vec![0u8; 512];
            let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
            writer.set_header(0xbeef, Flags::default());
            writer.push_question(&name, Rtype::AAAA, Class::IN).unwrap();
            if let Some(payload) = payload {
                writer.push_opt(payload, Rcode::NOERROR, false, &[]).unwrap();
            }
            let len = writer.finish();
            assert_eq!(build_query(0xbeef, &name, Rtype::AAAA, Class::IN, payload), buf[..len]);
        }
    }
}
