//! Rust clients of the encrypted transports where no packaged tool does the job: DoT with
//! pipelining and the peer's certificate in hand (tokio-rustls), DoQ (quinn: the installed
//! kdig has no +quic), and an HTTP/2 client that opens and resets streams (h2), for rapid reset.
//! Each trusts only the test root. Every wait is bounded.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// How long any one exchange may take.
pub const WAIT: Duration = Duration::from_secs(5);

/// A rustls client configuration trusting only `root`, offering `alpn`.
#[allow(deprecated)]
pub fn client_config(root: &Path, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(root).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A TLS connection to `addr` for `localhost`, offering `alpn`.
pub async fn tls_connect(addr: SocketAddr, root: &Path, alpn: &[&[u8]]) -> Result<TlsStream<TcpStream>, String> {
    let connector = tokio_rustls::TlsConnector::from(client_config(root, alpn));
    let tcp = tokio::time::timeout(WAIT, TcpStream::connect(addr)).await.map_err(|_| "connect timed out".to_string())?.map_err(|e| e.to_string())?;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(WAIT, connector.connect(name, tcp)).await.map_err(|_| "handshake timed out".to_string())?.map_err(|e| format!("handshake: {e}"))
}

/// The leaf certificate the server sent (DER).
pub fn peer_leaf(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().and_then(|chain| chain.first()).map(|cert| cert.to_vec()).unwrap_or_default()
}

/// Writes every query (framed) at once, then reads as many replies.
pub async fn dot_pipeline(stream: &mut TlsStream<TcpStream>, queries: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for query in queries {
        out.extend_from_slice(&(query.len() as u16).to_be_bytes());
        out.extend_from_slice(query);
    }
    stream.write_all(&out).await.map_err(|e| e.to_string())?;
    let mut replies = Vec::new();
    for _ in queries {
        let mut prefix = [0u8; 2];
        tokio::time::timeout(WAIT, stream.read_exact(&mut prefix)).await.map_err(|_| "reply timed out".to_string())?.map_err(|e| e.to_string())?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        tokio::time::timeout(WAIT, stream.read_exact(&mut reply)).await.map_err(|_| "reply timed out".to_string())?.map_err(|e| e.to_string())?;
        replies.push(reply);
    }
    Ok(replies)
}

/// A DoQ client endpoint with one connection to `addr`.
pub struct Doq {
    _endpoint: quinn::Endpoint,
    /// The connection.
    pub connection: quinn::Connection,
}

impl Doq {
    /// Connects, offering `alpn` (RFC 9250 requires "doq").
    pub async fn connect(addr: SocketAddr, root: &Path, alpn: &[&[u8]]) -> Result<Self, String> {
        let tls = client_config(root, alpn);
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(|e| e.to_string())?;
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).map_err(|e| e.to_string())?;
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        let connecting = endpoint.connect(addr, "localhost").map_err(|e| e.to_string())?;
        let connection = tokio::time::timeout(WAIT, connecting).await.map_err(|_| "quic handshake timed out".to_string())?.map_err(|e| e.to_string())?;
        Ok(Self { _endpoint: endpoint, connection })
    }

    /// Sends `stream_bytes` as is on a new stream (FIN after), and reads the stream to its end.
    pub async fn raw(&self, stream_bytes: &[u8]) -> Result<Vec<u8>, String> {
        let (mut send, mut recv) = self.connection.open_bi().await.map_err(|e| e.to_string())?;
        send.write_all(stream_bytes).await.map_err(|e| e.to_string())?;
        send.finish().map_err(|e| e.to_string())?;
        tokio::time::timeout(WAIT, recv.read_to_end(70_000)).await.map_err(|_| "doq reply timed out".to_string())?.map_err(|e| e.to_string())
    }

    /// One query (ID set to 0, length-prefixed); the reply without its prefix.
    pub async fn query(&self, query: &[u8]) -> Result<Vec<u8>, String> {
        let mut framed = (query.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(query);
        framed[2..4].copy_from_slice(&[0, 0]);
        let reply = self.raw(&framed).await?;
        let (prefix, message) = reply.split_at_checked(2).ok_or("reply shorter than its prefix")?;
        if usize::from(u16::from_be_bytes([prefix[0], prefix[1]])) != message.len() {
            return Err(format!("reply prefix {prefix:?} for {} octets", message.len()));
        }
        Ok(message.to_vec())
    }
}

/// Opens `streams` HTTP/2 streams on one connection, resetting each at once (CVE-2023-44487),
/// or `settle` after opening it (the server has taken the stream by then); the streams opened
/// before the server cut the connection off, and whether it did.
pub async fn rapid_reset(addr: SocketAddr, root: &Path, streams: usize, settle: Option<Duration>) -> Result<(usize, bool), String> {
    let tls = tls_connect(addr, root, &[b"h2"]).await?;
    let (client, connection) = h2::client::handshake(tls).await.map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let mut client = client;
    for opened in 0..streams {
        let ready = tokio::time::timeout(WAIT, client.ready()).await;
        let Ok(Ok(ready)) = ready else { return Ok((opened, true)) };
        client = ready;
        let request = http::Request::post("https://localhost/dns-query").header("content-type", "application/dns-message").body(()).unwrap();
        match client.send_request(request, false) {
            Ok((_response, mut stream)) => {
                if let Some(settle) = settle {
                    tokio::time::sleep(settle).await;
                }
                stream.send_reset(h2::Reason::CANCEL);
            }
            Err(_) => return Ok((opened, true)),
        }
        if opened % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    // Cut off: a normal request on the same connection gets no answer.
    let answered = async {
        let mut client = client.ready().await.ok()?;
        let request = http::Request::get("https://localhost/dns-query?dns=AAABAAABAAAAAAAAA3d3dwdleGFtcGxlBHRlc3QAAAEAAQ").body(()).ok()?;
        let (response, _) = client.send_request(request, true).ok()?;
        response.await.ok()
    };
    let answered = tokio::time::timeout(WAIT, answered).await.ok().flatten();
    driver.abort();
    Ok((streams, answered.is_none()))
}
