//! The UDP workers' forwarding relay (issue 5): a question under a forward zone that a UDP client
//! asks is forwarded by the worker that received it, without leaving its thread. The worker
//! drives the same sans-IO [`Forwarding`] as the resolver pool (upstream choice, health, 0x20,
//! matching, scrubbing, caching), through the same [`Driven`] calls and group context as the
//! pool's driver loop ([`crate::driver`]), over its own upstream sockets, and answers the client
//! from its own socket: no task, no channel, no lock but the group's, and the datagrams of a busy
//! worker go in and out in batches.
//!
//! - **Sockets**: one connected UDP socket per upstream at a time (the kernel drops datagrams
//!   from any other address or port and reports ICMP errors), on a port the operating system
//!   picks at random; it is replaced after [`ROTATE_AFTER`] queries or [`ROTATE_MS`], and when
//!   the query's random ID is already waiting on it, so that a port is never used for long
//!   (SECURITY-REFERENCE §3.8). A retired socket is closed once nothing waits on it.
//! - **Coalescing**: when the zone's answers are cached, a client asking a question already in
//!   flight on this worker waits for the same answer (as the pool does).
//! - **Hand-offs** to the [`ResolverPool`]: a query the relay cannot take (full, not under a
//!   forward zone), one whose upstream asks for TCP (TC=1; the pool forwards it again over its
//!   shared TCP connections) and the fallback of a `forward-first` zone whose group failed.
//! - **Time**: the worker waits in `poll` on its listening socket and the relay's sockets until
//!   the earliest deadline of the questions in flight, then lets each due [`Forwarding`] act.

use crate::driver::Lend;
use crate::forwarders::ForwardGroup;
use crate::random::BufferedRandom;
use crate::resolver_pool::{ReplyTo, ResolverPool, Route, Waiter};
use crate::udp::{receive_into, send_batch, Outbox, BATCH};
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage};
use portcullis_engine::policy::Instant;
use portcullis_engine::resolve::{Driven, ForwardMode, Forwarding, Outbound, QueryId, Step};
use portcullis_engine::{recursion_key, DropReason, Outcome, RecursionKey, Request, Transport};
use smallvec::{smallvec, SmallVec};
use std::collections::HashMap;
use std::io;
use std::io::IoSlice;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Queries sent on one upstream socket before it is replaced.
pub const ROTATE_AFTER: u32 = 256;
/// Age (ms) after which an upstream socket is replaced.
pub const ROTATE_MS: u64 = 1_000;
/// The addresses of `sendmmsg` on a connected socket: none.
const NO_ADDRESSES: [Option<SockaddrStorage>; BATCH] = [None; BATCH];
/// Largest upstream reply taken (larger ones arrive over TCP after TC=1).
const REPLY_MAX: usize = 4096;

/// A client waiting for a forwarded question.
struct Client {
    query: Vec<u8>,
    peer: SocketAddr,
    listener: u16,
}

/// One question being forwarded, and the clients asking it.
struct Pending {
    forwarding: Forwarding,
    group: Arc<ForwardGroup>,
    mode: ForwardMode,
    /// Inline: one client, unless others joined.
    clients: SmallVec<[Client; 1]>,
    /// Set when other clients may join (the group's answers are cached).
    key: Option<RecursionKey>,
    wake: Instant,
    /// (socket serial, wire ID) of every query sent for it.
    sent: SmallVec<[(u64, u16); 2]>,
}

/// A connected socket to one upstream.
struct UpstreamSocket {
    serial: u64,
    server: SocketAddr,
    socket: UdpSocket,
    /// Wire ID -> (pending slot, query).
    waiting: HashMap<u16, (usize, QueryId)>,
    /// Every wire ID sent on it, in order (at most [`ROTATE_AFTER`]: the count of queries sent):
    /// a reply with one of them that no longer waits is late; a reply with any other ID is a
    /// guess.
    sent_ids: Vec<u16>,
    /// Queries waiting for the next [`Relay::flush`]: (message, pending slot, query).
    queue: Vec<(Vec<u8>, usize, QueryId)>,
    opened: Instant,
    retired: bool,
}

