//! Authoritative behaviour, one test per RFC rule, named by RFC and section (DESIGN §5.13 level
//! 2), against `testdata/engine/tricky.zone` (origin `tricky.test.`) and the RFC 4592 §2.2.1
//! example zone `testdata/engine/rfc4592.zone` (origin `example.`).
//!
//! Records are compared as presentation lines `owner ttl class type rdata`.

mod common;

use common::*;
use portcullis_engine::EngineSettings;
use portcullis_wire::edns::code;
use portcullis_wire::message::Section;
use portcullis_wire::Rtype;

const NOERROR: u16 = 0;
const NXDOMAIN: u16 = 3;
const NOTIMP: u16 = 4;
const REFUSED: u16 = 5;
const YXDOMAIN: u16 = 6;

/// The SOA of tricky.test. as a negative answer carries it: TTL min(3600, 300) = 300.
const TRICKY_NEGATIVE_SOA: &str = "tricky.test. 300 IN SOA ns1.tricky.test. hostmaster.tricky.test. 2024010101 7200 3600 1209600 300";

/// The SOA of example. as a negative answer carries it: TTL min(3600, 7200) = 3600.
const EXAMPLE_NEGATIVE_SOA: &str = "example. 3600 IN SOA ns.example.com. hostmaster.example.com. 1 7200 3600 1209600 7200";

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

/// Asks `qname`/`qtype` over UDP without EDNS and checks what every authoritative reply shares:
/// QR, the ID, opcode QUERY, the question echoed byte for byte, TC clear.
fn ask(engine: &portcullis_engine::Engine, qname: &str, qtype: Rtype) -> Reply {
    let query = Query::new(qname, qtype);
    let reply = udp(engine, &query);
    assert!(reply.qr() && !reply.tc(), "{qname} {qtype}: QR set, TC clear");
    assert_eq!((reply.id(), reply.opcode()), (ID, 0));
    assert_eq!(reply.question_bytes(), query.questions, "{qname} {qtype}: question echoed");
    reply
}

// ---------------------------------------------------------------------------------------------
// RFC 1034 §4.3.2: the authoritative algorithm
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc1034_4_3_2_exact_match_is_authoritative() {
    let reply = ask(&tricky(), "www.tricky.test.", Rtype::A);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    assert_eq!(reply.answer(), ["www.tricky.test. 120 IN A 192.0.2.80"]);
    assert_eq!(reply.counts(), [1, 1, 0, 0]);
}

#[test]
fn rfc1035_4_1_1_rd_is_copied_and_ra_stays_clear() {
    let reply = udp(&tricky(), &Query::new("www.tricky.test.", Rtype::A).bits2(0x01));
    assert!(reply.rd() && !reply.ra());
    let reply = udp(&tricky(), &Query::new("www.tricky.test.", Rtype::A));
    assert!(!reply.rd() && !reply.ra());
}

#[test]
fn rfc1034_4_3_2_apex_ns_answer_carries_the_server_addresses() {
    let reply = ask(&tricky(), "tricky.test.", Rtype::NS);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    assert_eq!(sorted(reply.answer()), ["tricky.test. 3600 IN NS ns1.tricky.test.", "tricky.test. 3600 IN NS ns2.tricky.test."]);
    assert_eq!(sorted(reply.additional()), ["ns1.tricky.test. 3600 IN A 192.0.2.1", "ns2.tricky.test. 3600 IN AAAA 2001:db8::2"]);
}

