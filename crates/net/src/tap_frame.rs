//! dnstap's data frames, encoded where an event is captured (`tap_batch`): each a Frame Streams
//! length, then a `dnstap.Dnstap` protobuf message (type MESSAGE, first; version when asked for; a `Message` of
//! type CLIENT_QUERY/CLIENT_RESPONSE, or AUTH_QUERY/AUTH_RESPONSE for `role = "auth"`), as BIND,
//! Unbound and Knot write them (dnstap.proto; Frame Streams, fstrm's protocol). The few fields
//! are encoded by hand in one pass: every length is computed first, the fields an event's two
//! frames share (addresses, ports, time) are encoded once, the head of each frame is put
//! together on the stack from whole arrays, and the frame goes into the batch in two copies
//! (head, DNS message), so the writer thread has nothing left to do but write the
//! batch's bytes. (`bench/tap_count.sh` and callgrind count the instructions per query.)

use crate::tap_batch::TapEvent;
use portcullis_engine::Transport;
use std::net::SocketAddr;

/// Which of dnstap's messages are captured for each event, and what they carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnstapKinds {
    /// The query (CLIENT_QUERY or AUTH_QUERY).
    pub queries: bool,
    /// The response, when one was sent (CLIENT_RESPONSE or AUTH_RESPONSE).
    pub responses: bool,
    /// AUTH_* instead of CLIENT_*.
    pub auth: bool,
    /// `Dnstap.version` ([`VERSION`]) in every message (`[dnstap] version = true`); off by
    /// default, as Unbound does, since it is 18 bytes of every message, the same each time.
    pub version: bool,
}

/// The `Dnstap.version` written in every message when asked for.
pub const VERSION: &[u8] = concat!("portcullis ", env!("CARGO_PKG_VERSION")).as_bytes();
const _: () = assert!(VERSION.len() < 0x80, "the version's length is one byte");

/// Bytes of the fields an event's query and response frames share at most (socket family and
/// protocol, two IPv6 addresses, two ports; rounded up: it is copied whole).
const SHARED: usize = 48;
/// Bytes of the time fields at most (two keys, a ten-byte varint, four bytes; rounded up).
const TIME: usize = 16;
/// Bytes of a frame's head at most: the length word, the type, version, the message's key and length,
/// its type, the shared fields, the time and the DNS message's key and length (with room to
/// copy the shared fields and time as whole arrays).
const HEAD: usize = 4 + 2 + 2 + VERSION.len() + 1 + 5 + 2 + SHARED + TIME + 1 + 5;

/// Appends the frames `kinds` asks for of `event` (query, then response) to `out`; returns
/// how many. The fields both frames share are encoded once.
pub fn frames(event: &TapEvent<'_>, kinds: DnstapKinds, out: &mut Vec<u8>) -> u64 {
    let shared = Shared::of(event);
    let mut count = 0;
    if kinds.queries {
        frame_of(&shared, event.query, false, kinds, out);
        count += 1;
    }
    if let Some(reply) = event.response.filter(|_| kinds.responses) {
        frame_of(&shared, reply, true, kinds, out);
        count += 1;
    }
    count
}

/// Appends one data frame (its 4-byte length, then the `dnstap.Dnstap` message) of the query
/// (`response` false) or the response of `event` to `out`.
pub fn frame(event: &TapEvent<'_>, response: bool, kinds: DnstapKinds, out: &mut Vec<u8>) {
    let payload = if response { event.response.unwrap_or_default() } else { event.query };
    frame_of(&Shared::of(event), payload, response, kinds, out);
}

/// What an event's query and response frames both carry, encoded once: the `dnstap.Message`
/// fields socket family and protocol, addresses and ports, and the time (seconds and
/// nanoseconds, with the keys of the query's time fields: a response's are patched in).
struct Shared {
    fields: [u8; SHARED],
    fields_len: usize,
    time: [u8; TIME],
    time_len: usize,
    /// Where the nanoseconds' key is in `time`.
    nanos_key: usize,
}

