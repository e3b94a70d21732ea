//! A handle on one `portcullis serve` process for the lifecycle and hostile-TCP tests: started
//! from a configuration file (or any arguments), its PID for signals and /proc, its stderr for
//! log assertions, its exit status. Stopped (SIGTERM, then SIGKILL) and its directory removed on
//! drop. Every wait is bounded.

use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use portcullis_wire::message::Message;
use portcullis_wire::{Rcode, Rtype};

use crate::client::{self, Query};
use crate::peers::{free_port, temp_dir};
use crate::portcullis::BINARY;

/// How long a server gets to become ready.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// Pause between two polls of a condition.
pub const POLL: Duration = Duration::from_millis(20);

/// A running `portcullis serve`.
pub struct Server {
    /// The one address it listens on (UDP and TCP).
    pub addr: SocketAddr,
    /// Its private directory (config, zones, logs).
    pub dir: PathBuf,
    child: Option<Child>,
}

/// `[tcp]` settings of a generated configuration file (`None`: the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tcp {
    pub max_connections: Option<u64>,
    pub per_client: Option<u64>,
    pub first_message_ms: Option<u64>,
    pub message_ms: Option<u64>,
    pub idle_ms: Option<u64>,
    pub in_flight: Option<u64>,
    pub queries_per_connection: Option<u64>,
}

/// The workspace's `testdata/zones/example.test.zone`.
pub fn example_zone() -> PathBuf {
    crate::queries::testdata().join("zones/example.test.zone")
}

