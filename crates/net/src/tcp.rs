//! DNS over TCP (RFC 7766, RFC 1035 §4.2.2): two-byte framing, pipelined queries, bounded
//! connections (global and per client), and first-message, per-message and idle timeouts.
//!
//! Each connection has a reader (parse, answer) and a writer joined by a bounded channel: a client
//! that sends without reading fills the channel, then the reader stops reading (back-pressure),
//! so memory per connection stays bounded. Queries handed to the resolver pool are answered
//! through the same channel when their resolution ends, possibly out of order (RFC 7766 §7); at
//! most `in_flight` of one connection's questions are resolving at once, and the reader waits
//! for one to end before reading on (so one connection cannot fill the pool's table).
//!
//! Every connection that ends, and every one refused at accept, is counted under its
//! [`CloseReason`] in the listener's [`NetCounters`].
//!
//! DNS over TLS (RFC 7858) is this same code over a TLS stream: [`serve_tls`] admits a
//! connection as [`serve`] does, bounds its handshake by the first-message timeout
//! ([`crate::dot`]), then reads and writes through the generic reader and writer here.

use crate::metrics::{CloseReason, NetCounters};
use crate::resolver_pool::{ReplyTo, ResolverPool, Waiter};
use crate::tcp_admit::{Admission, Connections, Ticket};
use crate::{Clock, EngineHandle, Shutdown};
use portcullis_engine::{Engine, Outcome, Request, Transport};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify, Semaphore};

/// Limits of the TCP listener (SECURITY-REFERENCE §7).
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections per client: per IPv4 address, per IPv6 /64.
    pub per_client: usize,
    /// Time allowed for the first message after connecting.
    pub first_message: Duration,
    /// Time allowed for the rest of a message once its length has arrived.
    pub per_message: Duration,
    /// Time allowed between messages.
    pub idle: Duration,
    /// Replies queued per connection before the reader stops reading.
    pub in_flight: usize,
    /// Queries answered on one connection before it is closed.
    pub queries_per_connection: usize,
    /// Longest life of one connection.
    pub lifetime: Duration,
    /// TLS and QUIC handshakes per client and second on an encrypted listener (0: no limit).
    pub handshakes_per_second: u32,
}

impl Default for TcpLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            per_client: 32,
            first_message: Duration::from_secs(5),
            per_message: Duration::from_secs(2),
            idle: Duration::from_secs(10),
            in_flight: 16,
            queries_per_connection: 1_000_000,
            lifetime: Duration::from_secs(300),
            handshakes_per_second: 0,
        }
    }
}

/// What every connection of a listener shares: the shared clock and the resolver pool.
#[derive(Clone, Debug, Default)]
pub struct Services {
    /// The server's clock.
    pub clock: Clock,
    /// Takes the queries to resolve (none: recursion never starts here).
    pub pool: Option<Arc<ResolverPool>>,
    /// Where connections closed and refused are counted.
    pub counters: Arc<NetCounters>,
    /// dnstap's queue, when dnstap is on.
    pub tap: Option<Arc<crate::tap::Tap>>,
    /// Takes the dynamic updates the engine lets through (none: they are dropped).
    pub updates: Option<crate::updates::Updates>,
}

/// Accepts and serves connections until shutdown.
pub async fn serve(
    index: u16,
    listener: std::net::TcpListener,
    engine: EngineHandle,
    limits: TcpLimits,
    shutdown: Shutdown,
    services: Services,
) -> io::Result<()> {
    serve_counted(index, listener, engine, limits, shutdown, services, Arc::default(), None).await
}

/// [`serve`] for DNS over TLS (RFC 7858): each admitted connection does its TLS handshake
/// (within the first-message timeout) with `tls`, then is served as a TCP connection.
pub async fn serve_tls(
    index: u16,
    listener: std::net::TcpListener,
    engine: EngineHandle,
    limits: TcpLimits,
    shutdown: Shutdown,
    services: Services,
    tls: tokio_rustls::TlsAcceptor,
) -> io::Result<()> {
    serve_counted(index, listener, engine, limits, shutdown, services, Arc::default(), Some(tls)).await
}

