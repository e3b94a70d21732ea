//! The driver loop with a scripted machine and loopback sockets as fake upstreams.

use super::*;
use portcullis_engine::resolve::QueryId;
use portcullis_wire::Rcode;
use std::net::{SocketAddr, TcpListener, UdpSocket};

/// What the driver told the machine (polls left out).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Call {
    Reply(u32, SocketAddr, Vec<u8>),
    Timeout(u32),
    Wake,
}

/// Sends one query to each target, waits until each has had a reply or a failure (or, when
/// `settle_ms` is set, until that long after the last event: then it is woken), and ends.
struct Script {
    targets: Vec<(SocketAddr, Transport)>,
    sent: usize,
    /// Queries that got their reply or failure.
    over: Vec<u32>,
    calls: Vec<Call>,
    /// Wait this long for the last queries, then end at the wake-up.
    settle_ms: Option<u64>,
    woken: bool,
}

impl Script {
    fn new(targets: &[(SocketAddr, Transport)], settle_ms: Option<u64>) -> Self {
        Self { targets: targets.to_vec(), sent: 0, over: Vec::new(), calls: Vec::new(), settle_ms, woken: false }
    }

    fn sorted_calls(&self) -> Vec<Call> {
        let mut calls = self.calls.clone();
        calls.sort();
        calls
    }
}

impl Driven for Script {
    type Context<'a> = ();

    fn poll(&mut self, now: Instant, (): ()) -> Step {
        if let Some(&(server, transport)) = self.targets.get(self.sent) {
            let id = QueryId(self.sent as u32);
            self.sent += 1;
            let bytes = vec![self.sent as u8; 12];
            return Step::Send(Outbound { id, server, transport, bytes, deadline: now.plus_millis(10_000) });
        }
        if self.woken || (self.settle_ms.is_none() && self.over.len() == self.targets.len()) {
            return Step::Done(Resolved::empty(Rcode::NOERROR, None, self.sent as u32));
        }
        let wait = match self.settle_ms {
            Some(settle) if self.over.len() + 1 >= self.targets.len() => settle,
            _ => 10_000,
        };
        Step::Wait(now.plus_millis(wait))
    }

    fn on_reply(&mut self, id: QueryId, from: SocketAddr, bytes: &[u8], _: Instant, (): ()) {
        self.over.push(id.0);
        self.calls.push(Call::Reply(id.0, from, bytes.to_vec()));
    }

    fn on_timeout(&mut self, id: QueryId, _: Instant, (): ()) {
        self.over.push(id.0);
        self.calls.push(Call::Timeout(id.0));
    }

    fn on_wake(&mut self, _: Instant, (): ()) {
        self.woken = true;
        self.calls.push(Call::Wake);
    }

    fn waits_for(&self, id: QueryId) -> bool {
        !self.over.contains(&id.0)
    }
}

/// The scripted machine borrows nothing.
struct Nothing;

impl Lend<Script> for Nothing {
    fn lend<R>(&self, call: impl FnOnce(()) -> R) -> R {
        call(())
    }
}

/// A UDP upstream that answers the first datagram with `answer`, twice (a duplicate), from its
/// own thread; returns the query and where it came from.
fn answering_upstream(answer: &'static [u8]) -> (SocketAddr, std::thread::JoinHandle<(Vec<u8>, SocketAddr)>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let addr = socket.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let (len, from) = socket.recv_from(&mut buf).unwrap();
        socket.send_to(answer, from).unwrap();
        socket.send_to(answer, from).unwrap();
        (buf[..len].to_vec(), from)
    });
    (addr, thread)
}

/// An address where nothing listens (the kernel answers port unreachable).
fn closed_port() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// True when the query's socket at `port` is closed: a datagram sent to it from `upstream` is
/// refused (ICMP port unreachable).
fn closed(upstream: &UdpSocket, port: SocketAddr) -> bool {
    upstream.connect(port).unwrap();
    upstream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    upstream.send(b"late").unwrap();
    let mut buf = [0u8; 16];
    upstream.recv(&mut buf).is_err_and(|error| error.kind() == std::io::ErrorKind::ConnectionRefused)
}

/// Where the UDP sockets wait: the pool's epoll set (as in production) or tokio's reactor (the
/// fallback when the set cannot be made).
#[derive(Clone, Copy, Debug)]
enum Reactor {
    Epoll,
    Tokio,
}

async fn run(script: &mut Script, tcp: Option<&Arc<TcpConnections>>) -> (Resolved, u64) {
    run_on(Reactor::Epoll, script, tcp).await
}

