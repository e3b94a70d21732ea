//! Answers from signed zones (RFC 4035 §3.1, RFC 5155 §7.2): `testdata/engine/signed-*.zone`
//! are `portcullis sign-zone` outputs of one zone (origin `signed.test.`: a wildcard `*.w`, the
//! empty non-terminals `b` and `w`, a delegation with DS (`secure`) and one without
//! (`insecure`, with occluded data), glue, a CNAME, a wildcard CNAME (`*.c`), a CNAME to a name
//! that does not exist (`dangling`) and a DNAME), signed with NSEC, NSEC3, and NSEC3 with
//! opt-out.
//!
//! Sections are compared as sets of `owner TYPE` (RRSIGs as `owner RRSIG COVERED`); the NSEC3
//! records a proof needs are computed here from the zone file's NSEC3 owners, apart from the
//! engine's own table.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use portcullis_engine::{Engine, EngineSettings};
use portcullis_wire::message::Section;
use portcullis_wire::{NameBuf, Rtype};
use std::collections::BTreeSet;

const DO: u16 = 0x8000;

fn engine(file: &str) -> Engine {
    engine_over(&[("signed.test.", file)], EngineSettings::default())
}

/// `owner TYPE` per record of `section` (RRSIGs with their covered type), as a set.
fn summary(reply: &Reply, section: Section) -> BTreeSet<String> {
    reply
        .section(section)
        .iter()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields[3] {
                "RRSIG" => format!("{} RRSIG {}", fields[0], fields[4]),
                rtype => format!("{} {rtype}", fields[0]),
            }
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| item.to_string()).collect()
}

/// Asks with DO=1 over TCP (no truncation).
fn ask_do(engine: &Engine, qname: &str, qtype: Rtype) -> Reply {
    let mut opt = Opt::new(1232);
    opt.flags = DO;
    tcp(engine, &Query::new(qname, qtype).edns(opt))
}

/// Checks the rcode and the three sections of a DO=1 answer.
fn check(reply: &Reply, rcode: u16, answer: &[&str], authority: &[String], additional: &[&str]) {
    assert_eq!(reply.rcode(), rcode, "{:?}", reply.authority());
    assert!(!reply.tc());
    assert_eq!(summary(reply, Section::Answer), set(answer), "answer");
    let authority: Vec<&str> = authority.iter().map(String::as_str).collect();
    assert_eq!(summary(reply, Section::Authority), set(&authority), "authority");
    assert_eq!(summary(reply, Section::Additional), set(additional), "additional");
    assert_eq!(reply.opt().map(|opt| opt.flags & DO), Some(DO), "RFC 3225: the reply's OPT echoes DO");
}

/// `owner TYPE` and its RRSIG, for the expected sets.
fn signed(owner: &str, rtype: &str) -> [String; 2] {
    [format!("{owner} {rtype}"), format!("{owner} RRSIG {rtype}")]
}

fn soa() -> [String; 2] {
    signed("signed.test.", "SOA")
}

// ---------------------------------------------------------------------------------------------
// NSEC (RFC 4035 §3.1)
// ---------------------------------------------------------------------------------------------

#[test]
fn nsec_positive_answers_carry_their_rrsigs_and_additional_addresses_theirs() {
    let engine = engine("signed-nsec.zone");
    check(&ask_do(&engine, "mail.signed.test.", Rtype::A), 0, &["mail.signed.test. A", "mail.signed.test. RRSIG A"], &[], &[]);
    let mx = ask_do(&engine, "signed.test.", Rtype::MX);
    let additional = ["mail.signed.test. A", "mail.signed.test. RRSIG A", "mail.signed.test. AAAA", "mail.signed.test. RRSIG AAAA"];
    check(&mx, 0, &["signed.test. MX", "signed.test. RRSIG MX"], &[], &additional);
}

#[test]
fn nsec_nxdomain_proves_the_name_and_the_wildcard_absent() {
    let reply = ask_do(&engine("signed-nsec.zone"), "nothere.signed.test.", Rtype::A);
    let authority = [soa(), signed("moved.signed.test.", "NSEC"), signed("signed.test.", "NSEC")].concat();
    check(&reply, 3, &[], &authority, &[]);
}

