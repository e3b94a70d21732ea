//! The AF_XDP path for UDP DNS (Linux): queries to the DNS ports skip the kernel's socket layer.
//!
//! - `bpf/xdp_dns.c` (committed with its object `bpf/xdp_dns.o`): the XDP program. UDP to a
//!   configured port goes to the AF_XDP socket of its receive queue, everything else to the kernel.
//! - [`program`]: loads that object (aya), attaches it to an interface, fills its maps; detached
//!   when dropped.
//! - [`queue`]: one AF_XDP socket per receive queue (copy mode where the driver has no zero-copy)
//!   and its receive loop: a batch of frames in, each query handed to a callback, each reply
//!   written as a frame into the transmit ring.
//! - [`packet`]: the frames' Ethernet/IP/UDP headers, read and written (pure, checked).
//! - `umem` (private): the only module with `unsafe`, the shared packet memory.
//!
//! The rest of the workspace stays `forbid(unsafe_code)`.

pub mod packet;
