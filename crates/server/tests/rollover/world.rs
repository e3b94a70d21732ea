//! The world of the rollover test: a parent zone signed offline and served by one portcullis,
//! the signed children served by another under a fake key clock, the parent's DS maintained from
//! the children's CDS as a parent operator following RFC 7344 would, and a validating Unbound
//! asked after every step. See `tests/rollover.rs` for why the waits are honest.

use crate::client::{self, Query};
use crate::peers::Killed;
use crate::peers::{free_port, run_tool, spawn_answering, ServerProcess};
use portcullis_wire::message::{decompress_rdata, Message, Section};
use portcullis_wire::rdata::rdata_to_text;
use portcullis_wire::Rtype;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const BINARY: &str = env!("CARGO_BIN_EXE_portcullis");
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest TTL of the served zones (parent and children), in seconds.
pub const TTL: u64 = 2;
/// How long after a change the resolver is asked the second time: the 1 s TTLs expired, the
/// 2 s ones did not, so the answers mix what was cached before the change with what is served
/// after it (old DNSKEYs with new data in one child, old data with new DNSKEYs in the other).
const MIXED: Duration = Duration::from_millis(1200);
/// The longest any cache may hold what a server stopped serving, in real time: the TTL and a
/// margin (each server is one process; a change is served when the test sees it). Also more
/// than [`MIXED`] + [`TTL`]: what the resolver fetched at the mixed check has expired at the
/// last check, so that check fetches everything afresh and the next change meets caches that
/// all hold the state just before it.
pub const CACHE_BOUND: Duration = Duration::from_millis(TTL * 1000 + 1500);
/// How long a served change may take to show (a reload signs two small zones).
const SERVE_BOUND: Duration = Duration::from_secs(20);
/// The environment variable of the server's key clock test hook.
const KEY_CLOCK: &str = "PORTCULLIS_KEY_CLOCK_FILE";

/// The children: origin, policy name, TTL of the zone's records, DNSKEY TTL (`dnskey-ttl`).
pub const ZONES: [(&str, &str, u64, u64); 2] = [("split.example.", "split", 1, 2), ("csk.example.", "csk", 2, 1)];

/// The rolling policies' settings that the phases change.
#[derive(Clone, Debug, Default)]
pub struct Policies {
    pub split_zsk_lifetime: u64,
    pub split_ksk_lifetime: u64,
    pub csk_lifetime: u64,
    pub csk_algorithm: &'static str,
}

pub struct World {
    pub dir: PathBuf,
    dig: PathBuf,
    parent: ServerProcess,
    parent_serial: u32,
    parent_keys: [String; 2],
    child: Option<ServerProcess>,
    child_addr: SocketAddr,
    child_serial: u32,
    clock_file: PathBuf,
    /// The key clock's time (unix seconds).
    pub now: u64,
    /// Its time at the start.
    t0: u64,
    /// When the last change was first served (parent or children), in real time.
    changed: Instant,
    /// Per child, the DS lines the parent publishes (owner, TTL, class, type and rdata).
    parent_ds: BTreeMap<&'static str, BTreeSet<String>>,
    /// Per child, the key tags recorded with `ds-seen`.
    pub seen: BTreeSet<(&'static str, u16)>,
    unbound: Option<(Killed, SocketAddr, PathBuf)>,
    /// Steps taken (clock steps and parent actions), for the messages.
    pub steps: Vec<String>,
}

impl World {
    /// Signs and serves the parent, starts the children's server with `policies` at the
    /// current time, and a validating Unbound with the parent's DS as its trust anchor.
    pub fn start(dir: PathBuf, unbound: &Path, dig: &Path, policies: &Policies) -> Self {
        let keys = dir.join("parent-keys");
        let keys = keys.to_str().unwrap().to_owned();
        let base = |args: &[&str]| {
            let base = portcullis(args, None).trim().to_owned();
            if base.starts_with('/') {
                base
            } else {
                format!("{keys}/{base}")
            }
        };
        let parent_keys = [base(&["keygen", "--ksk", "-K", &keys, "example."]), base(&["keygen", "-K", &keys, "example."])];
        let anchor = portcullis(&["dnssec", "ds", "example.", "--key", &parent_keys[0]], None);
        let clock_file = dir.join("key-clock");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        fs::write(&clock_file, now.to_string()).unwrap();
        let child_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let parent_serial = 1;
        let signed = sign_parent(&dir, &parent_keys, &BTreeMap::new(), parent_serial);
        let parent = serve_parent(&dir, &signed);
        let mut world = Self {
            dir,
            dig: dig.to_path_buf(),
            parent,
            parent_serial,
            parent_keys,
            child: None,
            child_addr,
            child_serial: 1000,
            clock_file,
            now,
            t0: now,
            changed: Instant::now(),
            parent_ds: BTreeMap::new(),
            seen: BTreeSet::new(),
            unbound: None,
            steps: Vec::new(),
        };
        world.write_children(policies);
        world.start_children();
        world.unbound = Some(start_unbound(unbound, &world.dir, &anchor, world.parent.addr, child_addr));
        world
    }

