//! DNS over TCP (RFC 7766, RFC 1035 §4.2.2): two-byte framing, pipelined queries, bounded
//! connections (global and per client), and first-message, per-message and idle timeouts.
//!
//! Each connection has a reader (parse, answer) and a writer joined by a bounded channel: a client
//! that sends without reading fills the channel, then the reader stops reading (back-pressure),
//! so memory per connection stays bounded.

use crate::{Clock, EngineHandle, Shutdown};
use portcullis_engine::{Outcome, Request, Transport};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

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
            queries_per_connection: 10_000,
            lifetime: Duration::from_secs(300),
        }
    }
}

/// Open connections, in all and per client address.
#[derive(Debug, Default)]
struct Connections {
    per_client: Mutex<HashMap<IpAddr, usize>>,
}

impl Connections {
    /// Admits a connection from `ip` when both limits allow it.
    fn admit(&self, ip: IpAddr, limits: &TcpLimits) -> bool {
        let Ok(mut table) = self.per_client.lock() else { return false };
        let total: usize = table.values().sum();
        let mine = table.get(&ip).copied().unwrap_or(0);
        if total >= limits.max_connections || mine >= limits.per_client {
            return false;
        }
        *table.entry(ip).or_insert(0) += 1;
        true
    }

    fn release(&self, ip: IpAddr) {
        if let Ok(mut table) = self.per_client.lock() {
            if let Some(count) = table.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    table.remove(&ip);
                }
            }
        }
    }
}

/// Accepts and serves connections until shutdown.
pub async fn serve(index: u16, listener: std::net::TcpListener, engine: EngineHandle, limits: TcpLimits, shutdown: Shutdown) -> io::Result<()> {
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
        if !connections.admit(peer.ip(), &limits) {
            tracing::debug!(%peer, reason = "tcp_connection_limit", "connection refused");
            drop(stream);
            continue;
        }
        let engine = engine.clone();
        let connections = connections.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            serve_connection(index, stream, peer, engine, limits, shutdown).await;
            connections.release(peer.ip());
        });
    }
    Ok(())
}

/// One connection: a reader answering queries and a writer sending replies.
async fn serve_connection(listener: u16, stream: TcpStream, peer: SocketAddr, engine: EngineHandle, limits: TcpLimits, shutdown: Shutdown) {
    let _ = stream.set_nodelay(true);
    let (reader, writer) = stream.into_split();
    let (sender, receiver) = mpsc::channel::<Vec<u8>>(limits.in_flight.max(1));
    let writing = tokio::spawn(write_replies(writer, receiver, limits.per_message.max(Duration::from_secs(5))));
    if let Err(reason) = read_queries(reader, (listener, peer), &engine, &limits, &shutdown, sender).await {
        tracing::debug!(%peer, reason, "tcp connection closed");
    }
    let _ = writing.await;
}

async fn read_queries(mut reader: OwnedReadHalf, (listener, peer): (u16, SocketAddr), engine: &EngineHandle, limits: &TcpLimits, shutdown: &Shutdown, sender: mpsc::Sender<Vec<u8>>) -> Result<(), &'static str> {
    let opened = Instant::now();
    let clock = Clock::default();
    let mut message = vec![0u8; 65_535];
    let mut reply = vec![0u8; 65_535];
    for count in 0..limits.queries_per_connection {
        let wait = if count == 0 { limits.first_message } else { limits.idle };
        let wait = wait.min(limits.lifetime.saturating_sub(opened.elapsed()));
        let mut prefix = [0u8; 2];
        match tokio::time::timeout(wait, reader.read_exact(&mut prefix)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return Ok(()),
            Err(_) => return Err("idle_timeout"),
        }
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
        let request = Request { bytes: &message[..len], peer, transport: Transport::Tcp, now, unix_secs, listener };
        let outcome = engine.load().handle(&request, &mut reply);
        match outcome {
            Outcome::Reply(n) => sender.send(reply[..n].to_vec()).await.map_err(|_| "writer_gone")?,
            Outcome::Drop(reason) => return Err(reason.as_str()),
        }
        if shutdown.is_triggered() {
            return Ok(());
        }
    }
    Err("query_limit")
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
