//! The encrypted listeners (DoT, DoH, DoQ): their certificate read and their sockets bound at
//! start, their tasks spawned on the I/O runtime, and the certificate read again on every SIGHUP
//! (a task of its own listening for the signal beside the main loop): new handshakes get the
//! new certificate, open connections keep theirs.
//!
//! Each encrypted listener's index follows the cleartext ones (`listen`), so per-listener ACLs
//! (`[[acl.listener]]`, which name cleartext addresses) do not apply to them: the global rules do.

use crate::config::Settings;
use crate::tls_config::EncryptedSettings;
use portcullis_net::tcp::{Services, TcpLimits};
use portcullis_net::tls::{Certificates, ALPN_DOT, ALPN_H2, ALPN_HTTP1};
use portcullis_net::{bind, doh, doq, tcp, EngineHandle, Shutdown};
use std::net::SocketAddr;
use std::sync::Arc;

/// The bound encrypted listeners, not yet serving.
pub struct Encrypted {
    certificates: Arc<Certificates>,
    tls: Vec<(u16, SocketAddr, std::net::TcpListener)>,
    https: Vec<(u16, SocketAddr, std::net::TcpListener)>,
    quic: Vec<(u16, SocketAddr, std::net::UdpSocket)>,
    settings: EncryptedSettings,
}

/// Reads the certificate and binds every encrypted address; `None` when none is configured.
pub fn bind(settings: &Settings) -> Result<Option<Encrypted>, String> {
    let encrypted = &settings.encrypted;
    let Some((cert, key)) = encrypted.files().filter(|_| encrypted.any()) else { return Ok(None) };
    let certificates = Certificates::load(cert, key).map_err(|error| format!("tls: {error}"))?;
    let mut next = settings.listen.len();
    let mut index = || {
        next += 1;
        u16::try_from(next - 1).unwrap_or(u16::MAX)
    };
    let mut streams = |addrs: &[SocketAddr], protocol| -> Result<Vec<_>, String> {
        addrs
            .iter()
            .map(|&addr| {
                bind::bind_stream(addr, protocol).map(|listener| (index(), listener.local_addr().unwrap_or(addr), listener)).map_err(|e| e.to_string())
            })
            .collect()
    };
    let tls = streams(&encrypted.tls, "DoT")?;
    let https = streams(&encrypted.https, "DoH")?;
    let quic = encrypted
        .quic
        .iter()
        .map(|&addr| bind::bind_quic(addr).map(|socket| (index(), socket.local_addr().unwrap_or(addr), socket)).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    Ok(Some(Encrypted { certificates, tls, https, quic, settings: encrypted.clone() }))
}

impl Encrypted {
    /// The addresses, for the "ready" line: `tls://`, `https://`, `quic://`.
    pub fn addresses(&self) -> Vec<String> {
        let tls = self.tls.iter().map(|(_, addr, _)| format!("tls://{addr}"));
        let https = self.https.iter().map(|(_, addr, _)| format!("https://{addr}"));
        tls.chain(https).chain(self.quic.iter().map(|(_, addr, _)| format!("quic://{addr}"))).collect()
    }

    /// Starts every listener and the certificate reload on SIGHUP; must run inside the runtime.
    pub fn spawn(self, engine: &EngineHandle, limits: TcpLimits, shutdown: &Shutdown, services: &Services) -> Result<(), String> {
        let dot = self.certificates.acceptor(&[ALPN_DOT])?;
        let https = self.certificates.acceptor(&[ALPN_H2, ALPN_HTTP1])?;
        let quic = doq::server_config(&self.certificates, &limits)?;
        let limits = TcpLimits { handshakes_per_second: self.settings.handshakes_per_second, ..limits };
        for (index, addr, listener) in self.tls {
            let (engine, shutdown, services, dot) = (engine.clone(), shutdown.clone(), services.clone(), dot.clone());
            tokio::spawn(async move {
                if let Err(error) = tcp::serve_tls(index, listener, engine, limits, shutdown, services, dot).await {
                    tracing::error!(%addr, %error, "DoT listener failed");
                }
            });
        }
        for (index, addr, listener) in self.https {
            let (engine, shutdown, services, https) = (engine.clone(), shutdown.clone(), services.clone(), https.clone());
            tokio::spawn(async move {
                if let Err(error) = doh::serve(index, listener, engine, limits, shutdown, services, https).await {
                    tracing::error!(%addr, %error, "DoH listener failed");
                }
            });
        }
        for (index, addr, socket) in self.quic {
            let (engine, shutdown, services, quic) = (engine.clone(), shutdown.clone(), services.clone(), quic.clone());
            tokio::spawn(async move {
                if let Err(error) = doq::serve(index, socket, engine, limits, shutdown, services, quic).await {
                    tracing::error!(%addr, %error, "DoQ listener failed");
                }
            });
        }
        let hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map_err(|error| format!("cannot install the SIGHUP handler: {error}"))?;
        tokio::spawn(reload_on_hangup(hangup, self.certificates, self.settings, shutdown.clone()));
        Ok(())
    }
}

/// Reads the certificate again on every SIGHUP (the files named at start); a failure keeps the
/// one in use and is logged.
async fn reload_on_hangup(mut hangup: tokio::signal::unix::Signal, certificates: Arc<Certificates>, settings: EncryptedSettings, shutdown: Shutdown) {
    let Some((cert, key)) = settings.files() else { return };
    while hangup.recv().await.is_some() && !shutdown.is_triggered() {
        match certificates.reload(cert, key) {
            Ok(()) => tracing::info!(cert = %cert.display(), "tls certificate reloaded"),
            Err(error) => tracing::error!(%error, "tls certificate reload failed; the previous one stays in use"),
        }
    }
}