#[test]
fn rfc1034_4_3_2_referral_has_ns_in_authority_glue_in_additional_and_aa_clear() {
    let engine = tricky();
    // At the cut's children, deeper, on the glue itself and on occluded data: all referrals.
    for qname in ["host.sub.tricky.test.", "a.b.c.sub.tricky.test.", "ns1.sub.tricky.test.", "occluded.sub.tricky.test."] {
        for qtype in [Rtype::A, Rtype::AAAA, Rtype::TXT, Rtype::DS] {
            let reply = ask(&engine, qname, qtype);
            assert_eq!((reply.rcode(), reply.aa()), (NOERROR, false), "{qname} {qtype}");
            assert_eq!(reply.answer(), Vec::<String>::new(), "{qname} {qtype}: nothing from below the cut");
            assert_eq!(
                sorted(reply.authority()),
                [
                    "sub.tricky.test. 86400 IN NS ns.elsewhere.example.",
                    "sub.tricky.test. 86400 IN NS ns1.sub.tricky.test.",
                    "sub.tricky.test. 86400 IN NS ns2.sub.tricky.test."
                ],
                "{qname} {qtype}"
            );
            assert_eq!(
                sorted(reply.additional()),
                ["ns1.sub.tricky.test. 86400 IN A 192.0.2.53", "ns2.sub.tricky.test. 86400 IN AAAA 2001:db8::53"],
                "{qname} {qtype}"
            );
        }
    }
}

#[test]
fn rfc1034_4_3_2_ns_query_at_a_cut_is_a_referral() {
    let reply = ask(&tricky(), "sub.tricky.test.", Rtype::NS);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, false));
    assert_eq!(reply.answer(), Vec::<String>::new());
    assert_eq!(reply.authority().len(), 3);
    assert_eq!(reply.additional().len(), 2);
    // Any other type at the cut too.
    let reply = ask(&tricky(), "sub.tricky.test.", Rtype::A);
    assert_eq!((reply.rcode(), reply.aa(), reply.authority().len()), (NOERROR, false, 3));
}

#[test]
fn rfc4035_3_1_4_1_ds_at_a_cut_is_answered_by_the_parent() {
    let engine = tricky();
    let reply = ask(&engine, "signed.tricky.test.", Rtype::DS);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    assert_eq!(reply.answer(), ["signed.tricky.test. 86400 IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"]);
    assert_eq!(reply.authority(), Vec::<String>::new());
    // No DS at the cut: NODATA from the parent, with the parent's SOA.
    let reply = ask(&engine, "sub.tricky.test.", Rtype::DS);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    assert_eq!(reply.answer(), Vec::<String>::new());
    assert_eq!(reply.authority(), [TRICKY_NEGATIVE_SOA]);
    // Other types at a signed cut stay referrals.
    let reply = ask(&engine, "signed.tricky.test.", Rtype::A);
    assert_eq!((reply.aa(), reply.authority()), (false, vec!["signed.tricky.test. 86400 IN NS ns.elsewhere.example.".to_string()]));
}

#[test]
fn rfc1034_names_outside_every_zone_are_refused() {
    let engine = tricky();
    for (qname, qtype) in [("www.elsewhere.example.", Rtype::A), (".", Rtype::NS), ("test.", Rtype::SOA), ("xtricky.test.", Rtype::A)] {
        let query = Query::new(qname, qtype);
        let bytes = query.build();
        let reply = udp(&engine, &query);
        reply.assert_error(&bytes, REFUSED);
        assert_eq!(reply.question_bytes(), query.questions, "{qname}");
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 2308: negative answers
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc2308_3_nxdomain_carries_the_soa_with_the_negative_ttl() {
    let engine = tricky();
    for qname in ["nothere.tricky.test.", "a.b.nothere.tricky.test.", "xwww.tricky.test."] {
        let reply = ask(&engine, qname, Rtype::A);
        assert_eq!((reply.rcode(), reply.aa()), (NXDOMAIN, true), "{qname}");
        assert_eq!(reply.answer(), Vec::<String>::new());
        assert_eq!(reply.authority(), [TRICKY_NEGATIVE_SOA], "{qname}");
        assert_eq!(reply.additional(), Vec::<String>::new());
    }
}

#[test]
fn rfc2308_5_nodata_carries_the_soa_with_the_negative_ttl() {
    let engine = tricky();
    // A name with other types, and an empty non-terminal (target. only owns www.target.).
    for (qname, qtype) in [("www.tricky.test.", Rtype::TXT), ("target.tricky.test.", Rtype::A), ("_tcp.tricky.test.", Rtype::SRV)] {
        let reply = ask(&engine, qname, qtype);
        assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true), "{qname}");
        assert_eq!(reply.answer(), Vec::<String>::new(), "{qname}");
        assert_eq!(reply.authority(), [TRICKY_NEGATIVE_SOA], "{qname}");
    }
}

