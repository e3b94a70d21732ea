//! Differential tests: the same queries to NSD, Knot and portcullis, compared aspect by aspect
//! (rcode, AA, TC, OPT present, and each section as a set of RRsets; see `answer.rs`).
//!
//! - NSD against Knot: every difference must be one of the documented `rules::PEER_DIFFERENCES`;
//!   this keeps the harness honest and lists how the references differ.
//! - portcullis against both: on each aspect portcullis must agree with NSD or with Knot (where
//!   they disagree either is accepted), unless a deliberate, documented `rules::EXCEPTIONS` entry
//!   allows its answer. Every remaining difference is printed with its query, then the test fails.
//!
//! Every query goes over UDP; when any server truncates, the query is repeated over TCP and
//! compared again.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use portcullis_wire::message::Section;
use portcullis_wire::{Rcode, Rtype};

use crate::answer::{render_rrset, Answer, Aspect, Reply};
use crate::client::{self, Query, Transport};
use crate::peers::{Peers, ServerProcess, ZoneSpec};
use crate::rules::{Rule, COMMON_RULES, EXCEPTIONS, PEER_DIFFERENCES};
use crate::{portcullis, queries, zones};

/// A server stops being asked after this many failed queries in a row.
const MAX_CONSECUTIVE_FAILURES: usize = 10;

/// One query on one transport and every server's answer (same order as the servers).
pub struct Case {
    pub query: Query,
    pub transport: Transport,
    pub answers: Vec<Answer>,
    /// For ANY: the first server's answer to the query for each type any server returned,
    /// to check each RRset of a minimal ANY answer (RFC 8482 §4.1).
    pub any_expansion: BTreeMap<u16, Answer>,
    /// Origins of the zones served, lowercased, for rules that need to know zone boundaries.
    pub origins: Vec<String>,
}

impl Case {
    fn label(&self) -> String {
        format!("{} ({})", self.query, self.transport)
    }
}

/// Asks every server every query (UDP, then TCP too when any reply was truncated).
pub fn collect(servers: &[&ServerProcess], zone_list: &[ZoneSpec], queries: &[Query]) -> Vec<Case> {
    let origins: Vec<String> = zone_list.iter().map(|z| z.origin.to_ascii_lowercase()).collect();
    let mut failures = vec![0usize; servers.len()];
    let mut cases = Vec::new();
    for query in queries {
        let case = ask_all(servers, query, Transport::Udp, &mut failures, &origins);
        let truncated = case.answers.iter().any(Answer::tc);
        cases.push(case);
        if truncated {
            cases.push(ask_all(servers, query, Transport::Tcp, &mut failures, &origins));
        }
    }
    cases
}

fn ask_all(servers: &[&ServerProcess], query: &Query, transport: Transport, failures: &mut [usize], origins: &[String]) -> Case {
    let mut answers = Vec::new();
    for (server, failed) in servers.iter().zip(failures.iter_mut()) {
        let answer = if *failed >= MAX_CONSECUTIVE_FAILURES {
            Answer::Failed(format!("{} gave up after {MAX_CONSECUTIVE_FAILURES} failures in a row", server.name))
        } else {
            Answer::from_result(client::ask(server.addr, query, transport))
        };
        *failed = if answer.reply().is_some() { 0 } else { *failed + 1 };
        answers.push(answer);
    }
    let mut any_expansion = BTreeMap::new();
    if query.qtype == Rtype::ANY {
        let types: Vec<u16> = answers.iter().filter_map(Answer::reply).flat_map(|r| r.section(Section::Answer).keys().map(|k| k.1)).collect();
        for rtype in types {
            let typed = Query { qtype: Rtype(rtype), edns: Some(4096), ..query.clone() };
            any_expansion.entry(rtype).or_insert_with(|| Answer::from_result(client::ask(servers[0].addr, &typed, Transport::Tcp)));
        }
    }
    Case { query: query.clone(), transport, answers, any_expansion, origins: origins.to_vec() }
}

/// Differences between server `a` and server `b` not explained by `rules`.
pub fn unexplained(cases: &[Case], names: (&str, &str), a: usize, b: usize, rules: &[&[Rule]]) -> Vec<String> {
    let mut out = Vec::new();
    for case in cases {
        if let Some(failure) = failed(case, &[(names.0, a), (names.1, b)]) {
            out.push(failure);
            continue;
        }
        for aspect in Aspect::ALL {
            let (left, right) = (&case.answers[a], &case.answers[b]);
            if left.aspect(aspect) == right.aspect(aspect) || explained(case, aspect, right, left, rules) {
                continue;
            }
            out.push(describe(case, aspect, &[(names.0, left), (names.1, right)]));
        }
    }
    out
}

