//! dnstap's data frames, encoded where an event is captured (`tap_batch`): each a Frame Streams
//! length, then a `dnstap.Dnstap` protobuf message (type MESSAGE, first; version when asked for; a `Message` of
//! type CLIENT_QUERY/CLIENT_RESPONSE, or AUTH_QUERY/AUTH_RESPONSE for `role = "auth"`), as BIND,
//! Unbound and Knot write them (dnstap.proto; Frame Streams, fstrm's protocol).
//!
//! Most of a frame's head is the same for every event of a receive batch: the types, the
//! socket family and protocol, the server's address and port, the time (read once per receive
//! batch). An [`Encoder`] keeps that part of the query's and the response's head, encoded once
//! ([`Template`]: a new time is patched in, the nanoseconds alone within a second; another
//! transport, address family or server address builds it again); an event's frames are that head copied
//! whole, the client's address and port (encoded once for both frames), the lengths patched in,
//! then the DNS message. So that every head of a template has the same layout, the lengths and
//! the client's port are varints of a fixed width ([`WIDE`] bytes, padded with continuation
//! bits: `0x85 0x80 0x00` is 5). Protobuf's encoders never write such overlong varints, but
//! its parsers read them as the value (protobuf-c, which `dnstap-ldns` and BIND's `dnstap-read`
//! use; Google's and Go's protobuf take values of up to 10 bytes); the keys stay one byte each,
//! and the fields come in one order, which protobuf leaves free. (`bench/tap_callgrind.sh` counts the
//! instructions per query.)

use crate::tap_batch::TapEvent;
use portcullis_engine::Transport;
use std::net::SocketAddr;
use std::time::Duration;

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

/// Bytes of the fixed-width varints (the lengths of the message and the DNS message, the
/// client's port): 21 bits, more than a DNS message (65 535 octets) and its frame need.
pub const WIDE: usize = 3;
/// The longest DNS message a frame carries (RFC 1035 §4.2.2: a 16-bit length); a longer
/// payload is not a DNS message and gets no frame.
const MAX_PAYLOAD: usize = u16::MAX as usize;
/// Bytes of a template's head at most: the length word, the type, the version, the message's
/// key and length, its type, family and protocol, the server's address (IPv6) and port, the
/// time (two keys, a ten-byte varint, four bytes).
const FIXED: usize = 4 + 2 + 2 + VERSION.len() + 1 + WIDE + 2 + 2 + 2 + 2 + 16 + 1 + WIDE + 1 + 10 + 1 + 4;
/// Bytes of the client's fields at most (its IPv6 address, its port), then the DNS message's
/// key and length; rounded up: it is copied whole.
const CLIENT: usize = 32;
const _: () = assert!(2 + 16 + 1 + WIDE + 1 + WIDE <= CLIENT);
/// Bytes of a frame's head at most (room to copy the client's fields whole).
const HEAD: usize = FIXED + CLIENT;

/// Encodes events into dnstap frames for one producer, keeping the [`Template`] of its latest
/// receive batch.
#[derive(Clone, Debug)]
pub struct Encoder {
    kinds: DnstapKinds,
    template: Option<Template>,
}

impl Encoder {
    /// An encoder of the frames `kinds` asks for.
    pub fn new(kinds: DnstapKinds) -> Self {
        Self { kinds, template: None }
    }

    /// Appends the frames asked for of `event` (query, then response) to `out`; returns how
    /// many.
    pub fn frames(&mut self, event: &TapEvent<'_>, out: &mut Vec<u8>) -> u64 {
        let kinds = self.kinds;
        let template = match &mut self.template {
            Some(template) if template.fits(event) => {
                if template.time != event.time {
                    template.set_time(event.time);
                }
                template
            }
            slot => slot.insert(Template::of(event, kinds)),
        };
        let client = Client::of(event.peer);
        let mut count = 0;
        if kinds.queries && event.query.len() <= MAX_PAYLOAD {
            template.frame(QUERY, &client, event.query, out);
            count += 1;
        }
        if let Some(reply) = event.response.filter(|reply| kinds.responses && reply.len() <= MAX_PAYLOAD) {
            template.frame(RESPONSE, &client, reply, out);
            count += 1;
        }
        count
    }
}

/// [`Template::heads`]' index of the query's and of the response's.
const QUERY: usize = 0;
const RESPONSE: usize = 1;

/// The part of an event's two frame heads that its receive batch shares, encoded: everything
/// up to the client's address. Built for one transport, client address family, server address
/// and time.
#[derive(Clone, Debug)]
struct Template {
    transport: Transport,
    ipv4: bool,
    local: Option<SocketAddr>,
    time: Duration,
    /// The query's and the response's head (the first `fixed` bytes are set).
    heads: [[u8; HEAD]; 2],
    /// Bytes of the heads' encoded part (the time's fields last).
    fixed: usize,
    /// Where the time's fields begin.
    time_at: usize,
    /// Where the message's length is.
    message_at: usize,
}

impl Template {
    /// True when `event`'s heads begin with this template's, but for the time.
    #[inline(always)]
    fn fits(&self, event: &TapEvent<'_>) -> bool {
        self.local == event.local && self.ipv4 == event.peer.is_ipv4() && self.transport == event.transport
    }

