//! Binding listeners, with messages that name the fix when a port is privileged or taken.

use socket2::{Domain, Protocol, Socket, Type};
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

/// Sockets ready to serve.
#[derive(Debug)]
pub struct Listeners {
    /// UDP sockets: `workers` per address, sharing the port through `SO_REUSEPORT`; each with
    /// the index of its address in the list given to [`bind`].
    pub udp: Vec<(u16, SocketAddr, UdpSocket)>,
    /// TCP listeners, one per address, with the index of the address.
    pub tcp: Vec<(u16, SocketAddr, TcpListener)>,
}

/// Why a listener could not be bound.
#[derive(Debug)]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// The protocol.
    pub protocol: &'static str,
    /// The OS error.
    pub source: io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hint = match self.source.kind() {
            io::ErrorKind::PermissionDenied => format!(
                "port {} needs root or CAP_NET_BIND_SERVICE (e.g. `sudo setcap cap_net_bind_service=+ep $(which portcullis)`); or use an unprivileged port: --listen 127.0.0.1:5353",
                self.addr.port()
            ),
            io::ErrorKind::AddrInUse => format!("another program already listens on {} (another DNS server, or systemd-resolved on port 53); stop it or choose another address with --listen 127.0.0.1:5353", self.addr),
            io::ErrorKind::AddrNotAvailable => "that address is not configured on this machine; check --listen".to_string(),
            _ => "check --listen".to_string(),
        };
        write!(f, "cannot listen on {} {}: {}; {}", self.protocol, self.addr, self.source, hint)
    }
}

impl std::error::Error for BindError {}

/// Removes the IPv6 addresses this machine cannot bind (IPv6 off, or no such address) and
/// returns them: for default addresses, which must not stop a host without IPv6 from starting.
/// Addresses the operator wrote are bound as given, and fail loudly.
pub fn drop_unusable_ipv6(addrs: &mut Vec<SocketAddr>) -> Vec<SocketAddr> {
    let (usable, unusable) = addrs.iter().partition(|addr| addr.is_ipv4() || UdpSocket::bind(SocketAddr::new(addr.ip(), 0)).is_ok());
    *addrs = usable;
    unusable
}

/// Binds UDP (`workers` sockets per address) and TCP on every address.
pub fn bind(addrs: &[SocketAddr], workers: usize) -> Result<Listeners, BindError> {
    let mut listeners = Listeners { udp: Vec::new(), tcp: Vec::new() };
    for (index, &addr) in addrs.iter().enumerate() {
        let index = u16::try_from(index).unwrap_or(u16::MAX);
        let tcp = bind_tcp(addr).map_err(|source| BindError { addr, protocol: "TCP", source })?;
        let addr = tcp.local_addr().unwrap_or(addr);
        for _ in 0..workers.max(1) {
            let udp = bind_udp(addr).map_err(|source| BindError { addr, protocol: "UDP", source })?;
            listeners.udp.push((index, addr, udp));
        }
        listeners.tcp.push((index, addr, tcp));
    }
    Ok(listeners)
}

/// Binds the TCP listener of a DoT or DoH address (`protocol` names it in the error).
pub fn bind_stream(addr: SocketAddr, protocol: &'static str) -> Result<TcpListener, BindError> {
    bind_tcp(addr).map_err(|source| BindError { addr, protocol, source })
}

/// Binds the one UDP socket of a DoQ address (quinn reads it from the runtime, not from
/// workers), non-blocking.
pub fn bind_quic(addr: SocketAddr) -> Result<UdpSocket, BindError> {
    let bound = bind_udp(addr).and_then(|socket| socket.set_nonblocking(true).map(|()| socket));
    bound.map_err(|source| BindError { addr, protocol: "QUIC", source })
}

/// One UDP socket on `addr` (`SO_REUSEPORT`, so several share the port; 4 MiB buffers).
pub fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    socket.set_recv_buffer_size(4 << 20).ok();
    socket.set_send_buffer_size(4 << 20).ok();
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A non-blocking TCP listener on `addr` (backlog 1024).
pub fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ipv6_addresses_that_cannot_be_bound_are_dropped() {
        let v4 = SocketAddr::from(([127, 0, 0, 1], 53));
        // 2001:db8::/32 is for documentation: never configured on a machine.
        let foreign: SocketAddr = "[2001:db8::53]:53".parse().unwrap();
        let loopback: SocketAddr = "[::1]:53".parse().unwrap();
        let mut addrs = vec![v4, foreign, loopback];
        let dropped = drop_unusable_ipv6(&mut addrs);
        let has_ipv6 = UdpSocket::bind("[::1]:0").is_ok();
        assert_eq!(addrs, if has_ipv6 { vec![v4, loopback] } else { vec![v4] });
        assert_eq!(dropped, if has_ipv6 { vec![foreign] } else { vec![foreign, loopback] });
    }
}
