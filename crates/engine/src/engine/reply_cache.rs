//! A UDP worker's reply cache (as PowerDNS's packet cache and dnsdist's): the exact bytes the
//! engine answered a query of the plain shape with, replayed for the next identical query.
//!
//! Plain shape: opcode QUERY, QR=0, one question (a name without compression pointers), no
//! answer or authority records, and at most an OPT record without options (so no cookie, no
//! TSIG, no padding), over UDP. The key is the listener, the client's address and the query
//! after its ID, the question name in its own case (a DNAME's synthesised CNAME copies the
//! query's spelling, so a reply is not the same for another case; resolvers that randomise
//! the case, 0x20, get fewer hits); it is stored whole and compared exactly (a hash only picks
//! the slot). A hit copies the stored reply, puts the query's ID over the reply's, and replays
//! the per-query effects (counters, response rate limiting) through the engine (`replay.rs`).
//!
//! What may be stored: only replies made from the query, the client and the engine's snapshot
//! alone (authoritative answers, referrals, NXDOMAIN and NODATA, errors, CHAOS), as written
//! (RRL let them through). Nothing of the resolver's path (cache hits change every second and
//! with every resolution; detectors and policy zones keep state) and nothing the query limiter
//! applies to. An engine swapped in (zone reload, update, transfer, signing, configuration
//! reload) empties the cache: the cache remembers which engine it was filled for (a `Weak`, so
//! that its address is never reused while remembered). An engine that serves no zone and
//! resolves (a pure resolver) stores nothing, so the cache is not even looked at then.
//!
//! Bounded: a fixed table of slots, each with room for a key of [`KEY_MAX`] and a reply of
//! [`REPLY_MAX`] bytes, allocated once; nothing is allocated, locked or shared afterwards.

use super::replay::Stored;
use super::Engine;
use crate::request::{Outcome, Request, Transport};
use std::net::IpAddr;
use std::sync::{Arc, Weak};

/// Longest key: listener, address and the query after its ID (longer queries are not cached).
pub const KEY_MAX: usize = 128;
/// Longest reply stored.
pub const REPLY_MAX: usize = 512;
/// Most slots a reply cache may have (`[server] reply-cache`).
pub const MAX_SLOTS: usize = 1 << 16;
/// Bytes of the key before the query: the listener (2), the address family (1), the address (16).
const CLIENT_LEN: usize = 19;

/// One slot's bookkeeping; its key and reply bytes live in the cache's flat arrays.
#[derive(Clone, Copy)]
struct Slot {
    /// The cache generation the slot was filled in (0: empty).
    epoch: u64,
    hash: u64,
    key_len: u16,
    reply_len: u16,
    stored: Option<Stored>,
}

const EMPTY: Slot = Slot { epoch: 0, hash: 0, key_len: 0, reply_len: 0, stored: None };

/// Where a query's key went: its slot, hash, length, and the length of its question name.
struct Probe {
    index: usize,
    hash: u64,
    key_len: usize,
    qname_len: usize,
}

/// A worker's reply cache; see the module documentation.
pub struct ReplyCache {
    slots: Box<[Slot]>,
    keys: Box<[u8]>,
    replies: Box<[u8]>,
    /// The generation of the current engine: a slot of another is empty.
    epoch: u64,
    /// The engine the current generation's replies came from.
    engine: Weak<Engine>,
    /// The key of the query at hand.
    key: [u8; KEY_MAX],
    /// Queries answered from the cache.
    hits: u64,
    /// The current engine makes replies worth storing ([`Engine::stores_replies`]).
    active: bool,
}

impl std::fmt::Debug for ReplyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyCache").field("slots", &self.slots.len()).field("epoch", &self.epoch).finish()
    }
}

