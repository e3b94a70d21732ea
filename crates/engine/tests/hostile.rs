//! The hostile-input catalogue of SECURITY-REFERENCE §6.1-§6.3, one test per row (the row number
//! leads the test name), as raw wire bytes through `Engine::handle`.
//!
//! Each test asserts the exact reply (rcode, with the OPT extension for BADVERS; QR; ID; opcode;
//! whether the question is echoed; no answer records) or the exact `DropReason`, and then that
//! the same engine still answers an ordinary query.
//!
//! Rows not here: 18 (recursion is not implemented), 39 (server cookies are not implemented).
//!
//! Convention of §6: an error reply carries the question only when the question itself parsed
//! cleanly (BIND's exact-wire `formerr` tests answer QDCOUNT=0 otherwise).

mod common;

use common::*;
use portcullis_engine::{DropReason, EngineSettings, Outcome, Transport};
use portcullis_wire::edns::code;
use portcullis_wire::message::Section;
use portcullis_wire::Rtype;
use std::time::{Duration, Instant};

const FORMERR: u16 = 1;
const NOTIMP: u16 = 4;
const REFUSED: u16 = 5;
const BADVERS: u16 = 16;

/// `www.tricky.test. A IN`, the ordinary query the hostile ones are variations of.
fn www() -> Query {
    Query::new("www.tricky.test.", Rtype::A)
}

/// The question entry of `www()`.
fn www_question() -> Vec<u8> {
    question(&wire("www.tricky.test."), 1, 1)
}

/// Sends `query` over UDP and asserts an error reply with `rcode` that echoes the query's
/// question section byte for byte.
fn assert_error_with_question(query: &Query, transport: Transport, rcode: u16) -> Reply {
    let engine = tricky();
    let bytes = query.build();
    let reply = ask_raw(&engine, &bytes, transport);
    reply.assert_error(&bytes, rcode);
    assert_eq!(reply.counts()[0], 1, "the question parsed cleanly, so it is echoed");
    assert_eq!(reply.question_bytes(), query.questions, "question echoed byte for byte");
    assert_still_serves(&engine);
    reply
}

/// Sends raw bytes over UDP and asserts an error reply with `rcode` and no question.
fn assert_error_without_question(bytes: &[u8], transport: Transport, rcode: u16) -> Reply {
    let engine = tricky();
    let reply = ask_raw(&engine, bytes, transport);
    reply.assert_error(bytes, rcode);
    assert_eq!(reply.counts()[0], 0, "the question itself was bad, so it is not echoed");
    assert_still_serves(&engine);
    reply
}

/// Asserts the engine drops `bytes` for `reason`.
fn assert_drop(bytes: &[u8], transport: Transport, port: u16, reason: DropReason) {
    let engine = tricky();
    let peer = std::net::SocketAddr::from(([192, 0, 2, 200], port));
    let (outcome, _) = exchange(&engine, bytes, transport, peer);
    assert_eq!(outcome, Outcome::Drop(reason), "{} bytes over {transport:?} from port {port}", bytes.len());
    assert_eq!(engine.counters().drops_of(reason), 1);
    assert_still_serves(&engine);
}

// ---------------------------------------------------------------------------------------------
// §6.1 Header and question
// ---------------------------------------------------------------------------------------------

#[test]
fn row01_datagrams_shorter_than_a_header_are_dropped() {
    let full = www().build();
    for len in 0..12 {
        for transport in [Transport::Udp, Transport::Tcp] {
            assert_drop(&full[..len], transport, 40_000, DropReason::Malformed);
        }
    }
    // Exactly a header (QDCOUNT=1 but no question) is answerable: FORMERR without a question.
    assert_error_without_question(&full[..12], Transport::Udp, FORMERR);
}

#[test]
fn row02_responses_sent_to_the_server_are_dropped() {
    let response = www().bits2(0x80).build();
    assert_drop(&response, Transport::Udp, 40_000, DropReason::IsResponse);
    // TCP: "close" is a drop for the I/O layer.
    assert_drop(&response, Transport::Tcp, 40_000, DropReason::IsResponse);
    // Even when the rest is garbage, QR=1 is decided from the header alone.
    let mut garbage = response[..12].to_vec();
    garbage.extend_from_slice(&[0xFF; 7]);
    assert_drop(&garbage, Transport::Udp, 40_000, DropReason::IsResponse);
}

#[test]
fn row03_udp_from_loop_service_ports_is_dropped() {
    let query = www().build();
    for port in [7, 13, 19, 37] {
        assert_drop(&query, Transport::Udp, port, DropReason::ReflectionPort);
        // Over TCP there is no reflection: the query is answered.
        let engine = tricky();
        let peer = std::net::SocketAddr::from(([192, 0, 2, 200], port));
        let (outcome, reply) = exchange(&engine, &query, Transport::Tcp, peer);
        assert!(matches!(outcome, Outcome::Reply(_)), "TCP from port {port}: {outcome:?}");
        assert_eq!(Reply::new(reply).answer(), ["www.tricky.test. 120 IN A 192.0.2.80"]);
    }
}

