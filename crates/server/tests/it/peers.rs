//! Reference servers (DESIGN §5.13 level 6): NSD and Knot started as child processes on
//! 127.0.0.1 with a free port each, serving the given zones from a private temporary
//! directory, and stopped on drop.
//!
//! When a binary is missing the caller gets `None` and the test returns early with a clear
//! message, unless `CI=true`: then a missing peer fails the test.

use std::fmt::Write as _;
use std::fs;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use portcullis_wire::message::Message;
use portcullis_wire::{Rcode, Rtype};

use crate::client::{self, Query};

/// Readiness probes before giving up (each bounded by the UDP timeout, or a short pause
/// after an immediate "connection refused").
const READY_TRIES: usize = 150;
/// Pause after a probe that failed at once (nothing listening yet: ICMP port unreachable).
const REFUSED_PAUSE: Duration = Duration::from_millis(40);
/// How long a stopped server gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A zone to serve: its origin (`example.test.`) and zone file.
#[derive(Clone, Debug)]
pub struct ZoneSpec {
    pub origin: String,
    pub file: PathBuf,
}

impl ZoneSpec {
    pub fn new(origin: &str, file: impl Into<PathBuf>) -> Self {
        Self { origin: origin.to_owned(), file: file.into() }
    }

    /// The origin without the trailing dot, as NSD and Knot configs spell it.
    fn bare(&self) -> &str {
        self.origin.trim_end_matches('.')
    }
}

/// A running server process, stopped (and its directory removed) on drop.
pub struct ServerProcess {
    pub name: &'static str,
    pub addr: SocketAddr,
    child: Option<Child>,
    dir: PathBuf,
}

impl ServerProcess {
    /// Starts `command` (stdout and stderr go to files in `dir`) and waits until it answers an
    /// SOA query for `probe_zone` with NOERROR and AA.
    pub fn start(name: &'static str, mut command: Command, dir: PathBuf, addr: SocketAddr, probe_zone: &str) -> Result<Self, String> {
        let stdout = fs::File::create(dir.join("stdout.log")).map_err(|e| e.to_string())?;
        let stderr = fs::File::create(dir.join("stderr.log")).map_err(|e| e.to_string())?;
        command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        let child = command.spawn().map_err(|e| format!("{name}: cannot start {command:?}: {e}"))?;
        let mut server = Self { name, addr, child: Some(child), dir };
        server.wait_ready(probe_zone)?;
        Ok(server)
    }

    /// The process ID (to signal it).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The directory of its configuration and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's log files, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for file in ["stdout.log", "stderr.log", "nsd.log"] {
            if let Ok(text) = fs::read_to_string(self.dir.join(file)) {
                if !text.trim().is_empty() {
                    let tail: Vec<&str> = text.lines().rev().take(40).collect();
                    let _ = writeln!(out, "--- {} {file} (last lines) ---", self.name);
                    for line in tail.into_iter().rev() {
                        let _ = writeln!(out, "{line}");
                    }
                }
            }
        }
        out
    }

    fn wait_ready(&mut self, probe_zone: &str) -> Result<(), String> {
        let probe = Query::new(probe_zone, Rtype::SOA);
        let mut last = String::from("no probe sent");
        for _ in 0..READY_TRIES {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("{} exited before it was ready ({status}); {last}\n{}", self.name, self.logs()));
                }
            }
            let started = std::time::Instant::now();
            match client::udp_once(self.addr, &probe) {
                Ok(reply) => match Message::parse(&reply) {
                    Ok(m) if m.rcode() == Rcode::NOERROR && m.header().aa() && m.header().ancount() == 1 => return Ok(()),
                    Ok(m) => last = format!("probe answered rcode {} aa {}", m.rcode(), m.header().aa()),
                    Err(e) => last = format!("probe reply unparsable: {e:?}"),
                },
                Err(e) => last = e,
            }
            // Nothing is listening yet, or the zone is still loading: wait a little, bounded.
            if started.elapsed() < REFUSED_PAUSE {
                std::thread::sleep(REFUSED_PAUSE);
            }
        }
        Err(format!("{} at {} never became ready: {last}\n{}", self.name, self.addr, self.logs()))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            stop(child);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A child process killed on drop (a peer with no zone of its own to probe, such as a resolver).
