//! DNS over QUIC (RFC 9250) with quinn: ALPN "doq" (required), one query per bidirectional
//! stream with its two-byte length prefix, message ID 0, the reply on the same stream, then
//! FIN (§4.2). A zone transfer sends its messages on the query's stream (§4.2.2).
//!
//! Errors (§4.3): a message ID other than 0, a stream without a whole length-prefixed message
//! or a connection without ALPN "doq" closes the connection with `DOQ_PROTOCOL_ERROR`; a
//! stream the client does not finish in time is stopped with `DOQ_REQUEST_CANCELLED`; a
//! query with no answer (dropped, no resolver) is reset with `DOQ_UNSPECIFIED_ERROR`.
//! Connections are admitted per client and up to `max-connections` as TCP's are (a refused
//! one costs no handshake), the handshake is bounded by the first-message timeout, streams
//! open at once by [`MAX_STREAMS`], and a connection lives at most `lifetime`.

use crate::exchange::{Answer, Client};
use crate::metrics::CloseReason;
use crate::tcp::{Services, TcpLimits};
use crate::tcp_admit::{Admission, Connections};
use crate::tls::{Certificates, ALPN_DOQ};
use crate::{EngineHandle, Shutdown};
use quinn::{Connection, RecvStream, SendStream, VarInt};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// No error: the connection is closed because it is done (RFC 9250 §4.3).
pub const DOQ_NO_ERROR: u32 = 0x0;
/// The server failed.
pub const DOQ_INTERNAL_ERROR: u32 = 0x1;
/// The peer broke the protocol.
pub const DOQ_PROTOCOL_ERROR: u32 = 0x2;
/// A stream was cancelled.
pub const DOQ_REQUEST_CANCELLED: u32 = 0x3;
/// The server is overloaded.
pub const DOQ_EXCESSIVE_LOAD: u32 = 0x4;
/// Any other error.
pub const DOQ_UNSPECIFIED_ERROR: u32 = 0x5;

/// Bidirectional streams a client may have open at once (one query each).
pub const MAX_STREAMS: u32 = 100;

/// The quinn endpoint configuration of a DoQ listener.
pub fn server_config(certificates: &Arc<Certificates>, limits: &TcpLimits) -> Result<quinn::ServerConfig, String> {
    let tls = certificates.server_config(&[ALPN_DOQ], true)?;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(|error| format!("QUIC TLS configuration: {error}"))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.max_concurrent_bidi_streams(VarInt::from_u32(MAX_STREAMS)).max_concurrent_uni_streams(VarInt::from_u32(0));
    transport.max_idle_timeout(quinn::IdleTimeout::try_from(limits.idle).ok());
    config.transport_config(Arc::new(transport));
    Ok(config)
}

/// Accepts and serves DoQ connections on `socket` until shutdown.
pub async fn serve(
    index: u16,
    socket: std::net::UdpSocket,
    engine: EngineHandle,
    limits: TcpLimits,
    shutdown: Shutdown,
    services: Services,
    config: quinn::ServerConfig,
) -> io::Result<()> {
    let runtime = Arc::new(quinn::TokioRuntime);
    let endpoint = quinn::Endpoint::new(quinn::EndpointConfig::default(), Some(config), socket, runtime)?;
    let connections = Arc::new(Connections::default());
    let handshakes = crate::handshake_rate::HandshakeRate::new(limits.handshakes_per_second);
    while !shutdown.is_triggered() {
        let Ok(incoming) = tokio::time::timeout(Duration::from_millis(200), endpoint.accept()).await else { continue };
        let Some(incoming) = incoming else { break };
        let peer = incoming.remote_address();
        if !handshakes.admit(peer.ip()) {
            services.counters.closed(CloseReason::HandshakeRate);
            incoming.refuse();
            continue;
        }
        let ticket = match connections.admit(peer.ip(), &limits) {
            Admission::Admitted(ticket) => ticket,
            Admission::Refused(reason) => {
                services.counters.closed(reason);
                incoming.refuse();
                continue;
            }
            Admission::Full => {
                services.counters.closed(CloseReason::MaxConnections);
                incoming.refuse();
                continue;
            }
        };
        let client = Client {
            listener: index,
            peer,
            transport: portcullis_engine::Transport::Quic,
            engine: engine.clone(),
            services: services.clone(),
            resolving: Arc::new(Semaphore::new(limits.in_flight.max(1))),
        };
        let (connections, shutdown) = (connections.clone(), shutdown.clone());
        tokio::spawn(async move {
            let counters = client.services.counters.clone();
            let reason = serve_connection(incoming, Arc::new(client), limits, shutdown).await;
            connections.release(ticket.id);
            counters.closed(reason);
            tracing::debug!(%peer, reason = reason.as_str(), "quic connection closed");
        });
    }
    endpoint.close(VarInt::from_u32(DOQ_NO_ERROR), b"");
    Ok(())
}

/// The handshake (bounded), then one task per stream until the connection ends.
async fn serve_connection(incoming: quinn::Incoming, client: Arc<Client>, limits: TcpLimits, shutdown: Shutdown) -> CloseReason {
    let Ok(connecting) = incoming.accept() else { return CloseReason::HandshakeFailed };
    let connection = match tokio::time::timeout(limits.first_message, connecting).await {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => {
            tracing::debug!(%error, "quic handshake failed");
            return CloseReason::HandshakeFailed;
        }
        Err(_) => return CloseReason::HandshakeTimeout,
    };
    if !negotiated_doq(&connection) {
        connection.close(VarInt::from_u32(DOQ_PROTOCOL_ERROR), b"ALPN doq required");
        return CloseReason::ProtocolError;
    }
    let reason = tokio::time::timeout(limits.lifetime, accept_streams(&connection, &client, &limits, &shutdown)).await.unwrap_or(CloseReason::Lifetime);
    if connection.close_reason().is_none() {
        connection.close(VarInt::from_u32(DOQ_NO_ERROR), b"");
    }
    reason
}

