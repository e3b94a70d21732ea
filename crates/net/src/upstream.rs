//! Executes the resolver's [`Outbound`] queries (DESIGN §4.4 "Recursion and forwarding").
//!
//! - UDP: one fresh socket per query, on a random source port the operating system picks when it
//!   is connected to the server (SECURITY-REFERENCE §3.8: the kernel then drops
//!   datagrams from any other address or port). Every datagram received on the socket is handed
//!   to the resolution, which does the matching (ID, question, 0x20 case); an ICMP
//!   port-unreachable ends the query at once as a failure.
//! - TCP: a fresh connection per query, RFC 1035 §4.2.2 two-byte framing, one message read.
//!
//! Time limits come from the query's deadline; nothing here decides anything about DNS.

use portcullis_engine::resolve::Outbound;
use portcullis_engine::Transport;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Largest message accepted from upstream over UDP.
pub const MAX_UDP: usize = 65_535;

/// What happened to a query while waiting.
#[derive(Debug)]
pub enum Event {
    /// A message from `from` (UDP: any datagram the socket received; TCP: one framed message).
    Message(SocketAddr, Vec<u8>),
    /// The server cannot be reached or closed the connection: the query failed at once.
    Failed,
}

/// One query on the wire: its own socket or connection.
pub enum Exchange {
    /// A connected UDP socket on a random port.
    Udp(UdpSocket),
    /// A TCP connection the query was written to (`None` once it failed).
    Tcp(Option<TcpStream>),
}

impl Exchange {
    /// Opens the socket (or connection) for `outbound` and sends the query. A failure to send is
    /// reported by the first [`Exchange::next`].
    pub async fn start(outbound: &Outbound, connect_timeout: std::time::Duration) -> Self {
        match outbound.transport {
            Transport::Udp => match send_udp(outbound) {
                Ok(socket) => Self::Udp(socket),
                Err(error) => {
                    tracing::debug!(server = %outbound.server, %error, "upstream udp send failed");
                    Self::Tcp(None)
                }
            },
            Transport::Tcp => match tokio::time::timeout(connect_timeout, send_tcp(outbound)).await {
                Ok(Ok(stream)) => Self::Tcp(Some(stream)),
                Ok(Err(error)) => {
                    tracing::debug!(server = %outbound.server, %error, "upstream tcp failed");
                    Self::Tcp(None)
                }
                Err(_) => Self::Tcp(None),
            },
            // The resolver asks for UDP and TCP only: the encrypted transports are listeners'.
            Transport::Tls | Transport::Https | Transport::Quic => Self::Tcp(None),
        }
    }

    /// The next datagram or message (cancel-safe for UDP; the caller bounds it by the deadline).
    pub async fn next(&mut self) -> Event {
        match self {
            Self::Udp(socket) => {
                let mut buf = vec![0u8; MAX_UDP];
                match socket.recv_from(&mut buf).await {
                    Ok((len, from)) => {
                        buf.truncate(len);
                        Event::Message(from, buf)
                    }
                    Err(error) => {
                        tracing::trace!(%error, "upstream udp receive failed");
                        Event::Failed
                    }
                }
            }
            Self::Tcp(stream) => {
                let Some(connection) = stream.as_mut() else { return Event::Failed };
                let from = connection.peer_addr();
                let message = read_framed(connection).await;
                *stream = None;
                match (from, message) {
                    (Ok(from), Ok(bytes)) => Event::Message(from, bytes),
                    _ => Event::Failed,
                }
            }
        }
    }
}

/// Sends `outbound` from a fresh UDP socket on a port the system picks, connected to the server,
/// without waiting (a new socket's send buffer is empty); the socket then takes the replies
/// (and an ICMP error, which a read with [`tokio::io::Interest::ERROR`] reports). Must be called
/// within a tokio runtime.
///
/// Three system calls before the send: the socket is made non-blocking when it is created, and
/// `connect` binds it to a random ephemeral port itself (the kernel's choice, as a bind to port 0
/// would make: RFC 5452 §9.2's port randomisation).
pub fn send_udp(outbound: &Outbound) -> io::Result<UdpSocket> {
    UdpSocket::from_std(send_std_udp(outbound)?)
}

/// [`send_udp`]'s socket before any reactor knows it (the resolver pool's epoll set takes it,
/// [`crate::upstream_poll`]): non-blocking, connected, the query sent.
pub fn send_std_udp(outbound: &Outbound) -> io::Result<std::net::UdpSocket> {
    let domain = if outbound.server.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let socket = Socket::new(domain, Type::DGRAM.nonblocking(), Some(Protocol::UDP))?;
    socket.connect(&outbound.server.into())?;
    socket.send(&outbound.bytes)?;
    Ok(socket.into())
}

async fn send_tcp(outbound: &Outbound) -> io::Result<TcpStream> {
    let mut stream = TcpStream::connect(outbound.server).await?;
    let _ = stream.set_nodelay(true);
    let len = u16::try_from(outbound.bytes.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "query too long"))?;
    let mut framed = Vec::with_capacity(outbound.bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(&outbound.bytes);
    stream.write_all(&framed).await?;
    Ok(stream)
}

async fn read_framed(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).await?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut message).await?;
    Ok(message)
}