// Used by the test binaries that run resolvers (dnssec_serve, rollover), not by `it`.
#[allow(dead_code)]
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` with its stderr in `log` and waits until `addr` answers an SOA query for
/// `probe` (any answer: a resolver gives no AA), at most 100 tries 50 ms apart; panics with the
/// log when it exits or never answers.
#[allow(dead_code)]
pub fn spawn_answering(name: &str, mut command: Command, log: &Path, addr: SocketAddr, probe: &str) -> Killed {
    let stderr = fs::File::create(log).unwrap_or_else(|e| panic!("{name}: cannot create {}: {e}", log.display()));
    let child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr).spawn();
    let mut process = Killed(child.unwrap_or_else(|e| panic!("{name}: cannot start {command:?}: {e}")));
    for _ in 0..100 {
        if let Ok(Some(status)) = process.0.try_wait() {
            panic!("{name} exited ({status}): {}", fs::read_to_string(log).unwrap_or_default());
        }
        if client::udp_once(addr, &Query::new(probe, Rtype::SOA)).is_ok() {
            return process;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{name} never answered: {}", fs::read_to_string(log).unwrap_or_default());
}

/// SIGTERM (so NSD takes its worker processes down), then wait for the exit in a helper thread;
/// SIGKILL when the grace period passes.
fn stop(mut child: Child) {
    let pid = child.id();
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = child.wait();
        let _ = tx.send(());
    });
    if rx.recv_timeout(STOP_GRACE).is_err() {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = rx.recv_timeout(STOP_GRACE);
    }
    if waiter.is_finished() {
        let _ = waiter.join();
    }
}

/// Finds a port free on 127.0.0.1 for both UDP and TCP, and releases it. A port is handed out
/// once per test process, so two servers started by parallel tests never share one (our server
/// binds with SO_REUSEPORT and would otherwise happily split the traffic with another). Ports
/// come from 20000-32767, below the kernel's ephemeral range (32768-60999 by default), so a
/// client or upstream socket of a parallel test cannot take the port between this check and the
/// server's bind.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let seed = std::process::id().wrapping_mul(2_654_435_761);
    for attempt in 0..2000u32 {
        let port = 20_000 + (seed.wrapping_add(attempt.wrapping_mul(7_919)) % 12_768) as u16;
        if given.contains(&port) {
            continue;
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if UdpSocket::bind(addr).is_ok() && TcpListener::bind(addr).is_ok() {
            given.push(port);
            return port;
        }
    }
    panic!("no free UDP+TCP port on 127.0.0.1 in 20000-32767");
}

/// Removes a test's scratch directory when dropped (also when the test panics).
pub struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty directory under the system temporary directory.
pub fn temp_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("portcullis-it-{}-{n}-{label}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// Finds an executable on PATH, or in the sbin directories Debian installs daemons into.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path).chain(extra).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// True when `CI=true`: missing tools then fail tests instead of skipping them.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Resolves the named tools, or returns `None` after printing why the test is skipped.
/// Panics under `CI=true`.
pub fn require(test: &str, tools: &[&str]) -> Option<Vec<PathBuf>> {
    require_in(in_ci(), test, tools)
}

fn require_in(ci: bool, test: &str, tools: &[&str]) -> Option<Vec<PathBuf>> {
    let found: Vec<Option<PathBuf>> = tools.iter().map(|t| find_binary(t)).collect();
    let missing: Vec<&str> = tools.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(t, _)| *t).collect();
    if missing.is_empty() {
        return Some(found.into_iter().flatten().collect());
    }
    let message = format!("{test}: missing {} (install: apt-get install knot nsd knot-dnsutils bind9-dnsutils)", missing.join(", "));
    assert!(!ci, "CI=true and {message}");
    println!("SKIPPED {message}");
    eprintln!("SKIPPED {message}");
    None
}

/// Starts NSD serving `zones` (the first is the readiness probe).
pub fn nsd(binary: &Path, zones: &[ZoneSpec]) -> Result<ServerProcess, String> {
    let dir = temp_dir("nsd");
    let port = free_port();
    let run = dir.display().to_string();
    let mut conf = format!(
        "server:\n    ip-address: 127.0.0.1@{port}\n    port: {port}\n    server-count: 1\n    username: \"\"\n    chroot: \"\"\n    \
         zonesdir: \"{run}\"\n    database: \"\"\n    zonelistfile: \"{run}/zone.list\"\n    xfrdfile: \"{run}/xfrd.state\"\n    \
         xfrdir: \"{run}\"\n    pidfile: \"{run}/nsd.pid\"\n    logfile: \"{run}/nsd.log\"\n    verbosity: 1\n    do-ip6: no\n    \
         rrl-ratelimit: 0\nremote-control:\n    control-enable: no\n"
    );
    for (index, zone) in zones.iter().enumerate() {
        let file = copy_zone(&dir, index, zone)?;
        let _ = write!(conf, "zone:\n    name: {}\n    zonefile: \"{}\"\n    provide-xfr: 127.0.0.0/8 NOKEY\n", zone.bare(), file.display());
    }
    let conf_path = dir.join("nsd.conf");
    fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
    let mut command = Command::new(binary);
    command.arg("-d").arg("-c").arg(&conf_path);
    ServerProcess::start("nsd", command, dir, SocketAddr::from(([127, 0, 0, 1], port)), &zones[0].origin)
}

/// Starts Knot serving `zones` (the first is the readiness probe).
pub fn knot(binary: &Path, zones: &[ZoneSpec]) -> Result<ServerProcess, String> {
    knot_with_keys(binary, zones, "", None)
}

/// [`knot`] that also knows the TSIG key (name, algorithm, base64 secret): it verifies and
/// signs queries and transfers that use it (Knot wants an ACL naming the key for that).
pub fn knot_with_key(binary: &Path, zones: &[ZoneSpec], key: (&str, &str, &str)) -> Result<ServerProcess, String> {
    let (name, algorithm, secret) = key;
    knot_with_keys(binary, zones, &format!("key:\n  - id: {name}\n    algorithm: {algorithm}\n    secret: {secret}\n"), Some(name))
}

/// [`knot_with_key`] whose zones only the key may transfer (queries stay open).
pub fn knot_requiring_key(binary: &Path, zones: &[ZoneSpec], key: (&str, &str, &str)) -> Result<ServerProcess, String> {
    let (name, algorithm, secret) = key;
    let keys = format!("key:\n  - id: {name}\n    algorithm: {algorithm}\n    secret: {secret}\n");
    let dir = temp_dir("knot");
    let port = free_port();
    let conf = knot_conf(&dir, port, &keys);
    let mut conf = conf.replacen("template:\n", &format!("  - id: signed\n    key: {name}\n    action: [query, transfer]\ntemplate:\n"), 1);
    for (index, zone) in zones.iter().enumerate() {
        let file = copy_zone(&dir, index, zone)?;
        let _ = write!(conf, "  - domain: {}\n    file: \"{}\"\n    acl: signed\n", zone.bare(), file.display());
    }
    start_knot(binary, dir, port, &conf, &zones[0].origin)
}

fn knot_with_keys(binary: &Path, zones: &[ZoneSpec], keys: &str, key: Option<&str>) -> Result<ServerProcess, String> {
    let dir = temp_dir("knot");
    let port = free_port();
    let mut conf = knot_conf(&dir, port, keys);
    let acl = match key {
        Some(name) => {
            let signed = format!("  - id: signed\n    key: {name}\n    action: [query, transfer]\n");
            conf = conf.replacen("template:\n", &format!("{signed}template:\n"), 1);
            "[transfer, signed]"
        }
        None => "transfer",
    };
    for (index, zone) in zones.iter().enumerate() {
        let file = copy_zone(&dir, index, zone)?;
        let _ = write!(conf, "  - domain: {}\n    file: \"{}\"\n    acl: {acl}\n", zone.bare(), file.display());
    }
    start_knot(binary, dir, port, &conf, &zones[0].origin)
}

/// Starts Knot serving `zones` and sending NOTIFY for them to `secondary`; its copy of the
/// first zone's file is `dir()/0-NAME.zone`.
pub fn knot_notifying(binary: &Path, zones: &[ZoneSpec], secondary: SocketAddr) -> Result<ServerProcess, String> {
    let remote = format!("remote:\n  - id: secondary\n    address: {}@{}\n", secondary.ip(), secondary.port());
    let dir = temp_dir("knot-primary");
    let port = free_port();
    let mut conf = knot_conf(&dir, port, &remote);
    for (index, zone) in zones.iter().enumerate() {
        let file = copy_zone(&dir, index, zone)?;
        let _ = write!(conf, "  - domain: {}\n    file: \"{}\"\n    acl: transfer\n    notify: secondary\n", zone.bare(), file.display());
    }
    start_knot(binary, dir, port, &conf, &zones[0].origin)
}

/// Starts Knot as a secondary of `origin` (a name ending in a dot), transferring it from
/// `primary` at start, with the TSIG key `key` (name, algorithm, base64 secret) when given; ready
/// once it answers for the zone.
pub fn knot_secondary(binary: &Path, origin: &str, primary: SocketAddr, key: Option<(&str, &str, &str)>) -> Result<ServerProcess, String> {
    let dir = temp_dir("knot-secondary");
    let port = free_port();
    let (keys, use_key) = match key {
        Some((name, algorithm, secret)) => (format!("key:\n  - id: {name}\n    algorithm: {algorithm}\n    secret: {secret}\n"), format!("    key: {name}\n")),
        None => (String::new(), String::new()),
    };
    let remote = format!("{keys}remote:\n  - id: primary\n    address: {}@{}\n{use_key}", primary.ip(), primary.port());
    let mut conf = knot_conf(&dir, port, &remote);
    let _ = write!(conf, "  - domain: {origin}\n    master: primary\n    acl: [transfer, notify]\n");
    start_knot(binary, dir, port, &conf, origin)
}

/// Knot's configuration up to its `zone:` list; loopback clients may transfer its zones.
pub fn knot_conf(dir: &Path, port: u16, extra: &str) -> String {
    let run = dir.display().to_string();
    format!(
        "server:\n    rundir: \"{run}\"\n    listen: 127.0.0.1@{port}\n    udp-workers: 1\n    tcp-workers: 1\n    \
         background-workers: 1\n    pidfile: \"{run}/knot.pid\"\ndatabase:\n    storage: \"{run}/knotdb\"\nlog:\n  - target: stderr\n    \
         any: warning\ncontrol:\n    listen: \"{run}/knot.sock\"\n{extra}acl:\n  - id: transfer\n    address: 127.0.0.0/8\n    \
         action: transfer\n  - id: notify\n    address: 127.0.0.0/8\n    action: notify\ntemplate:\n  - id: default\n    storage: \"{run}\"\n    zonefile-sync: -1\n    journal-content: none\nzone:\n"
    )
}

pub fn start_knot(binary: &Path, dir: PathBuf, port: u16, conf: &str, probe_zone: &str) -> Result<ServerProcess, String> {
    fs::create_dir_all(dir.join("knotdb")).map_err(|e| e.to_string())?;
    let conf_path = dir.join("knot.conf");
    fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
    let mut command = Command::new(binary);
    command.arg("-c").arg(&conf_path);
    ServerProcess::start("knot", command, dir, SocketAddr::from(([127, 0, 0, 1], port)), probe_zone)
}

/// Both reference servers, or `None` (skip) when they are not installed outside CI.
pub struct Peers {
    pub nsd: ServerProcess,
    pub knot: ServerProcess,
}

impl Peers {
    pub fn start(test: &str, zones: &[ZoneSpec]) -> Option<Self> {
        let binaries = require(test, &["nsd", "knotd"])?;
        let nsd = nsd(&binaries[0], zones).unwrap_or_else(|e| panic!("{e}"));
        let knot = knot(&binaries[1], zones).unwrap_or_else(|e| panic!("{e}"));
        Some(Self { nsd, knot })
    }
}

/// Copies a zone file into the server's directory (servers may want to write next to it).
fn copy_zone(dir: &Path, index: usize, zone: &ZoneSpec) -> Result<PathBuf, String> {
    let target = dir.join(format!("{index}-{}.zone", zone.bare()));
    fs::copy(&zone.file, &target).map_err(|e| format!("copy {}: {e}", zone.file.display()))?;
    Ok(target)
}

#[test]
fn missing_tools_skip_outside_ci() {
    assert!(require_in(false, "self-test", &["portcullis-no-such-tool"]).is_none());
    assert!(require_in(false, "self-test", &["sh"]).is_some_and(|found| found.len() == 1));
}

#[test]
#[should_panic(expected = "CI=true and self-test: missing portcullis-no-such-tool")]
fn missing_tools_fail_in_ci() {
    let _ = require_in(true, "self-test", &["portcullis-no-such-tool"]);
}

/// Runs `binary args` to completion within `timeout` (then kills it and fails the test); returns
/// stdout with stderr appended.
pub fn run_tool(binary: &Path, args: &[String], timeout: Duration) -> String {
    let child = Command::new(binary).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let child = child.unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(timeout) {
        Ok(result) => result.unwrap_or_else(|e| panic!("{}: {e}", binary.display())),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("{} {args:?} did not finish within {timeout:?}", binary.display());
        }
    };
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}
