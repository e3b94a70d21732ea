//! Hostile TCP clients against the real server (SECURITY-REFERENCE §6.5 rows 50-58): each test
//! asserts the exact behaviour and that a well-behaved client is answered during the attack
//! (where that applies) and afterwards. Servers run with short TCP timeouts so the tests are
//! fast; closes are detected with read timeouts, never with sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a panic with context

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_wire::header::Flags;
use portcullis_wire::message::Message;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};

use crate::client::{self, Query};
use crate::harness::{assert_answers, Server, Tcp, POLL};

/// Memory a hostile connection may add to the server's resident set.
const RSS_BOUND_KIB: u64 = 64 * 1024;

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closed {
    /// FIN: read returned 0.
    Eof,
    /// RST (the server closed with unread data in its receive buffer).
    Reset,
}

/// Waits at most `within` for the server to close `stream`; an error if it sends data or keeps
/// the connection open.
fn wait_closed(stream: &mut TcpStream, within: Duration) -> Result<Closed, String> {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("still open after {within:?}"));
        }
        stream.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        return match stream.read(&mut buf) {
            Ok(0) => Ok(Closed::Eof),
            Ok(n) => Err(format!("{n} bytes received where a close was expected: {:02x?}", &buf[..n.min(32)])),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe) => Ok(Closed::Reset),
            Err(e) => Err(format!("read: {e}")),
        };
    }
}

/// `Some(closed)` when the connection is already closed, `None` when it is open (no data).
fn closed_now(stream: &mut TcpStream) -> Result<Option<Closed>, String> {
    stream.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let state = match stream.read(&mut buf) {
        Ok(0) => Ok(Some(Closed::Eof)),
        Ok(n) => Err(format!("{n} unexpected bytes")),
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(None),
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => Ok(Some(Closed::Reset)),
        Err(e) => Err(e.to_string()),
    };
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    state
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    stream
}

fn framed(wire: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(wire.len()).expect("message too long").to_be_bytes().to_vec();
    out.extend_from_slice(wire);
    out
}

/// One query on an open connection; the reply's rcode and answer count.
fn ask_on(stream: &mut TcpStream, name: &str, rtype: Rtype, id: u16) -> Result<(Rcode, u16), String> {
    let wire = Query::new(name, rtype).to_wire(id)?;
    stream.write_all(&framed(&wire)).map_err(|e| format!("write: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).map_err(|e| e.to_string())?;
    let reply = client::read_framed(stream).map_err(|e| format!("read: {e}"))?;
    let message = Message::parse(&reply).map_err(|e| format!("{e:?}"))?;
    if message.header().id() != id {
        return Err(format!("reply id {} != {id}", message.header().id()));
    }
    Ok((message.rcode(), message.header().ancount()))
}

/// A server with the given timeouts (ms) and the default other limits.
fn server(first_message_ms: u64, message_ms: u64) -> Server {
    Server::with_tcp(&Tcp { first_message_ms: Some(first_message_ms), message_ms: Some(message_ms), idle_ms: Some(5000), ..Tcp::default() })
}

/// Row 50: a length prefix of 0, or 1..=11 (shorter than a header), closes the connection at
/// once, without a reply.
#[test]
fn row50_length_prefix_below_a_header_closes_without_reply() {
    let server = server(5000, 5000);
    for len in 0u16..12 {
        let mut stream = connect(server.addr);
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend(std::iter::repeat_n(0u8, usize::from(len)));
        stream.write_all(&bytes).unwrap();
        let sent = Instant::now();
        // Well below both timeouts (5 s): only the length can explain the close.
        let closed = wait_closed(&mut stream, Duration::from_secs(2)).unwrap_or_else(|e| panic!("length {len}: {e}"));
        assert!(sent.elapsed() < Duration::from_secs(2), "length {len}");
        if len == 0 {
            assert_eq!(closed, Closed::Eof, "length 0: nothing unread, so a clean close");
        }
    }
    assert_answers(server.addr, "after short length prefixes");
}

/// Row 51: length 1000, then 10 bytes, then silence: closed when the per-message deadline
/// (500 ms) expires, not before.
#[test]
fn row51_incomplete_message_is_closed_at_the_message_deadline() {
    let message_ms = 500;
    let server = server(5000, message_ms);
    let mut stream = connect(server.addr);
    let mut bytes = 1000u16.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0]);
    stream.write_all(&bytes).unwrap();
    let sent = Instant::now();
    assert_answers(server.addr, "while a message is incomplete");
    assert!(sent.elapsed() < Duration::from_millis(message_ms), "the well-behaved queries took too long for the check to be meaningful");
    wait_closed(&mut stream, Duration::from_secs(5)).unwrap();
    let took = sent.elapsed();
    assert!(took >= Duration::from_millis(message_ms / 2), "closed after {took:?}, before the {message_ms} ms message deadline");
    assert!(took < Duration::from_millis(message_ms + 1500), "closed only after {took:?} (message deadline {message_ms} ms)");
    assert_answers(server.addr, "after the incomplete message");
}