    /// The template of `event`'s heads.
    #[cold]
    #[inline(never)]
    fn of(event: &TapEvent<'_>, kinds: DnstapKinds) -> Self {
        let mut heads = [[0u8; HEAD]; 2];
        let (mut time_at, mut message_at) = (0, 0);
        for (which, head) in heads.iter_mut().enumerate() {
            let mut out = Cursor { head, at: 0 };
            out.put(&[0, 0, 0, 0, 15 << 3, 1]);
            if kinds.version {
                out.put(&[2 << 3 | 2, VERSION.len() as u8]);
                out.put(VERSION);
            }
            out.put(&[14 << 3 | 2]);
            message_at = out.at;
            out.put(&[0; WIDE]);
            let kind = [[5, 6], [1, 2]][usize::from(kinds.auth)][which];
            let family = if event.peer.is_ipv4() { 1 } else { 2 };
            let protocol = if event.transport == Transport::Udp { 1 } else { 2 };
            out.put(&[1 << 3, kind, 2 << 3, family, 3 << 3, protocol]);
            if let Some(local) = event.local {
                match local {
                    SocketAddr::V4(v4) => out.put(&[5 << 3 | 2, 4]).put(&v4.ip().octets()),
                    SocketAddr::V6(v6) => out.put(&[5 << 3 | 2, 16]).put(&v6.ip().octets()),
                };
                out.put(&[7 << 3]).varint(u64::from(local.port()));
            }
            time_at = out.at;
        }
        let mut template =
            Self { transport: event.transport, ipv4: event.peer.is_ipv4(), local: event.local, time: event.time, heads, fixed: 0, time_at, message_at };
        template.set_time(event.time);
        template
    }

    /// Writes `time` into the heads: only the nanoseconds when the seconds are the same (most
    /// receive batches), else the time's fields again.
    fn set_time(&mut self, time: Duration) {
        let nanos = time.subsec_nanos().to_le_bytes();
        let same_second = self.fixed > 0 && self.time.as_secs() == time.as_secs();
        for (which, head) in self.heads.iter_mut().enumerate() {
            if same_second {
                head[self.fixed - 4..self.fixed].copy_from_slice(&nanos);
                continue;
            }
            // query_time (8, 9) in a query's message, response_time (12, 13) in a response's.
            let key = if which == QUERY { 8 } else { 12 };
            let mut out = Cursor { head, at: self.time_at };
            out.put(&[key << 3]).varint(time.as_secs()).put(&[(key + 1) << 3 | 5]).put(&nanos);
            self.fixed = out.at;
        }
        self.time = time;
    }

    /// Appends one data frame (`which`: the query's or the response's) carrying `payload` (at
    /// most [`MAX_PAYLOAD`] bytes) to `out`.
    #[inline(always)]
    fn frame(&self, which: usize, client: &Client, payload: &[u8], out: &mut Vec<u8>) {
        // The head is appended whole (a few vector moves, no call), patched in place and cut
        // to its length; then the DNS message.
        let start = out.len();
        out.reserve(HEAD + payload.len());
        out.extend_from_slice(&self.heads[which]);
        let head = &mut out[start..start + HEAD];
        let at = self.fixed;
        head[at..at + CLIENT].copy_from_slice(&client.fields);
        let end = at + client.len;
        head[end - WIDE - 1] = if which == QUERY { 10 << 3 | 2 } else { 14 << 3 | 2 };
        head[end - WIDE..end].copy_from_slice(&wide(payload.len()));
        let message = end - self.message_at - WIDE + payload.len();
        head[self.message_at..self.message_at + WIDE].copy_from_slice(&wide(message));
        head[..4].copy_from_slice(&((end - 4 + payload.len()) as u32).to_be_bytes());
        out.truncate(start + end);
        out.extend_from_slice(payload);
    }
}

/// Writes a template's head from `at` on.
struct Cursor<'a> {
    head: &'a mut [u8; HEAD],
    at: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) -> &mut Self {
        self.head[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
        self
    }

    /// A (shortest) varint.
    fn varint(&mut self, mut value: u64) -> &mut Self {
        while value >= 0x80 {
            self.put(&[(value as u8) | 0x80]);
            value >>= 7;
        }
        self.put(&[value as u8])
    }
}

/// The client's fields of an event's frames (query_address, query_port), then room for the DNS
/// message's key and length.
struct Client {
    fields: [u8; CLIENT],
    /// Bytes used, the DNS message's key and length included.
    len: usize,
}

impl Client {
    #[inline(always)]
    fn of(peer: SocketAddr) -> Self {
        let mut fields = [0u8; CLIENT];
        let at = match peer {
            SocketAddr::V4(v4) => {
                let [a, b, c, d] = v4.ip().octets();
                fields[..6].copy_from_slice(&[4 << 3 | 2, 4, a, b, c, d]);
                6
            }
            SocketAddr::V6(v6) => {
                fields[..2].copy_from_slice(&[4 << 3 | 2, 16]);
                fields[2..18].copy_from_slice(&v6.ip().octets());
                18
            }
        };
        fields[at] = 6 << 3;
        fields[at + 1..at + 1 + WIDE].copy_from_slice(&wide(usize::from(peer.port())));
        Self { fields, len: at + 1 + WIDE + 1 + WIDE }
    }
}

/// `value` (below 2^21) as a varint of [`WIDE`] bytes: the low seven bits first, every byte but
/// the last with the continuation bit.
#[inline(always)]
pub fn wide(value: usize) -> [u8; WIDE] {
    [(value as u8) | 0x80, ((value >> 7) as u8) | 0x80, ((value >> 14) as u8) & 0x7F]
}

#[cfg(test)]
#[path = "tap_frame_tests.rs"]
mod tests;
