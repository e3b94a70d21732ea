//! Shared pieces of the defence tests: the zones, a server started from a configuration text,
//! queries built byte by byte (any opcode, QR bit, QDCOUNT 0, raw COOKIE option of any length),
//! UDP and TCP clients bound to a chosen loopback source address, a paced UDP flood that
//! classifies every reply, and `dig`/`kdig`/`dnsperf` runners with a time limit.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portcullis_wire::edns::code;
use portcullis_wire::header::Flags;
use portcullis_wire::message::{Message, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};

use crate::harness::Server;
use crate::peers::{free_port, run_tool, temp_dir};

/// The zone every test serves (the readiness probe asks its SOA).
pub const ZONE: &str = "defence.test.";
/// A second zone, for per-zone rules and per-zone NXDOMAIN accounts.
pub const PRIVATE: &str = "private.test.";
/// Records in `big.defence.test. TXT` (about 900 bytes: over 512, under 1232).
pub const BIG_RECORDS: usize = 8;
/// Records in `huge.defence.test. TXT` (about 4 KB: over every UDP limit).
pub const HUGE_RECORDS: usize = 40;

/// The three loopback sources the tests speak from.
pub const SRC1: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
pub const SRC2: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
pub const SRC3: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

/// How long a reply is waited for when one is expected.
pub const REPLY_WITHIN: Duration = Duration::from_millis(1500);
/// How long a server gets to become ready.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// A client tool run longer than this is killed and fails the test.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

fn defence_zone() -> String {
    let mut text = String::from(
        "$ORIGIN defence.test.\n$TTL 300\n\
         @     IN SOA ns1 hostmaster 2024060101 7200 3600 1209600 300\n\
         @     IN NS  ns1\n@     IN NS  ns2\n\
         @     IN A   192.0.2.10\n@     IN MX  10 mail\n@     IN TXT \"apex\"\n@     IN AAAA 2001:db8::10\n\
         ns1   IN A   192.0.2.1\nns2   IN A   192.0.2.2\nmail  IN A   192.0.2.25\n\
         www   IN A   192.0.2.80\nflood IN A   192.0.2.53\nother IN A   192.0.2.54\n\
         sub   IN NS  ns.sub\nns.sub IN A  192.0.2.99\n*.wild IN A 192.0.2.77\n",
    );
    for i in 0..BIG_RECORDS {
        text.push_str(&format!("big   IN TXT \"{i:02}{}\"\n", "b".repeat(98)));
    }
    for i in 0..HUGE_RECORDS {
        text.push_str(&format!("huge  IN TXT \"{i:02}{}\"\n", "h".repeat(98)));
    }
    text
}

const PRIVATE_ZONE: &str = "$ORIGIN private.test.\n$TTL 300\n\
    @   IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@   IN NS ns1\nns1 IN A 192.0.2.1\n\
    www IN A 192.0.2.81\n";

/// How to start a server.
pub struct Setup<'a> {
    /// Listen addresses (the first is `Server::addr`); `None`: one free port on 127.0.0.1.
    pub listen: Vec<SocketAddr>,
    /// TOML appended after `[server]` and the zones (`[acl]`, `[rrl]`, `[cookies]`...).
    pub extra: &'a str,
    /// The source address of the readiness probe (one the ACL lets through).
    pub probe_from: IpAddr,
    /// Extra command-line flags after `serve --config FILE`.
    pub flags: Vec<String>,
}

impl<'a> Setup<'a> {
    pub fn new(extra: &'a str) -> Self {
        Self { listen: Vec::new(), extra, probe_from: SRC1, flags: Vec::new() }
    }
}

/// A free 127.0.0.1 address (UDP and TCP), distinct from every other one handed out.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Starts `portcullis serve --config FILE` with one UDP worker, both zones and `extra`.
pub fn start(extra: &str) -> Server {
    start_with(Setup::new(extra))
}