    /// The children's configuration, zone files (at serial `child_serial`) and key directory.
    fn write_children(&self, policies: &Policies) {
        let policy = |index: usize, keys: &str, algorithm: &str, ksk: u64, zsk: u64| {
            let (_, name, _, dnskey_ttl) = ZONES[index];
            format!(
                "[[dnssec-policy]]\nname = \"{name}\"\nkeys = \"{keys}\"\nalgorithm = \"{algorithm}\"\nksk-lifetime = {ksk}\nzsk-lifetime = {zsk}\n\
                 dnskey-ttl = {dnskey_ttl}\nzone-propagation-delay = 1\nparent-ds-ttl = 60\nparent-propagation-delay = 1\n"
            )
        };
        let mut config = format!("[server]\nlisten = [\"{}\"]\nthreads = 1\nkey-directory = \"keys\"\n", self.child_addr);
        for (origin, name, ttl, _) in ZONES {
            config.push_str(&format!("[[zone]]\norigin = \"{origin}\"\nfile = \"{name}.zone\"\ndnssec-policy = \"{name}\"\n"));
            let zone = format!(
                "$ORIGIN {origin}\n$TTL {ttl}\n@ SOA ns hostmaster {} 7200 3600 1209600 {ttl}\n@ NS ns\nns A 127.0.0.1\nwww A 192.0.2.1\n",
                self.child_serial
            );
            fs::write(self.dir.join(format!("{name}.zone")), zone).unwrap();
        }
        config.push_str(&policy(0, "ksk-zsk", "ecdsap256sha256", policies.split_ksk_lifetime, policies.split_zsk_lifetime));
        let algorithm = if policies.csk_algorithm.is_empty() { "ecdsap256sha256" } else { policies.csk_algorithm };
        config.push_str(&policy(1, "csk", algorithm, policies.csk_lifetime, 0));
        fs::write(self.config(), config).unwrap();
    }

    pub fn config(&self) -> PathBuf {
        self.dir.join("children.toml")
    }

    pub fn key_dir(&self) -> PathBuf {
        self.dir.join("keys")
    }

    fn start_children(&mut self) {
        let logs = self.dir.join(format!("children-logs-{}", self.steps.len()));
        fs::create_dir_all(&logs).unwrap();
        let mut command = Command::new(BINARY);
        command.current_dir(&self.dir).env(KEY_CLOCK, &self.clock_file).arg("serve").arg("--config").arg(self.config());
        let server = ServerProcess::start("portcullis (children)", command, logs, self.child_addr, ZONES[0].0).unwrap_or_else(|e| panic!("{e}"));
        self.child = Some(server);
        self.changed = Instant::now();
    }

    /// Stops the children's server and starts it again on the same address and directory.
    pub fn restart_children(&mut self) {
        self.child = None;
        self.start_children();
    }