#[test]
fn row04_unimplemented_opcodes_get_notimp() {
    // 1 IQUERY (RFC 3425), 2 STATUS, 3 unassigned, 6 DSO (not supported), 7-15 unassigned.
    for opcode in [1u8, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
        let reply = assert_error_with_question(&www().opcode(opcode).id(0x0400 + u16::from(opcode)), Transport::Udp, NOTIMP);
        assert_eq!(reply.opcode(), opcode);
    }
}

#[test]
fn row05_query_without_question_or_cookie_is_formerr() {
    let bytes = Query::empty().build();
    let reply = assert_error_without_question(&bytes, Transport::Udp, FORMERR);
    assert_eq!(reply.bytes, [0xBE, 0x1F, 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0], "BIND `noquestions` exact wire");
}

#[test]
fn row06_query_without_question_with_cookie_is_formerr_until_cookies_exist() {
    // RFC 7873 §5.4 wants NOERROR, an empty answer and a fresh server cookie. Cookies are not
    // implemented yet, and RFC 7873 §5.4 allows a server without cookie support to answer
    // FORMERR, which is what the engine does now. Update this test when cookies land.
    let query = Query::empty().edns(Opt::new(1232).with(code::COOKIE, &[1, 2, 3, 4, 5, 6, 7, 8]));
    let bytes = query.build();
    let reply = assert_error_without_question(&bytes, Transport::Udp, FORMERR);
    let opt = reply.opt().expect("the query's OPT parsed, so the reply has one");
    assert_eq!((opt.udp, opt.ext_rcode, opt.version), (1232, 0, 0));
}

#[test]
fn row07_two_questions_are_formerr() {
    let variants = [
        ("duplicate", question(&wire("www.tricky.test."), 1, 1)),
        ("different type", question(&wire("www.tricky.test."), 2, 1)),
        ("different class", question(&wire("www.tricky.test."), 1, 3)),
        ("different name", question(&wire("mail.tricky.test."), 1, 1)),
    ];
    for (label, second) in variants {
        let query = www().question(&second);
        let bytes = query.build();
        let engine = tricky();
        let reply = ask_raw(&engine, &bytes, Transport::Udp);
        reply.assert_error(&bytes, FORMERR);
        assert!(reply.answer().is_empty(), "{label}");
        assert_still_serves(&engine);
    }
}

#[test]
fn row07_two_names_concatenated_in_one_qname_is_formerr_without_question() {
    // BIND `twoquestionnames`: the second QNAME field holds two names back to back.
    let mut two_names = wire("aaaaaaaaaaaaaa.");
    two_names.extend_from_slice(&wire("aaaaaaaaaaaaab."));
    let bytes = Query::empty().question(&question(&wire("aaaaaaaaaaaaaa."), 1, 1)).question(&question(&two_names, 1, 1)).build();
    assert_error_without_question(&bytes, Transport::Udp, FORMERR);
}

#[test]
fn row07_two_questions_formerr_echoes_no_partial_question_section() {
    // BIND `dupquestion` and `twoquestionclasses` answer with QDCOUNT=0 (the question section
    // itself is bad); `twoquestiontypes` echoes both questions. Echoing only the first question
    // answers a question section the client never sent.
    for second in [question(&wire("www.tricky.test."), 1, 1), question(&wire("www.tricky.test."), 1, 3), question(&wire("www.tricky.test."), 2, 1)] {
        let query = www().question(&second);
        let bytes = query.build();
        let reply = ask_raw(&tricky(), &bytes, Transport::Udp);
        reply.assert_error(&bytes, FORMERR);
        let echoed_all = reply.counts()[0] == 2 && reply.question_bytes() == query.questions;
        assert!(reply.counts()[0] == 0 || echoed_all, "QDCOUNT {} with question bytes {:02x?}", reply.counts()[0], reply.question_bytes());
    }
}

#[test]
fn row08_truncated_question_is_formerr_without_question() {
    let name = wire("www.tricky.test.");
    let mut no_class = Query::empty().counts(1, 0, 0, 0).build();
    no_class.extend_from_slice(&name);
    no_class.extend_from_slice(&[0, 1]);
    assert_error_without_question(&no_class, Transport::Udp, FORMERR);
    let mut half_class = no_class.clone();
    half_class.push(0);
    assert_error_without_question(&half_class, Transport::Udp, FORMERR);
    let mut name_only = Query::empty().counts(1, 0, 0, 0).build();
    name_only.extend_from_slice(&name);
    assert_error_without_question(&name_only, Transport::Tcp, FORMERR);
}

