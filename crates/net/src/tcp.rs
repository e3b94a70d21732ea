//! DNS over TCP (RFC 7766, RFC 1035 §4.2.2): two-byte framing, pipelined queries, bounded
//! connections (global and per client), and first-message, per-message and idle timeouts.
//!
//! Each connection has a reader (parse, answer) and a writer joined by a bounded channel: a client
//! that sends without reading fills the channel, then the reader stops reading (back-pressure),
//! so memory per connection stays bounded. Queries handed to the resolver pool are answered
//! through the same channel when their resolution ends, possibly out of order (RFC 7766 §7); at
//! most `in_flight` of one connection's questions are resolving at once, and the reader waits
//! for one to end before reading on (so one connection cannot fill the pool's table).

use crate::resolver_pool::{ReplyTo, ResolverPool, Waiter};
use crate::{Clock, EngineHandle, Shutdown};
use portcullis_engine::{Engine, Outcome, Request, Transport};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
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
    fn admit(&self, ip: IpAddr, limits: &TcpLimits) -> Option<Ticket> {
        let mut table = self.table.lock().ok()?;
        let mine = table.per_client.get(&ip).copied().unwrap_or(0);
        if mine >= limits.per_client {
            return None;
        }
        if table.open.len() >= limits.max_connections {
            let oldest = table.open.values().filter_map(|slot| slot.idle_since.map(|since| (since, slot.evict.clone()))).min_by_key(|(since, _)| *since);
            let (_, evict) = oldest?;
            evict.notify_one();
        }
        *table.per_client.entry(ip).or_insert(0) += 1;
        table.next_id += 1;
        let id = table.next_id;
        let evict = Arc::new(Notify::new());
        table.open.insert(id, Slot { idle_since: None, evict: evict.clone() });
        Some(Ticket { id, evict })
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
        let Some(ticket) = connections.admit(peer.ip(), &limits) else {
            tracing::debug!(%peer, reason = "tcp_connection_limit", "connection refused");
            drop(stream);
            continue;
        };
        let engine = engine.clone();
        let connections = connections.clone();
        let shutdown = shutdown.clone();
        let services = services.clone();
        tokio::spawn(async move {
            let id = ticket.id;
            let context = Context { listener: index, peer, engine, limits, shutdown, connections: connections.clone(), ticket, services };
            serve_connection(stream, context).await;
            connections.release(peer.ip(), id);
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

/// One connection: a reader answering queries and a writer sending replies.
async fn serve_connection(stream: TcpStream, context: Context) {
    let _ = stream.set_nodelay(true);
    let (reader, writer) = stream.into_split();
    let (sender, receiver) = mpsc::channel::<Vec<u8>>(context.limits.in_flight.max(1));
    let writing = tokio::spawn(write_replies(writer, receiver, context.limits.per_message.max(Duration::from_secs(5))));
    if let Err(reason) = read_queries(reader, &context, sender).await {
        tracing::debug!(peer = %context.peer, reason, "tcp connection closed");
    }
    let _ = writing.await;
}

async fn read_queries(mut reader: OwnedReadHalf, context: &Context, sender: mpsc::Sender<Vec<u8>>) -> Result<(), &'static str> {
    let (limits, peer) = (&context.limits, context.peer);
    let opened = Instant::now();
    let clock = context.services.clock;
    let mut message = vec![0u8; 65_535];
    let mut reply = vec![0u8; 65_535];
    // Questions of this connection resolving at once, at most `in_flight` (SECURITY-REFERENCE
    // row 56): the next one waits for a permit, and the connection is not read meanwhile.
    let resolving = Arc::new(Semaphore::new(limits.in_flight.max(1)));
    for count in 0..limits.queries_per_connection {
        let wait = if count == 0 { limits.first_message } else { idle_timeout(context) };
        let wait = wait.min(limits.lifetime.saturating_sub(opened.elapsed()));
        let mut prefix = [0u8; 2];
        context.connections.set_idle(context.ticket.id, true);
        tokio::select! {
            read = tokio::time::timeout(wait, reader.read_exact(&mut prefix)) => match read {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return Ok(()),
                Err(_) => return Err("idle_timeout"),
            },
            () = context.ticket.evict.notified() => return Err("evicted_idle"),
        }
        context.connections.set_idle(context.ticket.id, false);
        let len = usize::from(u16::from_be_bytes(prefix));
        if len < 12 {
            return Err("short_message");
        }
        match tokio::time::timeout(limits.per_message, reader.read_exact(&mut message[..len])).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return Err("eof_in_message"),
            Err(_) => return Err("message_timeout"),
        }
        let (now, unix_secs) = clock.now();
        let request =
            Request { bytes: &message[..len], peer, transport: Transport::Tcp, now, unix_secs, listener: context.listener, worker: crate::OTHER_THREADS };
        let outcome = context.engine.load().handle(&request, &mut reply);
        match outcome {
            Outcome::Reply(n) => sender.send(reply[..n].to_vec()).await.map_err(|_| "writer_gone")?,
            Outcome::ReplyAndPrefetch(n) => {
                if let Some(pool) = &context.services.pool {
                    pool.prefetch(&message[..len]);
                }
                sender.send(reply[..n].to_vec()).await.map_err(|_| "writer_gone")?;
            }
            Outcome::Drop(reason) => return Err(reason.as_str()),
            Outcome::Transfer => send_transfer(&context.engine.load(), &request, peer, &sender).await?,
            Outcome::Resolve => {
                let Some(pool) = &context.services.pool else { return Err("no_resolver") };
                let Ok(Ok(permit)) = tokio::time::timeout(idle_timeout(context), resolving.clone().acquire_owned()).await else {
                    return Err("resolutions_backlog");
                };
                let reply = ReplyTo::Tcp(sender.clone(), permit);
                let waiter = Waiter { query: message[..len].to_vec(), peer, transport: Transport::Tcp, listener: context.listener, reply };
                if let Err(reason) = pool.submit(waiter) {
                    context.engine.load().counters().dropped(reason);
                }
            }
        }
        if context.shutdown.is_triggered() {
            return Ok(());
        }
    }
    Err("query_limit")
}

/// Streams the zone transfer the engine allowed for `request` (AXFR, RFC 5936), one message at a
/// time through the connection's bounded channel: a slow reader holds the transfer back, and
/// the transfer holds one message and a snapshot of the zone.
async fn send_transfer(engine: &Engine, request: &Request<'_>, peer: SocketAddr, sender: &mpsc::Sender<Vec<u8>>) -> Result<(), &'static str> {
    let Some(mut transfer) = engine.transfer(request) else { return Err("transfer_gone") };
    let mut buffer = vec![0u8; portcullis_engine::auth::transfer::MESSAGE_MAX];
    while let Some(len) = transfer.next_message(&mut buffer) {
        sender.send(buffer[..len].to_vec()).await.map_err(|_| "writer_gone")?;
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