/// [`start`] with every knob.
pub fn start_with(setup: Setup<'_>) -> Server {
    let dir = temp_dir("defences");
    let listen = if setup.listen.is_empty() { vec![free_addr()] } else { setup.listen.clone() };
    let config = write_config(&dir, &listen, setup.extra);
    let mut args: Vec<std::ffi::OsString> = vec!["serve".into(), "--config".into(), config.into_os_string()];
    args.extend(setup.flags.iter().map(Into::into));
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let mut server = Server::spawn(dir, listen[0], &args).unwrap_or_else(|e| panic!("{e}"));
    wait_ready(&mut server, setup.probe_from);
    server
}

/// Writes the zones and the configuration into `dir`.
pub fn write_config(dir: &Path, listen: &[SocketAddr], extra: &str) -> PathBuf {
    fs::write(dir.join("defence.test.zone"), defence_zone()).unwrap_or_else(|e| panic!("write zone: {e}"));
    fs::write(dir.join("private.test.zone"), PRIVATE_ZONE).unwrap_or_else(|e| panic!("write zone: {e}"));
    let listen: Vec<String> = listen.iter().map(|a| format!("\"{a}\"")).collect();
    let text = format!(
        "[server]\nlisten = [{}]\nthreads = 1\n\n[log]\nlevel = \"info\"\n\n\
         [[zone]]\norigin = \"{ZONE}\"\nfile = \"defence.test.zone\"\n\n\
         [[zone]]\norigin = \"{PRIVATE}\"\nfile = \"private.test.zone\"\n\n{extra}\n",
        listen.join(", ")
    );
    let path = dir.join("portcullis.toml");
    fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// Waits until an SOA query for [`ZONE`] from `from` gets any reply (REFUSED counts: the ACL
/// under test may refuse it), or panics with the server's log.
fn wait_ready(server: &mut Server, from: IpAddr) {
    let deadline = Instant::now() + READY_WITHIN;
    let mut last = String::from("no probe sent");
    while Instant::now() < deadline {
        if let Some(status) = server.try_status() {
            panic!("portcullis exited before it was ready ({status}); {last}\n{}", server.stderr());
        }
        let started = Instant::now();
        match udp_exchange(from, server.addr, &Q::new(ZONE, Rtype::SOA), Duration::from_millis(200)) {
            Ok(Some(_)) => return,
            Ok(None) => last = "probe unanswered".into(),
            Err(e) => last = e,
        }
        if started.elapsed() < Duration::from_millis(40) {
            std::thread::sleep(Duration::from_millis(40));
        }
    }
    panic!("portcullis at {} never became ready: {last}\n{}", server.addr, server.stderr());
}

/// A query, built byte by byte.
#[derive(Clone, Debug)]
pub struct Q {
    pub name: String,
    pub qtype: Rtype,
    pub id: u16,
    /// EDNS payload size; `None`: no OPT.
    pub edns: Option<u16>,
    /// Raw COOKIE option data (any length); needs `edns`.
    pub cookie: Option<Vec<u8>>,
    pub opcode: u8,
    pub qr: bool,
    pub aa: bool,
    /// False: QDCOUNT=0.
    pub question: bool,
}

impl Q {
    /// An IN query with EDNS 1232 and a fresh id.
    pub fn new(name: &str, qtype: Rtype) -> Self {
        Self { name: name.to_owned(), qtype, id: next_id(), edns: Some(1232), cookie: None, opcode: 0, qr: false, aa: false, question: true }
    }

    pub fn cookie(mut self, data: &[u8]) -> Self {
        self.cookie = Some(data.to_vec());
        self
    }

    pub fn edns(mut self, size: Option<u16>) -> Self {
        self.edns = size;
        self
    }

    pub fn opcode(mut self, opcode: u8) -> Self {
        self.opcode = opcode;
        self
    }

    pub fn id(mut self, id: u16) -> Self {
        self.id = id;
        self
    }

    pub fn wire(&self) -> Vec<u8> {
        let qname = NameBuf::from_text(&self.name, None).unwrap_or_else(|e| panic!("bad name {}: {e}", self.name));
        let mut buf = vec![0u8; 1024];
        let mut writer = MessageWriter::new(&mut buf, 1024).unwrap_or_else(|e| panic!("{e:?}"));
        writer.set_header(self.id, Flags { qr: self.qr, opcode: self.opcode, aa: self.aa, ..Flags::default() });
        if self.question {
            writer.push_question(&qname, self.qtype, Class::IN).unwrap_or_else(|e| panic!("{e:?}"));
        }
        if let Some(size) = self.edns {
            let cookie = self.cookie.clone().unwrap_or_default();
            let options: Vec<(u16, &[u8])> = if self.cookie.is_some() { vec![(code::COOKIE, &cookie[..])] } else { Vec::new() };
            writer.push_opt(size, Rcode::NOERROR, false, &options).unwrap_or_else(|e| panic!("{e:?}"));
        }
        let len = writer.finish();
        buf.truncate(len);
        buf
    }
}

/// What a reply said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct R {
    pub id: u16,
    pub rcode: Rcode,
    pub tc: bool,
    pub aa: bool,
    pub qr: bool,
    pub opcode: u8,
    pub qdcount: u16,
    pub answers: usize,
    /// Distinct (owner, type) pairs in the answer section.
    pub rrsets: usize,
    /// The COOKIE option, when the reply had one.
    pub cookie: Option<Vec<u8>>,
    pub has_opt: bool,
    pub len: usize,
}