/// [`serve`], with the listener's registry of connections given (tests read its peak), and
/// the TLS acceptor of a DoT listener.
#[allow(clippy::too_many_arguments)]
async fn serve_counted(
    index: u16,
    listener: std::net::TcpListener,
    engine: EngineHandle,
    limits: TcpLimits,
    shutdown: Shutdown,
    services: Services,
    connections: Arc<Connections>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let handshakes = crate::handshake_rate::HandshakeRate::new(if tls.is_some() { limits.handshakes_per_second } else { 0 });
    while !shutdown.is_triggered() {
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        let Ok(accepted) = accepted else { continue };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%error, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if !handshakes.admit(peer.ip()) {
            services.counters.closed(CloseReason::HandshakeRate);
            continue;
        }
        let ticket = match admit(&connections, peer, &limits).await {
            Ok(ticket) => ticket,
            Err(reason) => {
                tracing::debug!(%peer, reason = reason.as_str(), "tcp connection refused");
                services.counters.closed(reason);
                drop(stream);
                continue;
            }
        };
        let engine = engine.clone();
        let connections = connections.clone();
        let shutdown = shutdown.clone();
        let services = services.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let id = ticket.id;
            let counters = services.counters.clone();
            let transport = if tls.is_some() { Transport::Tls } else { Transport::Tcp };
            let context = Context { listener: index, peer, engine, limits, shutdown, connections: connections.clone(), ticket, services, transport };
            let _ = stream.set_nodelay(true);
            let reason = match tls {
                None => serve_connection(stream, context).await,
                Some(tls) => crate::dot::serve_connection(stream, &tls, context).await,
            };
            connections.release(id);
            counters.closed(reason);
            tracing::debug!(%peer, reason = reason.as_str(), "tcp connection closed");
        });
    }
    drain(&connections).await;
    Ok(())
}

/// How long a stopping listener waits for its connections to finish.
const DRAIN: Duration = Duration::from_secs(10);

/// At shutdown: tells every connection to close (idle ones at once, busy ones after their
/// answer) and waits, at most [`DRAIN`], until they are closed, so that none is cut (reset) when
/// the process exits.
async fn drain(connections: &Connections) {
    let deadline = tokio::time::Instant::now() + DRAIN;
    connections.close_all();
    while !connections.is_empty() {
        if tokio::time::timeout_at(deadline, connections.released.notified()).await.is_err() {
            tracing::warn!("tcp connections still open after the drain time; closing them");
            return;
        }
        connections.close_all();
    }
}

/// How long a closing connection reads (and drops) what the client still sends, waiting for
/// its end: closing a socket with unread data would reset it.
const LINGER: Duration = Duration::from_secs(2);

/// How long a newcomer waits for an evicted connection to be gone (it has
/// [`EVICTED_FLUSH`] to send the replies it holds); then it is refused.
const RELEASE_WAIT: Duration = Duration::from_secs(2);

/// How long an evicted connection may spend sending the replies already queued for it.
const EVICTED_FLUSH: Duration = Duration::from_millis(500);

/// Admits `peer`, waiting (at most [`RELEASE_WAIT`]) when the listener is full and an idle
/// connection is closing to make room: the open connections never exceed `max-connections`.
/// Nothing else is accepted meanwhile, so one waiting socket at most is held beyond the limit.
async fn admit(connections: &Connections, peer: SocketAddr, limits: &TcpLimits) -> Result<Ticket, CloseReason> {
    let deadline = tokio::time::Instant::now() + RELEASE_WAIT;
    loop {
        match connections.admit(peer.ip(), limits) {
            Admission::Admitted(ticket) => return Ok(ticket),
            Admission::Refused(reason) => return Err(reason),
            Admission::Full => {
                if tokio::time::timeout_at(deadline, connections.released.notified()).await.is_err() {
                    return Err(CloseReason::MaxConnections);
                }
            }
        }
    }
}

/// What a connection task needs.
pub(crate) struct Context {
    listener: u16,
    peer: SocketAddr,
    engine: EngineHandle,
    pub(crate) limits: TcpLimits,
    shutdown: Shutdown,
    connections: Arc<Connections>,
    ticket: Ticket,
    services: Services,
    /// TCP, or TLS for a DoT connection.
    transport: Transport,
}

/// One connection: a reader answering queries and a writer sending replies. Returns why it
/// ended: the reader's reason, or a write error when the writer failed first. Returns once the
/// socket is closed (both halves dropped), so that its place is free when it is released.
async fn serve_connection(stream: TcpStream, context: Context) -> CloseReason {
    let (reader, writer) = stream.into_split();
    serve_halves(reader, writer, context).await
}

