//! Engine counters: plain atomics, shared across reloads; exported by the server. The counters
//! every query touches are sharded by [`Request::worker`](crate::Request::worker), one
//! cache-line-aligned shard per worker, so that workers on different cores do not fight over
//! the same cache lines; readers sum the shards.

use crate::auth::AnswerKind;
use crate::base::Transport;
use crate::request::DropReason;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

pub mod top;

/// Shards of the per-query counters (workers beyond this share them).
pub const COUNTER_SHARDS: usize = 16;
/// Rcodes counted one by one (0..=23); the last slot also counts the larger ones.
pub const RCODE_SLOTS: usize = 24;

/// The query types counted one by one ([`QueryType::ALL`]); every other type is `Other`.
pub const QTYPE_SLOTS: usize = QueryType::ALL.len();
/// The transports counted ([`Transport`] as an index: UDP, TCP).
pub const TRANSPORTS: [Transport; 5] = [Transport::Udp, Transport::Tcp, Transport::Tls, Transport::Https, Transport::Quic];

/// The counters every query touches, for one worker.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct HotCounters {
    /// Requests by transport and question type: each request counted once, here only.
    requests: [[AtomicU64; QTYPE_SLOTS]; TRANSPORTS.len()],
    rcodes: [AtomicU64; RCODE_SLOTS],
    answers: [AtomicU64; 6],
    cache_answers: AtomicU64,
    /// Answers written on the worker by [`AnswerSource`] and latency bucket
    /// ([`LATENCY_BOUNDS`], then +Inf), not cumulative.
    latency: [[AtomicU64; LATENCY_BOUNDS.len() + 1]; AnswerSource::ALL.len()],
    /// Their summed latency, in microseconds, by [`AnswerSource`].
    latency_micros: [AtomicU64; AnswerSource::ALL.len()],
}

/// Upper bounds of the latency buckets, in seconds (the last bucket, above them, is +Inf).
pub const LATENCY_BOUNDS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

/// Where an answer written on a worker came from, for the latency histograms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerSource {
    /// The served zones, and the refusals and errors the engine writes itself.
    Authoritative,
    /// The resolver's cache (a recursive query answered without resolving).
    Cache,
}

impl AnswerSource {
    /// Every source, in counter order.
    pub const ALL: [Self; 2] = [Self::Authoritative, Self::Cache];

    /// The metrics label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Authoritative => "authoritative",
            Self::Cache => "cache",
        }
    }
}

/// Counters of the query pipeline.
#[derive(Debug, Default)]
pub struct EngineCounters {
    hot: [HotCounters; COUNTER_SHARDS],
    /// Each shard's sample of names and clients ([`top`]); locked by its worker for one sample
    /// in [`top::SAMPLE_EVERY`] queries, and by readers.
    top: [Mutex<top::TopTables>; COUNTER_SHARDS],
    /// Drops by reason, in `DropReason::ALL` order.
    pub drops: [AtomicU64; DropReason::ALL.len()],
    /// Recursive queries handed to the resolver pool (cache misses).
    pub resolutions: AtomicU64,
    /// Zone transfers started (AXFR, and IXFR answered with the whole zone).
    pub transfers: AtomicU64,
    /// Recursive queries refused by the recursion ACL (RFC 5358).
    pub recursion_refused: AtomicU64,
    /// Answers written from a finished resolution (one per waiting client).
    pub resolved_answers: AtomicU64,
    /// SERVFAILs replaced by stale cached data (RFC 8767).
    pub stale_answers: AtomicU64,
}