/// One worker's relay.
pub struct Relay {
    pool: Arc<ResolverPool>,
    socket: Arc<UdpSocket>,
    sockets: Vec<UpstreamSocket>,
    /// Boxed: a question moves in and out of its slot as a pointer.
    pending: Vec<Option<Box<Pending>>>,
    /// The questions other clients may join, and their slots.
    joinable: HashMap<RecursionKey, usize>,
    free: Vec<usize>,
    live: usize,
    next_serial: u64,
    buffers: Box<[[u8; REPLY_MAX]; BATCH]>,
    receive_headers: MultiHeaders<SockaddrStorage>,
    send_headers: MultiHeaders<SockaddrStorage>,
    random: BufferedRandom,
}

impl Relay {
    /// The relay of the worker listening on `socket` (its clone answers handed-off queries).
    pub fn new(pool: Arc<ResolverPool>, socket: Arc<UdpSocket>) -> Self {
        let random = BufferedRandom::new((pool.random)());
        Self {
            pool,
            socket,
            sockets: Vec::new(),
            pending: Vec::new(),
            joinable: HashMap::new(),
            free: Vec::new(),
            live: 0,
            next_serial: 0,
            buffers: Box::new([[0; REPLY_MAX]; BATCH]),
            receive_headers: MultiHeaders::preallocate(BATCH, None),
            send_headers: MultiHeaders::preallocate(BATCH, None),
            random,
        }
    }

    /// True while questions are in flight (the worker then waits in `poll`).
    pub fn busy(&self) -> bool {
        self.live > 0
    }