impl ReplyCache {
    /// A cache of `slots` entries (rounded up to a power of two, at most [`MAX_SLOTS`]); 0 turns
    /// it off ([`ReplyCache::answer`] then only calls [`Engine::handle`]).
    pub fn new(slots: usize) -> Self {
        let slots = if slots == 0 { 0 } else { slots.min(MAX_SLOTS).next_power_of_two() };
        Self {
            slots: vec![EMPTY; slots].into_boxed_slice(),
            keys: vec![0; slots * KEY_MAX].into_boxed_slice(),
            replies: vec![0; slots * REPLY_MAX].into_boxed_slice(),
            epoch: 1,
            engine: Weak::new(),
            key: [0; KEY_MAX],
            hits: 0,
            active: false,
        }
    }

    /// The number of slots (0: off).
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Queries answered from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// Answers `request` with `engine` into `out`, as [`Engine::handle`] does, byte for byte and
    /// effect for effect: from the cache when it holds the reply, else through the engine
    /// (storing the reply when it may).
    #[inline]
    pub fn answer(&mut self, engine: &Arc<Engine>, request: &Request<'_>, out: &mut [u8]) -> Outcome {
        if self.slots.is_empty() {
            return engine.handle(request, out);
        }
        self.answer_cached(engine, request, out)
    }

    /// [`ReplyCache::answer`] with the cache on (out of line: off costs one test).
    #[inline(never)]
    fn answer_cached(&mut self, engine: &Arc<Engine>, request: &Request<'_>, out: &mut [u8]) -> Outcome {
        if !std::ptr::eq(self.engine.as_ptr(), Arc::as_ptr(engine)) {
            self.engine = Arc::downgrade(engine);
            self.epoch += 1;
            self.active = engine.stores_replies();
        }
        if !self.active {
            return engine.handle(request, out);
        }
        let Some(probe) = self.probe(request) else { return engine.handle(request, out) };
        if let Some((stored, len)) = self.copy_hit(&probe, request.bytes, out) {
            let (rate_limited, limited) = engine.client_limits(request);
            if limited {
                // Never so for a stored key (its client was not limited when its reply was
                // stored, under this engine); checked all the same.
                return engine.handle(request, out);
            }
            self.hits += 1;
            let at = 12 + probe.qname_len;
            let qtype = u16::from_be_bytes([request.bytes[at], request.bytes[at + 1]]);
            return engine.replay(request, qtype, &stored, rate_limited, len, out);
        }
        let (outcome, stored) = engine.handle_for_cache(request, out);
        if let (Some(stored), Outcome::Reply(len)) = (stored, outcome) {
            self.store(&probe, stored, request.bytes, &out[..len]);
        }
        outcome
    }

    /// The key of a query of the plain shape, written to `self.key`; `None` for any other.
    #[inline]
    fn probe(&mut self, request: &Request<'_>) -> Option<Probe> {
        let bytes = request.bytes;
        // The key holds the client's address, not its port: a reflection port must not hit.
        if request.transport != Transport::Udp || request.from_reflection_port() {
            return None;
        }
        let header = bytes.get(..12)?;
        // QR=0, opcode QUERY; one question, no answer or authority records, at most one more.
        if header[2] & 0xF8 != 0 || header[4..10] != [0, 1, 0, 0, 0, 0] || header[10] != 0 || header[11] > 1 {
            return None;
        }
        let qname_len = plain_name_len(bytes.get(12..)?)?;
        let rest = bytes.get(12 + qname_len..)?;
        let name_at = CLIENT_LEN + 10;
        let tail_len = if header[11] == 0 { 4 } else { 4 + 11 };
        // An OPT without options: root owner, type 41, class, TTL, RDLENGTH 0.
        if rest.len() != tail_len || (tail_len > 4 && (rest[4..7] != [0, 0, 41] || rest[13..15] != [0, 0])) {
            return None;
        }
        let key_len = name_at + qname_len + tail_len;
        if key_len > KEY_MAX {
            return None;
        }
        let key = &mut self.key;
        key[..2].copy_from_slice(&request.listener.to_be_bytes());
        match request.peer.ip() {
            IpAddr::V4(v4) => {
                key[2] = 4;
                key[3..7].copy_from_slice(&v4.octets());
                key[7..CLIENT_LEN].fill(0);
            }
            IpAddr::V6(v6) => {
                key[2] = 6;
                key[3..CLIENT_LEN].copy_from_slice(&v6.octets());
            }
        }
        key[CLIENT_LEN..name_at].copy_from_slice(&header[2..]);
        // The name as spelled: a DNAME's synthesised CNAME copies the query's own case.
        key[name_at..key_len].copy_from_slice(&bytes[12..]);
        let hash = hash(&key[..key_len]);
        let index = (hash ^ (hash >> 29)) as usize & (self.slots.len() - 1);
        Some(Probe { index, hash, key_len, qname_len })
    }

