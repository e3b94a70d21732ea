//! The server's TLS: its certificate chain and key read from PEM files, and the rustls
//! configurations of the DoT, DoH and DoQ listeners built over them.
//!
//! Every listener's configuration resolves its certificate through one shared
//! [`Certificates`] (a [`ResolvesServerCert`] over an [`ArcSwap`]), so that SIGHUP swaps the
//! certificate for the handshakes that follow while open connections keep theirs. TLS 1.3 and
//! 1.2 only (RFC 8310 §5; DoQ: TLS 1.3 only, RFC 9001 §4.2), through `ring` only.

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// ALPN of DNS over TLS (RFC 7858; the IANA-registered "dot").
pub const ALPN_DOT: &[u8] = b"dot";
/// ALPN of DNS over QUIC (RFC 9250 §4.1.1).
pub const ALPN_DOQ: &[u8] = b"doq";
/// ALPN of HTTP/2 and HTTP/1.1 (DoH, RFC 8484 §5.2).
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN of HTTP/1.1.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The server's certificate chain and key, swapped whole on reload.
#[derive(Debug)]
pub struct Certificates {
    current: ArcSwap<CertifiedKey>,
}

impl Certificates {
    /// Reads `cert` (the PEM chain, leaf first: all of it is sent) and `key` (PKCS#8, SEC1 or
    /// RSA PEM).
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, String> {
        Ok(Arc::new(Self { current: ArcSwap::from(read_certified_key(cert, key)?) }))
    }

    /// Reads the files again and uses them for every handshake from now on; on an error the
    /// certificate in use stays.
    pub fn reload(&self, cert: &Path, key: &Path) -> Result<(), String> {
        self.current.store(read_certified_key(cert, key)?);
        Ok(())
    }

    /// A TLS acceptor (DoT, DoH) resolving its certificate here, offering `alpn`.
    pub fn acceptor(self: &Arc<Self>, alpn: &[&[u8]]) -> Result<tokio_rustls::TlsAcceptor, String> {
        Ok(tokio_rustls::TlsAcceptor::from(self.server_config(alpn, false)?))
    }

    /// A server configuration resolving its certificate here, offering `alpn`; `tls13_only`
    /// for QUIC.
    pub fn server_config(self: &Arc<Self>, alpn: &[&[u8]], tls13_only: bool) -> Result<Arc<ServerConfig>, String> {
        let versions: &[&rustls::SupportedProtocolVersion] =
            if tls13_only { &[&rustls::version::TLS13] } else { &[&rustls::version::TLS13, &rustls::version::TLS12] };
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|error| format!("TLS configuration: {error}"))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        if tls13_only {
            // quinn accepts 0 or u32::MAX; no 0-RTT data (RFC 9250 §4.5: replayable).
            config.max_early_data_size = 0;
        }
        Ok(Arc::new(config))
    }
}

/// The crypto provider: `ring`, the project's one cryptographic library (its key exchanges are
/// X25519 and the NIST curves; the post-quantum hybrids rustls deprecates it for need aws-lc).
#[allow(deprecated)]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file, DER (an upstream group's `tls-ca`).
pub fn read_pem_certificates(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let certs = CertificateDer::pem_file_iter(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let certs: Vec<Vec<u8>> =
        certs.map(|cert| cert.map(|cert| cert.to_vec())).collect::<Result<_, _>>().map_err(|error| format!("{}: {error}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no CERTIFICATE in the file", path.display()));
    }
    Ok(certs)
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Reads and checks a chain and its key: the key must sign for the chain's first certificate.
fn read_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|error| format!("{}: {error}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|error| format!("{}: {error}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no CERTIFICATE in the file", cert.display()));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|error| format!("{}: no usable private key (PKCS#8, SEC1 or RSA PEM): {error}", key.display()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&der).map_err(|error| format!("{}: {error}", key.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|error| format!("{} and {}: {error}", cert.display(), key.display()))?;
    Ok(Arc::new(certified))
}
