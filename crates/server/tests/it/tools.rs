//! Real clients against portcullis: `dig` and `kdig` over UDP and TCP, TC fallback on the large
//! TXT RRset, several queries on one kept-open TCP connection with `kdig`, raw pipelined TCP, and
//! requests signed with a TSIG key the server does not have.
//!
//! Each check is also run against Knot (`*_harness_check_against_knot`), which proves the output
//! parsing and the expectations before portcullis is judged by them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_wire::{Rcode, Rtype};

use crate::answer::Reply;
use crate::client::{self, Query};
use crate::peers::{self, require, ServerProcess, ZoneSpec};
use crate::{portcullis, zones};

/// A client run longer than this is killed and fails the test.
const TOOL_TIMEOUT: Duration = Duration::from_secs(20);
/// Records in `big.example.test. TXT`.
const BIG_TXT_RECORDS: usize = 40;

/// One reply as printed by `dig` or `kdig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Printed {
    pub status: String,
    pub flags: Vec<String>,
    pub answer: usize,
}

impl Printed {
    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

/// Parses every `->>HEADER<<-` line and the flags line after it; works for both `dig`
/// (`status: NOERROR,` / `flags: qr aa; QUERY: 1, ANSWER: 2,`) and `kdig` (`status: NOERROR;`
/// / `Flags: qr aa; QUERY: 1; ANSWER: 2;`).
pub fn parse_output(text: &str) -> Vec<Printed> {
    let mut out = Vec::new();
    let mut status: Option<String> = None;
    for line in text.lines() {
        if line.contains("->>HEADER<<-") {
            status = after(line, "status: ").map(|s| s.chars().take_while(char::is_ascii_alphanumeric).collect());
        } else if let (Some(current), Some(flags)) = (status.as_ref(), after(&line.to_ascii_lowercase(), ";; flags:")) {
            let words = flags.split(';').next().unwrap_or_default().split_whitespace().map(str::to_owned).collect();
            let answer = after(line, "ANSWER: ").and_then(|s| s.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok());
            out.push(Printed { status: current.clone(), flags: words, answer: answer.unwrap_or(usize::MAX) });
            status = None;
        }
    }
    out
}

fn after<'t>(line: &'t str, marker: &str) -> Option<&'t str> {
    line.find(marker).map(|at| &line[at + marker.len()..])
}

fn dig(dig: &Path, server: SocketAddr, extra: &[&str], question: &[&str]) -> String {
    let mut args = vec!["-r".to_owned(), format!("@{}", server.ip()), "-p".to_owned(), server.port().to_string()];
    args.extend(["+norec", "+time=2", "+tries=1"].map(str::to_owned));
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.extend(question.iter().map(|s| (*s).to_owned()));
    run(dig, &args)
}

fn kdig(kdig: &Path, server: SocketAddr, extra: &[&str], question: &[&str]) -> String {
    let mut args = vec![format!("@{}", server.ip()), "-p".to_owned(), server.port().to_string()];
    args.extend(["+norec", "+time=2", "+retry=0"].map(str::to_owned));
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.extend(question.iter().map(|s| (*s).to_owned()));
    run(kdig, &args)
}

/// (qname, qtype, status, aa, answer records) that both peers give for example.test.
const EXPECTED: &[(&str, &str, &str, bool, usize)] = &[
    ("www.example.test.", "A", "NOERROR", true, 2),
    ("WwW.ExAmPlE.tEsT.", "AAAA", "NOERROR", true, 1),
    ("example.test.", "SOA", "NOERROR", true, 1),
    ("example.test.", "NS", "NOERROR", true, 2),
    ("www.example.test.", "MX", "NOERROR", true, 0),
    ("nonexistent.example.test.", "A", "NXDOMAIN", true, 0),
    ("b.ent.example.test.", "A", "NOERROR", true, 0),
    ("host3.wild.example.test.", "MX", "NOERROR", true, 1),
    ("c1.example.test.", "A", "NOERROR", true, 5),
    ("www.dn.example.test.", "A", "NOERROR", true, 3),
    ("host.sub.example.test.", "A", "NOERROR", false, 0),
    ("www.outside.invalid.", "A", "REFUSED", false, 0),
];

/// The clients this module needs, resolved, or `None` (skipped).
struct Clients {
    dig: PathBuf,
    kdig: PathBuf,
}

impl Clients {
    fn require(test: &str) -> Option<Self> {
        let found = require(test, &["dig", "kdig"])?;
        Some(Self { dig: found[0].clone(), kdig: found[1].clone() })
    }
}

fn check_expected(printed: &[Printed], what: &str, expected: &(&str, &str, &str, bool, usize)) {
    let (qname, qtype, status, aa, answer) = *expected;
    assert_eq!(printed.len(), 1, "{what} {qname} {qtype}: expected one reply, got {printed:?}");
    let reply = &printed[0];
    assert_eq!(reply.status, status, "{what} {qname} {qtype}: {reply:?}");
    assert_eq!(reply.has("aa"), aa, "{what} {qname} {qtype}: aa flag: {reply:?}");
    assert!(!reply.has("tc"), "{what} {qname} {qtype}: tc set: {reply:?}");
    assert_eq!(reply.answer, answer, "{what} {qname} {qtype}: answer count: {reply:?}");
}