/// Row 52: connect and send nothing: closed after the first-message timeout (500 ms).
#[test]
fn row52_silent_connection_is_closed_at_the_first_message_timeout() {
    let first_ms = 500;
    let server = server(first_ms, 5000);
    let mut stream = connect(server.addr);
    let opened = Instant::now();
    assert_answers(server.addr, "while a connection is silent");
    let closed = wait_closed(&mut stream, Duration::from_secs(5)).unwrap();
    let took = opened.elapsed();
    assert_eq!(closed, Closed::Eof);
    assert!(took >= Duration::from_millis(first_ms / 2), "closed after {took:?}, before the {first_ms} ms first-message timeout");
    assert!(took < Duration::from_millis(first_ms + 1500), "closed only after {took:?} (first-message timeout {first_ms} ms)");
    assert_answers(server.addr, "after the silent connection");
}

/// Between queries: an answered connection that goes quiet is closed after the idle timeout
/// (500 ms), cleanly.
#[test]
fn idle_connection_is_closed_at_the_idle_timeout() {
    let idle_ms = 500;
    let server = Server::with_tcp(&Tcp { first_message_ms: Some(5000), message_ms: Some(5000), idle_ms: Some(idle_ms), ..Tcp::default() });
    let mut stream = connect(server.addr);
    assert_eq!(ask_on(&mut stream, "www.example.test.", Rtype::A, 1).unwrap(), (Rcode::NOERROR, 2));
    let answered = Instant::now();
    let closed = wait_closed(&mut stream, Duration::from_secs(5)).unwrap();
    let took = answered.elapsed();
    assert_eq!(closed, Closed::Eof);
    assert!(took >= Duration::from_millis(idle_ms / 2), "closed after {took:?}, before the {idle_ms} ms idle timeout");
    assert!(took < Duration::from_millis(idle_ms + 1500), "closed only after {took:?} (idle timeout {idle_ms} ms)");
    assert_answers(server.addr, "after the idle connection");
}

/// Row 53: slowloris, one byte of a 40-byte message every 100 ms: closed when the message
/// deadline (500 ms) expires, long before the message is complete.
#[test]
fn row53_slowloris_is_closed_at_the_message_deadline() {
    let message_ms = 500;
    let server = server(5000, message_ms);
    let mut stream = connect(server.addr);
    let wire = Query::new("example.test.", Rtype::SOA).with_edns(None).to_wire(0x5353).unwrap();
    let mut body = [0u8; 40];
    body[..wire.len()].copy_from_slice(&wire);
    stream.write_all(&40u16.to_be_bytes()).unwrap();
    let started = Instant::now();
    let mut sent = 0;
    let closed = loop {
        assert!(sent < body.len(), "the whole slow message went through without a close ({:?})", started.elapsed());
        if stream.write_all(&body[sent..=sent]).is_err() {
            break Closed::Reset;
        }
        sent += 1;
        if sent == 3 {
            assert_answers(server.addr, "during slowloris");
        }
        // The 100 ms pacing is the read timeout: a close ends the wait at once.
        stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => break Closed::Eof,
            Ok(n) => panic!("{n} bytes received during slowloris"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break Closed::Reset,
        }
    };
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(message_ms / 2), "closed ({closed:?}) after {took:?}, before the message deadline");
    assert!(took < Duration::from_millis(message_ms + 1500), "closed ({closed:?}) only after {took:?} and {sent} bytes");
    assert!(sent < 20, "{sent} bytes dribbled in before the close");
    assert_answers(server.addr, "after slowloris");
}

