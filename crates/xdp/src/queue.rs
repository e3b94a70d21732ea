//! One AF_XDP socket per receive queue, and its receive-answer-transmit loop.
//!
//! Frames cycle through four rings and never leave the queue's own memory: fill (given to the
//! kernel for receiving) -> receive -> (a reply written in place) transmit -> completion -> fill,
//! or straight back to fill when there is no reply. The fill ring is as large as the number of
//! frames, so a frame always has a place to go back to. Work is done in batches of [`BATCH`]:
//! one ring update and at most one `sendto` (the copy-mode transmit kick) per batch.

use std::ffi::CString;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};

use xdpilone::xdp::XdpDesc;
use xdpilone::{DeviceQueue, IfInfo, RingRx, RingTx, Socket, SocketConfig, UmemConfig};

use crate::packet;
use crate::umem::{wait_readable, Area};
use crate::Error;

/// Frames per queue (and entries of each ring).
const FRAMES: u32 = 4096;
/// Octets per frame: room for a 1500-octet MTU frame after the kernel's 256-octet headroom.
const FRAME_SIZE: u32 = 2048;
/// Frames handled per loop turn.
const BATCH: u32 = 64;
/// Transmit kicks per batch: the kernel sends up to 32 frames per kick in copy mode.
const KICKS: u32 = BATCH / 32 + 2;
/// Reservations tried per ring write: xdpilone refreshes its view of the kernel's consumer only
/// when the cached view shows no free slot, so the second try sees the real free count.
const RESERVE_TRIES: usize = 3;
/// How long one wait for frames lasts before the stop flag is read again.
const WAIT_MS: u16 = 100;

/// Answers the queries of a queue's loop.
pub trait Handler {
    /// Called once before each batch of queries (up to 64): where to read the clock or take a
    /// snapshot once per batch rather than once per query.
    fn batch(&mut self) {}

    /// Writes the reply to `query` from `peer` (sent to `local`, our address and port) into
    /// `out` and returns its length, or `None` for no reply.
    fn answer(&mut self, query: &[u8], peer: SocketAddr, local: SocketAddr, out: &mut [u8]) -> Option<usize>;
}

impl<F> Handler for F
where
    F: FnMut(&[u8], SocketAddr, SocketAddr, &mut [u8]) -> Option<usize>,
{
    fn answer(&mut self, query: &[u8], peer: SocketAddr, local: SocketAddr, out: &mut [u8]) -> Option<usize> {
        self(query, peer, local, out)
    }
}

/// What a queue's loop did, returned when it stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Frames received.
    pub received: u64,
    /// Replies put in the transmit ring.
    pub answered: u64,
    /// Frames that were not a UDP datagram this path reads (returned to the kernel unanswered).
    pub malformed: u64,
    /// Queries the handler gave no reply for.
    pub unanswered: u64,
    /// Replies dropped because the transmit ring was full.
    pub tx_full: u64,
    /// The kernel's count of frames it dropped for this socket (`XDP_STATISTICS`: no room in
    /// the receive ring, no frame in the fill ring, or invalid), read when the loop stops.
    pub kernel_dropped: u64,
    /// Of those, the frames dropped because the receive ring was full (the loop fell behind).
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty.
    pub fill_ring_empty: u64,
}

/// An AF_XDP socket bound to one receive queue of an interface.
pub struct QueueSocket {
    fill: DeviceQueue,
    rx: RingRx,
    tx: RingTx,
    queue: u32,
    /// Largest frame the interface sends (MTU + Ethernet header).
    max_frame: usize,
    /// The query's payload, copied out of its frame (the reply is written over it).
    scratch: Box<[u8]>,
    /// Addresses read from the completion ring, on their way to the fill ring (FRAMES entries,
    /// allocated once).
    completed: Box<[u64]>,
    /// Last field: dropped after the rings and socket (see `umem.rs`).
    area: Area,
}

