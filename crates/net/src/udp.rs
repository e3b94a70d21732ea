//! UDP workers: one thread per socket (each its own `SO_REUSEPORT` socket), batches of up to
//! [`BATCH`] datagrams taken with one `recvmmsg` and answered with one `sendmmsg`, fixed buffers,
//! the engine called synchronously (DESIGN §4.4). Before a batch is answered, the zone data its
//! answers will read is read ahead for all its queries at once (`Engine::warm`), so that their
//! cache misses overlap instead of queueing. Nothing is allocated per query answered here
//! (authoritative answers and cache hits). A query the engine hands to the resolver
//! ([`Outcome::Resolve`]) goes to the worker's [`Relay`] when its name is under a forward zone
//! (forwarded from this thread), else it is copied to the [`ResolverPool`] with a clone of the
//! socket; the pool answers it later. A short receive timeout lets idle workers notice shutdown;
//! while the relay has questions in flight the worker waits in `poll` on its socket and the
//! relay's. Each worker answers plain repeated queries from its own [`ReplyCache`] (exact
//! replies, `[server] reply-cache` slots, off by default; the engine decides what may be stored
//! and replays the per-query effects).

use crate::relay::Relay;
use crate::resolver_pool::ResolverPool;
use crate::supervise::run_restarting;
use crate::tap::{Recorder, TapEvent};
use crate::{Clock, EngineHandle, Shutdown};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmmsg, sendmmsg, MsgFlags, MultiHeaders, SockaddrLike, SockaddrStorage};
use portcullis_engine::metrics::AnswerSource;
use portcullis_engine::{DropReason, Outcome, ReplyCache, Request, Transport};
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Datagrams taken per system call.
pub const BATCH: usize = 32;
/// Largest datagram received or sent; longer queries are dropped as malformed (UDP answers are
/// capped at `udp-payload`, at most 4096).
pub const SLOT: usize = 4096;
/// One datagram's buffer. Padded by a cache line so that consecutive buffers start in different
/// cache sets: at a 4 KiB stride the heads of a batch's 32 queries and 32 replies (the only
/// bytes a DNS answer touches) would all compete for the same set of the L1 cache.
#[repr(C, align(64))]
pub struct Datagram {
    bytes: [u8; SLOT],
    _pad: [u8; 64],
}

impl Datagram {
    const EMPTY: Self = Self { bytes: [0; SLOT], _pad: [0; 64] };
}