/// [`serve_connection`] over any stream's two halves (TCP's own, or a TLS stream's).
pub(crate) async fn serve_halves<R, W>(reader: R, writer: W, context: Context) -> CloseReason
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (sender, receiver) = mpsc::channel::<Vec<u8>>(context.limits.in_flight.max(1));
    let closing = Arc::new(Notify::new());
    let write_timeout = context.limits.per_message.max(Duration::from_secs(5));
    let mut writing = tokio::spawn(write_replies(writer, receiver, write_timeout, closing.clone()));
    let mut reader = reader;
    let reason = tokio::select! {
        reason = read_queries(&mut reader, &context, sender) => {
            if reason == CloseReason::Evicted {
                // Replies already queued go out; those of questions still resolving do not,
                // and the place is free within EVICTED_FLUSH.
                closing.notify_one();
                if tokio::time::timeout(EVICTED_FLUSH, &mut writing).await.is_err() {
                    writing.abort();
                    let _ = writing.await;
                }
            } else {
                let _ = (&mut writing).await;
            }
            reason
        }
        // The reader holds a sender, so the writer ends first only when a write failed.
        _ = &mut writing => CloseReason::WriteError,
    };
    if reason == CloseReason::Shutdown {
        // Our side is shut down (FIN sent): read until the client closes too, at most LINGER.
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(LINGER, async { while matches!(reader.read(&mut sink).await, Ok(len) if len > 0) {} }).await;
    }
    reason
}

/// Reads and answers queries until the connection must end, and says why.
async fn read_queries<R: AsyncRead + Unpin>(mut reader: R, context: &Context, sender: mpsc::Sender<Vec<u8>>) -> CloseReason {
    let opened = Instant::now();
    let mut message = vec![0u8; 65_535];
    let mut reply = vec![0u8; 65_535];
    // Questions of this connection resolving at once, at most `in_flight` (SECURITY-REFERENCE
    // row 56): the next one waits for a permit, and the connection is not read meanwhile.
    let resolving = Arc::new(Semaphore::new(context.limits.in_flight.max(1)));
    for count in 0..context.limits.queries_per_connection {
        let len = match read_message(&mut reader, &mut message, context, count == 0, opened).await {
            Ok(len) => len,
            Err(reason) => return reason,
        };
        if let Err(reason) = answer(&message[..len], &mut reply, context, &sender, &resolving).await {
            return reason;
        }
        if context.shutdown.is_triggered() {
            return CloseReason::Shutdown;
        }
    }
    CloseReason::QueryLimit
}

/// Reads one framed message into `message`; its length, or why the connection must end.
async fn read_message<R: AsyncRead + Unpin>(reader: &mut R, message: &mut [u8], context: &Context, first: bool, opened: Instant) -> Result<usize, CloseReason> {
    let limits = &context.limits;
    let (wait, timed_out) = if first { (limits.first_message, CloseReason::FirstMessageTimeout) } else { (idle_timeout(context), CloseReason::IdleTimeout) };
    let left = limits.lifetime.saturating_sub(opened.elapsed());
    let (wait, timed_out) = if left < wait { (left, CloseReason::Lifetime) } else { (wait, timed_out) };
    let mut prefix = [0u8; 2];
    context.connections.set_idle(context.ticket.id);
    tokio::select! {
        read = tokio::time::timeout(wait, reader.read_exact(&mut prefix)) => match read {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return Err(CloseReason::PeerClosed),
            Err(_) => return Err(timed_out),
        },
        () = context.ticket.evict.notified() => {
            return Err(if context.shutdown.is_triggered() { CloseReason::Shutdown } else { CloseReason::Evicted });
        }
    }
    if !context.connections.set_busy(context.ticket.id) {
        return Err(CloseReason::Evicted);
    }
    let len = usize::from(u16::from_be_bytes(prefix));
    if len < 12 {
        return Err(CloseReason::MalformedFrame);
    }
    match tokio::time::timeout(limits.per_message, reader.read_exact(&mut message[..len])).await {
        Ok(Ok(_)) => Ok(len),
        Ok(Err(_)) => Err(CloseReason::TruncatedMessage),
        Err(_) => Err(CloseReason::MessageTimeout),
    }
}

