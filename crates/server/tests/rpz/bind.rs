//! The RPZ interop test against BIND 9.18: the hierarchy, the two policy zones, BIND's
//! configuration and the query list.

use crate::hierarchy::resolvers::Process;
use crate::hierarchy::{start_nsd, Net};
use crate::peers::{in_ci, require, temp_dir};
use crate::support::{ask_from, ask_tcp, resolver_config, start_portcullis, Summary};
use portcullis_wire::{Rcode, Rtype};
use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Hosts: NSD for `.`, `test.`, `good.test.` (1), `evil.test.` (2), `far.test.` (3);
/// portcullis (10). named listens on 127.0.0.1 and a free port: it binds only addresses that an
/// interface has (127.B.C.x are routed to lo, not assigned to it).
const PORTCULLIS: u8 = 10;

/// The zones of the hierarchy per NSD host.
fn zones(net: Net) -> [Vec<(String, String)>; 3] {
    let soa = |origin: &str| format!("$TTL 300\n{origin} SOA ns.{origin} nobody.invalid. 1 3600 600 86400 300\n{origin} NS ns.{origin}\nns.{origin} A ");
    let (one, two, three) = (net.ip(1), net.ip(2), net.ip(3));
    let root = format!("$TTL 3600\n. SOA a.root. nobody.invalid. 1 3600 600 86400 300\n. NS a.root.\na.root. A {one}\ntest. NS ns.test.\nns.test. A {one}\n");
    let test = format!(
        "{}{one}\ngood.test. NS ns.good.test.\nns.good.test. A {one}\nevil.test. NS ns.evil.test.\nns.evil.test. A {two}\nfar.test. NS ns.far.test.\nns.far.test. A {three}\n",
        soa("test.")
    );
    let good = format!(
        "{}{one}\nwww A 192.0.2.80\nip4 A 192.0.2.66\nip4net A 198.51.100.5\nv6host AAAA 2001:db8::66\nnx A 192.0.2.1\nnodata A 192.0.2.2\n\
         pass A 192.0.2.3\ndrop A 192.0.2.4\ntcp A 192.0.2.5\nlocal A 192.0.2.6\nredirect A 192.0.2.7\n*.wild A 192.0.2.8\n\
         *.walled A 192.0.2.9\nboth A 192.0.2.10\nsecond A 192.0.2.11\nchain CNAME nx\nchain2 CNAME local\n",
        soa("good.test.")
    );
    let evil = format!("{}{two}\nwww A 192.0.2.20\n", soa("evil.test."));
    let far = format!("{}{three}\nwww A 192.0.2.30\n", soa("far.test."));
    [vec![(".".into(), root), ("test.".into(), test), ("good.test.".into(), good)], vec![("evil.test.".into(), evil)], vec![("far.test.".into(), far)]]
}

/// The first policy zone: every trigger kind and action.
fn policy_one(net: Net) -> String {
    let ip3 = net.ip(3).octets();
    format!(
        "{}nx.good.test CNAME .\nnodata.good.test CNAME *.\npass.good.test CNAME rpz-passthru.\ndrop.good.test CNAME rpz-drop.\n\
         tcp.good.test CNAME rpz-tcp-only.\nlocal.good.test A 10.0.0.1\nlocal.good.test TXT \"walled garden\"\n\
         redirect.good.test CNAME www.good.test.\n*.wild.good.test CNAME *.walled.good.test.\nexact.wild.good.test CNAME .\n\
         both.good.test A 10.0.0.8\n32.66.2.0.192.rpz-ip A 10.0.0.66\n24.0.100.51.198.rpz-ip CNAME .\n\
         128.66.zz.db8.2001.rpz-ip CNAME *.\n32.9.0.0.127.rpz-client-ip CNAME .\nns.evil.test.rpz-nsdname CNAME .\n\
         32.{}.{}.{}.{}.rpz-nsip CNAME *.\n",
        crate::POLICY_HEAD,
        ip3[3],
        ip3[2],
        ip3[1],
        ip3[0]
    )
}

/// The second policy zone (`policy nxdomain`): what the first one's precedence must win over.
fn policy_two() -> String {
    format!("{}both.good.test CNAME *.\npass.good.test CNAME .\nsecond.good.test A 10.0.0.9\n", crate::POLICY_HEAD)
}

