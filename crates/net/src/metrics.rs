//! Counters of the I/O layer, beside the engine's ([`portcullis_engine::metrics`]): every TCP
//! connection closed or refused is counted under its [`CloseReason`], which is also its label
//! in logs and metrics (as [`portcullis_engine::DropReason`] is for dropped requests). Plain
//! atomics, shared by every listener and across reloads; the server reads and exports them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why a TCP connection ended (or was refused at accept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed the connection between messages.
    PeerClosed,
    /// No first message within `first-message-ms`.
    FirstMessageTimeout,
    /// No next message within the idle timeout (shortened as the table fills).
    IdleTimeout,
    /// A message's bytes did not all come within `message-ms` of its length.
    MessageTimeout,
    /// The client closed the connection inside a message.
    TruncatedMessage,
    /// A length prefix too short for a DNS header.
    MalformedFrame,
    /// Refused at accept: the client already had `per-client` connections open.
    PerClientLimit,
    /// Refused at accept: `max-connections` open and none idle to make room.
    MaxConnections,
    /// Closed while idle to make room for a new connection (`max-connections` reached).
    Evicted,
    /// Open for `lifetime`.
    Lifetime,
    /// `queries-per-connection` queries read.
    QueryLimit,
    /// The engine dropped a query (counted there under its `DropReason` too).
    QueryDropped,
    /// A question to resolve found no resolver, or waited too long for a place.
    ResolverUnavailable,
    /// An allowed transfer could not start (the zone left with a reload).
    TransferGone,
    /// A reply could not be written (an error, or the write timeout).
    WriteError,
    /// The TLS or QUIC handshake failed (or was refused: TLS below 1.2, no common ALPN).
    HandshakeFailed,
    /// The TLS or QUIC handshake did not end within `first-message-ms`.
    HandshakeTimeout,
    /// Refused at accept: the client started too many handshakes this second.
    HandshakeRate,
    /// A DoH or DoQ client broke its protocol (RFC 9250 §4.3: a message ID other than 0, a
    /// stream without its length prefix).
    ProtocolError,
    /// The server is stopping (keep it last: [`CloseReason::ALL`] is checked against it).
    Shutdown,
}

// Every variant is in `ALL`, so `index` is always a slot of the counters.
const _: () = assert!(CloseReason::ALL.len() == CloseReason::Shutdown as usize + 1);

impl CloseReason {
    /// Every reason, in declaration order (the order of [`CloseReason::index`]).
    pub const ALL: [Self; 20] = [
        Self::PeerClosed,
        Self::FirstMessageTimeout,
        Self::IdleTimeout,
        Self::MessageTimeout,
        Self::TruncatedMessage,
        Self::MalformedFrame,
        Self::PerClientLimit,
        Self::MaxConnections,
        Self::Evicted,
        Self::Lifetime,
        Self::QueryLimit,
        Self::QueryDropped,
        Self::ResolverUnavailable,
        Self::TransferGone,
        Self::WriteError,
        Self::HandshakeFailed,
        Self::HandshakeTimeout,
        Self::HandshakeRate,
        Self::ProtocolError,
        Self::Shutdown,
    ];

    /// The reason's slot in counter arrays: its place in [`CloseReason::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The log and metrics label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PeerClosed => "peer_closed",
            Self::FirstMessageTimeout => "first_message_timeout",
            Self::IdleTimeout => "idle_timeout",
            Self::MessageTimeout => "message_timeout",
            Self::TruncatedMessage => "truncated_message",
            Self::MalformedFrame => "malformed_frame",
            Self::PerClientLimit => "per_client_limit",
            Self::MaxConnections => "max_connections",
            Self::Evicted => "evicted_idle",
            Self::Lifetime => "lifetime",
            Self::QueryLimit => "query_limit",
            Self::QueryDropped => "query_dropped",
            Self::ResolverUnavailable => "resolver_unavailable",
            Self::TransferGone => "transfer_gone",
            Self::WriteError => "write_error",
            Self::HandshakeFailed => "handshake_failed",
            Self::HandshakeTimeout => "handshake_timeout",
            Self::HandshakeRate => "handshake_rate",
            Self::ProtocolError => "protocol_error",
            Self::Shutdown => "shutdown",
        }
    }
}

/// The I/O layer's counters.
#[derive(Debug, Default)]
pub struct NetCounters {
    /// TCP connections closed or refused, by reason, in [`CloseReason::ALL`] order.
    tcp_closes: [AtomicU64; CloseReason::ALL.len()],
}

impl NetCounters {
    /// Counts a TCP connection closed (or refused) for `reason`.
    pub fn closed(&self, reason: CloseReason) {
        self.tcp_closes[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// TCP connections closed (or refused) for `reason`.
    pub fn closes_of(&self, reason: CloseReason) -> u64 {
        self.tcp_closes[reason.index()].load(Ordering::Relaxed)
    }
}

/// Upper bounds of the latency buckets, in seconds (the last bucket, above them, is +Inf); the
/// engine's answer histograms use the same.
pub use portcullis_engine::metrics::LATENCY_BOUNDS;

/// A latency histogram of plain atomics, for events that are not per query (a resolution, an
/// exchange): one relaxed add per bucket and one for the sum per event.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Events per bucket (not cumulative), [`LATENCY_BOUNDS`] order, then the +Inf bucket.
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    /// The sum of every event's duration, in microseconds.
    sum_micros: AtomicU64,
}

impl LatencyHistogram {
    /// Counts one event that took `elapsed`.
    pub fn record(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BOUNDS.iter().position(|&bound| seconds <= bound).unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// (sum in seconds, count, per-bucket counts with their upper bounds, not cumulative; the
    /// last bound is +Inf).
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let bounds = LATENCY_BOUNDS.iter().copied().chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds.zip(&self.buckets).map(|(bound, count)| (bound, count.load(Ordering::Relaxed))).collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        (self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6, count, buckets)
    }
}

#[cfg(test)]
mod tests {
    use super::{CloseReason, LatencyHistogram, NetCounters};
    use std::time::Duration;

    #[test]
    fn latencies_land_in_their_buckets() {
        let histogram = LatencyHistogram::default();
        histogram.record(Duration::from_micros(300));
        histogram.record(Duration::from_millis(1));
        histogram.record(Duration::from_millis(30));
        histogram.record(Duration::from_secs(9));
        let (sum, count, buckets) = histogram.snapshot();
        assert_eq!(count, 4);
        assert!((sum - 9.0313).abs() < 1e-9, "{sum}");
        let at = |bound: f64| buckets.iter().find(|(b, _)| *b == bound).map(|(_, n)| *n);
        assert_eq!((at(0.0005), at(0.001), at(0.05), at(f64::INFINITY)), (Some(1), Some(1), Some(1), Some(1)));
        assert_eq!(buckets.iter().map(|(_, n)| n).sum::<u64>(), 4);
    }

    #[test]
    fn every_reason_has_its_own_slot_and_label() {
        for (slot, reason) in CloseReason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), slot, "{reason:?}");
            assert!(CloseReason::ALL[..slot].iter().all(|earlier| earlier.as_str() != reason.as_str()), "{reason:?}");
        }
        let counters = NetCounters::default();
        counters.closed(CloseReason::Shutdown);
        counters.closed(CloseReason::Shutdown);
        counters.closed(CloseReason::PeerClosed);
        assert_eq!((counters.closes_of(CloseReason::Shutdown), counters.closes_of(CloseReason::PeerClosed)), (2, 1));
        assert_eq!(CloseReason::ALL.iter().map(|&reason| counters.closes_of(reason)).sum::<u64>(), 3);
    }
}
