//! A batch of captured queries and replies (dnstap, the query log): the raw bytes of each, one
//! after the other in one buffer, and a small fixed-size head per event saying where they are,
//! who asked and when. A batch is filled by one producer (a UDP worker's [`crate::tap::Recorder`]),
//! handed whole to the writer thread, read there as [`TapEvent`] views, cleared and given back
//! for reuse: after the first few batches, capturing allocates nothing.

use portcullis_engine::Transport;
use std::net::SocketAddr;
use std::time::Duration;

/// Events a batch holds at most (a UDP worker's receive batch fits several times).
pub const BATCH_EVENTS: usize = 256;
/// Bytes of queries and replies a batch holds before it counts as full (one larger event still
/// fits an empty batch, so a 64 KiB TCP reply is never refused for its size alone).
pub const BATCH_BYTES: usize = 64 * 1024;

/// One query seen, with its reply if one was sent: a view into a [`TapBatch`] (or into the
/// producer's own buffers, before it is recorded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TapEvent<'a> {
    /// How it came.
    pub transport: Transport,
    /// The client.
    pub peer: SocketAddr,
    /// The address it came to, when known.
    pub local: Option<SocketAddr>,
    /// The query's bytes.
    pub query: &'a [u8],
    /// The reply's bytes (none: dropped).
    pub response: Option<&'a [u8]>,
    /// When it was answered, since the Unix epoch.
    pub time: Duration,
}

/// Where one event's bytes are in [`TapBatch::bytes`], and the rest of its fields.
#[derive(Clone, Copy, Debug)]
struct Head {
    transport: Transport,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    start: u32,
    query_len: u32,
    /// `u32::MAX`: no reply.
    response_len: u32,
    time: Duration,
}

/// Up to [`BATCH_EVENTS`] events and their bytes.
#[derive(Debug)]
pub struct TapBatch {
    heads: Vec<Head>,
    bytes: Vec<u8>,
}

impl TapBatch {
    /// An empty batch with room for a full one, allocated once.
    pub fn new() -> Self {
        Self { heads: Vec::with_capacity(BATCH_EVENTS), bytes: Vec::with_capacity(BATCH_BYTES) }
    }

    /// Appends `event`; false (nothing appended) when the batch is full.
    pub fn push(&mut self, event: &TapEvent<'_>) -> bool {
        let size = event.query.len() + event.response.map_or(0, <[u8]>::len);
        let full = self.heads.len() >= BATCH_EVENTS || (!self.heads.is_empty() && self.bytes.len() + size > BATCH_BYTES);
        if full || size >= u32::MAX as usize / 2 {
            return false;
        }
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(event.query);
        let response_len = match event.response {
            Some(response) => {
                self.bytes.extend_from_slice(response);
                response.len() as u32
            }
            None => u32::MAX,
        };
        let head = Head {
            transport: event.transport,
            peer: event.peer,
            local: event.local,
            start,
            query_len: event.query.len() as u32,
            response_len,
            time: event.time,
        };
        self.heads.push(head);
        true
    }

    /// The events in the order they were pushed.
    pub fn events(&self) -> impl Iterator<Item = TapEvent<'_>> + '_ {
        self.heads.iter().map(|head| {
            let query_end = (head.start + head.query_len) as usize;
            let response = (head.response_len != u32::MAX).then(|| &self.bytes[query_end..query_end + head.response_len as usize]);
            TapEvent {
                transport: head.transport,
                peer: head.peer,
                local: head.local,
                query: &self.bytes[head.start as usize..query_end],
                response,
                time: head.time,
            }
        })
    }

    /// The time of the first event, when there is one.
    pub fn oldest(&self) -> Option<Duration> {
        self.heads.first().map(|head| head.time)
    }

    /// Events held.
    pub fn len(&self) -> usize {
        self.heads.len()
    }

    /// True when it holds no event.
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// Forgets the events, keeping the space.
    pub fn clear(&mut self) {
        self.heads.clear();
        self.bytes.clear();
    }
}

impl Default for TapBatch {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(query: &'a [u8], response: Option<&'a [u8]>) -> TapEvent<'a> {
        let peer = SocketAddr::from(([127, 0, 0, 1], 5353));
        TapEvent { transport: Transport::Udp, peer, local: None, query, response, time: Duration::from_secs(7) }
    }

    #[test]
    fn events_read_back_as_pushed_and_space_is_kept_after_clear() {
        let mut batch = TapBatch::new();
        assert!(batch.push(&event(b"q1", Some(b"reply1"))));
        assert!(batch.push(&event(b"q2", None)));
        let read: Vec<_> = batch.events().map(|event| (event.query.to_vec(), event.response.map(<[u8]>::to_vec))).collect();
        assert_eq!(read, [(b"q1".to_vec(), Some(b"reply1".to_vec())), (b"q2".to_vec(), None)]);
        let capacity = batch.bytes.capacity();
        batch.clear();
        assert!(batch.is_empty());
        assert_eq!(batch.bytes.capacity(), capacity);
    }

    #[test]
    fn a_full_batch_refuses_but_an_empty_one_takes_a_large_event() {
        let mut batch = TapBatch::new();
        for _ in 0..BATCH_EVENTS {
            assert!(batch.push(&event(b"q", None)));
        }
        assert!(!batch.push(&event(b"q", None)), "events bound");
        let large = vec![0u8; BATCH_BYTES + 10];
        let mut batch = TapBatch::new();
        assert!(batch.push(&event(&large, None)), "an empty batch takes one large event");
        assert!(!batch.push(&event(b"q", None)), "bytes bound");
        assert_eq!(batch.len(), 1);
    }
}
