//! TCP to forwarding upstreams with connection reuse and pipelining (RFC 7766 §6.2.1): one
//! connection per upstream address, shared by every query to it; queries are written as they
//! come (no waiting for earlier answers) and answers are matched to their query by message ID,
//! in whatever order they arrive. A connection that fails, is closed by the upstream or stays
//! idle for [`TcpConnections::idle`] is dropped; the next query opens a new one. Every query in
//! flight on a failed connection gets [`Event::Failed`] at once.
//!
//! The shape (`query(server, bytes, budget) -> Event`) is the one DoT, DoH and DoQ upstreams
//! will implement too.

use crate::upstream::Event;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Queries queued for writing per connection.
const WRITE_QUEUE: usize = 256;
/// Queries in flight per connection; beyond, a query fails at once (and is retried elsewhere).
const MAX_PENDING: usize = 1024;

type Pending = Mutex<HashMap<u16, oneshot::Sender<Vec<u8>>>>;

/// One open connection.
struct Connection {
    writer: mpsc::Sender<Vec<u8>>,
    pending: Arc<Pending>,
    closed: Arc<AtomicBool>,
}

/// The shared connections, one per upstream address.
#[derive(Default)]
pub struct TcpConnections {
    connections: Mutex<HashMap<SocketAddr, Arc<Connection>>>,
    /// Held while connecting, so that queries arriving together share one new connection.
    connecting: tokio::sync::Mutex<()>,
    /// Connections opened so far.
    pub opened: AtomicU64,
    /// Queries sent on a connection that was already open.
    pub reused: AtomicU64,
}

impl std::fmt::Debug for TcpConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpConnections").field("opened", &self.opened).field("reused", &self.reused).finish_non_exhaustive()
    }
}

impl TcpConnections {
    /// How long a connection with nothing in flight stays open.
    pub const fn idle() -> Duration {
        Duration::from_secs(10)
    }

    /// Sends `query` (a DNS message, without length prefix) to `server` on its shared
    /// connection and waits at most `budget` for the answer with the same message ID.
    pub async fn query(&self, server: SocketAddr, query: Vec<u8>, budget: Duration) -> Event {
        match tokio::time::timeout(budget, self.exchange(server, query)).await {
            Ok(Ok(answer)) => Event::Message(server, answer),
            Ok(Err(error)) => {
                tracing::debug!(%server, %error, "upstream tcp query failed");
                Event::Failed
            }
            Err(_) => Event::Failed,
        }
    }

    async fn exchange(&self, server: SocketAddr, query: Vec<u8>) -> io::Result<Vec<u8>> {
        let id = query.get(..2).map(|id| u16::from_be_bytes([id[0], id[1]])).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "short query"))?;
        let connection = self.connection(server).await?;
        let (sender, receiver) = oneshot::channel();
        {
            let mut pending = connection.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if pending.len() >= MAX_PENDING || pending.contains_key(&id) {
                return Err(io::Error::new(io::ErrorKind::WouldBlock, "connection busy or message ID in use"));
            }
            pending.insert(id, sender);
        }
        let len = u16::try_from(query.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "query too long"))?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&query);
        if connection.writer.send(framed).await.is_err() {
            connection.pending.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "connection closed"));
        }
        let result = receiver.await.map_err(|_| io::Error::new(io::ErrorKind::ConnectionReset, "connection closed before the answer"));
        connection.pending.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
        result
    }

    /// The open connection to `server`, or a new one.
    async fn connection(&self, server: SocketAddr) -> io::Result<Arc<Connection>> {
        if let Some(connection) = self.open(server) {
            return Ok(connection);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(connection) = self.open(server) {
            return Ok(connection);
        }
        let stream = TcpStream::connect(server).await?;
        let _ = stream.set_nodelay(true);
        self.opened.fetch_add(1, Ordering::Relaxed);
        let (reader, writer) = stream.into_split();
        let (queue, outgoing) = mpsc::channel(WRITE_QUEUE);
        let connection = Arc::new(Connection { writer: queue, pending: Arc::default(), closed: Arc::default() });
        tokio::spawn(write_loop(writer, outgoing, connection.closed.clone()));
        tokio::spawn(read_loop(reader, connection.pending.clone(), connection.closed.clone()));
        self.lock().insert(server, connection.clone());
        Ok(connection)
    }

    /// The open connection to `server`, if any (a closed one is forgotten).
    fn open(&self, server: SocketAddr) -> Option<Arc<Connection>> {
        let mut connections = self.lock();
        let connection = connections.get(&server)?.clone();
        if connection.closed.load(Ordering::Relaxed) {
            connections.remove(&server);
            return None;
        }
        self.reused.fetch_add(1, Ordering::Relaxed);
        Some(connection)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Arc<Connection>>> {
        self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn write_loop(mut writer: tokio::net::tcp::OwnedWriteHalf, mut outgoing: mpsc::Receiver<Vec<u8>>, closed: Arc<AtomicBool>) {
    while let Some(framed) = outgoing.recv().await {
        if closed.load(Ordering::Relaxed) || writer.write_all(&framed).await.is_err() {
            break;
        }
    }
    closed.store(true, Ordering::Relaxed);
    let _ = writer.shutdown().await;
}

async fn read_loop(mut reader: tokio::net::tcp::OwnedReadHalf, pending: Arc<Pending>, closed: Arc<AtomicBool>) {
    loop {
        if closed.load(Ordering::Relaxed) {
            break;
        }
        let idle = pending.lock().unwrap_or_else(PoisonError::into_inner).is_empty();
        let wait = if idle { TcpConnections::idle() } else { Duration::from_secs(60) };
        let message = match tokio::time::timeout(wait, read_framed(&mut reader)).await {
            Ok(Ok(message)) => message,
            Ok(Err(_)) => break,
            Err(_) if pending.lock().unwrap_or_else(PoisonError::into_inner).is_empty() => break,
            Err(_) => continue,
        };
        let Some(id) = message.get(..2).map(|id| u16::from_be_bytes([id[0], id[1]])) else { continue };
        let waiter = pending.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
        if let Some(waiter) = waiter {
            let _ = waiter.send(message);
        }
    }
    closed.store(true, Ordering::Relaxed);
    // Every query still waiting fails now (its sender is dropped).
    pending.lock().unwrap_or_else(PoisonError::into_inner).clear();
}

async fn read_framed(reader: &mut tokio::net::tcp::OwnedReadHalf) -> io::Result<Vec<u8>> {
    let mut prefix = [0u8; 2];
    reader.read_exact(&mut prefix).await?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    reader.read_exact(&mut message).await?;
    Ok(message)
}
