//! A small blocking DNS client for the tests: UDP, TCP (2-byte length framing, RFC 1035 §4.2.2)
//! and pipelined TCP (RFC 7766 §6.2.1.1), building queries with `portcullis_wire`'s writer.
//! Every wait has a timeout and every retry loop a bound; all traffic goes to loopback.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use portcullis_wire::header::Flags;
use portcullis_wire::message::Message;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};

/// How long one UDP attempt waits for its reply.
pub const UDP_TIMEOUT: Duration = Duration::from_millis(700);
/// UDP attempts per query.
pub const UDP_TRIES: usize = 2;
/// Timeout of a readiness probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(200);
/// Timeout of each TCP connect, read and write.
pub const TCP_TIMEOUT: Duration = Duration::from_secs(3);

/// One query: name as written (case kept), type, EDNS payload size (`None`: no OPT), DO bit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub qname: String,
    pub qtype: Rtype,
    pub edns: Option<u16>,
    pub dnssec_ok: bool,
}

impl Query {
    /// A query with EDNS 1232 and DO clear.
    pub fn new(qname: &str, qtype: Rtype) -> Self {
        Self { qname: qname.to_owned(), qtype, edns: Some(1232), dnssec_ok: false }
    }

    /// The same query with another EDNS setting.
    pub fn with_edns(mut self, edns: Option<u16>) -> Self {
        self.edns = edns;
        self
    }

    /// The query's wire form with the given id (RD clear: we talk to authoritative servers).
    pub fn to_wire(&self, id: u16) -> Result<Vec<u8>, String> {
        let qname = NameBuf::from_text(&self.qname, None).map_err(|e| format!("bad qname {:?}: {e}", self.qname))?;
        let mut buf = vec![0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).map_err(|e| format!("{e:?}"))?;
        writer.set_header(id, Flags::default());
        writer.push_question(&qname, self.qtype, Class::IN).map_err(|e| format!("{e:?}"))?;
        if let Some(size) = self.edns {
            writer.push_opt(size, Rcode::NOERROR, self.dnssec_ok, &[]).map_err(|e| format!("{e:?}"))?;
        }
        let len = writer.finish();
        buf.truncate(len);
        Ok(buf)
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.qname, self.qtype)?;
        match self.edns {
            Some(size) => write!(f, " +edns={size}")?,
            None => write!(f, " +noedns")?,
        }
        if self.dnssec_ok {
            write!(f, " +do")?;
        }
        Ok(())
    }
}

/// The transport a query goes over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

/// Sends `query` over `transport` and returns the checked reply bytes.
pub fn ask(server: SocketAddr, query: &Query, transport: Transport) -> Result<Vec<u8>, String> {
    match transport {
        Transport::Udp => udp(server, query),
        Transport::Tcp => tcp(server, query),
    }
}

/// One query over UDP, retried up to [`UDP_TRIES`] times; replies with another id are skipped.
pub fn udp(server: SocketAddr, query: &Query) -> Result<Vec<u8>, String> {
    let id = next_id();
    let wire = query.to_wire(id)?;
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    socket.connect(server).map_err(|e| format!("connect {server}: {e}"))?;
    socket.set_read_timeout(Some(UDP_TIMEOUT)).map_err(|e| e.to_string())?;
    let mut last_error = String::new();
    for _ in 0..UDP_TRIES {
        socket.send(&wire).map_err(|e| format!("send to {server}: {e}"))?;
        let mut buf = vec![0u8; 65_535];
        // A few stray datagrams at most; each recv is bounded by the read timeout.
        for _ in 0..4 {
            match socket.recv(&mut buf) {
                Ok(len) => match check_reply(&buf[..len], id, &wire) {
                    Ok(()) => return Ok(buf[..len].to_vec()),
                    Err(e) => last_error = e,
                },
                Err(e) => {
                    last_error = format!("udp recv from {server}: {e}");
                    break;
                }
            }
        }
    }
    Err(format!("{query} over udp to {server}: {last_error}"))
}

