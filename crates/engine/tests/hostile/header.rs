//! SECURITY-REFERENCE §6.1: header and question.

use crate::*;
use portcullis_engine::auth::ZoneSet;
use portcullis_engine::engine::Policy;
use portcullis_engine::metrics::EngineCounters;
use portcullis_engine::policy::{Acl, AclSettings, ActionRules, MatchElement};
use portcullis_engine::{Engine, Outcome, Request};
use portcullis_wire::tsig::{self, Tsig};
use std::sync::Arc;

const NOTAUTH: u16 = 9;

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
fn row06_query_without_question_with_cookie_is_formerr_when_cookies_are_off() {
    // RFC 7873 §5.4 wants NOERROR, an empty answer and a fresh server cookie from a server that
    // supports cookies; it allows a server without cookie support to answer FORMERR. This engine
    // has cookies off (`Policy::defaults()`), so FORMERR. With cookies on, the server's default,
    // `defences/cookies.rs::qdcount_zero_with_cookie_returns_the_server_cookie` checks NOERROR and
    // the server cookie.
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
fn row17_axfr_over_udp_is_formerr_and_ixfr_refused() {
    // RFC 5936 §4.2: AXFR is TCP only; BIND answers FORMERR, Knot NOTIMP; also for a name
    // outside the zones, and where the transfer ACL allows the client (`defences/acl.rs`).
    let axfr = Query::new("tricky.test.", Rtype::AXFR);
    assert_error_with_question(&axfr, Transport::Udp, FORMERR);
    assert_error_with_question(&Query::new("elsewhere.example.", Rtype::AXFR), Transport::Udp, FORMERR);
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

/// `tricky.test.` with transfers allowed to everyone.
#[allow(clippy::expect_used)]
fn transfers_allowed() -> Engine {
    let zones = ZoneSet::new(vec![Arc::new(load_zone("tricky.test.", "tricky.zone"))]);
    let rules = ActionRules { transfer: Some(vec![MatchElement::Any { negated: false }]), ..Default::default() };
    let mut policy = Policy::defaults();
    policy.acl = Acl::new(&AclSettings { global: rules, ..Default::default() }, None).expect("acl");
    Engine::with_policy(zones, EngineSettings::default(), Arc::new(EngineCounters::default()), policy)
}

#[test]
fn row17_where_transfers_are_allowed_only_tcp_reaches_the_zone() {
    let engine = transfers_allowed();
    let axfr = Query::new("tricky.test.", Rtype::AXFR).build();
    // AXFR over UDP: FORMERR even here; over TCP: the stream, nothing written by `handle`.
    ask_raw(&engine, &axfr, Transport::Udp).assert_error(&axfr, FORMERR);
    let (outcome, bytes) = exchange(&engine, &axfr, Transport::Tcp, peer());
    assert_eq!((outcome, bytes.len()), (Outcome::Transfer, 0));
    let request = Request::at_zero(&axfr, peer(), Transport::Tcp);
    let mut transfer = engine.transfer(&request).expect("the transfer");
    let mut out = vec![0u8; 65_535];
    let first = transfer.next_message(&mut out).expect("a first message");
    let reply = Reply::new(out[..first].to_vec());
    assert_eq!((reply.id(), reply.qr(), reply.aa(), reply.rcode()), (ID, true, true, 0));
    assert!(reply.answer()[0].contains(" SOA "), "{:?}", reply.answer());
    // A name below the apex is not a zone here: NOTAUTH (RFC 5936 §2.2.1).
    let below = Query::new("www.tricky.test.", Rtype::AXFR).build();
    ask_raw(&engine, &below, Transport::Tcp).assert_error(&below, NOTAUTH);
    // IXFR without the client's SOA: FORMERR.
    let bare = Query::new("tricky.test.", Rtype::IXFR).build();
    ask_raw(&engine, &bare, Transport::Tcp).assert_error(&bare, FORMERR);
    assert_still_serves(&engine);
}

/// A TSIG record (RFC 8945 §4.2) of key `key.` in `class`, with a well-formed rdata and an empty
/// MAC: only its place and class are judged here, not its MAC.
fn tsig(class: u16) -> Vec<u8> {
    let mut rdata = wire("hmac-sha256.");
    // Time signed (48 bits), fudge 300, MAC size 0, original ID, error 0, other length 0.
    rdata.extend_from_slice(&[0, 0, 0x5F, 0x5E, 0x10, 0x00, 0x01, 0x2C, 0, 0, 0xBE, 0x1F, 0, 0, 0, 0]);
    rr(&wire("key."), Rtype::TSIG.0, class, 0, &rdata)
}

#[test]
fn row43_tsig_not_last_or_twice_is_formerr() {
    let not_last = www().record(Section::Additional, &tsig(255)).edns(Opt::new(1232));
    assert_error_with_question(&not_last, Transport::Udp, FORMERR);
    let twice = www().record(Section::Additional, &tsig(255)).record(Section::Additional, &tsig(255));
    assert_error_with_question(&twice, Transport::Udp, FORMERR);
    let in_answer = www().record(Section::Answer, &tsig(255));
    assert_error_with_question(&in_answer, Transport::Udp, FORMERR);
}

#[test]
fn row44_tsig_of_a_class_other_than_any_is_formerr() {
    assert_error_with_question(&www().record(Section::Additional, &tsig(1)), Transport::Udp, FORMERR);
}

#[test]
fn row45_a_request_signed_with_an_unknown_key_is_notauth_with_an_unsigned_badkey() {
    // No key is configured, so every key is unknown, whatever the opcode and with or without
    // EDNS (TSIG then follows OPT, RFC 8945 §5.1).
    for (opcode, edns) in [(0, false), (0, true), (4, false), (5, false)] {
        let mut query = www().opcode(opcode);
        if edns {
            query = query.edns(Opt::new(1232));
        }
        let query = query.record(Section::Additional, &tsig(255));
        let bytes = query.build();
        let engine = tricky();
        let reply = ask_raw(&engine, &bytes, Transport::Udp);
        let what = format!("opcode {opcode}, edns {edns}");
        assert_eq!((reply.qr(), reply.id(), reply.opcode(), reply.aa(), reply.tc()), (true, ID, opcode, false, false), "{what}");
        assert_eq!(reply.rcode(), NOTAUTH, "{what}");
        assert_eq!(reply.question_bytes(), query.questions, "{what}");
        assert_eq!(reply.counts()[1..], [0, 0, 1 + u16::from(edns)], "{what}");
        let message = reply.message();
        let record = Tsig::parse(message.bytes(), message.tsig_offset().expect("a TSIG record, last")).expect("TSIG rdata");
        let expected = Tsig {
            key: name("key."),
            algorithm: name("hmac-sha256."),
            time_signed: 0x5F5E_1000,
            fudge: 300,
            mac: &[],
            original_id: ID,
            error: tsig::error::BADKEY,
            other: &[],
        };
        assert_eq!(record, expected, "{what}: the request's fields, no MAC (unsigned)");
        assert_still_serves(&engine);
    }
}

#[test]
fn row45_a_tsig_record_whose_rdata_cannot_be_read_is_formerr() {
    let mut rdata = wire("hmac-sha256.");
    rdata.extend_from_slice(&[0, 0, 0x5F, 0x5E, 0x10]);
    let short = rr(&wire("key."), Rtype::TSIG.0, 255, 0, &rdata);
    assert_error_with_question(&www().record(Section::Additional, &short), Transport::Udp, FORMERR);
}
