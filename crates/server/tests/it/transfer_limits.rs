//! A secondary's transfers in are bounded (issue 12 item 3): against a hand-written primary (an
//! SOA answer over UDP, an AXFR over TCP on the same port),
//!
//! - a transfer past the zone's `transfer-max-records` is given up and the kept copy is still
//!   served;
//! - a primary that trickles one message at a time forever (each within the per-message timeout)
//!   is cut at the zone's `transfer-timeout`, and the zone's names stay SERVFAIL.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use portcullis_wire::message::Message;
use portcullis_wire::{Rcode, Rtype};

use crate::client::{self, Query};
use crate::peers::{free_port, temp_dir, ServerProcess};
use crate::secondary::portcullis_at;

/// What the primary sends after the AXFR query.
#[derive(Clone, Copy)]
enum Axfr {
    /// The whole zone with this many A records, in one message.
    Records(u8),
    /// The SOA and NS, then one A record a message every 200 ms, forever.
    Trickle,
}

/// A primary of `sec.test.` at serial 2 on 127.0.0.1; its threads end when it is dropped.
struct FakePrimary {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// For each AXFR connection, how long after the query the secondary closed it.
    closed: mpsc::Receiver<Duration>,
}

impl FakePrimary {
    fn start(axfr: Axfr) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let stop = Arc::new(AtomicBool::new(false));
        let udp = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("{e}"));
        udp.set_read_timeout(Some(Duration::from_millis(100))).unwrap_or_else(|e| panic!("{e}"));
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("{e}"));
        listener.set_nonblocking(true).unwrap_or_else(|e| panic!("{e}"));
        let flag = stop.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((len, from)) = udp.recv_from(&mut buf) {
                    let _ = udp.send_to(&reply(&buf[..len], &[soa()]), from);
                }
            }
        });
        let (tell, closed) = mpsc::channel();
        let flag = stop.clone();
        thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (flag, tell) = (flag.clone(), tell.clone());
                        thread::spawn(move || serve_axfr(stream, axfr, &flag, &tell));
                    }
                    // Polled: the thread must notice the stop flag.
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Self { addr, stop, closed }
    }
}

impl Drop for FakePrimary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Answers one AXFR connection as `axfr` says, and reports when the secondary closes it.
fn serve_axfr(mut stream: TcpStream, axfr: Axfr, stop: &AtomicBool, tell: &mpsc::Sender<Duration>) {
    let _ = stream.set_nonblocking(false);
    let Ok(query) = read_framed(&mut stream) else { return };
    let asked = Instant::now();
    let Ok(mut reader) = stream.try_clone() else { return };
    let tell = tell.clone();
    // The secondary closing the connection: end of file (or an error) on our side.
    thread::spawn(move || {
        let mut byte = [0u8; 1];
        while matches!(reader.read(&mut byte), Ok(n) if n > 0) {}
        let _ = tell.send(asked.elapsed());
    });
    match axfr {
        Axfr::Records(count) => {
            let mut answers = vec![soa(), ns(), a("ns", 53)];
            answers.extend((0..count).map(|n| a(&format!("host{n}"), n)));
            answers.push(soa());
            let _ = write_framed(&mut stream, &reply(&query, &answers));
        }
        Axfr::Trickle => {
            let mut sent = write_framed(&mut stream, &reply(&query, &[soa(), ns(), a("ns", 53)]));
            let mut n = 0u8;
            while sent.is_ok() && !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(200));
                n = n.wrapping_add(1);
                sent = write_framed(&mut stream, &reply(&query, &[a(&format!("slow{n}"), n)]));
            }
        }
    }
}

fn read_framed(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix)?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut message)?;
    Ok(message)
}

fn write_framed(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<()> {
    let mut framed = (message.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(message);
    stream.write_all(&framed)
}

/// The answer to `query` (its ID and question) with `answers`.
fn reply(query: &[u8], answers: &[Vec<u8>]) -> Vec<u8> {
    let mut end = 12;
    while end < query.len() && query[end] != 0 {
        end += usize::from(query[end]) + 1;
    }
    let question = &query[12..(end + 5).min(query.len())];
    let mut out = query[..2].to_vec();
    out.extend_from_slice(&[0x84, 0x00, 0, 1]);
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    answers.iter().for_each(|record| out.extend_from_slice(record));
    out
}

/// `label.sec.test.` (the apex for an empty label) in wire form.
fn name(label: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for part in label.split('.').filter(|part| !part.is_empty()).chain(["sec", "test"]) {
        out.push(part.len() as u8);
        out.extend_from_slice(part.as_bytes());
    }
    out.push(0);
    out
}

fn record(owner: &str, rtype: u16, rdata: &[u8]) -> Vec<u8> {
    let mut out = name(owner);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 1, 44]);
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
    out
}