impl AsMut<[u8]> for Datagram {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

/// How long a stopping worker waits for the answers to the questions its relay forwards.
const RELAY_DRAIN: Duration = Duration::from_secs(5);

/// How often an idle worker checks for shutdown.
const POLL: Duration = Duration::from_millis(200);
/// How long at most a captured event waits in a busy worker's tap batch.
const TAP_LATENCY: Duration = Duration::from_millis(20);

/// Starts one worker thread per socket; `clock` is the server's shared clock and `pool` takes
/// the queries to resolve (none: recursion never starts here). A worker that panics is started
/// again on the same socket, counted in `restarts` ([`run_restarting`]).
pub fn spawn_workers(
    sockets: Vec<(u16, UdpSocket)>,
    engine: &EngineHandle,
    shutdown: &Shutdown,
    clock: Clock,
    pool: Option<Arc<ResolverPool>>,
    restarts: &Arc<AtomicU64>,
    services: UdpServices,
) -> io::Result<Vec<JoinHandle<()>>> {
    let UdpServices { tap, updates, reply_cache } = services;
    let mut handles = Vec::new();
    for (index, (listener, socket)) in sockets.into_iter().enumerate() {
        socket.set_read_timeout(Some(POLL))?;
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        let relay = match &pool {
            Some(pool) => Some((pool.clone(), Arc::new(socket.try_clone()?))),
            None => None,
        };
        let (restarts, tap) = (restarts.clone(), tap.clone());
        let updates = match &updates {
            Some(updates) => Some((updates.clone(), Arc::new(socket.try_clone()?))),
            None => None,
        };
        let handle = std::thread::Builder::new().name(format!("udp-{index}")).spawn(move || {
            run_restarting(&format!("udp-{index}"), &shutdown, &restarts, || {
                let relay = relay.clone().map(|(pool, clone)| Relay::new(pool, clone));
                let tap = tap.clone().map(|tap| WorkerTap { tap, local: socket.local_addr().ok(), recorder: Recorder::new() });
                let mut worker = Worker::new(listener, index as u16, clock, relay, tap);
                worker.updates = updates.clone();
                worker.replies = ReplyCache::new(reply_cache);
                worker.serve(&socket, &engine, &shutdown);
            });
        })?;
        handles.push(handle);
    }
    Ok(handles)
}

/// What the UDP workers hand on besides recursion: dnstap's queue and the dynamic updates.
#[derive(Clone, Debug, Default)]
pub struct UdpServices {
    /// dnstap's queue, when dnstap is on.
    pub tap: Option<Arc<crate::tap::Tap>>,
    /// Takes the dynamic updates the engine lets through (none: they are dropped).
    pub updates: Option<crate::updates::Updates>,
    /// Slots of each worker's reply cache (0: off).
    pub reply_cache: usize,
}

/// Replies waiting to go out in one `sendmmsg`; buffers allocated once.
pub struct Outbox {
    buffers: Box<[Datagram; BATCH]>,
    lengths: [usize; BATCH],
    /// Kept in the form `sendmmsg` takes, so that a flush copies nothing.
    addresses: Box<[Option<SockaddrStorage>; BATCH]>,
    count: usize,
    headers: MultiHeaders<SockaddrStorage>,
    /// Replies the kernel refused since the last [`Outbox::take_refused`].
    refused: usize,
}

impl Outbox {
    /// An empty outbox.
    pub(crate) fn new() -> Self {
        Self {
            buffers: Box::new([Datagram::EMPTY; BATCH]),
            lengths: [0; BATCH],
            addresses: Box::new([None; BATCH]),
            count: 0,
            headers: MultiHeaders::preallocate(BATCH, None),
            refused: 0,
        }
    }

    /// The buffer of the next reply (the queue is sent on `socket` first when full); the reply
    /// is queued by [`Outbox::commit`].
    pub fn buffer(&mut self, socket: &UdpSocket) -> &mut [u8; SLOT] {
        if self.count == BATCH {
            self.flush(socket);
        }
        &mut self.buffers[self.count].bytes
    }

    /// Queues the `len` bytes written to the last [`Outbox::buffer`] for `peer`.
    pub fn commit(&mut self, len: usize, peer: SocketAddr) {
        self.lengths[self.count] = len;
        self.addresses[self.count] = Some(SockaddrStorage::from(peer));
        self.count += 1;
    }

    /// Sends the queued replies; a reply the kernel refuses (e.g. to an unreachable peer) is
    /// skipped and counted for [`Outbox::take_refused`].
    pub fn flush(&mut self, socket: &UdpSocket) {
        let queued = self.count;
        self.count = 0;
        let (buffers, lengths, refused) = (&self.buffers, &self.lengths, &mut self.refused);
        let slices: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|i| [IoSlice::new(&buffers[i].bytes[..lengths[i]])]);
        send_batch(socket.as_raw_fd(), &mut self.headers, &slices[..queued], &self.addresses[..queued], MsgFlags::empty(), |_, error| {
            *refused += 1;
            tracing::debug!(%error, "udp send failed");
        });
    }

    /// How many replies the kernel refused since the last call.
    pub fn take_refused(&mut self) -> usize {
        std::mem::take(&mut self.refused)
    }
}