impl EngineCounters {
    /// Counts a drop.
    pub fn dropped(&self, reason: DropReason) {
        self.drops[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The shard of `worker`.
    fn shard(&self, worker: u16) -> &HotCounters {
        &self.hot[usize::from(worker) % COUNTER_SHARDS]
    }

    /// Counts a request arrived over `transport` asking about `qtype`; true when it is one to
    /// sample ([`EngineCounters::sample`]): one in [`top::SAMPLE_EVERY`] of the slot's.
    #[inline]
    pub fn request(&self, worker: u16, transport: Transport, qtype: QueryType) -> bool {
        let before = self.shard(worker).requests[transport_slot(transport)][qtype as usize].fetch_add(1, Ordering::Relaxed);
        before.is_multiple_of(top::SAMPLE_EVERY)
    }

    /// Counts a sampled request's question name and client in its worker's tables.
    #[cold]
    pub fn sample(&self, worker: u16, bytes: &[u8], client: std::net::IpAddr) {
        if let Some(name) = top::question_name(bytes) {
            let mut tables = self.top[usize::from(worker) % COUNTER_SHARDS].lock().unwrap_or_else(PoisonError::into_inner);
            tables.sample(name, client);
        }
    }

    /// The `n` most asked names (lower-cased wire form) and the `n` busiest clients (16-byte
    /// addresses, IPv4 mapped), each with its estimated query count, highest first.
    pub fn top(&self, n: usize) -> (Vec<top::Counted>, Vec<top::Counted>) {
        let mut names: Vec<top::Counted> = Vec::new();
        let mut clients: Vec<top::Counted> = Vec::new();
        for shard in &self.top {
            let tables = shard.lock().unwrap_or_else(PoisonError::into_inner);
            merge(&mut names, tables.names.entries());
            merge(&mut clients, tables.clients.entries());
        }
        for list in [&mut names, &mut clients] {
            list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            list.truncate(n);
        }
        (names, clients)
    }

    /// Counts a reply's rcode.
    pub fn rcode(&self, worker: u16, rcode: u16) {
        self.shard(worker).rcodes[usize::from(rcode).min(RCODE_SLOTS - 1)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an answer from the cache.
    pub fn cache_answer(&self, worker: u16) {
        self.shard(worker).cache_answers.fetch_add(1, Ordering::Relaxed);
    }

    /// Recursive queries answered from the cache by `worker`'s shard (a worker reads its own
    /// before and after a batch: the difference is its batch's cache answers).
    pub fn cache_answers_of(&self, worker: u16) -> u64 {
        self.shard(worker).cache_answers.load(Ordering::Relaxed)
    }

    /// Counts `count` answers from `source` that each took at most `micros` (a UDP worker's
    /// batch: from the datagrams' arrival to the replies' sending, timed once per batch).
    pub fn answered_in(&self, worker: u16, source: AnswerSource, micros: u64, count: u64) {
        if count == 0 {
            return;
        }
        let seconds = micros as f64 / 1e6;
        let bucket = LATENCY_BOUNDS.iter().position(|&bound| seconds <= bound).unwrap_or(LATENCY_BOUNDS.len());
        let shard = self.shard(worker);
        shard.latency[source as usize][bucket].fetch_add(count, Ordering::Relaxed);
        shard.latency_micros[source as usize].fetch_add(micros.saturating_mul(count), Ordering::Relaxed);
    }

    /// The latency histogram of `source`'s answers: (sum in seconds, count, per-bucket counts
    /// with their upper bounds, not cumulative; the last bound is +Inf), summed over the shards.
    pub fn answer_latency(&self, source: AnswerSource) -> (f64, u64, Vec<(f64, u64)>) {
        let bounds = LATENCY_BOUNDS.iter().copied().chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds
            .enumerate()
            .map(|(index, bound)| (bound, self.hot.iter().map(|shard| shard.latency[source as usize][index].load(Ordering::Relaxed)).sum()))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let micros: u64 = self.hot.iter().map(|shard| shard.latency_micros[source as usize].load(Ordering::Relaxed)).sum();
        (micros as f64 / 1e6, count, buckets)
    }

    /// Requests seen.
    pub fn requests(&self) -> u64 {
        self.hot.iter().flat_map(|shard| shard.requests.iter().flatten()).map(|count| count.load(Ordering::Relaxed)).sum()
    }

    /// Requests seen over `transport` asking about `qtype` (summed over the shards on read).
    pub fn requests_of(&self, transport: Transport, qtype: QueryType) -> u64 {
        self.hot.iter().map(|shard| shard.requests[transport_slot(transport)][qtype as usize].load(Ordering::Relaxed)).sum()
    }

    /// Replies with `rcode` (below [`RCODE_SLOTS`]; the last slot also counts the larger ones).
    pub fn rcodes(&self, rcode: usize) -> u64 {
        self.hot.iter().map(|shard| shard.rcodes.get(rcode).map_or(0, |count| count.load(Ordering::Relaxed))).sum()
    }

    /// Authoritative answers of kind `index` (answer, nodata, nxdomain, referral, truncated, error).
    pub fn answers(&self, index: usize) -> u64 {
        self.hot.iter().map(|shard| shard.answers.get(index).map_or(0, |count| count.load(Ordering::Relaxed))).sum()
    }

    /// Recursive queries answered from the cache on the worker.
    pub fn cache_answers(&self) -> u64 {
        self.hot.iter().map(|shard| shard.cache_answers.load(Ordering::Relaxed)).sum()
    }

    /// Counts an authoritative answer's kind.
    pub fn answer(&self, worker: u16, kind: AnswerKind) {
        let index = match kind {
            AnswerKind::Answer => 0,
            AnswerKind::NoData => 1,
            AnswerKind::NxDomain => 2,
            AnswerKind::Referral => 3,
            AnswerKind::Truncated => 4,
            AnswerKind::Error => 5,
        };
        self.shard(worker).answers[index].fetch_add(1, Ordering::Relaxed);
    }

    /// A drop counter's value.
    pub fn drops_of(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()].load(Ordering::Relaxed)
    }
}

/// Adds `entries` to `into`, summing the counts of equal keys, scaled to estimated queries.
fn merge<'a>(into: &mut Vec<top::Counted>, entries: impl Iterator<Item = (&'a [u8], u64)>) {
    for (key, count) in entries {
        let count = count * top::SAMPLE_EVERY;
        match into.iter_mut().find(|(have, _)| have.as_slice() == key) {
            Some((_, total)) => *total += count,
            None => into.push((key.to_vec(), count)),
        }
    }
}

/// `transport`'s slot in the request counters.
#[inline]
const fn transport_slot(transport: Transport) -> usize {
    match transport {
        Transport::Udp => 0,
        Transport::Tcp => 1,
        Transport::Tls => 2,
        Transport::Https => 3,
        Transport::Quic => 4,
    }
}

/// The label of a transport in metrics.
pub const fn transport_label(transport: Transport) -> &'static str {
    match transport {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
        Transport::Https => "https",
        Transport::Quic => "quic",
    }
}

