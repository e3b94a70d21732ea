//! The resolver pool's replies to UDP clients, sent in batches (issue 19: cache misses made
//! cheap).
//!
//! A resolution that ends answers its UDP clients on the worker's socket. Sent one `sendto` at
//! a time, each reply was a system call of its own and, on a busy server, a wake-up of the
//! client's thread for each datagram (the most expensive part of a loopback send, measured by
//! `bench/cold`'s profile). Resolutions end in bursts (every upstream reply an I/O wake-up
//! brings finishes one), so their replies are queued here instead and sent together with
//! `sendmmsg`, one call per socket for up to [`BATCH`] replies: the first datagram wakes the
//! client, the others find it awake.
//!
//! - **When**: queuing the first reply of a burst wakes the pool's flusher task, which yields
//!   once (tokio runs a yielded task after the tasks already ready and the next poll of the I/O
//!   driver) and then sends everything queued. A reply waits at most that one round of the
//!   runtime; nothing waits for a timer.
//! - **Copies**: replies are copied into one growing byte buffer (reused across flushes), not
//!   one allocation each.
//! - **Failures**: a reply the kernel refuses is skipped and counted as
//!   [`DropReason::SendFailed`](portcullis_engine::DropReason::SendFailed), as before.

use crate::udp::{send_batch, BATCH};
use crate::EngineHandle;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage};
use portcullis_engine::DropReason;
use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

/// Replies waiting for the flusher.
#[derive(Default)]
struct Queued {
    /// Every reply's bytes, one after the other.
    bytes: Vec<u8>,
    /// Per reply: the socket it goes out on, the client, and its end in `bytes`.
    replies: Vec<(Arc<UdpSocket>, SocketAddr, usize)>,
}

/// The queue of UDP replies and the flusher's wake-up (see the module documentation).
#[derive(Default)]
pub(crate) struct UdpReplies {
    queued: Mutex<Queued>,
    wake: Notify,
}

impl std::fmt::Debug for UdpReplies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpReplies").finish_non_exhaustive()
    }
}

impl UdpReplies {
    /// Queues `reply` to `peer` on `socket`; the flusher sends it within one round of the
    /// runtime.
    pub(crate) fn queue(&self, socket: &Arc<UdpSocket>, peer: SocketAddr, reply: &[u8]) {
        let first = {
            let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
            queued.bytes.extend_from_slice(reply);
            let end = queued.bytes.len();
            queued.replies.push((socket.clone(), peer, end));
            queued.replies.len() == 1
        };
        if first {
            self.wake.notify_one();
        }
    }

    /// The flusher: sends what is queued whenever woken, after letting the burst that woke it
    /// queue the rest of its replies. Runs until the runtime stops.
    pub(crate) async fn flush_loop(self: Arc<Self>, engine: EngineHandle) {
        let mut spare = Queued::default();
        loop {
            self.wake.notified().await;
            tokio::task::yield_now().await;
            std::mem::swap(&mut *self.queued.lock().unwrap_or_else(PoisonError::into_inner), &mut spare);
            let refused = send_queued(&spare);
            if refused > 0 {
                let engine = engine.load();
                (0..refused).for_each(|_| engine.counters().dropped(DropReason::SendFailed));
            }
            spare.bytes.clear();
            spare.replies.clear();
        }
    }
}

/// Sends `queued` in order, one `sendmmsg` per run of at most [`BATCH`] consecutive replies on
/// the same socket; returns how many the kernel refused.
fn send_queued(queued: &Queued) -> usize {
    // Made per flush (it holds raw pointers, so it cannot wait in the flusher's future).
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH.min(queued.replies.len()), None);
    let mut refused = 0;
    let (mut start, mut begin) = (0, 0);
    while start < queued.replies.len() {
        let socket = &queued.replies[start].0;
        let run = queued.replies[start..].iter().take(BATCH).take_while(|(other, _, _)| Arc::ptr_eq(other, socket)).count();
        let mut slices: [[IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|_| [IoSlice::new(&[])]);
        let mut addresses: [Option<SockaddrStorage>; BATCH] = [None; BATCH];
        for (index, (_, peer, end)) in queued.replies[start..start + run].iter().enumerate() {
            slices[index] = [IoSlice::new(&queued.bytes[begin..*end])];
            addresses[index] = Some(SockaddrStorage::from(*peer));
            begin = *end;
        }
        let sent = send_batch(socket.as_raw_fd(), &mut headers, &slices[..run], &addresses[..run], MsgFlags::empty(), |index, error| {
            refused += 1;
            tracing::debug!(peer = %queued.replies[start + index].1, %error, "udp reply to a resolved query failed");
        });
        // Only with a non-blocking send can the kernel take none; counted as refused.
        refused += run - sent;
        start += run;
    }
    refused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound() -> Arc<UdpSocket> {
        Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap())
    }

    #[test]
    fn queued_replies_arrive_in_order_on_their_own_sockets() {
        let (first, second) = (bound(), bound());
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let peer = client.local_addr().unwrap();
        let mut queued = Queued::default();
        let sockets = [&first, &first, &second, &first];
        for (index, socket) in sockets.iter().enumerate() {
            queued.bytes.extend_from_slice(&vec![index as u8; index + 1]);
            queued.replies.push(((*socket).clone(), peer, queued.bytes.len()));
        }
        assert_eq!(send_queued(&queued), 0);
        let mut buf = [0u8; 16];
        for (index, socket) in sockets.iter().enumerate() {
            let (len, from) = client.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..len], &vec![index as u8; index + 1][..], "reply {index}");
            assert_eq!(from, socket.local_addr().unwrap(), "reply {index} from its socket");
        }
    }

    #[test]
    fn more_replies_than_a_batch_are_all_sent() {
        let socket = bound();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut queued = Queued::default();
        let count = BATCH * 2 + 3;
        for index in 0..count {
            queued.bytes.extend_from_slice(&(index as u16).to_be_bytes());
            queued.replies.push((socket.clone(), client.local_addr().unwrap(), queued.bytes.len()));
        }
        assert_eq!(send_queued(&queued), 0);
        let mut buf = [0u8; 4];
        for index in 0..count {
            let len = client.recv(&mut buf).unwrap();
            assert_eq!(&buf[..len], &(index as u16).to_be_bytes());
        }
    }
}
