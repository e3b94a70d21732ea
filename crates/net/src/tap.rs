//! The capture side of dnstap and the query log: a UDP worker or TCP connection that answered a
//! query records the query and its reply (or the query alone, when it was dropped) for the
//! writer thread (the server's `tap_writer`) without waiting and, on the UDP workers' path,
//! without allocating, locking or touching a shared counter per query.
//!
//! Each UDP worker owns a [`Recorder`]: it appends the events of its receive batches to its
//! current [`TapBatch`] (dnstap's frames encoded, and for the query log the raw bytes copied,
//! into preallocated buffers: [`Capture`]) and hands the whole batch to
//! the writer over a bounded channel when it is full, when the worker is idle, or when its oldest
//! event has waited a few milliseconds, taking an empty one from the tap's pool of reusable
//! batches (one lock and one channel send per batch of up to 256 events, not per query). The
//! writer polls the channel rather than sleeping in it, so a hand-over never wakes a thread. The
//! pool is bounded ([`Tap::new`]'s `queue` events, in batches): when every batch waits for the
//! writer, a worker keeps its current batch and, once that is full, drops new events and counts
//! them; so a slow or absent reader never slows an answer and memory stays bounded.
//!
//! The occasional producers (TCP connections, the resolver pool, the forwarding relay) record
//! through [`Tap::record`] into one shared batch behind a mutex, which the writer collects
//! ([`Tap::collect_shared`]) when it wakes. With no tap configured the query path pays one
//! `Option` test.
//!
//! Answers the worker or connection writes itself (authoritative answers, cache hits, errors and
//! refusals) are captured there; a question handed to the resolver pool or the UDP workers'
//! forwarding relay is captured with its answer when the pool or relay sends it
//! ([`crate::resolver_pool::ResolverPool::set_tap`]).

pub use crate::tap_batch::{Capture, TapBatch, TapEvent};
use portcullis_engine::Transport;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Events a batch is counted as when the `queue` of events is turned into a number of batches.
const EVENTS_PER_BATCH: usize = 64;
/// Batches in the pool at least (one filling and one waiting per worker of a small server).
const MIN_BATCHES: usize = 8;

/// The channel to the writer, the pool of empty batches, and the counters.
#[derive(Debug)]
pub struct Tap {
    to_writer: SyncSender<TapBatch>,
    /// Empty batches for the producers, given back by the writer.
    free: Mutex<Vec<TapBatch>>,
    /// Batches allocated so far (at most `max_batches`).
    allocated: AtomicUsize,
    max_batches: usize,
    /// What the batches keep of each event.
    capture: Capture,
    /// The occasional producers' batch.
    shared: Mutex<Recorder>,
    /// Events handed to the writer.
    pub queued: AtomicU64,
    /// Events not handed over: every batch was waiting for the writer (or the writer was gone).
    pub dropped: AtomicU64,
}

impl Tap {
    /// A tap holding about `queue` events at most (in batches) in the forms `capture` asks
    /// for, and the writer's end.
    pub fn new(queue: usize, capture: Capture) -> (Self, Receiver<TapBatch>) {
        let max_batches = queue.div_ceil(EVENTS_PER_BATCH).max(MIN_BATCHES);
        let (to_writer, receiver) = sync_channel(max_batches);
        let tap = Self {
            to_writer,
            free: Mutex::new(Vec::with_capacity(max_batches)),
            allocated: AtomicUsize::new(0),
            max_batches,
            capture,
            shared: Mutex::new(Recorder::new()),
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        };
        (tap, receiver)
    }

    /// Records `query` and its `response` from `peer` now, into the shared batch (TCP, the pool,
    /// the relay); the writer collects it within moments.
    pub fn record(&self, transport: Transport, peer: SocketAddr, local: Option<SocketAddr>, query: &[u8], response: Option<&[u8]>) {
        let event = TapEvent { transport, peer, local, query, response, time: unix_now() };
        let mut shared = self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        shared.record(self, &event);
    }

    /// Hands the shared batch to the writer (called by the writer when it wakes, and at the end).
    pub fn collect_shared(&self) {
        let mut shared = self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        shared.flush(self);
    }

    /// Gives a batch the writer has written back to the pool.
    pub fn give_back(&self, mut batch: TapBatch) {
        batch.clear();
        self.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(batch);
    }

    /// An empty batch: from the pool, or a new one while fewer than the bound exist.
    fn take_empty(&self) -> Option<TapBatch> {
        if let Some(batch) = self.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop() {
            return Some(batch);
        }
        let grown = self.allocated.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |count| (count < self.max_batches).then_some(count + 1));
        grown.is_ok().then(|| TapBatch::new(self.capture))
    }
}

/// The current time since the Unix epoch, as dnstap writes it.
pub fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// One producer's batch being filled, and its counts not yet added to the tap's.
#[derive(Debug, Default)]
pub struct Recorder {
    batch: Option<TapBatch>,
    queued: u64,
    dropped: u64,
}

