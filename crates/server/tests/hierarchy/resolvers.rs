//! Resolvers under test on the loopback hierarchy: a child process killed on drop, started with
//! its logs in a directory and awaited until it answers; Unbound's configuration for the
//! hierarchy (iterator only, one thread, the same root hints as portcullis).

use std::fmt::Write as _;
use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed on drop (portcullis, Unbound).
pub struct Process {
    pub name: &'static str,
    pub child: Child,
    pub dir: PathBuf,
}

impl Process {
    pub fn spawn(name: &'static str, mut command: Command, dir: PathBuf) -> Self {
        let stdout = fs::File::create(dir.join("stdout.log")).unwrap();
        let stderr = fs::File::create(dir.join("stderr.log")).unwrap();
        command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        let child = command.spawn().unwrap_or_else(|e| panic!("{name}: cannot start: {e}"));
        Self { name, child, dir }
    }

    /// The last 30 lines of stdout and stderr.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for file in ["stdout.log", "stderr.log"] {
            if let Ok(text) = fs::read_to_string(self.dir.join(file)) {
                let lines: Vec<&str> = text.lines().rev().take(30).collect();
                let _ = writeln!(out, "--- {} {file} ---", self.name);
                for line in lines.into_iter().rev() {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        out
    }

    /// The whole of stderr.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// Waits until `server` answers an RD=1 SOA query for `probe` (any rcode).
    pub fn wait_ready(&mut self, server: SocketAddr, probe: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status})\n{}", self.name, self.logs());
            }
            if answers(server, probe) {
                return;
            }
        }
        panic!("{} at {server} never answered\n{}", self.name, self.logs());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// True when `server` replies to an RD=1 SOA query for `name` within 300 ms.