fn check_dig_and_kdig_udp_tcp(clients: &Clients, server: SocketAddr) {
    for expected in EXPECTED {
        let question = [expected.0, expected.1];
        for (what, transport) in [("dig udp", "+notcp"), ("dig tcp", "+tcp")] {
            let output = dig(&clients.dig, server, &[transport], &question);
            check_expected(&parse_output(&output), what, expected);
        }
        for (what, transport) in [("kdig udp", "+notcp"), ("kdig tcp", "+tcp")] {
            let output = kdig(&clients.kdig, server, &[transport], &question);
            check_expected(&parse_output(&output), what, expected);
        }
    }
}

fn check_tc_fallback(clients: &Clients, server: SocketAddr) {
    for edns in ["+bufsize=1232", "+bufsize=4096", "+noedns"] {
        let output = dig(&clients.dig, server, &[edns], &["big.example.test.", "TXT"]);
        assert!(output.contains("Truncated, retrying in TCP mode"), "dig {edns}: no TCP retry:\n{output}");
        let printed = parse_output(&output);
        let last = printed.last().unwrap_or_else(|| panic!("dig {edns}: no reply parsed:\n{output}"));
        assert_eq!((last.status.as_str(), last.answer, last.has("tc")), ("NOERROR", BIG_TXT_RECORDS, false), "dig {edns} after TCP retry: {last:?}");

        let ignored = dig(&clients.dig, server, &[edns, "+ignore"], &["big.example.test.", "TXT"]);
        let printed = parse_output(&ignored);
        assert_eq!(printed.len(), 1, "dig +ignore {edns}: {ignored}");
        assert!(printed[0].has("tc") && printed[0].answer < BIG_TXT_RECORDS, "dig +ignore {edns}: want tc and a partial answer: {:?}", printed[0]);
    }
    // Over 1232 bytes: truncated even when 4096 is offered (the UDP cap, SECURITY-REFERENCE §1.5).
    let medium = dig(&clients.dig, server, &["+bufsize=4096"], &["medium.example.test.", "TXT"]);
    assert!(medium.contains("Truncated, retrying in TCP mode"), "medium TXT over the 1232 cap:\n{medium}");
    assert_eq!(parse_output(&medium).last().map(|p| p.answer), Some(20), "{medium}");
    // About 900 bytes: truncated at 512, whole at 1232.
    let eight = dig(&clients.dig, server, &["+bufsize=1232"], &["eight.example.test.", "TXT"]);
    assert!(!eight.contains("Truncated"), "eight TXT fit in 1232 bytes:\n{eight}");
    assert_eq!(parse_output(&eight).first().map(|p| p.answer), Some(8), "{eight}");
    let eight = dig(&clients.dig, server, &["+bufsize=512", "+ignore"], &["eight.example.test.", "TXT"]);
    assert!(parse_output(&eight).first().is_some_and(|p| p.has("tc")), "eight TXT truncated at 512:\n{eight}");
}

fn check_kdig_keepopen(clients: &Clients, server: SocketAddr) {
    let mut question = Vec::new();
    for expected in EXPECTED {
        question.extend([expected.0, expected.1]);
    }
    question.extend(["big.example.test.", "TXT"]);
    let output = kdig(&clients.kdig, server, &["+tcp", "+keepopen"], &question);
    let printed = parse_output(&output);
    assert_eq!(printed.len(), EXPECTED.len() + 1, "kdig +keepopen: one reply per query:\n{output}");
    for (reply, expected) in printed.iter().zip(EXPECTED) {
        check_expected(std::slice::from_ref(reply), "kdig +tcp +keepopen", expected);
    }
    assert_eq!(printed[EXPECTED.len()].answer, BIG_TXT_RECORDS, "big TXT over TCP: {:?}", printed[EXPECTED.len()]);
    assert_eq!(output.matches("(TCP)").count(), EXPECTED.len() + 1, "every reply over TCP:\n{output}");
}

/// All queries written before any reply is read, on one connection; each reply must equal the
/// UDP-with-4096 reply to the same query (except the big TXT, truncated over UDP).
fn check_raw_pipelining(server: SocketAddr) {
    let mut queries: Vec<Query> = EXPECTED.iter().map(|e| Query::new(e.0, Rtype::from_text(e.1).unwrap_or(Rtype::A)).with_edns(Some(4096))).collect();
    queries.push(Query::new("big.example.test.", Rtype::TXT).with_edns(None));
    let replies = client::tcp_pipelined(server, &queries).unwrap_or_else(|e| panic!("pipelined TCP: {e}"));
    for (query, reply) in queries.iter().zip(&replies) {
        let tcp = Reply::parse(reply).unwrap_or_else(|e| panic!("{query}: {e}"));
        if query.qtype == Rtype::TXT {
            assert_eq!(tcp.section(portcullis_wire::message::Section::Answer).values().map(|r| r.rdata.len()).sum::<usize>(), BIG_TXT_RECORDS);
            continue;
        }
        let udp = Reply::parse(&client::udp(server, query).unwrap_or_else(|e| panic!("{e}"))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tcp, udp, "{query}: pipelined TCP reply differs from the UDP reply");
        assert_ne!(tcp.rcode, Rcode::SERVFAIL, "{query}");
    }
}

