//! dnstap's data frames, encoded where an event is captured (`tap_batch`): each a Frame Streams
//! length, then a `dnstap.Dnstap` protobuf message (type MESSAGE, identity, and a `Message` of
//! type CLIENT_QUERY/CLIENT_RESPONSE, or AUTH_QUERY/AUTH_RESPONSE for `role = "auth"`), as BIND,
//! Unbound and Knot write them (dnstap.proto; Frame Streams, fstrm's protocol). The few fields
//! are encoded by hand in one pass: every length is computed first, the head of the frame is
//! put together on the stack, and the frame goes into the batch in three copies (head, DNS
//! message, trailer), so the writer thread has nothing left to do but write the batch's bytes.

use crate::tap_batch::TapEvent;
use portcullis_engine::Transport;
use std::net::SocketAddr;

/// Which of dnstap's messages are captured for each event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnstapKinds {
    /// The query (CLIENT_QUERY or AUTH_QUERY).
    pub queries: bool,
    /// The response, when one was sent (CLIENT_RESPONSE or AUTH_RESPONSE).
    pub responses: bool,
    /// AUTH_* instead of CLIENT_*.
    pub auth: bool,
}

/// The `Dnstap.identity` written in every message.
pub const IDENTITY: &[u8] = concat!("portcullis ", env!("CARGO_PKG_VERSION")).as_bytes();

/// Bytes of a frame's head at most: the length word, identity, and the message's fields up to
/// the DNS message's length (with two IPv6 addresses and ten-byte varints).
const HEAD: usize = 4 + 2 + IDENTITY.len() + 1 + 10 + 3 * 2 + 2 * 18 + 2 * 11 + 11 + 5 + 1 + 10;

/// Appends the frames `kinds` asks for of `event` (query, then response) to `out`; returns
/// how many.
pub fn frames(event: &TapEvent<'_>, kinds: DnstapKinds, out: &mut Vec<u8>) -> u64 {
    let mut count = 0;
    if kinds.queries {
        frame(event, false, kinds.auth, out);
        count += 1;
    }
    if let Some(reply) = event.response.filter(|_| kinds.responses) {
        frame_of(event, reply, true, kinds.auth, out);
        count += 1;
    }
    count
}

/// Appends one data frame (its 4-byte length, then the `dnstap.Dnstap` message) of the query
/// (`response` false) or the response of `event` to `out`.
pub fn frame(event: &TapEvent<'_>, response: bool, auth: bool, out: &mut Vec<u8>) {
    let payload = if response { event.response.unwrap_or_default() } else { event.query };
    frame_of(event, payload, response, auth, out);
}

fn frame_of(event: &TapEvent<'_>, payload: &[u8], response: bool, auth: bool, out: &mut Vec<u8>) {
    let address_len = |addr: SocketAddr| if addr.is_ipv4() { 6 } else { 18 };
    let seconds = event.time.as_secs();
    let mut message = 6 + address_len(event.peer) + 1 + varint_len(u64::from(event.peer.port())) + 1 + varint_len(seconds) + 5;
    message += 1 + varint_len(payload.len() as u64) + payload.len();
    if let Some(local) = event.local {
        message += address_len(local) + 1 + varint_len(u64::from(local.port()));
    }
    let top = 2 + IDENTITY.len() + 1 + varint_len(message as u64) + message + 2;
    let mut head = Head { bytes: [0; HEAD], len: 0 };
    head.put(&(top as u32).to_be_bytes());
    head.bytes_field(2, IDENTITY);
    head.varint(14 << 3 | 2);
    head.varint(message as u64);
    let start = head.len;
    message_head(event, response, auth, payload.len(), &mut head);
    debug_assert_eq!(head.len - start + payload.len(), message, "the computed length of the message");
    out.reserve(head.len + payload.len() + 2);
    out.extend_from_slice(&head.bytes[..head.len]);
    out.extend_from_slice(payload);
    out.extend_from_slice(&[15 << 3, 1]);
}

/// The fields of the `dnstap.Message` (type, addresses, ports, time) up to the DNS message's
/// length, which its bytes follow.
fn message_head(event: &TapEvent<'_>, response: bool, auth: bool, payload: usize, head: &mut Head) {
    let kind = match (auth, response) {
        (true, false) => 1,
        (true, true) => 2,
        (false, false) => 5,
        (false, true) => 6,
    };
    head.varint_field(1, kind);
    head.varint_field(2, if event.peer.is_ipv4() { 1 } else { 2 });
    head.varint_field(3, if event.transport == Transport::Udp { 1 } else { 2 });
    head.address_field(4, event.peer);
    if let Some(local) = event.local {
        head.address_field(5, local);
        head.varint_field(7, u64::from(local.port()));
    }
    head.varint_field(6, u64::from(event.peer.port()));
    let (seconds, nanos) = (event.time.as_secs(), event.time.subsec_nanos());
    let (time_field, message_field) = if response { (12, 14) } else { (8, 10) };
    head.varint_field(time_field, seconds);
    head.varint((time_field + 1) << 3 | 5);
    head.put(&nanos.to_le_bytes());
    head.varint(message_field << 3 | 2);
    head.varint(payload as u64);
}

/// The bytes of a varint.
fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// A frame's head being put together.
struct Head {
    bytes: [u8; HEAD],
    len: usize,
}

impl Head {
    fn put(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.put(&[(value as u8) | 0x80]);
            value >>= 7;
        }
        self.put(&[value as u8]);
    }

    fn varint_field(&mut self, field: u64, value: u64) {
        self.varint(field << 3);
        self.varint(value);
    }

    fn bytes_field(&mut self, field: u64, bytes: &[u8]) {
        self.varint(field << 3 | 2);
        self.varint(bytes.len() as u64);
        self.put(bytes);
    }

    /// A bytes field holding the address's octets (4 or 16).
    fn address_field(&mut self, field: u64, addr: SocketAddr) {
        match addr {
            SocketAddr::V4(v4) => self.bytes_field(field, &v4.ip().octets()),
            SocketAddr::V6(v6) => self.bytes_field(field, &v6.ip().octets()),
        }
    }
}

#[cfg(test)]
#[path = "tap_frame_tests.rs"]
mod tests;
