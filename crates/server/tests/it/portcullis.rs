//! Our server, started like the peers: `portcullis serve --listen 127.0.0.1:PORT
//! --zone ORIGIN=FILE ...` (the CLI fixed by the spec), on a free loopback port, ready once it
//! answers an SOA query for the first zone, stopped on drop.

use std::net::SocketAddr;
use std::process::Command;

use crate::peers::{free_port, temp_dir, ServerProcess, ZoneSpec};

/// The binary Cargo built for this test run.
pub const BINARY: &str = env!("CARGO_BIN_EXE_portcullis");

/// Starts portcullis serving `zones` (the first is the readiness probe); panics with the
/// server's output when it does not come up.
pub fn start(zones: &[ZoneSpec]) -> ServerProcess {
    try_start(zones).unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`start`], returning the error instead.
pub fn try_start(zones: &[ZoneSpec]) -> Result<ServerProcess, String> {
    let dir = temp_dir("portcullis");
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut command = Command::new(BINARY);
    command.arg("serve").arg("--listen").arg(addr.to_string());
    for zone in zones {
        command.arg("--zone").arg(format!("{}={}", zone.origin, zone.file.display()));
    }
    command.env("RUST_BACKTRACE", "1");
    ServerProcess::start("portcullis", command, dir, addr, &zones[0].origin)
}