impl QueueSocket {
    /// Opens and binds a socket on `interface` queue `queue`, with every frame in its fill ring.
    pub(crate) fn open(interface: &str, queue: u32, mtu: usize) -> Result<Self, Error> {
        let fail =
            |what: &str, e: &xdpilone::Errno| Error::from_os(format!("AF_XDP socket on {interface} queue {queue}: {what}: {e}"), Some(e.get_raw().abs()));
        let area = Area::new(FRAMES, FRAME_SIZE).ok_or_else(|| Error::new(format!("AF_XDP socket on {interface} queue {queue}: memory: allocation failed")))?;
        let config = UmemConfig { fill_size: FRAMES, complete_size: FRAMES, frame_size: FRAME_SIZE, headroom: 0, flags: 0 };
        let umem = area.umem(config).map_err(|e| fail("UMEM", &e))?;
        let name = CString::new(interface).map_err(|e| Error::new(format!("AF_XDP socket on {interface}: name: {e}")))?;
        let mut info = IfInfo::invalid();
        info.from_name(&name).map_err(|e| fail("interface", &e))?;
        info.set_queue(queue);
        let socket = Socket::with_shared(&info, &umem).map_err(|e| fail("socket", &e))?;
        let mut fill = umem.fq_cq(&socket).map_err(|e| fail("fill and completion rings", &e))?;
        let rings = SocketConfig { rx_size: NonZeroU32::new(FRAMES), tx_size: NonZeroU32::new(FRAMES), bind_flags: SocketConfig::XDP_BIND_NEED_WAKEUP };
        let user = umem.rx_tx(&socket, &rings).map_err(|e| fail("rx and tx rings", &e))?;
        let rx = user.map_rx().map_err(|e| fail("map rx ring", &e))?;
        let tx = user.map_tx().map_err(|e| fail("map tx ring", &e))?;
        let mut writer = fill.fill(FRAMES);
        writer.insert((0..u64::from(FRAMES)).map(|i| i * u64::from(FRAME_SIZE)));
        writer.commit();
        drop(writer);
        umem.bind(&user).map_err(|e| fail("bind", &e))?;
        let scratch = vec![0; FRAME_SIZE as usize].into_boxed_slice();
        let completed = vec![0; FRAMES as usize].into_boxed_slice();
        Ok(Self { fill, rx, tx, queue, max_frame: mtu + 14, scratch, completed, area })
    }

    /// The socket's descriptor, for the XDP program's socket map.
    pub(crate) fn raw_fd(&self) -> i32 {
        self.rx.as_raw_fd()
    }

    /// The receive queue this socket is bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Answers queries until `stop` is set (read at least every 100 ms): each UDP payload goes
    /// to [`Handler::answer`] (a closure `(query, client, local, out) -> Option<len>` is one),
    /// `out` sized to what one frame can carry (the interface's MTU).
    pub fn serve<H: Handler>(&mut self, stop: &AtomicBool, mut handler: H) -> Result<QueueStats, Error> {
        let mut stats = QueueStats::default();
        while !stop.load(Ordering::Relaxed) {
            self.kick();
            self.recycle_completed();
            if self.rx.available() == 0 {
                // Sleep until frames arrive; only briefly while replies wait to be sent (the
                // poll sends them in copy mode) or their frames to be completed, so that no
                // frame stays away from the fill ring for long.
                let in_flight = self.tx.pending() > 0 || self.fill.available() > 0;
                let fd = self.raw_fd();
                wait_readable(fd, if in_flight { 1 } else { WAIT_MS }).map_err(|e| Error::new(format!("AF_XDP queue {}: poll: {e}", self.queue)))?;
                continue;
            }
            self.turn(&mut handler, &mut stats);
        }
        if let Ok(kernel) = self.fill.statistics_v2() {
            stats.kernel_dropped = kernel.rx_dropped;
            stats.rx_ring_full = kernel.rx_ring_full;
            stats.fill_ring_empty = kernel.rx_fill_ring_empty_descs;
        }
        Ok(stats)
    }

    /// One batch: read received frames, answer them in place, transmit, refill.
    fn turn<H: Handler>(&mut self, handler: &mut H, stats: &mut QueueStats) {
        handler.batch();
        let mut replies = [XdpDesc::default(); BATCH as usize];
        let mut reply_count = 0;
        let mut unused = [0u64; BATCH as usize];
        let mut unused_count = 0;
        let mut reader = self.rx.receive(BATCH);
        while let Some(desc) = reader.read() {
            stats.received += 1;
            match answer(&mut self.area, &mut self.scratch, self.max_frame, desc, handler, stats) {
                Some(reply) => {
                    replies[reply_count] = reply;
                    reply_count += 1;
                }
                None => {
                    unused[unused_count] = desc.addr;
                    unused_count += 1;
                }
            }
        }
        reader.release();
        drop(reader);
        let sent = self.transmit(&replies[..reply_count]);
        stats.answered += sent as u64;
        for reply in &replies[sent..reply_count] {
            stats.tx_full += 1;
            unused[unused_count] = reply.addr;
            unused_count += 1;
        }
        self.refill(&unused[..unused_count]);
    }