/// The SOA at serial 2 (refresh an hour).
fn soa() -> Vec<u8> {
    let mut rdata = [name("ns"), name("hostmaster")].concat();
    for value in [2u32, 3600, 900, 604_800, 60] {
        rdata.extend_from_slice(&value.to_be_bytes());
    }
    record("", 6, &rdata)
}

fn ns() -> Vec<u8> {
    record("", 2, &name("ns"))
}

fn a(owner: &str, n: u8) -> Vec<u8> {
    record(owner, 1, &[192, 0, 2, n])
}

/// Waits (bounded) until `server`'s log has `text`.
fn wait_log(server: &ServerProcess, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let logs = server.logs();
        if logs.contains(text) {
            return logs;
        }
        assert!(Instant::now() < deadline, "never logged: {text}\n{logs}");
        thread::sleep(Duration::from_millis(50));
    }
}

fn rcode_and_answers(server: SocketAddr, name: &str) -> (Rcode, u16) {
    let reply = client::udp(server, &Query::new(name, Rtype::A)).unwrap_or_else(|e| panic!("{e}"));
    let message = Message::parse(&reply).unwrap_or_else(|e| panic!("{e:?}"));
    (message.rcode(), message.header().ancount())
}

fn secondary_body(primary: SocketAddr, bounds: &str) -> String {
    format!("[[zone]]\norigin = \"sec.test.\"\nprimaries = [\"{primary}\"]\n{bounds}")
}

#[test]
fn a_transfer_past_the_record_cap_is_given_up_and_the_kept_copy_still_served() {
    let dir = temp_dir("xfr-cap");
    let copy = dir.join("kept.zone");
    fs::write(&copy, "$ORIGIN sec.test.\n$TTL 300\n@ SOA ns hostmaster 1 3600 900 604800 60\n@ NS ns\nns A 192.0.2.53\nold A 192.0.2.1\n")
        .unwrap_or_else(|e| panic!("{e}"));
    // Serial 2 with 3 + 20 records: over a cap of 10.
    let primary = FakePrimary::start(Axfr::Records(20));
    let body = secondary_body(primary.addr, &format!("file = \"{}\"\ntransfer-max-records = 10\n", copy.display()));
    let secondary = portcullis_at(SocketAddr::from(([127, 0, 0, 1], free_port())), &body, "sec.test.");
    let logs = wait_log(&secondary, "refresh failed");
    assert!(logs.contains("more than 10 records (transfer-max-records)"), "{logs}");
    assert!(primary.closed.recv_timeout(Duration::from_secs(10)).is_ok(), "the secondary closed the transfer");
    assert_eq!(rcode_and_answers(secondary.addr, "old.sec.test."), (Rcode::NOERROR, 1), "the kept copy (serial 1) is still served");
    assert_eq!(rcode_and_answers(secondary.addr, "host1.sec.test.").0, Rcode::NXDOMAIN, "nothing of the transfer given up is served");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_primary_that_trickles_forever_is_cut_at_the_transfer_timeout() {
    let primary = FakePrimary::start(Axfr::Trickle);
    let example = crate::harness::example_zone();
    let body = format!("{}transfer-timeout = 2\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"{}\"\n", secondary_body(primary.addr, ""), example.display());
    let secondary = portcullis_at(SocketAddr::from(([127, 0, 0, 1], free_port())), &body, "example.test.");
    // Each message comes within the 10 s per-message timeout: only the deadline ends it.
    let cut = primary.closed.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| panic!("the trickle was not cut\n{}", secondary.logs()));
    assert!(cut >= Duration::from_millis(1900) && cut < Duration::from_secs(5), "cut after {cut:?}, the deadline is 2 s");
    let logs = wait_log(&secondary, "refresh failed");
    assert!(logs.contains("not finished within 2 s (transfer-timeout)"), "{logs}");
    assert_eq!(rcode_and_answers(secondary.addr, "ns.sec.test.").0, Rcode::SERVFAIL, "no copy: SERVFAIL, as before a first transfer");
}
