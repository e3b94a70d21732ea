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
//! fields of dnstap.proto are encoded by hand, in one pass (the lengths computed first), straight
//! into one large buffer of frames that goes to the sink when it fills or the writer flushes:
//! the writer allocates nothing per event and makes few system calls.

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
    /// Frames not yet handed to the sink, and how many.
    frames: Vec<u8>,
    count: u64,
}

/// Frames are handed to the sink once this many bytes are waiting.
const HAND_OVER: usize = 256 * 1024;
/// The `Dnstap.identity` written in every message.
const IDENTITY: &[u8] = concat!("portcullis ", env!("CARGO_PKG_VERSION")).as_bytes();

impl DnstapOut {
    /// Opens the file (or prepares the socket's connection).
    pub fn open(settings: &DnstapSettings) -> Result<Self, String> {
        let sink: Box<dyn Sink> = match &settings.output {
            Output::File(path) => Box::new(FileSink::create(path).map_err(|error| format!("dnstap.file {}: {error}", path.display()))?),
            Output::Socket(path) => Box::new(SocketSink::new(path)),
        };
        Ok(Self { sink, settings: settings.clone(), frames: Vec::with_capacity(HAND_OVER + 70_000), count: 0 })
    }

    /// Hands the waiting frames to the sink.
    fn hand_over(&mut self) -> std::io::Result<()> {
        let result = self.sink.frames(&self.frames, self.count);
        self.frames.clear();
        self.count = 0;
        result
    }
}

impl EventSink for DnstapOut {
    fn event(&mut self, event: &TapEvent<'_>) -> std::io::Result<()> {
        if self.settings.queries {
            frame(event, false, self.settings.auth, &mut self.frames);
            self.count += 1;
        }
        if self.settings.responses && event.response.is_some() {
            frame(event, true, self.settings.auth, &mut self.frames);
            self.count += 1;
        }
        if self.frames.len() >= HAND_OVER {
            self.hand_over()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.hand_over()?;
        self.sink.flush()
    }

    fn close(&mut self) -> std::io::Result<()> {
        self.hand_over()?;
        self.sink.close()
    }
}

/// Appends one data frame (its 4-byte length, then the `dnstap.Dnstap` message of
/// [`encode`]) to `out`, in one pass: every length is computed before it is written.
fn frame(event: &TapEvent<'_>, response: bool, auth: bool, out: &mut Vec<u8>) {
    let address_len = |addr: SocketAddr| if addr.is_ipv4() { 6 } else { 18 };
    let payload = if response { event.response.unwrap_or_default() } else { event.query };
    let seconds = event.time.as_secs();
    let mut message = 6 + address_len(event.peer) + 1 + varint_len(u64::from(event.peer.port())) + 1 + varint_len(seconds) + 5;
    message += 1 + varint_len(payload.len() as u64) + payload.len();
    if let Some(local) = event.local {
        message += address_len(local) + 1 + varint_len(u64::from(local.port()));
    }
    let top = 2 + IDENTITY.len() + 1 + varint_len(message as u64) + message + 2;
    out.extend_from_slice(&(top as u32).to_be_bytes());
    bytes_field(out, 2, IDENTITY);
    varint(out, 14 << 3 | 2);
    varint(out, message as u64);
    let start = out.len();
    message_fields(event, response, auth, out);
    debug_assert_eq!(out.len() - start, message, "the computed length of the message");
    varint_field(out, 15, 1);
}

/// The bytes of a varint.
fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Encodes one `dnstap.Dnstap` message, the query (`response` false) or the response of
/// `event`, into `top`, with `message` as scratch space.
#[cfg(test)]
fn encode(event: &TapEvent<'_>, response: bool, auth: bool, message: &mut Vec<u8>, top: &mut Vec<u8>) {
    message.clear();
    top.clear();
    message_fields(event, response, auth, message);
    bytes_field(top, 2, IDENTITY);
    bytes_field(top, 14, message);
    varint_field(top, 15, 1);
}

/// The fields of the `dnstap.Message` (type, addresses, ports, time, the DNS message).
fn message_fields(event: &TapEvent<'_>, response: bool, auth: bool, message: &mut Vec<u8>) {
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
    fn one_pass_frames_are_the_length_and_the_two_pass_message() {
        let peer4: SocketAddr = "192.0.2.7:53000".parse().unwrap_or_else(|_| unreachable!());
        let local6: SocketAddr = "[2001:db8::1]:53".parse().unwrap_or_else(|_| unreachable!());
        let long = vec![7u8; 300];
        for (peer, local) in [(peer4, None), (peer4, Some(local6)), (local6, Some(peer4))] {
            for (query, reply) in [(&b"q"[..], None), (&long[..], Some(&long[..200])), (&b"query"[..], Some(&b"r"[..]))] {
                let event =
                    TapEvent { transport: Transport::Udp, peer, local, query, response: reply, time: std::time::Duration::new(1_796_649_664, 72_983_000) };
                for response in [false, true] {
                    let (mut message, mut top, mut framed) = (Vec::new(), Vec::new(), Vec::new());
                    encode(&event, response, false, &mut message, &mut top);
                    frame(&event, response, false, &mut framed);
                    assert_eq!(framed[..4], (top.len() as u32).to_be_bytes());
                    assert_eq!(framed[4..], top[..]);
                }
            }
        }
        assert_eq!([varint_len(0), varint_len(127), varint_len(128), varint_len(16_383), varint_len(16_384)], [1, 1, 2, 2, 3]);
    }

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