impl Shared {
    #[inline(always)]
    fn of(event: &TapEvent<'_>) -> Self {
        let mut fields = [0u8; SHARED];
        fields[..4].copy_from_slice(&[2 << 3, if event.peer.is_ipv4() { 1 } else { 2 }, 3 << 3, if event.transport == Transport::Udp { 1 } else { 2 }]);
        let mut at = address(&mut fields, 4, 4 << 3 | 2, event.peer);
        if let Some(local) = event.local {
            at = address(&mut fields, at, 5 << 3 | 2, local);
            fields[at] = 7 << 3;
            at = varint(&mut fields, at + 1, u64::from(local.port()));
        }
        fields[at] = 6 << 3;
        let fields_len = varint(&mut fields, at + 1, u64::from(event.peer.port()));
        let mut time = [0u8; TIME];
        time[0] = 8 << 3;
        let nanos_key = varint(&mut time, 1, event.time.as_secs());
        time[nanos_key] = 9 << 3 | 5;
        time[nanos_key + 1..nanos_key + 5].copy_from_slice(&event.time.subsec_nanos().to_le_bytes());
        Self { fields, fields_len, time, time_len: nanos_key + 5, nanos_key }
    }
}

/// Writes a bytes field (`key`) holding the address's octets (4 or 16) at `at`; returns the end.
#[inline(always)]
fn address(out: &mut [u8; SHARED], at: usize, key: u8, addr: SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(v4) => {
            out[at..at + 6].copy_from_slice(&[key, 4, v4.ip().octets()[0], v4.ip().octets()[1], v4.ip().octets()[2], v4.ip().octets()[3]]);
            at + 6
        }
        SocketAddr::V6(v6) => {
            out[at..at + 2].copy_from_slice(&[key, 16]);
            out[at + 2..at + 18].copy_from_slice(&v6.ip().octets());
            at + 18
        }
    }
}

/// Writes `value` as a varint at `at`; returns the end.
#[inline(always)]
fn varint<const N: usize>(out: &mut [u8; N], mut at: usize, mut value: u64) -> usize {
    while value >= 0x80 {
        out[at] = (value as u8) | 0x80;
        at += 1;
        value >>= 7;
    }
    out[at] = value as u8;
    at + 1
}

#[inline(always)]
fn frame_of(shared: &Shared, payload: &[u8], response: bool, kinds: DnstapKinds, out: &mut Vec<u8>) {
    let kind = match (kinds.auth, response) {
        (true, false) => 1,
        (true, true) => 2,
        (false, false) => 5,
        (false, true) => 6,
    };
    let message = 2 + shared.fields_len + shared.time_len + 1 + varint_len(payload.len() as u64) + payload.len();
    let version = if kinds.version { 2 + VERSION.len() } else { 0 };
    let top = 2 + version + 1 + varint_len(message as u64) + message;
    // The head is put together in a whole array, appended whole (a few vector moves, no call)
    // and cut to its length; then the DNS message.
    let mut head = [0u8; HEAD];
    head[..6].copy_from_slice(&[(top >> 24) as u8, (top >> 16) as u8, (top >> 8) as u8, top as u8, 15 << 3, 1]);
    let mut at = 6;
    if kinds.version {
        head[6..8].copy_from_slice(&[2 << 3 | 2, VERSION.len() as u8]);
        head[8..8 + VERSION.len()].copy_from_slice(VERSION);
        at += 2 + VERSION.len();
    }
    head[at] = 14 << 3 | 2;
    at = varint(&mut head, at + 1, message as u64);
    head[at..at + 2].copy_from_slice(&[1 << 3, kind]);
    at += 2;
    head[at..at + SHARED].copy_from_slice(&shared.fields);
    at += shared.fields_len;
    head[at..at + TIME].copy_from_slice(&shared.time);
    if response {
        head[at] = 12 << 3;
        head[at + shared.nanos_key] = 13 << 3 | 5;
    }
    at += shared.time_len;
    head[at] = if response { 14 << 3 | 2 } else { 10 << 3 | 2 };
    at = varint(&mut head, at + 1, payload.len() as u64);
    let start = out.len();
    out.reserve(HEAD + payload.len());
    out.extend_from_slice(&head);
    out.truncate(start + at);
    out.extend_from_slice(payload);
}

/// The bytes of a varint.
fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
#[path = "tap_frame_tests.rs"]
mod tests;
