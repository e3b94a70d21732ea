//! Three hosts (issue 18, "How it is proven"): network namespaces made by the test, joined by a
//! bridge in a fifth "switch" namespace, each host with its own address on 10.53.0.0/24 and port
//! 53:
//!
//! - `p` 10.53.0.1: the portcullis primary, a producer catalog zone `catalog.` and its members,
//!   open to TSIG-signed updates;
//! - `a` 10.53.0.2 and `b` 10.53.0.3: portcullis secondaries configured with the catalog only;
//! - `k` 10.53.0.4: a Knot secondary, the catalog only (`catalog-role: interpret`);
//! - `c` 10.53.0.9: the client the test's `dig` and `nsupdate` run from.
//!
//! A zone added, records changed by update, a zone deleted on the primary: every secondary
//! converges within [`CONVERGE_LIMIT`] of the primary's acknowledged change (the times are
//! measured and printed) and answers exactly as the primary does. Then secondary `a` is killed
//! with SIGKILL in a burst of updates and started again cut off from the network: it serves its
//! last copy at once; connected again, it catches up by IXFR.
//!
//! Needs root, `ip`, `dig`, `nsupdate` and `knotd`: without them the test prints `SKIPPED` and
//! passes, except under `CI=true`, where it fails. Every wait is a bounded poll; the namespaces
//! and the processes in them are removed on drop, also when the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "it/client.rs"]
mod client;
#[path = "it/peers.rs"]
mod peers;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use peers::{in_ci, require, temp_dir, RemoveOnDrop};

/// The portcullis binary under test.
const BINARY: &str = env!("CARGO_BIN_EXE_portcullis");
/// How soon after the primary's acknowledged change every secondary must answer the new data.
const CONVERGE_LIMIT: Duration = Duration::from_secs(2);
/// How long a poll waits before the test gives up (past the limit, to report the time).
const WAIT: Duration = Duration::from_secs(20);
/// Pause between two polls.
const POLL: Duration = Duration::from_millis(20);
/// The TSIG key updates are signed with.
const KEY: &str = "ddns.key.";
const SECRET: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";
/// The secondaries' addresses, told by NOTIFY.
const SECONDARIES: [&str; 3] = ["10.53.0.2", "10.53.0.3", "10.53.0.4"];
/// The catalog zone's file: SOA, NS and the version record only.
const CATALOG: &str = "$ORIGIN catalog.\n$TTL 0\n@ SOA invalid. invalid. 1 3600 600 2147483646 0\n@ NS invalid.\nversion TXT \"2\"\n";