impl R {
    pub fn parse(bytes: &[u8]) -> Self {
        Self::try_parse(bytes).unwrap_or_else(|e| panic!("unparsable reply {bytes:02x?}: {e}"))
    }

    pub fn try_parse(bytes: &[u8]) -> Result<Self, String> {
        let message = Message::parse(bytes).map_err(|e| format!("{e:?}"))?;
        let header = message.header();
        let mut sets: Vec<(String, u16)> = message.records(Section::Answer).map(|r| (r.owner.to_string().to_ascii_lowercase(), r.rtype.0)).collect();
        let answers = sets.len();
        sets.sort();
        sets.dedup();
        let edns = message.edns();
        let cookie = edns.and_then(|e| e.iter_options().find(|(c, _)| *c == code::COOKIE).map(|(_, d)| d.to_vec()));
        Ok(Self {
            id: header.id(),
            rcode: message.rcode(),
            tc: header.tc(),
            aa: header.aa(),
            qr: header.is_response(),
            opcode: Flags::from_header(header).opcode,
            qdcount: header.qdcount(),
            answers,
            rrsets: sets.len(),
            cookie,
            has_opt: edns.is_some(),
            len: bytes.len(),
        })
    }

    /// The server cookie part of the reply's COOKIE option.
    pub fn server_cookie(&self) -> Option<&[u8]> {
        self.cookie.as_deref().and_then(|c| c.get(8..))
    }
}

/// A UDP socket bound to `from` (port 0: any), connected to `server`.
pub fn udp_socket(from: IpAddr, port: u16, server: SocketAddr) -> UdpSocket {
    let socket = UdpSocket::bind(SocketAddr::new(from, port)).unwrap_or_else(|e| panic!("bind {from}:{port}: {e}"));
    socket.connect(server).unwrap_or_else(|e| panic!("connect {server}: {e}"));
    socket
}

/// Sends `query` once from `from` and waits up to `within` for the reply with its id;
/// `Ok(None)`: no reply in time.
pub fn udp_exchange(from: IpAddr, server: SocketAddr, query: &Q, within: Duration) -> Result<Option<Vec<u8>>, String> {
    let socket = UdpSocket::bind(SocketAddr::new(from, 0)).map_err(|e| format!("bind {from}: {e}"))?;
    socket.connect(server).map_err(|e| format!("connect: {e}"))?;
    socket.send(&query.wire()).map_err(|e| format!("send: {e}"))?;
    recv_id(&socket, query.id, within)
}

