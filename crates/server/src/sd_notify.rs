//! systemd's readiness protocol (`sd_notify(3)`, `Type=notify` units): one datagram of
//! `KEY=VALUE` lines sent to the Unix socket named by `$NOTIFY_SOCKET` (a path, or `@name` for
//! an abstract socket). Without the variable (not started by systemd) nothing is sent; a send
//! that fails is logged and otherwise ignored, as a readiness note must never stop the server.
//!
//! The server says `READY=1` once it answers, `RELOADING=1` (with `MONOTONIC_USEC`, as
//! `Type=notify-reload` wants) then `READY=1` around a reload, `STOPPING=1` when it stops, and
//! `MAINPID=` when an upgrade hands the service to a new process (`NotifyAccess=all`).

use std::os::unix::net::UnixDatagram;

/// The variable that names systemd's socket.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` (newline-separated `KEY=VALUE` assignments) to `$NOTIFY_SOCKET`, if set.
pub fn notify(state: &str) {
    let Some(target) = std::env::var_os(NOTIFY_SOCKET) else { return };
    if let Err(error) = send(&target, state) {
        tracing::warn!(socket = %target.to_string_lossy(), %error, "cannot notify systemd");
    }
}

/// `READY=1`: the server answers queries.
pub fn ready() {
    notify(&format!("READY=1\nSTATUS=serving\nMAINPID={}", std::process::id()));
}

/// `RELOADING=1`: a reload starts; [`ready`] ends it.
pub fn reloading() {
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
}

/// `STOPPING=1`: the server drains and stops.
pub fn stopping() {
    notify("STOPPING=1");
}

/// `MAINPID=pid`: an upgrade handed the service to the process `pid`.
pub fn main_pid(pid: u32) {
    notify(&format!("MAINPID={pid}\nSTATUS=upgraded, serving from process {pid}"));
}

fn send(target: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    let bytes = target.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        socket.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        socket.send_to(state.as_bytes(), std::path::Path::new(target))?;
    }
    Ok(())
}

/// CLOCK_MONOTONIC in microseconds (what systemd compares `MONOTONIC_USEC` with).
fn monotonic_usec() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_reaches_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("pc-notify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).unwrap();
        send(path.as_os_str(), "READY=1").unwrap();
        let mut buffer = [0u8; 64];
        let len = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..len], b"READY=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_datagram_reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("pc-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&addr).unwrap();
        send(std::ffi::OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        let mut buffer = [0u8; 64];
        let len = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..len], b"STOPPING=1");
        assert!(monotonic_usec() > 0);
    }
}
