//! dnstap output (`[dnstap] file = PATH` or `socket = PATH`): every query the UDP workers and TCP connections
//! answer (or drop), as BIND, Unbound and Knot write them: `dnstap.Dnstap` protobuf messages
//! (type MESSAGE, a `Message` of type CLIENT_QUERY and CLIENT_RESPONSE, or AUTH_* with
//! `role = "auth"`) in a Frame Streams file (a START control frame with the content type
//! `protobuf:dnstap.Dnstap`, one data frame per message, a STOP frame when the server stops; on
//! a collector's socket, the bidirectional handshake first: `dnstap_sink`).
//! `dnstap-ldns -r FILE` and BIND's `dnstap-read FILE` read it.
//!
//! The events come from `portcullis_net::tap::Tap`'s bounded pool of batches (full: dropped and
//! counted, never waited for) through the writer thread (`tap_writer.rs`). The frames are
//! encoded where the events are captured (`portcullis_net::tap_frame`, in one pass, into the
//! batch the bytes are copied to anyway), so this output only hands each batch's frames to the
//! sink: one large write per batch, no copy, no per-event work on the writer thread.

use crate::dnstap_file::FileSink;
use crate::dnstap_sink::{Sink, SocketSink};
use crate::tap_writer::EventSink;
use portcullis_net::tap::TapBatch;
use portcullis_net::tap_frame::DnstapKinds;

/// What dnstap writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnstapSettings {
    /// Where the frames go.
    pub output: Output,
    /// Write the queries.
    pub queries: bool,
    /// Write the responses.
    pub responses: bool,
    /// AUTH_QUERY/AUTH_RESPONSE instead of CLIENT_QUERY/CLIENT_RESPONSE.
    pub auth: bool,
    /// `Dnstap.version` in every message.
    pub version: bool,
    /// Events queued at most before new ones are dropped.
    pub queue: usize,
}

/// A Frame Streams file (truncated at start), or a collector's Unix socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// `[dnstap] file`.
    File(std::path::PathBuf),
    /// `[dnstap] socket`.
    Socket(std::path::PathBuf),
}

/// dnstap as an output of the tap writer (`tap_writer.rs`).
pub struct DnstapOut {
    sink: Box<dyn Sink>,
}

impl DnstapOut {
    /// Opens the file (or prepares the socket's connection).
    pub fn open(settings: &DnstapSettings) -> Result<Self, String> {
        let sink: Box<dyn Sink> = match &settings.output {
            Output::File(path) => Box::new(FileSink::create(path).map_err(|error| format!("dnstap.file {}: {error}", path.display()))?),
            Output::Socket(path) => Box::new(SocketSink::new(path)),
        };
        Ok(Self { sink })
    }
}

impl DnstapSettings {
    /// The messages the capture encodes (`portcullis_net::tap_frame`).
    pub fn kinds(&self) -> DnstapKinds {
        DnstapKinds { queries: self.queries, responses: self.responses, auth: self.auth, version: self.version }
    }
}

impl EventSink for DnstapOut {
    fn batch(&mut self, batch: &TapBatch) -> std::io::Result<()> {
        let (frames, count) = batch.frames();
        if count == 0 {
            return Ok(());
        }
        self.sink.frames(frames, count)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sink.flush()
    }

    fn close(&mut self) -> std::io::Result<()> {
        self.sink.close()
    }
}