/// Reads from `socket` until a message with `id` arrives or `within` passes (at most 16 strays).
pub fn recv_id(socket: &UdpSocket, id: u16, within: Duration) -> Result<Option<Vec<u8>>, String> {
    let deadline = Instant::now() + within;
    let mut buf = vec![0u8; 65_535];
    for _ in 0..16 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        socket.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        match socket.recv(&mut buf) {
            Ok(len) if len >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id => return Ok(Some(buf[..len].to_vec())),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => return Ok(None),
            Err(e) => return Err(format!("recv: {e}")),
        }
    }
    Ok(None)
}

/// One UDP query from `from` that must be answered.
pub fn udp_from(from: IpAddr, server: SocketAddr, query: &Q) -> R {
    match udp_exchange(from, server, query, REPLY_WITHIN) {
        Ok(Some(bytes)) => R::parse(&bytes),
        Ok(None) => panic!("{} {} from {from} over udp: no reply within {REPLY_WITHIN:?}", query.name, query.qtype),
        Err(e) => panic!("{} {} from {from}: {e}", query.name, query.qtype),
    }
}

/// Asserts the server sends nothing back to `socket` for the query it just sent: a control query
/// from `control_from` is sent after it and answered (one UDP worker handles datagrams in order,
/// so by then any reply to the first is already in `socket`), then `socket` is read briefly.
pub fn assert_dropped(socket: &UdpSocket, server: SocketAddr, control_from: IpAddr, what: &str) {
    let control = udp_from(control_from, server, &Q::new(&format!("www.{ZONE}"), Rtype::A));
    assert_eq!(control.rcode, Rcode::NOERROR, "{what}: the control query from {control_from} was not answered normally: {control:?}");
    let mut buf = vec![0u8; 65_535];
    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap_or_else(|e| panic!("{e}"));
    if let Ok(len) = socket.recv(&mut buf) {
        panic!("{what}: expected no reply, got {:?}", R::try_parse(&buf[..len]));
    }
}

/// A TCP stream from `from` to `server`.
pub fn tcp_connect(from: IpAddr, server: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap_or_else(|e| panic!("socket: {e}"));
    socket.bind(&SocketAddr::new(from, 0).into()).unwrap_or_else(|e| panic!("bind {from}: {e}"));
    socket.connect_timeout(&server.into(), REPLY_WITHIN).unwrap_or_else(|e| panic!("tcp connect {server} from {from}: {e}"));
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap_or_else(|e| panic!("{e}"));
    stream.set_write_timeout(Some(Duration::from_secs(3))).unwrap_or_else(|e| panic!("{e}"));
    stream
}

/// One query over a fresh TCP connection from `from`; `None` when the server closed the
/// connection (or sent nothing within 3 s) instead of answering.
pub fn tcp_exchange(from: IpAddr, server: SocketAddr, query: &Q) -> Option<Vec<u8>> {
    let mut stream = tcp_connect(from, server);
    let wire = query.wire();
    let mut framed = (wire.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&wire);
    stream.write_all(&framed).unwrap_or_else(|e| panic!("tcp write: {e}"));
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).ok()?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).ok()?;
    Some(reply)
}

/// One TCP query from `from` that must be answered.
pub fn tcp_from(from: IpAddr, server: SocketAddr, query: &Q) -> R {
    let bytes = tcp_exchange(from, server, query).unwrap_or_else(|| panic!("{} {} from {from} over tcp: no reply", query.name, query.qtype));
    R::parse(&bytes)
}

/// A fresh query id (spread so that concurrent tests rarely reuse one).
pub fn next_id() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0x1d5e);
    NEXT.fetch_add(0x9e37, Ordering::Relaxed)
}

