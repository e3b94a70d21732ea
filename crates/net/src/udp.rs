//! UDP workers: one thread per socket (each its own `SO_REUSEPORT` socket), batches of up to
//! [`BATCH`] datagrams taken with one `recvmmsg` and answered with one `sendmmsg`, fixed buffers,
//! the engine called synchronously (DESIGN §4.4). Nothing is allocated per query answered here
//! (authoritative answers and cache hits). A query the engine hands to the resolver
//! ([`Outcome::Resolve`]) is copied to the [`ResolverPool`] with a clone of the socket; the pool
//! answers it later. A short receive timeout lets idle workers notice shutdown.

use crate::resolver_pool::{ReplyTo, ResolverPool, Waiter};
use crate::{Clock, EngineHandle, Shutdown};
use nix::sys::socket::{recvmmsg, sendmmsg, MsgFlags, MultiHeaders, SockaddrLike, SockaddrStorage};
use portcullis_engine::{Outcome, Request, Transport};
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Datagrams taken per system call.
pub const BATCH: usize = 32;
/// Largest datagram received or sent; longer queries are dropped as malformed (UDP answers are
/// capped at `udp-payload`, at most 4096).
pub const SLOT: usize = 4096;
/// How often an idle worker checks for shutdown.
const POLL: Duration = Duration::from_millis(200);

/// Starts one worker thread per socket; `clock` is the server's shared clock and `pool` takes
/// the queries to resolve (none: recursion never starts here).
pub fn spawn_workers(
    sockets: Vec<(u16, UdpSocket)>,
    engine: &EngineHandle,
    shutdown: &Shutdown,
    clock: Clock,
    pool: Option<Arc<ResolverPool>>,
) -> io::Result<Vec<JoinHandle<()>>> {
    let mut handles = Vec::new();
    for (index, (listener, socket)) in sockets.into_iter().enumerate() {
        socket.set_read_timeout(Some(POLL))?;
        let engine = engine.clone();
        let shutdown = shutdown.clone();
        let resolver = match &pool {
            Some(pool) => Some((pool.clone(), Arc::new(socket.try_clone()?))),
            None => None,
        };
        let handle = std::thread::Builder::new()
            .name(format!("udp-{index}"))
            .spawn(move || Worker::new(listener, clock, resolver).serve(&socket, &engine, &shutdown))?;
        handles.push(handle);
    }
    Ok(handles)
}

/// One worker's buffers, allocated once.
struct Worker {
    receive: Box<[[u8; SLOT]; BATCH]>,
    send: Box<[[u8; SLOT]; BATCH]>,
    received: [(usize, Option<SocketAddr>); BATCH],
    replies: [(usize, Option<SockaddrStorage>); BATCH],
    receive_headers: MultiHeaders<SockaddrStorage>,
    send_headers: MultiHeaders<SockaddrStorage>,
    clock: Clock,
    listener: u16,
    resolver: Option<(Arc<ResolverPool>, Arc<UdpSocket>)>,
}

impl Worker {
    fn new(listener: u16, clock: Clock, resolver: Option<(Arc<ResolverPool>, Arc<UdpSocket>)>) -> Self {
        Self {
            receive: Box::new([[0; SLOT]; BATCH]),
            send: Box::new([[0; SLOT]; BATCH]),
            received: [(0, None); BATCH],
            replies: [(0, None); BATCH],
            receive_headers: MultiHeaders::preallocate(BATCH, None),
            send_headers: MultiHeaders::preallocate(BATCH, None),
            clock,
            listener,
            resolver,
        }
    }

    /// Receive a batch, answer it, send the answers; until shutdown.
    fn serve(mut self, socket: &UdpSocket, engine: &EngineHandle, shutdown: &Shutdown) {
        while !shutdown.is_triggered() {
            let count = match self.receive_batch(socket) {
                Ok(count) => count,
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
                Err(error) => {
                    tracing::debug!(%error, "udp receive failed");
                    continue;
                }
            };
            let replies = self.answer_batch(count, engine);
            self.send_batch(socket, replies);
        }
    }

    fn receive_batch(&mut self, socket: &UdpSocket) -> nix::Result<usize> {
        let mut slices = self.receive.each_mut().map(|buf| [IoSliceMut::new(buf)]);
        let results = recvmmsg(socket.as_raw_fd(), &mut self.receive_headers, slices.iter_mut(), MsgFlags::MSG_WAITFORONE, None)?;
        let mut count = 0;
        for (slot, message) in self.received.iter_mut().zip(results) {
            let truncated = message.flags.contains(MsgFlags::MSG_TRUNC);
            *slot = (if truncated { 0 } else { message.bytes }, message.address.as_ref().and_then(to_std));
            count += 1;
        }
        Ok(count)
    }

    /// Answers the received datagrams; returns how many replies are queued in `replies`.
    fn answer_batch(&mut self, count: usize, engine: &EngineHandle) -> usize {
        let engine = engine.load();
        let (now, unix_secs) = self.clock.now();
        let mut queued = 0;
        for index in 0..count {
            let (len, Some(peer)) = self.received[index] else { continue };
            let request = Request { bytes: &self.receive[index][..len], peer, transport: Transport::Udp, now, unix_secs, listener: self.listener };
            match engine.handle(&request, &mut self.send[queued]) {
                Outcome::Reply(n) => {
                    self.replies[queued] = (n, Some(SockaddrStorage::from(peer)));
                    queued += 1;
                }
                Outcome::Drop(reason) => tracing::trace!(%peer, reason = reason.as_str(), "dropped"),
                Outcome::Resolve => {
                    let Some((pool, socket)) = &self.resolver else {
                        engine.counters().dropped(portcullis_engine::DropReason::ResolverOverload);
                        continue;
                    };
                    let waiter =
                        Waiter { query: request.bytes.to_vec(), peer, transport: Transport::Udp, listener: self.listener, reply: ReplyTo::Udp(socket.clone()) };
                    if let Err(reason) = pool.submit(waiter) {
                        engine.counters().dropped(reason);
                    }
                }
            }
        }
        queued
    }

    /// Sends the queued replies, retrying the rest when the kernel takes only part of them.
    fn send_batch(&mut self, socket: &UdpSocket, queued: usize) {
        let mut sent = 0;
        while sent < queued {
            let send = &self.send;
            let slices: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|i| [IoSlice::new(&send[i][..self.replies[i].0])]);
            let addresses: [Option<SockaddrStorage>; BATCH] = std::array::from_fn(|i| self.replies[i].1);
            let result = sendmmsg(socket.as_raw_fd(), &mut self.send_headers, slices[sent..queued].iter(), &addresses[sent..queued], [], MsgFlags::empty());
            match result {
                Ok(results) => {
                    let done = results.count();
                    if done == 0 {
                        return;
                    }
                    sent += done;
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(error) => {
                    // Skip the datagram the kernel refused (e.g. an unreachable peer) and go on.
                    tracing::debug!(%error, "udp send failed");
                    sent += 1;
                }
            }
        }
    }
}

fn to_std(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::new(v4.ip(), v4.port())));
    }
    let v6 = address.as_sockaddr_in6()?;
    let _ = address.len();
    Some(SocketAddr::V6(SocketAddrV6::new(v6.ip(), v6.port(), v6.flowinfo(), v6.scope_id())))
}
