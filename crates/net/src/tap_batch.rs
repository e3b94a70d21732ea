//! A batch of captured queries and replies (dnstap, the query log), in the forms the outputs
//! want ([`Capture`]): dnstap's data frames, encoded at capture (`tap_frame`) one after the
//! other in one buffer that the writer thread writes as it is; and, for the query log, the raw
//! bytes of each event in another buffer with a small fixed-size head per event saying where
//! they are, who asked and when. A batch is filled by one producer (a UDP worker's
//! [`crate::tap::Recorder`]), handed whole to the writer thread, read there, cleared and given
//! back for reuse: after the first few batches, capturing allocates nothing.

use crate::tap_frame::{DnstapKinds, Encoder};
use portcullis_engine::Transport;
use std::net::SocketAddr;
use std::time::Duration;

/// What a batch keeps of each event: dnstap's frames, the raw event, or both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capture {
    /// The raw events, for the query log ([`TapBatch::events`]).
    pub events: bool,
    /// dnstap's frames of these kinds ([`TapBatch::frames`]).
    pub dnstap: Option<DnstapKinds>,
}

/// Events a batch holds at most (a UDP worker's receive batch fits several times).
pub const BATCH_EVENTS: usize = 256;
/// Bytes (raw events and frames) a batch holds before it counts as full (one larger event
/// still fits an empty batch, so a 64 KiB TCP reply is never refused for its size alone).
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

/// Up to [`BATCH_EVENTS`] events, as [`Capture`] says.
#[derive(Debug)]
pub struct TapBatch {
    capture: Capture,
    /// Events held.
    count: usize,
    /// The first event's time.
    oldest: Duration,
    heads: Vec<Head>,
    bytes: Vec<u8>,
    frames: Vec<u8>,
    frame_count: u64,
    /// dnstap's encoder, when the capture asks for frames.
    encoder: Option<Encoder>,
}

impl TapBatch {
    /// An empty batch with room for a full one, allocated once.
    pub fn new(capture: Capture) -> Self {
        let (events, frames) = (capture.events, capture.dnstap.is_some());
        let space = |wanted: bool| if wanted { BATCH_BYTES + BATCH_BYTES / 4 } else { 0 };
        Self {
            capture,
            count: 0,
            oldest: Duration::ZERO,
            heads: Vec::with_capacity(if events { BATCH_EVENTS } else { 0 }),
            bytes: Vec::with_capacity(space(events)),
            frames: Vec::with_capacity(space(frames)),
            frame_count: 0,
            encoder: capture.dnstap.map(Encoder::new),
        }
    }

    /// Appends `event`; false (nothing appended) when the batch is full.
    pub fn push(&mut self, event: &TapEvent<'_>) -> bool {
        let size = event.query.len() + event.response.map_or(0, <[u8]>::len);
        let full = self.count >= BATCH_EVENTS || (self.count > 0 && self.bytes.len() + self.frames.len() + size > BATCH_BYTES);
        if full || size >= u32::MAX as usize / 2 {
            return false;
        }
        if self.count == 0 {
            self.oldest = event.time;
        }
        self.count += 1;
        if let Some(encoder) = self.encoder.as_mut() {
            self.frame_count += encoder.frames(event, &mut self.frames);
        }
        if self.capture.events {
            self.push_event(event);
        }
        true
    }

    /// Keeps the raw `event`.
    fn push_event(&mut self, event: &TapEvent<'_>) {
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
    }

    /// dnstap's data frames of the events, in the order they were pushed (each its length,
    /// then its payload), and how many; empty unless the capture asked for them.
    pub fn frames(&self) -> (&[u8], u64) {
        (&self.frames, self.frame_count)
    }

    /// The events in the order they were pushed (none unless the capture asked for them).
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
        (self.count > 0).then_some(self.oldest)
    }

    /// Events held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when it holds no event.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Forgets the events, keeping the space.
    pub fn clear(&mut self) {
        self.count = 0;
        self.heads.clear();
        self.bytes.clear();
        self.frames.clear();
        self.frame_count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(query: &'a [u8], response: Option<&'a [u8]>) -> TapEvent<'a> {
        let peer = SocketAddr::from(([127, 0, 0, 1], 5353));
        TapEvent { transport: Transport::Udp, peer, local: None, query, response, time: Duration::from_secs(7) }
    }

    const EVENTS: Capture = Capture { events: true, dnstap: None };

    #[test]
    fn events_read_back_as_pushed_and_space_is_kept_after_clear() {
        let mut batch = TapBatch::new(EVENTS);
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
        let mut batch = TapBatch::new(EVENTS);
        for _ in 0..BATCH_EVENTS {
            assert!(batch.push(&event(b"q", None)));
        }
        assert!(!batch.push(&event(b"q", None)), "events bound");
        let large = vec![0u8; BATCH_BYTES + 10];
        let mut batch = TapBatch::new(EVENTS);
        assert!(batch.push(&event(&large, None)), "an empty batch takes one large event");
        assert!(!batch.push(&event(b"q", None)), "bytes bound");
        assert_eq!(batch.len(), 1);
    }

    #[test]
    fn dnstap_frames_are_encoded_at_capture_and_raw_events_kept_only_when_asked() {
        let kinds = DnstapKinds { queries: true, responses: true, auth: false, version: false };
        let (answered, dropped) = (event(b"q1", Some(b"reply1")), event(b"q2", None));
        let mut wanted = Vec::new();
        let mut encoder = Encoder::new(kinds);
        let count = [answered, dropped].iter().map(|e| encoder.frames(e, &mut wanted)).sum::<u64>();
        let mut batch = TapBatch::new(Capture { events: false, dnstap: Some(kinds) });
        assert!(batch.push(&answered) && batch.push(&dropped));
        assert_eq!((batch.frames(), batch.len(), batch.events().count()), ((&wanted[..], count), 2, 0));
        assert_eq!((count, batch.oldest()), (3, Some(Duration::from_secs(7))));
        let mut both = TapBatch::new(Capture { events: true, dnstap: Some(kinds) });
        assert!(both.push(&answered) && both.push(&dropped));
        assert_eq!((both.frames(), both.events().count()), ((&wanted[..], count), 2));
        both.clear();
        assert_eq!((both.frames(), both.oldest()), ((&[][..], 0), None));
    }
}