#[test]
fn nsec_nodata_at_a_name_and_at_an_empty_non_terminal() {
    let engine = engine("signed-nsec.zone");
    check(&ask_do(&engine, "mail.signed.test.", Rtype::TXT), 0, &[], &[soa(), signed("mail.signed.test.", "NSEC")].concat(), &[]);
    // b.signed.test. is empty: the NSEC of the apex (next a.b) covers it.
    check(&ask_do(&engine, "b.signed.test.", Rtype::A), 0, &[], &[soa(), signed("signed.test.", "NSEC")].concat(), &[]);
}

#[test]
fn nsec_wildcard_answer_and_wildcard_nodata() {
    let engine = engine("signed-nsec.zone");
    let reply = ask_do(&engine, "x.w.signed.test.", Rtype::TXT);
    check(&reply, 0, &["x.w.signed.test. TXT", "x.w.signed.test. RRSIG TXT"], &signed("*.w.signed.test.", "NSEC"), &[]);
    // The wildcard's RRSIG says 3 labels: the validator sees the expansion (RFC 4035 §5.3.4).
    assert!(reply.answer().iter().any(|line| line.contains(" RRSIG TXT 13 3 ")), "{:?}", reply.answer());
    // The wildcard's NSEC both denies A at *.w and covers x.w: once.
    check(&ask_do(&engine, "x.w.signed.test.", Rtype::A), 0, &[], &[soa(), signed("*.w.signed.test.", "NSEC")].concat(), &[]);
}

#[test]
fn nsec_referrals_carry_the_ds_or_the_nsec_that_denies_it() {
    let engine = engine("signed-nsec.zone");
    let secure = ask_do(&engine, "host.secure.signed.test.", Rtype::A);
    check(
        &secure,
        0,
        &[],
        &["secure.signed.test. NS".into(), signed("secure.signed.test.", "DS")[0].clone(), signed("secure.signed.test.", "DS")[1].clone()],
        &["ns.secure.signed.test. A"],
    );
    assert!(!secure.aa());
    let insecure = ask_do(&engine, "hidden.insecure.signed.test.", Rtype::TXT);
    check(
        &insecure,
        0,
        &[],
        &[["insecure.signed.test. NS".to_string()].as_slice(), &signed("insecure.signed.test.", "NSEC")].concat(),
        &["ns.insecure.signed.test. A"],
    );
}

#[test]
fn nsec_ds_queries_are_answered_by_the_parent() {
    let engine = engine("signed-nsec.zone");
    check(&ask_do(&engine, "secure.signed.test.", Rtype::DS), 0, &["secure.signed.test. DS", "secure.signed.test. RRSIG DS"], &[], &[]);
    check(&ask_do(&engine, "insecure.signed.test.", Rtype::DS), 0, &[], &[soa(), signed("insecure.signed.test.", "NSEC")].concat(), &[]);
}

#[test]
fn nsec_cname_and_dname_are_signed_and_the_synthesised_cname_is_not() {
    let engine = engine("signed-nsec.zone");
    let cname = ask_do(&engine, "www.signed.test.", Rtype::A);
    check(&cname, 0, &["www.signed.test. CNAME", "www.signed.test. RRSIG CNAME", "a.b.signed.test. A", "a.b.signed.test. RRSIG A"], &[], &[]);
    let dname = ask_do(&engine, "x.moved.signed.test.", Rtype::A);
    check(&dname, 0, &["moved.signed.test. DNAME", "moved.signed.test. RRSIG DNAME", "x.moved.signed.test. CNAME"], &[], &[]);
}

#[test]
fn nsec_proofs_follow_the_cname_chain_and_its_wildcard_links() {
    let engine = engine("signed-nsec.zone");
    // The chain ends in a name that does not exist: the proofs are for that name.
    let dangling = ask_do(&engine, "dangling.signed.test.", Rtype::A);
    let authority = [soa(), signed("dangling.signed.test.", "NSEC"), signed("signed.test.", "NSEC")].concat();
    check(&dangling, 3, &["dangling.signed.test. CNAME", "dangling.signed.test. RRSIG CNAME"], &authority, &[]);
    // A wildcard CNAME link: signed with the expanded owner, and x.c proven absent.
    let answer = [signed("x.c.signed.test.", "CNAME"), signed("www.signed.test.", "CNAME"), signed("a.b.signed.test.", "A")].concat();
    let answer: Vec<&str> = answer.iter().map(String::as_str).collect();
    check(&ask_do(&engine, "x.c.signed.test.", Rtype::A), 0, &answer, &signed("*.c.signed.test.", "NSEC"), &[]);
}