async fn run_on(reactor: Reactor, script: &mut Script, tcp: Option<&Arc<TcpConnections>>) -> (Resolved, u64) {
    let sent = AtomicU64::new(0);
    let buffers = crate::buffers::MessageBuffers::default();
    let poll = crate::upstream_poll::UpstreamPoll::new().unwrap();
    let dispatch = tokio::spawn(poll.clone().dispatch_loop());
    let poll = match reactor {
        Reactor::Epoll => Some(&*poll),
        Reactor::Tokio => None,
    };
    let wire = Wire { clock: Clock::default(), tcp, sent: &sent, encrypted: None, buffers: &buffers, poll };
    let resolved = drive(script, &Nothing, &wire).await;
    dispatch.abort();
    (resolved, sent.load(Ordering::Relaxed))
}

#[tokio::test]
async fn two_queries_in_flight_one_reply_one_failure() {
    for reactor in [Reactor::Epoll, Reactor::Tokio] {
        let (answering, upstream) = answering_upstream(b"the answer");
        let unreachable = closed_port();
        let mut script = Script::new(&[(answering, Transport::Udp), (unreachable, Transport::Udp)], None);
        let (resolved, sent) = run_on(reactor, &mut script, None).await;
        assert_eq!(resolved.upstream_queries, 2, "{reactor:?}");
        assert_eq!(sent, 2, "counted as upstream queries");
        assert_eq!(upstream.join().unwrap().0, vec![1u8; 12], "the query's bytes went out");
        // The port unreachable is the failure; the duplicate answer is not read: the query's
        // socket is closed once the machine took one.
        assert_eq!(script.sorted_calls(), vec![Call::Reply(0, answering, b"the answer".to_vec()), Call::Timeout(1)], "{reactor:?}");
    }
}

#[tokio::test]
async fn a_silent_upstream_wakes_the_machine_and_its_socket_is_closed_at_the_end() {
    for reactor in [Reactor::Epoll, Reactor::Tokio] {
        let (answering, upstream) = answering_upstream(b"the answer");
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut script = Script::new(&[(answering, Transport::Udp), (silent.local_addr().unwrap(), Transport::Udp)], Some(20));
        let (resolved, sent) = run_on(reactor, &mut script, None).await;
        assert_eq!((resolved.rcode, sent), (Rcode::NOERROR, 2), "{reactor:?}");
        let (_, answered_from) = upstream.join().unwrap();
        // The duplicate came during the wait for the silent upstream: its query was over, unread.
        assert_eq!(script.sorted_calls(), vec![Call::Reply(0, answering, b"the answer".to_vec()), Call::Wake], "{reactor:?}");
        let mut buf = [0u8; 64];
        silent.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (len, asked_from) = silent.recv_from(&mut buf).unwrap();
        assert_eq!(len, 12, "the silent upstream was asked");
        assert!(closed(&silent, asked_from), "the silent upstream's query socket outlived the driver ({reactor:?})");
        assert!(closed(&UdpSocket::bind("127.0.0.1:0").unwrap(), answered_from));
    }
}

/// A TCP upstream that answers one framed query on each of `connections` connections with
/// `answer`; returns the queries.
fn tcp_upstream(connections: usize, answer: &'static [u8]) -> (SocketAddr, std::thread::JoinHandle<Vec<Vec<u8>>>) {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let mut queries = Vec::new();
        for _ in 0..connections {
            let (mut stream, _) = listener.accept().unwrap();
            let mut prefix = [0u8; 2];
            stream.read_exact(&mut prefix).unwrap();
            let mut query = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            stream.read_exact(&mut query).unwrap();
            let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(answer);
            stream.write_all(&framed).unwrap();
            queries.push(query);
        }
        queries
    });
    (addr, thread)
}

#[tokio::test]
async fn tcp_queries_take_a_fresh_connection_or_the_shared_one() {
    // A resolution's: a connection of its own, which ends after the one message.
    let (server, upstream) = tcp_upstream(1, b"\x12\x34 over tcp");
    let mut script = Script::new(&[(server, Transport::Tcp)], None);
    run(&mut script, None).await;
    assert_eq!(upstream.join().unwrap(), vec![vec![1u8; 12]]);
    assert_eq!(script.calls[0], Call::Reply(0, server, b"\x12\x34 over tcp".to_vec()));
    // A forwarding's: the upstream's shared connection (the reply matched by its ID).
    let (server, upstream) = tcp_upstream(1, b"\x01\x01 shared");
    let shared = Arc::new(TcpConnections::default());
    let mut script = Script::new(&[(server, Transport::Tcp)], None);
    run(&mut script, Some(&shared)).await;
    assert_eq!(upstream.join().unwrap(), vec![vec![1u8; 12]]);
    assert_eq!(script.calls, vec![Call::Reply(0, server, b"\x01\x01 shared".to_vec())]);
    assert_eq!(shared.opened.load(Ordering::Relaxed), 1);
}
