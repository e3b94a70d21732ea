//! The resolver pool's one driver loop (DESIGN §5.10): [`drive`] runs any sans-IO machine of the
//! engine's [`Driven`] interface, an iterative [`Resolution`] or a [`Forwarding`], to its end.
//!
//! - **Flights**: every query the machine sends is a flight of its own, polled by the driver's
//!   task itself (no task and no channel per query: no wake-up of another thread), so that
//!   several can be in flight (a forwarding's hedged query beside the first); whichever has an
//!   event first reports it. UDP: a fresh connected socket per query on a port the system picks
//!   ([`send_std_udp`]), waiting in the pool's epoll set ([`UpstreamPoll`]: no reactor
//!   registration and no `epoll_ctl` DEL per query; tokio's reactor when there is no set), every
//!   datagram it receives handed to the machine (which does the matching), an ICMP error a
//!   failure; a datagram lands in a buffer leased from the pool's
//!   [`MessageBuffers`] for as long as the machine reads it (no 64 KiB buffer per driver). TCP (after
//!   TC=1, or to a TCP-only server): a forwarding's queries go over the upstream's shared,
//!   pipelined connection ([`TcpConnections`]), a resolution's over a fresh connection to the
//!   authoritative server ([`Exchange`]), closed after its one message.
//! - **Time**: the driver waits for the next event until the instant of [`Step::Wait`]; when
//!   that passes with nothing received, the machine is told ([`Driven::on_wake`]).
//! - **Clean-up**: a flight whose query the machine no longer waits for
//!   ([`Driven::waits_for`]) is dropped, its socket closed, before the next wait, and every
//!   flight left is dropped with the driver: no socket outlives its use, nothing late is read.
//! - **Context**: each call borrows what the machine needs through a [`Lend`]: the cache and
//!   server statistics for a resolution ([`Shared`]), plus the group's state for a forwarding,
//!   locked around the one call only ([`Grouped`]), never across a wait.

use crate::buffers::{Lease, MessageBuffers};
use crate::forwarders::ForwardGroup;
use crate::upstream::{send_std_udp, send_udp, Event, Exchange};
use crate::upstream_encrypted::EncryptedUpstream;
use crate::upstream_poll::{UpstreamPoll, Watched};
use crate::upstream_tcp::TcpConnections;
use crate::Clock;
use portcullis_engine::policy::Instant;
use portcullis_engine::resolve::{Driven, ForwardContext, Forwarding, Outbound, QueryId, Resolution, Resolved, Shared, Step};
use portcullis_engine::Transport;
use smallvec::SmallVec;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{Interest, Ready};
use tokio::net::UdpSocket;

/// Lends a machine of type `D` its context for one call.
pub trait Lend<D: Driven> {
    /// Calls `call` with the context, then releases it.
    fn lend<R>(&self, call: impl FnOnce(D::Context<'_>) -> R) -> R;
}

impl Lend<Resolution> for Shared<'_> {
    fn lend<R>(&self, call: impl FnOnce(Shared<'_>) -> R) -> R {
        call(*self)
    }
}

/// A forwarding's context: the cache and statistics, and its group's state, locked for each call
/// and its health changes logged after it.
pub struct Grouped<'a> {
    /// The forward zone's group.
    pub group: &'a ForwardGroup,
    /// The cache and server statistics.
    pub shared: Shared<'a>,
}

impl Lend<Forwarding> for Grouped<'_> {
    fn lend<R>(&self, call: impl FnOnce(ForwardContext<'_>) -> R) -> R {
        let mut state = self.group.lock();
        let result = call(ForwardContext { shared: self.shared, group: &mut state });
        self.group.log_events(&mut state);
        result
    }
}

/// How a driver's queries go out.
pub struct Wire<'a> {
    /// The shared clock.
    pub clock: Clock,
    /// TCP over shared, pipelined connections (forwarding upstreams); `None`: a fresh
    /// connection per query (authoritative servers).
    pub tcp: Option<&'a Arc<TcpConnections>>,
    /// Counts the queries sent.
    pub sent: &'a AtomicU64,
    /// The connections of an encrypted forward group (DoT, DoH, DoQ); `None` otherwise.
    pub encrypted: Option<&'a EncryptedUpstream>,
    /// Where datagrams are received.
    pub buffers: &'a MessageBuffers,
    /// The epoll set UDP sockets wait in ([`crate::upstream_poll`]); `None`: tokio's reactor
    /// (when the set could not be made).
    pub poll: Option<&'a UpstreamPoll>,
}