    /// Copies the stored reply for `probe`'s key into `out` with `query`'s ID;
    /// `None` when the slot holds no such reply.
    #[inline]
    fn copy_hit(&self, probe: &Probe, query: &[u8], out: &mut [u8]) -> Option<(Stored, usize)> {
        let slot = self.slots.get(probe.index)?;
        if slot.epoch != self.epoch || slot.hash != probe.hash || usize::from(slot.key_len) != probe.key_len {
            return None;
        }
        let start = probe.index * KEY_MAX;
        if self.keys.get(start..start + probe.key_len)? != &self.key[..probe.key_len] {
            return None;
        }
        let (stored, len) = (slot.stored?, usize::from(slot.reply_len));
        let start = probe.index * REPLY_MAX;
        let target = out.get_mut(..len)?;
        target.copy_from_slice(self.replies.get(start..start + len)?);
        target[..2].copy_from_slice(&query[..2]);
        Some((stored, len))
    }

    /// Stores `reply` (to `query`) in `probe`'s slot when it fits and carries the query's
    /// question, byte for byte, right after its header (so that only the ID differs for the
    /// next identical query).
    fn store(&mut self, probe: &Probe, stored: Stored, query: &[u8], reply: &[u8]) {
        let question_end = 12 + probe.qname_len + 4;
        let same_question = reply.len() >= question_end && reply[4..6] == [0, 1] && reply[12..question_end] == query[12..question_end];
        if !same_question || reply.len() > REPLY_MAX {
            return;
        }
        let (key_start, reply_start) = (probe.index * KEY_MAX, probe.index * REPLY_MAX);
        self.keys[key_start..key_start + probe.key_len].copy_from_slice(&self.key[..probe.key_len]);
        self.replies[reply_start..reply_start + reply.len()].copy_from_slice(reply);
        self.slots[probe.index] =
            Slot { epoch: self.epoch, hash: probe.hash, key_len: probe.key_len as u16, reply_len: reply.len() as u16, stored: Some(stored) };
    }
}

/// The length of the uncompressed name at the start of `bytes` (labels of 63 octets at most,
/// 255 in all); `None` for a compression pointer or a name that does not end.
#[inline]
fn plain_name_len(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let len = usize::from(*bytes.get(at)?);
        if len == 0 {
            return (at < 255).then_some(at + 1);
        }
        if len > 63 || at + len + 1 > 255 {
            return None;
        }
        at += len + 1;
    }
}

/// A fast, unkeyed hash of a key (it only picks the slot; keys are compared whole).
#[inline]
fn hash(key: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut state = key.len() as u64;
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]);
        state = (state.rotate_left(5) ^ word).wrapping_mul(K);
    }
    let mut last = [0u8; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    (state.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(K)
}

#[cfg(test)]
mod tests {
    use super::plain_name_len;

    /// Plain names only: no pointers, labels of 63 at most, 255 in all, an end.
    #[test]
    fn plain_names() {
        assert_eq!(plain_name_len(b"\x03www\x07example\x00rest"), Some(13));
        assert_eq!(plain_name_len(b"\x00"), Some(1));
        assert_eq!(plain_name_len(b"\x03www\xC0\x0C"), None);
        assert_eq!(plain_name_len(b"\x03www"), None);
        assert_eq!(plain_name_len(&[64; 70]), None);
        let long: Vec<u8> = std::iter::repeat_n([63u8; 64], 4).flatten().chain([0]).collect();
        assert_eq!(plain_name_len(&long), None, "over 255 octets");
    }
}
