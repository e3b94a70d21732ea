//! Engine counters: plain atomics, shared across reloads; exported by the server.

use crate::auth::AnswerKind;
use crate::request::DropReason;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of the query pipeline.
#[derive(Debug, Default)]
pub struct EngineCounters {
    /// Requests seen.
    pub requests: AtomicU64,
    /// Replies by rcode (0..=23; the rest counted in the last slot).
    pub rcodes: [AtomicU64; 24],
    /// Drops by reason, in `DropReason::ALL` order.
    pub drops: [AtomicU64; 7],
    /// Authoritative answers by kind: answer, nodata, nxdomain, referral, truncated, error.
    pub answers: [AtomicU64; 6],
    /// Recursive queries answered from the cache on the worker.
    pub cache_answers: AtomicU64,
    /// Recursive queries handed to the resolver pool (cache misses).
    pub resolutions: AtomicU64,
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

    /// Counts a reply's rcode.
    pub fn rcode(&self, rcode: u16) {
        self.rcodes[usize::from(rcode).min(23)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an authoritative answer's kind.
    pub fn answer(&self, kind: AnswerKind) {
        let index = match kind {
            AnswerKind::Answer => 0,
            AnswerKind::NoData => 1,
            AnswerKind::NxDomain => 2,
            AnswerKind::Referral => 3,
            AnswerKind::Truncated => 4,
            AnswerKind::Error => 5,
        };
        self.answers[index].fetch_add(1, Ordering::Relaxed);
    }

    /// A drop counter's value.
    pub fn drops_of(&self, reason: DropReason) -> u64 {
        let index = DropReason::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.drops[index].load(Ordering::Relaxed)
    }
}