/// Differences of server `candidate` from both references `refs`, where neither agrees with it
/// and no rule explains it.
pub fn unexplained_against_both(cases: &[Case], names: [&str; 3], candidate: usize, refs: [usize; 2], rules: &[&[Rule]]) -> Vec<String> {
    let mut out = Vec::new();
    for case in cases {
        if let Some(failure) = failed(case, &[(names[candidate], candidate), (names[refs[0]], refs[0]), (names[refs[1]], refs[1])]) {
            out.push(failure);
            continue;
        }
        let mine = &case.answers[candidate];
        for aspect in Aspect::ALL {
            let value = mine.aspect(aspect);
            let agrees = refs.iter().any(|&r| case.answers[r].aspect(aspect) == value || explained(case, aspect, mine, &case.answers[r], rules));
            if !agrees {
                let shown = [(names[candidate], mine), (names[refs[0]], &case.answers[refs[0]]), (names[refs[1]], &case.answers[refs[1]])];
                out.push(describe(case, aspect, &shown));
            }
        }
    }
    out
}

/// A query some server did not answer (or the client could not send) is always a difference.
fn failed(case: &Case, servers: &[(&str, usize)]) -> Option<String> {
    let failures: Vec<String> = servers
        .iter()
        .filter_map(|(name, i)| match &case.answers[*i] {
            Answer::Failed(e) => Some(format!("\n    {name}: {e}")),
            Answer::Reply(_) => None,
        })
        .collect();
    (!failures.is_empty()).then(|| format!("{}: no usable reply:{}", case.label(), failures.concat()))
}

fn explained(case: &Case, aspect: Aspect, candidate: &Answer, reference: &Answer, rules: &[&[Rule]]) -> bool {
    let (Some(c), Some(r)) = (candidate.reply(), reference.reply()) else { return false };
    rules.iter().flat_map(|set| set.iter()).any(|rule| (rule.allows)(case, aspect, c, r))
}

fn describe(case: &Case, aspect: Aspect, answers: &[(&str, &Answer)]) -> String {
    let mut out = format!("{} differs in {aspect:?}:", case.label());
    for (name, answer) in answers {
        let text = answer.aspect(aspect).replace('\n', "\n        ");
        let _ = write!(out, "\n    {name}: {text}");
    }
    out
}

/// Fails with every difference listed.
pub fn assert_none(what: &str, queries: usize, differences: &[String]) {
    if differences.is_empty() {
        println!("{what}: {queries} queries, no unexplained differences");
        return;
    }
    let mut report = format!("{what}: {} unexplained differences over {queries} queries:\n", differences.len());
    for difference in differences {
        let _ = writeln!(report, "{difference}");
    }
    panic!("{report}");
}

/// With `IT_DUMP=1`, prints every query and every server's answer (for writing rules).
fn dump(cases: &[Case], names: &[&str]) {
    if std::env::var_os("IT_DUMP").is_none() {
        return;
    }
    for case in cases {
        println!("=== {}", case.label());
        for (name, answer) in names.iter().zip(&case.answers) {
            println!("  {name}: {answer}");
        }
    }
}

fn example_zones() -> Vec<ZoneSpec> {
    vec![zones::example_test(), zones::other_test()]
}

fn peers_agree(test: &str, zone_list: &[ZoneSpec], queries: &[Query]) {
    let Some(peers) = Peers::start(test, zone_list) else { return };
    let cases = collect(&[&peers.nsd, &peers.knot], zone_list, queries);
    dump(&cases, &["nsd", "knot"]);
    let differences = unexplained(&cases, ("nsd", "knot"), 0, 1, &[COMMON_RULES, PEER_DIFFERENCES]);
    assert_none(test, cases.len(), &differences);
}

fn portcullis_agrees(test: &str, zone_list: &[ZoneSpec], queries: &[Query]) {
    let Some(peers) = Peers::start(test, zone_list) else { return };
    let ours = portcullis::start(zone_list);
    let cases = collect(&[&peers.nsd, &peers.knot, &ours], zone_list, queries);
    dump(&cases, &["nsd", "knot", "portcullis"]);
    let differences = unexplained_against_both(&cases, ["nsd", "knot", "portcullis"], 2, [0, 1], &[COMMON_RULES, EXCEPTIONS]);
    assert_none(test, cases.len(), &differences);
}

#[test]
fn nsd_and_knot_agree_on_example_test() {
    peers_agree("nsd_and_knot_agree_on_example_test", &example_zones(), &queries::load("example.test.txt"));
}

#[test]
fn nsd_and_knot_agree_on_generated_zone() {
    peers_agree("nsd_and_knot_agree_on_generated_zone", &[zones::generated()], &zones::generated_queries());
}

#[test]
fn portcullis_agrees_with_a_peer_on_example_test() {
    portcullis_agrees("portcullis_agrees_with_a_peer_on_example_test", &example_zones(), &queries::load("example.test.txt"));
}

#[test]
fn portcullis_agrees_with_a_peer_on_generated_zone() {
    portcullis_agrees("portcullis_agrees_with_a_peer_on_generated_zone", &[zones::generated()], &zones::generated_queries());
}