#[test]
fn rfc2308_5_negative_ttl_is_the_soa_ttl_when_minimum_is_larger() {
    let reply = ask(&rfc4592(), "host1.example.", Rtype::AAAA);
    assert_eq!(reply.authority(), [EXAMPLE_NEGATIVE_SOA]);
}

// ---------------------------------------------------------------------------------------------
// RFC 4592 §2.2.1: the example zone and every query outcome the RFC lists
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc4592_2_2_1_host3_mx_is_synthesised_from_the_wildcard() {
    let reply = ask(&rfc4592(), "host3.example.", Rtype::MX);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    assert_eq!(reply.answer(), ["host3.example. 3600 IN MX 10 host1.example."]);
    assert_eq!(reply.additional(), ["host1.example. 3600 IN A 192.0.2.1"]);
}

#[test]
fn rfc4592_2_2_1_host3_a_is_nodata_from_the_wildcard() {
    let reply = ask(&rfc4592(), "host3.example.", Rtype::A);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    assert_eq!(reply.answer(), Vec::<String>::new());
    assert_eq!(reply.authority(), [EXAMPLE_NEGATIVE_SOA]);
}

#[test]
fn rfc4592_2_2_1_foo_bar_txt_is_synthesised_because_bar_does_not_exist() {
    let reply = ask(&rfc4592(), "foo.bar.example.", Rtype::TXT);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    assert_eq!(reply.answer(), ["foo.bar.example. 3600 IN TXT \"this is a wildcard\""]);
}

#[test]
fn rfc4592_2_2_1_host1_mx_is_not_synthesised_because_host1_exists() {
    let reply = ask(&rfc4592(), "host1.example.", Rtype::MX);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    assert_eq!(reply.answer(), Vec::<String>::new());
    assert_eq!(reply.authority(), [EXAMPLE_NEGATIVE_SOA]);
}

#[test]
fn rfc4592_2_2_1_sub_star_mx_is_not_synthesised_because_sub_star_exists() {
    let reply = ask(&rfc4592(), "sub.*.example.", Rtype::MX);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    assert_eq!(reply.answer(), Vec::<String>::new());
    assert_eq!(reply.authority(), [EXAMPLE_NEGATIVE_SOA]);
    // Its own TXT is an ordinary answer, not a wildcard.
    let reply = ask(&rfc4592(), "sub.*.example.", Rtype::TXT);
    assert_eq!(reply.answer(), ["sub.*.example. 3600 IN TXT \"this is not a wildcard\""]);
}

#[test]
fn rfc4592_2_2_1_telnet_tcp_host1_srv_is_not_synthesised_because_tcp_host1_exists() {
    // _tcp.host1.example. is an empty non-terminal: it is the closest encloser, and it has no
    // wildcard child, so the name does not exist (the RFC lists it as "not synthesised").
    let reply = ask(&rfc4592(), "_telnet._tcp.host1.example.", Rtype::SRV);
    assert_eq!((reply.rcode(), reply.aa()), (NXDOMAIN, true));
    assert_eq!(reply.answer(), Vec::<String>::new());
    assert_eq!(reply.authority(), [EXAMPLE_NEGATIVE_SOA]);
    // The existing SRV next to it is answered.
    let reply = ask(&rfc4592(), "_ssh._tcp.host1.example.", Rtype::SRV);
    assert_eq!(reply.answer(), ["_ssh._tcp.host1.example. 3600 IN SRV 0 0 22 host1.example."]);
}

