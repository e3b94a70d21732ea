//! The spoofing race (issue 4): while portcullis resolves, a hostile process on loopback floods
//! it with forged replies, and afterwards the cache holds no forged record.
//!
//! The hierarchy, on its own 127.B.C.0/24 (port 53, so the test runs as root):
//! - `.1`: NSD serving the root zone, delegating `victim.test.` to `.2` and `bank.test.` to `.3`;
//! - `.3`: NSD serving `victim.test.` and `bank.test.`;
//! - `.2`: the hostile relay. For every UDP query it receives it first floods forged replies from
//!   its own address and port 53 (the address the resolver asked) to the resolver's port, as an
//!   attacker who knows the port but must guess the ID: wrong IDs carrying poison, wrong IDs with
//!   the question's case changed (0x20), wrong IDs for another name; and, as a hostile
//!   authoritative server would, the right ID and question carrying the true answer plus
//!   out-of-bailiwick poison (an A record for `www.bank.test.` and an NS record taking over
//!   `bank.test.`). Each forgery is also sent from a wrong port. Then it relays the real answer
//!   from `.3`. It relays TCP too (unwanted replies switch the resolver to TCP for that server).
//!
//! The test asks for 20 names under `victim.test.`, checks every answer is the true one, then
//! asks for the poisoned names and checks they resolve to the true data. It prints how many
//! forgeries were sent. A second test sends only the hostile extras, so all 20 queries stay on UDP.

#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "it/client.rs"]
#[allow(dead_code)]
mod client;
mod hierarchy;
#[path = "it/peers.rs"]
#[allow(dead_code)]
mod peers;

use hierarchy::{pick_net, start_nsd, Net};

use peers::{find_binary, in_ci, temp_dir};
use portcullis_wire::header::Flags;
use portcullis_wire::message::{Message, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_portcullis");
/// The true address of every `wwwN.victim.test.`.
const VICTIM_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 80);
/// The true address of `www.bank.test.`.
const BANK_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 81);
/// What the attacker wants cached.
const POISON: Ipv4Addr = Ipv4Addr::new(6, 6, 6, 6);
/// Forged replies per query received by the relay.
const FORGERIES_PER_QUERY: usize = 60;

/// Off-path forgeries (wrong IDs, wrong case, other names) and a hostile server's extras.
#[test]
fn forged_replies_never_reach_the_cache() {
    race(ALL_KINDS, 1);
}

/// Only the hostile server's out-of-bailiwick extras, so every query stays on UDP.
#[test]
fn out_of_bailiwick_extras_are_scrubbed_on_every_answer() {
    race(EXTRAS, 20);
}

/// Forgery kinds (bits).
const WRONG_ID: u32 = 1;
const WRONG_CASE: u32 = 2;
const OTHER_NAME: u32 = 4;
const EXTRAS: u32 = 8;
const ALL_KINDS: u32 = WRONG_ID | WRONG_CASE | OTHER_NAME | EXTRAS;

/// Runs the race with forgeries of `kinds`; at least `min_queries` reach the relay over UDP.
fn race(kinds: u32, min_queries: usize) {
    let Some(nsd) = find_binary("nsd") else {
        assert!(!in_ci(), "nsd is missing under CI=true");
        return eprintln!("SKIPPED forged_replies_never_reach_the_cache: nsd not installed");
    };
    let net = pick_net(4).expect("a free 127.B.C.0/24 for the hierarchy");
    let root = start_nsd(&nsd, net.addr(1), &[(".", &root_zone(net))]).unwrap_or_else(|e| panic!("{e}"));
    let auth = start_nsd(&nsd, net.addr(3), &[("victim.test.", &victim_zone()), ("bank.test.", &bank_zone())]).unwrap_or_else(|e| panic!("{e}"));
    let relay = Relay::start(net.addr(2), net.addr(3), kinds);
    let dir = temp_dir("spoof-portcullis");
    let listen = net.addr(4);
    let mut resolver = start_portcullis(&dir, net, listen);

    for index in 0..20 {
        let name = format!("www{index}.victim.test.");
        let addresses = resolve(listen, &name, &mut resolver);
        assert_eq!(addresses, [VICTIM_ADDRESS], "{name} resolved to forged data");
    }
    let bank = resolve(listen, "www.bank.test.", &mut resolver);
    assert_eq!(bank, [BANK_ADDRESS], "www.bank.test. was poisoned through the victim zone's extras");
    let other = resolve(listen, "other.bank.test.", &mut resolver);
    assert_eq!(other, [BANK_ADDRESS], "bank.test. was taken over by a forged NS record");

    let sent = relay.stop();
    eprintln!("spoofing race: {} forged replies sent to the resolver, {} relayed queries; no forged record cached", sent.forged, sent.queries);
    // The first unwanted replies move the resolver to TCP for this server (SECURITY-REFERENCE
    // §3.8): later queries arrive over TCP, where off-path forgeries cannot follow.
    assert!(sent.queries >= min_queries && sent.forged >= FORGERIES_PER_QUERY / 4 * min_queries, "the relay did not flood the resolver: {sent:?}");
    drop((root, auth));
}

