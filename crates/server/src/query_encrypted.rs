//! `portcullis query --tls | --https | --quic`: the question over DoT (port 853 unless given),
//! DoH (`https://<tls-name>:443/dns-query`, POST) or DoQ (port 853), through
//! [`portcullis_net::client`]. The certificate is checked against `--tls-name` (default: the
//! server's address) and the roots of `--tls-ca` (default the system's); `--insecure` checks
//! nothing. The transport and the TLS version are printed with the reply.

use crate::cli::QueryArgs;
use portcullis_engine::Transport;
use portcullis_net::client::{Answered, Trust};
use std::net::SocketAddr;
use std::time::Duration;

/// The encrypted transport asked for, if any.
pub fn transport(args: &QueryArgs) -> Option<Transport> {
    match (args.tls, args.https, args.quic) {
        (true, _, _) => Some(Transport::Tls),
        (_, true, _) => Some(Transport::Https),
        (_, _, true) => Some(Transport::Quic),
        _ => None,
    }
}

/// The port of servers given without one: `--port` when set, else 853 (DoT, DoQ), 443 (DoH)
/// or 53.
pub fn default_port(args: &QueryArgs) -> u16 {
    match (args.port, transport(args)) {
        (53, Some(Transport::Https)) => 443,
        (53, Some(Transport::Tls | Transport::Quic)) => 853,
        (port, _) => port,
    }
}

/// The label printed for `transport`.
pub fn label(transport: Transport) -> &'static str {
    match transport {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
        Transport::Tls => "TLS",
        Transport::Https => "HTTPS",
        Transport::Quic => "QUIC",
    }
}

/// Sends `query` to `server` over `transport`, waiting at most `timeout`.
pub fn exchange(transport: Transport, query: &[u8], server: SocketAddr, args: &QueryArgs, timeout: Duration) -> Result<Answered, String> {
    let trust = if args.insecure {
        Trust::Nothing
    } else {
        let ca = args.tls_ca.clone().unwrap_or_else(|| crate::forward_tls::SYSTEM_ROOTS.into());
        Trust::Roots(portcullis_net::tls::read_pem_certificates(&ca)?)
    };
    let name = args.tls_name.clone().unwrap_or_else(|| server.ip().to_string());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|error| error.to_string())?;
    runtime.block_on(async {
        let exchange = portcullis_net::client::query(transport, server, &name, &trust, query);
        tokio::time::timeout(timeout, exchange).await.map_err(|_| format!("no answer within {timeout:?}"))?
    })
}
