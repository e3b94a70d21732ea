//! Generated traffic for the tunnelling detector's test: streams of timed queries, each from one
//! client towards one registered domain, labelled tunnel or benign. The tunnels reproduce the
//! encodings and qtype mixes of iodine 0.7 (Base32, Base64u, Base128; NULL, PRIVATE, TXT; the
//! handshake and downstream fragment-size probing), dnscat2 (hex, `dnscat.` prefix or not;
//! TXT/CNAME/MX), dns2tcp (Base64; TXT/KEY) and a slow exfiltration by A lookups; the benign
//! streams include the false-positive traps of SECURITY-REFERENCE §4.1: CDN and cloud hash names,
//! antivirus and reputation lookups with long hex labels, DNSBL reversed addresses, an ip6.arpa
//! sweep, DKIM selectors, `_acme-challenge`, telemetry. Deterministic (a seeded xorshift).

/// One query of a stream.
pub struct Query {
    /// Milliseconds from the corpus's start.
    pub at_ms: u64,
    /// The name, text with its final dot (labels may hold any octet as `\DDD`).
    pub name: String,
    /// The qtype.
    pub qtype: u16,
    /// Whether its answer is NXDOMAIN.
    pub nxdomain: bool,
}

/// A stream: one client towards one registered domain.
pub struct Stream {
    /// What it reproduces.
    pub label: &'static str,
    /// The client address.
    pub client: &'static str,
    /// The registered domain.
    pub domain: &'static str,
    /// True for a tunnel.
    pub tunnel: bool,
    /// Its queries, in time order.
    pub queries: Vec<Query>,
}

const NULL: u16 = 10;
const PRIVATE: u16 = 65399;
const TXT: u16 = 16;
const CNAME: u16 = 5;
const MX: u16 = 15;
const KEY: u16 = 25;
const A: u16 = 1;
const AAAA: u16 = 28;
const PTR: u16 = 12;

const HEX: &[u8] = b"0123456789abcdef";
const BASE32: &[u8] = b"abcdefghijklmnopqrstuvwxyz012345";
const BASE64U: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
const BASE64: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";

/// A seeded xorshift64* generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// `len` symbols of `alphabet`, as text (octets outside printable ASCII escaped).
    pub fn text(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len).map(|_| escape(alphabet[self.below(alphabet.len() as u64) as usize])).collect()
    }
}

fn escape(byte: u8) -> String {
    match byte {
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'+' => (byte as char).to_string(),
        _ => format!("\\{byte:03}"),
    }
}

/// `data` (already escaped symbols) cut into labels of at most 63 symbols.
fn labels(symbols: &[String]) -> String {
    symbols.chunks(63).map(|chunk| chunk.concat()).collect::<Vec<_>>().join(".")
}

fn symbols(rng: &mut Rng, alphabet: &[u8], len: usize) -> Vec<String> {
    (0..len).map(|_| escape(alphabet[rng.below(alphabet.len() as u64) as usize])).collect()
}

fn base128() -> Vec<u8> {
    let mut alphabet: Vec<u8> = BASE64U[..62].to_vec();
    alphabet.extend(0xbc..=0xfd);
    alphabet
}

/// Queries every `every_ms` (with jitter) for `seconds`, names from `make`.
fn stream(seconds: u64, every_ms: u64, start_ms: u64, rng: &mut Rng, mut make: impl FnMut(&mut Rng, u64) -> (String, u16, bool)) -> Vec<Query> {
    let mut queries = Vec::new();
    let mut at = start_ms;
    let mut index = 0;
    while at < start_ms + seconds * 1000 {
        let (name, qtype, nxdomain) = make(rng, index);
        queries.push(Query { at_ms: at, name, qtype, nxdomain });
        at += every_ms / 2 + rng.below(every_ms.max(1));
        index += 1;
    }
    queries
}