/// A request signed with a key the server does not have (SECURITY-REFERENCE §6 row 45, RFC 8945
/// §5.2.1): NOTAUTH (kdig prints the TSIG error BADKEY as the status), no answer, and an
/// unsigned TSIG record (MAC size 0) with BADKEY, the request's algorithm, fudge and ID.
fn check_tsig_unknown_key(clients: &Clients, server: SocketAddr) {
    let key = "hmac-sha256:unknown.key:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";
    let question = ["www.example.test.", "A"];
    for transport in ["+notcp", "+tcp"] {
        let outputs = [
            ("dig", dig(&clients.dig, server, &["-y", key, transport], &question), "NOTAUTH"),
            ("kdig", kdig(&clients.kdig, server, &["-y", key, transport], &question), "BADKEY"),
        ];
        for (what, output, status) in outputs {
            let printed = parse_output(&output);
            assert_eq!(printed.len(), 1, "{what} {transport}: one reply expected:\n{output}");
            let reply = &printed[0];
            assert_eq!((reply.status.as_str(), reply.has("aa"), reply.answer), (status, false, 0), "{what} {transport}:\n{output}");
            let tsig = output.lines().find(|line| line.starts_with("unknown.key.") && line.contains("TSIG")).unwrap_or_default();
            let fields: Vec<&str> = tsig.split_whitespace().collect();
            // owner TTL class TSIG algorithm time fudge mac-size original-id error other-length
            assert!(
                fields.len() >= 10 && fields[4] == "hmac-sha256." && fields[6] == "300" && fields[7] == "0" && fields[9] == "BADKEY",
                "{what} {transport}: an unsigned BADKEY TSIG record expected:\n{output}"
            );
        }
    }
}

fn example_zones() -> Vec<ZoneSpec> {
    vec![zones::example_test(), zones::other_test()]
}

/// Knot serving the example zones, for the harness checks.
fn knot(test: &str) -> Option<ServerProcess> {
    let binary = require(test, &["knotd"])?;
    Some(peers::knot(&binary[0], &example_zones()).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn dig_and_kdig_over_udp_and_tcp() {
    let Some(clients) = Clients::require("dig_and_kdig_over_udp_and_tcp") else { return };
    let server = portcullis::start(&example_zones());
    check_dig_and_kdig_udp_tcp(&clients, server.addr);
}

#[test]
fn dig_retries_truncated_answer_over_tcp() {
    let Some(clients) = Clients::require("dig_retries_truncated_answer_over_tcp") else { return };
    let server = portcullis::start(&example_zones());
    check_tc_fallback(&clients, server.addr);
}

#[test]
fn kdig_several_queries_on_one_tcp_connection() {
    let Some(clients) = Clients::require("kdig_several_queries_on_one_tcp_connection") else { return };
    let server = portcullis::start(&example_zones());
    check_kdig_keepopen(&clients, server.addr);
}

#[test]
fn a_request_signed_with_an_unknown_key_gets_badkey() {
    let Some(clients) = Clients::require("a_request_signed_with_an_unknown_key_gets_badkey") else { return };
    let server = portcullis::start(&example_zones());
    check_tsig_unknown_key(&clients, server.addr);
}

#[test]
fn pipelined_tcp_queries() {
    let server = portcullis::start(&example_zones());
    check_raw_pipelining(server.addr);
}

#[test]
fn tools_harness_check_against_knot() {
    let test = "tools_harness_check_against_knot";
    let Some(clients) = Clients::require(test) else { return };
    let Some(server) = knot(test) else { return };
    check_dig_and_kdig_udp_tcp(&clients, server.addr);
    check_tc_fallback(&clients, server.addr);
    check_kdig_keepopen(&clients, server.addr);
    check_raw_pipelining(server.addr);
    check_tsig_unknown_key(&clients, server.addr);
}

#[test]
fn output_parser_reads_dig_and_kdig() {
    let dig = ";; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 1\n;; flags: qr aa tc; QUERY: 1, ANSWER: 3, AUTHORITY: 0\n";
    let kdig = ";; ->>HEADER<<- opcode: QUERY; status: REFUSED; id: 2\n;; Flags: qr; QUERY: 1; ANSWER: 0; AUTHORITY: 0\n";
    let flags = |f: &[&str]| f.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(parse_output(dig), [Printed { status: "NXDOMAIN".into(), flags: flags(&["qr", "aa", "tc"]), answer: 3 }]);
    assert_eq!(parse_output(kdig), [Printed { status: "REFUSED".into(), flags: flags(&["qr"]), answer: 0 }]);
    assert!(parse_output("no header here").is_empty());
}

/// Runs a client to completion within [`TOOL_TIMEOUT`]; returns stdout (stderr appended).
fn run(binary: &Path, args: &[String]) -> String {
    crate::peers::run_tool(binary, args, TOOL_TIMEOUT)
}