#[test]
fn do_clear_answers_carry_no_dnssec_records_unless_asked_for_by_type() {
    let engine = engine("signed-nsec.zone");
    let plain = |qname: &str, qtype: Rtype| udp(&engine, &Query::new(qname, qtype).edns(Opt::new(1232)));
    for (qname, qtype) in [
        ("mail.signed.test.", Rtype::A),
        ("nothere.signed.test.", Rtype::A),
        ("mail.signed.test.", Rtype::TXT),
        ("x.w.signed.test.", Rtype::TXT),
        ("host.secure.signed.test.", Rtype::A),
        ("www.signed.test.", Rtype::A),
        ("mail.signed.test.", Rtype::ANY),
    ] {
        let reply = plain(qname, qtype);
        let all: Vec<String> = [reply.answer(), reply.authority(), reply.additional()].concat();
        assert!(all.iter().all(|line| !line.contains(" RRSIG ") && !line.contains(" NSEC") && !line.contains(" DS ")), "{qname} {qtype}: {all:?}");
        assert_eq!(reply.opt().map(|opt| opt.flags & DO), Some(0));
    }
    assert_eq!(summary(&plain("mail.signed.test.", Rtype::NSEC), Section::Answer), set(&["mail.signed.test. NSEC"]));
    let rrsigs = summary(&plain("mail.signed.test.", Rtype::RRSIG), Section::Answer);
    assert_eq!(rrsigs, set(&["mail.signed.test. RRSIG A", "mail.signed.test. RRSIG AAAA", "mail.signed.test. RRSIG NSEC"]));
}

#[test]
fn any_with_do_carries_each_rrsets_rrsigs() {
    let reply = ask_do(&engine("signed-nsec.zone"), "mail.signed.test.", Rtype::ANY);
    let expected = [signed("mail.signed.test.", "A"), signed("mail.signed.test.", "AAAA"), signed("mail.signed.test.", "NSEC")].concat();
    assert_eq!(summary(&reply, Section::Answer), expected.into_iter().collect());
}

#[test]
fn a_proof_that_does_not_fit_sets_tc() {
    let mut opt = Opt::new(512);
    opt.flags = DO;
    let reply = udp(&engine("signed-nsec3.zone"), &Query::new("nothere.signed.test.", Rtype::A).edns(opt));
    assert!(reply.tc(), "{:?}", reply.authority());
}

// ---------------------------------------------------------------------------------------------
// NSEC3 (RFC 5155 §7.2)
// ---------------------------------------------------------------------------------------------

/// The hashed owners of a zone file's NSEC3 records, sorted by hash, with their flags.
fn nsec3_owners(file: &str) -> Vec<(Vec<u8>, String, u8)> {
    let text = std::fs::read_to_string(testdata(file)).unwrap();
    let mut owners: Vec<(Vec<u8>, String, u8)> = text
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(3) == Some(&"NSEC3")).then(|| {
                let mut hash = Vec::new();
                let label = fields[0].split('.').next().unwrap();
                portcullis_wire::rdata::decode_base32hex(label, &mut hash).unwrap();
                (hash, fields[0].to_string(), fields[5].parse().unwrap())
            })
        })
        .collect();
    owners.sort();
    owners
}

/// The NSEC3 (owner, flags) that matches or covers `name` in `file`'s chain.
fn nsec3_for(file: &str, name: &str) -> (String, u8) {
    let owners = nsec3_owners(file);
    let hash = portcullis_dnssec::nsec3::hash(&NameBuf::from_text(name, None).unwrap(), 1, &[], 0).unwrap();
    let index = owners.iter().rposition(|(stored, _, _)| stored.as_slice() <= hash.as_slice()).unwrap_or(owners.len() - 1);
    (owners[index].1.clone(), owners[index].2)
}

fn nsec3(file: &str, name: &str) -> [String; 2] {
    signed(&nsec3_for(file, name).0, "NSEC3")
}

#[test]
fn nsec3_records_are_no_names_of_the_zone() {
    let engine = engine("signed-nsec3.zone");
    let hashed = nsec3_for("signed-nsec3.zone", "mail.signed.test.").0;
    let reply = ask_do(&engine, &hashed, Rtype::NSEC3);
    assert_eq!(reply.rcode(), 3, "a hashed owner does not exist: {:?}", reply.answer());
    assert!(reply.answer().is_empty());
}