#[test]
fn row09_tc_set_in_a_query_is_formerr() {
    let reply = assert_error_with_question(&www().bits2(0x02), Transport::Udp, FORMERR);
    assert!(!reply.tc());
}

#[test]
fn row10_answer_or_authority_records_in_a_query_are_formerr() {
    let a = rr(&wire("www.tricky.test."), 1, 1, 60, &[192, 0, 2, 66]);
    assert_error_with_question(&www().record(Section::Answer, &a), Transport::Udp, FORMERR);
    assert_error_with_question(&www().record(Section::Authority, &a), Transport::Udp, FORMERR);
    assert_error_with_question(&www().record(Section::Answer, &a).record(Section::Authority, &a), Transport::Tcp, FORMERR);
}

#[test]
fn row11_counts_beyond_the_data_are_formerr() {
    // ARCOUNT=5 with a single OPT present.
    assert_error_with_question(&www().edns(Opt::new(1232)).counts(1, 0, 0, 5), Transport::Udp, FORMERR);
    assert_error_with_question(&www().counts(1, 3, 0, 0), Transport::Udp, FORMERR);
    assert_error_with_question(&www().counts(1, 0, 0, 0xFFFF), Transport::Tcp, FORMERR);
    // QDCOUNT=5 with one question: the question section itself is bad.
    assert_error_without_question(&www().counts(5, 0, 0, 0).build(), Transport::Udp, FORMERR);
}

#[test]
fn row12_trailing_bytes_are_formerr() {
    assert_error_with_question(&www().trailing(&[0]), Transport::Udp, FORMERR);
    assert_error_with_question(&www().edns(Opt::new(1232)).trailing(&[0xDE, 0xAD, 0xBE, 0xEF]), Transport::Udp, FORMERR);
}

#[test]
fn row13_classes_other_than_in_ch_any_are_refused() {
    for class in [2u16, 4, 254, 256, 0xFFFF] {
        let query = Query::empty().question(&question(&wire("www.tricky.test."), 1, class));
        assert_error_with_question(&query, Transport::Udp, REFUSED);
    }
}

#[test]
fn row13_chaos_identity_is_refused_unless_configured() {
    for qname in ["version.bind.", "VERSION.BIND.", "version.server.", "id.server.", "hostname.bind."] {
        let query = Query::empty().question(&question(&wire(qname), Rtype::TXT.0, 3));
        assert_error_with_question(&query, Transport::Udp, REFUSED);
    }
    let settings = EngineSettings { version: Some("portcullis-test".into()), identity: Some("ns-a".into()), ..EngineSettings::default() };
    let engine = tricky_with(settings);
    let query = Query::empty().question(&question(&wire("VeRsIoN.BiNd."), Rtype::TXT.0, 3));
    let reply = udp(&engine, &query);
    assert_eq!((reply.rcode(), reply.aa(), reply.id()), (0, true, ID));
    assert_eq!(reply.question_bytes(), query.questions);
    assert_eq!(reply.answer(), ["VeRsIoN.BiNd. 0 CH TXT \"portcullis-test\""]);
    let reply = udp(&engine, &Query::empty().question(&question(&wire("id.server."), Rtype::TXT.0, 3)));
    assert_eq!(reply.answer(), ["id.server. 0 CH TXT \"ns-a\""]);
    // Any other CH name stays refused.
    let reply = udp(&engine, &Query::empty().question(&question(&wire("authors.bind."), Rtype::TXT.0, 3)));
    assert_eq!(reply.rcode(), REFUSED);
    assert_still_serves(&engine);
}

#[test]
fn row14_meta_types_as_records_are_formerr() {
    for rtype in [Rtype::IXFR, Rtype::AXFR, Rtype::MAILB, Rtype::MAILA, Rtype::ANY] {
        let record = rr(&[0], rtype.0, 1, 0, &[]);
        assert_error_with_question(&www().record(Section::Additional, &record), Transport::Udp, FORMERR);
    }
}

#[test]
fn row14_meta_types_as_qtype_are_formerr() {
    // OPT, TKEY, TSIG and type 0 cannot be asked for.
    for qtype in [0u16, 41, 249, 250] {
        let query = Query::empty().question(&question(&wire("www.tricky.test."), qtype, 1));
        assert_error_with_question(&query, Transport::Udp, FORMERR);
    }
}

#[test]
fn row15_records_of_another_class_than_the_question_are_formerr() {
    let ch = rr(&wire("www.tricky.test."), 1, 3, 0, &[192, 0, 2, 1]);
    assert_error_with_question(&www().record(Section::Additional, &ch), Transport::Udp, FORMERR);
}

