//! Where dnstap's frames go (Frame Streams, the fstrm protocol): a file (unidirectional: START,
//! data frames, STOP; `dnstap_file`) or a Unix socket a collector listens on (bidirectional: READY, ACCEPT,
//! START, data frames, STOP, FINISH), as `fstrm_capture` or a dnstap collector expects. The
//! socket is connected when the first frame comes and again at most once a second after it
//! fails; frames that find no connection are counted as lost, never waited for.

use std::io::{BufWriter, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The Frame Streams content type of dnstap.
pub const CONTENT_TYPE: &[u8] = b"protobuf:dnstap.Dnstap";
const ACCEPT: u32 = 1;
/// START: the stream begins.
pub const START: u32 = 2;
/// STOP: the stream ends.
pub const STOP: u32 = 3;
const READY: u32 = 4;
const FINISH: u32 = 5;
/// Time allowed for the collector's ACCEPT and FINISH.
const HANDSHAKE: Duration = Duration::from_secs(2);

/// A destination of frames.
pub trait Sink: Send {
    /// Writes `count` data frames already framed (each its length, then its payload).
    fn frames(&mut self, framed: &[u8], count: u64) -> std::io::Result<()>;
    /// Pushes what is buffered out.
    fn flush(&mut self) -> std::io::Result<()>;
    /// Ends the stream (STOP; on a socket, waits for FINISH).
    fn close(&mut self) -> std::io::Result<()>;
}

/// A control frame of `kind`, with the content type when `typed`.
pub fn control(kind: u32, typed: bool) -> Vec<u8> {
    let fields = if typed { 8 + CONTENT_TYPE.len() } else { 0 };
    let mut out = Vec::with_capacity(12 + fields);
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&(4 + fields as u32).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    if typed {
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(&(CONTENT_TYPE.len() as u32).to_be_bytes());
        out.extend_from_slice(CONTENT_TYPE);
    }
    out
}

/// The buffer in front of a socket: a small batch's frames are copied into it and written when
/// it fills (and when the writer flushes), so an idle server's frames cost few system calls; a
/// full batch's (`portcullis_net::tap::TapBatch`, 64 KiB) are larger than it and written as they
/// are, without a copy.
const BUFFER: usize = 32 * 1024;

/// One data frame: its length, then the payload.
#[cfg(test)]
fn data(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// A collector's Unix socket.
pub struct SocketSink {
    path: PathBuf,
    stream: Option<BufWriter<UnixStream>>,
    next_try: Instant,
    /// Frames that found no connection.
    pub lost: u64,
}

impl SocketSink {
    /// A sink connecting to `path` when the first frame comes.
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf(), stream: None, next_try: Instant::now(), lost: 0 }
    }

    /// Connects and shakes hands (READY, ACCEPT, START) unless it tried less than a second ago.
    fn connect(&mut self) {
        if self.stream.is_some() || Instant::now() < self.next_try {
            return;
        }
        self.next_try = Instant::now() + Duration::from_secs(1);
        match handshake(&self.path) {
            Ok(stream) => self.stream = Some(BufWriter::with_capacity(BUFFER, stream)),
            Err(error) => tracing::warn!(socket = %self.path.display(), %error, "dnstap: no collector; frames are lost until one accepts"),
        }
    }
}

fn handshake(path: &Path) -> std::io::Result<UnixStream> {
    let mut stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(HANDSHAKE))?;
    stream.write_all(&control(READY, true))?;
    let kind = read_control(&mut stream)?;
    if kind != ACCEPT {
        return Err(std::io::Error::other(format!("the collector answered control frame {kind}, not ACCEPT")));
    }
    stream.write_all(&control(START, true))?;
    Ok(stream)
}

/// Reads one control frame; returns its kind.
fn read_control(stream: &mut impl Read) -> std::io::Result<u32> {
    let mut word = [0u8; 4];
    stream.read_exact(&mut word)?;
    if word != [0; 4] {
        return Err(std::io::Error::other("a data frame where a control frame was due"));
    }
    stream.read_exact(&mut word)?;
    let length = u32::from_be_bytes(word) as usize;
    if !(4..=512).contains(&length) {
        return Err(std::io::Error::other(format!("a control frame of {length} bytes")));
    }
    let mut frame = vec![0u8; length];
    stream.read_exact(&mut frame)?;
    Ok(u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]))
}

impl Sink for SocketSink {
    fn frames(&mut self, framed: &[u8], count: u64) -> std::io::Result<()> {
        self.connect();
        let Some(stream) = self.stream.as_mut() else {
            self.lost += count;
            return Ok(());
        };
        if let Err(error) = stream.write_all(framed) {
            tracing::warn!(socket = %self.path.display(), %error, "dnstap: the collector went away");
            self.stream = None;
            self.lost += count;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(Err(_)) = self.stream.as_mut().map(Write::flush) {
            self.stream = None;
        }
        Ok(())
    }

    fn close(&mut self) -> std::io::Result<()> {
        let Some(mut stream) = self.stream.take() else { return Ok(()) };
        stream.write_all(&control(STOP, false))?;
        let mut stream = stream.into_inner().map_err(|error| error.into_error())?;
        // The collector answers FINISH; a missing one changes nothing for us.
        let _ = read_control(&mut stream).map(|kind| kind == FINISH);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_frames_are_escaped_typed_and_sized() {
        let start = control(START, true);
        assert_eq!(&start[..12], &[0, 0, 0, 0, 0, 0, 0, 34, 0, 0, 0, 2]);
        assert!(start.ends_with(CONTENT_TYPE));
        assert_eq!(control(STOP, false), [0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3]);
        assert_eq!(read_control(&mut &control(ACCEPT, true)[..]).ok(), Some(ACCEPT));
        assert!(read_control(&mut &data(b"x")[..]).is_err());
    }

    #[test]
    fn a_socket_without_a_collector_loses_frames_without_waiting() {
        let mut sink = SocketSink::new(Path::new("/nonexistent/dnstap.sock"));
        let started = Instant::now();
        for _ in 0..100 {
            let _ = sink.frames(&data(b"payload"), 1);
        }
        assert_eq!(sink.lost, 100);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(sink.close().is_ok());
    }
}