fn answers(server: SocketAddr, name: &str) -> bool {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else { return false };
    if socket.connect(server).is_err() || socket.set_read_timeout(Some(Duration::from_millis(300))).is_err() {
        return false;
    }
    let mut query = vec![0x51, 0x7e, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.').filter(|label| !label.is_empty()) {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 6, 0, 1]);
    let mut reply = [0u8; 512];
    socket.send(&query).is_ok() && socket.recv(&mut reply).is_ok_and(|len| len >= 12 && reply[..2] == query[..2])
}

/// Starts portcullis on `listen` with the default resolver settings (one UDP worker), resolving
/// from the root servers of `hints`; ready when it answers `probe`.
pub fn start_portcullis(dir: &Path, hints: &Path, listen: SocketAddr, probe: &str) -> Process {
    start_portcullis_with(dir, hints, listen, probe, "")
}

/// [`start_portcullis`] with more `[resolver]` lines (`extra`, e.g. a trust-anchor file).
pub fn start_portcullis_with(dir: &Path, hints: &Path, listen: SocketAddr, probe: &str, extra: &str) -> Process {
    let config = dir.join("portcullis.toml");
    let text = format!(
        "[server]\nlisten = [\"{listen}\"]\nthreads = 1\n\n[resolver]\nrecursion = true\nroot-hints = \"{}\"\n\
         do-not-query-localhost = false\nallow-recursion = [\"127.0.0.1/32\"]\nuse-ipv6 = false\n{extra}",
        hints.display()
    );
    fs::write(&config, text).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.arg("serve").arg("--config").arg(&config).env("RUST_LOG", "info");
    let mut process = Process::spawn("portcullis", command, dir.to_path_buf());
    process.wait_ready(listen, probe);
    process
}

/// Starts Unbound on `listen`, resolving from the root servers of `hints`; ready when it answers
/// `probe`.
pub fn start_unbound(binary: &Path, dir: &Path, hints: &Path, listen: SocketAddr, probe: &str) -> Process {
    let config = dir.join("unbound.conf");
    let text = format!(
        "server:\n    interface: {ip}@{port}\n    port: {port}\n    do-ip6: no\n    do-daemonize: no\n    chroot: \"\"\n    \
         username: \"\"\n    directory: \"{dir}\"\n    pidfile: \"{dir}/unbound.pid\"\n    use-syslog: no\n    logfile: \"\"\n    \
         verbosity: 0\n    root-hints: \"{hints}\"\n    do-not-query-localhost: no\n    qname-minimisation: yes\n    \
         module-config: \"iterator\"\n    access-control: 127.0.0.0/8 allow\n    num-threads: 1\n    \
         harden-referral-path: no\n    prefetch: no\n    minimal-responses: yes\n    trust-anchor-signaling: no\n    \
         root-key-sentinel: no\nremote-control:\n    control-enable: no\n",
        ip = listen.ip(),
        port = listen.port(),
        dir = dir.display(),
        hints = hints.display()
    );
    fs::write(&config, text).unwrap();
    let mut command = Command::new(binary);
    command.arg("-d").arg("-c").arg(&config);
    let mut process = Process::spawn("unbound", command, dir.to_path_buf());
    process.wait_ready(listen, probe);
    process
}

/// Starts PowerDNS Recursor on `listen` (one thread, no DNSSEC, loopback servers allowed),
/// resolving from the root servers of `hints`; ready when it answers `probe`.
pub fn start_pdns_recursor(binary: &Path, dir: &Path, hints: &Path, listen: SocketAddr, probe: &str) -> Process {
    let text = format!(
        "local-address={ip}\nlocal-port={port}\nhint-file={hints}\ndont-query=\nthreads=1\npdns-distributes-queries=no\n\
         dnssec=off\nsecurity-poll-suffix=\nsocket-dir={dir}\ndaemon=no\nquiet=yes\ndisable-syslog=yes\nloglevel=3\n\
         allow-from=127.0.0.0/8\n",
        ip = listen.ip(),
        port = listen.port(),
        dir = dir.display(),
        hints = hints.display()
    );
    fs::write(dir.join("recursor.conf"), text).unwrap();
    let mut command = Command::new(binary);
    command.arg(format!("--config-dir={}", dir.display()));
    let mut process = Process::spawn("pdns_recursor", command, dir.to_path_buf());
    process.wait_ready(listen, probe);
    process
}

/// Starts Knot Resolver on `listen` (one process, no trust anchor) with the root server at
/// `root`; ready when it answers `probe`.
pub fn start_kresd(binary: &Path, dir: &Path, root: std::net::IpAddr, listen: SocketAddr, probe: &str) -> Process {
    let text = format!(
        "net.ipv6 = false\nnet.listen('{ip}', {port}, {{ kind = 'dns' }})\ncache.open(256 * MB, 'lmdb://{dir}/cache')\n\
         trust_anchors.remove('.')\nmodules.load('hints > iterate')\nhints.root({{ ['a.rootns.'] = '{root}' }})\n",
        ip = listen.ip(),
        port = listen.port(),
        dir = dir.display()
    );
    let config = dir.join("kresd.conf");
    fs::write(&config, text).unwrap();
    let mut command = Command::new(binary);
    command.arg("-n").arg("-c").arg(&config).arg(dir);
    let mut process = Process::spawn("kresd", command, dir.to_path_buf());
    process.wait_ready(listen, probe);
    process
}

/// `portcullis ctl alerts --json` (what `/api/alerts` serves) of the server run by `config`.
pub fn alerts(config: &Path) -> Vec<serde_json::Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_portcullis")).arg("ctl").arg("--config").arg(config).args(["alerts", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    list.as_array().cloned().unwrap_or_default()
}

/// Polls the alerts (drained once a second) until one of `kind` (about `domain`, when given) is
/// listed, at most 10 s.
pub fn wait_alert(config: &Path, kind: &str, domain: Option<&str>) -> Option<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let found = alerts(config).into_iter().find(|alert| alert["kind"] == kind && domain.is_none_or(|domain| alert["domain"] == domain));
        if found.is_some() {
            return found;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}