#[test]
fn rfc4592_2_2_1_host_subdel_a_is_a_referral_because_subdel_is_a_cut() {
    let reply = ask(&rfc4592(), "host.subdel.example.", Rtype::A);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, false));
    assert_eq!(reply.answer(), Vec::<String>::new());
    assert_eq!(sorted(reply.authority()), ["subdel.example. 3600 IN NS ns.example.com.", "subdel.example. 3600 IN NS ns.example.net."]);
    assert_eq!(reply.additional(), Vec::<String>::new());
}

#[test]
fn rfc4592_2_2_1_ghost_star_mx_is_not_synthesised_because_star_exists() {
    // *.example. is the closest encloser; *.*.example. does not exist.
    let reply = ask(&rfc4592(), "ghost.*.example.", Rtype::MX);
    assert_eq!((reply.rcode(), reply.aa()), (NXDOMAIN, true));
    assert_eq!(reply.answer(), Vec::<String>::new());
    assert_eq!(reply.authority(), [EXAMPLE_NEGATIVE_SOA]);
}

#[test]
fn rfc4592_3_3_1_wildcard_owner_is_the_qname_as_asked() {
    let reply = ask(&tricky(), "Deep.Below.WILD.tricky.test.", Rtype::TXT);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    assert_eq!(reply.answer(), ["Deep.Below.WILD.tricky.test. 3600 IN TXT \"wildcard\""]);
    let reply = ask(&tricky(), "x.wild.tricky.test.", Rtype::A);
    assert_eq!((reply.rcode(), reply.authority()), (NOERROR, vec![TRICKY_NEGATIVE_SOA.to_string()]), "wildcard NODATA");
}

#[test]
fn rfc4592_4_4_wildcard_cname_is_synthesised_and_followed() {
    let reply = ask(&tricky(), "foo.wcname.tricky.test.", Rtype::A);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    assert_eq!(reply.answer(), ["foo.wcname.tricky.test. 300 IN CNAME www.tricky.test.", "www.tricky.test. 120 IN A 192.0.2.80"]);
}

// ---------------------------------------------------------------------------------------------
// RFC 6672: DNAME
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc6672_3_2_dname_is_copied_and_a_cname_synthesised_with_its_ttl() {
    let reply = ask(&tricky(), "www.dn.tricky.test.", Rtype::A);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    assert_eq!(
        reply.answer(),
        [
            "dn.tricky.test. 300 IN DNAME target.tricky.test.",
            "www.dn.tricky.test. 300 IN CNAME www.target.tricky.test.",
            "www.target.tricky.test. 3600 IN A 192.0.2.90",
        ]
    );
}

#[test]
fn rfc6672_3_2_synthesised_cname_keeps_the_qname_case() {
    let reply = ask(&tricky(), "WwW.Dn.tricky.test.", Rtype::A);
    let answer = reply.answer();
    // The DNAME's owner is compressed against the question, so its case may follow the
    // question's (compression is case-insensitive); the synthesised names must keep it.
    assert_eq!(answer[0].to_ascii_lowercase(), "dn.tricky.test. 300 in dname target.tricky.test.");
    assert_eq!(answer[1..], ["WwW.Dn.tricky.test. 300 IN CNAME WwW.target.tricky.test.", "WwW.target.tricky.test. 3600 IN A 192.0.2.90"]);
}

#[test]
fn rfc6672_2_3_dname_does_not_apply_to_its_owner() {
    let engine = tricky();
    let reply = ask(&engine, "dn.tricky.test.", Rtype::DNAME);
    assert_eq!(reply.answer(), ["dn.tricky.test. 300 IN DNAME target.tricky.test."]);
    let reply = ask(&engine, "dn.tricky.test.", Rtype::A);
    assert_eq!((reply.rcode(), reply.answer(), reply.authority()), (NOERROR, vec![], vec![TRICKY_NEGATIVE_SOA.to_string()]));
}

#[test]
fn rfc6672_dname_below_the_target_missing_is_nxdomain() {
    let reply = ask(&tricky(), "nope.dn.tricky.test.", Rtype::A);
    assert_eq!((reply.rcode(), reply.aa()), (NXDOMAIN, true));
    assert_eq!(reply.answer(), ["dn.tricky.test. 300 IN DNAME target.tricky.test.", "nope.dn.tricky.test. 300 IN CNAME nope.target.tricky.test."]);
    assert_eq!(reply.authority(), [TRICKY_NEGATIVE_SOA]);
}

