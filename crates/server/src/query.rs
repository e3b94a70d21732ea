//! `portcullis query`: a dig-like client. UDP first, TCP when the reply is truncated (or with
//! `--tcp`); AXFR over TCP, to the closing SOA ([`query_xfr`]); several servers tried in turn
//! with a timeout; by default the name servers and options of /etc/resolv.conf. The exit status
//! tells the outcome apart (see [`exit_code`]).

use crate::cli::QueryArgs;
use crate::query_encrypted;
use crate::query_xfr;
use crate::render::{self, Exchange};
use crate::resolv;
use portcullis_wire::edns::code;
use portcullis_wire::header::Flags;
use portcullis_wire::message::Message;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Exit status: NOERROR.
pub const EXIT_NOERROR: u8 = 0;
/// Exit status: NXDOMAIN.
pub const EXIT_NXDOMAIN: u8 = 1;
/// Exit status: SERVFAIL, REFUSED or another error rcode.
pub const EXIT_ERROR_RCODE: u8 = 2;
/// Exit status: no server answered in time.
pub const EXIT_NO_ANSWER: u8 = 9;
/// Exit status: bad arguments.
pub const EXIT_USAGE: u8 = 64;

/// What to ask.
struct Question {
    qname: NameBuf,
    qtype: Rtype,
    qclass: Class,
    servers: Vec<SocketAddr>,
}

/// Runs the client.
pub fn run(args: QueryArgs) -> ExitCode {
    let conf = std::fs::read_to_string(&args.resolv_conf).map(|t| resolv::parse(&t)).unwrap_or_default();
    let question = match parse_words(&args, &conf) {
        Ok(question) => question,
        Err(message) => {
            eprintln!("portcullis query: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let timeout = Duration::from_secs(args.timeout.unwrap_or(conf.timeout).max(1));
    let attempts = args.attempts.unwrap_or(conf.attempts).max(1);
    let rotate = conf.rotate && args.words.iter().all(|w| !w.starts_with('@'));
    let servers = server_order(question.servers.clone(), rotate, usize::from(random_u16()));
    for _ in 0..attempts {
        for server in &servers {
            if question.qtype == Rtype::AXFR {
                match transfer(&question, *server, &args, timeout) {
                    Ok(code) => return code,
                    Err(error) => eprintln!(";; {server}: {error}"),
                }
                continue;
            }
            match exchange(&question, *server, &args, timeout) {
                Ok((reply, transport, tls, elapsed)) => return print_reply(&reply, *server, (transport, tls), elapsed, args.json),
                Err(error) => eprintln!(";; {server}: {error}"),
            }
        }
    }
    eprintln!(";; no servers could be reached");
    ExitCode::from(EXIT_NO_ANSWER)
}

/// The order servers are tried in: as listed, or, with resolv.conf's `rotate` (and no
/// `@SERVER`), starting at `start` modulo their number and wrapping around (glibc's rotation),
/// so that queries spread over every nameserver.
fn server_order(mut servers: Vec<SocketAddr>, rotate: bool, start: usize) -> Vec<SocketAddr> {
    if rotate && !servers.is_empty() {
        let len = servers.len();
        servers.rotate_left(start % len);
    }
    servers
}

/// The exit status for a reply's rcode.
pub fn exit_code(rcode: Rcode) -> u8 {
    match rcode {
        Rcode::NOERROR => EXIT_NOERROR,
        Rcode::NXDOMAIN => EXIT_NXDOMAIN,
        _ => EXIT_ERROR_RCODE,
    }
}

fn print_reply(reply: &[u8], server: SocketAddr, (transport, tls): (&'static str, Option<String>), elapsed: Duration, as_json: bool) -> ExitCode {
    let Ok(message) = Message::parse(reply) else {
        eprintln!(";; malformed reply from {server}");
        return ExitCode::from(EXIT_ERROR_RCODE);
    };
    let exchange = Exchange { message: &message, server: format!("{}#{}", server.ip(), server.port()), transport, tls, elapsed_ms: elapsed.as_millis() };
    if as_json {
        println!("{}", render::json(&exchange));
    } else {
        print!("{}", render::text(&exchange));
    }
    ExitCode::from(exit_code(message.rcode()))
}

fn parse_words(args: &QueryArgs, conf: &resolv::ResolvConf) -> Result<Question, String> {
    let mut words = args.words.iter();
    let name = words.next().ok_or("a name to look up is required")?;
    let absolute = if name.ends_with('.') { name.clone() } else { format!("{name}.") };
    let qname = NameBuf::from_text(&absolute, None).map_err(|e| format!("'{name}': {e}"))?;
    let mut question = Question { qname, qtype: Rtype::A, qclass: Class::IN, servers: Vec::new() };
    for word in words {
        if let Some(server) = word.strip_prefix('@') {
            question.servers.push(parse_server(server, query_encrypted::default_port(args))?);
        } else if let Some(rtype) = Rtype::from_text(word) {
            question.qtype = rtype;
        } else if let Some(class) = Class::from_text(word) {
            question.qclass = class;
        } else {
            return Err(format!("'{word}' is neither a type, a class nor @SERVER"));
        }
    }
    if question.servers.is_empty() {
        question.servers = conf.nameservers.iter().map(|ip| SocketAddr::new(*ip, query_encrypted::default_port(args))).collect();
    }
    if question.servers.is_empty() {
        question.servers.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), query_encrypted::default_port(args)));
    }
    Ok(question)
}

/// `1.2.3.4`, `1.2.3.4:53`, `::1`, `[::1]:53`.
fn parse_server(text: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, port)).map_err(|_| format!("@{text}: expected an IP address, optionally with :PORT"))
}