#[test]
fn nsec3_nxdomain_is_the_closest_encloser_proof_and_the_wildcard_cover() {
    let file = "signed-nsec3.zone";
    let reply = ask_do(&engine(file), "nothere.signed.test.", Rtype::A);
    let authority = [soa(), nsec3(file, "signed.test."), nsec3(file, "nothere.signed.test."), nsec3(file, "*.signed.test.")].concat();
    check(&reply, 3, &[], &authority, &[]);
    // Below an empty non-terminal: b is the closest encloser.
    let reply = ask_do(&engine(file), "x.y.b.signed.test.", Rtype::A);
    let authority = [soa(), nsec3(file, "b.signed.test."), nsec3(file, "y.b.signed.test."), nsec3(file, "*.b.signed.test.")].concat();
    check(&reply, 3, &[], &authority, &[]);
}

#[test]
fn nsec3_nodata_matches_the_name_empty_non_terminals_included() {
    let file = "signed-nsec3.zone";
    let engine = engine(file);
    check(&ask_do(&engine, "mail.signed.test.", Rtype::TXT), 0, &[], &[soa(), nsec3(file, "mail.signed.test.")].concat(), &[]);
    check(&ask_do(&engine, "b.signed.test.", Rtype::A), 0, &[], &[soa(), nsec3(file, "b.signed.test.")].concat(), &[]);
    check(&ask_do(&engine, "insecure.signed.test.", Rtype::DS), 0, &[], &[soa(), nsec3(file, "insecure.signed.test.")].concat(), &[]);
}

#[test]
fn nsec3_wildcard_answer_covers_the_next_closer_and_wildcard_nodata_proves_all_three() {
    let file = "signed-nsec3.zone";
    let engine = engine(file);
    let reply = ask_do(&engine, "x.w.signed.test.", Rtype::TXT);
    check(&reply, 0, &["x.w.signed.test. TXT", "x.w.signed.test. RRSIG TXT"], &nsec3(file, "x.w.signed.test."), &[]);
    let reply = ask_do(&engine, "x.w.signed.test.", Rtype::A);
    let authority = [soa(), nsec3(file, "w.signed.test."), nsec3(file, "x.w.signed.test."), nsec3(file, "*.w.signed.test.")].concat();
    check(&reply, 0, &[], &authority, &[]);
}

#[test]
fn nsec3_proofs_follow_the_cname_chain_and_its_wildcard_links() {
    let file = "signed-nsec3.zone";
    let engine = engine(file);
    let dangling = ask_do(&engine, "dangling.signed.test.", Rtype::A);
    let authority = [soa(), nsec3(file, "signed.test."), nsec3(file, "gone.signed.test."), nsec3(file, "*.signed.test.")].concat();
    check(&dangling, 3, &["dangling.signed.test. CNAME", "dangling.signed.test. RRSIG CNAME"], &authority, &[]);
    let answer = [signed("x.c.signed.test.", "CNAME"), signed("www.signed.test.", "CNAME"), signed("a.b.signed.test.", "A")].concat();
    let answer: Vec<&str> = answer.iter().map(String::as_str).collect();
    check(&ask_do(&engine, "x.c.signed.test.", Rtype::A), 0, &answer, &nsec3(file, "x.c.signed.test."), &[]);
}

#[test]
fn nsec3_referrals_carry_the_ds_or_the_matching_nsec3() {
    let file = "signed-nsec3.zone";
    let engine = engine(file);
    let secure = ask_do(&engine, "host.secure.signed.test.", Rtype::A);
    check(&secure, 0, &[], &[["secure.signed.test. NS".to_string()].as_slice(), &signed("secure.signed.test.", "DS")].concat(), &["ns.secure.signed.test. A"]);
    let insecure = ask_do(&engine, "hidden.insecure.signed.test.", Rtype::TXT);
    check(
        &insecure,
        0,
        &[],
        &[["insecure.signed.test. NS".to_string()].as_slice(), &nsec3(file, "insecure.signed.test.")].concat(),
        &["ns.insecure.signed.test. A"],
    );
}

#[test]
fn nsec3_opt_out_proves_an_unsigned_delegation_by_the_closest_provable_encloser() {
    let file = "signed-optout.zone";
    let engine = engine(file);
    let (cover, flags) = nsec3_for(file, "insecure.signed.test.");
    assert_eq!(flags & 1, 1, "the covering NSEC3 has the opt-out flag");
    let proof = [nsec3(file, "signed.test."), signed(&cover, "NSEC3")].concat();
    let referral = ask_do(&engine, "hidden.insecure.signed.test.", Rtype::TXT);
    check(&referral, 0, &[], &[["insecure.signed.test. NS".to_string()].as_slice(), &proof].concat(), &["ns.insecure.signed.test. A"]);
    // RFC 5155 §7.2.4: DS NODATA at an opt-out delegation.
    check(&ask_do(&engine, "insecure.signed.test.", Rtype::DS), 0, &[], &[soa().as_slice(), &proof].concat(), &[]);
}

