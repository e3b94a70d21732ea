//! Forwarding upstreams over TLS (RFC 7858), HTTPS (RFC 8484) and QUIC (RFC 9250), with the
//! shape of [`TcpConnections::query`]: `query(server, bytes, budget) -> Event`.
//!
//! Strict privacy (RFC 8310 §5): the upstream's certificate must chain to the group's roots and
//! be valid for its `tls-name` (sent as SNI; the address is never what is checked), and its key
//! must match a `tls-pin` when pins are given (RFC 7858 §4.2). A failed handshake or check is a
//! failed query (the client gets SERVFAIL when no upstream answers), never a fall back to
//! cleartext. Connections are reused: DoT through [`TcpConnections::with_tls`] (pipelined),
//! DoH over one HTTP/2 connection per upstream (its streams multiplexed), DoQ over one QUIC
//! connection per upstream (a stream per query, message ID 0 on the wire and the query's own
//! ID given back to the reply, RFC 9250 §4.2.1).

use crate::upstream::Event;
use crate::upstream_tcp::{TcpConnections, CONNECT_TIMEOUT};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use portcullis_engine::resolve::forward::UpstreamTls;
use portcullis_engine::Transport;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The connections of one encrypted forward group.
pub enum EncryptedUpstream {
    /// DNS over TLS: pipelined connections.
    Tls(TcpConnections),
    /// DNS over HTTPS: one HTTP/2 connection per upstream.
    Https(HttpsConnections),
    /// DNS over QUIC: one QUIC connection per upstream.
    Quic(QuicConnections),
}

impl std::fmt::Debug for EncryptedUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tls(_) => "EncryptedUpstream::Tls",
            Self::Https(_) => "EncryptedUpstream::Https",
            Self::Quic(_) => "EncryptedUpstream::Quic",
        })
    }
}

impl EncryptedUpstream {
    /// The connections for `transport` authenticated by `tls`; an error for a transport that is
    /// not encrypted, or settings rustls refuses (no usable root, a bad name).
    pub fn new(transport: Transport, tls: &UpstreamTls) -> Result<Self, String> {
        let name = ServerName::try_from(tls.name.clone()).map_err(|error| format!("tls-name '{}': {error}", tls.name))?;
        Ok(match transport {
            Transport::Tls => Self::Tls(TcpConnections::with_tls(CONNECT_TIMEOUT, tokio_rustls::TlsConnector::from(client_config(tls, &[b"dot"])?), name)),
            Transport::Https => Self::Https(HttpsConnections { config: client_config(tls, &[b"h2"])?, name, connections: Mutex::default() }),
            Transport::Quic => {
                let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(client_config(tls, &[b"doq"])?).map_err(|error| error.to_string())?;
                Self::Quic(QuicConnections {
                    config: quinn::ClientConfig::new(Arc::new(crypto)),
                    name: tls.name.clone(),
                    endpoints: Mutex::default(),
                    connections: Mutex::default(),
                })
            }
            Transport::Udp | Transport::Tcp => return Err("not an encrypted transport".into()),
        })
    }

    /// Sends `query` to `server` and waits at most `budget` for its answer.
    pub async fn query(&self, server: SocketAddr, query: Vec<u8>, budget: Duration) -> Event {
        let exchange = async {
            match self {
                Self::Tls(connections) => return connections.query(server, query, budget).await,
                Self::Https(connections) => connections.exchange(server, query).await,
                Self::Quic(connections) => connections.exchange(server, query).await,
            }
            .map(|answer| Event::Message(server, answer))
            .unwrap_or_else(|error| {
                tracing::debug!(%server, %error, "encrypted upstream query failed");
                Event::Failed
            })
        };
        tokio::time::timeout(budget, exchange).await.unwrap_or(Event::Failed)
    }
}

/// Checks `tls` as [`EncryptedUpstream::new`] will use it (the configuration's validation).
pub fn check(tls: &UpstreamTls) -> Result<(), String> {
    ServerName::try_from(tls.name.as_str()).map_err(|error| format!("tls-name '{}': {error}", tls.name))?;
    client_config(tls, &[]).map(|_| ())
}

/// A rustls client trusting `tls.roots` (and pins), TLS 1.2 and 1.3, offering `alpn`.
pub fn client_config(tls: &UpstreamTls, alpn: &[&[u8]]) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(tls.roots.iter().map(|der| CertificateDer::from(der.clone())));
    if added == 0 {
        return Err("no usable root certificate (tls-ca)".into());
    }
    let provider = crate::tls::provider();
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().map_err(|error| error.to_string())?;
    let verifier = Arc::new(Pinned { webpki, pins: tls.pins.clone() });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|error| error.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The SHA-256 digest of a certificate's SubjectPublicKeyInfo (RFC 7858 §4.2's pin).
pub fn spki_pin(certificate: &[u8]) -> Result<[u8; 32], String> {
    let der = CertificateDer::from(certificate);
    let cert = webpki::EndEntityCert::try_from(&der).map_err(|error| error.to_string())?;
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.subject_public_key_info().as_ref());
    digest.as_ref().try_into().map_err(|_| "digest length".to_string())
}