/// The queries: (name, type, source host on 127.0.0.x), in order (primes before the rewrites
/// whose CNAME target portcullis answers from its cache).
const QUERIES: &[(&str, Rtype, u8)] = &[
    ("www.good.test.", Rtype::A, 1),
    ("nx.good.test.", Rtype::A, 1),
    ("nodata.good.test.", Rtype::A, 1),
    ("pass.good.test.", Rtype::A, 1),
    ("drop.good.test.", Rtype::A, 1),
    ("tcp.good.test.", Rtype::A, 1),
    ("local.good.test.", Rtype::A, 1),
    ("local.good.test.", Rtype::TXT, 1),
    ("local.good.test.", Rtype::MX, 1),
    ("redirect.good.test.", Rtype::A, 1),
    ("x.wild.good.test.walled.good.test.", Rtype::A, 1),
    ("x.wild.good.test.", Rtype::A, 1),
    ("exact.wild.good.test.", Rtype::A, 1),
    ("ip4.good.test.", Rtype::A, 1),
    ("ip4net.good.test.", Rtype::A, 1),
    ("v6host.good.test.", Rtype::AAAA, 1),
    ("www.good.test.", Rtype::A, 9),
    ("www.evil.test.", Rtype::A, 1),
    ("www.far.test.", Rtype::A, 1),
    ("both.good.test.", Rtype::A, 1),
    ("second.good.test.", Rtype::A, 1),
    // QNAME triggers on a CNAME target (BIND restarts there).
    ("chain.good.test.", Rtype::A, 1),
    ("chain2.good.test.", Rtype::A, 1),
    // Cache hits of the answer-time triggers and the chains.
    ("chain.good.test.", Rtype::A, 1),
    ("chain2.good.test.", Rtype::A, 1),
    ("ip4.good.test.", Rtype::A, 1),
    ("www.evil.test.", Rtype::A, 1),
    ("www.far.test.", Rtype::A, 1),
];

/// BIND's configuration: recursion from the same hints, both policy zones in the same order
/// (`qname-wait-recurse no`, as portcullis: QNAME and client-IP triggers are applied without
/// resolving first).
fn named_conf(dir: &Path, listen: SocketAddr) -> String {
    let dir = dir.display();
    format!(
        "options {{\n  directory \"{dir}\";\n  pid-file \"{dir}/named.pid\";\n  session-keyfile \"{dir}/session.key\";\n  \
         managed-keys-directory \"{dir}\";\n  listen-on port {port} {{ {ip}; }};\n  listen-on-v6 {{ none; }};\n  recursion yes;\n  \
         allow-recursion {{ 127.0.0.0/8; }};\n  allow-query {{ any; }};\n  dnssec-validation no;\n  qname-minimization off;\n  \
         minimal-responses yes;\n  notify no;\n  rate-limit {{ responses-per-second 0; }};\n  \
         response-policy {{ zone \"rpz.one\"; zone \"rpz.two\" policy nxdomain; }} qname-wait-recurse no;\n}};\n\
         zone \".\" {{ type hint; file \"{dir}/root.hints\"; }};\n\
         zone \"rpz.one\" {{ type primary; file \"{dir}/rpz.one.zone\"; }};\n\
         zone \"rpz.two\" {{ type primary; file \"{dir}/rpz.two.zone\"; }};\ncontrols {{ }};\n",
        ip = listen.ip(),
        port = listen.port()
    )
}

