//! A DNS hierarchy on loopback for the resolver tests: a private 127.B.C.0/24 whose hosts serve
//! on port 53 (the tests run as root), and NSD started on one of its addresses.

#[allow(dead_code)] // not every test of the hierarchy starts a resolver
pub mod resolvers;

use crate::peers::{in_ci, temp_dir, ServerProcess};
use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A 127.B.C.0/24 of the hierarchy.
#[derive(Clone, Copy, Debug)]
pub struct Net {
    b: u8,
    c: u8,
}

impl Net {
    /// The address of `host`.
    pub fn ip(self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, self.b, self.c, host)
    }

    /// The DNS endpoint of `host` (port 53).
    pub fn addr(self, host: u8) -> SocketAddr {
        SocketAddr::from((self.ip(host), 53))
    }
}

/// Finds a 127.B.C.0/24 whose port 53 is free (UDP and TCP) on hosts 1..=`hosts`; each call
/// of a process tries other networks, so parallel tests do not collide.
pub fn pick_net(hosts: u8) -> Option<Net> {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let base = std::process::id().wrapping_add(CALLS.fetch_add(1, Ordering::Relaxed).wrapping_mul(7919));
    (0..20u32).find_map(|attempt| {
        let seed = base.wrapping_mul(2_654_435_761).wrapping_add(attempt.wrapping_mul(40_503));
        let net = Net { b: 20 + (seed % 200) as u8, c: 1 + ((seed >> 8) % 250) as u8 };
        let free = (1..=hosts).all(|host| UdpSocket::bind(net.addr(host)).is_ok() && TcpListener::bind(net.addr(host)).is_ok());
        free.then_some(net)
    })
}

/// A free 127.B.C.0/24 with `hosts` hosts for `test`, which needs root (port 53 on 127.x
/// addresses) and, when `more` is given, what it names (with whether it is there). Without them
/// the test is skipped with a line saying why, or fails under CI=true, where they must be there.
#[allow(dead_code)] // not every test of the hierarchy uses it
pub fn net_for(test: &str, hosts: u8, more: Option<(&str, bool)>) -> Option<Net> {
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    let (also, present) = more.map_or((String::new(), true), |(what, present)| (format!(", {what}"), present));
    let net = pick_net(hosts).filter(|_| is_root && present);
    if net.is_none() {
        let message = format!("{test}: needs root{also} and a free 127.x.y.0/24 on port 53");
        assert!(!in_ci(), "CI=true and {message}");
        println!("SKIPPED {message}");
    }
    net
}

/// Starts NSD on `addr` serving `zones` (origin, zone text); the first zone is the readiness probe.
pub fn start_nsd(binary: &Path, addr: SocketAddr, zones: &[(&str, &str)]) -> Result<ServerProcess, String> {
    let dir = temp_dir("hierarchy-nsd");
    let run = dir.display().to_string();
    let mut conf = format!(
        "server:\n    ip-address: {ip}\n    port: 53\n    server-count: 1\n    username: \"\"\n    chroot: \"\"\n    \
         zonesdir: \"{run}\"\n    database: \"\"\n    zonelistfile: \"{run}/zone.list\"\n    xfrdfile: \"{run}/xfrd.state\"\n    \
         xfrdir: \"{run}\"\n    pidfile: \"{run}/nsd.pid\"\n    logfile: \"{run}/nsd.log\"\n    verbosity: 1\n    do-ip6: no\n    \
         rrl-ratelimit: 0\n    refuse-any: no\nremote-control:\n    control-enable: no\n",
        ip = addr.ip()
    );
    for (index, (origin, text)) in zones.iter().enumerate() {
        let file = dir.join(format!("{index}.zone"));
        fs::write(&file, text).map_err(|e| e.to_string())?;
        let _ = write!(conf, "zone:\n    name: \"{origin}\"\n    zonefile: \"{}\"\n", file.display());
    }
    let conf_path = dir.join("nsd.conf");
    fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
    let mut command = Command::new(binary);
    command.arg("-d").arg("-c").arg(&conf_path);
    ServerProcess::start("nsd", command, dir, addr, zones[0].0)
}
