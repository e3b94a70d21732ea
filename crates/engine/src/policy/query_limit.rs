//! A per-prefix UDP query limiter in the manner of Knot DNS's `mod-rrl` (SECURITY-REFERENCE
//! §3.3, §7): a cheap check in front of the answer, counting *queries* per source, where RRL
//! ([`super::rrl`]) counts responses per account behind it.
//!
//! Each UDP query is charged to its source address (IPv4 /32, IPv6 /128) **and** to enclosing
//! prefixes whose limits are multiples of the per-address one, as Knot's: IPv4 /24 x32, /20 x256,
//! /18 x768; IPv6 /64 x2, /56 x3, /48 x4, /32 x64. Every counter is a leaky bucket: it holds at
//! most `instant-limit` x multiplier queries and drains at `rate-limit` x multiplier a second
//! (Knot decays exponentially each millisecond; a linear drain gives the same steady rate and
//! burst). A query that would overflow any of its counters is *restricted* and charges none:
//! every `slip`-th restricted query is answered TC=1 with only the question (so a real client
//! retries over TCP, where it is not limited), the others are dropped ([`LimitVerdict`]).
//!
//! **Off by default** ([`QueryLimitSettings::DEFAULT`]). The engine does not ask for TCP, for
//! clients with a valid server cookie (their address is proven) or for clients of the recursion
//! ACL (localhost by default), as for RRL.
//!
//! The table is preallocated when enabled and never grows: [`SHARDS`] shards behind a mutex,
//! [`WAYS`]-way sets addressed by SipHash-1-3 under the caller's secret key, the least recently
//! used bucket of a set reused for a new prefix. Time is the caller's monotonic [`Instant`].

use crate::base::hash::keyed_hash;
use crate::base::Prefix;
use crate::base::{Instant, Limit};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Independently locked shards of the table.
pub const SHARDS: usize = 16;
/// Buckets per set.
pub const WAYS: usize = 4;
/// IPv4 prefixes charged per query, with their multipliers (Knot's).
pub const IPV4_PREFIXES: [(u8, u64); 4] = [(32, 1), (24, 32), (20, 256), (18, 768)];
/// IPv6 prefixes charged per query, with their multipliers (Knot's).
pub const IPV6_PREFIXES: [(u8, u64); 5] = [(128, 1), (64, 2), (56, 3), (48, 4), (32, 64)];
/// One query in a bucket's level (levels are in thousandths of a query).
const QUERY: u64 = 1000;

/// Validated settings of the limiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimitSettings {
    /// Off unless configured.
    pub enabled: bool,
    /// `rate-limit`: queries a second one address may send, steadily.
    pub rate_limit: u32,
    /// `instant-limit`: queries one address may send at once, after a quiet time.
    pub instant_limit: u32,
    /// `slip`: every `slip`-th restricted query is answered TC=1; 0 drops them all.
    pub slip: u8,
    /// `table-size`: buckets preallocated (rounded up to whole sets).
    pub table_size: u32,
}

impl QueryLimitSettings {
    /// SECURITY-REFERENCE §7's numbers, off.
    pub const DEFAULT: Self = Self {
        enabled: false,
        rate_limit: Self::RATE_LIMIT.default,
        instant_limit: Self::INSTANT_LIMIT.default,
        slip: Self::SLIP.default,
        table_size: Self::TABLE_SIZE.default,
    };
    /// `rate-limit` (§7: 100 queries a second per /32 or /128).
    pub const RATE_LIMIT: Limit<u32> = Limit { default: 100, min: 1, max: 1_000_000 };
    /// `instant-limit` (§7: 250).
    pub const INSTANT_LIMIT: Limit<u32> = Limit { default: 250, min: 1, max: 1_000_000 };
    /// `slip` (Knot: 1, every restricted query truncated).
    pub const SLIP: Limit<u8> = Limit { default: 1, min: 0, max: 100 };
    /// `table-size`, buckets (32 bytes each; default 2 MiB).
    pub const TABLE_SIZE: Limit<u32> = Limit { default: 65_536, min: 1024, max: 4_194_304 };
}

impl Default for QueryLimitSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What to do with a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitVerdict {
    /// Within the limits: answer it.
    Pass,
    /// Restricted: answer TC=1 with only the question.
    Slip,
    /// Restricted: send nothing (`DropReason::QueryLimit`).
    Drop,
}

/// Counters of the limiter.
#[derive(Debug, Default)]
pub struct QueryLimitCounters {
    /// Queries within the limits.
    pub passed: AtomicU64,
    /// Restricted queries answered TC=1.
    pub slipped: AtomicU64,
    /// Restricted queries dropped.
    pub dropped: AtomicU64,
}

