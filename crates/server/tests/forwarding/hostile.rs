//! SECURITY-REFERENCE §6 row 66 on the UDP workers' forwarding relay: an upstream whose address
//! and port send datagrams with IDs nobody asked (an off-path attacker guessing IDs) is asked over
//! TCP from then on; a late duplicate of a reply already taken is not such a guess.
//!
//! The upstream is NSD behind [`HostileProxy`]: one UDP socket and one TCP listener on the same
//! address and port. Over UDP it relays each query to NSD, and either sends NSD's reply twice
//! (a late duplicate) or first sends a copy with another ID (a guess); over TCP it relays as is
//! and counts connections.

use super::{ask, free_port, Portcullis, Upstreams, CLIENT_TIMEOUT};
use portcullis_wire::message::Message;
use portcullis_wire::Rtype;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the proxy adds to each UDP reply.
const DUPLICATE: usize = 0;
const GUESS: usize = 1;

struct HostileProxy {
    addr: SocketAddr,
    mode: Arc<AtomicUsize>,
    udp_queries: Arc<AtomicUsize>,
    tcp_connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl HostileProxy {
    fn start(target: SocketAddr) -> Self {
        let (udp, tcp) = bind_pair();
        let addr = udp.local_addr().unwrap();
        let (mode, udp_queries, tcp_connections, stop) =
            (Arc::new(AtomicUsize::new(DUPLICATE)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (m, q, s) = (mode.clone(), udp_queries.clone(), stop.clone());
        let udp_thread = std::thread::spawn(move || relay_udp(&udp, target, &m, &q, &s));
        let (c, s) = (tcp_connections.clone(), stop.clone());
        let tcp_thread = std::thread::spawn(move || relay_tcp(&tcp, target, &c, &s));
        Self { addr, mode, udp_queries, tcp_connections, stop, threads: vec![udp_thread, tcp_thread] }
    }

    fn counts(&self) -> (usize, usize) {
        (self.udp_queries.load(Ordering::Relaxed), self.tcp_connections.load(Ordering::Relaxed))
    }
}

impl Drop for HostileProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// A UDP socket and a TCP listener on one loopback port.
fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let port = free_port();
        if let (Ok(udp), Ok(tcp)) = (UdpSocket::bind(("127.0.0.1", port)), TcpListener::bind(("127.0.0.1", port))) {
            udp.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            tcp.set_nonblocking(true).unwrap();
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

/// Relays each UDP query to `target` (in turn: the test asks one question at a time) and sends
/// the reply with the mode's extra datagram.
fn relay_udp(socket: &UdpSocket, target: SocketAddr, mode: &AtomicUsize, queries: &AtomicUsize, stop: &AtomicBool) {
    let mut buf = vec![0u8; 65_535];
    let mut reply = vec![0u8; 65_535];
    while !stop.load(Ordering::Relaxed) {
        let Ok((len, client)) = socket.recv_from(&mut buf) else { continue };
        if Message::parse(&buf[..len]).ok().and_then(|m| m.question()).is_some_and(|question| question.qtype == Rtype::A) {
            queries.fetch_add(1, Ordering::Relaxed);
        }
        let Ok(out) = UdpSocket::bind("127.0.0.1:0") else { continue };
        let _ = out.set_read_timeout(Some(Duration::from_secs(1)));
        if out.connect(target).and_then(|()| out.send(&buf[..len])).is_err() {
            continue;
        }
        let Ok(reply_len) = out.recv(&mut reply) else { continue };
        let reply = &mut reply[..reply_len];
        if mode.load(Ordering::Relaxed) == GUESS && reply_len >= 2 {
            let mut guess = reply.to_vec();
            guess[0] ^= 0x5a;
            guess[1] ^= 0xa5;
            let _ = socket.send_to(&guess, client);
            let _ = socket.send_to(reply, client);
        } else {
            let _ = socket.send_to(reply, client);
            let _ = socket.send_to(reply, client);
        }
    }
}

/// Relays TCP connections to `target` both ways, counting them.
fn relay_tcp(listener: &TcpListener, target: SocketAddr, connections: &AtomicUsize, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let Ok((client, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        connections.fetch_add(1, Ordering::Relaxed);
        let _ = client.set_nonblocking(false);
        let Ok(upstream) = TcpStream::connect(target) else { continue };
        for (mut from, mut to) in [(client.try_clone().unwrap(), upstream.try_clone().unwrap()), (upstream, client)] {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from, &mut to);
                let _ = to.shutdown(std::net::Shutdown::Both);
            });
        }
    }
}

#[test]
fn row66_guessed_ids_move_a_relayed_upstream_to_tcp_and_late_duplicates_do_not() {
    let Some(upstreams) = Upstreams::new("row66_guessed_ids_move_a_relayed_upstream_to_tcp_and_late_duplicates_do_not") else { return };
    let nsd = upstreams.start(0);
    let proxy = HostileProxy::start(nsd.addr);
    // One worker: every client query goes through that worker's relay.
    let server = Portcullis::start(&format!("primaries = [\"{}\"]\n", proxy.addr));

    // A late duplicate of every reply: stray, and the upstream stays on UDP.
    let before = proxy.counts();
    for n in 0..5 {
        ask(server.addr, &format!("dup{n}.fwd.test."), CLIENT_TIMEOUT).unwrap();
    }
    let after = proxy.counts();
    assert_eq!((after.0 - before.0, after.1 - before.1), (5, 0), "duplicates must not move the upstream to TCP\n{}", server.log());

    // One reply with a guessed ID (the true reply follows it): the next questions go over TCP.
    proxy.mode.store(GUESS, Ordering::Relaxed);
    ask(server.addr, "guess.fwd.test.", CLIENT_TIMEOUT).unwrap();
    let before = proxy.counts();
    for n in 0..5 {
        ask(server.addr, &format!("after{n}.fwd.test."), CLIENT_TIMEOUT).unwrap();
    }
    let after = proxy.counts();
    println!("row 66 on the relay: UDP queries {} then {}, TCP connections {} then {}", before.0, after.0, before.1, after.1);
    assert_eq!(after.0, before.0, "questions after a guessed ID must not go over UDP\n{}", server.log());
    assert!(after.1 > before.1, "questions after a guessed ID go over TCP\n{}", server.log());
}
