//! The relay over real loopback sockets: a client, the worker's listening socket, and fake
//! upstreams played by the test.

use super::*;
use crate::resolver_pool::{PoolLimits, PoolParts};
use crate::udp::Outbox;
use crate::Clock;
use arc_swap::ArcSwap;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use portcullis_engine::auth::ZoneSet;
use portcullis_engine::cache::{Cache, CacheSettings};
use portcullis_engine::resolve::forward::ForwardSettings;
use portcullis_engine::resolve::upstreams::{GroupSettings, Policy};
use portcullis_engine::resolve::{ResolverSettings, SeededRandom};
use portcullis_engine::{Engine, EngineSettings};
use portcullis_wire::header::Flags;
use portcullis_wire::message::Question;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};
use std::time::Duration;

/// The client's message ID.
const CLIENT_ID: u16 = 0x1234;
/// The address every upstream answer carries.
const ANSWER: [u8; 4] = [192, 0, 2, 1];

struct Bench {
    /// Owns the pool's tasks (probes), which never run here.
    _runtime: tokio::runtime::Runtime,
    pool: Arc<ResolverPool>,
    relay: Relay,
    /// The worker's listening socket.
    server: Arc<UdpSocket>,
    client: UdpSocket,
    upstreams: Vec<UdpSocket>,
    outbox: Outbox,
}

impl Bench {
    /// A relay forwarding everything (`.`, forward-only) to `count` upstreams, in order, each
    /// given `timeout_ms`.
    fn new(count: usize, timeout_ms: u64) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let upstreams: Vec<UdpSocket> = (0..count).map(|_| loopback()).collect();
        let group = GroupSettings {
            policy: Policy::Ordered,
            primaries: upstreams.iter().map(|socket| socket.local_addr().unwrap()).collect(),
            timeout_ms,
            ..GroupSettings::default()
        };
        let probe = Question { qname: NameBuf::ROOT, qtype: Rtype::SOA, qclass: Class::IN };
        let forward = vec![ForwardSettings { zone: NameBuf::ROOT, mode: ForwardMode::Only, group, probe, cache: true, validate: false, tls: None }];
        let cache = Arc::new(Cache::new(CacheSettings::DEFAULT));
        let engine = Engine::new(ZoneSet::default(), EngineSettings::default(), Arc::default()).with_recursion(cache.clone());
        let pool = ResolverPool::new(PoolParts {
            engine: Arc::new(ArcSwap::from_pointee(engine)),
            settings: Arc::new(ResolverSettings::default()),
            cache,
            clock: Clock::default(),
            random: Arc::new(|| Box::new(SeededRandom::new(5))),
            hash_key: [5; 16],
            limits: PoolLimits::default(),
            runtime: runtime.handle().clone(),
            forward,
            iterate: false,
        });
        let server = Arc::new(loopback());
        let relay = Relay::new(pool.clone(), server.clone());
        Self { _runtime: runtime, pool, relay, server, client: loopback(), upstreams, outbox: Outbox::new() }
    }

    /// The client asks `www.example. A`; the relay sends the upstream query.
    fn ask(&mut self) -> Instant {
        let query = client_query();
        let now = self.pool.now();
        let peer = self.client.local_addr().unwrap();
        let request = Request { bytes: &query, peer, transport: Transport::Udp, now, unix_secs: 0, listener: 0, worker: 0 };
        self.relay.take(&request, &mut self.outbox);
        self.relay.flush(now, &mut self.outbox);
        now
    }

    /// The query upstream `index` received, and where from (the relay's socket).
    fn upstream_query(&self, index: usize) -> (Vec<u8>, SocketAddr) {
        let mut buf = [0u8; 512];
        let (len, from) = self.upstreams[index].recv_from(&mut buf).unwrap();
        (buf[..len].to_vec(), from)
    }

    /// Lets the relay take the datagrams that arrive until nothing is in flight any more (or,
    /// with `until_busy`, until it took one), and sends its replies.
    fn serve(&mut self, stop_after_one: bool) {
        while self.relay.busy() {
            let readable = wait_readable(self.relay.fds());
            let now = self.pool.now();
            self.relay.service(&readable, now, &mut self.outbox);
            if stop_after_one {
                break;
            }
        }
        self.outbox.flush(&self.server);
    }

    /// The reply the client received.
    fn client_reply(&self) -> Vec<u8> {
        let mut buf = [0u8; 512];
        let (len, from) = self.client.recv_from(&mut buf).unwrap();
        assert_eq!(from, self.server.local_addr().unwrap(), "answered from the listening socket");
        buf[..len].to_vec()
    }

    fn unwanted(&self) -> u64 {
        self.pool.server_stats().unwanted_total.load(Ordering::Relaxed)
    }
}

fn loopback() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    socket
}

fn client_query() -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    writer.set_header(CLIENT_ID, Flags { rd: true, ..Flags::default() });
    writer.push_question(&NameBuf::from_text("www.example.", None).unwrap(), Rtype::A, Class::IN).unwrap();
    let len = writer.finish();
    buf.truncate(len);
    buf
}