#[test]
fn row15_records_of_two_classes_are_formerr_even_under_qclass_any() {
    let query = Query::empty()
        .question(&question(&wire("www.tricky.test."), 1, 255))
        .record(Section::Additional, &rr(&wire("www.tricky.test."), 1, 1, 0, &[192, 0, 2, 1]))
        .record(Section::Additional, &rr(&wire("www.tricky.test."), 1, 3, 0, &[192, 0, 2, 1]));
    assert_error_with_question(&query, Transport::Udp, FORMERR);
}

#[test]
fn row16_mixed_case_qname_is_echoed_byte_for_byte() {
    let engine = tricky();
    let query = Query::new("WwW.TrIcKy.TeSt.", Rtype::A);
    let reply = udp(&engine, &query);
    assert_eq!(reply.question_bytes(), query.questions);
    assert_eq!((reply.rcode(), reply.aa(), reply.id()), (0, true, ID));
    assert_eq!(reply.answer(), ["WwW.TrIcKy.TeSt. 120 IN A 192.0.2.80"]);
}

#[test]
fn row17_zone_transfers_over_udp_are_refused() {
    let axfr = Query::new("tricky.test.", Rtype::AXFR);
    assert_error_with_question(&axfr, Transport::Udp, REFUSED);
    let ixfr = Query::new("tricky.test.", Rtype::IXFR);
    assert_error_with_question(&ixfr, Transport::Udp, REFUSED);
    // A real IXFR query carries the client's SOA in the authority section (RFC 1995 §3). It
    // must never be answered with zone data; today the NSCOUNT check answers FORMERR first.
    let soa = rr(&wire("tricky.test."), Rtype::SOA.0, 1, 3600, &{
        let mut rdata = wire("ns1.tricky.test.");
        rdata.extend_from_slice(&wire("hostmaster.tricky.test."));
        rdata.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5]);
        rdata
    });
    let bytes = ixfr.record(Section::Authority, &soa).build();
    let engine = tricky();
    let reply = ask_raw(&engine, &bytes, Transport::Udp);
    assert!(matches!(reply.rcode(), FORMERR | REFUSED), "rcode {}", reply.rcode());
    reply.assert_error(&bytes, reply.rcode());
    assert_still_serves(&engine);
}

// ---------------------------------------------------------------------------------------------
// §6.2 Names and compression
// ---------------------------------------------------------------------------------------------

/// A query whose question section is `name_bytes` + type A + class IN.
fn raw_qname(name_bytes: &[u8]) -> Vec<u8> {
    Query::empty().question(&question(name_bytes, 1, 1)).build()
}

#[test]
fn row19_qname_pointing_at_itself_is_formerr() {
    assert_error_without_question(&raw_qname(&[0xC0, 0x0C]), Transport::Udp, FORMERR);
    assert_error_without_question(&raw_qname(&[3, b'w', b'w', b'w', 0xC0, 0x0C]), Transport::Udp, FORMERR);
}

#[test]
fn row20_pointer_loops_and_long_chains_are_formerr() {
    // Two pointers pointing at each other: offset 12 -> 14 -> 12.
    let mut looped = Query::empty().counts(1, 0, 0, 0).build();
    looped.extend_from_slice(&[0xC0, 14, 0xC0, 12, 0, 1, 0, 1]);
    assert_error_without_question(&looped, Transport::Udp, FORMERR);
    // A strictly backwards chain of 200 pointers, reached from an additional record's owner.
    assert_error_with_question(&www().counts(1, 0, 0, 2).trailing(&chain_records(200)), Transport::Udp, FORMERR);
}

#[test]
fn row20_a_chain_within_the_hop_limit_is_accepted() {
    let engine = tricky();
    let bytes = www().counts(1, 0, 0, 2).trailing(&chain_records(100)).build();
    let reply = ask_raw(&engine, &bytes, Transport::Udp);
    assert_eq!(reply.rcode(), 0);
    assert_eq!(reply.answer(), ["www.tricky.test. 120 IN A 192.0.2.80"]);
}

/// Two additional records after `www()`'s question (which ends at offset 33): the first holds
/// `hops` pointers in opaque rdata, each pointing at the one before it (the first at the qname);
/// the second's owner points at the last, so its name takes `hops + 1` jumps.
fn chain_records(hops: usize) -> Vec<u8> {
    let rdata_start = 33 + 1 + 10;
    let mut rdata = vec![0xC0, 12];
    for i in 1..hops {
        let previous = rdata_start + 2 * (i - 1);
        rdata.extend_from_slice(&(0xC000 | previous as u16).to_be_bytes());
    }
    let mut out = rr(&[0], 65_280, 1, 0, &rdata);
    let last = rdata_start + 2 * (hops - 1);
    out.extend_from_slice(&rr(&(0xC000 | last as u16).to_be_bytes(), 65_280, 1, 0, &[]));
    out
}