#[test]
fn rfc6672_dname_leaving_the_zone_stops_after_the_cname() {
    let reply = ask(&tricky(), "ok.long.tricky.test.", Rtype::A);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    let target = format!("{}.{}.{}.elsewhere.example.", "x".repeat(63), "y".repeat(63), "z".repeat(50));
    assert_eq!(reply.answer(), [format!("long.tricky.test. 300 IN DNAME {target}"), format!("ok.long.tricky.test. 300 IN CNAME ok.{target}")]);
    assert_eq!(reply.authority(), Vec::<String>::new());
}

#[test]
fn rfc6672_dname_whose_target_is_below_it_stops_after_one_cname_for_every_type() {
    let engine = tricky();
    let expected = ["dnloop.tricky.test. 300 IN DNAME x.dnloop.tricky.test.", "a.dnloop.tricky.test. 300 IN CNAME a.x.dnloop.tricky.test."];
    for qtype in [Rtype::A, Rtype::AAAA, Rtype::TXT, Rtype::ANY] {
        let reply = ask(&engine, "a.dnloop.tricky.test.", qtype);
        assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true), "{qtype}");
        assert_eq!(reply.answer(), expected, "{qtype}");
        let reply = tcp(&engine, &Query::new("a.dnloop.tricky.test.", qtype));
        assert_eq!(reply.answer(), expected, "{qtype} over TCP");
    }
}

