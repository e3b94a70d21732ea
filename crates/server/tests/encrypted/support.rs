//! The encrypted server under test and what the tests read from replies: a `portcullis serve`
//! with UDP and TCP on one address and DoT, DoH and DoQ on three more, its certificate from the
//! test's PKI; `curl` and `kdig` runs; answers reduced to comparable records.

use crate::client::Query;
use crate::harness::Server;
use crate::peers::{free_port, temp_dir};
use crate::pki::{Leaf, Pki};
use portcullis_wire::message::{decompress_rdata, Message, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{header::Flags, Class, NameBuf, Rcode, Rtype};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A running server with every encrypted listener.
pub struct Encrypted {
    /// UDP and TCP.
    pub udp: SocketAddr,
    /// DoT.
    pub tls: SocketAddr,
    /// DoH.
    pub https: SocketAddr,
    /// DoQ.
    pub quic: SocketAddr,
    /// The PKI (its root is what clients trust).
    pub pki: Pki,
    /// The certificate the server started with.
    pub leaf: Leaf,
    /// The process (stopped on drop).
    pub server: Server,
}

/// The configuration of a server with cleartext `listen` and every encrypted listener.
pub fn config(listen: &[SocketAddr], [tls, https, quic]: [SocketAddr; 3], leaf: &Leaf, extra: &str) -> String {
    let listen: Vec<String> = listen.iter().map(|addr| format!("\"{addr}\"")).collect();
    format!(
        "[server]\nlisten = [{}]\nthreads = 1\nlisten-tls = [\"{tls}\"]\nlisten-https = [\"{https}\"]\nlisten-quic = [\"{quic}\"]\n\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"{}\"\n{extra}",
        listen.join(", "),
        leaf.chain.display(),
        leaf.key.display(),
        crate::harness::example_zone().display()
    )
}

impl Encrypted {
    /// Starts the server (`None`, after saying why, when `openssl` is missing outside CI).
    pub fn start(label: &str) -> Option<Self> {
        Self::start_with(label, "")
    }

    /// [`Encrypted::start`] with `extra` appended to the configuration.
    pub fn start_with(label: &str, extra: &str) -> Option<Self> {
        Self::start_edited(label, |text| text + extra)
    }

    /// [`Encrypted::start`] with the configuration's text passed through `edit`.
    pub fn start_edited(label: &str, edit: impl Fn(String) -> String) -> Option<Self> {
        crate::peers::require(label, &["openssl", "curl"])?;
        let dir = temp_dir(label);
        let pki = Pki::new(&dir);
        let leaf = pki.leaf("first", false);
        let localhost = |port| SocketAddr::from(([127, 0, 0, 1], port));
        let (udp, tls, https, quic) = (localhost(free_port()), localhost(free_port()), localhost(free_port()), localhost(free_port()));
        let path = dir.join("portcullis.toml");
        std::fs::write(&path, edit(config(&[udp], [tls, https, quic], &leaf, ""))).unwrap();
        let server = Server::start(dir, udp, &["serve".as_ref(), "--config".as_ref(), path.as_os_str()], "example.test.").unwrap_or_else(|e| panic!("{e}"));
        Some(Self { udp, tls, https, quic, pki, leaf, server })
    }

    /// The server's directory.
    pub fn dir(&self) -> &Path {
        &self.server.dir
    }

    /// `https://localhost:PORT`.
    pub fn https_url(&self) -> String {
        format!("https://localhost:{}", self.https.port())
    }
}

/// A tokio runtime for the async clients.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// One record as compared: owner (lower case), type, class, TTL, rdata decompressed.
pub type Compared = (String, u16, u16, u32, Vec<u8>);

/// What a reply says, for comparing transports: rcode, AA, TC, and every record but OPT
/// (owner, type, class, TTL, rdata decompressed), section by section.
pub fn answer_of(reply: &[u8]) -> (Rcode, bool, Vec<Vec<Compared>>) {
    let message = Message::parse(reply).unwrap_or_else(|e| panic!("unparsable reply: {e:?}"));
    let sections = [Section::Answer, Section::Authority, Section::Additional]
        .into_iter()
        .map(|section| {
            message
                .records(section)
                .filter(|record| record.rtype != Rtype::OPT)
                .map(|record| {
                    let mut rdata = Vec::new();
                    decompress_rdata(reply, &record, &mut rdata).unwrap();
                    (record.owner.to_string().to_lowercase(), record.rtype.0, record.class.0, record.ttl, rdata)
                })
                .collect()
        })
        .collect();
    (message.rcode(), message.header().aa(), sections)
}

/// The smallest TTL of the answer and authority records.
pub fn smallest_ttl(reply: &[u8]) -> Option<u32> {
    let message = Message::parse(reply).unwrap();
    [Section::Answer, Section::Authority].into_iter().flat_map(|s| message.records(s)).map(|r| r.ttl).min()
}

/// True when the reply's OPT record carries a PADDING option (RFC 7830).
pub fn has_padding(reply: &[u8]) -> bool {
    Message::parse(reply).unwrap().edns().is_some_and(|edns| edns.iter_options().any(|(code, _)| code == 12))
}

/// A query (ID 0, EDNS 1232), with an empty PADDING option when `pad` (RFC 8467 §4.1 has the
/// client pad its own query too; the server's answer is what is checked).
pub fn padded_query(name: &str, rtype: Rtype, pad: bool) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    writer.set_header(0, Flags::default());
    writer.push_question(&NameBuf::from_text(name, None).unwrap(), rtype, Class::IN).unwrap();
    let options: &[(u16, &[u8])] = if pad { &[(12, &[0u8; 16])] } else { &[] };
    writer.push_opt(1232, Rcode::NOERROR, false, options).unwrap();
    let len = writer.finish();
    buf.truncate(len);
    buf
}