#[test]
fn row21_forward_pointer_is_formerr() {
    // "www" then a pointer to offset 40, past the pointer itself.
    let mut bytes = raw_qname(&[3, b'w', b'w', b'w', 0xC0, 40]);
    bytes.extend_from_slice(&[0; 12]);
    assert_error_without_question(&bytes, Transport::Udp, FORMERR);
}

#[test]
fn row22_pointer_beyond_the_message_is_formerr() {
    assert_error_without_question(&raw_qname(&[0xFF, 0xFF]), Transport::Udp, FORMERR);
    assert_error_without_question(&raw_qname(&[3, b'w', b'w', b'w', 0xC1, 0x00]), Transport::Udp, FORMERR);
}

#[test]
fn row23_pointer_into_the_header_is_formerr() {
    for target in [0u8, 5, 11] {
        assert_error_without_question(&raw_qname(&[3, b'w', b'w', b'w', 0xC0, target]), Transport::Udp, FORMERR);
    }
}

#[test]
fn row24_extended_label_types_are_formerr() {
    for label in [0x40u8, 0x41, 0x7F, 0x80, 0xBF] {
        assert_error_without_question(&raw_qname(&[label, b'a', b'b', 0]), Transport::Udp, FORMERR);
        assert_error_without_question(&raw_qname(&[3, b'w', b'w', b'w', label, 0]), Transport::Udp, FORMERR);
    }
}

/// A wire name of exactly `len` octets (root included) ending in `tricky.test.`.
fn name_of_length(len: usize) -> Vec<u8> {
    let suffix = wire("tricky.test.");
    let mut out = Vec::new();
    let mut room = len - suffix.len();
    while room > 0 {
        let label = (room - 1).min(63);
        assert!(label > 0, "cannot make exactly {len} octets");
        out.push(label as u8);
        out.extend_from_slice(&vec![b'a'; label]);
        room -= label + 1;
    }
    out.extend_from_slice(&suffix);
    assert_eq!(out.len(), len);
    out
}

#[test]
fn row25_names_of_256_octets_are_formerr_and_255_parse() {
    let engine = tricky();
    let longest = Query::empty().question(&question(&name_of_length(255), 1, 1));
    let reply = udp(&engine, &longest);
    assert_eq!((reply.rcode(), reply.aa()), (3, true), "255 octets parse and get NXDOMAIN");
    assert_eq!(reply.question_bytes(), longest.questions);
    let too_long = Query::empty().question(&question(&name_of_length(256), 1, 1)).build();
    assert_error_without_question(&too_long, Transport::Udp, FORMERR);
    // An owner reaching 256 octets only through a pointer to the 255-octet qname.
    let mut owner = vec![1, b'x'];
    owner.extend_from_slice(&[0xC0, 12]);
    let via_pointer = longest.clone().record(Section::Additional, &rr(&owner, 65_280, 1, 0, &[]));
    assert_error_with_question(&via_pointer, Transport::Udp, FORMERR);
}

#[test]
fn row26_name_without_root_label_is_formerr() {
    let mut bytes = Query::empty().counts(1, 0, 0, 0).build();
    bytes.extend_from_slice(&[3, b'w', b'w', b'w', 6, b't', b'r', b'i', b'c', b'k', b'y']);
    assert_error_without_question(&bytes, Transport::Udp, FORMERR);
    // A label length running past the end.
    let mut bytes = Query::empty().counts(1, 0, 0, 0).build();
    bytes.extend_from_slice(&[3, b'w', b'w', b'w', 40, b'x']);
    assert_error_without_question(&bytes, Transport::Udp, FORMERR);
}

#[test]
fn row27_rdlength_beyond_the_message_is_formerr() {
    let mut record = rr(&[0], 65_280, 1, 0, &[1, 2, 3]);
    let len = record.len();
    record[len - 5..len - 3].copy_from_slice(&40u16.to_be_bytes());
    assert_error_with_question(&www().record(Section::Additional, &record), Transport::Udp, FORMERR);
}

#[test]
fn row27_a_record_with_wrong_rdlength_is_formerr() {
    for rdata in [&[192u8, 0, 2, 1, 9][..], &[192, 0, 2][..]] {
        let record = rr(&wire("www.tricky.test."), 1, 1, 0, rdata);
        assert_error_with_question(&www().record(Section::Additional, &record), Transport::Udp, FORMERR);
    }
}