/// An AXFR from one server over TCP ([`query_xfr`]), printed; an error reply is printed as any
/// reply is.
fn transfer(question: &Question, server: SocketAddr, args: &QueryArgs, timeout: Duration) -> Result<ExitCode, String> {
    let id = random_u16();
    let query = build_query(question, id, args).map_err(|_| "query too large".to_string())?;
    let started = Instant::now();
    match query_xfr::transfer(&query, server, timeout, id, |reply| matches_query(reply, &query, id))? {
        query_xfr::Transfer::Refused(reply) => Ok(print_reply(&reply, server, ("TCP", None), started.elapsed(), args.json)),
        query_xfr::Transfer::Zone { messages, elapsed } => {
            let name = format!("{}#{}", server.ip(), server.port());
            if args.json {
                println!("{}", query_xfr::json(&messages, &name, elapsed));
            } else {
                print!("{}", query_xfr::text(&messages, &name, elapsed));
            }
            Ok(ExitCode::from(EXIT_NOERROR))
        }
    }
}

/// Sends the question to one server; retries over TCP when the UDP reply is truncated.
/// A reply, its transport's label, the TLS version of an encrypted one, the round trip.
type Answered = (Vec<u8>, &'static str, Option<String>, Duration);

fn exchange(question: &Question, server: SocketAddr, args: &QueryArgs, timeout: Duration) -> Result<Answered, String> {
    let id = random_u16();
    let query = build_query(question, id, args).map_err(|_| "query too large".to_string())?;
    let started = Instant::now();
    if let Some(transport) = query_encrypted::transport(args) {
        let answered = query_encrypted::exchange(transport, &query, server, args, timeout)?;
        if !matches_query(&answered.reply, &query, id) {
            return Err("the reply does not match the query".into());
        }
        return Ok((answered.reply, query_encrypted::label(transport), Some(answered.tls_version), started.elapsed()));
    }
    if !args.tcp {
        let reply = udp_exchange(&query, server, timeout, id)?;
        let truncated = reply.get(2).is_some_and(|b| b & 0x02 != 0);
        if !truncated {
            return Ok((reply, "UDP", None, started.elapsed()));
        }
        eprintln!(";; Truncated, retrying in TCP mode.");
    }
    let started = Instant::now();
    let reply = tcp_exchange(&query, server, timeout, id)?;
    Ok((reply, "TCP", None, started.elapsed()))
}

fn build_query(question: &Question, id: u16, args: &QueryArgs) -> Result<Vec<u8>, portcullis_wire::WriteError> {
    let mut buf = vec![0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512)?;
    writer.set_header(id, Flags { rd: !args.norecurse, cd: args.cd, ..Flags::default() });
    writer.push_question(&question.qname, question.qtype, question.qclass)?;
    let cookie = cookie_option(args);
    if args.edns_size > 0 || args.dnssec || args.nsid || cookie.is_some() {
        let mut options: Vec<(u16, &[u8])> = Vec::new();
        if args.nsid {
            options.push((code::NSID, &[]));
        }
        if let Some(cookie) = &cookie {
            options.push((code::COOKIE, cookie));
        }
        writer.push_opt(args.edns_size.max(512), Rcode::NOERROR, args.dnssec, &options)?;
    }
    let len = writer.finish();
    buf.truncate(len);
    Ok(buf)
}

/// The COOKIE option to send: `--cookie` alone makes a random client cookie; `--cookie HEX`
/// resends a client cookie (16 hex digits) with an optional server cookie.
fn cookie_option(args: &QueryArgs) -> Option<Vec<u8>> {
    let text = args.cookie.as_deref()?;
    if text.is_empty() {
        let client: [u8; 8] = crate::entropy::bytes_from(crate::entropy::OS).unwrap_or_else(|error| crate::entropy::fatal(error));
        return Some(client.to_vec());
    }
    let bytes: Option<Vec<u8>> = (0..text.len() / 2).map(|i| text.get(2 * i..2 * i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
    match bytes {
        Some(bytes) if text.len() % 2 == 0 && (bytes.len() == 8 || (16..=40).contains(&bytes.len())) => Some(bytes),
        _ => {
            eprintln!(";; --cookie: expected 16 hex digits of client cookie, optionally followed by 16-64 of server cookie; sending a fresh one");
            let mut args = args.clone();
            args.cookie = Some(String::new());
            cookie_option(&args)
        }
    }
}

fn udp_exchange(query: &[u8], server: SocketAddr, timeout: Duration, id: u16) -> Result<Vec<u8>, String> {
    let local: SocketAddr = if server.is_ipv6() { "[::]:0".parse().map_err(|_| "bad address")? } else { "0.0.0.0:0".parse().map_err(|_| "bad address")? };
    let socket = UdpSocket::bind(local).map_err(|e| e.to_string())?;
    socket.connect(server).map_err(|e| e.to_string())?;
    socket.send(query).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 65_535];
    loop {
        let left = deadline.checked_duration_since(Instant::now()).ok_or("timed out")?;
        socket.set_read_timeout(Some(left.max(Duration::from_millis(1)))).map_err(|e| e.to_string())?;
        let len = socket.recv(&mut buf).map_err(|e| {
            if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) {
                "timed out".to_string()
            } else {
                e.to_string()
            }
        })?;
        if matches_query(&buf[..len], query, id) {
            buf.truncate(len);
            return Ok(buf);
        }
    }
}

fn tcp_exchange(query: &[u8], server: SocketAddr, timeout: Duration, id: u16) -> Result<Vec<u8>, String> {
    let mut stream = tcp_send(query, server, timeout)?;
    let reply = read_framed(&mut stream).map_err(|e| format!("reading TCP reply: {e}"))?;
    if !matches_query(&reply, query, id) {
        return Err("TCP reply does not match the query".into());
    }
    Ok(reply)
}

/// Connects to `server` over TCP (every step within `timeout`) and sends `query`, framed.
pub(crate) fn tcp_send(query: &[u8], server: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    let mut stream = TcpStream::connect_timeout(&server, timeout).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed).map_err(|e| e.to_string())?;
    Ok(stream)
}

