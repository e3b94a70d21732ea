//! Engine counters: plain atomics, shared across reloads; exported by the server. The counters
//! every query touches are sharded by [`Request::worker`](crate::Request::worker), one
//! cache-line-aligned shard per worker, so that workers on different cores do not fight over
//! the same cache lines; readers sum the shards.

use crate::auth::AnswerKind;
use crate::request::DropReason;
use std::sync::atomic::{AtomicU64, Ordering};

/// Shards of the per-query counters (workers beyond this share them).
pub const COUNTER_SHARDS: usize = 16;
/// Rcodes counted one by one (0..=23); the last slot also counts the larger ones.
pub const RCODE_SLOTS: usize = 24;

/// The counters every query touches, for one worker.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct HotCounters {
    requests: AtomicU64,
    rcodes: [AtomicU64; RCODE_SLOTS],
    answers: [AtomicU64; 6],
    cache_answers: AtomicU64,
}

/// Counters of the query pipeline.
#[derive(Debug, Default)]
pub struct EngineCounters {
    hot: [HotCounters; COUNTER_SHARDS],
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
        let index = DropReason::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.drops[index].fetch_add(1, Ordering::Relaxed);
    }

    /// The shard of `worker`.
    fn shard(&self, worker: u16) -> &HotCounters {
        &self.hot[usize::from(worker) % COUNTER_SHARDS]
    }

    /// Counts a request.
    pub fn request(&self, worker: u16) {
        self.shard(worker).requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a reply's rcode.
    pub fn rcode(&self, worker: u16, rcode: u16) {
        self.shard(worker).rcodes[usize::from(rcode).min(RCODE_SLOTS - 1)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an answer from the cache.
    pub fn cache_answer(&self, worker: u16) {
        self.shard(worker).cache_answers.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests seen.
    pub fn requests(&self) -> u64 {
        self.hot.iter().map(|shard| shard.requests.load(Ordering::Relaxed)).sum()
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
        let index = DropReason::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.drops[index].load(Ordering::Relaxed)
    }
}
