//! The tunnelling detector end to end (issue 16), on a loopback hierarchy: NSD serves the root,
//! `com.` and two domains under it; portcullis resolves from that root with
//! `[detection] tunnelling = "block"`. One client (127.0.0.2) sends a dnscat2-like stream of
//! TXT queries with long random hex labels under `tunnel-test.com.`: it gets REFUSED with EDE 15
//! naming the detector, a name of that domain already cached is refused to it too, while another
//! client (127.0.0.1) still resolves names of the same domain and the blocked client still
//! resolves other domains. The detection is an alert (`ctl alerts --json`, as `/api/alerts`
//! serves it) and a log line.
//!
//! Needs root (port 53 on 127.x addresses) and NSD; skipped otherwise (failed under CI=true).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "it/client.rs"]
mod client;
mod hierarchy;
#[path = "it/peers.rs"]
mod peers;

use client::Query;
use hierarchy::resolvers::{wait_alert, Process};
use hierarchy::{net_for, start_nsd, Net};
use peers::{free_port, require, temp_dir, RemoveOnDrop};
use portcullis_wire::Rtype;
use std::fs;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

const TUNNELLER: &str = "127.0.0.2";
const HONEST: &str = "127.0.0.1";

fn zones(net: Net) -> Vec<(String, String)> {
    let ns = net.ip(1);
    let soa =
        |origin: &str| format!("$TTL 300\n{origin} IN SOA ns.{origin} h.{origin} 1 3600 600 86400 60\n{origin} IN NS ns.{origin}\nns.{origin} IN A {ns}\n");
    let root = format!(
        "$TTL 3600\n. IN SOA a.rootns. h.rootns. 1 3600 600 86400 300\n. IN NS a.rootns.\na.rootns. IN A {ns}\ncom. IN NS ns.com.\nns.com. IN A {ns}\n"
    );
    let mut com = soa("com.");
    for domain in ["tunnel-test.com.", "fine-test.com."] {
        com.push_str(&format!("{domain} IN NS ns.{domain}\nns.{domain} IN A {ns}\n"));
    }
    let tunnel = soa("tunnel-test.com.") + "www.tunnel-test.com. IN A 192.0.2.1\n*.tunnel-test.com. IN TXT \"ack\"\n";
    let fine = soa("fine-test.com.") + "www.fine-test.com. IN A 192.0.2.2\n";
    vec![(".".into(), root), ("com.".into(), com), ("tunnel-test.com.".into(), tunnel), ("fine-test.com.".into(), fine)]
}

/// One RD=1 query over UDP from `source`, the reply's bytes.
fn ask(source: &str, server: SocketAddr, qname: &str, qtype: Rtype) -> Vec<u8> {
    let mut wire = Query::new(qname, qtype).to_wire(0x7a11).unwrap();
    wire[2] |= 0x01;
    let socket = UdpSocket::bind((source.parse::<IpAddr>().unwrap(), 0)).unwrap();
    socket.connect(server).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    for _ in 0..3 {
        socket.send(&wire).unwrap();
        let mut reply = [0u8; 4096];
        if let Ok(len) = socket.recv(&mut reply) {
            return reply[..len].to_vec();
        }
    }
    panic!("{qname} {qtype}: no reply from {server} to {source}");
}

fn rcode(reply: &[u8]) -> u8 {
    reply[3] & 0x0f
}

fn answers(reply: &[u8]) -> u16 {
    u16::from_be_bytes([reply[6], reply[7]])
}

/// True when the reply carries EDE option 15 (Blocked) with a text naming the detector.
fn blocked_by_detector(reply: &[u8]) -> bool {
    let ede = [0x00, 0x0f];
    let text = b"tunnelling detector";
    reply.windows(6).any(|w| w[..2] == ede && w[4..6] == ede) && reply.windows(text.len()).any(|w| w == text)
}

fn hex_label(state: &mut u64) -> String {
    (0..60)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            b"0123456789abcdef"[(*state % 16) as usize] as char
        })
        .collect()
}

fn start_portcullis(dir: &std::path::Path, hints: &std::path::Path, listen: SocketAddr) -> Process {
    let config = dir.join("portcullis.toml");
    let text = format!(
        "[server]\nlisten = [\"{listen}\"]\nthreads = 1\n\n[resolver]\nrecursion = true\nroot-hints = \"{}\"\n\
         do-not-query-localhost = false\nallow-recursion = [\"127.0.0.0/8\"]\nuse-ipv6 = false\n\n\
         [detection]\ntunnelling = \"block\"\ntunnelling-hold = 120\n",
        hints.display()
    );
    fs::write(&config, text).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.arg("serve").arg("--config").arg(&config).env("RUST_LOG", "info");
    let mut process = Process::spawn("portcullis", command, dir.to_path_buf());
    process.wait_ready(listen, "com.");
    process
}