/// Reads one message framed by its two-octet length (RFC 1035 §4.2.2).
pub(crate) fn read_framed(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix)?;
    let mut bytes = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// A reply matches when its ID, QR bit and question section match the query's; a reply without
/// a question only as a bare error (`Message::is_bare_error`), as the resolver has it.
fn matches_query(reply: &[u8], query: &[u8], id: u16) -> bool {
    let (Ok(message), Ok(sent)) = (Message::parse(reply), Message::parse(query)) else { return false };
    sent.header().id() == id && message.answers(&sent)
}

/// A message ID (and the rotation's start) from the OS random source.
fn random_u16() -> u16 {
    crate::entropy::random_u16().unwrap_or_else(|error| crate::entropy::fatal(error))
}

#[cfg(test)]
mod tests {

    #[test]
    fn rotate_spreads_the_first_server_and_keeps_every_one() {
        let servers: Vec<SocketAddr> = ["127.0.0.1:53", "127.0.0.2:53", "127.0.0.3:53"].iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(server_order(servers.clone(), false, 2), servers, "no rotate: as listed");
        let firsts: Vec<SocketAddr> = (0..3).map(|start| server_order(servers.clone(), true, start)[0]).collect();
        assert_eq!(firsts, servers, "each nameserver comes first for one start in three");
        let rotated = server_order(servers.clone(), true, 4);
        assert_eq!(rotated, [servers[1], servers[2], servers[0]], "the rest follow in order, wrapping around");
        assert!(server_order(Vec::new(), true, 5).is_empty());
    }

