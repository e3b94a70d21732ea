//! Upgrades without downtime (issue 17 item 5): the server runs from a copy of the binary in
//! its directory, so the test can install a "new version" over it. `ctl upgrade` under a bounded
//! dnsperf load loses no query (dnsperf reports 0 lost), a TCP client with an open connection is
//! answered until its connection is closed cleanly (never reset) and goes on with the new
//! process; an HTTP keep-alive client gets every response, its connection closed gracefully by
//! the old process (hyper's graceful shutdown) and reopened to the new one; the HTTP listener and
//! the control socket are the new process's; a broken new binary
//! leaves the old one serving (`ctl upgrade` exits 1), and SIGUSR2 upgrades like `ctl upgrade`.
//! The resolver cache goes over too: a forwarding server's names are answered by the new process
//! with the upstream stopped, TTLs still counting down.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_wire::Rtype;

use crate::client::Query;
use crate::harness::{example_zone, udp_rcode, Server};
use crate::peers::{free_port, require, temp_dir};
use crate::portcullis::BINARY;

/// A server run from `dir/portcullis`, a copy of the binary, with its configuration file.
struct Upgradable {
    server: Server,
    binary: PathBuf,
    config: PathBuf,
    http: SocketAddr,
}

impl Upgradable {
    /// `extra` is appended to the configuration file.
    fn start(extra: &str) -> Self {
        let dir = temp_dir("upgrade");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
        fs::copy(example_zone(), dir.join("example.test.zone")).unwrap_or_else(|e| panic!("copy zone: {e}"));
        let text = format!(
            "[server]\nlisten = [\"{addr}\"]\nthreads = 2\n\n[http]\nlisten = \"{http}\"\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"example.test.zone\"\n{extra}"
        );
        let config = dir.join("portcullis.toml");
        fs::write(&config, text).unwrap_or_else(|e| panic!("write config: {e}"));
        let binary = dir.join("portcullis");
        install(&binary, &fs::read(BINARY).unwrap_or_else(|e| panic!("read {BINARY}: {e}")));
        let mut server =
            Server::spawn_from(&binary, &[], dir, addr, &["serve".as_ref(), "--config".as_ref(), config.as_os_str()]).unwrap_or_else(|e| panic!("{e}"));
        server.wait_ready("example.test.").unwrap_or_else(|e| panic!("{e}"));
        Self { server, binary, config, http }
    }