/// A TCP message of about 60 000 bytes: `www()`'s question, then 12-byte records whose owners are
/// all pointers; `target(i, offset_of_record)` picks where record `i`'s owner points.
fn pointer_web(target: impl Fn(usize, &[usize]) -> usize) -> Vec<u8> {
    let count = (60_000 - 33) / 12;
    let mut records = Vec::new();
    let mut offsets = Vec::with_capacity(count);
    for i in 0..count {
        let pointer = target(i, &offsets);
        assert!(pointer < 0x4000, "a pointer reaches 14 bits only");
        let pointer = pointer as u16;
        offsets.push(33 + records.len());
        records.extend_from_slice(&rr(&(0xC000 | pointer).to_be_bytes(), 65_280, 1, 0, &[]));
    }
    www().counts(1, 0, 0, count as u16).trailing(&records).build()
}

#[test]
fn row28_sixty_thousand_bytes_of_interlinked_pointers_take_bounded_time() {
    let engine = tricky();
    let variants: [(&str, Vec<u8>, u16); 3] = [
        // Every owner points at the previous owner: an unbounded chain, refused at the hop limit.
        // (Only the first 16 KiB can be pointed at; the chain is refused long before that.)
        ("chain", pointer_web(|i, offsets| if i == 0 { 12 } else { offsets[(i - 1).min(1_300)] }), FORMERR),
        // Chains of 100 links restarting at the qname; past the 16 KiB a pointer can reach, every
        // owner points at the end of the first chain (101 hops): valid, and close to the limit.
        ("saw", pointer_web(|i, offsets| match i {
            _ if i % 100 == 0 && i < 1_300 => 12,
            _ if i < 1_300 => offsets[i - 1],
            _ => offsets[99],
        }), 0),
        // Every owner points at the qname.
        ("star", pointer_web(|_, _| 12), 0),
    ];
    for (label, bytes, rcode) in variants {
        assert!(bytes.len() > 59_000 && bytes.len() <= 60_000, "{label}: {} bytes", bytes.len());
        let started = Instant::now();
        let reply = ask_raw(&engine, &bytes, Transport::Tcp);
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(2), "{label}: {elapsed:?}");
        assert_eq!(reply.rcode(), rcode, "{label}");
        assert_eq!(reply.id(), ID);
        assert_eq!(reply.question_bytes(), www_question(), "{label}");
    }
    assert_still_serves(&engine);
}

// ---------------------------------------------------------------------------------------------
// §6.3 EDNS
// ---------------------------------------------------------------------------------------------

#[test]
fn row29_two_opt_records_are_formerr() {
    let reply = assert_error_with_question(&www().edns(Opt::new(1232)).edns(Opt::new(1232)), Transport::Udp, FORMERR);
    assert!(reply.opt().is_none(), "the OPT did not parse, so none is sent back");
}

#[test]
fn row30_opt_outside_the_additional_section_is_formerr() {
    let opt = Opt::new(1232).record();
    assert_error_with_question(&www().record(Section::Answer, &opt), Transport::Udp, FORMERR);
    assert_error_with_question(&www().record(Section::Authority, &opt), Transport::Udp, FORMERR);
}

#[test]
fn row31_opt_owner_other_than_root_is_formerr() {
    let mut opt = Opt::new(1232);
    opt.owner = wire("a.");
    assert_error_with_question(&www().edns(opt), Transport::Udp, FORMERR);
}

/// `www()` with EDNS version 1.
fn version_one() -> Query {
    let mut opt = Opt::new(4096);
    opt.version = 1;
    www().edns(opt)
}

#[test]
fn row32_edns_version_1_gets_badvers() {
    let engine = tricky();
    let bytes = version_one().build();
    let reply = ask_raw(&engine, &bytes, Transport::Udp);
    reply.assert_error(&bytes, BADVERS);
    assert_eq!(reply.header_rcode(), 0, "BADVERS (16) leaves 0 in the header");
    let opt = reply.opt().expect("BADVERS travels in OPT");
    assert_eq!(opt, OptView { udp: 1232, ext_rcode: 1, version: 0, flags: 0, options: vec![] });
    assert_eq!(reply.counts()[1..], [0, 0, 1]);
    assert_still_serves(&engine);
}

#[test]
fn row32_badvers_echoes_the_question() {
    let query = version_one();
    let reply = udp(&tricky(), &query);
    assert_eq!(reply.rcode(), BADVERS);
    assert_eq!(reply.counts()[0], 1);
    assert_eq!(reply.question_bytes(), query.questions);
}

#[test]
fn row32_badvers_still_returns_nsid() {
    let engine = tricky_with(EngineSettings { nsid: Some(b"ns-a".to_vec()), ..EngineSettings::default() });
    let mut opt = Opt::new(1232).with(code::NSID, &[]);
    opt.version = 1;
    let reply = udp(&engine, &www().edns(opt));
    assert_eq!(reply.rcode(), BADVERS);
    assert_eq!(reply.opt().expect("OPT").options, vec![(code::NSID, b"ns-a".to_vec())]);
}

