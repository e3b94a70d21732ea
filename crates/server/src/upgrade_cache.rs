//! The resolver cache handed over on an upgrade (issue 17 item 5; the stream's format is the
//! engine's `cache::handover`). The old process says in the handover header that it offers its
//! cache; the new one, once its own cache exists and before its UDP workers start, asks for it
//! (`cache\n` on the handover socket). The old process then makes a socket pair, sends one end
//! over the handover socket (SCM_RIGHTS, one byte `c`) and writes the export into the other from
//! a thread of its own, one shard batch at a time (answering goes on meanwhile). The new process
//! reads and loads the stream for at most [`LOAD_TIMEOUT`], then goes on with what it loaded
//! (logged either way) and only then serves and says `ready`: from a client's view the cache
//! moves with the sockets. Nothing here can make an upgrade fail.

use portcullis_engine::cache::handover::Import;
use portcullis_engine::cache::Cache;
use portcullis_net::Clock;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest the new process spends loading the cache before it serves.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(5);
/// The request the new process writes on the handover socket.
pub const REQUEST: &[u8] = b"cache\n";

/// The old process's cache and the clock its entries' instants are on.
#[derive(Clone)]
pub struct CacheSource {
    /// The resolver cache.
    pub cache: Arc<Cache>,
    /// The clock of its instants.
    pub clock: Clock,
}

impl std::fmt::Debug for CacheSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheSource").field("entries", &self.cache.len()).finish_non_exhaustive()
    }
}

/// The old process's side, on the new one's request: a socket pair's end sent over `handover`,
/// the export of `source` written into the other end by a thread. Without a source, or on a
/// failure (logged), the new process is told so and starts with an empty cache.
pub fn serve(handover: &UnixStream, source: Option<&CacheSource>) {
    let Some(source) = source else {
        let _ = send_end(handover, None);
        return;
    };
    let pair = UnixStream::pair();
    let sent = send_end(handover, pair.as_ref().ok().map(|(_, theirs)| theirs.as_fd()));
    let (ours, theirs) = match (pair, sent) {
        (Ok(pair), Ok(())) => pair,
        (Err(error), _) | (_, Err(error)) => {
            tracing::warn!(%error, "upgrade: cannot hand the cache over; the new process starts with an empty cache");
            return;
        }
    };
    drop(theirs);
    let source = source.clone();
    let spawned = std::thread::Builder::new().name("portcullis-cache-export".into()).spawn(move || export(ours, &source));
    if let Err(error) = spawned {
        tracing::warn!(%error, "upgrade: cannot start the cache export");
    }
}

/// Sends `c` with the descriptor, or `n` without one.
fn send_end(handover: &UnixStream, end: Option<BorrowedFd<'_>>) -> std::io::Result<()> {
    let fds: Vec<BorrowedFd<'_>> = end.into_iter().collect();
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other("the descriptor does not fit the message"));
    }
    let byte = if fds.is_empty() { b"n" } else { b"c" };
    rustix::net::sendmsg(handover, &[IoSlice::new(byte)], &mut control, SendFlags::empty())?;
    if fds.is_empty() {
        return Err(std::io::Error::other("no socket pair"));
    }
    Ok(())
}

/// Writes the export into `out` until done, the reader goes away or [`LOAD_TIMEOUT`] passes.
fn export(mut out: UnixStream, source: &CacheSource) {
    let started = Instant::now();
    let _ = out.set_write_timeout(Some(LOAD_TIMEOUT));
    let mut export = source.cache.export();
    let (mut chunk, mut bytes) = (Vec::with_capacity(1 << 16), 0usize);
    // Bounded: one chunk per batch of slots, and the deadline.
    while started.elapsed() < LOAD_TIMEOUT * 2 {
        chunk.clear();
        if !export.next_chunk(source.clock.now().0, &mut chunk) {
            tracing::info!(entries = export.written(), bytes, millis = started.elapsed().as_millis() as u64, "upgrade: cache handed over to the new process");
            return;
        }
        if let Err(error) = out.write_all(&chunk) {
            tracing::info!(%error, entries = export.written(), "upgrade: cache export stopped (the new process stopped reading)");
            return;
        }
        bytes += chunk.len();
    }
    tracing::warn!(entries = export.written(), "upgrade: cache export stopped at its time limit");
}

/// The new process's side: asks the old process (over `handover`) for its cache and loads it
/// into `cache` for at most [`LOAD_TIMEOUT`]. Logs what it loaded and why it stopped.
pub fn load(handover: &UnixStream, cache: &Cache, clock: Clock) {
    let started = Instant::now();
    let stream = match request(handover) {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(%error, "upgrade: no cache from the old process; starting with an empty cache");
            return;
        }
    };
    let mut import = Import::new();
    let outcome = read_into(&stream, &mut import, cache, clock, started);
    let stats = import.stats();
    let millis = started.elapsed().as_millis() as u64;
    let (loaded, nsec, expired, full, refused) = (stats.loaded, stats.nsec, stats.expired, stats.full, stats.refused);
    match outcome.and_then(|()| import.finish().map_err(|error| error.to_string())) {
        Ok(_) => tracing::info!(loaded, nsec, expired, full, refused, millis, "upgrade: cache taken over from the old process"),
        Err(error) => tracing::warn!(%error, loaded, nsec, expired, full, refused, millis, "upgrade: cache handover stopped; going on with the entries loaded"),
    }
}