/// The limiter: one per server, shared by every UDP worker through `&self`.
#[derive(Debug)]
pub struct QueryLimiter {
    settings: QueryLimitSettings,
    hash_key: [u8; 16],
    shards: Box<[Mutex<Box<[Bucket]>>]>,
    sets_per_shard: usize,
    counters: QueryLimitCounters,
}

/// One prefix's counter: 32 bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// Keyed hash of the prefix; 0 = free.
    tag: u64,
    /// Millisecond of the last drain.
    last: u64,
    /// Queries held, in thousandths.
    level: u64,
}

impl QueryLimiter {
    /// Builds the limiter, preallocating its table when enabled; `hash_key` must be secret and
    /// random. Settings out of range are clamped.
    pub fn new(settings: &QueryLimitSettings, hash_key: [u8; 16]) -> Self {
        let settings = clamped(settings);
        let sets_per_shard = if settings.enabled { (settings.table_size as usize).div_ceil(SHARDS * WAYS).max(1) } else { 0 };
        let shards =
            (0..if settings.enabled { SHARDS } else { 0 }).map(|_| Mutex::new(vec![Bucket::default(); sets_per_shard * WAYS].into_boxed_slice())).collect();
        Self { settings, hash_key, shards, sets_per_shard, counters: QueryLimitCounters::default() }
    }

    /// The settings in force (after clamping).
    pub fn settings(&self) -> &QueryLimitSettings {
        &self.settings
    }

    /// The counters.
    pub fn counters(&self) -> &QueryLimitCounters {
        &self.counters
    }

    /// Buckets in the table (0 when disabled).
    pub fn capacity(&self) -> usize {
        self.shards.len() * self.sets_per_shard * WAYS
    }

    /// Charges one UDP query from `client` at `now`, or restricts it. Never allocates.
    pub fn check(&self, client: IpAddr, now: Instant) -> LimitVerdict {
        if !self.settings.enabled {
            return LimitVerdict::Pass;
        }
        let host = Prefix::host(client);
        let levels: &[(u8, u64)] = if host.addr().is_ipv4() { &IPV4_PREFIXES } else { &IPV6_PREFIXES };
        let now = now.as_millis();
        if levels.iter().all(|&(len, multiplier)| self.drain(&Prefix::covering(client, len), now, multiplier, false)) {
            for &(len, multiplier) in levels {
                self.drain(&Prefix::covering(client, len), now, multiplier, true);
            }
            self.counters.passed.fetch_add(1, Ordering::Relaxed);
            return LimitVerdict::Pass;
        }
        let restricted = self.counters.slipped.load(Ordering::Relaxed) + self.counters.dropped.load(Ordering::Relaxed);
        let slip = u64::from(self.settings.slip);
        if slip > 0 && restricted.is_multiple_of(slip) {
            self.counters.slipped.fetch_add(1, Ordering::Relaxed);
            LimitVerdict::Slip
        } else {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            LimitVerdict::Drop
        }
    }

    /// Drains the bucket of `prefix` to `now` and says whether one more query fits under its
    /// capacity; with `charge`, one that fits is added.
    fn drain(&self, prefix: &Prefix, now: u64, multiplier: u64, charge: bool) -> bool {
        let hash = keyed_hash(&self.hash_key, &prefix.to_key_bytes()).max(1);
        let Some(shard) = self.shards.get((hash as usize) % SHARDS) else { return true };
        let set = ((hash >> 8) as usize) % self.sets_per_shard.max(1);
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(set) = shard.get_mut(set * WAYS..(set + 1) * WAYS) else { return true };
        let bucket = find_or_claim(set, hash, now);
        let drained = u64::from(self.settings.rate_limit).saturating_mul(multiplier).saturating_mul(now.saturating_sub(bucket.last));
        bucket.level = bucket.level.saturating_sub(drained);
        bucket.last = now;
        let capacity = u64::from(self.settings.instant_limit).saturating_mul(multiplier).saturating_mul(QUERY);
        let fits = bucket.level + QUERY <= capacity;
        if fits && charge {
            bucket.level += QUERY;
        }
        fits
    }
}

/// The bucket tagged `tag`, or the set's free or least recently used one, emptied.
fn find_or_claim(set: &mut [Bucket], tag: u64, now: u64) -> &mut Bucket {
    let index = match set.iter().position(|bucket| bucket.tag == tag) {
        Some(index) => index,
        None => {
            let oldest = set.iter().enumerate().min_by_key(|(_, bucket)| (bucket.tag != 0, bucket.last)).map_or(0, |(index, _)| index);
            set[oldest] = Bucket { tag, last: now, level: 0 };
            oldest
        }
    };
    &mut set[index]
}

