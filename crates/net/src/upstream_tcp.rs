//! TCP to forwarding upstreams with connection reuse and pipelining (RFC 7766 §6.2.1): one
//! connection per upstream address, shared by every query to it; queries are written as they
//! come (no waiting for earlier answers) and answers are matched to their query by message ID,
//! in whatever order they arrive. A connection that fails, is closed by the upstream or stays
//! idle for [`TcpConnections::idle`] is dropped; the next query opens a new one. Every query in
//! flight on a failed connection gets [`Event::Failed`] at once.
//!
//! Connecting is bounded by the query's budget and by [`TcpConnections::connect_timeout`], and
//! serialised per upstream address only: queries to one upstream that arrive while it is being
//! connected to wait for that connection (and share it), while a connect to another upstream
//! goes ahead at once, so an upstream that blackholes SYNs delays nothing but its own queries.
//!
//! The shape (`query(server, bytes, budget) -> Event`) is the one DoH and DoQ upstreams
//! implement too ([`crate::upstream_encrypted`]); DoT upstreams are these connections with a
//! TLS handshake after the connect ([`TcpConnections::with_tls`]), within the same timeout.

use crate::upstream::Event;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Queries queued for writing per connection.
const WRITE_QUEUE: usize = 256;
/// The longest wait for one connect by default ([`TcpConnections::new`] sets another).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
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
pub struct TcpConnections {
    connections: Mutex<HashMap<SocketAddr, Arc<Connection>>>,
    /// Per upstream address, held while connecting to it, so that queries arriving together
    /// share one new connection (an entry is removed when no query holds or waits for it).
    connecting: Mutex<HashMap<SocketAddr, Arc<tokio::sync::Mutex<()>>>>,
    /// Connections opened so far.
    pub opened: AtomicU64,
    /// Queries sent on a connection that was already open.
    pub reused: AtomicU64,
    /// The longest wait for one connect (the query's budget may cut it shorter).
    connect_timeout: Duration,
    /// DoT: the TLS client and the name the upstream's certificate must be valid for.
    tls: Option<(tokio_rustls::TlsConnector, rustls_pki_types::ServerName<'static>)>,
}

impl Default for TcpConnections {
    fn default() -> Self {
        Self::new(CONNECT_TIMEOUT)
    }
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

    /// No connections yet; a connect waits at most `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Self {
        Self { connections: Mutex::default(), connecting: Mutex::default(), opened: AtomicU64::new(0), reused: AtomicU64::new(0), connect_timeout, tls: None }
    }

    /// DNS over TLS connections (RFC 7858): each connect is followed by a handshake with
    /// `connector` for `name`, both within `connect_timeout`; a failed handshake is a failed
    /// query, never a fall back to cleartext.
    pub fn with_tls(connect_timeout: Duration, connector: tokio_rustls::TlsConnector, name: rustls_pki_types::ServerName<'static>) -> Self {
        Self { tls: Some((connector, name)), ..Self::new(connect_timeout) }
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
        let slot = ConnectSlot::new(self, server);
        let _connecting = slot.lock.lock().await;
        if let Some(connection) = self.open(server) {
            return Ok(connection);
        }
        let timeout = self.connect_timeout;
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, format!("connect timed out after {timeout:?}"));
        let connect = async {
            let stream = TcpStream::connect(server).await?;
            let _ = stream.set_nodelay(true);
            match &self.tls {
                None => {
                    let (reader, writer) = stream.into_split();
                    Ok(self.start(server, reader, writer))
                }
                Some((connector, name)) => {
                    let stream = connector.connect(name.clone(), stream).await?;
                    let (reader, writer) = tokio::io::split(stream);
                    Ok(self.start(server, reader, writer))
                }
            }
        };
        tokio::time::timeout(timeout, connect).await.map_err(|_| timed_out())?
    }

    /// Starts the reader and writer of a new connection to `server` and keeps it for reuse.
    fn start<R, W>(&self, server: SocketAddr, reader: R, writer: W) -> Arc<Connection>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        self.opened.fetch_add(1, Ordering::Relaxed);
        let (queue, outgoing) = mpsc::channel(WRITE_QUEUE);
        let connection = Arc::new(Connection { writer: queue, pending: Arc::default(), closed: Arc::default() });
        tokio::spawn(write_loop(writer, outgoing, connection.closed.clone()));
        tokio::spawn(read_loop(reader, connection.pending.clone(), connection.closed.clone()));
        self.lock().insert(server, connection.clone());
        connection
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