/// Hands one query to the engine and sends (or streams, or has the pool send) its answer.
async fn answer(query: &[u8], reply: &mut [u8], context: &Context, sender: &mpsc::Sender<Vec<u8>>, resolving: &Arc<Semaphore>) -> Result<(), CloseReason> {
    let (now, unix_secs) = context.services.clock.now();
    let request =
        Request { bytes: query, peer: context.peer, transport: context.transport, now, unix_secs, listener: context.listener, worker: crate::OTHER_THREADS };
    let engine = context.engine.load();
    let outcome = engine.handle(&request, reply);
    if let Some(tap) = &context.services.tap {
        let answered = match outcome {
            Outcome::Reply(n) | Outcome::ReplyAndPrefetch(n) => Some(&reply[..n]),
            _ => None,
        };
        // A question handed to the pool is captured with its answer, when that is sent.
        if !(matches!(outcome, Outcome::Resolve) && context.services.pool.is_some()) {
            tap.record(Transport::Tcp, context.peer, None, query, answered);
        }
    }
    match outcome {
        Outcome::Reply(n) => send(sender, &reply[..n]).await,
        Outcome::ReplyAndPrefetch(n) => {
            if let Some(pool) = &context.services.pool {
                pool.prefetch(query);
            }
            send(sender, &reply[..n]).await
        }
        Outcome::Drop(reason) => {
            tracing::debug!(peer = %context.peer, reason = reason.as_str(), "tcp query dropped");
            Err(CloseReason::QueryDropped)
        }
        Outcome::Transfer => send_transfer(&engine, &request, context.peer, sender).await,
        Outcome::Resolve => {
            let Some(pool) = &context.services.pool else { return Err(CloseReason::ResolverUnavailable) };
            let Ok(Ok(permit)) = tokio::time::timeout(idle_timeout(context), resolving.clone().acquire_owned()).await else {
                return Err(CloseReason::ResolverUnavailable);
            };
            let reply = ReplyTo::Tcp(sender.clone(), permit);
            let waiter = Waiter { query: query.to_vec(), peer: context.peer, transport: context.transport, listener: context.listener, reply };
            if let Err(reason) = pool.submit(waiter) {
                engine.counters().dropped(reason);
            }
            Ok(())
        }
        Outcome::Update => {
            let Some(updates) = &context.services.updates else { return Err(CloseReason::QueryDropped) };
            let Ok(Ok(permit)) = tokio::time::timeout(idle_timeout(context), resolving.clone().acquire_owned()).await else {
                return Err(CloseReason::ResolverUnavailable);
            };
            let reply = ReplyTo::Tcp(sender.clone(), permit);
            updates.submit(Waiter { query: query.to_vec(), peer: context.peer, transport: context.transport, listener: context.listener, reply });
            Ok(())
        }
    }
}

/// Queues one reply for the writer.
async fn send(sender: &mpsc::Sender<Vec<u8>>, reply: &[u8]) -> Result<(), CloseReason> {
    sender.send(reply.to_vec()).await.map_err(|_| CloseReason::WriteError)
}

/// Streams the zone transfer the engine allowed for `request` (AXFR, RFC 5936; IXFR, RFC 1995), one message at a
/// time through the connection's bounded channel: a slow reader holds the transfer back, and
/// the transfer holds one message and a snapshot of the zone.
async fn send_transfer(engine: &Engine, request: &Request<'_>, peer: SocketAddr, sender: &mpsc::Sender<Vec<u8>>) -> Result<(), CloseReason> {
    let Some(mut transfer) = engine.transfer(request) else { return Err(CloseReason::TransferGone) };
    let mut buffer = vec![0u8; portcullis_engine::auth::transfer::MESSAGE_MAX];
    while let Some(len) = transfer.next_message(&mut buffer) {
        send(sender, &buffer[..len]).await?;
    }
    let zone = transfer.zone().to_string();
    let kind = if transfer.is_incremental() { "IXFR" } else { "AXFR" };
    tracing::info!(%peer, %zone, kind, messages = transfer.messages(), records = transfer.records(), "zone transfer sent");
    Ok(())
}

/// The idle timeout, shortened as the connection table fills (Unbound's approach): full time
/// below half, a half above 50%, a fifth above 80%.
fn idle_timeout(context: &Context) -> Duration {
    let idle = context.limits.idle;
    match context.connections.load_percent(&context.limits) {
        0..=50 => idle,
        51..=80 => idle / 2,
        _ => (idle / 5).max(Duration::from_millis(100)),
    }
}

