//! The XDP program (`bpf/xdp_dns.c`, committed as `bpf/xdp_dns.o`): loaded with aya, its maps
//! filled, attached to one interface, detached when the [`Program`] is dropped.

use std::os::fd::{AsRawFd, RawFd};

use aya::maps::{HashMap, XskMap};
use aya::programs::{Xdp, XdpMode};
use aya::Ebpf;

use crate::Error;

/// The compiled XDP program (rebuild: `bpf/build.sh`; `tests/bpf_object.rs` checks it).
static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/xdp_dns.o");
/// The program's name in the object.
const PROGRAM: &str = "portcullis_dns";

/// The loaded program with its maps; attached once [`Program::attach`] succeeded.
pub struct Program {
    ebpf: Ebpf,
    pub(crate) interface: String,
}

/// A socket's descriptor as aya's `XskMap::set` takes it.
struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl Program {
    /// Loads the program for `interface` and sets the UDP ports it redirects (at most 16).
    pub fn load(interface: &str, ports: &[u16]) -> Result<Self, Error> {
        let fail = |what: &str, e: &(dyn std::error::Error + 'static)| Error::from_os(format!("XDP program for {interface}: {what}: {e}"), crate::os_errno(e));
        let mut ebpf = Ebpf::load(OBJECT).map_err(|e| fail("load object", &e))?;
        let map = ebpf.map_mut("ports").ok_or_else(|| Error::new(format!("XDP program for {interface}: no `ports` map")))?;
        let mut port_map: HashMap<_, u16, u8> = HashMap::try_from(map).map_err(|e| fail("ports map", &e))?;
        for &port in ports {
            // The program compares the raw network-order bytes of the UDP destination port.
            port_map.insert(u16::from_ne_bytes(port.to_be_bytes()), 1, 0).map_err(|e| fail("set port", &e))?;
        }
        let program: &mut Xdp = program(&mut ebpf).map_err(|e| Error::new(format!("XDP program for {interface}: {e}")))?;
        program.load().map_err(|e| fail("verifier", &e))?;
        Ok(Self { ebpf, interface: interface.to_owned() })
    }

    /// Sends what arrives on receive queue `queue` to the AF_XDP socket `fd`.
    pub(crate) fn register(&mut self, queue: u32, fd: RawFd) -> Result<(), Error> {
        let fail =
            |e: &(dyn std::error::Error + 'static)| Error::from_os(format!("XDP socket map of {}: queue {queue}: {e}", self.interface), crate::os_errno(e));
        let map = self.ebpf.map_mut("xsks").ok_or_else(|| Error::new(format!("XDP socket map of {}: no `xsks` map", self.interface)))?;
        let mut sockets: XskMap<_> = XskMap::try_from(map).map_err(|e| fail(&e))?;
        sockets.set(queue, Fd(fd), 0).map_err(|e| fail(&e))
    }

    /// Attaches the program to the interface (native mode where the driver has it, else generic).
    pub(crate) fn attach(&mut self) -> Result<(), Error> {
        let interface = self.interface.clone();
        let fail = |e: &(dyn std::error::Error + 'static)| Error::from_os(format!("attach XDP program to {interface}: {e}"), crate::os_errno(e));
        let program = program(&mut self.ebpf).map_err(|e| Error::new(format!("attach XDP program to {interface}: {e}")))?;
        program.attach(&interface, XdpMode::Default).map_err(|e| fail(&e))?;
        Ok(())
    }
}

fn program(ebpf: &mut Ebpf) -> Result<&mut Xdp, String> {
    let program = ebpf.program_mut(PROGRAM).ok_or_else(|| format!("no program {PROGRAM}"))?;
    program.try_into().map_err(|e| format!("{e}"))
}