/// A query's hold on the connect lock of one upstream address; its entry goes when the last
/// query holding or waiting for it is done (or cancelled by its budget).
struct ConnectSlot<'a> {
    connections: &'a TcpConnections,
    server: SocketAddr,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl<'a> ConnectSlot<'a> {
    fn new(connections: &'a TcpConnections, server: SocketAddr) -> Self {
        let lock = connections.connecting.lock().unwrap_or_else(PoisonError::into_inner).entry(server).or_default().clone();
        Self { connections, server, lock }
    }
}

impl Drop for ConnectSlot<'_> {
    fn drop(&mut self) {
        let mut connecting = self.connections.connecting.lock().unwrap_or_else(PoisonError::into_inner);
        // Ours and the map's: nobody else holds or waits for it.
        if connecting.get(&self.server).is_some_and(|kept| Arc::strong_count(kept) == 2) {
            connecting.remove(&self.server);
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(mut writer: W, mut outgoing: mpsc::Receiver<Vec<u8>>, closed: Arc<AtomicBool>) {
    while let Some(framed) = outgoing.recv().await {
        if closed.load(Ordering::Relaxed) || writer.write_all(&framed).await.is_err() {
            break;
        }
    }
    closed.store(true, Ordering::Relaxed);
    let _ = writer.shutdown().await;
}

async fn read_loop<R: AsyncRead + Unpin>(mut reader: R, pending: Arc<Pending>, closed: Arc<AtomicBool>) {
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

async fn read_framed<R: AsyncRead + Unpin>(reader: &mut R) -> io::Result<Vec<u8>> {
    let mut prefix = [0u8; 2];
    reader.read_exact(&mut prefix).await?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    reader.read_exact(&mut message).await?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::TcpConnections;
    use crate::upstream::Event;
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A listener that never accepts, with its accept queue filled: the kernel drops further
    /// SYNs, so a connect to it hangs as one to an address that blackholes them.
    fn full_listener() -> (socket2::Socket, Vec<std::net::TcpStream>) {
        let listener = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        listener.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        let mut fillers = Vec::new();
        while let Ok(stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            fillers.push(stream);
            assert!(fillers.len() < 16, "the accept queue never filled");
        }
        (listener, fillers)
    }

    /// An upstream that answers every framed query with the query itself, QR set.
    async fn echo_upstream() -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut prefix = [0u8; 2];
                    while stream.read_exact(&mut prefix).await.is_ok() {
                        let mut message = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
                        if stream.read_exact(&mut message).await.is_err() {
                            return;
                        }
                        message[2] |= 0x80;
                        let _ = stream.write_all(&[prefix.as_slice(), &message].concat()).await;
                    }
                });
            }
        });
        addr
    }

    fn query(id: u16) -> Vec<u8> {
        let mut bytes = id.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]);
        bytes
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connect_that_hangs_times_out_and_does_not_hold_up_other_upstreams() {
        let (blackhole, _fillers) = full_listener();
        let blackhole = blackhole.local_addr().unwrap().as_socket().unwrap();
        let served = echo_upstream().await;
        let connections = std::sync::Arc::new(TcpConnections::new(Duration::from_secs(1)));
        let started = Instant::now();
        let hanging = tokio::spawn({
            let connections = connections.clone();
            async move { (connections.query(blackhole, query(1), Duration::from_secs(10)).await, started.elapsed()) }
        });
        // The hanging connect has begun (it holds its address's connect lock) before the other.
        while connections.connecting.lock().unwrap().is_empty() {
            assert!(started.elapsed() < Duration::from_secs(5), "the first query never started connecting");
            tokio::task::yield_now().await;
        }
        let answer = connections.query(served, query(2), Duration::from_secs(10)).await;
        let served_after = started.elapsed();
        assert!(matches!(answer, Event::Message(from, ref bytes) if from == served && bytes[..2] == [0, 2]), "{answer:?}");
        assert!(served_after < Duration::from_millis(500), "the other upstream waited {served_after:?}");
        let (event, failed_after) = hanging.await.unwrap();
        assert!(matches!(event, Event::Failed), "{event:?}");
        assert!(failed_after >= Duration::from_millis(900) && failed_after < Duration::from_secs(3), "connect failed after {failed_after:?}");
        assert!(connections.connecting.lock().unwrap().is_empty(), "no connect lock is left behind");
    }
}