#[test]
fn transfers_and_zone_text_return_every_record_of_a_signed_zone() {
    for file in ["signed-nsec.zone", "signed-nsec3.zone", "signed-optout.zone"] {
        let zone = load_zone("signed.test.", file);
        let text = portcullis_engine::auth::zone_text::zone_text(&zone);
        let file_records = std::fs::read_to_string(testdata(file)).unwrap().lines().filter(|line| !line.starts_with([';', '$'])).count();
        assert_eq!(text.lines().count(), file_records, "{file}: every record once");
        assert_eq!(text.lines().filter(|line| line.contains("\tNSEC3\t")).count(), nsec3_owners(file).len(), "{file}");
    }
}

#[test]
fn axfr_and_ixfr_out_of_a_signed_zone_send_every_record_unchanged() {
    use portcullis_engine::auth::transfer::Transfer;
    use portcullis_wire::message::{decompress_rdata, Message, Question};
    use portcullis_wire::rdata::rdata_to_text;
    use std::sync::Arc;
    for file in ["signed-nsec.zone", "signed-nsec3.zone", "signed-optout.zone"] {
        let zone = Arc::new(load_zone("signed.test.", file));
        // Every record of the zone text, as `owner ttl type rdata`.
        let text = portcullis_engine::auth::zone_text::zone_text(&zone);
        let expected: BTreeSet<String> = text
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.splitn(5, '\t').collect();
                format!("{} {} {} {}", fields[0], fields[1], fields[3], fields[4])
            })
            .collect();
        for qtype in [Rtype::AXFR, Rtype::IXFR] {
            let question = Question { qname: name("signed.test."), qtype, qclass: portcullis_wire::Class::IN };
            let mut transfer = Transfer::new(Arc::clone(&zone), 7, question, None);
            let mut out = vec![0u8; 65_535];
            let mut sent = Vec::new();
            for _ in 0..1000 {
                let Some(len) = transfer.next_message(&mut out) else { break };
                let message = Message::parse(&out[..len]).unwrap();
                for record in message.records(Section::Answer) {
                    let mut rdata = Vec::new();
                    decompress_rdata(message.bytes(), &record, &mut rdata).unwrap();
                    let mut rendered = String::new();
                    rdata_to_text(record.rtype, &rdata, &mut rendered).unwrap();
                    sent.push(format!("{} {} {} {rendered}", record.owner, record.ttl, record.rtype));
                }
            }
            assert_eq!(sent.len(), expected.len() + 1, "{file} {qtype}: every record once, the SOA twice");
            assert_eq!(sent.iter().cloned().collect::<BTreeSet<_>>(), expected, "{file} {qtype}");
            let nsec3 = sent.iter().filter(|line| line.split(' ').nth(2) == Some("NSEC3")).count();
            assert_eq!(nsec3, nsec3_owners(file).len(), "{file} {qtype}: the NSEC3 records");
            let rrsigs = sent.iter().filter(|line| line.split(' ').nth(2) == Some("RRSIG")).count();
            let file_rrsigs = std::fs::read_to_string(testdata(file)).unwrap().lines().filter(|line| line.split_whitespace().nth(3) == Some("RRSIG")).count();
            assert_eq!(rrsigs, file_rrsigs, "{file} {qtype}: every RRSIG");
        }
    }
}

#[test]
fn do_set_against_an_unsigned_zone_changes_nothing_but_the_opt() {
    let engine = tricky();
    for (qname, qtype) in
        [("www.tricky.test.", Rtype::A), ("nothere.tricky.test.", Rtype::A), ("host.sub.tricky.test.", Rtype::A), ("a.b.wild.tricky.test.", Rtype::TXT)]
    {
        let with_do = ask_do(&engine, qname, qtype);
        let without = tcp(&engine, &Query::new(qname, qtype).edns(Opt::new(1232)));
        assert_eq!(
            (with_do.rcode(), with_do.answer(), with_do.authority(), with_do.additional()),
            (without.rcode(), without.answer(), without.authority(), without.additional()),
            "{qname} {qtype}"
        );
    }
}
