//! Upgrades without downtime (`portcullis ctl upgrade`, SIGUSR2): the running process starts
//! the binary now at its path (captured at start, so an installed update takes over) with the
//! same arguments, and hands it its listening sockets — every UDP socket, the TCP listeners, the
//! encrypted listeners (DoT and DoH TCP listeners, DoQ UDP sockets), the HTTP listener and the
//! control socket — over a private Unix socket (SCM_RIGHTS, `rustix`:
//! owned descriptors, no unsafe code). The new process serves on the very same sockets (the
//! datagrams queued in them are read by whichever process reads first, so none is lost), says
//! `ready`, and the old one stops accepting, finishes its TCP connections and exits. A new
//! process that fails before it says `ready` (exits, hangs past [`START_TIMEOUT`]) is killed
//! and the old one goes on serving.
//!
//! The handover socket's path is given to the new process in [`UPGRADE_SOCKET`]; it lies in a
//! directory of mode 0700 that only lives during the handover. The message is a 4-byte length,
//! a JSON header (`{"udp":[ADDR...],"tcp":[ADDR...],"dot":[ADDR...],"doh":[ADDR...],"doq":[ADDR...],
//! "http":ADDR|null,"control":BOOL,"cache":BOOL}`, each address as configured) and, on
//! its first byte, the descriptors in the header's order. With `"cache":true` the new process
//! may ask for the resolver cache before it serves (`upgrade_cache.rs`).

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// The variable naming the handover socket, set for the new process only.
pub const UPGRADE_SOCKET: &str = "PORTCULLIS_UPGRADE_SOCKET";
/// How long the new process gets to take the sockets and be ready (zones load meanwhile).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// At most this many descriptors are handed over (one SCM_RIGHTS message; Linux takes 253).
const MAX_FDS: usize = 250;
/// The longest header.
const MAX_HEADER: usize = 1 << 20;

/// The header naming the descriptors that follow it, in this order.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Header {
    udp: Vec<SocketAddr>,
    tcp: Vec<SocketAddr>,
    /// The encrypted listeners (absent in a header from a version without them).
    #[serde(default)]
    dot: Vec<SocketAddr>,
    #[serde(default)]
    doh: Vec<SocketAddr>,
    #[serde(default)]
    doq: Vec<SocketAddr>,
    http: Option<SocketAddr>,
    control: bool,
    /// The old process offers its resolver cache (absent from a version without the handover).
    #[serde(default)]
    cache: bool,
}

/// Copies of this process's listening sockets, kept to hand over.
#[derive(Debug, Default)]
pub struct Sockets {
    /// Every UDP socket with its address (several per address, one per worker).
    pub udp: Vec<(SocketAddr, OwnedFd)>,
    /// The DNS TCP listeners.
    pub tcp: Vec<(SocketAddr, OwnedFd)>,
    /// The DoT listeners, by configured address.
    pub dot: Vec<(SocketAddr, OwnedFd)>,
    /// The DoH listeners, by configured address.
    pub doh: Vec<(SocketAddr, OwnedFd)>,
    /// The DoQ sockets, by configured address.
    pub doq: Vec<(SocketAddr, OwnedFd)>,
    /// The HTTP listener.
    pub http: Option<(SocketAddr, OwnedFd)>,
    /// The control socket's listener.
    pub control: Option<OwnedFd>,
}

/// The old process's side: its sockets, and what it starts.
#[derive(Debug)]
pub struct Handover {
    exe: PathBuf,
    args: Vec<OsString>,
    sockets: Mutex<Sockets>,
    upgraded: OnceLock<u32>,
    done: tokio::sync::Notify,
    cache: OnceLock<crate::upgrade_cache::CacheSource>,
}

