//! What the I/O layer hands the engine ([`Request`]) and what it gets back ([`Outcome`]).

use std::net::SocketAddr;

/// The transport a request arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// UDP: answers are limited by the client's payload size.
    Udp,
    /// TCP (RFC 7766): answers up to 65535 bytes.
    Tcp,
}

/// One received message and where it came from.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The message bytes.
    pub bytes: &'a [u8],
    /// The client's address.
    pub peer: SocketAddr,
    /// The transport.
    pub transport: Transport,
}

/// What to do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send the first `n` bytes of the output buffer.
    Reply(usize),
    /// Send nothing (UDP) or close the connection (TCP).
    Drop(DropReason),
}

/// Why a request got no answer: also its metrics label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Shorter than a header.
    Malformed,
    /// QR=1: a response sent to the server port.
    IsResponse,
    /// UDP from a port of a classic loop service (echo, daytime, chargen, time).
    ReflectionPort,
    /// The output buffer could not hold even a header.
    NoBuffer,
}

impl DropReason {
    /// Every reason, for counters.
    pub const ALL: [Self; 4] = [Self::Malformed, Self::IsResponse, Self::ReflectionPort, Self::NoBuffer];

    /// The metrics label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::IsResponse => "is_response",
            Self::ReflectionPort => "reflection_port",
            Self::NoBuffer => "no_buffer",
        }
    }
}