impl Recorder {
    /// A recorder with no batch yet (it takes one at its first event).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `event`; when the batch is full, hands it over and starts another; when no
    /// batch is free, drops the event and counts it.
    pub fn record(&mut self, tap: &Tap, event: &TapEvent<'_>) {
        if self.batch.is_none() {
            self.batch = tap.take_empty();
        }
        let Some(batch) = self.batch.as_mut() else {
            self.dropped += 1;
            return;
        };
        if batch.push(event) {
            return;
        }
        if self.hand_over(tap) {
            self.batch = tap.take_empty();
        }
        if !self.batch.as_mut().is_some_and(|batch| batch.push(event)) {
            self.dropped += 1;
        }
    }

    /// [`flush`](Self::flush) when the batch's oldest event is `latency` older than `now` (the
    /// time of the events being recorded): a busy producer hands over few, large batches.
    pub fn flush_older(&mut self, tap: &Tap, now: Duration, latency: Duration) {
        if self.batch.as_ref().and_then(TapBatch::oldest).is_some_and(|oldest| now.saturating_sub(oldest) >= latency) {
            self.flush(tap);
        }
    }

    /// Hands the batch (if it holds events) to the writer and adds the counts to the tap's.
    pub fn flush(&mut self, tap: &Tap) {
        self.hand_over(tap);
        if self.queued > 0 {
            tap.queued.fetch_add(std::mem::take(&mut self.queued), Ordering::Relaxed);
        }
        if self.dropped > 0 {
            tap.dropped.fetch_add(std::mem::take(&mut self.dropped), Ordering::Relaxed);
        }
    }

    /// Sends a non-empty batch to the writer if an empty one can replace it (else keeps it, to
    /// fill up and then drop); true when the batch went.
    fn hand_over(&mut self, tap: &Tap) -> bool {
        let Some(batch) = self.batch.take_if(|batch| !batch.is_empty()) else { return false };
        let events = batch.len() as u64;
        match tap.to_writer.try_send(batch) {
            Ok(()) => {
                self.queued += events;
                true
            }
            Err(TrySendError::Full(mut batch) | TrySendError::Disconnected(mut batch)) => {
                // The writer is gone (or, never with the channel as large as the pool, behind).
                self.dropped += events;
                batch.clear();
                self.batch = Some(batch);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(query: &[u8]) -> TapEvent<'_> {
        let peer = SocketAddr::from(([127, 0, 0, 1], 5353));
        TapEvent { transport: Transport::Udp, peer, local: None, query, response: Some(b"reply"), time: Duration::ZERO }
    }

    #[test]
    fn a_batch_goes_to_the_writer_once_per_flush_and_comes_back_for_reuse() {
        let (tap, receiver) = Tap::new(1, Capture { events: true, dnstap: None });
        let mut recorder = Recorder::new();
        recorder.record(&tap, &event(b"one"));
        recorder.record(&tap, &event(b"two"));
        assert!(receiver.try_recv().is_err(), "nothing sent before the flush");
        recorder.flush(&tap);
        let batch = receiver.try_recv().unwrap_or_else(|_| unreachable!());
        let queries: Vec<&[u8]> = batch.events().map(|event| event.query).collect();
        assert_eq!(queries, [&b"one"[..], b"two"]);
        assert_eq!(tap.queued.load(Ordering::Relaxed), 2);
        tap.give_back(batch);
        recorder.flush(&tap);
        assert!(receiver.try_recv().is_err(), "an empty batch is not sent");
        assert_eq!(tap.allocated.load(Ordering::Relaxed), 1, "the batch was reused");
    }

    #[test]
    fn a_busy_producer_hands_over_once_its_oldest_event_waited_long_enough() {
        let (tap, receiver) = Tap::new(1, Capture { events: true, dnstap: None });
        let mut recorder = Recorder::new();
        recorder.record(&tap, &event(b"one"));
        recorder.flush_older(&tap, Duration::from_millis(19), Duration::from_millis(20));
        assert!(receiver.try_recv().is_err(), "younger than the latency: kept");
        recorder.flush_older(&tap, Duration::from_millis(20), Duration::from_millis(20));
        assert_eq!(receiver.try_recv().map(|batch| batch.len()).ok(), Some(1));
    }

    #[test]
    fn when_every_batch_waits_for_the_writer_new_events_are_dropped_and_counted() {
        let (tap, receiver) = Tap::new(1, Capture { events: true, dnstap: None });
        let mut recorder = Recorder::new();
        for _ in 0..MIN_BATCHES {
            recorder.record(&tap, &event(b"q"));
            recorder.flush(&tap);
        }
        for _ in 0..crate::tap_batch::BATCH_EVENTS + 3 {
            recorder.record(&tap, &event(b"q"));
        }
        recorder.flush(&tap);
        let queued = MIN_BATCHES as u64;
        assert_eq!((tap.queued.load(Ordering::Relaxed), tap.dropped.load(Ordering::Relaxed)), (queued, 3 + crate::tap_batch::BATCH_EVENTS as u64));
        drop(receiver);
        tap.record(Transport::Tcp, SocketAddr::from(([127, 0, 0, 1], 53)), None, b"q", None);
        tap.collect_shared();
        assert_eq!(tap.queued.load(Ordering::Relaxed), queued, "no writer: nothing more queued");
    }
}