#[test]
fn rules_are_documented() {
    for rule in COMMON_RULES.iter().chain(PEER_DIFFERENCES).chain(EXCEPTIONS) {
        assert!(!rule.name.is_empty() && rule.reason.contains("RFC"), "rule {:?} needs an RFC reason", rule.name);
    }
}

#[test]
fn query_lists_hold_at_least_1000_queries() {
    let total = queries::load("example.test.txt").len() + zones::generated_queries().len();
    assert!(total >= 1000, "only {total} queries");
    let example = queries::load("example.test.txt");
    for (what, present) in [
        ("no EDNS", example.iter().any(|q| q.edns.is_none())),
        ("EDNS 512", example.iter().any(|q| q.edns == Some(512))),
        ("EDNS 1232", example.iter().any(|q| q.edns == Some(1232))),
        ("EDNS 4096", example.iter().any(|q| q.edns == Some(4096))),
        ("DO", example.iter().any(|q| q.dnssec_ok)),
        ("ANY", example.iter().any(|q| q.qtype == Rtype::ANY)),
        ("DS", example.iter().any(|q| q.qtype == Rtype::DS)),
    ] {
        assert!(present, "example.test.txt has no query with {what}");
    }
}

/// The comparison itself must notice a changed reply (so the tests above can fail).
#[test]
fn comparison_detects_each_kind_of_difference() {
    let query = Query::new("www.example.test.", Rtype::A);
    let reply = Reply { rcode: Rcode::NOERROR, aa: true, tc: false, opt: true, sections: Default::default() };
    let mut with_answer = reply.clone();
    with_answer.sections[0].insert(("www.example.test.".into(), 1, 1), crate::answer::Rrset { ttls: [120].into(), rdata: [vec![192, 0, 2, 80]].into() });
    let variants = [Reply { rcode: Rcode::NXDOMAIN, ..reply.clone() }, Reply { aa: false, ..reply.clone() }, Reply { tc: true, ..reply.clone() }, with_answer];
    for variant in variants {
        let case = Case {
            query: query.clone(),
            transport: Transport::Udp,
            answers: vec![Answer::Reply(reply.clone()), Answer::Reply(reply.clone()), Answer::Reply(variant)],
            any_expansion: BTreeMap::new(),
            origins: vec!["example.test.".into()],
        };
        let found = unexplained_against_both(std::slice::from_ref(&case), ["a", "b", "c"], 2, [0, 1], &[COMMON_RULES, EXCEPTIONS]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(unexplained(std::slice::from_ref(&case), ("a", "c"), 0, 2, &[COMMON_RULES]).len() == 1);
    }
    let rendered = render_rrset(&("x.".into(), 1, 1), &crate::answer::Rrset { ttls: [5].into(), rdata: [vec![1, 2, 3, 4]].into() });
    assert_eq!(rendered, "x. 5 IN A 1.2.3.4");
}

/// End to end through real processes: NSD serves example.test. as committed, Knot a copy with
/// the TTL of mail's A and AAAA changed and one record removed; the comparison must report exactly those queries.
#[test]
fn differential_detects_a_changed_zone() {
    let test = "differential_detects_a_changed_zone";
    let Some(binaries) = crate::peers::require(test, &["nsd", "knotd"]) else { return };
    let original = zones::example_test();
    let text = std::fs::read_to_string(&original.file).unwrap_or_else(|e| panic!("{e}"));
    let changed = text.replace("www        120  IN A     192.0.2.81\n", "").replace("mail       900  IN A", "mail       901  IN A");
    assert_ne!(changed, text, "the zone file no longer has the lines this test edits");
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("changed-{}.zone", std::process::id()));
    std::fs::write(&path, changed).unwrap_or_else(|e| panic!("{e}"));
    let nsd = crate::peers::nsd(&binaries[0], std::slice::from_ref(&original)).unwrap_or_else(|e| panic!("{e}"));
    let knot = crate::peers::knot(&binaries[1], &[ZoneSpec::new("example.test.", &path)]).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_file(&path);
    let queries = queries::parse("www.example.test. A,AAAA edns=1232\nmail.example.test. A,AAAA edns=1232\nnope.example.test. A edns=1232").unwrap_or_default();
    let cases = collect(&[&nsd, &knot], std::slice::from_ref(&original), &queries);
    let found = unexplained(&cases, ("nsd", "knot"), 0, 1, &[COMMON_RULES, PEER_DIFFERENCES]);
    let labels: Vec<&str> = found.iter().map(|d| d.split(" differs").next().unwrap_or_default()).collect();
    let expected = ["www.example.test. A +edns=1232 (udp)", "mail.example.test. A +edns=1232 (udp)", "mail.example.test. AAAA +edns=1232 (udp)"];
    assert_eq!(labels, expected, "{found:#?}");
}
