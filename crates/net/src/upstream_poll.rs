//! Readiness of the resolver pool's upstream UDP sockets through an epoll set of the pool's own
//! (issue 19: cache misses made cheap).
//!
//! Every upstream UDP query has a fresh socket (random source port, SECURITY-REFERENCE §3.8), so
//! every query used to register a socket with tokio's reactor and deregister it before closing
//! it: an `epoll_ctl` DEL per query, a slot of tokio's registration table and a boxed readiness
//! future per query. Here the sockets are added to one epoll set ([`UpstreamPoll`]) instead,
//! edge-triggered, with a slot token; the set itself is one tokio registration, read by one task
//! ([`UpstreamPoll::dispatch_loop`]) that wakes the drivers whose sockets became readable.
//!
//! - **No DEL**: closing a socket removes it from the set (epoll(7): a file closed everywhere
//!   leaves every set); the slot is freed first and its generation bumped, so an event fetched
//!   for the closed socket wakes nobody, and a new socket that gets the same descriptor number has
//!   a new token.
//! - **Errors**: `EPOLLERR` is always reported; the next receive returns the error (an ICMP
//!   port-unreachable: `ECONNREFUSED`), which ends the query as a failure, as before.
//! - **Edge-triggered**: a socket is read until it would block before its task waits again
//!   ([`Watched::poll_recv`]); an event that lands between that read and the wait is kept in the
//!   slot's `ready` flag, so it is never lost.

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use tokio::io::unix::AsyncFd;

/// Events taken per `epoll_wait`.
const EVENTS: usize = 256;
/// Reads of one socket per poll at most (see [`Watched::poll_recv`]).
const TURNS: usize = 8;

/// One socket's slot: who waits on it and whether it became readable since it was last read.
#[derive(Default)]
struct Slot {
    /// Bumped when the slot is freed: the high half of the token.
    generation: u32,
    /// An event came since the socket was last found empty.
    ready: bool,
    /// The task to wake on the next event.
    waker: Option<Waker>,
}

/// The slots, and the free ones.
#[derive(Default)]
struct Slots {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl Slots {
    /// A free slot's token (index in the low half, generation in the high half).
    fn take(&mut self) -> u64 {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::default());
            u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
        });
        token(index, self.slots.get(index as usize).map_or(0, |slot| slot.generation))
    }

    /// The slot of `token`, if it is still the one the token named.
    fn get(&mut self, token: u64) -> Option<&mut Slot> {
        let (index, generation) = split(token);
        self.slots.get_mut(index as usize).filter(|slot| slot.generation == generation)
    }

    /// Frees the slot of `token`: later events with it are ignored.
    fn give_back(&mut self, token: u64) {
        let index = split(token).0;
        if let Some(slot) = self.get(token) {
            *slot = Slot { generation: slot.generation.wrapping_add(1), ready: false, waker: None };
            self.free.push(index);
        }
    }
}

fn token(index: u32, generation: u32) -> u64 {
    u64::from(generation) << 32 | u64::from(index)
}

fn split(token: u64) -> (u32, u32) {
    ((token & u64::from(u32::MAX)) as u32, (token >> 32) as u32)
}

/// The epoll set as tokio sees it: one readable descriptor.
struct EpollSet(Epoll);

impl AsRawFd for EpollSet {
    fn as_raw_fd(&self) -> RawFd {
        self.0 .0.as_raw_fd()
    }
}

/// The pool's epoll set of upstream UDP sockets (see the module documentation).
pub struct UpstreamPoll {
    set: AsyncFd<EpollSet>,
    slots: Mutex<Slots>,
}

impl std::fmt::Debug for UpstreamPoll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamPoll").finish_non_exhaustive()
    }
}