    /// Puts replies in the transmit ring and kicks it; returns how many fitted.
    fn transmit(&mut self, replies: &[XdpDesc]) -> usize {
        let mut sent = 0;
        // Two reservations, as in `refill`: the first may see a stale, smaller free count.
        for _ in 0..RESERVE_TRIES {
            let Some(rest) = replies.get(sent..).filter(|rest| !rest.is_empty()) else { break };
            let mut writer = self.tx.transmit(u32::try_from(rest.len()).unwrap_or(BATCH));
            let inserted = writer.insert(rest.iter().copied());
            writer.commit();
            drop(writer);
            sent += usize::try_from(inserted).unwrap_or(0);
        }
        if sent > 0 {
            self.kick();
        }
        sent
    }

    /// Copy mode sends only when asked (`sendto`), at most 32 frames a call (the kernel's
    /// per-call budget): asks until the ring is drained, at most [`KICKS`] times.
    fn kick(&mut self) {
        for _ in 0..KICKS {
            if self.tx.pending() == 0 || !self.tx.needs_wakeup() {
                break;
            }
            self.tx.wake();
        }
    }

    /// Frames whose reply was sent go back to the fill ring: all of them, so that a backlog of
    /// completions never starves the fill ring (the kernel drops what it has no frame for).
    fn recycle_completed(&mut self) {
        let mut reader = self.fill.complete(FRAMES);
        let mut count = 0;
        while let Some(addr) = reader.read() {
            // The completion ring never holds more than FRAMES entries.
            if let Some(slot) = self.completed.get_mut(count) {
                *slot = addr;
                count += 1;
            }
        }
        reader.release();
        drop(reader);
        let done = std::mem::take(&mut self.completed);
        self.refill(done.get(..count).unwrap_or(&[]));
        self.completed = done;
    }

    /// Gives frames back to the kernel for receiving (the fill ring has room for every frame).
    ///
    /// A reservation is served from xdpilone's cached view of the kernel's consumer as long as
    /// that shows one free slot, so it may get fewer slots than asked; the second reservation
    /// (the cache now empty) reads the kernel's consumer and gets the rest. Inserting only the
    /// first part lost frames for good, until the fill ring ran dry and every query was dropped.
    fn refill(&mut self, addrs: &[u64]) {
        let area = &self.area;
        let mut rest = addrs;
        for _ in 0..RESERVE_TRIES {
            if rest.is_empty() {
                return;
            }
            let mut writer = self.fill.fill(u32::try_from(rest.len()).unwrap_or(FRAMES));
            let inserted = writer.insert(rest.iter().map(|&addr| area.frame_start(addr)));
            writer.commit();
            rest = rest.get(usize::try_from(inserted).unwrap_or(0)..).unwrap_or(&[]);
        }
        // Unreachable while the fill ring holds every frame; logged rather than lost silently.
        if !rest.is_empty() {
            tracing::error!(queue = self.queue, frames = rest.len(), "AF_XDP fill ring full: frames lost");
        }
    }
}

/// Reads the query in the frame at `desc`, asks `handler`, and writes the reply over the query
/// in the same frame; the reply's descriptor, or `None` (the frame goes back to the fill ring).
fn answer<H: Handler>(area: &mut Area, scratch: &mut [u8], max_frame: usize, desc: XdpDesc, handler: &mut H, stats: &mut QueueStats) -> Option<XdpDesc> {
    let frame = area.frame_mut(desc.addr)?;
    let received = frame.get(..usize::try_from(desc.len).ok()?)?;
    let Some(datagram) = packet::parse(received) else {
        stats.malformed += 1;
        return None;
    };
    let query = scratch.get_mut(..datagram.payload.len())?;
    query.copy_from_slice(datagram.payload);
    let addresses = datagram.addresses;
    let room = frame.len().min(max_frame);
    let out = frame.get_mut(addresses.header_len()..room)?;
    let room = out.len();
    let Some(len) = handler.answer(query, addresses.src, addresses.dst, out).filter(|&len| len <= room) else {
        stats.unanswered += 1;
        return None;
    };
    let total = packet::write_reply(frame, &addresses, len)?;
    Some(XdpDesc { addr: desc.addr, len: u32::try_from(total).ok()?, options: 0 })
}