/// A request's question type as counted: the common types one by one, the rest as `Other`, and
/// `None` for a request whose question cannot be read (no question, short or compressed name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum QueryType {
    A,
    Ns,
    Cname,
    Soa,
    Null,
    Ptr,
    Mx,
    Txt,
    Key,
    Aaaa,
    Srv,
    Naptr,
    Ds,
    Rrsig,
    Nsec,
    Dnskey,
    Svcb,
    Https,
    Ixfr,
    Axfr,
    Any,
    Caa,
    Other,
    /// Keep it last: [`QueryType::ALL`] is checked against it.
    None,
}

// Every variant is in `ALL`, at its own index.
const _: () = assert!(QueryType::ALL.len() == QueryType::None as usize + 1);

impl QueryType {
    /// Every slot, in declaration order (the counters' order).
    pub const ALL: [Self; 24] = [
        Self::A,
        Self::Ns,
        Self::Cname,
        Self::Soa,
        Self::Null,
        Self::Ptr,
        Self::Mx,
        Self::Txt,
        Self::Key,
        Self::Aaaa,
        Self::Srv,
        Self::Naptr,
        Self::Ds,
        Self::Rrsig,
        Self::Nsec,
        Self::Dnskey,
        Self::Svcb,
        Self::Https,
        Self::Ixfr,
        Self::Axfr,
        Self::Any,
        Self::Caa,
        Self::Other,
        Self::None,
    ];

    /// The slot of a type code.
    #[inline]
    pub const fn of(code: u16) -> Self {
        match code {
            1 => Self::A,
            2 => Self::Ns,
            5 => Self::Cname,
            6 => Self::Soa,
            10 => Self::Null,
            12 => Self::Ptr,
            15 => Self::Mx,
            16 => Self::Txt,
            25 => Self::Key,
            28 => Self::Aaaa,
            33 => Self::Srv,
            35 => Self::Naptr,
            43 => Self::Ds,
            46 => Self::Rrsig,
            47 => Self::Nsec,
            48 => Self::Dnskey,
            64 => Self::Svcb,
            65 => Self::Https,
            251 => Self::Ixfr,
            252 => Self::Axfr,
            255 => Self::Any,
            257 => Self::Caa,
            _ => Self::Other,
        }
    }