impl Handover {
    /// Captures the binary's path and the arguments now, before an update replaces the file.
    pub fn new() -> Self {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from(std::env::args_os().next().unwrap_or_default()));
        Self {
            exe,
            args: std::env::args_os().skip(1).collect(),
            sockets: Mutex::default(),
            upgraded: OnceLock::new(),
            done: tokio::sync::Notify::new(),
            cache: OnceLock::new(),
        }
    }

    /// Offers `source` to the next process (set once, at start).
    pub fn offer_cache(&self, source: crate::upgrade_cache::CacheSource) {
        let _ = self.cache.set(source);
    }

    /// The sockets to hand over, to fill at start.
    pub fn sockets(&self) -> std::sync::MutexGuard<'_, Sockets> {
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The new process's id once an upgrade succeeded.
    pub fn upgraded(&self) -> Option<u32> {
        self.upgraded.get().copied()
    }

    /// Resolves once an upgrade succeeded: this process must stop.
    pub async fn done(&self) {
        self.done.notified().await;
    }

    /// Starts the new process and hands it the sockets; its process id once it serves.
    /// Blocking; one upgrade at a time. On failure the new process is killed.
    pub fn upgrade(&self) -> Result<u32, String> {
        let sockets = self.sockets();
        if let Some(pid) = self.upgraded() {
            return Err(format!("already upgraded: process {pid} serves"));
        }
        let dir = private_dir()?;
        let result = self.start_new(&dir, &sockets);
        let _ = std::fs::remove_dir_all(&dir);
        let pid = result?;
        let _ = self.upgraded.set(pid);
        crate::sd_notify::main_pid(pid);
        self.done.notify_one();
        tracing::info!(pid, binary = %self.exe.display(), "upgrade: the new process serves; this one stops accepting and drains");
        Ok(pid)
    }

    fn start_new(&self, dir: &Path, sockets: &Sockets) -> Result<u32, String> {
        let path = dir.join("handover.sock");
        let listener = UnixListener::bind(&path).map_err(|error| format!("handover socket {}: {error}", path.display()))?;
        listener.set_nonblocking(true).map_err(|error| error.to_string())?;
        let mut command = Command::new(&self.exe);
        command.args(&self.args).env(UPGRADE_SOCKET, &path).stdin(Stdio::null());
        let mut child = command.spawn().map_err(|error| format!("cannot start {}: {error}", self.exe.display()))?;
        tracing::info!(pid = child.id(), binary = %self.exe.display(), "upgrade: new process started");
        match hand_over(&listener, &mut child, sockets, self.cache.get()) {
            Ok(()) => Ok(child.id()),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("upgrade failed, this process goes on serving: {error}"))
            }
        }
    }
}

/// A fresh directory of mode 0700 under the temporary directory.
fn private_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("portcullis-upgrade-{}-{nanos}", std::process::id()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    Ok(dir)
}

/// Waits for the new process to connect, sends the sockets, waits for its `ready`.
fn hand_over(listener: &UnixListener, child: &mut Child, sockets: &Sockets, cache: Option<&crate::upgrade_cache::CacheSource>) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(format!("handover accept: {error}")),
        }
        still_running(child, deadline, "took the sockets")?;
        std::thread::sleep(Duration::from_millis(20));
    };
    stream.set_nonblocking(false).map_err(|error| error.to_string())?;
    send(&stream, sockets, cache.is_some()).map_err(|error| format!("cannot send the sockets: {error}"))?;
    stream.set_read_timeout(Some(Duration::from_millis(100))).map_err(|error| error.to_string())?;
    let mut said = Vec::new();
    let mut buffer = [0u8; 64];
    while !said.ends_with(b"ready\n") {
        match (&stream).read(&mut buffer) {
            Ok(0) => {
                let status = child.wait().map_or_else(|e| e.to_string(), |s| s.to_string());
                return Err(format!("the new process stopped before it was ready ({status})"));
            }
            Ok(len) => said.extend_from_slice(&buffer[..len]),
            Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(error) => return Err(format!("handover: {error}")),
        }
        // The new process asks for the cache (once, before it is ready).
        if said.starts_with(crate::upgrade_cache::REQUEST) {
            said.drain(..crate::upgrade_cache::REQUEST.len());
            crate::upgrade_cache::serve(&stream, cache);
        }
        still_running(child, deadline, "was ready")?;
    }
    Ok(())
}

/// An error when the child exited or the deadline passed before it `what`.
fn still_running(child: &mut Child, deadline: Instant, what: &str) -> Result<(), String> {
    if let Ok(Some(status)) = child.try_wait() {
        return Err(format!("the new process exited ({status}) before it {what}"));
    }
    if Instant::now() >= deadline {
        return Err(format!("the new process did not say it {what} within {} s", START_TIMEOUT.as_secs()));
    }
    Ok(())
}