fn clamped(settings: &QueryLimitSettings) -> QueryLimitSettings {
    type S = QueryLimitSettings;
    QueryLimitSettings {
        enabled: settings.enabled,
        rate_limit: settings.rate_limit.clamp(S::RATE_LIMIT.min, S::RATE_LIMIT.max),
        instant_limit: settings.instant_limit.clamp(S::INSTANT_LIMIT.min, S::INSTANT_LIMIT.max),
        slip: settings.slip.clamp(S::SLIP.min, S::SLIP.max),
        table_size: settings.table_size.clamp(S::TABLE_SIZE.min, S::TABLE_SIZE.max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 16] = *b"query limit keys";

    fn limiter(rate_limit: u32, instant_limit: u32, slip: u8) -> QueryLimiter {
        QueryLimiter::new(&QueryLimitSettings { enabled: true, rate_limit, instant_limit, slip, table_size: 1024 }, KEY)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    /// Verdicts of `count` queries from `client` at `now`: (passed, slipped, dropped).
    fn burst(limiter: &QueryLimiter, client: &str, count: usize, now: Instant) -> (usize, usize, usize) {
        let mut tally = (0, 0, 0);
        for _ in 0..count {
            match limiter.check(ip(client), now) {
                LimitVerdict::Pass => tally.0 += 1,
                LimitVerdict::Slip => tally.1 += 1,
                LimitVerdict::Drop => tally.2 += 1,
            }
        }
        tally
    }

    #[test]
    fn off_by_default_and_allocates_nothing() {
        let off = QueryLimiter::new(&QueryLimitSettings::default(), KEY);
        assert_eq!((off.settings().rate_limit, off.settings().instant_limit, off.settings().slip), (100, 250, 1), "SECURITY-REFERENCE §7");
        assert_eq!(off.capacity(), 0);
        assert_eq!(burst(&off, "192.0.2.1", 10_000, Instant::ZERO), (10_000, 0, 0));
    }

    #[test]
    fn a_burst_up_to_the_instant_limit_then_the_rate() {
        let limiter = limiter(100, 250, 1);
        assert_eq!(burst(&limiter, "192.0.2.1", 300, Instant::from_secs(1)), (250, 50, 0), "the instant limit, then TC=1 (slip 1)");
        // 100 ms later 10 more fit (100 a second), not 11.
        assert_eq!(burst(&limiter, "192.0.2.1", 11, Instant::from_millis(1100)), (10, 1, 0));
        // After 2.5 s of silence the bucket is empty again.
        assert_eq!(burst(&limiter, "192.0.2.1", 251, Instant::from_millis(3600)), (250, 1, 0));
        assert_eq!(limiter.counters().passed.load(Ordering::Relaxed), 510);
    }

    #[test]
    fn another_address_has_its_own_counter_until_the_prefix_fills() {
        let limiter = limiter(100, 250, 0);
        assert_eq!(burst(&limiter, "192.0.2.1", 300, Instant::ZERO), (250, 0, 50), "slip 0 drops every restricted query");
        assert_eq!(burst(&limiter, "192.0.2.2", 250, Instant::ZERO), (250, 0, 0), "its own /32");
        // The /24 holds 32 x 250 = 8000: 32 addresses at their instant limit fill it.
        for host in 3..33 {
            burst(&limiter, &format!("192.0.2.{host}"), 250, Instant::ZERO);
        }
        assert_eq!(burst(&limiter, "192.0.2.100", 10, Instant::ZERO), (0, 0, 10), "the /24 is full");
        assert_eq!(burst(&limiter, "192.0.3.1", 10, Instant::ZERO), (10, 0, 0), "another /24 of the same /20");
    }

    #[test]
    fn ipv6_counts_per_address_and_per_prefix_and_slip_alternates() {
        let limiter = limiter(10, 20, 2);
        assert_eq!(burst(&limiter, "2001:db8::1", 24, Instant::ZERO), (20, 2, 2), "slip 2: every other restricted query is TC=1");
        assert_eq!(burst(&limiter, "2001:db8::2", 20, Instant::ZERO), (20, 0, 0), "/64 holds 2 x 20");
        assert_eq!(burst(&limiter, "2001:db8::3", 1, Instant::ZERO).0, 0, "the /64 is full");
        assert_eq!(burst(&limiter, "2001:db8:0:1::3", 1, Instant::ZERO).0, 1, "another /64 of the /56");
        assert_eq!(burst(&limiter, "::ffff:192.0.2.9", 20, Instant::ZERO).0, 20, "IPv4-mapped counts as IPv4");
    }
}