/// Asks `server` for the A records of `name`.
fn resolve(server: SocketAddr, name: &str, resolver: &mut Resolver) -> Vec<Ipv4Addr> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("client socket");
    socket.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let query = build_query(0x5151, &NameBuf::from_text(name, None).expect("name"), true);
    socket.send_to(&query, server).expect("send");
    let mut buf = [0u8; 4096];
    let Ok(len) = socket.recv(&mut buf) else { panic!("no answer for {name}\n{}", resolver.logs()) };
    let message = Message::parse(&buf[..len]).expect("the resolver's reply parses");
    assert_eq!(message.rcode(), Rcode::NOERROR, "{name}: {:?}\n{}", message.rcode(), resolver.logs());
    message.records(Section::Answer).filter(|r| r.rtype == Rtype::A).filter_map(|r| <[u8; 4]>::try_from(r.rdata).ok().map(Ipv4Addr::from)).collect()
}

fn build_query(id: u16, qname: &NameBuf, rd: bool) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).expect("buffer");
    writer.set_header(id, Flags { rd, ..Flags::default() });
    writer.push_question(qname, Rtype::A, Class::IN).expect("question");
    let len = writer.finish();
    buf.truncate(len);
    buf
}

fn root_zone(net: Net) -> String {
    format!(
        "$ORIGIN .\n$TTL 3600\n. SOA a.rootns. h.rootns. 1 3600 900 86400 300\n. NS a.rootns.\na.rootns. A {}\n\
         victim.test. NS ns.victim.test.\nns.victim.test. A {}\nbank.test. NS ns.bank.test.\nns.bank.test. A {}\n",
        net.ip(1),
        net.ip(2),
        net.ip(3)
    )
}

fn victim_zone() -> String {
    let mut text = "$ORIGIN victim.test.\n$TTL 3600\n@ SOA ns h 1 3600 900 86400 300\n@ NS ns\nns A 127.0.0.1\n".to_string();
    for index in 0..20 {
        text.push_str(&format!("www{index} A {VICTIM_ADDRESS}\n"));
    }
    text
}

fn bank_zone() -> String {
    format!("$ORIGIN bank.test.\n$TTL 3600\n@ SOA ns h 1 3600 900 86400 300\n@ NS ns\nns A 127.0.0.1\nwww A {BANK_ADDRESS}\nother A {BANK_ADDRESS}\n")
}

/// portcullis as a recursive resolver for 127.0.0.1, with the hierarchy's root as its hints.
struct Resolver {
    child: Child,
    dir: std::path::PathBuf,
}

impl Resolver {
    fn logs(&self) -> String {
        fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn start_portcullis(dir: &Path, net: Net, listen: SocketAddr) -> Resolver {
    let hints = dir.join("root.hints");
    fs::write(&hints, format!(".  3600000 NS a.rootns.\na.rootns. 3600000 A {}\n", net.ip(1))).expect("hints");
    let config = dir.join("portcullis.toml");
    let text = format!(
        "[server]\nlisten = [\"{listen}\"]\nthreads = 1\n\n[resolver]\nrecursion = true\nroot-hints = \"{}\"\n\
         do-not-query-localhost = false\nallow-recursion = [\"127.0.0.1/32\"]\nuse-ipv6 = false\n",
        hints.display()
    );
    fs::write(&config, text).expect("config");
    let stderr = fs::File::create(dir.join("stderr.log")).expect("log");
    let child = Command::new(BINARY)
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start portcullis");
    let resolver = Resolver { child, dir: dir.to_path_buf() };
    let probe = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
    probe.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let deadline = Instant::now() + Duration::from_secs(20);
    let query = build_query(1, &NameBuf::ROOT, false);
    while Instant::now() < deadline {
        let _ = probe.send_to(&query, listen);
        if probe.recv(&mut [0u8; 512]).is_ok() {
            return resolver;
        }
    }
    panic!("portcullis never answered on {listen}\n{}", resolver.logs());
}

/// What the relay did.
#[derive(Debug, Default, Clone, Copy)]
struct Sent {
    queries: usize,
    forged: usize,
}

/// The hostile relay on `.2`.
struct Relay {
    stop: Arc<AtomicBool>,
    queries: Arc<AtomicUsize>,
    forged: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    fn start(listen: SocketAddr, upstream: SocketAddr, kinds: u32) -> Self {
        let socket = UdpSocket::bind(listen).expect("relay socket");
        socket.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        let wrong_port = UdpSocket::bind(SocketAddr::new(listen.ip(), 0)).expect("wrong-port socket");
        let tcp = std::net::TcpListener::bind(listen).expect("relay TCP listener");
        tcp.set_nonblocking(true).expect("nonblocking");
        let (stop, queries, forged) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (s, q, f) = (stop.clone(), queries.clone(), forged.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !s.load(Ordering::Relaxed) {
                if let Ok((stream, _)) = tcp.accept() {
                    relay_tcp(stream, upstream);
                }
                let Ok((len, from)) = socket.recv_from(&mut buf) else { continue };
                let Ok(message) = Message::parse(&buf[..len]) else { continue };
                let Some(question) = message.question() else { continue };
                q.fetch_add(1, Ordering::Relaxed);
                let id = message.header().id();
                for forgery in forgeries(id, &question.qname, question.qtype, kinds) {
                    let _ = socket.send_to(&forgery, from);
                    let _ = wrong_port.send_to(&forgery, from);
                    f.fetch_add(2, Ordering::Relaxed);
                }
                if let Some(real) = relay(&buf[..len], upstream) {
                    let _ = socket.send_to(&real, from);
                }
            }
        });
        Self { stop, queries, forged, thread: Some(thread) }
    }

    fn stop(mut self) -> Sent {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        Sent { queries: self.queries.load(Ordering::Relaxed), forged: self.forged.load(Ordering::Relaxed) }
    }
}

/// Relays the TCP messages of one connection to the real server over TCP, until it closes.
fn relay_tcp(mut client: std::net::TcpStream, upstream: SocketAddr) {
    use std::io::{Read, Write};
    let _ = client.set_nonblocking(false);
    let _ = client.set_read_timeout(Some(Duration::from_millis(500)));
    let Ok(mut server) = std::net::TcpStream::connect_timeout(&upstream, Duration::from_secs(2)) else { return };
    let _ = server.set_read_timeout(Some(Duration::from_secs(2)));
    for _ in 0..100 {
        let mut prefix = [0u8; 2];
        if client.read_exact(&mut prefix).is_err() {
            return;
        }
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        if client.read_exact(&mut message).is_err() || server.write_all(&prefix).is_err() || server.write_all(&message).is_err() {
            return;
        }
        let mut reply_prefix = [0u8; 2];
        if server.read_exact(&mut reply_prefix).is_err() {
            return;
        }
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(reply_prefix))];
        if server.read_exact(&mut reply).is_err() || client.write_all(&reply_prefix).is_err() || client.write_all(&reply).is_err() {
            return;
        }
    }
}