/// Runs `machine` to its end and returns its result (see the module documentation).
pub async fn drive<D: Driven>(machine: &mut D, lend: &impl Lend<D>, wire: &Wire<'_>) -> Resolved {
    let mut flights = Flights::new(wire.buffers);
    loop {
        let (now, _) = wire.clock.now();
        match lend.lend(|context| machine.poll(now, context)) {
            Step::Send(outbound) => {
                wire.sent.fetch_add(1, Ordering::Relaxed);
                flights.start(outbound, now, wire);
            }
            Step::Wait(at) => {
                flights.keep(|id| machine.waits_for(id));
                let received = tokio::time::timeout_at(wire.clock.tokio_instant(at), std::future::poll_fn(|cx| flights.poll_next(cx))).await;
                let (now, _) = wire.clock.now();
                match received {
                    Ok((id, Received::Datagram(from, len))) => {
                        let bytes = flights.datagram(len);
                        lend.lend(|context| machine.on_reply(id, from, bytes, now, context));
                    }
                    Ok((id, Received::Message(from, bytes))) => lend.lend(|context| machine.on_reply(id, from, &bytes, now, context)),
                    Ok((id, Received::Failed)) => lend.lend(|context| machine.on_timeout(id, now, context)),
                    Err(_) => lend.lend(|context| machine.on_wake(now, context)),
                }
                flights.release();
            }
            Step::Done(resolved) => return resolved,
        }
    }
}

/// What one flight reported.
enum Received {
    /// A datagram of this length from this address, in [`Flights::datagram`].
    Datagram(SocketAddr, usize),
    /// A TCP message.
    Message(SocketAddr, Vec<u8>),
    /// The query failed at once (unreachable, refused, connection closed).
    Failed,
}

/// A UDP socket waiting to be readable or to have an error (ICMP unreachable), handed back then.
type Readiness = Pin<Box<dyn Future<Output = (UdpSocket, io::Result<Ready>)> + Send>>;

/// One query on the wire, polled by the driver's own task.
enum Flight<'a> {
    /// A connected UDP socket in the pool's epoll set: every datagram it receives is reported,
    /// until an error.
    Watched(Watched<'a>),
    /// A connected UDP socket, to be read: every datagram it receives is reported, until an
    /// error.
    Udp(UdpSocket),
    /// The same, once a read found nothing: waiting for more.
    UdpWaiting(Readiness),
    /// A TCP exchange: one message or a failure. `fresh`: its own connection, closed after the
    /// message (so that a message the machine does not take is followed by a failure).
    Tcp { exchange: Pin<Box<dyn Future<Output = Event> + Send + 'a>>, fresh: bool },
    /// To be reported as failed at the next poll.
    Failed,
    /// Nothing more will come.
    Over,
}

impl Flight<'_> {
    /// A flight waiting for `socket` to be readable (or to have an error).
    fn waiting(socket: UdpSocket) -> Self {
        Flight::UdpWaiting(Box::pin(async move {
            let ready = socket.ready(Interest::READABLE | Interest::ERROR).await;
            (socket, ready)
        }))
    }

    /// The flight's next event; a datagram is received into `buf` (leased when first needed).
    fn poll_next<'b>(&mut self, buf: &mut Option<Lease<'b>>, buffers: &'b MessageBuffers, cx: &mut Context<'_>) -> Poll<Received> {
        loop {
            match std::mem::replace(self, Flight::Over) {
                Flight::Watched(mut socket) => {
                    let received = socket.poll_recv(cx, |socket| socket.recv_from(buf.get_or_insert_with(|| buffers.lease())));
                    match received {
                        Poll::Ready(Ok((len, from))) => {
                            *self = Flight::Watched(socket);
                            return Poll::Ready(Received::Datagram(from, len));
                        }
                        Poll::Ready(Err(error)) => {
                            tracing::trace!(%error, "upstream udp receive failed");
                            return Poll::Ready(Received::Failed);
                        }
                        Poll::Pending => {
                            *self = Flight::Watched(socket);
                            return Poll::Pending;
                        }
                    }
                }
                Flight::Udp(socket) => match socket.try_recv_from(buf.get_or_insert_with(|| buffers.lease())) {
                    Ok((len, from)) => {
                        *self = Flight::Udp(socket);
                        return Poll::Ready(Received::Datagram(from, len));
                    }
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => *self = Flight::waiting(socket),
                    Err(error) => {
                        tracing::trace!(%error, "upstream udp receive failed");
                        return Poll::Ready(Received::Failed);
                    }
                },
                Flight::UdpWaiting(mut waiting) => match waiting.as_mut().poll(cx) {
                    Poll::Pending => {
                        *self = Flight::UdpWaiting(waiting);
                        return Poll::Pending;
                    }
                    Poll::Ready((socket, Ok(ready))) if !ready.is_error() => *self = Flight::Udp(socket),
                    Poll::Ready((socket, _)) => {
                        tracing::trace!(error = ?socket.take_error(), "upstream udp socket failed");
                        return Poll::Ready(Received::Failed);
                    }
                },
                Flight::Tcp { mut exchange, fresh } => match exchange.as_mut().poll(cx) {
                    Poll::Pending => {
                        *self = Flight::Tcp { exchange, fresh };
                        return Poll::Pending;
                    }
                    Poll::Ready(Event::Message(from, bytes)) => {
                        *self = if fresh { Flight::Failed } else { Flight::Over };
                        return Poll::Ready(Received::Message(from, bytes));
                    }
                    Poll::Ready(Event::Failed) => return Poll::Ready(Received::Failed),
                },
                Flight::Failed => return Poll::Ready(Received::Failed),
                Flight::Over => return Poll::Pending,
            }
        }
    }
}