/// Runs a command to completion within 20 s; returns whether it succeeded and its output
/// (stdout, then stderr).
fn run(program: &str, args: &[&str]) -> (bool, String) {
    let child = Command::new(program).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let child = child.unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(Ok(output)) = rx.recv_timeout(Duration::from_secs(20)) else {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        panic!("{program} {args:?} did not finish within 20 s");
    };
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// Runs `ip ARGS`, panicking with its output when it fails.
fn ip(args: &[&str]) {
    let (ok, out) = run("ip", args);
    assert!(ok, "ip {args:?} failed: {out}");
}

/// The test's namespaces (`PREFIX-s` the switch, `PREFIX-HOST` the hosts), deleted on drop with
/// every process still in them.
struct Net {
    prefix: String,
    hosts: Vec<&'static str>,
}

impl Net {
    /// Makes the switch and one namespace per `(host, address)`, each joined to the switch's
    /// bridge by a veth pair (`v-HOST` on the switch side, `eth0` on the host's).
    fn new(hosts: &[(&'static str, &str)]) -> Self {
        let mut net = Self { prefix: format!("pc3h-{}", std::process::id()), hosts: Vec::new() };
        let switch = net.ns("s");
        ip(&["netns", "add", &switch]);
        net.hosts.push("s");
        ip(&["-n", &switch, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &switch, "link", "set", "br0", "up"]);
        for (host, addr) in hosts {
            let ns = net.ns(host);
            ip(&["netns", "add", &ns]);
            net.hosts.push(host);
            let port = format!("v-{host}");
            ip(&["-n", &switch, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns]);
            ip(&["-n", &switch, "link", "set", &port, "master", "br0", "up"]);
            ip(&["-n", &ns, "addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        net
    }

    fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    /// Connects (`true`) or cuts off (`false`) `host`: its port on the switch goes up or down.
    fn link(&self, host: &str, up: bool) {
        ip(&["-n", &self.ns("s"), "link", "set", &format!("v-{host}"), if up { "up" } else { "down" }]);
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for host in &self.hosts {
            let ns = self.ns(host);
            let (_, pids) = run("ip", &["netns", "pids", &ns]);
            for pid in pids.split_whitespace().filter(|pid| pid.parse::<u32>().is_ok()) {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
    }
}

/// A server process in a host namespace; its logs (`run-N.log`, one per start) in `dir`.
struct Host {
    name: &'static str,
    ns: String,
    addr: &'static str,
    dir: PathBuf,
    child: Option<Child>,
    runs: usize,
}

impl Host {
    fn new(net: &Net, name: &'static str, addr: &'static str) -> Self {
        Self { name, ns: net.ns(name), addr, dir: temp_dir(&format!("three-hosts-{name}")), child: None, runs: 0 }
    }

    /// Starts `program ARGS` in the host's namespace, its output in a new log file.
    fn start(&mut self, program: &str, args: &[&str]) {
        self.runs += 1;
        let log = fs::File::create(self.log_path()).unwrap();
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.ns, program]).args(args).env("RUST_BACKTRACE", "1").env_remove("RUST_LOG");
        command.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        self.child = Some(command.spawn().unwrap_or_else(|e| panic!("{}: cannot start {command:?}: {e}", self.name)));
    }

    /// `portcullis serve --config DIR/portcullis.toml`.
    fn start_portcullis(&mut self) {
        let config = self.dir.join("portcullis.toml").display().to_string();
        self.start(BINARY, &["serve", "--config", &config]);
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(format!("run-{}.log", self.runs))
    }

    /// The log of the current run.
    fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Sends a signal by the process id (`ip netns exec` execs the program: same process).
    fn signal(&self, name: &str) {
        let pid = self.child.as_ref().map(Child::id).unwrap_or_else(|| panic!("{} is not running", self.name));
        let (ok, out) = run("kill", &[&format!("-{name}"), &pid.to_string()]);
        assert!(ok, "kill -{name} {pid}: {out}");
    }

    /// SIGKILL, and the exit reaped.
    fn kill(&mut self) {
        self.signal("KILL");
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while !matches!(child.try_wait(), Ok(Some(_)) | Err(_)) && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- {} log kept in {} (last lines) ---", self.name, self.dir.display());
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// What `server` answers to `questions` (name, type), asked with `dig` from namespace `from`:
/// per question its status and answer records, in order (no IDs, no timings).
fn ask(from: &str, server: &str, questions: &[(&str, &str)]) -> Vec<String> {
    let mut args = vec!["netns", "exec", from, "dig", "+norec", "+time=1", "+tries=1", "+noall", "+answer", "+comments"];
    let at = format!("@{server}");
    args.push(&at);
    for (name, rtype) in questions {
        args.extend([*name, *rtype]);
    }
    let (_, out) = run("ip", &args);
    let mut lines = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            lines.push(format!("status {}", rest.split(',').next().unwrap_or_default()));
        } else if !line.starts_with(';') && !line.trim().is_empty() {
            lines.push(line.to_owned());
        }
    }
    lines
}

/// The SOA serial `server` answers for `origin` with NOERROR, if it does.
fn serial(from: &str, server: &str, origin: &str) -> Option<u32> {
    let answer = ask(from, server, &[(origin, "SOA")]);
    if answer.first().map(String::as_str) != Some("status NOERROR") {
        return None;
    }
    answer.iter().find(|line| line.contains("\tSOA\t"))?.split_whitespace().nth(6)?.parse().ok()
}

/// The rcode `server` answers an SOA query for `origin` with ("" when nothing answered).
fn status(from: &str, server: &str, origin: &str) -> String {
    ask(from, server, &[(origin, "SOA")]).first().and_then(|line| line.strip_prefix("status ")).unwrap_or_default().to_owned()
}

/// Polls `pred` until it holds, at most [`WAIT`]; panics with `what` otherwise.
fn wait_until(what: &str, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !pred() {
        assert!(Instant::now() < deadline, "{what} (not within {WAIT:?})");
        std::thread::sleep(POLL);
    }
}

/// Polls every secondary at once until `converged(host)` holds for it; returns the time each
/// took since `acknowledged`, printed under `change`, and asserts each is within
/// [`CONVERGE_LIMIT`].
fn converge(change: &str, acknowledged: Instant, secondaries: &[&Host], converged: &(dyn Fn(&Host) -> bool + Sync)) -> Vec<Duration> {
    let times: Vec<Option<Duration>> = std::thread::scope(|scope| {
        let polls: Vec<_> = secondaries
            .iter()
            .map(|host| {
                scope.spawn(move || {
                    while acknowledged.elapsed() < WAIT {
                        if converged(host) {
                            return Some(acknowledged.elapsed());
                        }
                        std::thread::sleep(POLL);
                    }
                    None
                })
            })
            .collect();
        polls.into_iter().map(|poll| poll.join().unwrap_or(None)).collect()
    });
    let mut line = format!("converged after {change}:");
    for (host, time) in secondaries.iter().zip(&times) {
        let _ = write!(line, " {}={}", host.name, time.map_or("never".to_owned(), |t| format!("{} ms", t.as_millis())));
    }
    println!("{line}");
    for (host, time) in secondaries.iter().zip(&times) {
        let time = time.unwrap_or_else(|| panic!("{} never converged after {change} (within {WAIT:?})\n{}", host.name, host.log()));
        assert!(time <= CONVERGE_LIMIT, "{} took {time:?} after {change}, over {CONVERGE_LIMIT:?}", host.name);
    }
    times.into_iter().flatten().collect()
}

/// A member zone's text (serial 1).
fn member_text(origin: &str) -> String {
    format!("$ORIGIN {origin}\n$TTL 300\n@ SOA ns hostmaster 1 3600 60 604800 60\n@ NS ns\nns A 192.0.2.53\nwww A 192.0.2.1\nold TXT \"old\"\n")
}

/// The primary's configuration: the catalog and `members`, each a catalog member, told NOTIFY
/// to every secondary; updates signed with [`KEY`].
fn primary_config(dir: &Path, members: &[&str]) -> String {
    let notify = SECONDARIES.map(|addr| format!("\"{addr}:53\"")).join(", ");
    let mut text = format!(
        "[server]\nlisten = [\"10.53.0.1:53\"]\nthreads = 1\n\n[acl]\ntransfer = [\"10.53.0.0/24\"]\nupdate = [\"key {KEY}\"]\n\n\
         [[key]]\nname = \"{KEY}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\n\
         [[zone]]\norigin = \"catalog.\"\nfile = \"{}\"\ncatalog = \"producer\"\nnotify = [{notify}]\n",
        dir.join("catalog.zone").display()
    );
    for origin in members {
        let file = dir.join(format!("{origin}zone"));
        if !file.exists() {
            fs::write(&file, member_text(origin)).unwrap();
        }
        let _ = write!(text, "\n[[zone]]\norigin = \"{origin}\"\nfile = \"{}\"\ncatalog-member = \"catalog.\"\nnotify = [{notify}]\n", file.display());
    }
    text
}

/// A portcullis secondary's configuration: the consumer catalog zone only.
fn secondary_config(addr: &str) -> String {
    format!(
        "[server]\nlisten = [\"{addr}:53\"]\nthreads = 1\n\n[acl]\nnotify = [\"10.53.0.1\"]\n\n\
         [[zone]]\norigin = \"catalog.\"\nprimaries = [\"10.53.0.1:53\"]\ncatalog = \"consumer\"\n"
    )
}

/// Knot's configuration: the catalog only, interpreted, its members from the same primary.
fn knot_config(dir: &Path) -> String {
    let remote = "remote:\n  - id: primary\n    address: 10.53.0.1@53\n";
    let conf = peers::knot_conf(dir, 53, remote).replace("127.0.0.1@53", "10.53.0.4@53").replace("127.0.0.0/8", "10.53.0.1");
    let head = conf.strip_suffix("zone:\n").unwrap_or_else(|| panic!("Knot's configuration no longer ends with its zone list:\n{conf}"));
    format!(
        "{head}  - id: member\n    storage: \"{}\"\n    master: primary\n    acl: [transfer, notify]\n    zonefile-sync: -1\n    journal-content: none\n\
         zone:\n  - domain: catalog.\n    master: primary\n    acl: [transfer, notify]\n    catalog-role: interpret\n    catalog-template: member\n",
        dir.display()
    )
}

/// Sends one TSIG-signed update of `zone` (nsupdate commands `commands`) to the primary from the
/// client namespace; returns when it is answered NOERROR (panics otherwise).
fn update(net: &Net, dir: &Path, zone: &str, commands: &str) {
    let file = dir.join("update.txt");
    fs::write(&file, format!("server 10.53.0.1 53\nzone {zone}\n{commands}send\n")).unwrap();
    let key = format!("hmac-sha256:{KEY}:{SECRET}");
    let (ok, out) = run("ip", &["netns", "exec", &net.ns("c"), "nsupdate", "-y", &key, "-t", "5", &file.display().to_string()]);
    assert!(ok && !out.contains("failed"), "update of {zone} not acknowledged: {out}");
}

/// The questions whose answers must be the same everywhere.
fn questions(burst: usize) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &str)> = vec![("catalog.".into(), "SOA")];
    for zone in ["one.test.", "two.test."] {
        for (name, rtype) in [("", "SOA"), ("", "NS"), ("www.", "A"), ("old.", "TXT"), ("new.", "A")] {
            out.push((format!("{name}{zone}"), rtype));
        }
    }
    out.extend((0..burst).map(|n| (format!("b{n}.one.test."), "A")));
    out
}

/// Asserts that every secondary answers [`questions`] exactly as the primary does (the catalog
/// itself only on portcullis: Knot answers queries for it REFUSED).
fn assert_identical(net: &Net, primary: &Host, secondaries: &[&Host], burst: usize) {
    let client = net.ns("c");
    let all = questions(burst);
    let refs = |skip: usize| all[skip..].iter().map(|(name, rtype)| (name.as_str(), *rtype)).collect::<Vec<_>>();
    for host in secondaries {
        let skip = usize::from(host.name == "k");
        let expected = ask(&client, primary.addr, &refs(skip));
        assert!(
            expected.iter().filter(|line| line.starts_with("status ")).count() == all.len() - skip,
            "the primary did not answer every question: {expected:?}"
        );
        assert_eq!(ask(&client, host.addr, &refs(skip)), expected, "{} answers differently from the primary", host.name);
    }
}

/// The five namespaces and the four servers (fields drop in order: the servers, then the net).
struct Site {
    primary: Host,
    a: Host,
    b: Host,
    k: Host,
    scratch: RemoveOnDrop,
    client: String,
    net: Net,
}

impl Site {
    /// Makes the namespaces, starts the primary (serving `one.test.`), the two portcullis
    /// secondaries and Knot; returns once every secondary serves `one.test.` and the primary
    /// takes signals.
    fn start(knotd: &str) -> Self {
        let net = Net::new(&[("p", "10.53.0.1"), ("a", "10.53.0.2"), ("b", "10.53.0.3"), ("k", "10.53.0.4"), ("c", "10.53.0.9")]);
        let (primary, a, b, k) =
            (Host::new(&net, "p", "10.53.0.1"), Host::new(&net, "a", "10.53.0.2"), Host::new(&net, "b", "10.53.0.3"), Host::new(&net, "k", "10.53.0.4"));
        let mut site = Self { primary, a, b, k, scratch: RemoveOnDrop(temp_dir("three-hosts-client")), client: net.ns("c"), net };
        let dir = site.primary.dir.clone();
        fs::write(dir.join("catalog.zone"), CATALOG).unwrap();
        fs::write(dir.join("portcullis.toml"), primary_config(&dir, &["one.test."])).unwrap();
        site.primary.start_portcullis();
        wait_until("the primary serves one.test.", || site.serial(&site.primary, "one.test.").is_some());
        for host in [&mut site.a, &mut site.b] {
            fs::write(host.dir.join("portcullis.toml"), secondary_config(host.addr)).unwrap();
            host.start_portcullis();
        }
        fs::create_dir_all(site.k.dir.join("knotdb")).unwrap();
        fs::write(site.k.dir.join("knot.conf"), knot_config(&site.k.dir)).unwrap();
        let conf = site.k.dir.join("knot.conf").display().to_string();
        site.k.start(knotd, &["-c", &conf]);
        for host in site.secondaries() {
            wait_until(&format!("{} serves one.test.\n{}", host.name, host.log()), || site.serial(host, "one.test.") == Some(1));
        }
        site.assert_identical(0);
        wait_until("the primary's signal handlers are in place", || site.primary.log().contains("portcullis ready"));
        std::thread::sleep(Duration::from_millis(300)); // as harness.rs settle_signals: no event to await
        site
    }

    fn secondaries(&self) -> [&Host; 3] {
        [&self.a, &self.b, &self.k]
    }

    /// The serial `host` serves for `origin`, asked from the client.
    fn serial(&self, host: &Host, origin: &str) -> Option<u32> {
        serial(&self.client, host.addr, origin)
    }

    /// The rcode of `host`'s answer to an SOA query for `origin`, asked from the client.
    fn status(&self, host: &Host, origin: &str) -> String {
        status(&self.client, host.addr, origin)
    }

    /// Sends a signed update of `one.test.` and waits for its NOERROR.
    fn update(&self, commands: &str) {
        update(&self.net, &self.scratch.0, "one.test.", commands);
    }

    /// Writes the primary's configuration with `members` and reloads it (SIGHUP).
    fn reload_with(&self, members: &[&str]) {
        fs::write(self.primary.dir.join("portcullis.toml"), primary_config(&self.primary.dir, members)).unwrap();
        self.primary.signal("HUP");
    }

    /// Measures how long every secondary takes, after `acknowledged`, to satisfy `converged`;
    /// then checks that they all answer as the primary does (with `burst` names more).
    fn converge(&self, change: &str, acknowledged: Instant, burst: usize, converged: &(dyn Fn(&Host) -> bool + Sync)) -> Vec<Duration> {
        let times = converge(change, acknowledged, &self.secondaries(), converged);
        self.assert_identical(burst);
        times
    }

    fn assert_identical(&self, burst: usize) {
        assert_identical(&self.net, &self.primary, &self.secondaries(), burst);
    }
}

/// A zone added on the primary: listed in the catalog after a reload, served everywhere.
fn add_zone(site: &Site) -> Vec<Duration> {
    site.reload_with(&["one.test.", "two.test."]);
    wait_until("the primary serves two.test. and lists it", || {
        site.serial(&site.primary, "two.test.").is_some() && site.serial(&site.primary, "catalog.") == Some(2)
    });
    site.converge("a zone added", Instant::now(), 0, &|host| site.serial(host, "two.test.") == Some(1))
}

/// Records changed by one signed update (a TXT deleted, an A added, an A replaced).
fn change_records(site: &Site) -> Vec<Duration> {
    site.update(
        "update delete old.one.test. TXT\nupdate add new.one.test. 300 A 192.0.2.7\nupdate delete www.one.test. A\nupdate add www.one.test. 300 A 192.0.2.2\n",
    );
    let acknowledged = Instant::now();
    assert_eq!(site.serial(&site.primary, "one.test."), Some(2));
    site.converge("an update", acknowledged, 0, &|host| site.serial(host, "one.test.") == Some(2))
}

/// A zone deleted on the primary: gone from the catalog, REFUSED everywhere.
fn delete_zone(site: &Site) -> Vec<Duration> {
    site.reload_with(&["one.test."]);
    wait_until("the primary drops two.test.", || site.status(&site.primary, "two.test.") == "REFUSED" && site.serial(&site.primary, "catalog.") == Some(3));
    site.converge("a zone deleted", Instant::now(), 0, &|host| site.status(host, "two.test.") == "REFUSED")
}

/// Updates in the burst; `a` is killed (SIGKILL) after the 8th is acknowledged.
const BURST: usize = 20;

/// The burst, `a` killed in it, then started again cut off from the primary (its port on the
/// switch down): it serves its last copy at once. Connected again, one more update: every
/// secondary converges, `a` by IXFR.
fn kill_and_catch_up(site: &mut Site) -> Vec<Duration> {
    for n in 0..BURST {
        site.update(&format!("update add b{n}.one.test. 300 A 192.0.2.{}\n", n + 10));
        if n == 7 {
            site.a.kill();
            let a_ns = site.net.ns("a");
            wait_until("no process is left in a's namespace", || run("ip", &["netns", "pids", &a_ns]).1.trim().is_empty());
        }
    }
    let last = 2 + u32::try_from(BURST).unwrap();
    assert_eq!(site.serial(&site.primary, "one.test."), Some(last));
    site.net.link("a", false);
    let started = Instant::now();
    site.a.start_portcullis();
    let (a, a_ns) = (&site.a, site.net.ns("a"));
    wait_until(&format!("a serves its last copy of one.test. while cut off\n{}", a.log()), || {
        serial(&a_ns, a.addr, "one.test.").is_some_and(|kept| (2..=last).contains(&kept))
    });
    let served = started.elapsed();
    let kept = serial(&a_ns, a.addr, "one.test.").unwrap_or_default();
    println!("a, restarted after SIGKILL and cut off, served its kept copy (serial {kept}) {} ms after its start", served.as_millis());
    assert!(served <= CONVERGE_LIMIT, "a took {served:?} to serve its kept copy");
    assert_eq!(status(&a_ns, a.addr, "two.test."), "REFUSED", "the deleted zone stays gone on a");
    assert!(!a.log().contains("secondary zone transferred"), "a could not reach the primary\n{}", a.log());
    site.net.link("a", true);
    site.update("update add new.one.test. 300 A 192.0.2.8\n");
    let times = site.converge("the burst and a restart", Instant::now(), BURST, &|host| site.serial(host, "one.test.") == Some(last + 1));
    let log = site.a.log();
    let transferred =
        |method: &str| log.lines().any(|line| line.contains("secondary zone transferred") && line.contains("zone=one.test.") && line.contains(method));
    assert!(transferred("method=\"IXFR\""), "a caught up without IXFR\n{log}");
    assert!(!transferred("method=\"AXFR\""), "a fell back to AXFR\n{log}");
    times
}

/// Skips (prints why) when not root, or fails under `CI=true`; else the `knotd` path.
fn prerequisites(test: &str) -> Option<String> {
    if run("id", &["-u"]).1.trim() != "0" {
        let message = format!("{test}: needs root (network namespaces)");
        assert!(!in_ci(), "CI=true and {message}");
        println!("SKIPPED {message}");
        return None;
    }
    let tools = require(test, &["ip", "dig", "nsupdate", "knotd"])?;
    Some(tools[3].display().to_string())
}

#[test]
fn three_hosts_converge_within_two_seconds_and_a_killed_secondary_catches_up_by_ixfr() {
    let Some(knotd) = prerequisites("three_hosts_converge_within_two_seconds_and_a_killed_secondary_catches_up_by_ixfr") else { return };
    let mut site = Site::start(&knotd);
    let report = [
        ("zone added", add_zone(&site)),
        ("update", change_records(&site)),
        ("zone deleted", delete_zone(&site)),
        ("after SIGKILL", kill_and_catch_up(&mut site)),
    ];
    for (change, times) in &report {
        let times: Vec<String> = times.iter().map(|t| format!("{} ms", t.as_millis())).collect();
        println!("three hosts: {change}: a, b, k converged in {}", times.join(", "));
    }
}
