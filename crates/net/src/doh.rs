//! DNS over HTTPS (RFC 8484): HTTP/2 and HTTP/1.1 over TLS (hyper), one path, `/dns-query`,
//! answering GET `?dns=<base64url>` and POST `application/dns-message` through
//! [`Engine::handle`](portcullis_engine::Engine::handle), as every other transport does.
//!
//! Connections are admitted as TCP's are (per client, `max-connections`), the handshake is
//! bounded by the first-message timeout, a connection lives at most `lifetime` and carries at
//! most `queries-per-connection` requests. HTTP/2 streams are bounded per connection
//! ([`MAX_STREAMS`]), and so are streams the client resets before they are served
//! ([`MAX_PENDING_RESETS`]: the h2 crate's defence against rapid reset, CVE-2023-44487) and
//! the resets the server sends for protocol errors: a client that opens and resets streams
//! fast is sent GOAWAY and costs no more than its connection. Whatever those bounds let
//! through, a connection whose client abandons [`MAX_ABANDONED`] requests (resets their streams
//! before the answer) is closed, and so is one whose client sends more than
//! [`crate::doh_resets::MAX_RESETS`] RST_STREAM frames, counted as the bytes are read
//! (`doh_resets.rs`), whether or not hyper ever saw those streams.

use crate::doh_message::{self, Body, Reply};
use crate::exchange::{Answer, Client};
use crate::metrics::CloseReason;
use crate::tcp::{Services, TcpLimits};
use crate::tcp_admit::{Admission, Connections};
use crate::{EngineHandle, Shutdown};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::convert::Infallible;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// HTTP/2 streams open at once on one connection (RFC 9113 §5.1.2; SECURITY-REFERENCE §6.5).
pub const MAX_STREAMS: u32 = 100;

/// HTTP/2 streams reset by the client before they were served, held at once, before the
/// connection is closed with ENHANCE_YOUR_CALM (CVE-2023-44487).
pub const MAX_PENDING_RESETS: usize = 20;

/// Streams the server resets for the client's errors before the connection is closed.
pub const MAX_LOCAL_RESETS: usize = 64;

/// Requests the client abandons (resets the stream of, before its answer) on one connection
/// before the connection is closed: whatever h2's own bounds let through (CVE-2023-44487).
pub const MAX_ABANDONED: usize = 100;

/// Largest header block accepted (octets).
const MAX_HEADER_LIST: u32 = 16 * 1024;

/// What one connection's requests share.
struct Connection {
    client: Client,
    /// Requests served; past `queries-per-connection` every request gets 503.
    served: AtomicUsize,
    /// Requests abandoned by the client; at [`MAX_ABANDONED`] the connection is cut.
    abandoned: AtomicUsize,
    /// Told when the connection must be cut.
    cut: tokio::sync::Notify,
    limits: TcpLimits,
}

impl Connection {
    /// Counts a request the client abandoned; cuts the connection at [`MAX_ABANDONED`].
    fn abandoned(&self) {
        if self.abandoned.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_ABANDONED {
            self.cut.notify_one();
        }
    }
}

/// A request being answered: counted as abandoned if its future is dropped unfinished (hyper
/// drops it when the client resets the stream).
struct Answering {
    connection: Arc<Connection>,
    finished: bool,
}

impl Drop for Answering {
    fn drop(&mut self) {
        if !self.finished {
            self.connection.abandoned();
        }
    }
}