    /// The server's logs, for failure messages.
    pub fn logs(&self) -> String {
        let unbound = self.unbound.as_ref().map(|(_, _, log)| fs::read_to_string(log).unwrap_or_default()).unwrap_or_default();
        let tail: Vec<&str> = unbound.lines().rev().take(30).collect();
        let children = self.child.as_ref().map(ServerProcess::logs).unwrap_or_default();
        format!("steps: {:#?}\n{children}\n--- unbound (last lines) ---\n{}", self.steps, tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
    }

    /// Runs `portcullis dnssec ...` under the key clock; returns its output.
    pub fn dnssec(&self, args: &[&str]) -> String {
        let mut all = vec!["dnssec"];
        all.extend_from_slice(args);
        let config = self.config();
        all.extend_from_slice(&["--config", config.to_str().unwrap()]);
        portcullis(&all, Some(&self.clock_file))
    }

    /// The planner's next event over every child, from `dnssec status`.
    pub fn next_event(&self) -> Option<u64> {
        ZONES.iter().filter_map(|(origin, ..)| next_planning(&self.dnssec(&["status", origin]))).min()
    }

    /// Makes the children's server plan again at the key clock's time (and `policies`): new
    /// zone files (a new serial), SIGHUP, and waits until both zones serve it.
    pub fn reload_children(&mut self, policies: &Policies) {
        self.child_serial += 1000;
        self.write_children(policies);
        let pid = self.child.as_ref().and_then(ServerProcess::pid).unwrap();
        signal_hup(pid);
        self.await_children();
    }

    fn await_children(&mut self) {
        for (origin, ..) in ZONES {
            await_serial(self.child_addr, origin, self.child_serial, || self.logs());
        }
        self.changed = Instant::now();
    }

    /// Moves the key clock to `to`, once the real time since the last change covers every cache
    /// the planner counts as expired by then (see `tests/rollover.rs`), and reloads.
    pub fn step_clock(&mut self, to: u64, policies: &Policies, secure: bool) {
        let owed = Duration::from_secs(to.saturating_sub(self.now)).min(CACHE_BOUND);
        if let Some(rest) = owed.checked_sub(self.changed.elapsed()) {
            // Waiting for caches to expire is a real-time requirement, not an event.
            std::thread::sleep(rest);
        }
        // The resolver's caches get the state just before the change (see `check_resolver_thrice`).
        self.check_resolver(secure);
        self.now = to;
        fs::write(&self.clock_file, to.to_string()).unwrap();
        self.steps.push(format!("key clock t0+{}", to - self.t0));
        self.reload_children(policies);
    }

    /// The parent's side of RFC 7344: its DS set for each child becomes the child's CDS set
    /// (when the child publishes one); then `ds-seen` for the keys that came and `ds-gone` for
    /// those that left, each checked to be what `dnssec status` asks for, the last one sending
    /// SIGHUP itself (`--pid`). Returns true when anything changed.
    pub fn act_as_parent(&mut self, policies: &Policies, secure: bool) -> bool {
        let mut events: Vec<(&'static str, &'static str, u16)> = Vec::new();
        let mut changed = false;
        for (origin, ..) in ZONES {
            let cds = self.cds(origin);
            let old = self.parent_ds.get(origin).cloned().unwrap_or_default();
            if cds.is_empty() || cds == old {
                continue;
            }
            events.extend(cds.difference(&old).map(|line| ("ds-seen", origin, tag_of(line))));
            events.extend(old.difference(&cds).map(|line| ("ds-gone", origin, tag_of(line))));
            self.parent_ds.insert(origin, cds);
            changed = true;
        }
        if !changed {
            return false;
        }
        // The resolver's caches get the state just before the change (see `check_resolver_thrice`).
        self.check_resolver(secure);
        self.parent_serial += 1;
        sign_parent(&self.dir, &self.parent_keys, &self.parent_ds, self.parent_serial);
        signal_hup(self.parent.pid().unwrap());
        await_serial(self.parent.addr, "example.", self.parent_serial, || self.parent.logs());
        self.changed = Instant::now();
        self.steps.push(format!("parent DS now {:?}", self.parent_ds.values().flatten().map(|l| tag_of(l)).collect::<Vec<_>>()));
        // The next reload's zone files first, so that the last command's SIGHUP serves them.
        self.child_serial += 1000;
        self.write_children(policies);
        let pid = self.child.as_ref().and_then(ServerProcess::pid).unwrap().to_string();
        for (index, &(command, origin, tag)) in events.iter().enumerate() {
            let status = self.dnssec(&["status", origin]);
            let asked = format!("dnssec {command} {origin} {tag}");
            assert!(status.contains(&asked), "`dnssec status {origin}` does not ask for `{asked}`:\n{status}\n{}", self.logs());
            let tag = tag.to_string();
            let mut args = vec![command, origin, &tag];
            if index + 1 == events.len() {
                args.extend_from_slice(&["--pid", &pid]);
            }
            let out = self.dnssec(&args);
            assert!(index + 1 < events.len() || out.contains("(SIGHUP)"), "{out}");
            if command == "ds-seen" {
                self.seen.insert((origin, tag.parse().unwrap()));
            }
            self.steps.push(format!("{command} {origin} {tag}"));
        }
        self.await_children();
        true
    }

    /// The CDS records a child serves, as the parent's DS lines.
    fn cds(&self, origin: &str) -> BTreeSet<String> {
        let reply = client::udp(self.child_addr, &Query::new(origin, Rtype::CDS)).unwrap();
        answer_lines(&reply).into_iter().filter(|(rtype, _)| *rtype == Rtype::CDS).map(|(_, rdata)| format!("{origin} {TTL} IN DS {rdata}")).collect()
    }

    /// The DNSKEY rdata a child serves.
    pub fn dnskeys(&self, origin: &str) -> BTreeSet<String> {
        let reply = client::udp(self.child_addr, &Query::new(origin, Rtype::DNSKEY)).unwrap();
        answer_lines(&reply).into_iter().filter(|(rtype, _)| *rtype == Rtype::DNSKEY).map(|(_, rdata)| rdata).collect()
    }

    /// Asks Unbound for a positive answer, an NXDOMAIN and the DNSKEY RRset of every child and
    /// for the parent's SOA: never SERVFAIL, the expected rcode, and AD=1 when `secure`.
    pub fn check_resolver(&self, secure: bool) {
        let (_, addr, _) = self.unbound.as_ref().unwrap();
        let mut failures = Vec::new();
        let mut cases = vec![("example.".to_owned(), "SOA", "NOERROR")];
        for (origin, ..) in ZONES {
            cases.extend([(format!("www.{origin}"), "A", "NOERROR"), (format!("nope.{origin}"), "A", "NXDOMAIN"), (origin.to_owned(), "DNSKEY", "NOERROR")]);
        }
        for (name, rtype, rcode) in &cases {
            let args = ["@127.0.0.1", "-p", &addr.port().to_string(), "+dnssec", "+tries=1", "+time=10", name, rtype].map(String::from);
            let out = run_tool(&self.dig, &args, TOOL_TIMEOUT);
            let status = out.split("status: ").nth(1).and_then(|rest| rest.split(',').next()).unwrap_or("none").to_owned();
            let ad = out.split("flags:").nth(1).and_then(|rest| rest.split(';').next()).unwrap_or("").split_whitespace().any(|flag| flag == "ad");
            if status != *rcode || (secure && !ad) {
                failures.push(format!("{name} {rtype}: {status} ad={ad}, expected {rcode}{}", if secure { " ad=true" } else { "" }));
            }
        }
        // Unbound logs every validation failure (val-log-level 2), also one it recovered from by
        // asking again: none may have happened.
        let log = fs::read_to_string(&self.unbound.as_ref().unwrap().2).unwrap_or_default();
        failures.extend(log.lines().filter(|line| line.contains("validation failure")).map(str::to_owned));
        assert!(failures.is_empty(), "after {:?}: {failures:#?}\n{}", self.steps.last(), self.logs());
    }

    /// Asks the resolver at once (caches hold the state before the last change), [`MIXED`]
    /// after the change (cached and served states mixed) and once every cache dropped the old
    /// state ([`CACHE_BOUND`] after the change: the served state alone).
    pub fn check_resolver_thrice(&self, secure: bool) {
        self.check_resolver(secure);
        for after in [MIXED, CACHE_BOUND] {
            if let Some(rest) = after.checked_sub(self.changed.elapsed()) {
                // Waiting for caches to expire is a real-time requirement, not an event.
                std::thread::sleep(rest);
            }
            self.check_resolver(secure);
        }
    }

    /// The key tags in a child's key directory (not moved to `removed/`) and in `removed/`.
    pub fn key_tags(&self, origin: &str) -> (BTreeSet<u16>, BTreeSet<u16>) {
        let tags_in = |dir: &Path| -> BTreeSet<u16> {
            let prefix = format!("K{origin}+");
            fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                        .filter(|name| name.starts_with(&prefix) && name.ends_with(".keystate"))
                        .filter_map(|name| name.trim_end_matches(".keystate").rsplit('+').next().and_then(|tag| tag.parse().ok()))
                        .collect()
                })
                .unwrap_or_default()
        };
        (tags_in(&self.key_dir()), tags_in(&self.key_dir().join("removed")))
    }