/// A TCP connection from another loopback address.
fn connect_from(local: &str, addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    let local: SocketAddr = local.parse().unwrap();
    socket.bind(&local.into()).unwrap_or_else(|e| panic!("bind {local}: {e}"));
    socket.connect_timeout(&addr.into(), Duration::from_secs(3)).unwrap_or_else(|e| panic!("connect from {local}: {e}"));
    let stream: TcpStream = socket.into();
    stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    stream
}

/// Row 54: 500 connections from 127.0.0.1 with per-client = 32: the first 32 are served, the
/// 33rd and later closed at once; 127.0.0.2 is answered meanwhile; 127.0.0.1 again once the 32
/// are gone.
#[test]
fn row54_per_client_cap_closes_the_excess_and_spares_other_clients() {
    let per_client = 32;
    let server = Server::with_tcp(&Tcp {
        per_client: Some(per_client),
        first_message_ms: Some(20_000),
        idle_ms: Some(20_000),
        message_ms: Some(5000),
        ..Tcp::default()
    });
    let mut streams: Vec<TcpStream> = (0..500).map(|_| connect(server.addr)).collect();
    let connected = Instant::now();
    let mut closed = vec![false; streams.len()];
    let deadline = connected + Duration::from_secs(5);
    while closed.iter().filter(|c| !**c).count() > per_client as usize && Instant::now() < deadline {
        for (index, stream) in streams.iter_mut().enumerate() {
            if !closed[index] && closed_now(stream).unwrap_or_else(|e| panic!("connection {index}: {e}")).is_some() {
                closed[index] = true;
            }
        }
        std::thread::sleep(POLL);
    }
    let took = connected.elapsed();
    let open: Vec<usize> = closed.iter().enumerate().filter(|(_, c)| !**c).map(|(i, _)| i).collect();
    assert_eq!(open.len(), per_client as usize, "{} connections open after {took:?}, expected {per_client}: {open:?}", open.len());
    assert_eq!(open, (0..per_client as usize).collect::<Vec<_>>(), "the connections kept are not the first {per_client}");
    assert!(took < Duration::from_secs(3), "the excess connections took {took:?} to be closed");

    // During: another address is served, and so are the admitted connections and UDP.
    let mut other = connect_from("127.0.0.2:0", server.addr);
    assert_eq!(ask_on(&mut other, "www.example.test.", Rtype::A, 1).unwrap(), (Rcode::NOERROR, 2), "client from 127.0.0.2");
    assert_eq!(ask_on(&mut streams[0], "www.example.test.", Rtype::A, 2).unwrap(), (Rcode::NOERROR, 2), "admitted connection");
    assert_eq!(crate::harness::udp_rcode(server.addr, "www.example.test.", Rtype::A).unwrap(), (Rcode::NOERROR, 2));
    // A 33rd connection from 127.0.0.1 now is still refused.
    let mut extra = connect(server.addr);
    wait_closed(&mut extra, Duration::from_secs(2)).expect("connection beyond the per-client cap");

    // After: the 32 leave; 127.0.0.1 is admitted again (the release is asynchronous: bounded poll).
    streams.clear();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = connect(server.addr);
        match ask_on(&mut stream, "www.example.test.", Rtype::A, 3) {
            Ok(answer) => {
                assert_eq!(answer, (Rcode::NOERROR, 2));
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "127.0.0.1 still refused 5 s after its connections closed: {e}"),
        }
        std::thread::sleep(POLL);
    }
    assert_answers(server.addr, "after the connection flood");
}