fn send(stream: &UnixStream, sockets: &Sockets, cache: bool) -> std::io::Result<()> {
    let header = Header {
        udp: sockets.udp.iter().map(|(addr, _)| *addr).collect(),
        tcp: sockets.tcp.iter().map(|(addr, _)| *addr).collect(),
        dot: sockets.dot.iter().map(|(addr, _)| *addr).collect(),
        doh: sockets.doh.iter().map(|(addr, _)| *addr).collect(),
        doq: sockets.doq.iter().map(|(addr, _)| *addr).collect(),
        http: sockets.http.as_ref().map(|(addr, _)| *addr),
        control: sockets.control.is_some(),
        cache,
    };
    let listening = sockets.udp.iter().chain(&sockets.tcp).chain(&sockets.dot).chain(&sockets.doh).chain(&sockets.doq).chain(&sockets.http);
    let fds: Vec<BorrowedFd<'_>> = listening.map(|(_, fd)| fd.as_fd()).chain(sockets.control.as_ref().map(AsFd::as_fd)).collect();
    if fds.len() > MAX_FDS {
        return Err(std::io::Error::other(format!("{} sockets; at most {MAX_FDS} can be handed over", fds.len())));
    }
    let body = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
    let mut message = u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len().max(1)))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other("the descriptors do not fit one message"));
    }
    let sent = rustix::net::sendmsg(stream, &[IoSlice::new(&message)], &mut control, SendFlags::empty())?;
    let mut stream = stream;
    stream.write_all(&message[sent..])
}

/// The new process's side: the sockets received, taken one by one as the server binds.
#[derive(Debug, Default)]
pub struct Inherited {
    stream: Option<UnixStream>,
    /// The old process offers its resolver cache.
    cache_offered: bool,
    udp: Vec<(SocketAddr, UdpSocket)>,
    tcp: Vec<(SocketAddr, TcpListener)>,
    dot: Vec<(SocketAddr, TcpListener)>,
    doh: Vec<(SocketAddr, TcpListener)>,
    doq: Vec<(SocketAddr, UdpSocket)>,
    http: Option<(SocketAddr, TcpListener)>,
    control: Option<UnixListener>,
}

impl Inherited {
    /// The sockets of the process that started this one, when it is an upgrade (the
    /// [`UPGRADE_SOCKET`] variable is set); none otherwise.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var_os(UPGRADE_SOCKET) {
            Some(path) => receive(Path::new(&path)).map_err(|error| format!("upgrade: cannot take the sockets from {}: {error}", path.to_string_lossy())),
            None => Ok(Self::default()),
        }
    }

    /// True when this process takes over from another.
    pub fn is_upgrade(&self) -> bool {
        self.stream.is_some()
    }

    /// The UDP sockets received for `addr`.
    pub fn take_udp(&mut self, addr: SocketAddr) -> Vec<UdpSocket> {
        let (taken, kept) = std::mem::take(&mut self.udp).into_iter().partition(|(a, _)| *a == addr);
        self.udp = kept;
        taken.into_iter().map(|(_, socket)| socket).collect::<Vec<_>>()
    }

    /// The TCP listener received for `addr`.
    pub fn take_tcp(&mut self, addr: SocketAddr) -> Option<TcpListener> {
        let index = self.tcp.iter().position(|(a, _)| *a == addr)?;
        Some(self.tcp.swap_remove(index).1)
    }

    /// The DoT listener received for the configured `addr`.
    pub fn take_dot(&mut self, addr: SocketAddr) -> Option<TcpListener> {
        take(&mut self.dot, addr)
    }

    /// The DoH listener received for the configured `addr`.
    pub fn take_doh(&mut self, addr: SocketAddr) -> Option<TcpListener> {
        take(&mut self.doh, addr)
    }

    /// The DoQ socket received for the configured `addr`.
    pub fn take_doq(&mut self, addr: SocketAddr) -> Option<UdpSocket> {
        take(&mut self.doq, addr)
    }

    /// The HTTP listener received, when it is on `addr`.
    pub fn take_http(&mut self, addr: SocketAddr) -> Option<TcpListener> {
        self.http.take_if(|(a, _)| *a == addr).map(|(_, listener)| listener)
    }

    /// The control socket's listener received.
    pub fn take_control(&mut self) -> Option<UnixListener> {
        self.control.take()
    }

    /// Asks the old process for its resolver cache and loads it into `cache` (bounded in time,
    /// `upgrade_cache.rs`); nothing when this is no upgrade or the old process offers none.
    pub fn load_cache(&mut self, cache: &portcullis_engine::cache::Cache, clock: portcullis_net::Clock) {
        if let Some(stream) = self.stream.as_ref().filter(|_| std::mem::take(&mut self.cache_offered)) {
            crate::upgrade_cache::load(stream, cache, clock);
        }
    }

    /// Tells the old process this one serves; it then stops accepting and drains.
    pub fn ready(&mut self) {
        if let Some(mut stream) = self.stream.take() {
            if let Err(error) = stream.write_all(b"ready\n") {
                tracing::warn!(%error, "upgrade: cannot tell the old process this one is ready");
            }
            tracing::info!(unused_udp = self.udp.len(), unused_tcp = self.tcp.len(), "upgrade: took over the sockets of the old process");
        }
    }
}

