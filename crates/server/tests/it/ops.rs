//! The operations listener (`[http]`): `/metrics` scraped before and after a bounded dnsperf
//! run moves by exactly the queries dnsperf sent and the rcodes it saw; promtool accepts the
//! exposition; `/api/stats` and `/api/alerts` are JSON; the bearer token is enforced; an RRL
//! flood shows up as an alert. Servers run on loopback from generated configuration files.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use portcullis_wire::Rtype;

use crate::client::Query;
use crate::harness::{example_zone, Server};
use crate::peers::{free_port, require, temp_dir};

/// A server started from a configuration file: `extra` is appended to a `[server]` table
/// (one listen address, two workers), `[http] listen` and the zone example.test.
pub struct OpsServer {
    pub server: Server,
    pub http: SocketAddr,
    pub config: PathBuf,
}

impl OpsServer {
    pub fn start(extra: &str) -> Self {
        Self::with_zone(extra, "example.test.", &example_zone())
    }

    /// A server of zone `origin` (a copy of `source` in its directory, the readiness probe).
    pub fn with_zone(extra: &str, origin: &str, source: &Path) -> Self {
        Self::try_with_zone(extra, origin, source).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`OpsServer::with_zone`], returning the error.
    pub fn try_with_zone(extra: &str, origin: &str, source: &Path) -> Result<Self, String> {
        let dir = temp_dir("ops");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let file = format!("{origin}zone");
        fs::copy(source, dir.join(&file)).unwrap_or_else(|e| panic!("copy zone: {e}"));
        let mut text = format!("[server]\nlisten = [\"{addr}\"]\nthreads = 2\n\n[http]\nlisten = \"{http}\"\n");
        text.push_str(extra);
        let _ = write!(text, "\n[[zone]]\norigin = \"{origin}\"\nfile = \"{file}\"\n");
        let config = dir.join("portcullis.toml");
        fs::write(&config, text).unwrap_or_else(|e| panic!("write config: {e}"));
        let server = Server::start(dir, addr, &["serve".as_ref(), "--config".as_ref(), config.as_os_str()], origin)?;
        Ok(Self { server, http, config })
    }

    /// `GET path` with an optional bearer token: (status, body).
    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        http_get(self.http, path, token)
    }

    /// The scrape, or a panic with the status.
    pub fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics", None);
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// One HTTP/1.1 GET over a fresh connection (closed after the reply).
pub fn http_get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n").unwrap_or_else(|e| panic!("send: {e}"));
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, body.to_string())
}

/// The samples of `family` in a Prometheus text exposition: label text -> value.
pub fn samples(text: &str, family: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let labels = series.strip_prefix(family)?;
            (labels.is_empty() || labels.starts_with('{')).then(|| (labels.to_string(), value.parse().unwrap_or(f64::NAN)))
        })
        .collect()
}

fn total(text: &str, family: &str) -> f64 {
    samples(text, family).values().sum()
}

fn rcode(text: &str, name: &str) -> f64 {
    samples(text, "portcullis_responses_total").get(&format!("{{rcode=\"{name}\"}}")).copied().unwrap_or(0.0)
}

/// dnsperf's "Queries sent" and its response codes.
fn dnsperf_counts(output: &str) -> (u64, BTreeMap<String, u64>) {
    let number = |label: &str| output.lines().find_map(|l| l.trim().strip_prefix(label)).and_then(|rest| rest.split_whitespace().next()?.parse().ok());
    let sent = number("Queries sent:").unwrap_or_else(|| panic!("no 'Queries sent' in dnsperf's output:\n{output}"));
    let mut codes = BTreeMap::new();
    if let Some(rest) = output.lines().find_map(|l| l.trim().strip_prefix("Response codes:")) {
        for part in rest.split(',') {
            let mut words = part.split_whitespace();
            if let (Some(code), Some(count)) = (words.next(), words.next().and_then(|n| n.parse().ok())) {
                codes.insert(code.to_string(), count);
            }
        }
    }
    (sent, codes)
}