/// Row 55: global exhaustion. The reference wants the oldest idle connections closed first (and
/// idle timeouts shortened under load) so that a new client is still served.
#[test]
fn row55_global_exhaustion_evicts_idle_connections() {
    let server =
        Server::with_tcp(&Tcp { max_connections: Some(40), per_client: Some(1000), first_message_ms: Some(20_000), idle_ms: Some(20_000), ..Tcp::default() });
    let mut idle: Vec<TcpStream> = (0..40).map(|_| connect(server.addr)).collect();
    for (index, stream) in idle.iter_mut().enumerate() {
        assert_eq!(ask_on(stream, "example.test.", Rtype::SOA, index as u16).unwrap().0, Rcode::NOERROR);
    }
    let mut newcomer = connect_from("127.0.0.2:0", server.addr);
    let answer = ask_on(&mut newcomer, "www.example.test.", Rtype::A, 99);
    assert_eq!(answer, Ok((Rcode::NOERROR, 2)), "a new client is not served when every slot holds an idle connection");
}

/// The server-side (tx_queue, rx_queue) of the connection from `client_port` to `server_port`,
/// from /proc/net/tcp.
fn server_queues(server_port: u16, client_port: u16) -> Option<(u64, u64)> {
    let table = fs::read_to_string("/proc/net/tcp").ok()?;
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port = |field: &str| field.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
        if fields.len() > 4 && port(fields[1]) == Some(server_port) && port(fields[2]) == Some(client_port) {
            let (tx, rx) = fields[4].split_once(':')?;
            return Some((u64::from_str_radix(tx, 16).ok()?, u64::from_str_radix(rx, 16).ok()?));
        }
    }
    None
}

/// Row 56: 1000 pipelined queries (each with a ~4 KB answer) written without reading: the
/// server stops reading once `in-flight` replies are queued and the socket is full
/// (back-pressure: the queries wait in the kernel, memory stays flat), another client is
/// answered meanwhile, and reading then brings back all 1000 replies.
#[test]
fn row56_pipelined_queries_without_reading_get_back_pressure_then_all_replies() {
    let server = Server::with_tcp(&Tcp { in_flight: Some(16), first_message_ms: Some(5000), message_ms: Some(2000), idle_ms: Some(10_000), ..Tcp::default() });
    let rss_before = server.rss_kib();
    let mut stream = connect(server.addr);
    let client_port = stream.local_addr().unwrap().port();
    let count = 1000u16;
    let mut out = Vec::new();
    for id in 0..count {
        out.extend(framed(&Query::new("big.example.test.", Rtype::TXT).to_wire(id).unwrap()));
    }
    // Written from a thread: if the server stops reading early, the write itself blocks.
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        stream.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        std::thread::spawn(move || stream.write_all(&out).map_err(|e| e.to_string()))
    };
    // Wait until the server-side queue is stable and not empty: it stopped reading.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stable = 0;
    let mut last = None;
    while stable < 15 {
        assert!(Instant::now() < deadline, "the server never stopped reading: queues {last:?}");
        let queues = server_queues(server.addr.port(), client_port);
        if queues.is_some_and(|(_, rx)| rx > 0) && queues == last {
            stable += 1;
        } else {
            stable = 0;
        }
        last = queues;
        std::thread::sleep(POLL);
    }
    let (_, unread) = last.unwrap();
    let rss_stalled = server.rss_kib();
    assert!(rss_stalled < rss_before + RSS_BOUND_KIB, "RSS grew from {rss_before} to {rss_stalled} KiB");
    assert_answers(server.addr, "while a pipelining client is stalled");
    println!("row56: server stopped reading with {unread} query bytes unread; RSS {rss_before} -> {rss_stalled} KiB");

    // Now read everything back: every query is answered, in full.
    let mut replies = 0;
    let mut seen = vec![false; usize::from(count)];
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while replies < count {
        let reply = client::read_framed(&mut stream).unwrap_or_else(|e| panic!("after {replies} replies: {e} (the server closed instead of resuming?)"));
        let message = Message::parse(&reply).unwrap();
        assert_eq!(message.rcode(), Rcode::NOERROR);
        assert_eq!(message.header().ancount(), 40, "TCP reply not complete");
        assert!(!message.header().tc());
        let id = usize::from(message.header().id());
        assert!(!std::mem::replace(&mut seen[id], true), "two replies with id {id}");
        replies += 1;
        if replies == count / 2 {
            assert_answers(server.addr, "while a pipelining client reads");
        }
    }
    writer.join().unwrap().expect("writing the queries");
    assert!(server.rss_kib() < rss_before + RSS_BOUND_KIB);
    assert_eq!(ask_on(&mut stream, "www.example.test.", Rtype::A, 4242).unwrap(), (Rcode::NOERROR, 2), "the connection stays usable");
    assert_answers(server.addr, "after the pipelining client");
}