    /// The sockets replies can arrive on.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.sockets.iter().map(|socket| socket.socket.as_fd())
    }

    /// The earliest instant a question in flight must act at.
    pub fn next_wake(&self) -> Option<Instant> {
        self.pending.iter().flatten().map(|pending| pending.wake).min()
    }

    /// A query the engine wants resolved: forwarded here when its name is under a forward zone
    /// (joining the same question in flight when the zone's answers are cached), else handed to
    /// the pool.
    pub fn take(&mut self, request: &Request<'_>, outbox: &mut Outbox) {
        let Some(key) = recursion_key(request.bytes) else { return self.count_drop(DropReason::Malformed) };
        let client = Client { query: request.bytes.to_vec(), peer: request.peer, listener: request.listener };
        let table = self.pool.forward_table();
        let Some((mode, group)) = table.lookup(&key.question.qname) else { return self.hand_off(client, Route::Any) };
        if let Some(&slot) = self.joinable.get(&key).filter(|_| group.caches()) {
            return self.join(slot, client);
        }
        if self.live >= self.pool.limits.max_resolutions {
            return self.hand_off(client, Route::Any);
        }
        self.pool.counters.forwarded.fetch_add(1, Ordering::Relaxed);
        // (A Forwarding borrows the worker's random bytes: one system call per 4 KiB of them.)
        let settings = self.pool.settings.load_full();
        let forwarding = Forwarding::new(key.question, settings, request.now, Box::new(self.random.clone()))
            .with_fail_open(mode == ForwardMode::Only)
            .with_cache(group.caches())
            .with_validation(group.validates(), request.unix_secs);
        let key = group.caches().then_some(key);
        let pending = Box::new(Pending { forwarding, group: group.clone(), mode, clients: smallvec![client], key, wake: request.now, sent: SmallVec::new() });
        let slot = self.insert(pending);
        self.drive(slot, request.now, outbox);
    }

    /// Refreshes a cached answer about to expire (through the pool: no client waits on it).
    pub fn prefetch(&self, query: &[u8]) {
        self.pool.prefetch(query);
    }

    /// One more client for the question in `slot` (bounded by the pool's `max-waiters`).
    fn join(&mut self, slot: usize, client: Client) {
        let Some(pending) = self.pending[slot].as_mut() else { return };
        if pending.clients.len() >= self.pool.limits.max_waiters {
            self.pool.counters.overloaded.fetch_add(1, Ordering::Relaxed);
            return self.count_drop(DropReason::ResolverOverload);
        }
        pending.clients.push(client);
        self.pool.counters.coalesced.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes the replies waiting on the relay's sockets (`readable[i]`: the i-th of
    /// [`Relay::fds`] has some) and acts on every question due at `now`; the upstream queries
    /// this queues leave with the next [`Relay::flush`].
    pub fn service(&mut self, readable: &[bool], now: Instant, outbox: &mut Outbox) {
        for (index, _) in readable.iter().enumerate().filter(|(_, ready)| **ready) {
            self.receive(index, now, outbox);
        }
        for slot in 0..self.pending.len() {
            if self.pending[slot].as_ref().is_some_and(|pending| pending.wake <= now) {
                self.drive(slot, now, outbox);
            }
        }
        self.close_idle(now);
    }

    /// Reads every datagram waiting on socket `index`, a `recvmmsg` batch at a time.
    fn receive(&mut self, index: usize, now: Instant, outbox: &mut Outbox) {
        loop {
            let fd = self.sockets[index].socket.as_raw_fd();
            let mut lengths = [0usize; BATCH];
            let count = match receive_into(fd, &mut self.receive_headers, &mut self.buffers, MsgFlags::MSG_DONTWAIT, |at, len, _| lengths[at] = len) {
                Ok(count) => count,
                Err(Errno::EAGAIN) => return,
                Err(Errno::EINTR) => continue,
                Err(error) => return self.on_socket_error(index, &io::Error::from(error), now, outbox),
            };
            for (buffer, len) in lengths.iter().take(count).enumerate() {
                self.on_datagram(index, buffer, *len, now, outbox);
            }
            if count < BATCH {
                return;
            }
        }
    }

    fn on_datagram(&mut self, index: usize, buffer: usize, len: usize, now: Instant, outbox: &mut Outbox) {
        let socket = &self.sockets[index];
        let bytes = &self.buffers[buffer][..len];
        let wire = wire_id(bytes);
        let Some(&(slot, id)) = socket.waiting.get(&wire) else {
            return self.unexpected(index, wire, now);
        };
        let from = socket.server;
        let Some(Pending { forwarding, group, .. }) = self.pending[slot].as_deref_mut() else { return };
        self.pool.grouped(group).lend(|context| Driven::on_reply(forwarding, id, from, bytes, now, context));
        self.drive(slot, now, outbox);
    }

    /// A datagram from the upstream with an ID no query waits for. A late reply (an ID sent on
    /// this socket) is stray. Any other ID is a near miss: the datagram came from the upstream's
    /// address and port to this socket's port, so somebody is guessing IDs, and enough of them
    /// (`unwanted-to-tcp`) move that upstream to TCP, as the resolver pool does
    /// (SECURITY-REFERENCE §3.8).
    fn unexpected(&self, index: usize, wire: u16, now: Instant) {
        let socket = &self.sockets[index];
        if socket.sent_ids.contains(&wire) {
            return self.pool.stats.record_stray();
        }
        let threshold = self.pool.settings.load().unwanted_to_tcp;
        if self.pool.stats.record_unwanted(socket.server, threshold, now) {
            tracing::debug!(server = %socket.server, "forward upstream: a reply with a guessed ID; asked over TCP");
        }
    }

    /// An error on a connected socket (ICMP port or host unreachable): every query waiting on it
    /// failed.
    fn on_socket_error(&mut self, index: usize, error: &io::Error, now: Instant, outbox: &mut Outbox) {
        tracing::debug!(server = %self.sockets[index].server, %error, "forward upstream unreachable");
        let failed: Vec<(usize, QueryId)> = self.sockets[index].waiting.drain().map(|(_, query)| query).collect();
        self.fail(failed, now, outbox);
    }

    /// Each (slot, query) failed at once: its forwarding moves on.
    fn fail(&mut self, failed: Vec<(usize, QueryId)>, now: Instant, outbox: &mut Outbox) {
        for (slot, id) in failed {
            let Some(Pending { forwarding, group, .. }) = self.pending[slot].as_deref_mut() else { continue };
            self.pool.grouped(group).lend(|context| Driven::on_timeout(forwarding, id, now, context));
            self.drive(slot, now, outbox);
        }
    }

    /// Lets the question in `slot` act until it waits or ends.
    fn drive(&mut self, slot: usize, now: Instant, outbox: &mut Outbox) {
        loop {
            let Some(Pending { forwarding, group, wake, .. }) = self.pending[slot].as_deref_mut() else { return };
            match self.pool.grouped(group).lend(|context| Driven::poll(forwarding, now, context)) {
                Step::Wait(at) => {
                    *wake = at;
                    return;
                }
                Step::Send(outbound) if outbound.transport == Transport::Udp => {
                    self.pool.counters.upstream_queries.fetch_add(1, Ordering::Relaxed);
                    let (server, id) = (outbound.server, outbound.id);
                    if let Err(error) = self.send(slot, outbound, now) {
                        tracing::debug!(%server, %error, "forward upstream socket failed");
                        if let Some(Pending { forwarding, group, .. }) = self.pending[slot].as_deref_mut() {
                            self.pool.grouped(group).lend(|context| Driven::on_timeout(forwarding, id, now, context));
                        }
                    }
                }
                Step::Send(_) => {
                    // TCP (TC=1, or a TCP-only upstream): the pool forwards it over its shared connections.
                    let clients = self.remove(slot).map(|pending| pending.clients).unwrap_or_default();
                    return clients.into_iter().for_each(|client| self.hand_off(client, Route::Any));
                }
                Step::Done(resolved) => return self.finish(slot, &resolved, outbox),
            }
        }
    }

    /// Answers the clients, or hands a failed `forward-first` question to the pool.
    fn finish(&mut self, slot: usize, resolved: &portcullis_engine::resolve::Resolved, outbox: &mut Outbox) {
        let Some(pending) = self.remove(slot) else { return };
        if resolved.failure.is_some() {
            self.pool.counters.failed.fetch_add(1, Ordering::Relaxed);
            if pending.mode == ForwardMode::First {
                self.pool.counters.forward_fallbacks.fetch_add(1, Ordering::Relaxed);
                return pending.clients.into_iter().for_each(|client| self.hand_off(client, Route::Iterate));
            }
        }
        if let Some(bogus) = &resolved.bogus {
            self.pool.counters.bogus.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(ede = bogus.ede, reason = %bogus.why, "DNSSEC validation failed: {}", bogus.why);
        }
        let engine = self.pool.engine.load();
        let (now, unix_secs) = self.pool.clock.now();
        for client in &pending.clients {
            let request = Request {
                bytes: &client.query,
                peer: client.peer,
                transport: Transport::Udp,
                now,
                unix_secs,
                listener: client.listener,
                worker: crate::OTHER_THREADS,
            };
            if let Outcome::Reply(len) = engine.respond_resolved(resolved, &request, outbox.buffer(&self.socket)) {
                if let Some(tap) = self.pool.tap() {
                    tap.record(Transport::Udp, client.peer, self.socket.local_addr().ok(), &client.query, Some(&outbox.buffer(&self.socket)[..len]));
                }
                outbox.commit(len, client.peer);
            }
        }
    }

    /// Queues `outbound` on the upstream's current socket (a new one when due or when the ID is
    /// taken there) for the next [`Relay::flush`].
    fn send(&mut self, slot: usize, outbound: Outbound, now: Instant) -> io::Result<()> {
        let wire = wire_id(&outbound.bytes);
        let index = match self.current_socket(outbound.server, wire, now) {
            Some(index) => index,
            None => self.open(outbound.server, now)?,
        };
        let socket = &mut self.sockets[index];
        socket.sent_ids.push(wire);
        socket.waiting.insert(wire, (slot, outbound.id));
        socket.queue.push((outbound.bytes, slot, outbound.id));
        let serial = socket.serial;
        if let Some(pending) = self.pending[slot].as_mut() {
            pending.sent.push((serial, wire));
        }
        Ok(())
    }

    /// Sends every queued upstream query, a `sendmmsg` per socket; a query the kernel refuses
    /// fails at once (its forwarding moves on, which may queue more).
    pub fn flush(&mut self, now: Instant, outbox: &mut Outbox) {
        loop {
            let mut failed: Vec<(usize, QueryId)> = Vec::new();
            for socket in self.sockets.iter_mut().filter(|socket| !socket.queue.is_empty()) {
                send_queue(socket, &mut self.send_headers, &mut failed);
            }
            if failed.is_empty() {
                return;
            }
            self.fail(failed, now, outbox);
        }
    }

    /// The socket to `server` that may take one more query with ID `wire`; retires the current
    /// one when it is due.
    fn current_socket(&mut self, server: SocketAddr, wire: u16, now: Instant) -> Option<usize> {
        let index = self.sockets.iter().position(|socket| socket.server == server && !socket.retired)?;
        let socket = &mut self.sockets[index];
        let old = now.as_millis().saturating_sub(socket.opened.as_millis()) >= ROTATE_MS;
        if socket.sent_ids.len() >= ROTATE_AFTER as usize || old || socket.waiting.contains_key(&wire) {
            socket.retired = true;
            return None;
        }
        Some(index)
    }

    /// Opens a connected, non-blocking socket to `server` on a port the system picks.
    fn open(&mut self, server: SocketAddr, now: Instant) -> io::Result<usize> {
        let local: IpAddr = if server.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
        let socket = UdpSocket::bind(SocketAddr::new(local, 0))?;
        socket.connect(server)?;
        socket.set_nonblocking(true)?;
        self.next_serial += 1;
        self.sockets.push(UpstreamSocket {
            serial: self.next_serial,
            server,
            socket,
            waiting: HashMap::new(),
            sent_ids: Vec::new(),
            queue: Vec::new(),
            opened: now,
            retired: false,
        });
        Ok(self.sockets.len() - 1)
    }

    /// Closes retired sockets nothing waits on, and retires idle old ones.
    fn close_idle(&mut self, now: Instant) {
        for socket in &mut self.sockets {
            if socket.waiting.is_empty() && now.as_millis().saturating_sub(socket.opened.as_millis()) >= ROTATE_MS {
                socket.retired = true;
            }
        }
        self.sockets.retain(|socket| !(socket.retired && socket.waiting.is_empty()));
    }

    fn insert(&mut self, pending: Box<Pending>) -> usize {
        self.live += 1;
        let key = pending.key;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.pending[slot] = Some(pending);
                slot
            }
            None => {
                self.pending.push(Some(pending));
                self.pending.len() - 1
            }
        };
        if let Some(key) = key {
            self.joinable.insert(key, slot);
        }
        slot
    }

    /// Ends the question in `slot`: its upstream slots are released and its wire IDs forgotten.
    fn remove(&mut self, slot: usize) -> Option<Box<Pending>> {
        let mut pending = self.pending[slot].take()?;
        self.free.push(slot);
        self.live -= 1;
        if let Some(key) = &pending.key {
            self.joinable.remove(key);
        }
        {
            let mut group = pending.group.lock();
            pending.forwarding.abandon(&mut group);
        }
        for (serial, wire) in pending.sent.drain(..) {
            if let Some(socket) = self.sockets.iter_mut().find(|socket| socket.serial == serial) {
                if socket.waiting.get(&wire).is_some_and(|(waiting, _)| *waiting == slot) {
                    socket.waiting.remove(&wire);
                }
            }
        }
        Some(pending)
    }

    /// Gives the client's query to the resolver pool.
    fn hand_off(&self, client: Client, route: Route) {
        let Client { query, peer, listener } = client;
        let waiter = Waiter { query, peer, transport: Transport::Udp, listener, reply: ReplyTo::Udp(self.socket.clone()) };
        if let Err(reason) = self.pool.submit_routed(waiter, route) {
            self.count_drop(reason);
        }
    }

    fn count_drop(&self, reason: DropReason) {
        self.pool.engine.load().counters().dropped(reason);
    }
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;