#[test]
fn metrics_move_by_exactly_the_queries_dnsperf_sent_and_the_rcodes_it_saw() {
    let Some(tools) = require("metrics_move_by_exactly_the_queries_dnsperf_sent", &["dnsperf"]) else { return };
    let ops = OpsServer::start("");
    let queries = ops.server.dir.join("queries.txt");
    // NOERROR, NXDOMAIN, NOERROR (NODATA), and REFUSED (no zone, no recursion).
    fs::write(&queries, "www.example.test A\nmissing.example.test A\nexample.test AAAA\nexample.org A\n").unwrap_or_default();
    let before = ops.metrics();
    let output = Command::new(&tools[0])
        .args(["-s", "127.0.0.1", "-p", &ops.server.addr.port().to_string(), "-d"])
        .arg(&queries)
        .args(["-n", "250", "-q", "20", "-t", "5"])
        .output()
        .unwrap_or_else(|e| panic!("dnsperf: {e}"));
    let text = String::from_utf8_lossy(&output.stdout);
    let (sent, codes) = dnsperf_counts(&text);
    assert_eq!(sent, 1000, "{text}");
    let after = ops.metrics();
    let received = total(&after, "portcullis_queries_total") - total(&before, "portcullis_queries_total");
    assert_eq!(received, sent as f64, "queries_total moved by the queries sent:\n{text}");
    let udp_a = "{transport=\"udp\",qtype=\"A\"}";
    let moved =
        |family: &str, labels: &str| samples(&after, family).get(labels).copied().unwrap_or(0.0) - samples(&before, family).get(labels).copied().unwrap_or(0.0);
    assert_eq!(moved("portcullis_queries_total", udp_a), 750.0);
    assert_eq!(moved("portcullis_queries_total", "{transport=\"udp\",qtype=\"AAAA\"}"), 250.0);
    for name in ["NOERROR", "NXDOMAIN", "REFUSED"] {
        let expected = codes.get(name).copied().unwrap_or(0) as f64;
        assert_eq!(rcode(&after, name) - rcode(&before, name), expected, "{name}:\n{text}");
    }
    // Every answer of the run was written by a UDP worker from the zone (or refused by it): the
    // authoritative latency histogram counts each once, and its sum is a plausible time.
    let authoritative = "{source=\"authoritative\"}";
    assert_eq!(moved("portcullis_answer_duration_seconds_count", authoritative), 1000.0);
    assert_eq!(moved("portcullis_answer_duration_seconds_count", "{source=\"cache\"}"), 0.0);
    let seconds = moved("portcullis_answer_duration_seconds_sum", authoritative);
    assert!(seconds > 0.0 && seconds < 100.0, "{seconds}");
    assert_eq!(codes.get("NOERROR").copied(), Some(500), "{text}");
    assert_eq!(codes.get("NXDOMAIN").copied(), Some(250), "{text}");
    assert_eq!(codes.get("REFUSED").copied(), Some(250), "{text}");
}

#[test]
fn promtool_accepts_the_exposition() {
    let Some(tools) = require("promtool_accepts_the_exposition (Debian package prometheus)", &["promtool"]) else { return };
    let ops = OpsServer::start("");
    crate::harness::udp_rcode(ops.server.addr, "www.example.test.", Rtype::A).unwrap_or_else(|e| panic!("{e}"));
    let text = ops.metrics();
    for family in [
        "portcullis_queries_total",
        "portcullis_responses_total",
        "portcullis_drops_total",
        "portcullis_tcp_closes_total",
        "portcullis_cache_entries",
        "portcullis_zone_serial",
        "portcullis_alerts_total",
        "portcullis_rrl_responses_total",
    ] {
        assert!(text.contains(&format!("# TYPE {family} ")), "{family} missing:\n{text}");
    }
    assert_eq!(samples(&text, "portcullis_zone_serial").get("{zone=\"example.test.\"}"), Some(&2_024_010_101.0));
    let output = Command::new(&tools[0]).args(["check", "metrics"]).stdin(std::process::Stdio::piped()).output_with_stdin(text.as_bytes());
    let output = output.unwrap_or_else(|| panic!("promtool did not run"));
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && report.trim().is_empty(), "promtool check metrics:\n{report}");
}

/// Runs a command with `input` on its standard input.
trait WithStdin {
    fn output_with_stdin(&mut self, input: &[u8]) -> Option<std::process::Output>;
}

impl WithStdin for Command {
    fn output_with_stdin(&mut self, input: &[u8]) -> Option<std::process::Output> {
        let mut child = self.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().ok()?;
        child.stdin.take()?.write_all(input).ok()?;
        child.wait_with_output().ok()
    }
}

