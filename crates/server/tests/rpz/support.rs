//! Helpers of the RPZ and blocklist tests: a root zone on NSD whose wildcard answers any name,
//! portcullis started with a configuration of the test's own, and a client that sends from a
//! chosen source address and reduces a reply to what the comparisons look at.

use crate::hierarchy::resolvers::Process;
use portcullis_wire::header::Flags;
use portcullis_wire::message::{decompress_rdata, Message, Section};
use portcullis_wire::rdata::rdata_to_text;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// What the comparisons look at: rcode, TC, the answer RRsets as sorted text without TTLs,
/// and the EDE info-code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub rcode: Rcode,
    pub tc: bool,
    pub answers: Vec<String>,
    pub ede: Option<u16>,
}

impl Summary {
    /// The same without the EDE (BIND 9.18 sends none for RPZ).
    pub fn without_ede(&self) -> Self {
        Self { ede: None, ..self.clone() }
    }
}

/// An RD=1 query with EDNS: its bytes.
fn query(id: u16, qname: &str, qtype: Rtype) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    writer.set_header(id, Flags { rd: true, ..Flags::default() });
    writer.push_question(&NameBuf::from_text(qname, None).unwrap(), qtype, Class::IN).unwrap();
    writer.push_opt(1232, Rcode::NOERROR, false, &[]).unwrap();
    let len = writer.finish();
    buf.truncate(len);
    buf
}

/// Asks `server` (RD=1, EDNS) over TCP; `None` when no reply comes within `wait`.
pub fn ask_tcp(server: SocketAddr, qname: &str, qtype: Rtype, wait: Duration) -> Option<Summary> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&server, wait).ok()?;
    stream.set_read_timeout(Some(wait)).ok()?;
    let bytes = query(0x7c9a, qname, qtype);
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).ok()?;
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).ok()?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut reply).ok()?;
    Some(summary(&reply))
}

/// Asks `server` (RD=1, EDNS) from `source` over UDP; `None` when no reply comes within `wait`.
pub fn ask_from(source: IpAddr, server: SocketAddr, qname: &str, qtype: Rtype, wait: Duration) -> Option<Summary> {
    let socket = UdpSocket::bind(SocketAddr::new(source, 0)).unwrap();
    socket.connect(server).unwrap();
    socket.set_read_timeout(Some(wait)).unwrap();
    let id = (std::process::id() as u16) ^ (qname.len() as u16).wrapping_mul(7919);
    socket.send(&query(id, qname, qtype)).unwrap();
    let mut reply = vec![0u8; 65_535];
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        let Ok(got) = socket.recv(&mut reply) else { return None };
        if got >= 2 && reply[..2] == id.to_be_bytes() {
            return Some(summary(&reply[..got]));
        }
    }
    None
}

/// [`ask_from`] 127.0.0.1 with a 3 s wait.
pub fn ask(server: SocketAddr, qname: &str, qtype: Rtype) -> Option<Summary> {
    ask_from("127.0.0.1".parse().unwrap(), server, qname, qtype, Duration::from_secs(3))
}

/// A reply reduced to a [`Summary`].
pub fn summary(bytes: &[u8]) -> Summary {
    let message = Message::parse(bytes).unwrap();
    let mut answers: Vec<String> = message
        .records(Section::Answer)
        .map(|record| {
            let mut rdata = Vec::new();
            decompress_rdata(bytes, &record, &mut rdata).unwrap();
            let mut text = String::new();
            rdata_to_text(record.rtype, &rdata, &mut text).unwrap();
            format!("{} {} {}", record.owner.to_lowercase(), record.rtype, text.to_lowercase())
        })
        .collect();
    answers.sort();
    let ede = message.edns().and_then(|edns| edns.iter_options().find(|(code, _)| *code == 15).map(|(_, data)| u16::from_be_bytes([data[0], data[1]])));
    Summary { rcode: message.rcode(), tc: message.header().tc(), answers, ede }
}

/// The root zone of the small hierarchy: itself on `ip`, and a wildcard under `test.` answering
/// every name there with 192.0.2.1.
pub fn wildcard_root(ip: IpAddr) -> String {
    format!("$TTL 3600\n. SOA a.root. nobody.invalid. 1 3600 600 86400 300\n. NS a.root.\na.root. A {ip}\n*.test. A 192.0.2.1\n")
}

/// Starts portcullis with `config` (written to `dir`), ready when it answers `.` SOA on `listen`.
pub fn start_portcullis(dir: &Path, config: &str, listen: SocketAddr) -> Process {
    let mut process = spawn_portcullis(dir, config);
    process.wait_ready(listen, ".");
    process
}

/// Starts portcullis with `config` (written to `dir`) without waiting for it.
pub fn spawn_portcullis(dir: &Path, config: &str) -> Process {
    let path = dir.join("portcullis.toml");
    std::fs::write(&path, config).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.arg("serve").arg("--config").arg(&path).env("RUST_LOG", "info");
    Process::spawn("portcullis", command, dir.to_path_buf())
}

/// The `[server]` and `[resolver]` tables of a resolver on `listen` with `hints`.
pub fn resolver_config(listen: SocketAddr, hints: &Path) -> String {
    format!(
        "[server]\nlisten = [\"{listen}\"]\nthreads = 1\n\n[resolver]\nrecursion = true\nroot-hints = \"{}\"\n\
         do-not-query-localhost = false\nallow-recursion = [\"127.0.0.0/8\"]\nuse-ipv6 = false\n\n",
        hints.display()
    )
}

/// Sends SIGHUP to `process`.
pub fn hangup(process: &Process) {
    let status = Command::new("kill").arg("-HUP").arg(process.child.id().to_string()).status().unwrap();
    assert!(status.success());
}

/// Asks until `check` accepts the summary, at most `limit`; the last summary on failure.
pub fn wait_for(server: SocketAddr, qname: &str, qtype: Rtype, limit: Duration, check: impl Fn(&Option<Summary>) -> bool) -> Result<Duration, Option<Summary>> {
    let started = Instant::now();
    loop {
        let got = ask(server, qname, qtype);
        if check(&got) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            return Err(got);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// True when the test runs as root (port 53 on 127.x addresses).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// One HTTP/1.1 GET over a fresh connection: the body.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

/// The value of one sample (`family{labels}`) of a Prometheus text exposition.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}