/// A query for `qname`/A with one extra record of `rdata_len` bytes of type NULL in `section`
/// (1 answer, 3 additional): `total` bytes in all.
fn big_message(id: u16, section: usize, total: usize) -> Vec<u8> {
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&[0, 0]); // QUERY, no flags
    let mut counts = [1u16, 0, 0, 0];
    counts[section] = 1;
    for count in counts {
        msg.extend_from_slice(&count.to_be_bytes());
    }
    msg.extend_from_slice(b"\x07example\x04test\x00\x00\x01\x00\x01");
    msg.extend_from_slice(&[0xc0, 0x0c, 0, 10, 0, 1, 0, 0, 0, 60]); // owner = qname, NULL, IN, TTL 60
    let rdata_len = total - msg.len() - 2;
    msg.extend_from_slice(&u16::try_from(rdata_len).unwrap().to_be_bytes());
    msg.extend((0..rdata_len).map(|i| (i % 251) as u8));
    assert_eq!(msg.len(), total);
    msg
}

/// Row 57: a ~65 500-byte message with one ~65 450-byte RDATA: FORMERR or an answer, and the
/// server stays up.
#[test]
fn row57_message_near_64k_with_one_huge_rdata_is_processed() {
    let server = server(5000, 5000);
    for (section, total) in [(1, 65_500), (3, 65_500), (3, 65_535)] {
        let mut stream = connect(server.addr);
        let id = 0x6500 + section as u16;
        stream.write_all(&framed(&big_message(id, section, total))).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let reply = client::read_framed(&mut stream).unwrap_or_else(|e| panic!("section {section}, {total} bytes: no reply: {e}"));
        let message = Message::parse(&reply).unwrap();
        assert_eq!(message.header().id(), id);
        assert!(message.header().is_response());
        assert!(matches!(message.rcode(), Rcode::FORMERR | Rcode::NOERROR), "section {section}: rcode {}", message.rcode());
        println!("row57: {total}-byte message, big RDATA in section {section}: {}", message.rcode());
        // The connection is still in sync: a normal query on it is answered.
        assert_eq!(ask_on(&mut stream, "www.example.test.", Rtype::A, 7).unwrap(), (Rcode::NOERROR, 2));
    }
    assert_answers(server.addr, "after near-64K messages");
}

/// A valid SOA query padded (EDNS PADDING, RFC 7830) to `len` bytes.
fn padded_query(id: u16, len: usize) -> Vec<u8> {
    let qname = NameBuf::from_text("example.test.", None).unwrap();
    let mut buf = vec![0u8; len + 64];
    let mut writer = MessageWriter::new(&mut buf, len + 64).unwrap();
    writer.set_header(id, Flags::default());
    writer.push_question(&qname, Rtype::SOA, Class::IN).unwrap();
    // header 12 + question 18 + OPT 11 + option header 4
    let padding = vec![0u8; len - 45];
    writer.push_opt(1232, Rcode::NOERROR, false, &[(12, &padding)]).unwrap();
    let n = writer.finish();
    buf.truncate(n);
    assert_eq!(buf.len(), len);
    buf
}

