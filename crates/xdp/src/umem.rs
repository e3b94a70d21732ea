//! The packet memory shared with the kernel (the UMEM), and waiting on an AF_XDP socket: the only
//! module of the workspace with `unsafe` code (allowed on this module alone, in `lib.rs`).
//!
//! Why it is needed: an AF_XDP socket receives and sends frames through memory that user space
//! allocates and registers (`XDP_UMEM_REG`), and that the kernel reads and writes outside any
//! Rust borrow. `xdpilone` sets up the socket and the rings but leaves the memory to its caller.
//!
//! The contract that keeps it sound, kept by `queue.rs`:
//! - the [`Area`] outlives every socket and ring that uses it (it is the last field of the
//!   queue socket, so dropped after them: the socket's descriptor is closed, and the kernel
//!   releases the memory, before the memory is freed);
//! - a frame is touched only while user space owns it: between its descriptor coming out of
//!   the receive or completion ring and going back into the fill or transmit ring. The kernel
//!   writes only frames it was given through the fill ring and reads only those given through
//!   the transmit ring. [`Area::frame_mut`] borrows the area mutably, so at most one frame
//!   slice exists at a time on our side.

use std::alloc::Layout;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;

use xdpilone::{Errno, Umem, UmemConfig};

/// Page size the UMEM is aligned to (the kernel wants page-aligned UMEM).
const PAGE: usize = 4096;

/// Page-aligned, zeroed memory for `frames` frames of `frame_size` octets each.
pub(crate) struct Area {
    base: NonNull<u8>,
    layout: Layout,
    frame_size: u32,
}

// SAFETY: `Area` owns its allocation exclusively (like a `Box<[u8]>`); the raw pointer is only
// dereferenced through `&mut self`, so moving the owner to another thread is sound.
unsafe impl Send for Area {}

impl Area {
    /// Allocates the memory; `frame_size` is a power of two from 2048 to 4096 (aligned mode).
    pub(crate) fn new(frames: u32, frame_size: u32) -> Option<Self> {
        let len = usize::try_from(u64::from(frames) * u64::from(frame_size)).ok()?;
        if len == 0 || !frame_size.is_power_of_two() {
            return None;
        }
        let layout = Layout::from_size_align(len, PAGE).ok()?;
        // SAFETY: `layout` has a non-zero size (checked above).
        let base = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        Some(Self { base, layout, frame_size })
    }

    /// Registers the memory as a UMEM with a new AF_XDP socket.
    pub(crate) fn umem(&self, config: UmemConfig) -> Result<Umem, Errno> {
        let area = NonNull::slice_from_raw_parts(self.base, self.layout.size());
        // SAFETY: `area` is this allocation, page-aligned (layout) and valid for its whole
        // length; the caller keeps `self` alive longer than the `Umem` and everything made from
        // it (module contract above).
        unsafe { Umem::new(config, area) }
    }

    /// The bytes from UMEM address `addr` to the end of its frame, for a frame user space owns
    /// now (its descriptor just came out of the receive or completion ring). `None` if `addr`
    /// is outside the area.
    pub(crate) fn frame_mut(&mut self, addr: u64) -> Option<&mut [u8]> {
        let addr = usize::try_from(addr).ok()?;
        let frame_size = usize::try_from(self.frame_size).ok()?;
        let frame_end = (addr / frame_size).checked_add(1)?.checked_mul(frame_size)?;
        if frame_end > self.layout.size() {
            return None;
        }
        // SAFETY: `addr < frame_end <= size`, so the range lies inside the allocation; the
        // frame is owned by user space (module contract), so the kernel neither reads nor writes
        // it while the slice lives, and `&mut self` rules out a second slice.
        Some(unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(addr), frame_end - addr) })
    }

    /// The UMEM address of the start of the frame holding `addr`.
    pub(crate) fn frame_start(&self, addr: u64) -> u64 {
        addr - addr % u64::from(self.frame_size)
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout, freed once.
        unsafe { std::alloc::dealloc(self.base.as_ptr(), self.layout) }
    }
}

/// Waits up to `timeout_ms` until the AF_XDP socket `fd` has frames to read; true if it has.
pub(crate) fn wait_readable(fd: i32, timeout_ms: u16) -> nix::Result<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    // SAFETY: `fd` is the descriptor of a socket owned by the caller's rings, open for the whole
    // call (the rings outlive it); it is only polled, never closed.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    Ok(poll(&mut fds, PollTimeout::from(timeout_ms))? > 0)
}
