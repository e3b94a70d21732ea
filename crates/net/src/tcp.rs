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

use crate::metrics::{CloseReason, NetCounters};
use crate::resolver_pool::{ReplyTo, ResolverPool, Waiter};
use crate::{Clock, EngineHandle, Shutdown};
use portcullis_engine::{Engine, Outcome, Request, Transport};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify, Semaphore};

/// Limits of the TCP listener (SECURITY-REFERENCE §7).
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections per client address.
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
        }
    }
}

/// Open connections, in all and per client address, with what is needed to evict an idle one
/// when the server is full (SECURITY-REFERENCE §6.5 row 55).
#[derive(Debug, Default)]
struct Connections {
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    per_client: HashMap<IpAddr, usize>,
    open: HashMap<u64, Slot>,
    next_id: u64,
}

/// One open connection as the registry sees it.
#[derive(Debug)]
struct Slot {
    idle_since: Option<Instant>,
    evict: Arc<Notify>,
}

/// A connection's handle on its registry entry.
struct Ticket {
    id: u64,
    evict: Arc<Notify>,
}

impl Connections {
    /// Admits a connection from `ip` when the per-client limit allows it; when the server is
    /// full, the connection idle the longest is told to close to make room.
    fn admit(&self, ip: IpAddr, limits: &TcpLimits) -> Result<Ticket, CloseReason> {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = table.per_client.get(&ip).copied().unwrap_or(0);
        if mine >= limits.per_client {
            return Err(CloseReason::PerClientLimit);
        }
        if table.open.len() >= limits.max_connections {
            let oldest = table.open.values().filter_map(|slot| slot.idle_since.map(|since| (since, slot.evict.clone()))).min_by_key(|(since, _)| *since);
            let Some((_, evict)) = oldest else { return Err(CloseReason::MaxConnections) };
            evict.notify_one();
        }
        *table.per_client.entry(ip).or_insert(0) += 1;
        table.next_id += 1;
        let id = table.next_id;
        let evict = Arc::new(Notify::new());
        table.open.insert(id, Slot { idle_since: None, evict: evict.clone() });
        Ok(Ticket { id, evict })
    }

    /// Marks a connection idle (waiting for a query) or busy.
    fn set_idle(&self, id: u64, idle: bool) {
        if let Ok(mut table) = self.table.lock() {
            if let Some(slot) = table.open.get_mut(&id) {
                slot.idle_since = if idle { Some(slot.idle_since.unwrap_or_else(Instant::now)) } else { None };
            }
        }
    }

    /// The share of the global limit in use, in percent.
    fn load_percent(&self, limits: &TcpLimits) -> usize {
        self.table.lock().map_or(100, |t| t.open.len() * 100 / limits.max_connections.max(1))
    }

    fn release(&self, ip: IpAddr, id: u64) {
        if let Ok(mut table) = self.table.lock() {
            table.open.remove(&id);
            if let Some(count) = table.per_client.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    table.per_client.remove(&ip);
                }
            }
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
    let listener = TcpListener::from_std(listener)?;
    let connections = Arc::new(Connections::default());
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
        let ticket = match connections.admit(peer.ip(), &limits) {
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
        tokio::spawn(async move {
            let id = ticket.id;
            let counters = services.counters.clone();
            let context = Context { listener: index, peer, engine, limits, shutdown, connections: connections.clone(), ticket, services };
            let reason = serve_connection(stream, context).await;
            connections.release(peer.ip(), id);
            counters.closed(reason);
            tracing::debug!(%peer, reason = reason.as_str(), "tcp connection closed");
        });
    }
    Ok(())
}

/// What a connection task needs.
struct Context {
    listener: u16,
    peer: SocketAddr,
    engine: EngineHandle,
    limits: TcpLimits,
    shutdown: Shutdown,
    connections: Arc<Connections>,
    ticket: Ticket,
    services: Services,
}