#[test]
fn row33_option_overrunning_the_opt_rdata_is_formerr() {
    let mut opt = Opt::new(1232);
    opt.options = vec![0, 3, 0, 9, 1, 2];
    assert_error_with_question(&www().edns(opt), Transport::Udp, FORMERR);
    let mut opt = Opt::new(1232).with(code::NSID, &[]);
    opt.options.extend_from_slice(&[0, 10]);
    assert_error_with_question(&www().edns(opt), Transport::Udp, FORMERR);
}

#[test]
fn row34_unknown_options_are_ignored_and_not_echoed() {
    let engine = tricky();
    let reply = udp(&engine, &www().edns(Opt::new(1232).with(65_001, b"hello").with(20, &[])));
    assert_eq!(reply.rcode(), 0);
    assert_eq!(reply.answer(), ["www.tricky.test. 120 IN A 192.0.2.80"]);
    assert_eq!(reply.opt().expect("OPT").options, vec![]);
}

#[test]
fn row35_unknown_edns_flags_are_ignored_and_not_echoed() {
    let engine = tricky();
    let mut opt = Opt::new(1232);
    opt.flags = 0x7FFF;
    let reply = udp(&engine, &www().edns(opt.clone()));
    assert_eq!(reply.rcode(), 0);
    assert_eq!(reply.opt().expect("OPT").flags, 0);
    opt.flags = 0xFFFF;
    let reply = udp(&engine, &www().edns(opt));
    assert_eq!(reply.opt().expect("OPT").flags, 0x8000, "only DO is echoed");
}

#[test]
fn row36_edns_udp_size_below_512_is_treated_as_512() {
    // medium.tricky.test. TXT is about 700 bytes: over 512, under 1232.
    let engine = tricky();
    for size in [0u16, 1, 100, 511, 512] {
        let reply = udp(&engine, &Query::new("medium.tricky.test.", Rtype::TXT).edns(Opt::new(size)));
        assert!(reply.tc(), "size {size}: a reply over 512 must be truncated");
        assert!(reply.bytes.len() <= 512, "size {size}: {} bytes", reply.bytes.len());
        assert!(reply.bytes.len() >= 12 + 24 + 11, "size {size}: header, question and OPT are kept");
        assert_eq!(reply.answer(), Vec::<String>::new(), "size {size}");
        assert_eq!(reply.opt().expect("OPT").udp, 1232, "size {size}: we still advertise our size");
    }
    let reply = udp(&engine, &Query::new("medium.tricky.test.", Rtype::TXT).edns(Opt::new(1232)));
    assert!(!reply.tc() && reply.bytes.len() > 512);
    assert_eq!(reply.answer().len(), 6);
}

/// `count` options of `code` with `data`, as an option area.
fn repeated(code: u16, data: &[u8], count: usize) -> Vec<u8> {
    (0..count).flat_map(|_| option(code, data)).collect()
}

