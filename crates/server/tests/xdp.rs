//! The AF_XDP path (`[server] xdp`) answers like the socket path: one portcullis in a network
//! namespace, listening on its veth address (with the XDP program attached to the veth) and on
//! its loopback; every query of `testdata/queries/example.test.txt` is sent over the veth from a
//! second namespace (the XDP path) and over the server namespace's loopback (the socket path),
//! with the same ID, and the two replies must be the same bytes. The kernel's UDP counters in
//! the server namespace prove the veth queries did not go through a socket.
//!
//! Needs root and `ip`: prints SKIPPED and passes where the kernel refuses XDP (the server logs
//! "AF_XDP path not attached" with "the kernel refuses XDP here": no BPF or AF_XDP, not
//! permitted, no XDP in the driver), or where it is not root outside CI; any other setup error
//! (our object, maps, sockets, binding) fails. Under CI=true a namespace that cannot be set up
//! fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "it/client.rs"]
mod client;
#[allow(dead_code)]
#[path = "it/queries.rs"]
mod queries;

use std::fs::File;
use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};

const BINARY: &str = env!("CARGO_BIN_EXE_portcullis");
const VETH: &str = "192.0.2.1:53";
const LOOPBACK: &str = "127.0.0.1:53";

/// Two namespaces joined by a veth pair (vethS 192.0.2.1 / vethC 192.0.2.2); deleted on drop.
struct Lab {
    server: String,
    client: String,
}

impl Lab {
    fn new() -> Result<Self, String> {
        let id = std::process::id();
        let lab = Self { server: format!("pcx-serve-s{id}"), client: format!("pcx-serve-c{id}") };
        let (s, c) = (lab.server.as_str(), lab.client.as_str());
        ip(&["netns", "add", s])?;
        ip(&["netns", "add", c])?;
        ip(&[
            "link",
            "add",
            "vethS",
            "netns",
            s,
            "numtxqueues",
            "1",
            "numrxqueues",
            "1",
            "type",
            "veth",
            "peer",
            "name",
            "vethC",
            "netns",
            c,
            "numtxqueues",
            "1",
            "numrxqueues",
            "1",
        ])?;
        for (ns, dev, v4) in [(s, "vethS", "192.0.2.1/24"), (c, "vethC", "192.0.2.2/24")] {
            ip(&["-n", ns, "addr", "add", v4, "dev", dev])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(lab)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.server]);
        let _ = ip(&["netns", "del", &self.client]);
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The server process, killed on drop; its standard error is read by a thread of its own, so
/// that waiting for a line is bounded even when the server prints nothing.
struct Server(Child, std::sync::mpsc::Receiver<String>);

impl Server {
    fn start(command: &mut Command) -> Self {
        let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start portcullis");
        let mut stderr = child.stderr.take().expect("piped");
        let (lines, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                if lines.send(String::from_utf8_lossy(&chunk[..n]).into_owned()).is_err() {
                    break;
                }
            }
        });
        Self(child, received)
    }

    fn stderr_until(&mut self, within: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        let mut text = String::new();
        while !done(&text) {
            match self.1.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(chunk) => text.push_str(&chunk),
                Err(_) => break,
            }
        }
        text
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `work` on a thread moved into namespace `name`.
fn in_namespace<T: Send + 'static>(name: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{name}");
    std::thread::spawn(move || {
        setns(File::open(&path).expect("namespace file"), CloneFlags::CLONE_NEWNET).expect("setns");
        work()
    })
    .join()
    .expect("namespace thread")
}

/// Sends each query (id = its index) to `to` and returns each reply, or the error.
fn ask_all(to: SocketAddr, wires: Vec<Vec<u8>>) -> Vec<Result<Vec<u8>, String>> {
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    socket.connect(to).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = vec![0u8; 65_535];
    wires
        .iter()
        .map(|wire| {
            socket.send(wire).map_err(|e| e.to_string())?;
            let len = socket.recv(&mut buf).map_err(|e| format!("recv from {to}: {e}"))?;
            Ok(buf[..len].to_vec())
        })
        .collect()
}

/// UDP datagrams delivered to sockets in the calling thread's namespace (`/proc/net/snmp` `Udp:
/// InDatagrams`).
fn udp_in_datagrams() -> u64 {
    let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap();
    let mut udp = snmp.lines().filter(|line| line.starts_with("Udp:"));
    let (names, values) = (udp.next().unwrap(), udp.next().unwrap());
    let at = names.split_whitespace().position(|name| name == "InDatagrams").unwrap();
    values.split_whitespace().nth(at).unwrap().parse().unwrap()
}