/// Runs the interop comparison; `named` is BIND's daemon.
pub fn compare(named: &Path, nsd: &Path, net: Net) {
    let mut peers = Vec::new();
    for (host, zones) in zones(net).iter().enumerate() {
        let zones: Vec<(&str, &str)> = zones.iter().map(|(origin, text)| (origin.as_str(), text.as_str())).collect();
        peers.push(start_nsd(nsd, net.addr(host as u8 + 1), &zones).unwrap_or_else(|e| panic!("nsd: {e}")));
    }
    let dir = temp_dir("rpz-interop");
    let hints = dir.join("root.hints");
    fs::write(&hints, format!(". 3600000 NS a.root.\na.root. 3600000 A {}\n", net.ip(1))).unwrap();
    fs::write(dir.join("rpz.one.zone"), policy_one(net)).unwrap();
    fs::write(dir.join("rpz.two.zone"), policy_two()).unwrap();
    let ours = net.addr(PORTCULLIS);
    let config = format!(
        "{}[[rpz]]\nzone = \"rpz.one\"\nfile = \"{dir}/rpz.one.zone\"\nlog = true\n\n[[rpz]]\nzone = \"rpz.two\"\nfile = \"{dir}/rpz.two.zone\"\npolicy = \"nxdomain\"\n",
        resolver_config(ours, &hints),
        dir = dir.display()
    );
    let portcullis = start_portcullis(&dir, &config, ours);
    let bind_dir = temp_dir("rpz-named");
    fs::copy(&hints, bind_dir.join("root.hints")).unwrap();
    fs::copy(dir.join("rpz.one.zone"), bind_dir.join("rpz.one.zone")).unwrap();
    fs::copy(dir.join("rpz.two.zone"), bind_dir.join("rpz.two.zone")).unwrap();
    let named_addr = SocketAddr::from(([127, 0, 0, 1], crate::peers::free_port()));
    fs::write(bind_dir.join("named.conf"), named_conf(&bind_dir, named_addr)).unwrap();
    let mut command = Command::new(named);
    command.arg("-g").arg("-n").arg("1").arg("-4").arg("-c").arg(bind_dir.join("named.conf"));
    let mut bind = Process::spawn("named", command, bind_dir.clone());
    bind.wait_ready(named_addr, ".");
    // BIND answers its first recursive queries SERVFAIL while it primes the root (seen here):
    // both resolvers resolve an unlisted name before the comparison.
    for server in [named_addr, ours] {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while ask_from([127, 0, 0, 1].into(), server, "www.good.test.", Rtype::A, Duration::from_secs(2)).is_none_or(|s| s.answers.is_empty()) {
            assert!(std::time::Instant::now() < deadline, "{server} never resolved www.good.test.\n{}", bind.logs());
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let mut report = String::new();
    let mut differences = 0;
    for &(qname, qtype, source) in QUERIES {
        let from: IpAddr = [127, 0, 0, source].into();
        let wait = Duration::from_secs(2);
        let theirs = ask_settled(from, named_addr, qname, qtype, wait).map(|s| s.without_ede());
        let mine = ask_settled(from, ours, qname, qtype, wait);
        let same = theirs == mine.as_ref().map(Summary::without_ede);
        differences += usize::from(!same);
        report.push_str(&format!(
            "{} {qname} {qtype} from 127.0.0.{source}\n  bind:       {theirs:?}\n  portcullis: {mine:?}\n",
            if same { "same" } else { "DIFFERENT" }
        ));
    }
    // TCP-only over TCP: the normal answer.
    let (theirs, mine) =
        (ask_tcp(named_addr, "tcp.good.test.", Rtype::A, Duration::from_secs(3)), ask_tcp(ours, "tcp.good.test.", Rtype::A, Duration::from_secs(3)));
    let same = theirs.is_some() && theirs.as_ref().map(Summary::without_ede) == mine.as_ref().map(Summary::without_ede);
    differences += usize::from(!same);
    report.push_str(&format!("{} tcp.good.test. A over TCP\n  bind:       {theirs:?}\n  portcullis: {mine:?}\n", if same { "same" } else { "DIFFERENT" }));
    println!("{report}");
    assert_eq!(differences, 0, "answers differ:\n{report}\n{}\n{}", portcullis.logs(), bind.logs());
    drop(peers);
}

/// [`ask_from`], asked again (at most 3 times in all, 300 ms apart) while the answer is SERVFAIL:
/// on a loaded host BIND now and then answers one recursive query SERVFAIL right after it
/// answered the same name (seen once in a full test run). A resolver that keeps failing still
/// shows its SERVFAIL.
fn ask_settled(from: IpAddr, server: SocketAddr, qname: &str, qtype: Rtype, wait: Duration) -> Option<Summary> {
    let mut answer = ask_from(from, server, qname, qtype, wait);
    for _ in 1..3 {
        if answer.as_ref().is_none_or(|summary| summary.rcode != Rcode::SERVFAIL) {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        answer = ask_from(from, server, qname, qtype, wait);
    }
    answer
}

/// The test's entry: tools and network, then [`compare`].
pub fn run(test: &str) {
    let Some(tools) = require(test, &["named", "nsd"]) else { return };
    let Some(net) = crate::network(test, PORTCULLIS) else { return };
    let _ = in_ci();
    compare(&tools[0], &tools[1], net);
}