#[test]
fn row37_ten_thousand_tiny_options_are_formerr_in_bounded_time() {
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut opt = Opt::new(1232);
        opt.options = repeated(65_001, &[], 10_000);
        let started = Instant::now();
        assert_error_with_question(&www().edns(opt), transport, FORMERR);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

#[test]
fn row37_repeated_cookie_nsid_and_padding_options_are_bounded() {
    let engine = tricky_with(EngineSettings { nsid: Some(b"ns-a".to_vec()), ..EngineSettings::default() });
    // Within the parser's cap of 64 options: answered, one NSID back, nothing else echoed.
    let mut opt = Opt::new(1232);
    opt.options = repeated(code::COOKIE, &[7; 8], 20);
    opt.options.extend(repeated(code::NSID, &[], 20));
    opt.options.extend(repeated(code::PADDING, &[0; 16], 20));
    let reply = udp(&engine, &www().edns(opt));
    assert_eq!(reply.rcode(), 0);
    assert_eq!(reply.answer(), ["www.tricky.test. 120 IN A 192.0.2.80"]);
    assert_eq!(reply.opt().expect("OPT").options, vec![(code::NSID, b"ns-a".to_vec())]);
    // Far beyond it: FORMERR, whatever the option.
    for (option_code, data) in [(code::COOKIE, &[7u8; 8][..]), (code::NSID, &[][..]), (code::PADDING, &[0u8; 4][..])] {
        let mut opt = Opt::new(1232);
        opt.options = repeated(option_code, data, 1_000);
        let bytes = www().edns(opt).build();
        let reply = ask_raw(&engine, &bytes, Transport::Tcp);
        reply.assert_error(&bytes, FORMERR);
    }
    assert_still_serves(&engine);
}

#[test]
fn row38_cookie_of_a_bad_length_is_formerr() {
    let bad = (0..=7).chain(9..=15).chain([41, 42, 64]);
    for len in bad {
        let query = www().edns(Opt::new(1232).with(code::COOKIE, &vec![0xAB; len]));
        assert_error_with_question(&query, Transport::Udp, FORMERR);
    }
    let engine = tricky();
    for len in [8, 16, 24, 40] {
        let reply = udp(&engine, &www().edns(Opt::new(1232).with(code::COOKIE, &vec![0xAB; len])));
        assert_eq!(reply.rcode(), 0, "cookie of {len} bytes is valid");
    }
}

#[test]
fn row40_malformed_client_subnet_is_formerr() {
    let bad: [(&str, &[u8]); 8] = [
        ("IPv4 source prefix 33", &[0, 1, 33, 0, 192, 0, 2, 1, 0]),
        ("address longer than the prefix", &[0, 1, 24, 0, 192, 0, 2, 1]),
        ("address shorter than the prefix", &[0, 1, 24, 0, 192, 0]),
        ("bits set beyond the prefix", &[0, 1, 23, 0, 192, 0, 3]),
        ("family 0 with a prefix", &[0, 0, 1, 0, 0]),
        ("unknown family", &[0, 3, 0, 0]),
        ("IPv6 source prefix 129", &[0, 2, 129, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("shorter than the fixed part", &[0, 1, 24]),
    ];
    for (label, data) in bad {
        let query = www().edns(Opt::new(1232).with(code::CLIENT_SUBNET, data));
        let engine = tricky();
        let bytes = query.build();
        let reply = ask_raw(&engine, &bytes, Transport::Udp);
        assert_eq!(reply.rcode(), FORMERR, "{label}");
        reply.assert_error(&bytes, FORMERR);
    }
    let reply = udp(&tricky(), &www().edns(Opt::new(1232).with(code::CLIENT_SUBNET, &[0, 1, 24, 0, 192, 0, 2])));
    assert_eq!(reply.rcode(), 0, "a well-formed ECS option is accepted");
}

#[test]
fn row41_tcp_keepalive_without_timeout_is_accepted_and_ignored_over_udp() {
    let engine = tricky();
    // RFC 7828 §3.2.1: queries carry OPTION-LENGTH 0.
    let reply = tcp(&engine, &www().edns(Opt::new(1232).with(code::TCP_KEEPALIVE, &[])));
    assert_eq!(reply.rcode(), 0);
    // Over UDP the option is ignored, even with a TIMEOUT.
    let reply = udp(&engine, &www().edns(Opt::new(1232).with(code::TCP_KEEPALIVE, &[0, 100])));
    assert_eq!(reply.rcode(), 0);
    assert_eq!(reply.answer(), ["www.tricky.test. 120 IN A 192.0.2.80"]);
}

#[test]
fn row41_tcp_keepalive_with_timeout_over_tcp_is_formerr() {
    let query = www().edns(Opt::new(1232).with(code::TCP_KEEPALIVE, &[0, 100]));
    assert_error_with_question(&query, Transport::Tcp, FORMERR);
}

#[test]
fn row42_key_tag_and_expire_of_bad_lengths_are_formerr() {
    for data in [&[][..], &[1][..], &[1, 2, 3][..]] {
        assert_error_with_question(&www().edns(Opt::new(1232).with(code::KEY_TAG, data)), Transport::Udp, FORMERR);
    }
    for data in [&[1][..], &[1, 2][..], &[1, 2, 3][..], &[1, 2, 3, 4, 5][..], &[0; 8][..]] {
        assert_error_with_question(&www().edns(Opt::new(1232).with(code::EXPIRE, data)), Transport::Udp, FORMERR);
    }
    let engine = tricky();
    for (option_code, data) in [(code::KEY_TAG, &[0x4f, 0x66][..]), (code::KEY_TAG, &[0, 1, 0, 2][..]), (code::EXPIRE, &[][..]), (code::EXPIRE, &[0, 0, 0, 1][..])] {
        let reply = udp(&engine, &www().edns(Opt::new(1232).with(option_code, data)));
        assert_eq!(reply.rcode(), 0, "option {option_code} of {} bytes is valid", data.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Beyond the catalogue
// ---------------------------------------------------------------------------------------------

#[test]
fn output_buffer_smaller_than_a_header_is_a_no_buffer_drop() {
    let engine = tricky();
    let bytes = www().build();
    let mut out = [0u8; 11];
    let request = portcullis_engine::Request::at_zero(&bytes, peer(), Transport::Udp);
    assert_eq!(engine.handle(&request, &mut out), Outcome::Drop(DropReason::NoBuffer));
    assert_still_serves(&engine);
}
