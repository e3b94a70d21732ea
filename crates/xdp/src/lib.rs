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
pub mod program;
pub mod queue;
#[allow(unsafe_code)]
mod umem;

pub use program::Program;
pub use queue::{Handler, QueueSocket, QueueStats};

use std::path::Path;

/// Receive queues one interface may have (the size of the program's socket map).
pub const MAX_QUEUES: u32 = 64;

/// Why the AF_XDP path could not be set up or stopped: what, where, and the system's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
    refused: bool,
}

impl Error {
    /// An error of ours or of the setup (no such interface, a bad object, a failed bind).
    fn new(message: String) -> Self {
        Self { message, refused: false }
    }

    /// An error the kernel returned: a refusal of XDP itself when its code says so.
    fn from_os(message: String, errno: Option<i32>) -> Self {
        Self { message, refused: errno.is_some_and(refuses_xdp) }
    }

    /// True where the kernel refuses XDP or AF_XDP as such (no BPF or AF_XDP support, not
    /// permitted, no XDP in the driver); false for everything else, our bugs included, so that
    /// tests skip only on the former.
    pub fn kernel_refused(&self) -> bool {
        self.refused
    }
}

/// Error codes by which a kernel says it has no (permitted) XDP or AF_XDP: `ENOSYS` (no
/// `bpf()`), `EPERM` (no capability, lockdown), `EOPNOTSUPP` (the driver has no XDP mode),
/// `EAFNOSUPPORT` / `EPROTONOSUPPORT` (no AF_XDP). `EINVAL` and verifier rejections are not among
/// them: those are bugs in what we asked.
fn refuses_xdp(errno: i32) -> bool {
    use nix::errno::Errno;
    [Errno::ENOSYS, Errno::EPERM, Errno::EOPNOTSUPP, Errno::EAFNOSUPPORT, Errno::EPROTONOSUPPORT].iter().any(|&code| code as i32 == errno)
}

/// The first operating-system error code in `error`'s chain of sources.
fn os_errno(error: &(dyn std::error::Error + 'static)) -> Option<i32> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(code) = error.downcast_ref::<std::io::Error>().and_then(std::io::Error::raw_os_error) {
            return Some(code);
        }
        next = error.source();
    }
    None
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if self.refused {
            f.write_str(" (the kernel refuses XDP here)")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The XDP program attached to one interface; dropping it detaches the program (the kernel
/// then passes every packet to its stack again).
pub struct Attachment {
    program: Program,
}

impl Attachment {
    /// The interface the program is attached to.
    pub fn interface(&self) -> &str {
        &self.program.interface
    }
}

/// Sets up the AF_XDP path on `interface`: loads the program for UDP to `ports`, opens a socket
/// on every receive queue, registers them, attaches. Each socket's [`QueueSocket::serve`] runs on
/// a thread of its own; nothing is redirected to a queue before its socket is registered.
pub fn attach(interface: &str, ports: &[u16]) -> Result<(Attachment, Vec<QueueSocket>), Error> {
    let sys = Path::new("/sys/class/net").join(interface);
    if !sys.exists() {
        return Err(Error::new(format!("AF_XDP on {interface}: no such interface in this network namespace")));
    }
    let queues = rx_queues(&sys).map_err(|e| Error::new(format!("AF_XDP on {interface}: {}: {e}", sys.display())))?;
    let mtu = std::fs::read_to_string(sys.join("mtu")).ok().and_then(|text| text.trim().parse().ok()).unwrap_or(1500);
    attach_queues(interface, ports, queues, mtu)
}

/// [`attach`] with the number of receive queues and the MTU given (where `/sys/class/net` is
/// not this thread's network namespace's, as in a thread moved with `setns`).
pub fn attach_queues(interface: &str, ports: &[u16], queues: u32, mtu: usize) -> Result<(Attachment, Vec<QueueSocket>), Error> {
    if queues > MAX_QUEUES {
        return Err(Error::new(format!("AF_XDP on {interface}: {queues} receive queues, at most {MAX_QUEUES} supported")));
    }
    let mut program = Program::load(interface, ports)?;
    let mut sockets = Vec::with_capacity(queues as usize);
    for queue in 0..queues {
        let socket = QueueSocket::open(interface, queue, mtu)?;
        program.register(queue, socket.raw_fd())?;
        sockets.push(socket);
    }
    program.attach()?;
    Ok((Attachment { program }, sockets))
}

/// The number of receive queues of the interface whose sysfs directory is `sys`.
fn rx_queues(sys: &Path) -> std::io::Result<u32> {
    let mut count = 0;
    for entry in std::fs::read_dir(sys.join("queues"))? {
        if entry?.file_name().to_string_lossy().starts_with("rx-") {
            count += 1;
        }
    }
    Ok(count.max(1))
}