/// iodine: handshake (version, login, case and encoding checks), downstream fragment-size
/// probing, then upstream data in `alphabet` with a user id and sequence, `qtype` throughout.
fn iodine(rng: &mut Rng, domain: &str, alphabet: &[u8], qtype: u16, every_ms: u64) -> Vec<Query> {
    let mut queries = Vec::new();
    let handshake = ["v", "l", "i", "z", "y", "y", "y"];
    for (index, command) in handshake.iter().enumerate() {
        let body = if *command == "z" { "aA-Aaahhh-Drink-mal-ein-J\\228germeister-".to_string() } else { rng.text(HEX, 12) };
        queries.push(Query { at_ms: index as u64 * 300, name: format!("{command}{body}.{domain}"), qtype, nxdomain: false });
    }
    // Fragment-size probing: `r` + user + size + random, from large to small.
    for (step, size) in [1200u32, 900, 700, 500, 400, 300].iter().enumerate() {
        let name = format!("r0{size:04x}{}.{domain}", rng.text(BASE32, 6));
        queries.push(Query { at_ms: 2500 + step as u64 * 400, name, qtype, nxdomain: false });
    }
    queries.extend(stream(150, every_ms, 5000, rng, |rng, seq| {
        let len = 100 + rng.below(80) as usize;
        let mut data: Vec<String> = format!("0{:03x}", seq % 4096).chars().map(String::from).collect();
        data.extend(symbols(rng, alphabet, len));
        (format!("{}.{domain}", labels(&data)), qtype, false)
    }));
    queries
}

/// dnscat2: hex of packet id, type, session, seq/ack and data; `dnscat.` prefix or not;
/// qtypes rotating through `qtypes`.
fn dnscat2(rng: &mut Rng, domain: &str, prefixed: bool, qtypes: &[u16], every_ms: u64) -> Vec<Query> {
    let qtypes = qtypes.to_vec();
    stream(150, every_ms, 0, rng, move |rng, seq| {
        let data_len = if rng.below(3) == 0 { 18 } else { 40 + rng.below(160) as usize };
        let hex = symbols(rng, HEX, data_len);
        let body = labels(&hex);
        let name = if prefixed { format!("dnscat.{body}.{domain}") } else { format!("{body}.{domain}") };
        (name, qtypes[seq as usize % qtypes.len()], false)
    })
}

/// dns2tcp: Base64 data, TXT or KEY.
fn dns2tcp(rng: &mut Rng, domain: &str, qtype: u16, every_ms: u64) -> Vec<Query> {
    stream(150, every_ms, 0, rng, |rng, _| {
        let len = 30 + rng.below(120) as usize;
        let data = symbols(rng, BASE64, len);
        (format!("{}.ssh.{domain}", labels(&data)), qtype, false)
    })
}