/// One query over UDP as bytes; the reply.
pub fn udp_raw(server: SocketAddr, query: &[u8]) -> Vec<u8> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    socket.send_to(query, server).unwrap();
    let mut buf = vec![0u8; 65_535];
    let len = socket.recv(&mut buf).unwrap();
    buf.truncate(len);
    buf
}

/// A DoH method.
#[derive(Clone, Copy, Debug)]
pub enum Method {
    Get,
    Post,
}

/// What curl got.
#[derive(Debug)]
pub struct HttpReply {
    /// The status (0: no response).
    pub status: u16,
    /// "2" or "1.1".
    pub version: String,
    /// The `cache-control` header.
    pub cache_control: Option<String>,
    /// The body.
    pub body: Vec<u8>,
    /// curl's exit status and stderr (why there was no response).
    pub error: String,
}

/// Runs curl against the DoH listener (trusting the test root, `localhost` resolved to
/// 127.0.0.1) with `args`.
pub fn curl(server: &Encrypted, args: &[String]) -> HttpReply {
    let dir = server.dir();
    let (body, headers) = (dir.join("curl.body"), dir.join("curl.headers"));
    let _ = std::fs::remove_file(&body);
    let output = Command::new("curl")
        .current_dir(dir)
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(&server.pki.root)
        .args(["--resolve", &format!("localhost:{}:127.0.0.1", server.https.port()), "-o"])
        .arg(&body)
        .arg("-D")
        .arg(&headers)
        .args(["-w", "%{http_code} %{http_version}"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    let written = String::from_utf8_lossy(&output.stdout).to_string();
    let (status, version) = written.split_once(' ').unwrap_or(("0", ""));
    let headers = std::fs::read_to_string(&headers).unwrap_or_default();
    let cache_control = headers.lines().find_map(|line| line.to_ascii_lowercase().strip_prefix("cache-control:").map(|v| v.trim().to_string()));
    HttpReply {
        status: status.parse().unwrap_or(0),
        version: version.to_string(),
        cache_control,
        body: std::fs::read(&body).unwrap_or_default(),
        error: format!("{} {}", output.status, String::from_utf8_lossy(&output.stderr).trim()),
    }
}

/// One DoH exchange of `query` with curl (GET `?dns=` or POST), over HTTP/2 or HTTP/1.1.
pub fn curl_doh(server: &Encrypted, method: Method, http2: bool, query: &[u8]) -> HttpReply {
    let http = if http2 { "--http2" } else { "--http1.1" }.to_string();
    let url = format!("{}/dns-query", server.https_url());
    match method {
        Method::Get => curl(
            server,
            &[http, "-H".into(), "accept: application/dns-message".into(), format!("{url}?dns={}", portcullis_net::doh_message::base64url_encode(query))],
        ),
        Method::Post => {
            let file = server.dir().join("post.bin");
            std::fs::write(&file, query).unwrap();
            curl(server, &[http, "-H".into(), "content-type: application/dns-message".into(), "--data-binary".into(), format!("@{}", file.display()), url])
        }
    }
}

/// kdig's answer section for `query` at the server (UDP and TCP address unless `-p` is among
/// `args`), one line per record, sorted.
pub fn kdig_answer(server: &Encrypted, query: &Query, args: &[String]) -> Vec<String> {
    let output = Command::new("kdig")
        .arg(format!("@{}", server.udp.ip()))
        .arg(format!("-p{}", server.udp.port()))
        .args(args)
        .args(["+norec", "+noall", "+answer", "+timeout=3", "+retry=0", &query.qname, &query.qtype.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("kdig: {e}"));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "kdig {args:?} {query}: {text} {}", String::from_utf8_lossy(&output.stderr));
    let mut lines: Vec<String> = text.lines().filter(|line| !line.is_empty() && !line.starts_with(';')).map(str::to_string).collect();
    lines.sort();
    lines
}