/// Accepts and serves DoH connections until shutdown.
pub async fn serve(
    index: u16,
    listener: std::net::TcpListener,
    engine: EngineHandle,
    limits: TcpLimits,
    shutdown: Shutdown,
    services: Services,
    tls: TlsAcceptor,
) -> io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let connections = Arc::new(Connections::default());
    let builder = Arc::new(builder(&limits));
    let handshakes = crate::handshake_rate::HandshakeRate::new(limits.handshakes_per_second);
    while !shutdown.is_triggered() {
        let Ok(accepted) = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await else { continue };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%error, "https accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if !handshakes.admit(peer.ip()) {
            services.counters.closed(CloseReason::HandshakeRate);
            continue;
        }
        let ticket = match connections.admit(peer.ip(), &limits) {
            Admission::Admitted(ticket) => ticket,
            Admission::Refused(reason) => {
                services.counters.closed(reason);
                continue;
            }
            // DoH connections are never idle-evicted: a full listener refuses.
            Admission::Full => {
                services.counters.closed(CloseReason::MaxConnections);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let client = Client {
            listener: index,
            peer,
            transport: portcullis_engine::Transport::Https,
            engine: engine.clone(),
            services: services.clone(),
            resolving: Arc::new(Semaphore::new(limits.in_flight.max(1))),
        };
        let connection = Arc::new(Connection { client, served: AtomicUsize::new(0), abandoned: AtomicUsize::new(0), cut: tokio::sync::Notify::new(), limits });
        let (tls, builder, connections) = (tls.clone(), builder.clone(), connections.clone());
        tokio::spawn(async move {
            let counters = connection.client.services.counters.clone();
            let reason = serve_connection(stream, &tls, &builder, connection).await;
            connections.release(ticket.id);
            counters.closed(reason);
            tracing::debug!(%peer, reason = reason.as_str(), "https connection closed");
        });
    }
    Ok(())
}

/// The HTTP/1.1 and HTTP/2 server settings of every connection of a listener.
fn builder(limits: &TcpLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.first_message).keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
        .max_local_error_reset_streams(MAX_LOCAL_RESETS)
        .max_header_list_size(MAX_HEADER_LIST)
        .keep_alive_interval(None);
    builder
}

/// The handshake (bounded), then HTTP until the client leaves or the connection's life ends.
async fn serve_connection(stream: tokio::net::TcpStream, tls: &TlsAcceptor, builder: &Builder<TokioExecutor>, connection: Arc<Connection>) -> CloseReason {
    let limits = connection.limits;
    let stream = match tokio::time::timeout(limits.first_message, tls.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(%error, "https tls handshake failed");
            return CloseReason::HandshakeFailed;
        }
        Err(_) => return CloseReason::HandshakeTimeout,
    };
    let cut = connection.clone();
    let service = hyper::service::service_fn(move |request| {
        let mut answering = Answering { connection: connection.clone(), finished: false };
        async move {
            let reply = respond(request, &answering.connection).await;
            answering.finished = true;
            if matches!(reply, Reply::Abandoned) {
                answering.connection.abandoned();
            }
            Ok::<_, Infallible>(reply.into_response())
        }
    });
    let serving = builder.serve_connection(TokioIo::new(crate::doh_resets::ResetBound::new(stream)), service);
    tokio::select! {
        served = tokio::time::timeout(limits.lifetime, serving) => match served {
            Ok(Ok(())) => CloseReason::PeerClosed,
            Ok(Err(error)) => {
                tracing::debug!(%error, "https connection failed");
                CloseReason::ProtocolError
            }
            Err(_) => CloseReason::Lifetime,
        },
        () = cut.cut.notified() => {
            tracing::debug!(peer = %cut.client.peer, "https connection cut: too many abandoned requests");
            CloseReason::ProtocolError
        }
    }
}

/// Answers one HTTP request.
async fn respond(request: hyper::Request<Incoming>, connection: &Connection) -> Reply {
    if connection.served.fetch_add(1, Ordering::Relaxed) >= connection.limits.queries_per_connection {
        return Reply::Status(hyper::StatusCode::SERVICE_UNAVAILABLE);
    }
    let query = match doh_message::query_of(request).await {
        Ok(query) => query,
        Err(reply) => return reply,
    };
    answer(&query, connection).await
}

/// Hands a checked DNS query to the engine (and the resolver pool when it asks).
async fn answer(query: &Body, connection: &Connection) -> Reply {
    match connection.client.answer(query).await {
        Answer::Reply(bytes) => Reply::dns(&bytes),
        Answer::Dropped(reason) => {
            tracing::debug!(peer = %connection.client.peer, reason = reason.as_str(), "https query dropped");
            Reply::Status(hyper::StatusCode::FORBIDDEN)
        }
        // The engine answers AXFR over DoH with FORMERR (one message per exchange).
        Answer::Transfer => Reply::Status(hyper::StatusCode::BAD_REQUEST),
        Answer::Unavailable => Reply::Status(hyper::StatusCode::SERVICE_UNAVAILABLE),
    }
}