/// Forwards a query to the real server and returns its reply.
fn relay(query: &[u8], upstream: SocketAddr) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    socket.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    socket.send_to(query, upstream).ok()?;
    let mut buf = vec![0u8; 4096];
    let len = socket.recv(&mut buf).ok()?;
    buf.truncate(len);
    Some(buf)
}

/// The forged replies for one query.
fn forgeries(id: u16, qname: &NameBuf, qtype: Rtype, kinds: u32) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for n in 0..FORGERIES_PER_QUERY / 4 {
        let wrong_id = id.wrapping_add(1 + n as u16);
        if kinds & WRONG_ID != 0 {
            out.push(forged(wrong_id, qname, qtype, POISON, true));
        }
        if kinds & WRONG_CASE != 0 {
            out.push(forged(wrong_id, &flip_case(qname), qtype, POISON, true));
        }
        let other = NameBuf::from_text(&format!("x{n}.victim.test."), None).unwrap_or(NameBuf::ROOT);
        if kinds & OTHER_NAME != 0 {
            out.push(forged(wrong_id, &other, qtype, POISON, true));
        }
        // The right ID and question (what an on-path attacker could send): the true answer to an
        // A question, carrying the poison in authority and additional.
        if kinds & EXTRAS != 0 && qtype == Rtype::A && qname.label_count() == 3 {
            out.push(forged(id, qname, qtype, VICTIM_ADDRESS, true));
        }
    }
    out
}

/// A reply for `qname` with answer `address` and, when `poison`, out-of-bailiwick extras.
fn forged(id: u16, qname: &NameBuf, qtype: Rtype, address: Ipv4Addr, poison: bool) -> Vec<u8> {
    let mut buf = vec![0u8; 1232];
    let Ok(mut writer) = MessageWriter::new(&mut buf, 1232) else { return Vec::new() };
    writer.set_header(id, Flags { qr: true, aa: true, ..Flags::default() });
    let _ = writer.push_question(qname, qtype, Class::IN);
    let _ = writer.push(Section::Answer, qname, Rtype::A, Class::IN, 86_400, &address.octets());
    if poison {
        let bank = NameBuf::from_text("bank.test.", None).unwrap_or(NameBuf::ROOT);
        let evil = NameBuf::from_text("ns.evil.", None).unwrap_or(NameBuf::ROOT);
        let www = NameBuf::from_text("www.bank.test.", None).unwrap_or(NameBuf::ROOT);
        let _ = writer.push(Section::Authority, &bank, Rtype::NS, Class::IN, 86_400, evil.as_wire());
        let _ = writer.push(Section::Additional, &www, Rtype::A, Class::IN, 86_400, &POISON.octets());
        let _ = writer.push(Section::Additional, &evil, Rtype::A, Class::IN, 86_400, &POISON.octets());
    }
    let len = writer.finish();
    buf.truncate(len);
    buf
}

/// The name with the case of every letter swapped (so it differs under 0x20 matching).
fn flip_case(name: &NameBuf) -> NameBuf {
    let mut wire = name.as_wire().to_vec();
    for byte in &mut wire {
        if byte.is_ascii_alphabetic() {
            *byte ^= 0x20;
        }
    }
    NameBuf::from_wire(&wire).unwrap_or(*name)
}
