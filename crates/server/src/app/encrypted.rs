//! The encrypted listeners (DoT, DoH, DoQ): their certificate read and their sockets bound at
//! start, their tasks spawned on the I/O runtime, and the certificate read again on every SIGHUP
//! (a task of its own listening for the signal beside the main loop): new handshakes get the
//! new certificate, open connections keep theirs.
//!
//! After an upgrade (`crate::upgrade`) the listeners are those the old process handed over, by
//! configured address; copies of every one are kept to hand over at the next upgrade.
//!
//! Each encrypted listener's index follows the cleartext ones (`listen`), so per-listener ACLs
//! (`[[acl.listener]]`, which name cleartext addresses) do not apply to them: the global rules do.

use crate::config::Settings;
use crate::tls_config::EncryptedSettings;
use crate::upgrade::{Inherited, Sockets};
use portcullis_net::tcp::{Services, TcpLimits};
use portcullis_net::tls::{Certificates, ALPN_DOT, ALPN_H2, ALPN_HTTP1};
use portcullis_net::{bind, doh, doq, tcp, EngineHandle, Shutdown};
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

/// The bound encrypted listeners, not yet serving.
pub struct Encrypted {
    certificates: Arc<Certificates>,
    tls: Vec<(u16, SocketAddr, std::net::TcpListener)>,
    https: Vec<(u16, SocketAddr, std::net::TcpListener)>,
    quic: Vec<(u16, SocketAddr, std::net::UdpSocket)>,
    settings: EncryptedSettings,
}

/// Reads the certificate and binds every encrypted address (or takes the listener `inherited`
/// has for it), keeping copies in `kept`; `None` when none is configured.
pub fn bind(settings: &Settings, inherited: &mut Inherited, kept: &mut Sockets) -> Result<Option<Encrypted>, String> {
    let encrypted = &settings.encrypted;
    let Some((cert, key)) = encrypted.files().filter(|_| encrypted.any()) else { return Ok(None) };
    let certificates = Certificates::load(cert, key).map_err(|error| format!("tls: {error}"))?;
    let mut next = settings.listen.len();
    let mut index = || {
        next += 1;
        u16::try_from(next - 1).unwrap_or(u16::MAX)
    };
    let mut tls = Vec::new();
    for &addr in &encrypted.tls {
        let listener = match inherited.take_dot(addr) {
            Some(listener) => listener,
            None => bind::bind_stream(addr, "DoT").map_err(|e| e.to_string())?,
        };
        keep(&mut kept.dot, addr, &listener);
        tls.push((index(), listener.local_addr().unwrap_or(addr), listener));
    }
    let mut https = Vec::new();
    for &addr in &encrypted.https {
        let listener = match inherited.take_doh(addr) {
            Some(listener) => listener,
            None => bind::bind_stream(addr, "DoH").map_err(|e| e.to_string())?,
        };
        keep(&mut kept.doh, addr, &listener);
        https.push((index(), listener.local_addr().unwrap_or(addr), listener));
    }
    let mut quic = Vec::new();
    for &addr in &encrypted.quic {
        let socket = match inherited.take_doq(addr) {
            Some(socket) => socket.set_nonblocking(true).map(|()| socket).map_err(|e| format!("DoQ {addr}: {e}"))?,
            None => bind::bind_quic(addr).map_err(|e| e.to_string())?,
        };
        keep(&mut kept.doq, addr, &socket);
        quic.push((index(), socket.local_addr().unwrap_or(addr), socket));
    }
    Ok(Some(Encrypted { certificates, tls, https, quic, settings: encrypted.clone() }))
}

/// A copy of `socket`'s descriptor, under its configured address, for the next upgrade.
fn keep(list: &mut Vec<(SocketAddr, OwnedFd)>, addr: SocketAddr, socket: &impl AsFd) {
    if let Ok(copy) = socket.as_fd().try_clone_to_owned() {
        list.push((addr, copy));
    }
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