/// Row 58: a 6 MB stream of concatenated valid (padded) queries on one connection: the server
/// answers them all, its memory stays bounded, and other clients are served meanwhile.
#[test]
fn row58_six_megabyte_stream_of_queries_is_answered_with_bounded_memory() {
    let server = Server::with_tcp(&Tcp {
        queries_per_connection: Some(1_000_000),
        first_message_ms: Some(5000),
        message_ms: Some(5000),
        idle_ms: Some(10_000),
        ..Tcp::default()
    });
    let rss_before = server.rss_kib();
    let query_len = 500;
    let count = 6_000_000 / (query_len + 2);
    let mut out = Vec::with_capacity(6_000_000);
    for n in 0..count {
        out.extend(framed(&padded_query(n as u16, query_len)));
    }
    assert!(out.len() >= 5_990_000, "{}", out.len());
    let mut stream = connect(server.addr);
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        let writing = writing.clone();
        stream.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
        std::thread::spawn(move || {
            let result = stream.write_all(&out).map_err(|e| e.to_string());
            writing.store(false, Ordering::Release);
            result
        })
    };
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rss_peak = rss_before;
    let mut checked_during = false;
    for n in 0..count {
        let reply = client::read_framed(&mut stream).unwrap_or_else(|e| panic!("reply {n} of {count}: {e}\n{}", server.stderr()));
        let message = Message::parse(&reply).unwrap();
        assert_eq!(message.header().id(), n as u16, "replies out of order at {n}");
        assert_eq!(message.rcode(), Rcode::NOERROR, "reply {n}");
        if n % 1000 == 0 {
            rss_peak = rss_peak.max(server.rss_kib());
        }
        if !checked_during && n >= count / 3 && writing.load(Ordering::Acquire) {
            assert_answers(server.addr, "during the 6 MB stream");
            checked_during = true;
        }
    }
    writer.join().unwrap().expect("writing the stream");
    println!("row58: {count} queries of {query_len} bytes; RSS {rss_before} KiB, peak {rss_peak} KiB");
    assert!(rss_peak < rss_before + RSS_BOUND_KIB, "RSS grew from {rss_before} to {rss_peak} KiB");
    assert!(server.rss_kib() > 0, "server gone");
    assert_answers(server.addr, "after the 6 MB stream");
}

/// Row 56 on the recursive path: one connection pipelining questions that must be forwarded has
/// at most `in-flight` of them resolving at once (the rest wait, unread), so it cannot take the
/// resolver's whole table. The upstream never answers; the distinct questions reaching it are
/// counted until none has come for a second.
#[test]
fn row56_pipelined_questions_to_resolve_are_bounded_per_connection() {
    let upstream = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dir = crate::peers::temp_dir("row56-resolve");
    let addr = SocketAddr::from(([127, 0, 0, 1], crate::peers::free_port()));
    let tcp = Tcp { in_flight: Some(4), first_message_ms: Some(5000), idle_ms: Some(10_000), ..Tcp::default() };
    let config = crate::harness::write_config(&dir, addr, &tcp, &[("example.test.", &crate::harness::example_zone())]);
    let forward = format!("\n[[forward]]\nzone = \"org.\"\nprimaries = [\"{}\"]\ntimeout-ms = 10000\n", upstream.local_addr().unwrap());
    fs::write(&config, fs::read_to_string(&config).unwrap() + &forward).unwrap();
    let args = ["serve".as_ref(), "--config".as_ref(), config.as_os_str()];
    let server = Server::start(dir, addr, &args, "example.test.").unwrap_or_else(|e| panic!("{e}"));

    let mut stream = connect(server.addr);
    let mut out = Vec::new();
    for id in 0..40u16 {
        let mut wire = Query::new(&format!("n{id}.example.org."), Rtype::A).to_wire(id).unwrap();
        wire[2] |= 0x01; // RD: a question for the resolver
        out.extend(framed(&wire));
    }
    stream.write_all(&out).unwrap();

    upstream.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut names = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 1024];
    while let (true, Ok((len, _))) = (Instant::now() < deadline, upstream.recv_from(&mut buf)) {
        let Some(question) = Message::parse(&buf[..len]).ok().and_then(|m| m.question()) else { continue };
        let name = question.qname.to_lowercase().to_string();
        if name.ends_with(".example.org.") {
            names.insert(name);
        }
    }
    assert!(!names.is_empty(), "no question was forwarded:\n{}", server.stderr());
    assert!(names.len() <= 4, "{} questions of one connection resolving at once (in-flight = 4): {names:?}", names.len());
}