/// Writes the queued replies until every sender is gone, or, once `closing` fires, until those
/// already queued are written; returns early when a write fails or takes longer than `timeout`.
async fn write_replies<W: AsyncWrite + Unpin>(mut writer: W, mut receiver: mpsc::Receiver<Vec<u8>>, timeout: Duration, closing: Arc<Notify>) {
    loop {
        let reply = tokio::select! {
            biased;
            reply = receiver.recv() => reply,
            () = closing.notified() => {
                receiver.close();
                continue;
            }
        };
        let Some(reply) = reply else { break };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
        framed.extend_from_slice(&reply);
        match tokio::time::timeout(timeout, writer.write_all(&framed)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
    let _ = writer.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::{serve, serve_counted, Services, TcpLimits};
    use crate::metrics::{CloseReason, NetCounters};
    use crate::tcp_admit::Connections;
    use crate::Shutdown;
    use arc_swap::ArcSwap;
    use portcullis_engine::auth::ZoneSet;
    use portcullis_engine::{Engine, EngineSettings};
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// "example. IN A", ID 7, RD, with its two-byte length (RFC 1035 §4.2.2).
    const QUERY: [u8; 27] = [0, 25, 0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0, 0, 1, 0, 1];

    /// Short timeouts, at most 3 connections per client and 2 queries per connection.
    fn short_limits() -> TcpLimits {
        let short = Duration::from_millis(300);
        TcpLimits { per_client: 3, first_message: short, per_message: short, idle: short, queries_per_connection: 2, ..TcpLimits::default() }
    }

    /// A listener on loopback with `limits`, over an engine with no zones (every query gets
    /// REFUSED).
    async fn listener(limits: TcpLimits, counters: &Arc<NetCounters>, shutdown: &Shutdown) -> SocketAddr {
        let (socket, addr, engine, services) = parts(counters);
        tokio::spawn(serve(0, socket, engine, limits, shutdown.clone(), services));
        addr
    }

    fn parts(counters: &Arc<NetCounters>) -> (std::net::TcpListener, SocketAddr, crate::EngineHandle, Services) {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let addr = socket.local_addr().unwrap();
        let engine = Arc::new(ArcSwap::from_pointee(Engine::new(ZoneSet::default(), EngineSettings::default(), Arc::default())));
        (socket, addr, engine, Services { counters: counters.clone(), ..Services::default() })
    }

    /// Reads until the server closes the connection; the bytes read (bounded: 5 s).
    async fn until_closed(mut stream: TcpStream) -> usize {
        let mut buf = vec![0u8; 4096];
        let mut total = 0;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.expect("the server closes the connection") {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    }

    /// Waits (bounded) until `reason` has been counted `count` times.
    async fn counted(counters: &NetCounters, reason: CloseReason, count: u64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while counters.closes_of(reason) < count {
            assert!(Instant::now() < deadline, "{reason:?}: {} of {count}", counters.closes_of(reason));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn connect_and_send(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(bytes).await.unwrap();
        stream
    }

    #[tokio::test]
    async fn every_closed_or_refused_connection_is_counted_under_its_reason() {
        let (counters, shutdown) = (Arc::new(NetCounters::default()), Shutdown::default());
        let addr = listener(short_limits(), &counters, &shutdown).await;

        assert_eq!(until_closed(connect_and_send(addr, &[]).await).await, 0);
        counted(&counters, CloseReason::FirstMessageTimeout, 1).await;
        assert_eq!(until_closed(connect_and_send(addr, &QUERY).await).await, QUERY.len(), "REFUSED, then idle");
        counted(&counters, CloseReason::IdleTimeout, 1).await;
        let mut stream = connect_and_send(addr, &QUERY).await;
        stream.read_exact(&mut [0u8; QUERY.len()]).await.unwrap();
        drop(stream);
        counted(&counters, CloseReason::PeerClosed, 1).await;
        assert_eq!(until_closed(connect_and_send(addr, &[QUERY, QUERY, QUERY].concat()).await).await, 2 * QUERY.len());
        counted(&counters, CloseReason::QueryLimit, 1).await;
        until_closed(connect_and_send(addr, &[0, 5, 0, 7, 1, 0, 0]).await).await;
        counted(&counters, CloseReason::MalformedFrame, 1).await;
        until_closed(connect_and_send(addr, &QUERY[..10]).await).await;
        counted(&counters, CloseReason::MessageTimeout, 1).await;

        // Three connections from 127.0.0.1 are open: a fourth is refused at once.
        let held = [connect_and_send(addr, &[]).await, connect_and_send(addr, &[]).await, connect_and_send(addr, &[]).await];
        assert_eq!(until_closed(connect_and_send(addr, &QUERY).await).await, 0);
        counted(&counters, CloseReason::PerClientLimit, 1).await;
        for stream in held {
            until_closed(stream).await;
        }
        counted(&counters, CloseReason::FirstMessageTimeout, 4).await;
        // Nothing else counted, nothing counted twice (in `CloseReason::ALL` order).
        let expected = [
            (CloseReason::PeerClosed, 1),
            (CloseReason::FirstMessageTimeout, 4),
            (CloseReason::IdleTimeout, 1),
            (CloseReason::MessageTimeout, 1),
            (CloseReason::MalformedFrame, 1),
            (CloseReason::PerClientLimit, 1),
            (CloseReason::QueryLimit, 1),
        ];
        let counts: Vec<(CloseReason, u64)> = CloseReason::ALL.iter().map(|&reason| (reason, counters.closes_of(reason))).filter(|(_, n)| *n > 0).collect();
        assert_eq!(counts, expected.to_vec());
        shutdown.trigger();
    }

    #[tokio::test]
    async fn lifetime_and_eviction_are_counted_apart_from_timeouts() {
        let (counters, shutdown) = (Arc::new(NetCounters::default()), Shutdown::default());
        let long = Duration::from_secs(20);
        let limits = TcpLimits { max_connections: 1, first_message: long, idle: long, lifetime: Duration::from_millis(300), ..short_limits() };
        let addr = listener(limits, &counters, &shutdown).await;

        // Answered, then closed when its life ends, long before the idle timeout.
        assert_eq!(until_closed(connect_and_send(addr, &QUERY).await).await, QUERY.len());
        counted(&counters, CloseReason::Lifetime, 1).await;
        // The only place is taken by an idle connection: it makes room for the next one.
        let mut idle = connect_and_send(addr, &QUERY).await;
        idle.read_exact(&mut [0u8; QUERY.len()]).await.unwrap();
        let next = connect_and_send(addr, &QUERY).await;
        assert_eq!(until_closed(idle).await, 0);
        counted(&counters, CloseReason::Evicted, 1).await;
        assert_eq!(until_closed(next).await, QUERY.len());
        counted(&counters, CloseReason::Lifetime, 2).await;
        let counts: Vec<(CloseReason, u64)> = CloseReason::ALL.iter().map(|&reason| (reason, counters.closes_of(reason))).filter(|(_, n)| *n > 0).collect();
        assert_eq!(counts, [(CloseReason::Evicted, 1), (CloseReason::Lifetime, 2)]);
        shutdown.trigger();
    }

    /// Sends one query and reads its reply; false when the server closed the connection first.
    async fn answered(addr: SocketAddr) -> bool {
        let mut stream = connect_and_send(addr, &QUERY).await;
        stream.read_exact(&mut [0u8; QUERY.len()]).await.is_ok()
    }

    #[tokio::test]
    async fn open_connections_never_exceed_max_connections_while_idle_ones_are_evicted() {
        let (counters, shutdown) = (Arc::new(NetCounters::default()), Shutdown::default());
        let long = Duration::from_secs(20);
        let limits = TcpLimits { max_connections: 4, per_client: 1000, first_message: long, idle: long, ..TcpLimits::default() };
        let connections = Arc::new(Connections::default());
        let (socket, addr, engine, services) = parts(&counters);
        tokio::spawn(serve_counted(0, socket, engine, limits, shutdown.clone(), services, connections.clone(), None));

        // Every place taken by an idle connection (each has had its answer).
        let mut idle = Vec::new();
        for _ in 0..4 {
            let mut stream = connect_and_send(addr, &QUERY).await;
            stream.read_exact(&mut [0u8; QUERY.len()]).await.unwrap();
            idle.push(stream);
        }
        // 24 newcomers at once: each makes an idle connection close and takes its place.
        let newcomers: Vec<_> = (0..24).map(|_| tokio::spawn(answered(addr))).collect();
        let mut served = 0;
        for newcomer in newcomers {
            served += u64::from(newcomer.await.unwrap());
        }
        assert_eq!(connections.peak(), 4, "open connections at most max-connections at any time");
        for stream in idle {
            assert_eq!(until_closed(stream).await, 0, "an idle connection is evicted");
        }
        // No newcomer is refused; one may be evicted itself (idle before its query is read)
        // when a later one needs its place.
        assert_eq!(counters.closes_of(CloseReason::MaxConnections), 0, "refused");
        let evicted = counters.closes_of(CloseReason::Evicted);
        assert!(served > 0 && evicted >= 4 + (24 - served), "served {served}, evicted {evicted}");
        shutdown.trigger();
    }
}