/// The first socket of `list` received for `addr`, taken out.
fn take<T>(list: &mut Vec<(SocketAddr, T)>, addr: SocketAddr) -> Option<T> {
    let index = list.iter().position(|(a, _)| *a == addr)?;
    Some(list.remove(index).1)
}

fn receive(path: &Path) -> std::io::Result<Inherited> {
    let stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut data = vec![0u8; 64 * 1024];
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(&stream, &mut [IoSliceMut::new(&mut data)], &mut control, RecvFlags::CMSG_CLOEXEC)?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = message {
            fds.extend(rights);
        }
    }
    let mut message = data[..received.bytes].to_vec();
    let mut stream_ref = &stream;
    while message.len() < 4 || message.len() < 4 + header_len(&message)? {
        let len = stream_ref.read(&mut data)?;
        if len == 0 {
            return Err(std::io::Error::other("the old process closed the handover early"));
        }
        message.extend_from_slice(&data[..len]);
    }
    let header: Header = serde_json::from_slice(&message[4..4 + header_len(&message)?]).map_err(std::io::Error::other)?;
    distribute(header, fds, stream)
}

fn header_len(message: &[u8]) -> std::io::Result<usize> {
    let len = message.get(..4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
    if len > MAX_HEADER {
        return Err(std::io::Error::other("handover header too long"));
    }
    Ok(len)
}

/// The descriptors, in the header's order, as the sockets it names.
fn distribute(header: Header, fds: Vec<OwnedFd>, stream: UnixStream) -> std::io::Result<Inherited> {
    let encrypted = header.dot.len() + header.doh.len() + header.doq.len();
    let wanted = header.udp.len() + header.tcp.len() + encrypted + usize::from(header.http.is_some()) + usize::from(header.control);
    if fds.len() != wanted {
        return Err(std::io::Error::other(format!("{} descriptors received, the header names {wanted}", fds.len())));
    }
    let mut fds = fds.into_iter();
    let mut next = || fds.next().ok_or_else(|| std::io::Error::other("a descriptor is missing"));
    let mut inherited = Inherited { stream: Some(stream), cache_offered: header.cache, ..Inherited::default() };
    for addr in header.udp {
        inherited.udp.push((addr, UdpSocket::from(next()?)));
    }
    for addr in header.tcp {
        inherited.tcp.push((addr, TcpListener::from(next()?)));
    }
    for addr in header.dot {
        inherited.dot.push((addr, TcpListener::from(next()?)));
    }
    for addr in header.doh {
        inherited.doh.push((addr, TcpListener::from(next()?)));
    }
    for addr in header.doq {
        inherited.doq.push((addr, UdpSocket::from(next()?)));
    }
    if let Some(addr) = header.http {
        inherited.http = Some((addr, TcpListener::from(next()?)));
    }
    if header.control {
        inherited.control = Some(UnixListener::from(next()?));
    }
    Ok(inherited)
}

/// The DNS listeners: those received for each address, the missing ones bound (an address
/// new in the configuration, or more workers than before).
pub fn listeners(addrs: &[SocketAddr], workers: usize, inherited: &mut Inherited) -> Result<portcullis_net::bind::Listeners, portcullis_net::bind::BindError> {
    use portcullis_net::bind::{self, BindError, Listeners};
    if !inherited.is_upgrade() {
        return bind::bind(addrs, workers);
    }
    let mut listeners = Listeners { udp: Vec::new(), tcp: Vec::new() };
    for (index, &addr) in addrs.iter().enumerate() {
        let index = u16::try_from(index).unwrap_or(u16::MAX);
        let tcp = match inherited.take_tcp(addr) {
            Some(listener) => listener,
            None => bind::bind_tcp(addr).map_err(|source| BindError { addr, protocol: "TCP", source })?,
        };
        let addr = tcp.local_addr().unwrap_or(addr);
        let mut udp = inherited.take_udp(addr);
        while udp.len() < workers.max(1) {
            udp.push(bind::bind_udp(addr).map_err(|source| BindError { addr, protocol: "UDP", source })?);
        }
        listeners.udp.extend(udp.into_iter().map(|socket| (index, addr, socket)));
        listeners.tcp.push((index, addr, tcp));
    }
    Ok(listeners)
}

/// Copies of `listeners` for a later upgrade.
pub fn keep(listeners: &portcullis_net::bind::Listeners, sockets: &mut Sockets) {
    for (_, addr, socket) in &listeners.udp {
        if let Ok(copy) = socket.as_fd().try_clone_to_owned() {
            sockets.udp.push((*addr, copy));
        }
    }
    for (_, addr, listener) in &listeners.tcp {
        if let Ok(copy) = listener.as_fd().try_clone_to_owned() {
            sockets.tcp.push((*addr, copy));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_cross_a_handover_socket_in_order() {
        let (old, new) = UnixStream::pair().unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let (udp_addr, tcp_addr) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
        let (dot, doq) = (TcpListener::bind("127.0.0.1:0").unwrap(), UdpSocket::bind("127.0.0.1:0").unwrap());
        let (dot_addr, doq_addr) = (dot.local_addr().unwrap(), doq.local_addr().unwrap());
        let sockets = Sockets {
            udp: vec![(udp_addr, udp.as_fd().try_clone_to_owned().unwrap())],
            tcp: vec![(tcp_addr, tcp.as_fd().try_clone_to_owned().unwrap())],
            dot: vec![(dot_addr, dot.as_fd().try_clone_to_owned().unwrap())],
            doq: vec![(doq_addr, doq.as_fd().try_clone_to_owned().unwrap())],
            ..Sockets::default()
        };
        send(&old, &sockets, false).unwrap();
        let mut data = vec![0u8; 4096];
        let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let received = rustix::net::recvmsg(&new, &mut [IoSliceMut::new(&mut data)], &mut control, RecvFlags::CMSG_CLOEXEC).unwrap();
        let fds: Vec<OwnedFd> =
            control.drain().filter_map(|m| if let RecvAncillaryMessage::ScmRights(r) = m { Some(r.collect::<Vec<_>>()) } else { None }).flatten().collect();
        let len = header_len(&data).unwrap();
        assert_eq!(received.bytes, 4 + len);
        let header: Header = serde_json::from_slice(&data[4..4 + len]).unwrap();
        let mut inherited = distribute(header, fds, new).unwrap();
        let taken = inherited.take_udp(udp_addr);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].local_addr().unwrap(), udp_addr, "the very socket");
        assert_eq!(inherited.take_tcp(tcp_addr).unwrap().local_addr().unwrap(), tcp_addr);
        assert!(inherited.take_http("127.0.0.1:1".parse().unwrap()).is_none());
        assert_eq!(inherited.take_dot(dot_addr).unwrap().local_addr().unwrap(), dot_addr, "the DoT listener");
        assert_eq!(inherited.take_doq(doq_addr).unwrap().local_addr().unwrap(), doq_addr, "the DoQ socket");
        assert!(inherited.take_doh(dot_addr).is_none(), "no DoH listener was sent");
    }
}
