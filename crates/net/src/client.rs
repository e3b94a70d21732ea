//! One query over DoT, DoH or DoQ, for `portcullis query --tls | --https | --quic`: a fresh
//! connection, the query, its reply, and the TLS version the handshake agreed on.
//!
//! The certificate is checked against `name` and the given roots as an upstream's is
//! ([`crate::upstream_encrypted::client_config`]), unless the caller asks for no check at all
//! (`--insecure`: the exchange is encrypted but not authenticated).

use crate::upstream_encrypted::{client_config, post_dns_message};
use bytes::Bytes;
use portcullis_engine::resolve::forward::UpstreamTls;
use portcullis_engine::Transport;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How the server is authenticated.
#[derive(Clone, Debug)]
pub enum Trust {
    /// Its certificate must chain to these roots (DER) and be valid for the name.
    Roots(Vec<Vec<u8>>),
    /// No check (`--insecure`).
    Nothing,
}

/// A reply and how it came.
#[derive(Clone, Debug)]
pub struct Answered {
    /// The DNS reply.
    pub reply: Vec<u8>,
    /// The TLS version of the connection ("TLSv1.3", "TLSv1.2").
    pub tls_version: String,
}

/// Sends `query` to `server` over `transport` (TLS, HTTPS or QUIC), checking its certificate
/// for `name` as `trust` says.
pub async fn query(transport: Transport, server: SocketAddr, name: &str, trust: &Trust, query: &[u8]) -> Result<Answered, String> {
    let alpn: &[u8] = match transport {
        Transport::Tls => b"dot",
        Transport::Https => b"h2",
        Transport::Quic => b"doq",
        Transport::Udp | Transport::Tcp => return Err("not an encrypted transport".into()),
    };
    let config = config(name, trust, alpn)?;
    let server_name = ServerName::try_from(name.to_string()).map_err(|error| format!("'{name}': {error}"))?;
    match transport {
        Transport::Quic => quic(server, name, config, query).await,
        _ => {
            let tcp = tokio::net::TcpStream::connect(server).await.map_err(|error| format!("connect: {error}"))?;
            let _ = tcp.set_nodelay(true);
            let stream = tokio_rustls::TlsConnector::from(config).connect(server_name, tcp).await.map_err(|error| format!("tls: {error}"))?;
            let tls_version = version(stream.get_ref().1.protocol_version());
            let reply = if transport == Transport::Tls { dot(stream, query).await? } else { doh(stream, name, server.port(), query).await? };
            Ok(Answered { reply, tls_version })
        }
    }
}

fn config(name: &str, trust: &Trust, alpn: &[u8]) -> Result<Arc<rustls::ClientConfig>, String> {
    match trust {
        Trust::Roots(roots) => client_config(&UpstreamTls { name: name.to_string(), roots: roots.clone(), pins: Vec::new() }, &[alpn]),
        Trust::Nothing => {
            let provider = crate::tls::provider();
            let verifier = Arc::new(Unchecked(provider.clone()));
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                .map_err(|error| error.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            config.alpn_protocols = vec![alpn.to_vec()];
            Ok(Arc::new(config))
        }
    }
}

fn version(version: Option<rustls::ProtocolVersion>) -> String {
    match version {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".into(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".into(),
        Some(other) => format!("{other:?}"),
        None => "unknown".into(),
    }
}

async fn dot(mut stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>, query: &[u8]) -> Result<Vec<u8>, String> {
    stream.write_all(&crate::doq::frame(query)).await.map_err(|error| error.to_string())?;
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).await.map_err(|error| error.to_string())?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut reply).await.map_err(|error| error.to_string())?;
    Ok(reply)
}

async fn doh(stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>, name: &str, port: u16, query: &[u8]) -> Result<Vec<u8>, String> {
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, connection) = hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io).await.map_err(|error| error.to_string())?;
    let driver = tokio::spawn(connection);
    let answer = post_dns_message(&mut sender, name, port, Bytes::copy_from_slice(query)).await;
    driver.abort();
    answer
}

async fn quic(server: SocketAddr, name: &str, config: Arc<rustls::ClientConfig>, query: &[u8]) -> Result<Answered, String> {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(config).map_err(|error| error.to_string())?;
    let local: SocketAddr = if server.is_ipv6() { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() } else { (std::net::Ipv4Addr::UNSPECIFIED, 0).into() };
    let endpoint = quinn::Endpoint::client(local).map_err(|error| error.to_string())?;
    let connection = endpoint
        .connect_with(quinn::ClientConfig::new(Arc::new(crypto)), server, name)
        .map_err(|error| error.to_string())?
        .await
        .map_err(|error| format!("quic: {error}"))?;
    let mut message = query.to_vec();
    let id: [u8; 2] = message.get(..2).and_then(|id| id.try_into().ok()).ok_or("short query")?;
    message[..2].copy_from_slice(&[0, 0]);
    let (mut send, mut recv) = connection.open_bi().await.map_err(|error| error.to_string())?;
    send.write_all(&crate::doq::frame(&message)).await.map_err(|error| error.to_string())?;
    send.finish().map_err(|error| error.to_string())?;
    let framed = recv.read_to_end(2 + 65_535).await.map_err(|error| error.to_string())?;
    let mut reply = framed.get(2..).filter(|reply| reply.len() >= 12).ok_or("reply without a message")?.to_vec();
    reply[..2].copy_from_slice(&id);
    connection.close(quinn::VarInt::from_u32(crate::doq::DOQ_NO_ERROR), b"");
    // QUIC carries TLS 1.3 only (RFC 9001 §4.2).
    Ok(Answered { reply, tls_version: "TLSv1.3".into() })
}

/// Accepts any certificate (`--insecure`); signatures are still checked, so the peer holds the
/// key of the certificate it sent.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