    /// Every `.keystate` file of the key directory with its text.
    pub fn key_states(&self) -> BTreeMap<String, String> {
        fs::read_dir(self.key_dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".keystate"))
            .map(|e| (e.file_name().to_string_lossy().into_owned(), fs::read_to_string(e.path()).unwrap()))
            .collect()
    }
}

/// Runs portcullis with `args` (and the key clock hook when given); panics unless it succeeds.
fn portcullis(args: &[&str], clock: Option<&Path>) -> String {
    let mut command = Command::new(BINARY);
    command.args(args);
    if let Some(clock) = clock {
        command.env(KEY_CLOCK, clock);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "portcullis {args:?}: {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The parent zone with delegations to both children and `ds`, signed with `keys` at `serial`.
fn sign_parent(dir: &Path, keys: &[String; 2], ds: &BTreeMap<&'static str, BTreeSet<String>>, serial: u32) -> PathBuf {
    let mut text = format!("$ORIGIN example.\n$TTL {TTL}\n@ SOA ns1 hostmaster {serial} 7200 3600 1209600 {TTL}\n@ NS ns1\nns1 A 127.0.0.1\n");
    for (origin, ..) in ZONES {
        text.push_str(&format!("{origin} NS ns.{origin}\nns.{origin} A 127.0.0.1\n"));
    }
    for line in ds.values().flatten() {
        text.push_str(line);
        text.push('\n');
    }
    let input = dir.join("example.zone");
    fs::write(&input, text).unwrap();
    let output = dir.join("example.signed");
    portcullis(&["sign-zone", "--key", &keys[0], "--key", &keys[1], "-o", output.to_str().unwrap(), "example.", input.to_str().unwrap()], None);
    output
}

fn serve_parent(dir: &Path, signed: &Path) -> ServerProcess {
    let logs = dir.join("parent-logs");
    fs::create_dir_all(&logs).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut command = Command::new(BINARY);
    command.arg("serve").arg("--listen").arg(addr.to_string()).arg("--threads").arg("1").arg("--zone").arg(format!("example.={}", signed.display()));
    ServerProcess::start("portcullis (parent)", command, logs, addr, "example.").unwrap_or_else(|e| panic!("{e}"))
}

fn signal_hup(pid: u32) {
    let status = Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap();
    assert!(status.success(), "kill -HUP {pid}");
}

/// Waits (bounded) until `server` serves `origin` with SOA serial `serial` or later.
fn await_serial(server: SocketAddr, origin: &str, serial: u32, logs: impl Fn() -> String) {
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < SERVE_BOUND {
        let reply = client::udp(server, &Query::new(origin, Rtype::SOA)).ok();
        last = reply.as_deref().and_then(|reply| answer_lines(reply).into_iter().find(|(rtype, _)| *rtype == Rtype::SOA));
        let served = last.as_ref().and_then(|(_, rdata)| rdata.split_whitespace().nth(2)?.parse::<u32>().ok());
        if served.is_some_and(|served| served.wrapping_sub(serial) < 0x8000_0000) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{origin} at {server}: serial {serial} not served within {SERVE_BOUND:?} (last SOA {last:?})\n{}", logs());
}

/// The answer section's records: type and rdata text.
fn answer_lines(reply: &[u8]) -> Vec<(Rtype, String)> {
    let message = Message::parse(reply).unwrap();
    message
        .records(Section::Answer)
        .map(|record| {
            let mut rdata = Vec::new();
            decompress_rdata(message.bytes(), &record, &mut rdata).unwrap();
            let mut text = String::new();
            // CDS has DS's presentation form (RFC 7344 §3.1).
            let shown = if record.rtype == Rtype::CDS { Rtype::DS } else { record.rtype };
            rdata_to_text(shown, &rdata, &mut text).unwrap();
            (record.rtype, text)
        })
        .collect()
}

/// The key tag of a DS line (`owner ttl IN DS tag ...`).
fn tag_of(line: &str) -> u16 {
    line.split_whitespace().nth(4).and_then(|tag| tag.parse().ok()).unwrap()
}

/// The time of "next planning" in `dnssec status` output, if scheduled.
fn next_planning(status: &str) -> Option<u64> {
    let at = status.lines().next()?.split("next planning ").nth(1)?;
    let digits: String = at.chars().take(19).filter(char::is_ascii_digit).collect();
    portcullis_dnssec::keystate::parse_time(&digits).ok()
}

fn start_unbound(binary: &Path, dir: &Path, anchor: &str, parent: SocketAddr, children: SocketAddr) -> (Killed, SocketAddr, PathBuf) {
    let dir = dir.join("unbound");
    fs::create_dir_all(&dir).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let anchors: String = anchor.lines().filter(|line| !line.trim().is_empty()).map(|line| format!("    trust-anchor: \"{line}\"\n")).collect();
    let stub = |name: &str, server: SocketAddr| format!("stub-zone:\n    name: \"{name}\"\n    stub-addr: {}@{}\n", server.ip(), server.port());
    let stubs: String = std::iter::once(stub("example.", parent)).chain(ZONES.iter().map(|(origin, ..)| stub(origin, children))).collect();
    let text = format!(
        "server:\n    interface: {ip}@{port}\n    port: {port}\n    do-ip6: no\n    do-daemonize: no\n    chroot: \"\"\n    \
         username: \"\"\n    directory: \"{dir}\"\n    pidfile: \"{dir}/unbound.pid\"\n    use-syslog: no\n    logfile: \"\"\n    \
         verbosity: 1\n    val-log-level: 2\n    do-not-query-localhost: no\n    module-config: \"validator iterator\"\n    \
         access-control: 127.0.0.0/8 allow\n    num-threads: 1\n    prefetch: no\n    prefetch-key: no\n    qname-minimisation: no\n    \
         trust-anchor-signaling: no\n    root-key-sentinel: no\n    val-permissive-mode: no\n    cache-min-ttl: 0\n    val-max-restart: 0\n{anchors}remote-control:\n    \
         control-enable: no\n{stubs}",
        ip = addr.ip(),
        port = addr.port(),
        dir = dir.display(),
    );
    let config = dir.join("unbound.conf");
    fs::write(&config, text).unwrap();
    let log = dir.join("unbound.log");
    let mut command = Command::new(binary);
    command.arg("-d").arg("-c").arg(&config);
    let process = spawn_answering("unbound", command, &log, addr, "example.");
    (process, addr, log)
}
