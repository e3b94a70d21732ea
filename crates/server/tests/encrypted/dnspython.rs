//! An independent DoQ client (RFC 9250): Python's dnspython with aioquic, in a virtual
//! environment under `CARGO_TARGET_TMPDIR` that `scripts/test` makes with pip (made here when
//! missing, reused while its marker file says the install finished). The client trusts only the test root and
//! checks the certificate against `localhost`; each query is sent as the test built it and the
//! reply is written back as wire bytes (`one_rr_per_rrset`, so records keep their order and
//! TTLs) for the same comparison as the other transports.
//!
//! Missing Python, `venv` (Debian's python3-venv) or an install that fails (no network) skip
//! the test with a message, or fail it under `CI=true`. Every step is bounded in time.

use crate::peers::{find_binary, in_ci};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long making the environment may take (`python3 -m venv`).
const VENV_TIMEOUT: Duration = Duration::from_secs(120);
/// How long `pip install` may take.
const PIP_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the client may take for the whole query list.
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);
/// What pip installs.
const PACKAGES: [&str; 2] = ["dnspython", "aioquic"];

/// The client: argv is host, port, root CA file, TLS name, then one query per argument (hex);
/// prints one reply per line (hex). Any error ends it with a traceback and status 1.
const CLIENT: &str = r#"
import sys
import dns.message, dns.query
host, port, ca, name = sys.argv[1:5]
for text in sys.argv[5:]:
    query = dns.message.from_wire(bytes.fromhex(text))
    reply = dns.query.quic(query, host, port=int(port), timeout=5, verify=ca,
                           server_hostname=name, one_rr_per_rrset=True)
    print(reply.to_wire(max_size=65535).hex(), flush=True)
"#;

/// The Python of a ready virtual environment with dnspython and aioquic.
pub struct Dnspython {
    python: PathBuf,
}

impl Dnspython {
    /// The environment, made when missing; `None` after saying why (a panic under `CI=true`).
    pub fn install(test: &str) -> Option<Self> {
        let Some(python3) = find_binary("python3") else {
            return unavailable(test, "python3 is missing (install: apt-get install python3 python3-venv python3-pip)");
        };
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dnspython-venv");
        let python = venv.join("bin").join("python");
        let marker = venv.join("portcullis-installed");
        if marker.is_file() && python.is_file() {
            return Some(Self { python });
        }
        let _ = std::fs::remove_dir_all(&venv);
        let made = run(Command::new(&python3).arg("-m").arg("venv").arg(&venv), VENV_TIMEOUT);
        if let Err(e) = made {
            return unavailable(test, &format!("python3 -m venv failed (install: apt-get install python3-venv python3-pip): {e}"));
        }
        let mut pip = Command::new(&python);
        pip.args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--timeout", "20", "--retries", "2"]).args(PACKAGES);
        if let Err(e) = run(&mut pip, PIP_TIMEOUT) {
            return unavailable(test, &format!("pip install {} failed (PyPI unreachable?): {e}", PACKAGES.join(" ")));
        }
        if let Err(e) = run(Command::new(&python).args(["-c", "import dns.quic, aioquic"]), VENV_TIMEOUT) {
            return unavailable(test, &format!("dnspython's DoQ support does not import: {e}"));
        }
        std::fs::write(&marker, PACKAGES.join("\n")).unwrap();
        Some(Self { python })
    }

    /// Asks `server` each of `queries` over DoQ, trusting only `root` and checking the
    /// certificate against `name`; the replies as wire bytes, in order.
    pub fn quic(&self, server: SocketAddr, root: &Path, name: &str, queries: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut command = Command::new(&self.python);
        command.args(["-c", CLIENT]).arg(server.ip().to_string()).arg(server.port().to_string()).arg(root).arg(name);
        command.args(queries.iter().map(|query| hex(query)));
        let output = run(&mut command, QUERY_TIMEOUT).unwrap_or_else(|e| panic!("dnspython over DoQ: {e}"));
        let replies: Vec<Vec<u8>> = String::from_utf8_lossy(&output.stdout).lines().map(unhex).collect();
        assert_eq!(replies.len(), queries.len(), "one reply per query");
        replies
    }
}

/// Skips (prints why, returns `None`) or, under `CI=true`, fails.
fn unavailable<T>(test: &str, why: &str) -> Option<T> {
    let message = format!("{test}: {why}");
    assert!(!in_ci(), "CI=true and {message}");
    println!("SKIPPED {message}");
    eprintln!("SKIPPED {message}");
    None
}

/// Runs `command` to completion within `timeout` (else kills it); an error unless it exits 0.
fn run(command: &mut Command, timeout: Duration) -> Result<Output, String> {
    let child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let child = child.map_err(|e| format!("cannot run {command:?}: {e}"))?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(timeout) {
        Ok(output) => output.map_err(|e| format!("{command:?}: {e}"))?,
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            return Err(format!("{command:?} did not finish within {timeout:?}"));
        }
    };
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!("{}: {}{}", output.status, String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    let text = text.trim();
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or_else(|e| panic!("not hex: {text:?}: {e}"))).collect()
}
