//! The AF_XDP path over a veth pair between two network namespaces: queries to the DNS port are
//! answered by the handler through the AF_XDP socket (IPv4 and IPv6), other UDP still reaches
//! the kernel (port unreachable), and dropping the attachment detaches the program.
//!
//! Needs root and `ip`; prints SKIPPED (and passes) where the kernel refuses XDP or AF_XDP
//! ([`portcullis_xdp::Error::kernel_refused`]), or where it is not root outside CI; any other
//! setup error fails. Under CI=true a namespace that cannot be set up fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use nix::sched::{setns, CloneFlags};

/// The two namespaces and the veth pair; deleted when dropped (the veth goes with them).
struct Lab {
    server: String,
    client: String,
}

impl Lab {
    fn new(tag: &str) -> Result<Self, String> {
        let id = std::process::id();
        let lab = Self { server: format!("pcx-{tag}-s{id}"), client: format!("pcx-{tag}-c{id}") };
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
        for (ns, dev, v4, v6) in [(s, "vethS", "192.0.2.1/24", "2001:db8::1/64"), (c, "vethC", "192.0.2.2/24", "2001:db8::2/64")] {
            ip(&["-n", ns, "addr", "add", v4, "dev", dev])?;
            ip(&["-n", ns, "addr", "add", v6, "dev", dev, "nodad"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(lab)
    }

    fn xdp_attached(&self) -> bool {
        let out = Command::new("ip").args(["-n", &self.server, "link", "show", "vethS"]).output().expect("ip link show");
        String::from_utf8_lossy(&out.stdout).contains("xdp")
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

/// Moves this thread into namespace `name`.
fn enter(name: &str) {
    let file = File::open(format!("/run/netns/{name}")).expect("namespace file");
    setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
}

fn skip(why: &str) {
    println!("SKIPPED xdp veth test: {why}");
}

/// The test's handler: "re:" and the query.
fn echo(query: &[u8], _peer: SocketAddr, _local: SocketAddr, out: &mut [u8]) -> Option<usize> {
    let reply = out.get_mut(..query.len() + 3)?;
    reply[..3].copy_from_slice(b"re:");
    reply[3..].copy_from_slice(query);
    Some(query.len() + 3)
}

/// Sends `query` from the client namespace to `to` and returns the reply (or the error).
fn exchange(to: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = if to.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
    let socket = UdpSocket::bind(local)?;
    socket.connect(to)?;
    socket.set_read_timeout(Some(Duration::from_secs(2)))?;
    socket.send(query)?;
    let mut buf = [0u8; 512];
    let len = socket.recv(&mut buf)?;
    Ok(buf[..len].to_vec())
}

#[test]
fn queries_over_af_xdp_are_answered_and_other_udp_passes() {
    if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").expect("procfs")) != 0 {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI runs as root");
        return skip("not root");
    }
    let lab = match Lab::new("q") {
        Ok(lab) => lab,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!("{e}"),
        Err(e) => return skip(&e),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready) = mpsc::channel();
    let server_ns = lab.server.clone();
    let server_stop = Arc::clone(&stop);
    let server = std::thread::spawn(move || {
        enter(&server_ns);
        let (attachment, mut sockets) = match portcullis_xdp::attach_queues("vethS", &[53], 1, 1500) {
            Ok(attached) => attached,
            Err(e) => return ready_tx.send(Err(e)).map(|()| None).unwrap_or(None),
        };
        ready_tx.send(Ok(())).expect("ready");
        let stats = sockets[0].serve(&server_stop, echo).expect("serve");
        drop(sockets);
        drop(attachment);
        Some(stats)
    });
    if let Err(e) = ready.recv_timeout(Duration::from_secs(30)).expect("server thread answers") {
        server.join().expect("server thread");
        // Only a refusal by the kernel itself is skipped; our object, maps or sockets failing is a bug.
        assert!(e.kernel_refused(), "AF_XDP setup failed: {e}");
        return skip(&format!("the kernel refused XDP here: {e}"));
    }
    assert!(lab.xdp_attached(), "program attached to vethS");
    let client_ns = lab.client.clone();
    let client = std::thread::spawn(move || {
        enter(&client_ns);
        let v4 = exchange("192.0.2.1:53".parse().unwrap(), b"hello");
        let v6 = exchange("[2001:db8::1]:53".parse().unwrap(), b"hello6");
        let other = exchange("192.0.2.1:5300".parse().unwrap(), b"not dns");
        (v4, v6, other)
    });
    let (v4, v6, other) = client.join().expect("client thread");
    stop.store(true, Ordering::Relaxed);
    let stats = server.join().expect("server thread").expect("served");
    assert_eq!(v4.expect("IPv4 reply"), b"re:hello");
    assert_eq!(v6.expect("IPv6 reply"), b"re:hello6");
    let refused = other.expect_err("no reply on a port the program passes");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused, "the kernel answered port unreachable: {refused}");
    assert_eq!((stats.received, stats.answered), (2, 2), "{stats:?}");
    assert!(!lab.xdp_attached(), "program detached when the attachment was dropped");
}

/// A stream of queries, many times more than the queue has frames: every one is answered. Frames
/// must cycle back to the fill ring without loss (a ring reservation that took fewer slots than
/// asked once lost the rest, until the fill ring ran dry and every query was dropped).
#[test]
fn a_stream_far_beyond_the_frame_count_is_all_answered() {
    const QUERIES: usize = 30_000;
    const WINDOW: usize = 100;
    if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").expect("procfs")) != 0 {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI runs as root");
        return skip("not root");
    }
    let lab = match Lab::new("b") {
        Ok(lab) => lab,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!("{e}"),
        Err(e) => return skip(&e),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready) = mpsc::channel();
    let (server_ns, server_stop) = (lab.server.clone(), Arc::clone(&stop));
    let server = std::thread::spawn(move || {
        enter(&server_ns);
        let (attachment, mut sockets) = match portcullis_xdp::attach_queues("vethS", &[53], 1, 1500) {
            Ok(attached) => attached,
            Err(e) => return ready_tx.send(Err(e)).map(|()| None).unwrap_or(None),
        };
        ready_tx.send(Ok(())).expect("ready");
        let stats = sockets[0].serve(&server_stop, echo).expect("serve");
        drop(sockets);
        drop(attachment);
        Some(stats)
    });
    if let Err(e) = ready.recv_timeout(Duration::from_secs(30)).expect("server thread answers") {
        server.join().expect("server thread");
        assert!(e.kernel_refused(), "AF_XDP setup failed: {e}");
        return skip(&format!("the kernel refused XDP here: {e}"));
    }
    let client_ns = lab.client.clone();
    let answered = std::thread::spawn(move || {
        enter(&client_ns);
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        socket.connect("192.0.2.1:53").unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        // A window of WINDOW queries in flight: the server's receive work runs ahead of the
        // frames coming back from transmission, as under real load.
        let (mut answered, mut sent) = (0, 0);
        let mut buf = [0u8; 64];
        while answered < QUERIES {
            if sent < QUERIES && sent - answered < WINDOW {
                socket.send(format!("q{sent}").as_bytes()).unwrap();
                sent += 1;
            } else if socket.recv(&mut buf).is_ok() {
                answered += 1;
            } else {
                break;
            }
        }
        answered
    })
    .join()
    .expect("client thread");
    stop.store(true, Ordering::Relaxed);
    let stats = server.join().expect("server thread").expect("served");
    assert_eq!(answered, QUERIES, "every query answered (the client saw {answered}): {stats:?}");
    assert_eq!((stats.received, stats.answered, stats.kernel_dropped), (answered as u64, answered as u64, 0), "{stats:?}");
}