/// Waits (at most 5 s) until one of `fds` is readable; which ones are.
fn wait_readable<'a>(fds: impl Iterator<Item = BorrowedFd<'a>>) -> Vec<bool> {
    let mut fds: Vec<PollFd<'_>> = fds.map(|fd| PollFd::new(fd, PollFlags::POLLIN)).collect();
    assert!(poll(&mut fds, PollTimeout::from(5_000u16)).unwrap() > 0, "nothing arrived");
    fds.iter().map(|fd| fd.revents().is_some_and(|events| !events.is_empty())).collect()
}

/// An answer to `query` (the upstream's view of it: its ID and question, 0x20 case and all):
/// `www.example. 300 A 192.0.2.1`, with message ID `id`.
fn answer(query: &[u8], id: u16, address: [u8; 4]) -> Vec<u8> {
    let mut end = 12;
    while query[end] != 0 {
        end += usize::from(query[end]) + 1;
    }
    end += 5; // the root label, type and class
    let mut reply = query[..end].to_vec();
    reply[..2].copy_from_slice(&id.to_be_bytes());
    reply[2] |= 0x80; // QR
    reply[3] = 0x80; // RA, NOERROR
    reply[6..12].copy_from_slice(&[0, 1, 0, 0, 0, 0]);
    reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4]);
    reply.extend_from_slice(&address);
    reply
}

fn id_of(message: &[u8]) -> u16 {
    u16::from_be_bytes([message[0], message[1]])
}

fn rcode_of(message: &[u8]) -> Rcode {
    Rcode(u16::from(message[3] & 0x0f))
}

#[test]
fn the_client_gets_the_upstream_answer_under_its_own_id() {
    let mut bench = Bench::new(1, 1_000);
    bench.ask();
    let (query, relay) = bench.upstream_query(0);
    assert_ne!(id_of(&query), CLIENT_ID, "the upstream query has an ID of its own");
    bench.upstreams[0].send_to(&answer(&query, id_of(&query), ANSWER), relay).unwrap();
    bench.serve(false);
    let reply = bench.client_reply();
    assert_eq!(id_of(&reply), CLIENT_ID);
    assert_eq!(rcode_of(&reply), Rcode::NOERROR);
    assert_eq!(&reply[6..8], &[0, 1], "one answer record");
    assert!(reply.ends_with(&ANSWER), "the upstream's address: {reply:?}");
    assert_eq!(bench.pool.counters.upstream_queries.load(Ordering::Relaxed), 1);
    assert_eq!(bench.unwanted(), 0);
}

#[test]
fn silent_upstreams_are_failed_over_then_the_client_gets_servfail() {
    let mut bench = Bench::new(2, 200);
    let asked = bench.ask();
    let (first, _) = bench.upstream_query(0);
    // The first upstream's deadline: the second is asked.
    let wake = bench.relay.next_wake().unwrap();
    assert_eq!(wake, asked.plus_millis(200));
    let none = vec![false; bench.relay.fds().count()];
    bench.relay.service(&none, wake, &mut bench.outbox);
    bench.relay.flush(wake, &mut bench.outbox);
    let (second, _) = bench.upstream_query(1);
    assert!(second[12..].eq_ignore_ascii_case(&first[12..]), "the same question (0x20 case aside), to the next upstream");
    // The second's deadline: no upstream is left.
    let wake = bench.relay.next_wake().unwrap();
    assert_eq!(wake, asked.plus_millis(400));
    bench.relay.service(&none, wake, &mut bench.outbox);
    assert!(!bench.relay.busy());
    bench.outbox.flush(&bench.server);
    let reply = bench.client_reply();
    assert_eq!((id_of(&reply), rcode_of(&reply)), (CLIENT_ID, Rcode::SERVFAIL));
    assert_eq!(bench.pool.counters.failed.load(Ordering::Relaxed), 1);
    assert_eq!(bench.pool.counters.upstream_queries.load(Ordering::Relaxed), 2);
}

#[test]
fn replies_from_another_address_or_with_another_id_are_ignored() {
    let mut bench = Bench::new(1, 1_000);
    bench.ask();
    let (query, relay) = bench.upstream_query(0);
    let id = id_of(&query);
    // A forgery, perfect but for its source: the relay's socket is connected, the kernel drops it.
    loopback().send_to(&answer(&query, id, [6, 6, 6, 6]), relay).unwrap();
    // From the upstream, with an ID never sent: a guess, counted as unwanted.
    bench.upstreams[0].send_to(&answer(&query, id ^ 0x8000, [6, 6, 6, 7]), relay).unwrap();
    bench.serve(true);
    assert!(bench.relay.busy(), "still waiting for the real answer");
    assert_eq!(bench.unwanted(), 1);
    assert_eq!(bench.pool.server_stats().get(bench.upstreams[0].local_addr().unwrap()).unwanted, 1);
    bench.upstreams[0].send_to(&answer(&query, id, ANSWER), relay).unwrap();
    bench.serve(false);
    let reply = bench.client_reply();
    assert_eq!((id_of(&reply), rcode_of(&reply)), (CLIENT_ID, Rcode::NOERROR));
    assert!(reply.ends_with(&ANSWER), "the real answer, not a forgery: {reply:?}");
}