#[test]
fn a_tunnel_is_refused_for_its_client_only_and_raises_an_alert() {
    let test = "a_tunnel_is_refused_for_its_client_only_and_raises_an_alert";
    let Some(tools) = require(test, &["nsd"]) else { return };
    let Some(net) = net_for(test, 1, None) else { return };
    let zones = zones(net);
    let zone_refs: Vec<(&str, &str)> = zones.iter().map(|(origin, text)| (origin.as_str(), text.as_str())).collect();
    let _nsd = start_nsd(&tools[0], net.addr(1), &zone_refs).unwrap();
    let dir = temp_dir("tunnelling");
    let _cleanup = RemoveOnDrop(dir.clone());
    let hints = dir.join("root.hints");
    fs::write(&hints, format!(".  3600000 NS a.rootns.\na.rootns. 3600000 A {}\n", net.ip(1))).unwrap();
    let home = dir.join("portcullis");
    fs::create_dir_all(&home).unwrap();
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let portcullis = start_portcullis(&home, &hints, listen);

    // Both clients resolve the domain at first; the honest client's name is cached.
    assert_eq!((rcode(&ask(HONEST, listen, "www.tunnel-test.com.", Rtype::A)), 0), (0, 0));
    assert_eq!(rcode(&ask(TUNNELLER, listen, "www.tunnel-test.com.", Rtype::A)), 0, "{}", portcullis.logs());

    // The tunnel: TXT queries with two 60-character hex labels each, until refused.
    let mut state = 0x5eed_u64;
    let started = Instant::now();
    let mut refused = None;
    for sent in 1..=2000 {
        let name = format!("{}.{}.tunnel-test.com.", hex_label(&mut state), hex_label(&mut state));
        let reply = ask(TUNNELLER, listen, &name, Rtype::TXT);
        if rcode(&reply) == 5 {
            refused = Some((sent, reply));
            break;
        }
        assert_eq!((rcode(&reply), answers(&reply)), (0, 1), "{name}: before the detection the tunnel's queries are answered");
    }
    let (sent, reply) = refused.unwrap_or_else(|| panic!("the tunnel was never refused\n{}", portcullis.logs()));
    println!("refused after {sent} queries, {:?}", started.elapsed());
    assert!(blocked_by_detector(&reply), "REFUSED without EDE 15 naming the detector: {reply:?}");

    // The blocked client: refused a cached name of that domain too; other domains resolve.
    let cached = ask(TUNNELLER, listen, "www.tunnel-test.com.", Rtype::A);
    assert!(rcode(&cached) == 5 && blocked_by_detector(&cached), "a cache hit is refused to the blocked client too");
    let other = ask(TUNNELLER, listen, "www.fine-test.com.", Rtype::A);
    assert_eq!((rcode(&other), answers(&other)), (0, 1), "another domain still resolves for the blocked client");
    // Another client: the same domain still resolves, cached and not.
    for name in ["www.tunnel-test.com.", "anything.tunnel-test.com."] {
        let reply = ask(HONEST, listen, name, Rtype::A);
        assert_eq!(rcode(&reply), 0, "{name} for another client");
    }
    let txt = ask(HONEST, listen, "hello.tunnel-test.com.", Rtype::TXT);
    assert_eq!((rcode(&txt), answers(&txt)), (0, 1));

    // The alert and the log line.
    let alert = wait_alert(&home.join("portcullis.toml"), "tunnelling", None).unwrap_or_else(|| panic!("no tunnelling alert\n{}", portcullis.logs()));
    assert_eq!(alert["domain"], "tunnel-test.com.", "{alert}");
    assert_eq!(alert["client"], "127.0.0.2/32", "{alert}");
    assert_eq!(alert["action"], "block", "{alert}");
    assert!(alert["score"].as_f64().is_some_and(|score| score >= 1.0), "{alert}");
    assert!(
        portcullis.stderr().contains("DNS tunnelling suspected")
            || fs::read_to_string(home.join("stdout.log")).unwrap_or_default().contains("DNS tunnelling suspected")
    );
}