#[test]
fn the_bearer_token_is_required_when_configured() {
    let dir = temp_dir("token");
    let token_file = dir.join("token");
    fs::write(&token_file, "s3cret-token\n").unwrap_or_default();
    let ops = OpsServer::start(&format!("token-file = \"{}\"\n", token_file.display()));
    for path in ["/metrics", "/api/stats", "/api/alerts"] {
        assert_eq!(ops.get(path, None).0, 401, "{path} without a token");
        assert_eq!(ops.get(path, Some("wrong")).0, 401, "{path} with a wrong token");
        assert_eq!(ops.get(path, Some("s3cret-token")).0, 200, "{path} with the token");
    }
    let (status, page) = ops.get("/", None);
    assert_eq!(status, 200, "the dashboard page holds no data");
    assert!(page.contains("Queries per second") && page.contains("/dashboard.js"));
    assert_eq!(ops.get("/dashboard.js", None).0, 200);
    assert_eq!(ops.get("/nothing-here", Some("s3cret-token")).0, 404);
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn api_stats_counts_queries_and_their_rate() {
    let ops = OpsServer::start("");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let query = Query::new("www.example.test.", Rtype::A).to_wire(7).unwrap_or_default();
    // About 200 queries a second for 2.5 s (bounded), the stats read while they go.
    let started = Instant::now();
    let mut sent = 0u64;
    let mut rate = 0.0;
    while started.elapsed() < Duration::from_millis(2500) && sent < 10_000 {
        for _ in 0..10 {
            socket.send_to(&query, ops.server.addr).unwrap_or_default();
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(50));
        if started.elapsed() > Duration::from_millis(2100) && rate == 0.0 {
            let (status, body) = ops.get("/api/stats", None);
            assert_eq!(status, 200);
            let stats: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
            rate = stats["queries_per_second"].as_f64().unwrap_or(0.0);
        }
    }
    assert!(rate > 20.0, "queries_per_second under about 200 q/s load: {rate}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, body) = ops.get("/api/stats", None);
        let stats: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        // The readiness probes (SOA) come on top of the queries sent.
        let total = stats["queries_total"].as_u64().unwrap_or(0);
        let a = stats["queries_by_type"]["A"].as_u64().unwrap_or(0);
        if a == sent {
            assert!(total >= sent);
            assert_eq!(stats["responses"]["NOERROR"].as_u64(), Some(total), "{body}");
            assert_eq!(stats["zones"][0]["zone"], "example.test.");
            assert_eq!(stats["zones"][0]["serial"], 2_024_010_101u64);
            // Sampled tops: one name and one client sent nearly everything.
            assert_eq!(stats["top_names"][0]["name"], "www.example.test.", "{body}");
            assert_eq!(stats["top_clients"][0]["client"], "127.0.0.1", "{body}");
            let estimate = stats["top_names"][0]["queries"].as_u64().unwrap_or(0);
            assert!(estimate >= 64 && estimate <= sent + 64, "estimated {estimate} of {sent}");
            break;
        }
        assert!(Instant::now() < deadline, "A queries counted {a}, sent {sent}: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, alerts) = ops.get("/api/alerts", None);
    assert_eq!((status, alerts.trim()), (200, "[]"));
}

#[test]
fn a_flood_limited_by_rrl_is_an_alert() {
    // localhost is outside the recursion ACL here, so RRL accounts its answers: 5 a second.
    let ops = OpsServer::start("\n[resolver]\nallow-recursion = [\"192.0.2.0/24\"]\n\n[rrl]\nresponses-per-second = 5\n");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let query = Query::new("www.example.test.", Rtype::A).to_wire(9).unwrap_or_default();
    for _ in 0..200 {
        socket.send_to(&query, ops.server.addr).unwrap_or_default();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let alert = loop {
        let (status, body) = ops.get("/api/alerts", None);
        assert_eq!(status, 200);
        let list: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        if let Some(alert) = list.as_array().and_then(|l| l.iter().find(|a| a["kind"] == "rrl")) {
            break alert.clone();
        }
        assert!(Instant::now() < deadline, "no rrl alert within 5 s: {body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(alert["action"], "block");
    assert!(alert["score"].as_f64().unwrap_or(0.0) > 100.0, "{alert}");
    for key in ["domain", "client", "first_seen", "last_seen", "count", "detail"] {
        assert!(alert.get(key).is_some(), "{key} missing: {alert}");
    }
    assert!(alert["first_seen"].as_str().is_some_and(|t| t.len() == 20 && t.ends_with('Z')), "RFC 3339: {alert}");
    let metrics = ops.metrics();
    assert!(samples(&metrics, "portcullis_alerts_total").get("{kind=\"rrl\"}").is_some_and(|&n| n >= 1.0), "alerts_total{{kind=rrl}}");
}

/// The socket path beside a configuration file.
pub fn socket_of(config: &Path) -> PathBuf {
    config.with_extension("ctl")
}