/// Sends `outbound` from a fresh socket, which then waits in the pool's epoll set (or tokio's
/// reactor, without one); nothing can have arrived yet, so it waits for readiness first.
fn udp_flight<'a>(outbound: &Outbound, poll: Option<&'a UpstreamPoll>) -> Flight<'a> {
    let flight = match poll {
        Some(poll) => send_std_udp(outbound).and_then(|socket| poll.watch(socket)).map(Flight::Watched),
        None => send_udp(outbound).map(Flight::waiting),
    };
    flight.unwrap_or_else(|error| {
        tracing::debug!(server = %outbound.server, %error, "upstream udp send failed");
        Flight::Failed
    })
}

/// The queries in flight, each with its socket or connection; dropping one closes it.
struct Flights<'a> {
    flights: SmallVec<[(QueryId, Flight<'a>); 2]>,
    /// Lends the receive buffer.
    buffers: &'a MessageBuffers,
    /// Where a datagram is received: leased when one is read, given back once the machine has
    /// read it ([`Flights::release`]).
    buf: Option<Lease<'a>>,
    /// The flight polled first next time, so that a busy socket does not starve the others.
    first: usize,
}

impl<'a> Flights<'a> {
    /// No flight yet; datagrams will be received into buffers from `buffers`.
    fn new(buffers: &'a MessageBuffers) -> Self {
        Self { flights: SmallVec::new(), buffers, buf: None, first: 0 }
    }

    /// Sends `outbound` (UDP at once; TCP when its exchange is first polled).
    fn start(&mut self, outbound: Outbound, now: Instant, wire: &Wire<'a>) {
        let budget = Duration::from_millis(outbound.deadline.as_millis().saturating_sub(now.as_millis()).max(1));
        let id = outbound.id;
        let (tcp, encrypted) = (wire.tcp, wire.encrypted);
        let flight = match (outbound.transport, tcp) {
            (Transport::Udp, _) => udp_flight(&outbound, wire.poll),
            (Transport::Tcp, Some(tcp)) => Flight::Tcp { exchange: Box::pin(tcp.query(outbound.server, outbound.bytes, budget)), fresh: false },
            (Transport::Tcp, None) => Flight::Tcp { exchange: Box::pin(async move { Exchange::start(&outbound, budget).await.next().await }), fresh: true },
            // An encrypted group's queries go over its own connections, or fail: never cleartext.
            (Transport::Tls | Transport::Https | Transport::Quic, _) => match encrypted {
                Some(encrypted) => Flight::Tcp { exchange: Box::pin(encrypted.query(outbound.server, outbound.bytes, budget)), fresh: false },
                None => Flight::Failed,
            },
        };
        self.flights.push((id, flight));
    }

    /// Drops (closing its socket) every flight whose query `wanted` says is over.
    fn keep(&mut self, mut wanted: impl FnMut(QueryId) -> bool) {
        self.flights.retain(|(id, _)| wanted(*id));
    }

    /// The next event of any flight; pending while none has one.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<(QueryId, Received)> {
        let count = self.flights.len();
        for turn in 0..count {
            let index = (self.first + turn) % count;
            let (id, flight) = &mut self.flights[index];
            if let Poll::Ready(received) = flight.poll_next(&mut self.buf, self.buffers, cx) {
                self.first = index + 1;
                return Poll::Ready((*id, received));
            }
        }
        Poll::Pending
    }

    /// The first `len` bytes of the receive buffer (empty when none is leased).
    fn datagram(&self, len: usize) -> &[u8] {
        self.buf.as_deref().map_or(&[], |buf| &buf[..len])
    }

    /// Gives the receive buffer back (the machine has read the datagram).
    fn release(&mut self) {
        self.buf = None;
    }
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