/// Sends `slices` (to `addresses`, or `None`s on a connected socket) with `sendmmsg`, retrying
/// the rest when the kernel takes only part of them. A message the kernel refuses is passed to
/// `refused` (its index and the error) and skipped. Returns how many messages were sent or
/// refused: fewer than given only when the kernel took none (a full buffer, with
/// `MSG_DONTWAIT`).
pub(crate) fn send_batch(
    fd: std::os::fd::RawFd,
    headers: &mut MultiHeaders<SockaddrStorage>,
    slices: &[[IoSlice<'_>; 1]],
    addresses: &[Option<SockaddrStorage>],
    flags: MsgFlags,
    mut refused: impl FnMut(usize, nix::errno::Errno),
) -> usize {
    let mut done = 0;
    while done < slices.len() {
        match sendmmsg(fd, headers, slices[done..].iter(), &addresses[done..], [], flags) {
            Ok(results) => match results.count() {
                0 => break,
                sent => done += sent,
            },
            Err(nix::errno::Errno::EINTR) => {}
            Err(error) => {
                refused(done, error);
                done += 1;
            }
        }
    }
    done
}

/// One worker's buffers, allocated once.
struct Worker {
    receive: Box<[Datagram; BATCH]>,
    received: [(usize, Option<SocketAddr>); BATCH],
    receive_headers: MultiHeaders<SockaddrStorage>,
    outbox: Outbox,
    clock: Clock,
    listener: u16,
    /// This worker's index (its counter shard).
    worker: u16,
    relay: Option<Relay>,
    readable: Vec<bool>,
    /// dnstap's tap, this socket's address and this worker's batch, when dnstap is on.
    tap: Option<WorkerTap>,
    /// The update service and a clone of the socket its replies go out on.
    updates: Option<(crate::updates::Updates, Arc<UdpSocket>)>,
    /// This worker's reply cache.
    replies: ReplyCache,
}

/// A worker's side of the tap: its events go into its own batch, handed over once per receive
/// batch (`net::tap`).
struct WorkerTap {
    tap: Arc<crate::tap::Tap>,
    local: Option<SocketAddr>,
    recorder: Recorder,
}

impl Worker {
    fn new(listener: u16, worker: u16, clock: Clock, relay: Option<Relay>, tap: Option<WorkerTap>) -> Self {
        Self {
            receive: Box::new([Datagram::EMPTY; BATCH]),
            received: [(0, None); BATCH],
            receive_headers: MultiHeaders::preallocate(BATCH, None),
            outbox: Outbox::new(),
            clock,
            listener,
            worker,
            relay,
            readable: Vec::new(),
            tap,
            updates: None,
            replies: ReplyCache::new(0),
        }
    }

    /// Receive a batch, answer it, send the answers; until shutdown.
    fn serve(mut self, socket: &UdpSocket, engine: &EngineHandle, shutdown: &Shutdown) {
        while !shutdown.is_triggered() {
            let mut flags = MsgFlags::MSG_WAITFORONE;
            if self.relay.as_ref().is_some_and(Relay::busy) {
                if !self.wait_with_relay(socket, true) {
                    self.send_all(socket, engine);
                    continue;
                }
                flags |= MsgFlags::MSG_DONTWAIT;
            }
            let count = match self.receive_batch(socket, flags) {
                Ok(count) => count,
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {
                    // Idle: what the tap holds goes to the writer now.
                    self.flush_tap();
                    continue;
                }
                Err(error) => {
                    tracing::debug!(%error, "udp receive failed");
                    continue;
                }
            };
            // One clock read more per batch: every answer of the batch is counted with the
            // batch's time, from recvmmsg's return to sendmmsg's (an upper bound of its own).
            let started = std::time::Instant::now();
            let (replies, cache) = self.answer_batch(socket, count, engine);
            self.send_all(socket, engine);
            let micros = started.elapsed().as_micros() as u64;
            let counters = engine.load();
            let counters = counters.counters();
            counters.answered_in(self.worker, AnswerSource::Cache, micros, cache);
            counters.answered_in(self.worker, AnswerSource::Authoritative, micros, replies.saturating_sub(cache));
        }
        self.flush_tap();
        self.finish_relay(socket, engine);
    }

    /// Hands the tap's batch (if any) to the writer.
    fn flush_tap(&mut self) {
        if let Some(tap) = self.tap.as_mut() {
            tap.recorder.flush(&tap.tap);
        }
    }

    /// At shutdown: the questions the relay is still forwarding get their answers (at most
    /// [`RELAY_DRAIN`]); the listening socket is no longer read (after an upgrade, the new
    /// process reads it).
    fn finish_relay(&mut self, socket: &UdpSocket, engine: &EngineHandle) {
        let deadline = std::time::Instant::now() + RELAY_DRAIN;
        while self.relay.as_ref().is_some_and(Relay::busy) && std::time::Instant::now() < deadline {
            self.wait_with_relay(socket, false);
            self.send_all(socket, engine);
        }
    }

    /// Sends the replies, then the relay's upstream queries (last: a co-located upstream that
    /// wakes up may take the CPU at once), then any reply a refused upstream query produced.
    /// Replies the kernel refused are counted as [`DropReason::SendFailed`].
    fn send_all(&mut self, socket: &UdpSocket, engine: &EngineHandle) {
        self.outbox.flush(socket);
        if let Some(relay) = self.relay.as_mut() {
            let (now, _) = self.clock.now();
            relay.flush(now, &mut self.outbox);
            self.outbox.flush(socket);
        }
        let refused = self.outbox.take_refused();
        if refused > 0 {
            let engine = engine.load();
            (0..refused).for_each(|_| engine.counters().dropped(DropReason::SendFailed));
        }
    }

    /// Waits until the listening socket or one of the relay's is readable or the relay's next
    /// deadline, and lets the relay act. True when queries are waiting on the listening socket
    /// (`listen` false: that socket is not watched).
    fn wait_with_relay(&mut self, socket: &UdpSocket, listen: bool) -> bool {
        let Some(relay) = self.relay.as_mut() else { return true };
        let (now, _) = self.clock.now();
        let wait_ms = relay.next_wake().map_or(POLL.as_millis() as u64, |at| at.as_millis().saturating_sub(now.as_millis()));
        let timeout = PollTimeout::try_from(wait_ms.min(POLL.as_millis() as u64)).unwrap_or(PollTimeout::ZERO);
        let client = if listen { PollFlags::POLLIN } else { PollFlags::empty() };
        let mut fds: Vec<PollFd<'_>> =
            std::iter::once(PollFd::new(socket.as_fd(), client)).chain(relay.fds().map(|fd| PollFd::new(fd, PollFlags::POLLIN))).collect();
        let ready = poll(&mut fds, timeout).unwrap_or(0) > 0;
        let readable = |fd: &PollFd<'_>| ready && fd.revents().is_some_and(|events| !events.is_empty());
        let client = fds.first().is_some_and(readable);
        self.readable.clear();
        self.readable.extend(fds.iter().skip(1).map(readable));
        drop(fds);
        let (now, _) = self.clock.now();
        relay.service(&self.readable, now, &mut self.outbox);
        client
    }

    fn receive_batch(&mut self, socket: &UdpSocket, flags: MsgFlags) -> nix::Result<usize> {
        let received = &mut self.received;
        receive_into(socket.as_raw_fd(), &mut self.receive_headers, &mut self.receive, flags, |index, len, peer| received[index] = (len, peer))
    }

    /// Answers the received datagrams into the outbox; returns the replies written and how many
    /// of them came from the cache.
    fn answer_batch(&mut self, socket: &UdpSocket, count: usize, engine: &EngineHandle) -> (u64, u64) {
        let engine = engine.load();
        let cache_before = engine.counters().cache_answers_of(self.worker);
        let mut replies = 0;
        if count > 1 {
            engine.warm(self.received[..count].iter().zip(self.receive.iter()).map(|(&(len, _), buffer)| &buffer.bytes[..len]));
        }
        let (now, unix_secs) = self.clock.now();
        // One wall-clock read per batch for the captured events' time, when capturing.
        let tap_time = self.tap.as_ref().map_or(std::time::Duration::ZERO, |_| crate::tap::unix_now());
        for index in 0..count {
            let (len, Some(peer)) = self.received[index] else { continue };
            let request = Request {
                bytes: &self.receive[index].bytes[..len],
                peer,
                transport: Transport::Udp,
                now,
                unix_secs,
                listener: self.listener,
                worker: self.worker,
            };
            let outcome = self.replies.answer(&engine, &request, self.outbox.buffer(socket));
            // A question handed to the relay or the pool is captured with its answer, when that
            // is sent.
            if let Some(tap) = self.tap.as_mut().filter(|_| !(matches!(outcome, Outcome::Resolve) && self.relay.is_some())) {
                let response = match outcome {
                    Outcome::Reply(n) | Outcome::ReplyAndPrefetch(n) => Some(&self.outbox.buffer(socket)[..n]),
                    _ => None,
                };
                let event = TapEvent { transport: Transport::Udp, peer, local: tap.local, query: request.bytes, response, time: tap_time };
                tap.recorder.record(&tap.tap, &event);
            }
            match outcome {
                Outcome::Reply(n) => {
                    self.outbox.commit(n, peer);
                    replies += 1;
                }
                Outcome::ReplyAndPrefetch(n) => {
                    self.outbox.commit(n, peer);
                    replies += 1;
                    if let Some(relay) = self.relay.as_ref() {
                        relay.prefetch(request.bytes);
                    }
                }
                Outcome::Drop(reason) => tracing::trace!(%peer, reason = reason.as_str(), "dropped"),
                // The engine streams zones over TCP only (AXFR over UDP is FORMERR).
                Outcome::Transfer => tracing::trace!(%peer, "transfer over udp ignored"),
                Outcome::Resolve => match self.relay.as_mut() {
                    Some(relay) => relay.take(&request, &mut self.outbox),
                    None => engine.counters().dropped(DropReason::ResolverOverload),
                },
                Outcome::Update => match &self.updates {
                    Some((updates, socket)) => {
                        let reply = crate::resolver_pool::ReplyTo::Udp(socket.clone());
                        let query = request.bytes.to_vec();
                        updates.submit(crate::resolver_pool::Waiter { query, peer, transport: Transport::Udp, listener: self.listener, reply });
                    }
                    None => tracing::trace!(%peer, "update without an update service ignored"),
                },
            }
        }
        if let Some(tap) = self.tap.as_mut() {
            // Batches go to the writer when full, when the worker is idle, or once the oldest
            // event waited TAP_LATENCY: few and large hand-overs under load.
            tap.recorder.flush_older(&tap.tap, tap_time, TAP_LATENCY);
        }
        (replies, engine.counters().cache_answers_of(self.worker).saturating_sub(cache_before))
    }
}

/// Receives up to `BATCH` datagrams into `buffers` with one `recvmmsg`; `each` gets every
/// datagram's index, length (0 when it was truncated: longer than a buffer) and sender. Returns
/// how many came.
pub(crate) fn receive_into(
    fd: std::os::fd::RawFd,
    headers: &mut MultiHeaders<SockaddrStorage>,
    buffers: &mut [impl AsMut<[u8]>; BATCH],
    flags: MsgFlags,
    mut each: impl FnMut(usize, usize, Option<SocketAddr>),
) -> nix::Result<usize> {
    let mut slices = buffers.each_mut().map(|buf| [IoSliceMut::new(buf.as_mut())]);
    let results = recvmmsg(fd, headers, slices.iter_mut(), flags, None)?;
    let mut count = 0;
    for message in results {
        let len = if message.flags.contains(MsgFlags::MSG_TRUNC) { 0 } else { message.bytes };
        each(count, len, message.address.as_ref().and_then(to_std));
        count += 1;
    }
    Ok(count)
}

fn to_std(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::new(v4.ip(), v4.port())));
    }
    let v6 = address.as_sockaddr_in6()?;
    let _ = address.len();
    Some(SocketAddr::V6(SocketAddrV6::new(v6.ip(), v6.port(), v6.flowinfo(), v6.scope_id())))
}

#[cfg(test)]
mod tests {
    use super::Outbox;
    use std::net::{SocketAddr, UdpSocket};

    #[test]
    fn a_reply_the_kernel_refuses_is_counted_and_the_others_still_go() {
        let (socket, client) = (UdpSocket::bind("127.0.0.1:0").unwrap(), UdpSocket::bind("127.0.0.1:0").unwrap());
        let mut outbox = Outbox::new();
        // Port 0 is no destination (EINVAL): that datagram is dropped.
        for (byte, peer) in [(1u8, SocketAddr::from(([127, 0, 0, 1], 0))), (2, client.local_addr().unwrap())] {
            outbox.buffer(&socket)[0] = byte;
            outbox.commit(1, peer);
        }
        outbox.flush(&socket);
        assert_eq!(outbox.take_refused(), 1);
        assert_eq!(outbox.take_refused(), 0, "taken once");
        let mut received = [0u8; 4];
        client.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        assert_eq!(client.recv(&mut received).unwrap(), 1);
        assert_eq!(received[0], 2);
    }
}