/// True when the handshake agreed on ALPN "doq" (RFC 9250 §4.1.1).
fn negotiated_doq(connection: &Connection) -> bool {
    connection
        .handshake_data()
        .and_then(|data| data.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .is_some_and(|data| data.protocol.as_deref() == Some(ALPN_DOQ))
}

/// Serves each stream the client opens in a task of its own; why the connection ended. Ends
/// within the connection's lifetime (the caller's timeout) at the latest.
async fn accept_streams(connection: &Connection, client: &Arc<Client>, limits: &TcpLimits, shutdown: &Shutdown) -> CloseReason {
    let mut streams = 0;
    loop {
        let accepted = tokio::select! {
            accepted = connection.accept_bi() => accepted,
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if shutdown.is_triggered() {
                    return CloseReason::Shutdown;
                }
                continue;
            }
        };
        let (send, recv) = match accepted {
            Ok(streams) => streams,
            Err(quinn::ConnectionError::TimedOut) => return CloseReason::IdleTimeout,
            Err(quinn::ConnectionError::LocallyClosed) => return CloseReason::ProtocolError,
            Err(_) => return CloseReason::PeerClosed,
        };
        let (connection, client, per_message) = (connection.clone(), client.clone(), limits.per_message);
        tokio::spawn(async move { serve_stream(send, recv, &connection, &client, per_message).await });
        streams += 1;
        if streams >= limits.queries_per_connection {
            return CloseReason::QueryLimit;
        }
    }
}

/// Reads one query from a stream and writes its reply (or a transfer's messages), then FIN.
async fn serve_stream(mut send: SendStream, mut recv: RecvStream, connection: &Connection, client: &Client, per_message: Duration) {
    let framed = match tokio::time::timeout(per_message, recv.read_to_end(2 + 65_535)).await {
        Ok(Ok(framed)) => framed,
        Ok(Err(_)) => {
            connection.close(VarInt::from_u32(DOQ_PROTOCOL_ERROR), b"stream without a whole message");
            return;
        }
        Err(_) => {
            let _ = recv.stop(VarInt::from_u32(DOQ_REQUEST_CANCELLED));
            let _ = send.reset(VarInt::from_u32(DOQ_REQUEST_CANCELLED));
            return;
        }
    };
    let Some(query) = unframe(&framed) else {
        connection.close(VarInt::from_u32(DOQ_PROTOCOL_ERROR), b"bad length prefix or message ID");
        return;
    };
    match client.answer(query).await {
        Answer::Reply(reply) => {
            let _ = send.write_all(&frame(&reply)).await;
        }
        Answer::Transfer => send_transfer(&mut send, query, client).await,
        Answer::Dropped(_) | Answer::Unavailable => {
            let _ = send.reset(VarInt::from_u32(DOQ_UNSPECIFIED_ERROR));
            return;
        }
    }
    let _ = send.finish();
}

/// The query of a stream's bytes: one message behind its length prefix, with ID 0 (RFC 9250
/// §4.2, §4.2.1); `None` breaks the protocol.
pub fn unframe(framed: &[u8]) -> Option<&[u8]> {
    let (prefix, message) = framed.split_first_chunk::<2>()?;
    (usize::from(u16::from_be_bytes(*prefix)) == message.len() && message.len() >= 12 && message[..2] == [0, 0]).then_some(message)
}

/// `message` behind its two-byte length.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(2 + message.len());
    framed.extend_from_slice(&(message.len() as u16).to_be_bytes());
    framed.extend_from_slice(message);
    framed
}

/// Streams an allowed zone transfer's messages, each length-prefixed, on the query's stream.
async fn send_transfer(send: &mut SendStream, query: &[u8], client: &Client) {
    let (now, unix_secs) = client.services.clock.now();
    let request = portcullis_engine::Request {
        bytes: query,
        peer: client.peer,
        transport: client.transport,
        now,
        unix_secs,
        listener: client.listener,
        worker: crate::OTHER_THREADS,
    };
    let engine = client.engine.load();
    let Some(mut transfer) = engine.transfer(&request) else {
        let _ = send.reset(VarInt::from_u32(DOQ_INTERNAL_ERROR));
        return;
    };
    let mut buffer = vec![0u8; portcullis_engine::auth::transfer::MESSAGE_MAX];
    while let Some(len) = transfer.next_message(&mut buffer) {
        if send.write_all(&frame(&buffer[..len])).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{frame, unframe};

    #[test]
    fn a_stream_carries_one_length_prefixed_message_with_id_zero() {
        let query = [0u8, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(unframe(&frame(&query)), Some(&query[..]));
        let mut other_id = query;
        other_id[1] = 7;
        assert_eq!(unframe(&frame(&other_id)), None, "a message ID other than 0");
        assert_eq!(unframe(&query), None, "no length prefix");
        assert_eq!(unframe(&[frame(&query), vec![0]].concat()), None, "bytes after the message");
        assert_eq!(unframe(&[0, 1, 0]), None, "shorter than a header");
    }
}
