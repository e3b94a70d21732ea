//! The capture side of dnstap: a UDP worker or TCP connection that answered a query hands the
//! query and its reply (or the query alone, when it was dropped) to a [`Tap`], which queues them
//! for the writer thread (the server's `dnstap` module) without waiting: the queue is bounded,
//! and an event that finds it full is counted as dropped, so a slow or absent reader never slows
//! an answer. With no tap configured the query path pays one `Option` test.
//!
//! Answers the worker or connection writes itself (authoritative answers, cache hits, errors and
//! refusals) are captured there; a question handed to the resolver pool or the UDP workers'
//! forwarding relay is captured with its answer when the pool or relay sends it
//! ([`crate::resolver_pool::ResolverPool::set_tap`]).

use portcullis_engine::Transport;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One query seen, with its reply if one was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TapEvent {
    /// How it came.
    pub transport: Transport,
    /// The client.
    pub peer: SocketAddr,
    /// The address it came to, when known.
    pub local: Option<SocketAddr>,
    /// The query's bytes.
    pub query: Vec<u8>,
    /// The reply's bytes (none: dropped).
    pub response: Option<Vec<u8>>,
    /// When it was answered, since the Unix epoch.
    pub time: Duration,
}

/// The queue to the writer, and its counters.
#[derive(Debug)]
pub struct Tap {
    sender: SyncSender<TapEvent>,
    /// Events queued.
    pub queued: AtomicU64,
    /// Events not queued: the queue was full (or the writer gone).
    pub dropped: AtomicU64,
}

impl Tap {
    /// A tap queueing at most `capacity` events, and the writer's end of the queue.
    pub fn new(capacity: usize) -> (Self, Receiver<TapEvent>) {
        let (sender, receiver) = sync_channel(capacity.max(1));
        (Self { sender, queued: AtomicU64::new(0), dropped: AtomicU64::new(0) }, receiver)
    }

    /// Queues `query` and its `response` from `peer`, never waiting.
    pub fn record(&self, transport: Transport, peer: SocketAddr, local: Option<SocketAddr>, query: &[u8], response: Option<&[u8]>) {
        let time = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let event = TapEvent { transport, peer, local, query: query.to_vec(), response: response.map(<[u8]>::to_vec), time };
        match self.sender.try_send(event) {
            Ok(()) => self.queued.fetch_add(1, Ordering::Relaxed),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::Tap;
    use portcullis_engine::Transport;
    use std::sync::atomic::Ordering;

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (tap, receiver) = Tap::new(2);
        let peer = "127.0.0.1:5353".parse().unwrap_or_else(|_| unreachable!());
        for _ in 0..5 {
            tap.record(Transport::Udp, peer, None, b"query", Some(b"reply"));
        }
        assert_eq!((tap.queued.load(Ordering::Relaxed), tap.dropped.load(Ordering::Relaxed)), (2, 3));
        let first = receiver.recv().unwrap_or_else(|_| unreachable!());
        assert_eq!((first.query.as_slice(), first.response.as_deref()), (&b"query"[..], Some(&b"reply"[..])));
        drop(receiver);
        tap.record(Transport::Tcp, peer, None, b"q", None);
        assert_eq!(tap.dropped.load(Ordering::Relaxed), 4, "no reader: dropped");
    }
}