impl UpstreamPoll {
    /// An empty set, registered with the current tokio runtime's reactor (must be called within
    /// one); [`UpstreamPoll::dispatch_loop`] must run for its sockets' tasks to be woken.
    // `AsyncFd::with_interest` is deprecated for a descriptor that `T` might close while it is
    // registered (tokio#8587); here `T` owns its descriptor (an `OwnedFd`) and closes it only
    // when dropped, after the `AsyncFd` deregistered it: the contract its `unsafe` successor
    // states holds, without `unsafe` in this crate.
    #[allow(deprecated)]
    pub fn new() -> io::Result<Arc<Self>> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        Ok(Arc::new(Self { set: AsyncFd::with_interest(EpollSet(epoll), tokio::io::Interest::READABLE)?, slots: Mutex::default() }))
    }

    /// Adds `socket` (non-blocking, connected, its query sent) to the set.
    pub(crate) fn watch(&self, socket: UdpSocket) -> io::Result<Watched<'_>> {
        let token = self.lock().take();
        let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLET;
        if let Err(error) = self.set.get_ref().0.add(socket.as_fd(), EpollEvent::new(flags, token)) {
            self.lock().give_back(token);
            return Err(error.into());
        }
        Ok(Watched { socket, token, poll: self, unread: false })
    }

    /// Wakes the task of every socket that became readable (or had an error), forever: the
    /// pool's runtime runs it.
    pub async fn dispatch_loop(self: Arc<Self>) {
        let mut events = vec![EpollEvent::empty(); EVENTS];
        loop {
            let Ok(mut guard) = self.set.readable().await else { return };
            let count = match self.set.get_ref().0.wait(&mut events, EpollTimeout::ZERO) {
                Ok(count) => count,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(error) => {
                    tracing::error!(%error, "upstream epoll_wait failed");
                    return;
                }
            };
            self.wake(&events[..count]);
            // A full batch may have left events behind; otherwise the set is empty now, and
            // any event after the wait is a new edge tokio reports (and clear_ready keeps).
            if count < events.len() {
                guard.clear_ready();
            }
        }
    }

    fn wake(&self, events: &[EpollEvent]) {
        let mut wakers: smallvec::SmallVec<[Waker; 16]> = smallvec::SmallVec::new();
        {
            let mut slots = self.lock();
            for event in events {
                if let Some(slot) = slots.get(event.data()) {
                    slot.ready = true;
                    wakers.extend(slot.waker.take());
                }
            }
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Whether the socket of `token` had an event since it was last found empty (then taken);
    /// else `cx`'s task waits for the next one.
    fn take_ready(&self, token: u64, cx: &Context<'_>) -> bool {
        let mut slots = self.lock();
        let Some(slot) = slots.get(token) else { return true };
        if std::mem::take(&mut slot.ready) {
            return true;
        }
        match &mut slot.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            waker => *waker = Some(cx.waker().clone()),
        }
        false
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An upstream socket in the set; dropping it frees its slot and closes it (which removes it
/// from the set: no `epoll_ctl` DEL).
pub(crate) struct Watched<'a> {
    socket: UdpSocket,
    token: u64,
    poll: &'a UpstreamPoll,
    /// The socket may hold datagrams not read yet (it was readable and not read until empty).
    unread: bool,
}

impl Watched<'_> {
    /// The next datagram, received by `recv` (given the socket once it may be readable, so that
    /// a receive buffer is taken only then): its length and sender, or the socket's error (an
    /// ICMP error reported by the kernel); pending until one comes.
    pub(crate) fn poll_recv(
        &mut self,
        cx: &Context<'_>,
        mut recv: impl FnMut(&UdpSocket) -> io::Result<(usize, SocketAddr)>,
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        // Each turn returns, or reads the socket empty and finds a new event since; a socket
        // flooded that fast yields to the other tasks after a few turns.
        for _ in 0..TURNS {
            if !self.unread {
                if !self.poll.take_ready(self.token, cx) {
                    return Poll::Pending;
                }
                self.unread = true;
            }
            match recv(&self.socket) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => self.unread = false,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Drop for Watched<'_> {
    fn drop(&mut self) {
        self.poll.lock().give_back(self.token);
        // The socket closes after this, leaving the epoll set with it.
    }
}

#[cfg(test)]
#[path = "upstream_poll_tests.rs"]
mod tests;