/// One connection: a reader answering queries and a writer sending replies. Returns why it
/// ended: the reader's reason, or a write error when the writer failed first.
async fn serve_connection(stream: TcpStream, context: Context) -> CloseReason {
    let _ = stream.set_nodelay(true);
    let (reader, writer) = stream.into_split();
    let (sender, receiver) = mpsc::channel::<Vec<u8>>(context.limits.in_flight.max(1));
    let mut writing = tokio::spawn(write_replies(writer, receiver, context.limits.per_message.max(Duration::from_secs(5))));
    tokio::select! {
        reason = read_queries(reader, &context, sender) => {
            let _ = (&mut writing).await;
            reason
        }
        // The reader holds a sender, so the writer ends first only when a write failed.
        _ = &mut writing => CloseReason::WriteError,
    }
}

/// Reads and answers queries until the connection must end, and says why.
async fn read_queries(mut reader: OwnedReadHalf, context: &Context, sender: mpsc::Sender<Vec<u8>>) -> CloseReason {
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
async fn read_message(reader: &mut OwnedReadHalf, message: &mut [u8], context: &Context, first: bool, opened: Instant) -> Result<usize, CloseReason> {
    let limits = &context.limits;
    let (wait, timed_out) = if first { (limits.first_message, CloseReason::FirstMessageTimeout) } else { (idle_timeout(context), CloseReason::IdleTimeout) };
    let left = limits.lifetime.saturating_sub(opened.elapsed());
    let (wait, timed_out) = if left < wait { (left, CloseReason::Lifetime) } else { (wait, timed_out) };
    let mut prefix = [0u8; 2];
    context.connections.set_idle(context.ticket.id, true);
    tokio::select! {
        read = tokio::time::timeout(wait, reader.read_exact(&mut prefix)) => match read {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return Err(CloseReason::PeerClosed),
            Err(_) => return Err(timed_out),
        },
        () = context.ticket.evict.notified() => return Err(CloseReason::Evicted),
    }
    context.connections.set_idle(context.ticket.id, false);
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
        Request { bytes: query, peer: context.peer, transport: Transport::Tcp, now, unix_secs, listener: context.listener, worker: crate::OTHER_THREADS };
    let engine = context.engine.load();
    match engine.handle(&request, reply) {
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
            let waiter = Waiter { query: query.to_vec(), peer: context.peer, transport: Transport::Tcp, listener: context.listener, reply };
            if let Err(reason) = pool.submit(waiter) {
                engine.counters().dropped(reason);
            }
            Ok(())
        }
    }
}

/// Queues one reply for the writer.
async fn send(sender: &mpsc::Sender<Vec<u8>>, reply: &[u8]) -> Result<(), CloseReason> {
    sender.send(reply.to_vec()).await.map_err(|_| CloseReason::WriteError)
}

/// Streams the zone transfer the engine allowed for `request` (AXFR, RFC 5936), one message at a
/// time through the connection's bounded channel: a slow reader holds the transfer back, and
/// the transfer holds one message and a snapshot of the zone.
async fn send_transfer(engine: &Engine, request: &Request<'_>, peer: SocketAddr, sender: &mpsc::Sender<Vec<u8>>) -> Result<(), CloseReason> {
    let Some(mut transfer) = engine.transfer(request) else { return Err(CloseReason::TransferGone) };
    let mut buffer = vec![0u8; portcullis_engine::auth::transfer::MESSAGE_MAX];
    while let Some(len) = transfer.next_message(&mut buffer) {
        send(sender, &buffer[..len]).await?;
    }
    let zone = transfer.zone().to_string();
    tracing::info!(%peer, %zone, messages = transfer.messages(), records = transfer.records(), "zone transfer sent");
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

/// Writes the queued replies until every sender is gone; returns early when a write fails or
/// takes longer than `timeout`.
async fn write_replies(mut writer: OwnedWriteHalf, mut receiver: mpsc::Receiver<Vec<u8>>, timeout: Duration) {
    while let Some(reply) = receiver.recv().await {
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
    use super::{serve, Services, TcpLimits};
    use crate::metrics::{CloseReason, NetCounters};
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
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let addr = socket.local_addr().unwrap();
        let engine = Arc::new(ArcSwap::from_pointee(Engine::new(ZoneSet::default(), EngineSettings::default(), Arc::default())));
        let services = Services { counters: counters.clone(), ..Services::default() };
        tokio::spawn(serve(0, socket, engine, limits, shutdown.clone(), services));
        addr
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
}