    use super::*;
    use portcullis_wire::message::Section;

    #[test]
    fn server_forms() {
        assert_eq!(parse_server("127.0.0.1", 53).unwrap(), "127.0.0.1:53".parse().unwrap());
        assert_eq!(parse_server("127.0.0.1:5353", 53).unwrap(), "127.0.0.1:5353".parse().unwrap());
        assert_eq!(parse_server("::1", 53).unwrap(), "[::1]:53".parse().unwrap());
        assert_eq!(parse_server("[::1]:5300", 53).unwrap(), "[::1]:5300".parse().unwrap());
        assert!(parse_server("nope", 53).is_err());
    }

    /// A query for `www.example. A` with ID 0x1234, and replies to it.
    fn exchange(reply_question: Option<(&str, Rtype)>, rcode: Rcode, answers: usize) -> (Vec<u8>, Vec<u8>) {
        let name = |text: &str| NameBuf::from_text(text, None).unwrap();
        let write = |question: Option<(&str, Rtype)>, response: bool, rcode: Rcode, answers: usize| {
            let mut buf = vec![0u8; 512];
            let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
            writer.set_header(0x1234, Flags { qr: response, ..Flags::default() });
            if let Some((qname, qtype)) = question {
                writer.push_question(&name(qname), qtype, Class::IN).unwrap();
            }
            for _ in 0..answers {
                writer.push(Section::Answer, &name("www.example."), Rtype::A, Class::IN, 60, &[192, 0, 2, 1]).unwrap();
            }
            writer.set_rcode(rcode);
            let len = writer.finish();
            buf.truncate(len);
            buf
        };
        (write(Some(("www.example.", Rtype::A)), false, Rcode::NOERROR, 0), write(reply_question, true, rcode, answers))
    }

    #[test]
    fn a_reply_matches_only_with_the_same_question_or_as_a_bare_error() {
        let matches = |question, rcode, answers| {
            let (query, reply) = exchange(question, rcode, answers);
            matches_query(&reply, &query, 0x1234)
        };
        assert!(matches(Some(("www.example.", Rtype::A)), Rcode::NOERROR, 1));
        assert!(!matches(Some(("www.example.", Rtype::AAAA)), Rcode::NOERROR, 1), "other type");
        assert!(!matches(Some(("mail.example.", Rtype::A)), Rcode::NOERROR, 1), "other name");
        assert!(matches(None, Rcode::FORMERR, 0), "a server that could not read the question");
        assert!(!matches(None, Rcode::NOERROR, 1), "records without a question (RFC 5452 §9.1)");
        assert!(!matches(None, Rcode::NOERROR, 0), "NOERROR without a question");
        let (query, reply) = exchange(Some(("www.example.", Rtype::A)), Rcode::NOERROR, 1);
        assert!(!matches_query(&reply, &query, 0x4321), "other ID");
        assert!(!matches_query(&query, &query, 0x1234), "QR clear");
    }

    #[test]
    fn exit_codes_tell_outcomes_apart() {
        assert_eq!(exit_code(Rcode::NOERROR), 0);
        assert_eq!(exit_code(Rcode::NXDOMAIN), 1);
        assert_eq!(exit_code(Rcode::SERVFAIL), 2);
        assert_eq!(exit_code(Rcode::REFUSED), 2);
    }
}