/// One UDP attempt with a short timeout, for readiness probes.
pub fn udp_once(server: SocketAddr, query: &Query) -> Result<Vec<u8>, String> {
    let id = next_id();
    let wire = query.to_wire(id)?;
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    socket.connect(server).map_err(|e| format!("connect {server}: {e}"))?;
    socket.set_read_timeout(Some(PROBE_TIMEOUT)).map_err(|e| e.to_string())?;
    socket.send(&wire).map_err(|e| format!("send to {server}: {e}"))?;
    let mut buf = vec![0u8; 65_535];
    let len = socket.recv(&mut buf).map_err(|e| format!("udp recv from {server}: {e}"))?;
    check_reply(&buf[..len], id, &wire)?;
    buf.truncate(len);
    Ok(buf)
}

/// One query over a fresh TCP connection.
pub fn tcp(server: SocketAddr, query: &Query) -> Result<Vec<u8>, String> {
    let mut replies = tcp_pipelined(server, std::slice::from_ref(query))?;
    replies.pop().ok_or_else(|| "no reply".to_owned())
}

/// Writes every query on one TCP connection before reading any reply (pipelining), then reads
/// one reply per query. Replies may come in any order (RFC 7766 §7); they are matched by id and
/// returned in query order.
pub fn tcp_pipelined(server: SocketAddr, queries: &[Query]) -> Result<Vec<Vec<u8>>, String> {
    let mut stream = TcpStream::connect_timeout(&server, TCP_TIMEOUT).map_err(|e| format!("tcp connect {server}: {e}"))?;
    stream.set_read_timeout(Some(TCP_TIMEOUT)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(TCP_TIMEOUT)).map_err(|e| e.to_string())?;
    let mut sent = Vec::with_capacity(queries.len());
    let mut out = Vec::new();
    for query in queries {
        let id = next_id();
        let wire = query.to_wire(id)?;
        let len = u16::try_from(wire.len()).map_err(|_| "query too long".to_owned())?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&wire);
        sent.push((id, wire));
    }
    stream.write_all(&out).map_err(|e| format!("tcp write to {server}: {e}"))?;
    let mut replies: Vec<Option<Vec<u8>>> = vec![None; queries.len()];
    for _ in 0..queries.len() {
        let reply = read_framed(&mut stream).map_err(|e| format!("tcp read from {server}: {e}"))?;
        let id = u16::from_be_bytes([reply.first().copied().unwrap_or(0), reply.get(1).copied().unwrap_or(0)]);
        let index = sent.iter().position(|(sent_id, _)| *sent_id == id).ok_or_else(|| format!("tcp reply with unknown id {id}"))?;
        check_reply(&reply, id, &sent[index].1)?;
        if replies[index].replace(reply).is_some() {
            return Err(format!("two tcp replies with id {id}"));
        }
    }
    replies.into_iter().map(|r| r.ok_or_else(|| "missing tcp reply".to_owned())).collect()
}

/// Reads one length-prefixed message.
pub fn read_framed(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply)?;
    Ok(reply)
}

/// A reply must parse, be a response, carry our id and echo the question bytes exactly
/// (RFC 1035 §7.3; 0x20-style case must survive).
fn check_reply(reply: &[u8], id: u16, query_wire: &[u8]) -> Result<(), String> {
    let message = Message::parse(reply).map_err(|e| format!("unparsable reply: {e:?}"))?;
    let header = message.header();
    if header.id() != id {
        return Err(format!("reply id {} != query id {id}", header.id()));
    }
    if !header.is_response() {
        return Err("reply without QR".to_owned());
    }
    let query = Message::parse(query_wire).map_err(|e| format!("own query unparsable: {e:?}"))?;
    if header.qdcount() == 1 && message.question_bytes() != query.question_bytes() {
        return Err(format!("question not echoed: {:?} != {:?}", message.question(), query.question()));
    }
    Ok(())
}

fn next_id() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0x4a11);
    NEXT.fetch_add(0x9e37, Ordering::Relaxed)
}