/// Writes the request and receives the stream's descriptor.
fn request(handover: &UnixStream) -> std::io::Result<UnixStream> {
    let mut writer = handover;
    writer.write_all(REQUEST)?;
    handover.set_read_timeout(Some(LOAD_TIMEOUT))?;
    let mut byte = [0u8; 1];
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = rustix::net::recvmsg(handover, &mut [IoSliceMut::new(&mut byte)], &mut control, RecvFlags::CMSG_CLOEXEC)?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = message {
            fds.extend(rights);
        }
    }
    match (received.bytes, byte, fds.pop()) {
        (1, [b'c'], Some(fd)) => Ok(UnixStream::from(fd)),
        (0, _, _) => Err(std::io::Error::other("the old process closed the handover socket")),
        _ => Err(std::io::Error::other("the old process could not send its cache")),
    }
}

/// Feeds the stream to `import` until its end, an error, or the deadline.
fn read_into(mut stream: &UnixStream, import: &mut Import, cache: &Cache, clock: Clock, started: Instant) -> Result<(), String> {
    let mut buffer = vec![0u8; 1 << 16];
    while !import.is_done() {
        let left = LOAD_TIMEOUT.checked_sub(started.elapsed()).filter(|left| !left.is_zero());
        let left = left.ok_or_else(|| format!("not done within {} s", LOAD_TIMEOUT.as_secs()))?;
        stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).map_err(|error| error.to_string())?;
        let len = match stream.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(len) => len,
            Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted) => continue,
            Err(error) => return Err(error.to_string()),
        };
        import.feed(cache, &buffer[..len], clock.now().0).map_err(|error| error.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_engine::cache::{CacheSettings, Rrset, Trust};
    use portcullis_wire::{Class, NameBuf, Rtype};

    fn cache_with(names: usize, clock: Clock) -> Arc<Cache> {
        let cache = Arc::new(Cache::new(CacheSettings { hash_key: [3; 16], ..CacheSettings::DEFAULT }));
        for index in 0..names {
            let owner = NameBuf::from_text(&format!("n{index}.example."), None).unwrap_or(NameBuf::ROOT);
            let mut rrset = Rrset::new(owner, Rtype::A, Class::IN, 300);
            rrset.push(300, &[192, 0, 2, index as u8]);
            cache.insert_rrset(&rrset, Trust::Answer, clock.now().0);
        }
        cache
    }

    /// The old side reads the request and serves `source` (or refuses without one).
    fn old_side(old: UnixStream, source: Option<CacheSource>) -> std::thread::JoinHandle<UnixStream> {
        std::thread::spawn(move || {
            let mut request = [0u8; REQUEST.len()];
            (&old).read_exact(&mut request).unwrap_or_default();
            assert_eq!(&request, REQUEST);
            serve(&old, source.as_ref());
            old
        })
    }

    #[test]
    fn the_cache_crosses_a_socket_pair_between_two_processes_sides() {
        let (old, new) = UnixStream::pair().unwrap();
        let clock = Clock::default();
        let source = CacheSource { cache: cache_with(2000, clock), clock };
        let server = old_side(old, Some(source));
        let loaded = Cache::new(CacheSettings::DEFAULT);
        load(&new, &loaded, Clock::default());
        assert_eq!(loaded.len(), 2000);
        drop(server.join());
    }

    #[test]
    fn without_a_cache_to_give_the_new_side_goes_on_at_once() {
        let (old, new) = UnixStream::pair().unwrap();
        let server = old_side(old, None);
        let started = Instant::now();
        let loaded = Cache::new(CacheSettings::DEFAULT);
        load(&new, &loaded, Clock::default());
        assert!(loaded.is_empty() && started.elapsed() < LOAD_TIMEOUT, "{:?}", started.elapsed());
        drop(server.join());
    }

    #[test]
    fn a_silent_old_side_costs_at_most_the_load_timeout() {
        let (_old, new) = UnixStream::pair().unwrap();
        let started = Instant::now();
        load(&new, &Cache::new(CacheSettings::DEFAULT), Clock::default());
        let took = started.elapsed();
        assert!(took >= LOAD_TIMEOUT && took < LOAD_TIMEOUT + Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn a_stream_of_another_format_version_leaves_the_cache_empty_at_once() {
        let (old, new) = UnixStream::pair().unwrap();
        let server = std::thread::spawn(move || {
            let mut request = [0u8; REQUEST.len()];
            (&old).read_exact(&mut request).unwrap_or_default();
            let (mut ours, theirs) = UnixStream::pair().unwrap();
            send_end(&old, Some(theirs.as_fd())).unwrap();
            drop(theirs);
            let mut stream = portcullis_engine::cache::handover::MAGIC.to_vec();
            stream.extend_from_slice(&(portcullis_engine::cache::handover::FORMAT_VERSION + 1).to_be_bytes());
            stream.extend_from_slice(&[1; 64]);
            let _ = ours.write_all(&stream);
            // Held open until the new side closes its end: it must stop on the version, not on
            // the end of the stream.
            let _ = ours.set_read_timeout(Some(LOAD_TIMEOUT));
            let _ = ours.read(&mut [0u8; 1]);
            (old, ours)
        });
        let started = Instant::now();
        let loaded = Cache::new(CacheSettings::DEFAULT);
        load(&new, &loaded, Clock::default());
        assert!(loaded.is_empty() && started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        drop(server.join());
    }
}