/// The webpki check (chain to the roots, valid for the name) and, when pins are given, the
/// leaf key among them.
#[derive(Debug)]
struct Pinned {
    webpki: Arc<WebPkiServerVerifier>,
    pins: Vec<[u8; 32]>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        if self.pins.is_empty() {
            return Ok(verified);
        }
        let pin = spki_pin(end_entity).map_err(rustls::Error::General)?;
        if self.pins.contains(&pin) {
            Ok(verified)
        } else {
            Err(rustls::Error::General("the upstream's key matches no tls-pin".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// HTTP/2 connections to DoH upstreams, one per address.
pub struct HttpsConnections {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
    connections: Mutex<HashMap<SocketAddr, hyper::client::conn::http2::SendRequest<Full<Bytes>>>>,
}

/// POSTs one DNS message to `https://<name>:<port>/dns-query` over an HTTP/2 connection (RFC
/// 8484 §4.1) and returns the answer: a status other than 200 is an error, and the body is read
/// up to 65 535 octets (the largest DNS message). The forwarder's DoH upstreams and the
/// `query --https` client both ask through it.
pub(crate) async fn post_dns_message(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    name: &str,
    port: u16,
    query: Bytes,
) -> Result<Vec<u8>, String> {
    let request = hyper::Request::post(format!("https://{name}:{port}/dns-query"))
        .header(hyper::header::CONTENT_TYPE, "application/dns-message")
        .header(hyper::header::ACCEPT, "application/dns-message")
        .body(Full::new(query))
        .map_err(|error| error.to_string())?;
    let response = sender.send_request(request).await.map_err(|error| error.to_string())?;
    if response.status() != hyper::StatusCode::OK {
        return Err(format!("HTTP status {}", response.status()));
    }
    let body = Limited::new(response.into_body(), 65_535).collect().await.map_err(|error| error.to_string())?;
    Ok(body.to_bytes().to_vec())
}

impl HttpsConnections {
    /// POSTs `query` to `https://<tls-name>:<port>/dns-query` (RFC 8484 §4.1).
    async fn exchange(&self, server: SocketAddr, query: Vec<u8>) -> Result<Vec<u8>, String> {
        let mut sender = self.connection(server).await?;
        post_dns_message(&mut sender, self.name.to_str().as_ref(), server.port(), Bytes::from(query)).await
    }

    /// The open connection to `server`, or a new one (TCP, TLS with ALPN h2, HTTP/2).
    async fn connection(&self, server: SocketAddr) -> Result<hyper::client::conn::http2::SendRequest<Full<Bytes>>, String> {
        if let Some(sender) = self.lock().get(&server).filter(|sender| !sender.is_closed()).cloned() {
            return Ok(sender);
        }
        let stream = tokio::net::TcpStream::connect(server).await.map_err(|error| error.to_string())?;
        let _ = stream.set_nodelay(true);
        let stream = tokio_rustls::TlsConnector::from(self.config.clone()).connect(self.name.clone(), stream).await.map_err(|error| format!("tls: {error}"))?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (sender, connection) = hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await.map_err(|error| error.to_string())?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "DoH upstream connection ended");
            }
        });
        self.lock().insert(server, sender.clone());
        Ok(sender)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, hyper::client::conn::http2::SendRequest<Full<Bytes>>>> {
        self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// QUIC connections to DoQ upstreams, one per address, from one client endpoint per address
/// family.
pub struct QuicConnections {
    config: quinn::ClientConfig,
    name: String,
    endpoints: Mutex<HashMap<bool, quinn::Endpoint>>,
    connections: Mutex<HashMap<SocketAddr, quinn::Connection>>,
}

impl QuicConnections {
    /// One query on a stream of its own: ID 0 on the wire, the query's ID given back.
    async fn exchange(&self, server: SocketAddr, mut query: Vec<u8>) -> Result<Vec<u8>, String> {
        let id: [u8; 2] = query.get(..2).and_then(|id| id.try_into().ok()).ok_or("short query")?;
        query[..2].copy_from_slice(&[0, 0]);
        let connection = self.connection(server).await?;
        let (mut send, mut recv) = connection.open_bi().await.map_err(|error| error.to_string())?;
        send.write_all(&crate::doq::frame(&query)).await.map_err(|error| error.to_string())?;
        send.finish().map_err(|error| error.to_string())?;
        let framed = recv.read_to_end(2 + 65_535).await.map_err(|error| error.to_string())?;
        let reply = framed.get(2..).filter(|reply| framed[..2] == (reply.len() as u16).to_be_bytes()).ok_or("reply without its length prefix")?;
        let mut reply = reply.to_vec();
        if reply.len() < 12 {
            return Err("reply shorter than a header".into());
        }
        reply[..2].copy_from_slice(&id);
        Ok(reply)
    }

    /// The open connection to `server`, or a new one.
    async fn connection(&self, server: SocketAddr) -> Result<quinn::Connection, String> {
        if let Some(connection) = self.connections.lock().unwrap_or_else(PoisonError::into_inner).get(&server).filter(|c| c.close_reason().is_none()).cloned() {
            return Ok(connection);
        }
        let endpoint = self.endpoint(server.is_ipv6())?;
        let connecting = endpoint.connect_with(self.config.clone(), server, &self.name).map_err(|error| error.to_string())?;
        let connection = connecting.await.map_err(|error| format!("quic: {error}"))?;
        self.connections.lock().unwrap_or_else(PoisonError::into_inner).insert(server, connection.clone());
        Ok(connection)
    }

    fn endpoint(&self, ipv6: bool) -> Result<quinn::Endpoint, String> {
        let mut endpoints = self.endpoints.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(endpoint) = endpoints.get(&ipv6) {
            return Ok(endpoint.clone());
        }
        let local: SocketAddr = if ipv6 { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() } else { (std::net::Ipv4Addr::UNSPECIFIED, 0).into() };
        let endpoint = quinn::Endpoint::client(local).map_err(|error| error.to_string())?;
        endpoints.insert(ipv6, endpoint.clone());
        Ok(endpoint)
    }
}
