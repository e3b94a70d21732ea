//! Reused message buffers of the resolver pool (issue 19: cache misses made cheap).
//!
//! Every resolution receives its upstream datagrams into a buffer of [`MAX_MESSAGE`] bytes (a
//! UDP datagram can be that long, whatever EDNS size was advertised, and the machine decides
//! what a too-long answer means), and writes its clients' replies into one. Zeroing and freeing
//! a fresh 64 KiB buffer for each was about a sixth of a cache miss's CPU time; a buffer is now
//! taken from a small free list for the moment it is needed ([`MessageBuffers::lease`]: a
//! received datagram until the machine has read it, the replies of one resolution) and given
//! back when its [`Lease`] drops. The list keeps at most [`KEPT`] buffers (the pool's threads
//! seldom need more at once); beyond that a lease allocates and its buffer is freed.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, PoisonError};

/// Length of every buffer: the largest DNS message (RFC 1035 §4.2.2, the UDP payload limit too).
pub const MAX_MESSAGE: usize = 65_535;
/// Buffers kept for reuse.
pub const KEPT: usize = 16;

/// The free list.
#[derive(Debug, Default)]
pub struct MessageBuffers {
    free: Mutex<Vec<Box<[u8]>>>,
}

impl MessageBuffers {
    /// A buffer of [`MAX_MESSAGE`] bytes (whatever a previous lease left in it), given back on
    /// drop.
    pub fn lease(&self) -> Lease<'_> {
        let reused = self.free.lock().unwrap_or_else(PoisonError::into_inner).pop();
        Lease { owner: self, buf: reused.unwrap_or_else(|| vec![0; MAX_MESSAGE].into_boxed_slice()) }
    }

    /// Buffers on the free list now.
    pub fn kept(&self) -> usize {
        self.free.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn give_back(&self, buf: Box<[u8]>) {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if free.len() < KEPT {
            free.push(buf);
        }
    }
}

/// A buffer taken from [`MessageBuffers`]; derefs to its bytes.
#[derive(Debug)]
pub struct Lease<'a> {
    owner: &'a MessageBuffers,
    buf: Box<[u8]>,
}

impl Deref for Lease<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.owner.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_lent_again_not_allocated() {
        let buffers = MessageBuffers::default();
        let first = buffers.lease();
        let address = first.as_ptr();
        assert_eq!(first.len(), MAX_MESSAGE);
        drop(first);
        assert_eq!(buffers.kept(), 1);
        let second = buffers.lease();
        assert_eq!(second.as_ptr(), address);
        assert_eq!(buffers.kept(), 0);
    }

    #[test]
    fn at_most_kept_buffers_stay_on_the_list() {
        let buffers = MessageBuffers::default();
        let leases: Vec<Lease<'_>> = (0..KEPT + 3).map(|_| buffers.lease()).collect();
        drop(leases);
        assert_eq!(buffers.kept(), KEPT);
    }
}