/// How a flood went, query by query.
#[derive(Clone, Debug, Default)]
pub struct Flood {
    pub sent: usize,
    /// Replies without TC and without BADCOOKIE, by rcode.
    pub full: BTreeMap<u16, usize>,
    /// TC=1 replies (RRL slips, or answers over the size limit).
    pub truncated: usize,
    /// BADCOOKIE replies (RRL slips of cookie clients).
    pub badcookie: usize,
    /// Queries without a reply.
    pub lost: usize,
    /// Seconds after the start of the last full reply.
    pub last_full_at: f64,
    /// Replies carrying a COOKIE option.
    pub with_cookie: usize,
    /// TC=1 or BADCOOKIE replies that carried records or lacked the question (a slip is the
    /// question only, SECURITY-REFERENCE §3.1).
    pub odd_slips: usize,
    /// How long the sending took.
    pub elapsed: f64,
}

impl Flood {
    /// All full replies.
    pub fn answered(&self) -> usize {
        self.full.values().sum()
    }
}

/// Sends `count` queries (ids 0..count, built by `make`) from `from` to `server` at `rate` per
/// second, reads replies concurrently, and classifies each query by its reply (the first one
/// counts). Bounded by `count` and by `count / rate + 3` seconds.
pub fn flood(from: IpAddr, server: SocketAddr, count: usize, rate: u32, make: impl Fn(u16) -> Vec<u8> + Send + 'static) -> Flood {
    assert!(count <= usize::from(u16::MAX) && rate > 0);
    let socket = {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap_or_else(|e| panic!("socket: {e}"));
        let _ = socket.set_recv_buffer_size(4 << 20);
        socket.bind(&SocketAddr::new(from, 0).into()).unwrap_or_else(|e| panic!("bind {from}: {e}"));
        let socket: UdpSocket = socket.into();
        socket.connect(server).unwrap_or_else(|e| panic!("connect: {e}"));
        socket
    };
    let sender = socket.try_clone().unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let budget = Duration::from_secs_f64(count as f64 / f64::from(rate)) + Duration::from_secs(3);
    let (done_tx, done_rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let mut sent = 0usize;
        while sent < count && started.elapsed() < budget {
            let due = ((started.elapsed().as_secs_f64() * f64::from(rate)) as usize + 1).min(count);
            while sent < due {
                if sender.send(&make(sent as u16)).is_err() {
                    break;
                }
                sent += 1;
            }
            // Pacing, not waiting for an event: the next query is due in 1/rate s.
            std::thread::sleep(Duration::from_micros(500));
        }
        let _ = done_tx.send((sent, started.elapsed()));
        sent
    });
    let mut seen = vec![false; count];
    let mut result = Flood::default();
    let mut buf = vec![0u8; 65_535];
    let mut finished: Option<(usize, Duration)> = None;
    let mut quiet_since = Instant::now();
    socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap_or_else(|e| panic!("{e}"));
    while started.elapsed() < budget + Duration::from_secs(2) {
        if finished.is_none() {
            finished = done_rx.try_recv().ok();
            if finished.is_some() {
                quiet_since = Instant::now();
            }
        }
        if let Some((sent, _)) = finished {
            let replied = result.answered() + result.truncated + result.badcookie;
            if replied >= sent || quiet_since.elapsed() > Duration::from_millis(700) {
                break;
            }
        }
        let Ok(len) = socket.recv(&mut buf) else { continue };
        quiet_since = Instant::now();
        let Ok(reply) = R::try_parse(&buf[..len]) else { continue };
        let index = usize::from(reply.id);
        if index >= count || std::mem::replace(&mut seen[index], true) {
            continue;
        }
        if reply.cookie.is_some() {
            result.with_cookie += 1;
        }
        if (reply.tc || reply.rcode == Rcode::BADCOOKIE) && (reply.answers != 0 || reply.qdcount != 1) {
            result.odd_slips += 1;
        }
        if reply.tc {
            result.truncated += 1;
        } else if reply.rcode == Rcode::BADCOOKIE {
            result.badcookie += 1;
        } else {
            *result.full.entry(reply.rcode.0).or_insert(0) += 1;
            result.last_full_at = started.elapsed().as_secs_f64();
        }
    }
    let sent = thread.join().unwrap_or_else(|_| panic!("flood sender panicked"));
    result.sent = sent;
    result.elapsed = finished.map_or(started.elapsed(), |(_, e)| e).as_secs_f64();
    result.lost = sent - seen[..sent.min(count)].iter().filter(|s| **s).count();
    result
}