fn skip(why: &str) {
    println!("SKIPPED xdp_answers_like_the_socket_path: {why}");
}

#[test]
fn xdp_answers_like_the_socket_path() {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) != 0 {
        assert!(!ci, "CI runs as root");
        return skip("not root");
    }
    let lab = match Lab::new() {
        Ok(lab) => lab,
        Err(e) if ci => panic!("{e}"),
        Err(e) => return skip(&e),
    };
    let dir = std::env::temp_dir().join(format!("portcullis-xdp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zone = queries::testdata().join("zones/example.test.zone");
    let config = format!(
        "[server]\nlisten = [\"{VETH}\", \"{LOOPBACK}\"]\nthreads = 1\nxdp = [\"vethS\"]\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"{}\"\n",
        zone.display()
    );
    std::fs::write(dir.join("portcullis.toml"), config).unwrap();
    let mut server = Server::start(Command::new("ip").args(["netns", "exec", &lab.server, BINARY, "serve", "--config"]).arg(dir.join("portcullis.toml")));
    let log = server.stderr_until(Duration::from_secs(30), |text| text.contains("portcullis ready"));
    // Skipped only where the kernel says no to XDP itself; a setup error of ours fails below.
    if log.contains("AF_XDP path not attached") && log.contains("the kernel refuses XDP here") {
        return skip(&format!("the kernel refused XDP here:\n{log}"));
    }
    assert!(log.contains("AF_XDP path attached") && log.contains("portcullis ready"), "server did not come up with XDP:\n{log}");

    let queries = queries::load("example.test.txt");
    let wires: Vec<Vec<u8>> = queries.iter().enumerate().map(|(id, query)| query.to_wire(u16::try_from(id).unwrap()).unwrap()).collect();
    let (over_socket, socket_datagrams) = in_namespace(&lab.server, {
        let wires = wires.clone();
        move || {
            let before = udp_in_datagrams();
            let replies = ask_all(LOOPBACK.parse().unwrap(), wires);
            (replies, udp_in_datagrams() - before)
        }
    });
    let before = in_namespace(&lab.server, udp_in_datagrams);
    let over_xdp = in_namespace(&lab.client, move || ask_all(VETH.parse().unwrap(), wires));
    let xdp_datagrams = in_namespace(&lab.server, udp_in_datagrams) - before;

    let mut differences = Vec::new();
    for ((query, socket), xdp) in queries.iter().zip(&over_socket).zip(&over_xdp) {
        match (socket, xdp) {
            (Ok(a), Ok(b)) if a == b => {}
            (a, b) => differences.push(format!("{query}: socket {a:?}\n    xdp {b:?}")),
        }
    }
    assert!(differences.is_empty(), "{} of {} answers differ:\n{}", differences.len(), queries.len(), differences.join("\n"));
    // Over loopback both the query (to the server) and the reply (to the client) are delivered
    // to sockets of the server's namespace.
    assert_eq!(socket_datagrams, 2 * queries.len() as u64, "the loopback queries went through the UDP socket layer");
    assert_eq!(xdp_datagrams, 0, "the veth queries skipped the UDP socket layer (AF_XDP)");
}

/// An interface the AF_XDP path cannot attach to (none by that name; or no root) is logged with
/// its reason, and the sockets answer as before.
#[test]
fn xdp_that_cannot_attach_falls_back_to_the_sockets() {
    let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let dir = std::env::temp_dir().join(format!("portcullis-xdp-fallback-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zone = queries::testdata().join("zones/example.test.zone");
    let config = format!(
        "[server]\nlisten = [\"{addr}\"]\nthreads = 1\nxdp = [\"pcx-absent0\"]\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"{}\"\n",
        zone.display()
    );
    std::fs::write(dir.join("portcullis.toml"), config).unwrap();
    let mut server = Server::start(Command::new(BINARY).args(["serve", "--config"]).arg(dir.join("portcullis.toml")));
    let log = server.stderr_until(Duration::from_secs(30), |text| text.contains("portcullis ready"));
    assert!(log.contains("AF_XDP path not attached") && log.contains("pcx-absent0"), "the fallback is logged with the interface:\n{log}");
    let query = client::Query::new("example.test.", portcullis_wire::Rtype::SOA);
    let reply = client::udp(addr, &query).unwrap_or_else(|e| panic!("the sockets answer: {e}\n{log}"));
    assert!(reply.len() > 12, "a reply");
}
