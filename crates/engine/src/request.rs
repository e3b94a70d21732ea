//! What the I/O layer hands the engine ([`Request`]) and what it gets back ([`Outcome`]).

use crate::base::Instant;
pub use crate::base::Transport;
use std::net::SocketAddr;

/// One received message and where it came from.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The message bytes.
    pub bytes: &'a [u8],
    /// The client's address.
    pub peer: SocketAddr,
    /// The transport.
    pub transport: Transport,
    /// Monotonic time of arrival (for rate limiting); read once per batch by the I/O layer.
    pub now: Instant,
    /// Wall-clock time of arrival in seconds since the Unix epoch (for DNS cookies).
    pub unix_secs: u64,
    /// Index of the listen address the request arrived on (for per-listener ACLs).
    pub listener: u16,
    /// The thread handling it (UDP worker index): picks its counter shard.
    pub worker: u16,
}

impl<'a> Request<'a> {
    /// A request at time zero (tests, tools).
    pub fn at_zero(bytes: &'a [u8], peer: SocketAddr, transport: Transport) -> Self {
        Self { bytes, peer, transport, now: Instant::ZERO, unix_secs: 0, listener: 0, worker: 0 }
    }

    /// UDP from a port of a classic loop service (echo, daytime, chargen, time): never answered
    /// ([`DropReason::ReflectionPort`]).
    #[inline]
    pub fn from_reflection_port(&self) -> bool {
        self.transport == Transport::Udp && matches!(self.peer.port(), 7 | 13 | 19 | 37)
    }
}

/// What to do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send the first `n` bytes of the output buffer.
    Reply(usize),
    /// Send the first `n` bytes (an answer from the cache that is about to expire), and hand
    /// the query to the resolver pool to refresh the cache (prefetch, as
    /// [`crate::cache::Hit::prefetch`] says).
    ReplyAndPrefetch(usize),
    /// Send nothing (UDP) or close the connection (TCP).
    Drop(DropReason),
    /// Recursion is wanted and allowed, and the cache had no answer: hand the query (the bytes the
    /// caller still owns, see [`recursion_key`]) to the resolver pool, then answer with
    /// [`crate::Engine::respond_resolved`]. Nothing was written to the output buffer.
    Resolve,
    /// A zone transfer the ACL allows (TCP only): write the messages of
    /// [`crate::Engine::transfer`] for the same request, in order. Nothing was written to the
    /// output buffer.
    Transfer,
    /// A dynamic update (RFC 2136) that passed TSIG, the `update` ACL and the zone's update
    /// policy: hand the request to the server's update service, which applies it, makes it
    /// durable and answers with [`crate::Engine::update_reply`]. Nothing was written to the
    /// output buffer.
    Update,
}

/// What identifies a question for coalescing identical resolutions in flight: the lower-cased
/// question and the DO bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecursionKey {
    /// The question, name lower-cased.
    pub question: portcullis_wire::message::Question,
    /// The client set DO.
    pub dnssec_ok: bool,
}

impl std::hash::Hash for RecursionKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.question.qname.as_wire().hash(state);
        self.question.qtype.hash(state);
        self.question.qclass.hash(state);
        self.dnssec_ok.hash(state);
    }
}

/// The [`RecursionKey`] of a query (for which [`crate::Engine::handle`] returned
/// [`Outcome::Resolve`], so already checked whole); `None` when the bytes are not a query with
/// one question. Reads the question and the OPT record's DO bit, nothing else.
pub fn recursion_key(bytes: &[u8]) -> Option<RecursionKey> {
    use portcullis_wire::message::{read_question, read_record};
    let (header, _) = portcullis_wire::header::Header::split(bytes).ok()?;
    if header.qdcount() != 1 {
        return None;
    }
    let (mut question, mut pos) = read_question(bytes, portcullis_wire::header::HEADER_LEN).ok()?;
    question.qname = question.qname.to_lowercase();
    let mut dnssec_ok = false;
    for _ in 0..u32::from(header.ancount()) + u32::from(header.nscount()) + u32::from(header.arcount()) {
        let record = read_record(bytes, pos).ok()?;
        pos = record.rdata_offset + record.rdata.len();
        if record.rtype == portcullis_wire::Rtype::OPT {
            dnssec_ok = portcullis_wire::edns::dnssec_ok(record.ttl);
        }
    }
    Some(RecursionKey { question, dnssec_ok })
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
    /// An ACL denies the request and is configured to drop.
    AclDeny,
    /// Response rate limiting dropped the answer.
    RrlDrop,
    /// The per-prefix query limiter dropped the query.
    QueryLimit,
    /// The resolver pool was full (too many resolutions or clients waiting).
    ResolverOverload,
    /// A response policy zone's DROP action (`CNAME rpz-drop.`).
    RpzDrop,
    /// The I/O layer could not send the reply (the kernel refused the datagram; keep it last:
    /// [`DropReason::ALL`] is checked against it).
    SendFailed,
}

// Every variant is in `ALL`, so `index` is always a slot of the counters.
const _: () = assert!(DropReason::ALL.len() == DropReason::SendFailed as usize + 1);

impl DropReason {
    /// Every reason, in declaration order (the order of [`DropReason::index`]).
    pub const ALL: [Self; 10] = [
        Self::Malformed,
        Self::IsResponse,
        Self::ReflectionPort,
        Self::NoBuffer,
        Self::AclDeny,
        Self::RrlDrop,
        Self::QueryLimit,
        Self::ResolverOverload,
        Self::RpzDrop,
        Self::SendFailed,
    ];

    /// The reason's slot in counter arrays: its place in [`DropReason::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The metrics label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::IsResponse => "is_response",
            Self::ReflectionPort => "reflection_port",
            Self::NoBuffer => "no_buffer",
            Self::AclDeny => "acl_deny",
            Self::RrlDrop => "rrl_drop",
            Self::QueryLimit => "query_limit",
            Self::ResolverOverload => "resolver_overload",
            Self::RpzDrop => "rpz_drop",
            Self::SendFailed => "send_failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DropReason;

    #[test]
    fn every_drop_reason_has_its_own_slot_and_label() {
        for (slot, reason) in DropReason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), slot, "{reason:?}");
            assert!(DropReason::ALL[..slot].iter().all(|earlier| earlier.as_str() != reason.as_str()), "{reason:?}");
        }
    }
}
