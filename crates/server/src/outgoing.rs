//! What the server's own queries need (NOTIFY, and a secondary's SOA queries and transfers): a
//! random message ID, a UDP socket connected to the peer on a port the system picks, and the
//! clock TSIG signs with.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tokio::net::UdpSocket;

/// A message ID from the operating system's CSPRNG (the process stops if it fails).
pub fn random_id() -> u16 {
    crate::entropy::random_u16().unwrap_or_else(|error| crate::entropy::fatal(error))
}

/// A UDP socket of `peer`'s family on a port the system picks, connected to `peer` (the kernel
/// then drops datagrams from anyone else).
pub async fn connected_udp(peer: SocketAddr) -> std::io::Result<UdpSocket> {
    let local = SocketAddr::new(if peer.is_ipv4() { IpAddr::V4(Ipv4Addr::UNSPECIFIED) } else { IpAddr::V6(Ipv6Addr::UNSPECIFIED) }, 0);
    let socket = UdpSocket::bind(local).await?;
    socket.connect(peer).await?;
    Ok(socket)
}

/// Seconds since the epoch, as TSIG signs them.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