#[test]
fn rfc6672_2_2_substitution_longer_than_255_octets_is_yxdomain() {
    // 64 octets of prefix + 198 octets of target = 262 > 255.
    let qname = format!("{}.long.tricky.test.", "a".repeat(63));
    let reply = ask(&tricky(), &qname, Rtype::A);
    assert_eq!((reply.rcode(), reply.aa()), (YXDOMAIN, true));
    assert_eq!(reply.answer().len(), 1, "only the DNAME: {:?}", reply.answer());
    assert!(reply.answer()[0].starts_with("long.tricky.test. 300 IN DNAME xxx"));
    assert_eq!(reply.authority(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// CNAME (RFC 1034 §3.6.2, §4.3.2 step 3a; RFC 6604)
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc1034_4_3_2_cname_chain_inside_the_zone_is_followed() {
    let reply = ask(&tricky(), "c1.tricky.test.", Rtype::A);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    assert_eq!(
        reply.answer(),
        [
            "c1.tricky.test. 300 IN CNAME c2.tricky.test.",
            "c2.tricky.test. 300 IN CNAME c3.tricky.test.",
            "c3.tricky.test. 300 IN CNAME www.tricky.test.",
            "www.tricky.test. 120 IN A 192.0.2.80",
        ]
    );
    // Asking for the CNAME itself is not followed.
    let reply = ask(&tricky(), "c1.tricky.test.", Rtype::CNAME);
    assert_eq!(reply.answer(), ["c1.tricky.test. 300 IN CNAME c2.tricky.test."]);
}

#[test]
fn rfc1034_4_3_2_cname_leaving_the_zone_stops_with_noerror() {
    let reply = ask(&tricky(), "cext.tricky.test.", Rtype::A);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    assert_eq!(reply.answer(), ["cext.tricky.test. 300 IN CNAME www.elsewhere.example."]);
    assert_eq!(reply.authority(), Vec::<String>::new());
}

#[test]
fn rfc1034_cname_loop_terminates_within_the_chain_limit() {
    for qname in ["loop1.tricky.test.", "LOOP2.tricky.test."] {
        let reply = ask(&tricky(), qname, Rtype::A);
        assert_eq!(reply.rcode(), NOERROR);
        let answer = reply.answer();
        assert!(!answer.is_empty() && answer.len() <= 12, "{} records", answer.len());
        // (Compression is case-insensitive, so names may take the case of the question.)
        assert!(answer.iter().all(|line| line.to_ascii_lowercase().contains(" in cname loop")), "{answer:?}");
    }
}

#[test]
fn rfc2181_5_5_cname_loop_answer_holds_each_rrset_once() {
    let reply = ask(&tricky(), "loop1.tricky.test.", Rtype::A);
    assert_eq!(reply.answer(), ["loop1.tricky.test. 300 IN CNAME loop2.tricky.test.", "loop2.tricky.test. 300 IN CNAME loop1.tricky.test."]);
}

#[test]
fn rfc6604_2_cname_to_a_missing_name_is_nxdomain() {
    let reply = ask(&tricky(), "cnx.tricky.test.", Rtype::A);
    assert_eq!((reply.rcode(), reply.aa()), (NXDOMAIN, true));
    assert_eq!(reply.answer(), ["cnx.tricky.test. 300 IN CNAME nothere.tricky.test."]);
    assert_eq!(reply.authority(), [TRICKY_NEGATIVE_SOA]);
}

// ---------------------------------------------------------------------------------------------
// RFC 8482 ANY, RFC 4343 case, sizes and truncation
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc8482_4_2_any_over_udp_is_one_rrset() {
    let reply = ask(&tricky(), "multi.tricky.test.", Rtype::ANY);
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    let answer = reply.answer();
    assert_eq!(answer.len(), 1, "{answer:?}");
    assert!(answer[0].starts_with("multi.tricky.test. 3600 IN "));
}

#[test]
fn rfc8482_7_any_over_tcp_is_every_rrset() {
    let reply = tcp(&tricky(), &Query::new("multi.tricky.test.", Rtype::ANY));
    assert_eq!((reply.rcode(), reply.aa(), reply.tc()), (NOERROR, true, false));
    assert_eq!(
        sorted(reply.answer()),
        [
            "multi.tricky.test. 3600 IN A 192.0.2.33",
            "multi.tricky.test. 3600 IN AAAA 2001:db8::33",
            "multi.tricky.test. 3600 IN MX 5 mail.tricky.test.",
            "multi.tricky.test. 3600 IN TXT \"multi\"",
        ]
    );
}

#[test]
fn rfc4343_4_mixed_case_question_is_echoed_byte_for_byte() {
    let engine = tricky();
    for qname in ["WwW.TrIcKy.TeSt.", "C1.TRICKY.test.", "NoThErE.tricky.TEST.", "HOST.sub.Tricky.Test."] {
        let query = Query::new(qname, Rtype::A);
        let reply = udp(&engine, &query);
        assert_eq!(&reply.bytes[12..12 + query.questions.len()], &query.questions[..], "{qname}");
    }
    let reply = ask(&engine, "C1.TRICKY.test.", Rtype::A);
    assert_eq!(reply.owners(Section::Answer)[0], "C1.TRICKY.test.", "the first owner is the qname as asked");
}

#[test]
fn rfc1035_4_2_1_reply_over_512_without_edns_is_truncated() {
    let engine = tricky();
    for qname in ["big.tricky.test.", "medium.tricky.test."] {
        let query = Query::new(qname, Rtype::TXT);
        let reply = udp(&engine, &query);
        assert!(reply.tc(), "{qname}");
        assert!(reply.bytes.len() <= 512, "{qname}: {} bytes", reply.bytes.len());
        assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
        assert_eq!(reply.question_bytes(), query.questions);
        assert_eq!(reply.counts()[1..], [0, 0, 0], "{qname}: an RRset is sent whole or not at all");
    }
}

#[test]
fn rfc6891_7_reply_over_1232_is_truncated_even_when_the_client_offers_more() {
    let engine = tricky();
    for size in [1232u16, 4096, 65_535] {
        let reply = udp(&engine, &Query::new("big.tricky.test.", Rtype::TXT).edns(Opt::new(size)));
        assert!(reply.tc(), "size {size}");
        assert!(reply.bytes.len() <= 1232, "size {size}: {} bytes", reply.bytes.len());
        assert_eq!(reply.answer(), Vec::<String>::new());
        assert_eq!(reply.opt().expect("OPT").udp, 1232);
    }
    let reply = udp(&engine, &Query::new("medium.tricky.test.", Rtype::TXT).edns(Opt::new(4096)));
    assert!(!reply.tc());
    assert_eq!(reply.answer().len(), 6);
}

#[test]
fn rfc7766_tcp_carries_the_full_answer() {
    let reply = tcp(&tricky(), &Query::new("big.tricky.test.", Rtype::TXT));
    assert!(!reply.tc());
    assert_eq!((reply.rcode(), reply.aa()), (NOERROR, true));
    let answer = reply.answer();
    assert_eq!(answer.len(), 20);
    assert!(reply.bytes.len() > 2_000);
    assert!(answer.iter().all(|line| line.starts_with("big.tricky.test. 300 IN TXT \"big-")));
}

#[test]
fn rfc6891_6_2_5_reply_advertises_our_udp_size() {
    let engine = tricky();
    for size in [512u16, 1232, 1400, 4096, 65_535] {
        let reply = udp(&engine, &Query::new("www.tricky.test.", Rtype::A).edns(Opt::new(size)));
        let opt = reply.opt().expect("an OPT for an OPT");
        assert_eq!(opt, OptView { udp: 1232, ext_rcode: 0, version: 0, flags: 0, options: vec![] }, "size {size}");
        assert_eq!(reply.counts()[3], 1);
    }
    // DO is echoed (RFC 3225 §3).
    let mut opt = Opt::new(1232);
    opt.flags = 0x8000;
    let reply = udp(&engine, &Query::new("www.tricky.test.", Rtype::A).edns(opt));
    assert_eq!(reply.opt().expect("OPT").flags, 0x8000);
    // No OPT in, no OPT out.
    assert!(udp(&engine, &Query::new("www.tricky.test.", Rtype::A)).opt().is_none());
}

// ---------------------------------------------------------------------------------------------
// Additional-section processing (RFC 1034 §4.3.2 step 6, RFC 2782)
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc1034_4_3_2_mx_and_srv_targets_in_the_zone_get_their_addresses() {
    let engine = tricky();
    let reply = ask(&engine, "tricky.test.", Rtype::MX);
    assert_eq!(sorted(reply.answer()), ["tricky.test. 600 IN MX 10 mail.tricky.test.", "tricky.test. 600 IN MX 20 mail.elsewhere.example."]);
    assert_eq!(sorted(reply.additional()), ["mail.tricky.test. 900 IN A 192.0.2.25", "mail.tricky.test. 900 IN AAAA 2001:db8::25"]);
    let reply = ask(&engine, "_sip._tcp.tricky.test.", Rtype::SRV);
    assert_eq!(reply.answer(), ["_sip._tcp.tricky.test. 3600 IN SRV 10 60 5060 sip.tricky.test."]);
    assert_eq!(reply.additional(), ["sip.tricky.test. 3600 IN A 192.0.2.50"]);
}

#[test]
fn minimal_responses_leave_out_target_addresses_but_keep_glue() {
    let engine = tricky_with(EngineSettings { minimal_responses: true, ..EngineSettings::default() });
    for (qname, qtype) in [("tricky.test.", Rtype::MX), ("_sip._tcp.tricky.test.", Rtype::SRV), ("tricky.test.", Rtype::NS)] {
        let reply = ask(&engine, qname, qtype);
        assert!(!reply.answer().is_empty(), "{qname} {qtype}");
        assert_eq!(reply.additional(), Vec::<String>::new(), "{qname} {qtype}");
    }
    let reply = ask(&engine, "host.sub.tricky.test.", Rtype::A);
    assert_eq!(reply.additional().len(), 2, "referral glue is needed, not optional");
}

// ---------------------------------------------------------------------------------------------
// Opcodes (RFC 1035 §4.1.1, RFC 3425, RFC 1996, RFC 2136)
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc3425_rfc1035_4_1_1_unimplemented_opcodes_are_notimp() {
    let engine = tricky();
    for opcode in [1u8, 3, 6, 15] {
        let query = Query::new("www.tricky.test.", Rtype::A).opcode(opcode);
        let bytes = query.build();
        let reply = udp(&engine, &query);
        reply.assert_error(&bytes, NOTIMP);
        assert_eq!(reply.opcode(), opcode);
        assert_eq!(reply.question_bytes(), query.questions);
    }
}

#[test]
/// NOTIFY and UPDATE are denied by the default ACL (SECURITY-REFERENCE §7): REFUSED.
fn rfc1996_notify_and_rfc2136_update_are_refused_by_default_acl() {
    let engine = tricky();
    // NOTIFY: SOA question, AA set (RFC 1996 §3.7).
    let notify = Query::new("tricky.test.", Rtype::SOA).opcode(4).bits2(0x04);
    let bytes = notify.build();
    let reply = udp(&engine, &notify);
    reply.assert_error(&bytes, REFUSED);
    assert_eq!(reply.opcode(), 4);
    // UPDATE: zone section SOA, one delete-RRset in the update section (RFC 2136 §2.5.2).
    let update = Query::new("tricky.test.", Rtype::SOA).opcode(5).record(Section::Authority, &rr(&wire("www.tricky.test."), 1, 255, 0, &[]));
    let bytes = update.build();
    let reply = udp(&engine, &update);
    reply.assert_error(&bytes, REFUSED);
    assert_eq!(reply.opcode(), 5);
}

// ---------------------------------------------------------------------------------------------
// RFC 5001 NSID
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc5001_2_1_nsid_is_returned_only_when_asked_and_configured() {
    let configured = tricky_with(EngineSettings { nsid: Some(b"ns-a.example".to_vec()), ..EngineSettings::default() });
    let asking = Query::new("www.tricky.test.", Rtype::A).edns(Opt::new(1232).with(code::NSID, &[]));
    let not_asking = Query::new("www.tricky.test.", Rtype::A).edns(Opt::new(1232));
    let reply = udp(&configured, &asking);
    assert_eq!(reply.opt().expect("OPT").options, vec![(code::NSID, b"ns-a.example".to_vec())]);
    assert_eq!(reply.answer(), ["www.tricky.test. 120 IN A 192.0.2.80"]);
    assert_eq!(udp(&configured, &not_asking).opt().expect("OPT").options, vec![]);
    assert!(udp(&configured, &Query::new("www.tricky.test.", Rtype::A)).opt().is_none(), "no EDNS, no NSID");
    assert_eq!(udp(&tricky(), &asking).opt().expect("OPT").options, vec![], "not configured");
    // Also on negative and error answers.
    let reply = udp(&configured, &Query::new("nothere.tricky.test.", Rtype::A).edns(Opt::new(1232).with(code::NSID, &[])));
    assert_eq!((reply.rcode(), reply.opt().expect("OPT").options), (NXDOMAIN, vec![(code::NSID, b"ns-a.example".to_vec())]));
    let reply = udp(&configured, &Query::new("www.elsewhere.example.", Rtype::A).edns(Opt::new(1232).with(code::NSID, &[])));
    assert_eq!((reply.rcode(), reply.opt().expect("OPT").options), (REFUSED, vec![(code::NSID, b"ns-a.example".to_vec())]));
}

#[test]
fn rfc5001_nsid_does_not_push_a_truncated_reply_over_the_limit() {
    let configured = tricky_with(EngineSettings { nsid: Some(vec![b'n'; 100]), ..EngineSettings::default() });
    let reply = udp(&configured, &Query::new("medium.tricky.test.", Rtype::TXT).edns(Opt::new(512).with(code::NSID, &[])));
    assert!(reply.tc());
    assert!(reply.bytes.len() <= 512, "{} bytes", reply.bytes.len());
    assert_eq!(reply.opt().expect("OPT").options.len(), 1);
}