/// Sends one query every `period` from `from` until `stop` fires (at most `max` queries) and
/// returns (sent, fully answered with NOERROR, anything else as text).
pub fn trickle(from: IpAddr, server: SocketAddr, name: &str, period: Duration, max: usize, stop: mpsc::Receiver<()>) -> (usize, usize, Vec<String>) {
    let mut sent = 0;
    let mut answered = 0;
    let mut other = Vec::new();
    while sent < max {
        let query = Q::new(name, Rtype::A);
        sent += 1;
        match udp_exchange(from, server, &query, REPLY_WITHIN) {
            Ok(Some(bytes)) => {
                let reply = R::parse(&bytes);
                if reply.rcode == Rcode::NOERROR && !reply.tc && reply.answers == 1 {
                    answered += 1;
                } else {
                    other.push(format!("{reply:?}"));
                }
            }
            Ok(None) => other.push("no reply".into()),
            Err(e) => other.push(e),
        }
        if stop.recv_timeout(period).is_ok() {
            break;
        }
    }
    (sent, answered, other)
}

/// `dig -b SOURCE @server -p port +norec +time=2 +tries=1 EXTRA... QUESTION...`.
pub fn dig(dig: &Path, from: IpAddr, server: SocketAddr, extra: &[&str], question: &[&str]) -> String {
    let mut args = vec!["-b".to_owned(), from.to_string(), format!("@{}", server.ip()), "-p".to_owned(), server.port().to_string()];
    args.extend(["+norec", "+time=2", "+tries=1"].map(str::to_owned));
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.extend(question.iter().map(|s| (*s).to_owned()));
    run_tool(dig, &args, TOOL_TIMEOUT)
}

/// `kdig -b SOURCE @server -p port +norec +time=2 +retry=0 EXTRA... QUESTION...`.
pub fn kdig(kdig: &Path, from: IpAddr, server: SocketAddr, extra: &[&str], question: &[&str]) -> String {
    let mut args = vec!["-b".to_owned(), from.to_string(), format!("@{}", server.ip()), "-p".to_owned(), server.port().to_string()];
    args.extend(["+norec", "+time=2", "+retry=0"].map(str::to_owned));
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.extend(question.iter().map(|s| (*s).to_owned()));
    run_tool(kdig, &args, TOOL_TIMEOUT)
}

/// The `status:` of every header `dig`/`kdig` printed, in order.
pub fn statuses(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| l.contains("->>HEADER<<-"))
        .filter_map(|l| l.find("status: ").map(|at| l[at + 8..].chars().take_while(char::is_ascii_alphanumeric).collect()))
        .collect()
}

/// The hex of every COOKIE line `dig`/`kdig` printed (`; COOKIE: <hex> (good)`), with its
/// trailing remark (`good`, `bad`, or empty).
pub fn printed_cookies(output: &str) -> Vec<(String, String)> {
    output
        .lines()
        .filter_map(|line| {
            let at = line.find("COOKIE: ")?;
            let rest = line[at + 8..].trim();
            let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
            let remark = rest[hex.len()..].trim().trim_start_matches('(').trim_end_matches(')').to_owned();
            (!hex.is_empty()).then_some((hex.to_ascii_lowercase(), remark))
        })
        .collect()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits (bounded) until the server logs `reloaded` `count` times.
pub fn wait_reloaded(server: &Server, count: usize) {
    server
        .wait_log(Duration::from_secs(10), |log| log.matches("reloaded").count() >= count)
        .unwrap_or_else(|log| panic!("no reload #{count} within 10 s:\n{log}"));
}