    /// `portcullis ctl --config CONFIG upgrade`: (exit code, stdout, stderr).
    fn ctl_upgrade(&self) -> (i32, String, String) {
        let output = Command::new(BINARY).args(["ctl", "--config"]).arg(&self.config).arg("upgrade").output().unwrap_or_else(|e| panic!("ctl upgrade: {e}"));
        (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Installs `content` at `path` as package managers do: a new file renamed over the old one
/// (the running binary cannot be written in place).
fn install(path: &Path, content: &[u8]) {
    let temporary = path.with_extension("new");
    fs::write(&temporary, content).unwrap_or_else(|e| panic!("write {}: {e}", temporary.display()));
    fs::set_permissions(&temporary, fs::Permissions::from_mode(0o755)).unwrap_or_default();
    fs::rename(&temporary, path).unwrap_or_else(|e| panic!("rename over {}: {e}", path.display()));
}

/// The new process: its id from `ctl upgrade`'s "upgraded: process PID serves" or the log's
/// "the new process serves ... pid=PID"; stopped (SIGTERM, then SIGKILL) on drop.
struct NewProcess(u32);

impl NewProcess {
    fn from_text(text: &str) -> Self {
        let pid = text
            .split_once("upgraded: process ")
            .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
            .or_else(|| {
                text.lines().find(|l| l.contains("the new process serves")).and_then(|l| l.split_once("pid=")?.1.split_whitespace().next()?.parse().ok())
            })
            .unwrap_or_else(|| panic!("no new process id in:\n{text}"));
        Self(pid)
    }

    fn alive(&self) -> bool {
        fs::read_to_string(format!("/proc/{}/stat", self.0)).is_ok_and(|stat| !stat.contains(") Z "))
    }
}

impl Drop for NewProcess {
    fn drop(&mut self) {
        let pid = self.0.to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.alive() {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    }
}

/// What the TCP client saw.
#[derive(Debug, Default)]
struct TcpRun {
    answered: u64,
    /// Connections the server closed cleanly (EOF) while the client waited for an answer.
    closed_cleanly: u64,
    /// Errors other than a clean close (a reset), with the query's number.
    errors: Vec<String>,
}

/// Asks example.test. SOA over one TCP connection after the other until `stop`; a connection
/// closed by the server is reopened and the unanswered query asked again.
fn tcp_client(addr: SocketAddr, stop: &AtomicBool) -> TcpRun {
    let mut run = TcpRun::default();
    let query = Query::new("example.test.", Rtype::SOA).to_wire(0x0717).unwrap_or_default();
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    let deadline = Instant::now() + Duration::from_secs(60);
    'connections: while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let mut stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(stream) => stream,
            Err(e) => {
                run.errors.push(format!("connect: {e}"));
                return run;
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap_or_default();
        while !stop.load(Ordering::Relaxed) {
            if let Err(e) = stream.write_all(&framed) {
                if e.kind() == ErrorKind::BrokenPipe {
                    run.closed_cleanly += 1;
                    continue 'connections;
                }
                run.errors.push(format!("write after {} answers: {e}", run.answered));
                return run;
            }
            let mut prefix = [0u8; 2];
            match stream.read_exact(&mut prefix) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                    run.closed_cleanly += 1;
                    continue 'connections;
                }
                Err(e) => {
                    run.errors.push(format!("read after {} answers: {e}", run.answered));
                    return run;
                }
            }
            let mut reply = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            if let Err(e) = stream.read_exact(&mut reply) {
                run.errors.push(format!("a reply cut after {} answers: {e}", run.answered));
                return run;
            }
            run.answered += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    run
}

/// Reads one HTTP/1.1 response (headers, then a `content-length` body); `Ok(false)` when the
/// server closed the connection cleanly before the response began.
fn read_response(stream: &mut TcpStream) -> Result<bool, String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) if head.is_empty() => return Ok(false),
            Ok(0) => return Err(format!("a response cut in its headers: {}", String::from_utf8_lossy(&head))),
            Ok(_) => head.push(byte[0]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    if !text.starts_with("http/1.1 200") {
        return Err(format!("not a 200: {text}"));
    }
    let length = text.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).ok_or("no content-length")?;
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).map_err(|e| format!("a body cut: {e}"))?;
    Ok(true)
}

/// Asks GET /api/stats over one keep-alive HTTP connection after the other until `stop`; a
/// connection the server closed cleanly between responses is reopened.
fn http_client(addr: SocketAddr, stop: &AtomicBool) -> TcpRun {
    let mut run = TcpRun::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    'connections: while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let mut stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(stream) => stream,
            Err(e) => {
                run.errors.push(format!("connect: {e}"));
                return run;
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap_or_default();
        while !stop.load(Ordering::Relaxed) {
            if let Err(e) = stream.write_all(b"GET /api/stats HTTP/1.1\r\nhost: portcullis\r\n\r\n") {
                if e.kind() == ErrorKind::BrokenPipe {
                    run.closed_cleanly += 1;
                    continue 'connections;
                }
                run.errors.push(format!("write after {} responses: {e}", run.answered));
                return run;
            }
            match read_response(&mut stream) {
                Ok(true) => run.answered += 1,
                Ok(false) => {
                    run.closed_cleanly += 1;
                    continue 'connections;
                }
                Err(e) => {
                    run.errors.push(format!("after {} responses: {e}", run.answered));
                    return run;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    run
}

/// dnsperf's "LABEL N" number.
fn dnsperf_number(output: &str, label: &str) -> u64 {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no '{label}' in dnsperf's output:\n{output}"))
}

#[test]
fn an_upgrade_under_load_loses_no_query_and_closes_tcp_cleanly() {
    let Some(tools) = require("an_upgrade_under_load_loses_no_query", &["dnsperf"]) else { return };
    let mut old = Upgradable::start("");
    let addr = old.server.addr;
    let queries = old.server.dir.join("queries.txt");
    fs::write(&queries, "www.example.test A\nmissing.example.test A\nexample.test SOA\n").unwrap_or_default();
    // Bounded: 5 seconds at 2000 queries per second at most.
    let dnsperf = Command::new(&tools[0])
        .args(["-s", "127.0.0.1", "-p", &addr.port().to_string(), "-d"])
        .arg(&queries)
        .args(["-l", "5", "-Q", "2000", "-q", "50", "-t", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("dnsperf: {e}"));
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let stop = stop.clone();
        std::thread::spawn(move || tcp_client(addr, &stop))
    };
    let http = {
        let (stop, http) = (stop.clone(), old.http);
        std::thread::spawn(move || http_client(http, &stop))
    };
    std::thread::sleep(Duration::from_millis(1500));

    let (code, stdout, stderr) = old.ctl_upgrade();
    assert_eq!(code, 0, "ctl upgrade failed: {stderr}\n{}", old.server.stderr());
    let new = NewProcess::from_text(&stdout);
    assert_ne!(new.0, old.server.pid());
    let status = old.server.wait_exit(Duration::from_secs(20)).unwrap_or_else(|| panic!("the old process did not exit:\n{}", old.server.stderr()));
    assert!(status.success(), "the old process: {status}");
    assert!(new.alive(), "the new process serves");

    let output = dnsperf.wait_with_output().unwrap_or_else(|e| panic!("dnsperf: {e}"));
    stop.store(true, Ordering::Relaxed);
    let tcp = client.join().unwrap_or_default();
    let http = http.join().unwrap_or_default();
    let text = String::from_utf8_lossy(&output.stdout);
    let sent = dnsperf_number(&text, "Queries sent:");
    assert!(sent > 2000, "dnsperf ran across the upgrade:\n{text}");
    assert_eq!(dnsperf_number(&text, "Queries lost:"), 0, "no query lost across the upgrade:\n{text}\n{}", old.server.stderr());
    assert_eq!(dnsperf_number(&text, "Queries completed:"), sent, "{text}");

    assert!(tcp.errors.is_empty(), "the TCP client saw {:?} ({tcp:?})", tcp.errors);
    assert!(tcp.closed_cleanly >= 1, "the old process closed its connection (cleanly): {tcp:?}");
    assert!(tcp.answered > 50, "{tcp:?}");
    assert!(http.errors.is_empty(), "the HTTP keep-alive client saw {:?} ({http:?})", http.errors);
    assert!(http.closed_cleanly >= 1 && http.answered > 20, "the old process closed its HTTP connection gracefully: {http:?}");

    // The new process has the listeners: UDP, TCP, the control socket and the HTTP listener.
    crate::harness::assert_answers(addr, "after the upgrade");
    let status = Command::new(BINARY).args(["ctl", "--config"]).arg(&old.config).arg("status").output().unwrap_or_else(|e| panic!("ctl: {e}"));
    assert!(status.status.success(), "ctl status after the upgrade: {}", String::from_utf8_lossy(&status.stderr));
    let (code, body) = crate::ops::http_get(old.http, "/api/stats", None);
    assert_eq!(code, 200, "{body}");
    let log = old.server.stderr();
    assert!(log.contains("upgrade: took over the sockets of the old process unused_udp=0 unused_tcp=0"), "{log}");
    drop(new);
}

#[test]
fn a_broken_new_binary_leaves_the_old_one_serving_and_sigusr2_upgrades() {
    let mut old = Upgradable::start("");
    let real = fs::read(&old.binary).unwrap_or_default();
    install(&old.binary, b"#!/bin/sh\necho broken >&2\nexit 1\n");
    let (code, _, stderr) = old.ctl_upgrade();
    assert_eq!(code, 1, "ctl upgrade of a broken binary exits 1: {stderr}");
    assert!(stderr.contains("this process goes on serving") && stderr.contains("exited (exit status: 1)"), "{stderr}");
    assert!(old.server.try_status().is_none(), "the old process still runs");
    crate::harness::assert_answers(old.server.addr, "after a failed upgrade");
    assert_eq!(udp_rcode(old.server.addr, "www.example.test.", Rtype::A).map(|(rcode, _)| rcode.to_string()), Ok("NOERROR".to_string()));

    // The real binary back in place: SIGUSR2 upgrades.
    install(&old.binary, &real);
    old.server.signal("USR2");
    let status = old.server.wait_exit(Duration::from_secs(20)).unwrap_or_else(|| panic!("no exit after SIGUSR2:\n{}", old.server.stderr()));
    assert!(status.success(), "{status}");
    let new = NewProcess::from_text(&old.server.stderr());
    assert!(new.alive());
    crate::harness::assert_answers(old.server.addr, "after SIGUSR2");
    // ctl exit status 2: no server at the socket.
    drop(new);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && old.ctl_upgrade().0 != 2 {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(old.ctl_upgrade().0, 2, "no server to upgrade: exit 2");
}

#[test]
fn an_upgrade_while_forwarding_answers_every_forwarded_question() {
    let Some(tools) = require("an_upgrade_while_forwarding_answers_every_forwarded_question", &["dnsperf"]) else { return };
    let upstream = crate::ops::OpsServer::with_zone("", "other.test.", &crate::queries::testdata().join("zones/other.test.zone"));
    let mut old = Upgradable::start(&format!("\n[[forward]]\nzone = \"other.test.\"\ndnssec-validation = false\nprimaries = [\"{}\"]\n", upstream.server.addr));
    let addr = old.server.addr;
    // Every name asked once: each a cache miss the UDP workers' relay forwards.
    let queries = old.server.dir.join("queries.txt");
    let lines: String = (0..20_000).map(|i| format!("u{i}.other.test A\n")).collect();
    fs::write(&queries, lines).unwrap_or_default();
    let dnsperf = Command::new(&tools[0])
        .args(["-s", "127.0.0.1", "-p", &addr.port().to_string(), "-d"])
        .arg(&queries)
        .args(["-l", "4", "-Q", "1000", "-q", "50", "-t", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("dnsperf: {e}"));
    std::thread::sleep(Duration::from_millis(1500));
    let (code, stdout, stderr) = old.ctl_upgrade();
    assert_eq!(code, 0, "ctl upgrade failed: {stderr}\n{}", old.server.stderr());
    let new = NewProcess::from_text(&stdout);
    let status = old.server.wait_exit(Duration::from_secs(20)).unwrap_or_else(|| panic!("the old process did not exit:\n{}", old.server.stderr()));
    assert!(status.success(), "the old process: {status}");
    let output = dnsperf.wait_with_output().unwrap_or_else(|e| panic!("dnsperf: {e}"));
    let text = String::from_utf8_lossy(&output.stdout);
    let sent = dnsperf_number(&text, "Queries sent:");
    assert!(sent > 1000, "dnsperf ran across the upgrade:\n{text}");
    assert_eq!(dnsperf_number(&text, "Queries lost:"), 0, "no forwarded question lost across the upgrade:\n{text}\n{}", old.server.stderr());
    drop(new);
}

/// The reply to an RD=1 A query for `name` over UDP (three tries).
fn ask_recursive(addr: SocketAddr, name: &str) -> Result<Vec<u8>, String> {
    let mut query = Query::new(name, Rtype::A).to_wire(0x4a17)?;
    query[2] |= 0x01;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(Duration::from_secs(1))).map_err(|e| e.to_string())?;
    let mut reply = vec![0u8; 4096];
    for _ in 0..3 {
        socket.send_to(&query, addr).map_err(|e| e.to_string())?;
        if let Ok((len, _)) = socket.recv_from(&mut reply) {
            reply.truncate(len);
            return Ok(reply);
        }
    }
    Err(format!("{name}: no reply"))
}

/// (rcode, the first answer's TTL and rdata, or the authority SOA's TTL) of one RD=1 query.
fn cached_answer(addr: SocketAddr, name: &str) -> Result<(String, u32, Vec<u8>), String> {
    let reply = ask_recursive(addr, name)?;
    let message = portcullis_wire::message::Message::parse(&reply).map_err(|e| format!("{e:?}"))?;
    let rcode = message.rcode().to_string();
    let first = message.records(portcullis_wire::message::Section::Answer).find(|r| r.rtype == Rtype::A);
    let soa = || message.records(portcullis_wire::message::Section::Authority).find(|r| r.rtype == Rtype::SOA).map(|r| (r.ttl, Vec::new()));
    let (ttl, rdata) = first.map(|r| (r.ttl, r.rdata.to_vec())).or_else(soa).ok_or_else(|| format!("{name}: {rcode} without an answer or a SOA"))?;
    Ok((rcode, ttl, rdata))
}

#[test]
fn an_upgrade_hands_the_resolver_cache_over() {
    const NAMES: usize = 300;
    let zone_dir = temp_dir("handover-zone");
    let zone = zone_dir.join("handover.test.zone");
    let mut text = "$ORIGIN handover.test.\n$TTL 3600\n@ SOA ns admin 1 3600 600 86400 900\n@ NS ns\nns A 198.51.100.1\n".to_string();
    text.extend((0..NAMES).map(|i| format!("n{i} A 198.51.{}.{}\n", 100 + i / 250, i % 250)));
    fs::write(&zone, text).unwrap_or_else(|e| panic!("write zone: {e}"));
    let upstream = crate::ops::OpsServer::with_zone("", "handover.test.", &zone);
    let mut old =
        Upgradable::start(&format!("\n[[forward]]\nzone = \"handover.test.\"\ndnssec-validation = false\nprimaries = [\"{}\"]\n", upstream.server.addr));
    let addr = old.server.addr;
    // Warm: every name (and a few that do not exist) resolved once, then asked again from the cache.
    let names: Vec<String> = (0..NAMES).map(|i| format!("n{i}.handover.test.")).chain((0..10).map(|i| format!("missing{i}.handover.test."))).collect();
    for name in &names {
        cached_answer(addr, name).unwrap_or_else(|e| panic!("warming {name}: {e}\n{}", old.server.stderr()));
    }
    let before: Vec<(String, u32, Vec<u8>)> = names.iter().map(|name| cached_answer(addr, name).unwrap_or_else(|e| panic!("{name}: {e}"))).collect();
    assert!(before.iter().take(NAMES).all(|(rcode, _, rdata)| rcode == "NOERROR" && rdata.len() == 4), "{before:?}");
    assert!(before.iter().skip(NAMES).all(|(rcode, ttl, _)| rcode == "NXDOMAIN" && *ttl <= 900), "{before:?}");
    // The upstream gone: only the cache can answer now.
    drop(upstream);
    let (code, stdout, stderr) = old.ctl_upgrade();
    assert_eq!(code, 0, "ctl upgrade failed: {stderr}\n{}", old.server.stderr());
    let new = NewProcess::from_text(&stdout);
    old.server.wait_exit(Duration::from_secs(20)).unwrap_or_else(|| panic!("the old process did not exit:\n{}", old.server.stderr()));
    let log = old.server.stderr();
    assert!(log.contains("upgrade: cache taken over from the old process"), "{log}");
    for (name, (rcode, ttl, rdata)) in names.iter().zip(&before) {
        let (now_rcode, now_ttl, now_rdata) = cached_answer(addr, name).unwrap_or_else(|e| panic!("{name} after the upgrade: {e}\n{log}"));
        assert_eq!((&now_rcode, &now_rdata), (rcode, rdata), "{name}: answered alike by the new process from the handed-over cache");
        assert!(now_ttl <= *ttl, "{name}: TTL {now_ttl} after the upgrade, {ttl} before: it counts down, never reset");
    }
    let (_, ttl, _) = cached_answer(addr, "n0.handover.test.").unwrap_or_default();
    assert!(ttl < 3600, "n0: TTL {ttl}: the zone's 3600 s, less the time since it was resolved");
    let (status, metrics) = crate::ops::http_get(old.http, "/metrics", None);
    let entries: f64 = metrics.lines().find_map(|l| l.strip_prefix("portcullis_cache_entries ")?.trim().parse().ok()).unwrap_or(0.0);
    assert!(status == 200 && entries >= NAMES as f64, "the new process's cache holds the names: {entries}\n{metrics}");
    drop(new);
    let _ = fs::remove_dir_all(zone_dir);
}