/// Writes a configuration file into `dir` listening on `addr` with one UDP worker, the given
/// `[tcp]` limits and `zones` (origin, file).
pub fn write_config(dir: &Path, addr: SocketAddr, tcp: &Tcp, zones: &[(&str, &Path)]) -> PathBuf {
    let mut text = format!("[server]\nlisten = [\"{addr}\"]\nthreads = 1\n\n[tcp]\n");
    let keys = [
        ("max-connections", tcp.max_connections),
        ("per-client", tcp.per_client),
        ("first-message-timeout-ms", tcp.first_message_ms),
        ("message-timeout-ms", tcp.message_ms),
        ("idle-timeout-ms", tcp.idle_ms),
        ("in-flight", tcp.in_flight),
        ("queries-per-connection", tcp.queries_per_connection),
    ];
    for (key, value) in keys {
        if let Some(value) = value {
            let _ = writeln!(text, "{key} = {value}");
        }
    }
    for (origin, file) in zones {
        let _ = write!(text, "\n[[zone]]\norigin = \"{origin}\"\nfile = \"{}\"\n", file.display());
    }
    let path = dir.join("portcullis.toml");
    fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

impl Server {
    /// Starts the server on a free port with a generated configuration serving `example.test.`
    /// (the readiness probe) with the given TCP limits.
    pub fn with_tcp(tcp: &Tcp) -> Self {
        let dir = temp_dir("harness");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let zone = example_zone();
        let config = write_config(&dir, addr, tcp, &[("example.test.", &zone)]);
        Self::start(dir, addr, &["serve".as_ref(), "--config".as_ref(), config.as_os_str()], "example.test.").unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `portcullis ARGS` with stdout/stderr going to files in `dir`, and waits until an
    /// SOA query for `probe_zone` at `addr` is answered with NOERROR.
    pub fn start(dir: PathBuf, addr: SocketAddr, args: &[&std::ffi::OsStr], probe_zone: &str) -> Result<Self, String> {
        let mut server = Self::spawn(dir, addr, args)?;
        server.wait_ready(probe_zone)?;
        Ok(server)
    }

    /// Runs `portcullis ARGS` without waiting for readiness.
    pub fn spawn(dir: PathBuf, addr: SocketAddr, args: &[&std::ffi::OsStr]) -> Result<Self, String> {
        Self::spawn_from(Path::new(BINARY), &[], dir, addr, args)
    }

    /// Runs `BINARY ARGS` (a copy of portcullis, say) with the variables `env` set, without
    /// waiting for readiness.
    pub fn spawn_from(binary: &Path, env: &[(&str, &std::ffi::OsStr)], dir: PathBuf, addr: SocketAddr, args: &[&std::ffi::OsStr]) -> Result<Self, String> {
        let stdout = fs::File::create(dir.join("stdout.log")).map_err(|e| e.to_string())?;
        let stderr = fs::File::create(dir.join("stderr.log")).map_err(|e| e.to_string())?;
        let mut command = Command::new(binary);
        command.envs(env.iter().copied());
        command.args(args).env("RUST_BACKTRACE", "1").env_remove("RUST_LOG").stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        let child = command.spawn().map_err(|e| format!("cannot start {command:?}: {e}"))?;
        Ok(Self { addr, dir, child: Some(child) })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends a signal (`"HUP"`, `"TERM"`, ...) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.pid().to_string()).stdout(Stdio::null()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name} {} failed", self.pid());
    }

    /// Waits until signals can be sent safely. WORKAROUND for a server bug (see
    /// `lifecycle::a_signal_right_after_the_first_answer_is_handled`): the server answers before
    /// its signal handlers are installed, and nothing observable happens after they are, so wait
    /// for the "portcullis ready" line, then give the main thread a moment. Remove when fixed.
    pub fn settle_signals(&self) {
        let ready = self.wait_log(Duration::from_secs(10), |log| log.contains("portcullis ready"));
        assert!(ready.is_ok(), "no 'portcullis ready' in the log:\n{}", self.stderr());
        std::thread::sleep(Duration::from_millis(300));
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// Polls stderr until `pred` holds, at most `within`; returns the log.
    pub fn wait_log(&self, within: Duration, pred: impl Fn(&str) -> bool) -> Result<String, String> {
        let deadline = Instant::now() + within;
        loop {
            let log = self.stderr();
            if pred(&log) {
                return Ok(log);
            }
            if Instant::now() >= deadline {
                return Err(log);
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits at most `within` for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// The exit status if the process has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Resident memory in KiB (VmRSS of /proc/PID/status).
    pub fn rss_kib(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
    }

    /// Waits until an SOA query for `probe_zone` is answered with NOERROR (see [`Server::start`]).
    pub fn wait_ready(&mut self, probe_zone: &str) -> Result<(), String> {
        let probe = Query::new(probe_zone, Rtype::SOA);
        let deadline = Instant::now() + READY_WITHIN;
        let mut last = String::from("no probe sent");
        while Instant::now() < deadline {
            if let Some(status) = self.try_status() {
                return Err(format!("portcullis exited before it was ready ({status}); {last}\n{}", self.stderr()));
            }
            let started = Instant::now();
            match client::udp_once(self.addr, &probe) {
                Ok(reply) => match Message::parse(&reply) {
                    Ok(m) if m.rcode() == Rcode::NOERROR => return Ok(()),
                    Ok(m) => last = format!("probe answered {}", m.rcode()),
                    Err(e) => last = format!("probe reply unparsable: {e:?}"),
                },
                Err(e) => last = e,
            }
            if started.elapsed() < Duration::from_millis(40) {
                std::thread::sleep(Duration::from_millis(40));
            }
        }
        Err(format!("portcullis at {} never became ready: {last}\n{}", self.addr, self.stderr()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).stdout(Stdio::null()).stderr(Stdio::null()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
                    break;
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(POLL);
            }
        }
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("server log kept in {}:\n{}", self.dir.display(), self.stderr());
        }
    }
}

/// The rcode and answer count of one UDP query, or an error.
pub fn udp_rcode(addr: SocketAddr, name: &str, rtype: Rtype) -> Result<(Rcode, u16), String> {
    let reply = client::udp(addr, &Query::new(name, rtype))?;
    let message = Message::parse(&reply).map_err(|e| format!("{e:?}"))?;
    Ok((message.rcode(), message.header().ancount()))
}

/// Asserts the server answers an SOA query for example.test. over UDP and over TCP.
pub fn assert_answers(addr: SocketAddr, when: &str) {
    let query = Query::new("example.test.", Rtype::SOA);
    for transport in [client::Transport::Udp, client::Transport::Tcp] {
        let reply = client::ask(addr, &query, transport).unwrap_or_else(|e| panic!("{when}: well-behaved {transport} client not answered: {e}"));
        let message = Message::parse(&reply).unwrap_or_else(|e| panic!("{when}: {e:?}"));
        assert_eq!(message.rcode(), Rcode::NOERROR, "{when}: {transport}");
        assert_eq!(message.header().ancount(), 1, "{when}: {transport}");
    }
}