/// The tunnels.
pub fn tunnels() -> Vec<Stream> {
    let mut rng = Rng::new(16);
    let b128 = base128();
    vec![
        Stream {
            label: "iodine base32 NULL",
            client: "10.0.0.11",
            domain: "iodine-a.com.",
            tunnel: true,
            queries: iodine(&mut rng, "t.iodine-a.com.", BASE32, NULL, 200),
        },
        Stream {
            label: "iodine base64u PRIVATE",
            client: "10.0.0.12",
            domain: "iodine-b.net.",
            tunnel: true,
            queries: iodine(&mut rng, "t.iodine-b.net.", BASE64U, PRIVATE, 250),
        },
        Stream {
            label: "iodine base128 TXT",
            client: "10.0.0.13",
            domain: "iodine-c.org.",
            tunnel: true,
            queries: iodine(&mut rng, "x.iodine-c.org.", &b128, TXT, 300),
        },
        Stream {
            label: "iodine base32 NULL lazy",
            client: "2001:db8:1::14",
            domain: "iodine-d.co.uk.",
            tunnel: true,
            queries: iodine(&mut rng, "t.iodine-d.co.uk.", BASE32, NULL, 1000),
        },
        Stream {
            label: "dnscat2 hex TXT/CNAME/MX",
            client: "10.0.0.21",
            domain: "dnscat-a.com.",
            tunnel: true,
            queries: dnscat2(&mut rng, "dnscat-a.com.", false, &[TXT, CNAME, MX], 400),
        },
        Stream {
            label: "dnscat2 dnscat. prefix TXT",
            client: "10.0.0.22",
            domain: "dnscat-b.info.",
            tunnel: true,
            queries: dnscat2(&mut rng, "dnscat-b.info.", true, &[TXT], 1000),
        },
        Stream {
            label: "dnscat2 hex A/AAAA",
            client: "10.0.0.23",
            domain: "dnscat-c.net.",
            tunnel: true,
            queries: dnscat2(&mut rng, "dnscat-c.net.", false, &[A, AAAA], 500),
        },
        Stream {
            label: "dns2tcp base64 TXT",
            client: "10.0.0.31",
            domain: "dns2tcp-a.com.",
            tunnel: true,
            queries: dns2tcp(&mut rng, "dns2tcp-a.com.", TXT, 300),
        },
        Stream {
            label: "dns2tcp base64 KEY",
            client: "2001:db8:2::31",
            domain: "dns2tcp-b.org.",
            tunnel: true,
            queries: dns2tcp(&mut rng, "dns2tcp-b.org.", KEY, 600),
        },
        Stream {
            label: "slow exfiltration A hex",
            client: "10.0.0.41",
            domain: "exfil.biz.",
            tunnel: true,
            queries: stream(150, 1000, 0, &mut rng, |rng, seq| (format!("{}.{seq}.exfil.biz.", rng.text(HEX, 60)), A, true)),
        },
    ]
}

/// The benign streams.
pub fn benign() -> Vec<Stream> {
    let mut rng = Rng::new(61);
    let mut streams = vec![
        browse(&mut rng, "10.1.0.1", "example.com.", &["www", "static", "api", "img", "cdn", "login", "m"]),
        browse(&mut rng, "10.1.0.2", "wikipedia.org.", &["en", "upload", "www", "meta", "login"]),
        browse(&mut rng, "2001:db8:9::2", "github.com.", &["api", "www", "codeload", "objects", "avatars", "gist"]),
        hashed(&mut rng, "10.1.0.3", "cloudfront.net.", "", BASE32, 13, A, 3000),
        hashed(&mut rng, "10.1.0.4", "akamaiedge.net.", ".a", HEX, 6, A, 4000),
        hashed(&mut rng, "10.1.0.5", "amazonaws.com.", ".execute-api.us-east-1", BASE32, 10, A, 5000),
        hashed(&mut rng, "10.1.0.6", "googlevideo.com.", "", BASE32, 20, A, 4000),
        hashed(&mut rng, "10.1.0.7", "azureedge.net.", "", HEX, 16, AAAA, 6000),
        hashed(&mut rng, "10.1.0.8", "sophosxl.net.", ".3.1o.sxl", HEX, 40, A, 2000),
        hashed(&mut rng, "10.1.0.9", "mcafee.com.", ".avqs", BASE32, 52, A, 3000),
        hashed(&mut rng, "10.1.0.10", "team-cymru.org.", ".hash", HEX, 32, TXT, 4000),
        hashed(&mut rng, "10.1.0.11", "virustotal.com.", ".lookup", HEX, 60, A, 5000),
        hashed(&mut rng, "10.1.0.12", "microsoft.com.", ".events.data", BASE32, 26, A, 6000),
        hashed(&mut rng, "10.1.0.13", "app-measurement.com.", ".telemetry", HEX, 32, A, 5000),
        dnsbl(&mut rng, "10.1.0.20", "spamhaus.org.", ".zen", 1000),
        dnsbl(&mut rng, "10.1.0.20", "spamcop.net.", ".bl", 1500),
        dnsbl(&mut rng, "10.1.0.21", "barracudacentral.org.", ".b", 1000),
        ip6_sweep(&mut rng, "10.1.0.30", 100),
        Stream {
            label: "in-addr.arpa PTR scan",
            client: "10.1.0.31",
            domain: "10.in-addr.arpa.",
            tunnel: false,
            queries: stream(150, 100, 0, &mut rng, |rng, _| {
                (format!("{}.{}.{}.10.in-addr.arpa.", rng.below(256), rng.below(256), rng.below(256)), PTR, rng.below(2) == 0)
            }),
        },
    ];
    for (index, domain) in ["gmail.com.", "outlook.com.", "yahoo.com.", "example.org.", "example.info."].iter().enumerate() {
        streams.push(Stream {
            label: "DKIM selectors",
            client: "10.1.0.40",
            domain,
            tunnel: false,
            queries: stream(150, 7000, index as u64 * 300, &mut rng, |rng, _| {
                (format!("s{}-{}._domainkey.{domain}", 2020 + rng.below(6), rng.text(HEX, 8)), TXT, false)
            }),
        });
    }
    streams.push(Stream {
        label: "_acme-challenge",
        client: "10.1.0.41",
        domain: "example.com.",
        tunnel: false,
        queries: stream(150, 2000, 0, &mut rng, |rng, _| (format!("_acme-challenge.h{}.example.com.", rng.below(40)), TXT, rng.below(3) == 0)),
    });
    streams.push(Stream {
        label: "mail server MX/TXT",
        client: "10.1.0.42",
        domain: "example.net.",
        tunnel: false,
        queries: stream(150, 1500, 0, &mut rng, |rng, seq| {
            let name = ["example.net.", "_dmarc.example.net.", "mail.example.net.", "_mta-sts.example.net."][seq as usize % 4];
            let _ = rng.next();
            (name.to_string(), [MX, TXT, A, TXT][seq as usize % 4], false)
        }),
    });
    streams
}