    /// The question type of a raw request: its first question's, read without parsing the
    /// message (a few byte loads over the name, which the parse reads next anyway).
    #[inline]
    pub fn of_request(bytes: &[u8]) -> Self {
        if bytes.len() < 12 || (bytes[4], bytes[5]) == (0, 0) {
            return Self::None;
        }
        let mut at = 12;
        // A name has at most 127 labels (RFC 1035 §3.1: 255 bytes).
        for _ in 0..128 {
            match bytes.get(at) {
                Some(0) => {
                    return match bytes.get(at + 1..at + 3) {
                        Some(&[high, low]) => Self::of(u16::from_be_bytes([high, low])),
                        _ => Self::None,
                    }
                }
                Some(&len) if len < 64 => at += usize::from(len) + 1,
                _ => return Self::None,
            }
        }
        Self::None
    }

    /// The metrics label: the type's mnemonic, `OTHER` or `NONE`.
    pub const fn label(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::Ns => "NS",
            Self::Cname => "CNAME",
            Self::Soa => "SOA",
            Self::Null => "NULL",
            Self::Ptr => "PTR",
            Self::Mx => "MX",
            Self::Txt => "TXT",
            Self::Key => "KEY",
            Self::Aaaa => "AAAA",
            Self::Srv => "SRV",
            Self::Naptr => "NAPTR",
            Self::Ds => "DS",
            Self::Rrsig => "RRSIG",
            Self::Nsec => "NSEC",
            Self::Dnskey => "DNSKEY",
            Self::Svcb => "SVCB",
            Self::Https => "HTTPS",
            Self::Ixfr => "IXFR",
            Self::Axfr => "AXFR",
            Self::Any => "ANY",
            Self::Caa => "CAA",
            Self::Other => "OTHER",
            Self::None => "NONE",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{EngineCounters, QueryType, TRANSPORTS};
    use crate::base::Transport;

    #[test]
    fn every_query_type_has_its_slot_and_its_code() {
        for (slot, qtype) in QueryType::ALL.into_iter().enumerate() {
            assert_eq!(qtype as usize, slot);
            if !matches!(qtype, QueryType::Other | QueryType::None) {
                let code = portcullis_wire::Rtype::from_text(qtype.label()).map(|rtype| rtype.0);
                assert_eq!(code.map(QueryType::of), Some(qtype), "{}", qtype.label());
            }
        }
    }

    #[test]
    fn a_request_is_counted_once_under_its_transport_and_question_type() {
        let query = |name: &[u8], qtype: u16| {
            let mut bytes = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
            bytes.extend_from_slice(name);
            bytes.extend_from_slice(&qtype.to_be_bytes());
            bytes.extend_from_slice(&[0, 1]);
            bytes
        };
        assert_eq!(QueryType::of_request(&query(b"\x07example\x03com\x00", 28)), QueryType::Aaaa);
        assert_eq!(QueryType::of_request(&query(b"\x00", 65)), QueryType::Https);
        assert_eq!(QueryType::of_request(&query(b"\x03www\x00", 99)), QueryType::Other);
        assert_eq!(QueryType::of_request(&query(b"\xc0\x0c", 1)), QueryType::None, "a pointer in the question");
        assert_eq!(QueryType::of_request(&query(b"\x07exam", 1)[..17]), QueryType::None, "cut inside the name");
        assert_eq!(QueryType::of_request(&[0; 11]), QueryType::None);
        let mut no_question = query(b"\x00", 1);
        no_question[5] = 0;
        assert_eq!(QueryType::of_request(&no_question), QueryType::None);
        let counters = EngineCounters::default();
        counters.request(0, Transport::Udp, QueryType::A);
        counters.request(3, Transport::Udp, QueryType::A);
        counters.request(40, Transport::Tcp, QueryType::None);
        assert_eq!(counters.requests(), 3);
        assert_eq!(counters.requests_of(Transport::Udp, QueryType::A), 2);
        assert_eq!(counters.requests_of(Transport::Tcp, QueryType::None), 1);
        let counters = &counters;
        assert_eq!(TRANSPORTS.iter().flat_map(|&t| QueryType::ALL.map(move |q| counters.requests_of(t, q))).sum::<u64>(), 3);
    }
}
