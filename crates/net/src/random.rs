//! The resolver's random bytes, read from their source 4 KiB at a time (issue 19).
//!
//! Every upstream query takes a few random bytes (its ID, its 0x20 case bits, now and then a
//! server chosen to explore, RFC 5452 §9.2 and §4); read from the operating system's CSPRNG one
//! call at a time, that was three system calls per query. A [`BufferedRandom`] reads
//! [`CHUNK`] bytes from its source at once and hands them out in order, each byte once, so the
//! bytes are exactly as unpredictable as the source's (the same design as OpenBSD's
//! `arc4random` buffer, without a generator of our own: no crypto outside `ring` and the OS).
//! Clones share the buffer (a mutex held for a copy only): the pool keeps one for all its
//! resolutions, each UDP worker's relay one for its forwardings.

use portcullis_engine::resolve::Random;
use std::sync::{Arc, Mutex, PoisonError};

/// Bytes read from the source at once.
pub const CHUNK: usize = 4096;

/// A shared buffer of random bytes from `source` (see the module documentation).
#[derive(Clone)]
pub struct BufferedRandom(Arc<Mutex<Buffered>>);

struct Buffered {
    source: Box<dyn Random + Send>,
    bytes: Box<[u8; CHUNK]>,
    used: usize,
}

impl BufferedRandom {
    /// Reads from `source` when its first bytes are asked for, then whenever the buffer is used
    /// up.
    pub fn new(source: Box<dyn Random + Send>) -> Self {
        Self(Arc::new(Mutex::new(Buffered { source, bytes: Box::new([0; CHUNK]), used: CHUNK })))
    }
}

impl std::fmt::Debug for BufferedRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferedRandom").finish_non_exhaustive()
    }
}

impl Random for BufferedRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        let mut buffered = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Buffered { source, bytes, used } = &mut *buffered;
        if buf.len() > bytes.len() {
            return source.fill(buf);
        }
        if *used + buf.len() > bytes.len() {
            source.fill(&mut bytes[..]);
            *used = 0;
        }
        buf.copy_from_slice(&bytes[*used..*used + buf.len()]);
        // Each byte is handed out once: what a caller got is never seen by another.
        *used += buf.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its calls; the bytes count up.
    struct Counting(Arc<AtomicUsize>, u8);

    impl Random for Counting {
        fn fill(&mut self, buf: &mut [u8]) {
            self.0.fetch_add(1, Ordering::Relaxed);
            for byte in buf {
                *byte = self.1;
                self.1 = self.1.wrapping_add(1);
            }
        }
    }

    #[test]
    fn the_source_is_read_once_per_chunk_and_no_byte_is_handed_out_twice() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut first = BufferedRandom::new(Box::new(Counting(calls.clone(), 0)));
        let mut second = first.clone();
        let (mut a, mut b) = ([0u8; 2], [0u8; 3]);
        first.fill(&mut a);
        second.fill(&mut b);
        assert_eq!((a, b), ([0, 1], [2, 3, 4]));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        let mut rest = vec![0u8; CHUNK - 5];
        first.fill(&mut rest);
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        second.fill(&mut a);
        assert_eq!(calls.load(Ordering::Relaxed), 2, "a used-up buffer is read again");
    }

    #[test]
    fn a_request_longer_than_the_buffer_goes_to_the_source() {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut random = BufferedRandom::new(Box::new(Counting(calls.clone(), 7)));
        let mut long = vec![0u8; CHUNK + 1];
        random.fill(&mut long);
        assert_eq!((long[0], calls.load(Ordering::Relaxed)), (7, 1));
    }
}