/// A browser's names under one domain: a handful of hosts, asked again and again.
fn browse(rng: &mut Rng, client: &'static str, domain: &'static str, hosts: &[&str]) -> Stream {
    let hosts: Vec<String> = hosts.iter().map(|host| format!("{host}.{domain}")).collect();
    let queries = stream(150, 500, 0, rng, |rng, _| (hosts[rng.below(hosts.len() as u64) as usize].clone(), if rng.below(2) == 0 { A } else { AAAA }, false));
    Stream { label: "browsing", client, domain, tunnel: false, queries }
}

#[allow(clippy::too_many_arguments)] // one row of the corpus table each
/// Disposable names: a hash label of `len` symbols of `alphabet`, then `middle`, under `domain`.
fn hashed(
    rng: &mut Rng,
    client: &'static str,
    domain: &'static str,
    middle: &'static str,
    alphabet: &'static [u8],
    len: usize,
    qtype: u16,
    every_ms: u64,
) -> Stream {
    let queries = stream(150, every_ms, 0, rng, |rng, _| (format!("{}{middle}.{domain}", rng.text(alphabet, len)), qtype, rng.below(4) == 0));
    Stream { label: "disposable hash names", client, domain, tunnel: false, queries }
}

/// A mail server's DNSBL lookups: the client address reversed, mostly NXDOMAIN.
fn dnsbl(rng: &mut Rng, client: &'static str, domain: &'static str, middle: &'static str, every_ms: u64) -> Stream {
    let queries = stream(150, every_ms, 0, rng, |rng, _| {
        let name = format!("{}.{}.{}.{}{middle}.{domain}", rng.below(256), rng.below(256), rng.below(256), 1 + rng.below(223));
        (name, A, rng.below(10) != 0)
    });
    Stream { label: "DNSBL lookups", client, domain, tunnel: false, queries }
}

/// A sweep of reverse names through one /64, in order, mostly NXDOMAIN.
fn ip6_sweep(rng: &mut Rng, client: &'static str, every_ms: u64) -> Stream {
    let queries = stream(150, every_ms, 0, rng, |_, seq| {
        let low: String = format!("{seq:016x}").chars().rev().map(|c| format!("{c}.")).collect();
        (format!("{low}0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."), PTR, true)
    });
    Stream { label: "ip6.arpa sweep", client, domain: "2.ip6.arpa.", tunnel: false, queries }
}
