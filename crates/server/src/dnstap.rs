//! dnstap output (`[dnstap] file = PATH` or `socket = PATH`): every query the UDP workers and TCP connections
//! answer (or drop), as BIND, Unbound and Knot write them: `dnstap.Dnstap` protobuf messages
//! (type MESSAGE, a `Message` of type CLIENT_QUERY and CLIENT_RESPONSE, or AUTH_* with
//! `role = "auth"`) in a Frame Streams file (a START control frame with the content type
//! `protobuf:dnstap.Dnstap`, one data frame per message, a STOP frame when the server stops; on
//! a collector's socket, the bidirectional handshake first: `dnstap_sink`).
//! `dnstap-ldns -r FILE` and BIND's `dnstap-read FILE` read it.
//!
//! The events come from `portcullis_net::tap::Tap`'s bounded pool of batches (full: dropped and
//! counted, never waited for) through the writer thread (`tap_writer.rs`). The few protobuf
//! fields of dnstap.proto are encoded by hand into two buffers kept from one event to the next,
//! and the frames go into the sink's large buffer: the writer allocates nothing per event.

use crate::dnstap_sink::{FileSink, Sink, SocketSink};
use crate::tap_writer::EventSink;
use portcullis_engine::Transport;
use portcullis_net::tap::TapEvent;
use std::net::SocketAddr;

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
    settings: DnstapSettings,
    /// The encoded `Message`, then the whole `Dnstap` (reused).
    message: Vec<u8>,
    top: Vec<u8>,
}

impl DnstapOut {
    /// Opens the file (or prepares the socket's connection).
    pub fn open(settings: &DnstapSettings) -> Result<Self, String> {
        let sink: Box<dyn Sink> = match &settings.output {
            Output::File(path) => Box::new(FileSink::create(path).map_err(|error| format!("dnstap.file {}: {error}", path.display()))?),
            Output::Socket(path) => Box::new(SocketSink::new(path)),
        };
        Ok(Self { sink, settings: settings.clone(), message: Vec::with_capacity(1024), top: Vec::with_capacity(1024) })
    }
}

impl EventSink for DnstapOut {
    fn event(&mut self, event: &TapEvent<'_>) -> std::io::Result<()> {
        if self.settings.queries {
            encode(event, false, self.settings.auth, &mut self.message, &mut self.top);
            self.sink.frame(&self.top)?;
        }
        if self.settings.responses && event.response.is_some() {
            encode(event, true, self.settings.auth, &mut self.message, &mut self.top);
            self.sink.frame(&self.top)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sink.flush()
    }

    fn close(&mut self) -> std::io::Result<()> {
        self.sink.close()
    }
}

/// Encodes one `dnstap.Dnstap` message, the query (`response` false) or the response of
/// `event`, into `top`, with `message` as scratch space.
fn encode(event: &TapEvent<'_>, response: bool, auth: bool, message: &mut Vec<u8>, top: &mut Vec<u8>) {
    message.clear();
    top.clear();
    let kind = match (auth, response) {
        (true, false) => 1,
        (true, true) => 2,
        (false, false) => 5,
        (false, true) => 6,
    };
    varint_field(message, 1, kind);
    varint_field(message, 2, if event.peer.is_ipv4() { 1 } else { 2 });
    varint_field(message, 3, if event.transport == Transport::Udp { 1 } else { 2 });
    address_field(message, 4, event.peer);
    if let Some(local) = event.local {
        address_field(message, 5, local);
        varint_field(message, 7, u64::from(local.port()));
    }
    varint_field(message, 6, u64::from(event.peer.port()));
    let (seconds, nanos) = (event.time.as_secs(), event.time.subsec_nanos());
    if response {
        varint_field(message, 12, seconds);
        fixed32_field(message, 13, nanos);
        bytes_field(message, 14, event.response.unwrap_or_default());
    } else {
        varint_field(message, 8, seconds);
        fixed32_field(message, 9, nanos);
        bytes_field(message, 10, event.query);
    }
    bytes_field(top, 2, concat!("portcullis ", env!("CARGO_PKG_VERSION")).as_bytes());
    bytes_field(top, 14, message);
    varint_field(top, 15, 1);
}

/// A bytes field holding the address's octets (4 or 16).
fn address_field(out: &mut Vec<u8>, field: u64, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => bytes_field(out, field, &v4.ip().octets()),
        SocketAddr::V6(v6) => bytes_field(out, field, &v6.ip().octets()),
    }
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_field(out: &mut Vec<u8>, field: u64, value: u64) {
    varint(out, field << 3);
    varint(out, value);
}

fn bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn fixed32_field(out: &mut Vec<u8>, field: u64, value: u32) {
    varint(out, field << 3 | 5);
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields_encode_as_protobuf_does() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xAC, 0x02]);
        let mut out = Vec::new();
        varint_field(&mut out, 15, 1);
        assert_eq!(out, [0x78, 0x01]);
        let mut out = Vec::new();
        bytes_field(&mut out, 14, b"ab");
        assert_eq!(out, [0x72, 0x02, b'a', b'b']);
        let mut out = Vec::new();
        fixed32_field(&mut out, 9, 1);
        assert_eq!(out, [0x4D, 1, 0, 0, 0]);
    }
}
