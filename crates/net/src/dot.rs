//! DNS over TLS (RFC 7858): the TLS handshake of an admitted connection, then the TCP
//! connection code ([`crate::tcp`]) over the TLS stream: the same framing, pipelining with
//! out-of-order answers, timeouts, keepalive and limits.
//!
//! The handshake is bounded by the first-message timeout (a slow handshake holds its place that
//! long at most, SECURITY-REFERENCE §6.5), and a failed one is counted as
//! [`CloseReason::HandshakeFailed`].

use crate::metrics::CloseReason;
use crate::tcp::{serve_halves, Context};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

/// Does the handshake on `stream`, then serves it; why the connection ended.
pub(crate) async fn serve_connection(stream: TcpStream, tls: &TlsAcceptor, context: Context) -> CloseReason {
    let stream = match tokio::time::timeout(context.limits.first_message, tls.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(%error, "tls handshake failed");
            return CloseReason::HandshakeFailed;
        }
        Err(_) => return CloseReason::HandshakeTimeout,
    };
    let (reader, writer) = tokio::io::split(stream);
    serve_halves(reader, writer, context).await
}