/// Sends `socket`'s queue (connected: no addresses), `BATCH` at a time; the queries the kernel
/// refuses go to `failed`.
fn send_queue(socket: &mut UpstreamSocket, headers: &mut MultiHeaders<SockaddrStorage>, failed: &mut Vec<(usize, QueryId)>) {
    let mut queue = std::mem::take(&mut socket.queue);
    for chunk in queue.chunks(BATCH) {
        let slices: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|i| [IoSlice::new(chunk.get(i).map_or(&[], |(bytes, _, _)| bytes))]);
        let server = socket.server;
        let reached =
            send_batch(socket.socket.as_raw_fd(), headers, &slices[..chunk.len()], &NO_ADDRESSES[..chunk.len()], MsgFlags::MSG_DONTWAIT, |index, error| {
                tracing::debug!(%server, %error, "forward upstream send failed");
                failed.push((chunk[index].1, chunk[index].2));
            });
        failed.extend(chunk[reached..].iter().map(|(_, slot, id)| (*slot, *id)));
    }
    // The queue keeps its allocation for the next flush.
    queue.clear();
    socket.queue = queue;
}

/// The message ID of `bytes` (0 for fewer than two octets; the forwarding rejects such a reply
/// when it checks the whole message).
fn wire_id(bytes: &[u8]) -> u16 {
    bytes.get(..2).map_or(0, |id| u16::from_be_bytes([id[0], id[1]]))
}
