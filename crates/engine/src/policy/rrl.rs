//! Response rate limiting with BIND 9's semantics (`lib/dns/rrl.c`, `lib/ns/query.c`;
//! SECURITY-REFERENCE §3.1; the scheme of Vixie and Schryver, "DNS Response Rate Limiting").
//!
//! Each UDP response is charged to an *account*: the client's prefix (IPv4 /24, IPv6 /56 by
//! default), the [`ResponseKind`] and a name (the qname and qtype for answers, the qname for
//! NODATA, the zone for NXDOMAIN so that random subdomains of a zone share one account, the
//! delegation for referrals, none for errors). An account earns its rate in credits per second,
//! holds at most one second of credit, and may fall at most `window` seconds of credit into debt,
//! so a flood is forgotten at most `window` seconds after it stops. Every response also debits a
//! per-prefix `all-per-second` account, checked first; when that one limits, the response is
//! dropped, never slipped. A limited response is dropped, except every `slip`-th one, which is
//! sent as a TC=1 reply with only the question, or as BADCOOKIE with a fresh server cookie when
//! the query carried a client cookie ([RFC 7873] §5.2.3).
//!
//! Differences from BIND, on purpose: time is whole seconds of the caller's monotonic [`Instant`]
//! (BIND uses wall-clock seconds); limited *error* responses are always dropped, as BIND's
//! `ns_client_error` does (its system test expects "2 SERVFAIL, 8 dropped"); `qps-scale` is not
//! implemented; qclass is not part of the key (only class IN and CH are answered).
//!
//! Exempt, never counted against an account: TCP, queries with a valid server cookie
//! ([`QueryCookie::Verified`]) and `exempt` networks; the engine does not even ask for clients
//! its recursion ACL allows (localhost by default). In `log_only` mode every response is sent
//! and limited ones are only counted ([`RrlEvent::WouldLimit`]).
//!
//! **On by default, as NSD ships it** ([`RrlSettings::DEFAULT`]): 200 responses a second per
//! account and kind (NSD's `rrl-ratelimit`, a rate a busy but honest /24 or /56 does not reach
//! for one name), slip 2, and no `all-per-second` account (0, as BIND: a per-prefix cap on every
//! answer would drop a busy resolver farm's answers without a slip). [`RrlSettings::OFF`] is the
//! same numbers disabled, for an engine built without a secret hash key.
//!
//! The table is preallocated at construction and never grows: [`SHARDS`] shards behind
//! `std::sync::Mutex`, each a set-associative array of [`WAYS`]-way sets; a new account
//! overwrites the least recently used bucket of its set. Buckets are addressed by SipHash-1-3 with
//! a secret key from the caller, so clients cannot aim collisions at a victim's account.
//!
//! [RFC 7873]: https://www.rfc-editor.org/rfc/rfc7873

use crate::base::hash::keyed_hash;
use crate::base::Prefix;
use crate::base::Transport;
use crate::base::{Instant, Limit};
use portcullis_wire::{NameBuf, Rtype};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Number of independently locked shards of the table.
pub const SHARDS: usize = 64;
/// Buckets per set: a new account evicts the least recently used of these.
pub const WAYS: usize = 4;

/// The class of a response, which picks its rate and how its account is named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseKind {
    /// A positive answer; account named by qname and qtype (wildcard answers: by `*.<zone>`).
    Answer,
    /// NXDOMAIN; account named by the zone, so all names of a zone share one bucket.
    NxDomain,
    /// NOERROR with no answer; account named by the qname, whatever the qtype.
    NoData,
    /// A delegation; account named by the delegated zone.
    Referral,
    /// SERVFAIL, FORMERR, REFUSED and other errors; account of the client prefix only.
    Error,
}

impl ResponseKind {
    /// Every kind, in counter order.
    pub const ALL: [Self; 5] = [Self::Answer, Self::NxDomain, Self::NoData, Self::Referral, Self::Error];

    /// The metrics label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Answer => "answer",
            Self::NxDomain => "nxdomain",
            Self::NoData => "nodata",
            Self::Referral => "referral",
            Self::Error => "error",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// What the query showed of DNS cookies ([RFC 7873]).
///
/// [RFC 7873]: https://www.rfc-editor.org/rfc/rfc7873
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QueryCookie {
    /// No COOKIE option.
    #[default]
    Absent,
    /// A client cookie, with no server cookie or one that did not verify: slips become BADCOOKIE.
    Unverified,
    /// A valid server cookie: the source address is proven, the response is exempt.
    Verified,
}

/// One response to account, built on the stack by the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RrlKey {
    /// The client's address (aggregated to its prefix by [`Rrl`]).
    pub client: IpAddr,
    /// The response's class.
    pub kind: ResponseKind,
    /// [`Rrl::name_hash`] of the account's name.
    pub name_hash: u64,
    /// TCP responses are exempt.
    pub transport: Transport,
    /// Cookie state of the query.
    pub cookie: QueryCookie,
}

impl RrlKey {
    /// A UDP response without cookies.
    pub fn new(client: IpAddr, kind: ResponseKind, name_hash: u64) -> Self {
        Self { client, kind, name_hash, transport: Transport::Udp, cookie: QueryCookie::Absent }
    }
}

/// How to send a slipped response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlipReply {
    /// TC=1 with only the question (the rcode kept), inviting a retry over TCP.
    Truncate,
    /// BADCOOKIE (rcode 23) with a fresh server cookie (the query had a client cookie).
    BadCookie,
}

/// What to do with a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RrlVerdict {
    /// Send it as written.
    Send,
    /// Replace it by a small reply so that a real client can retry.
    Slip(SlipReply),
    /// Send nothing (`DropReason::RrlDrop`).
    Drop,
}

/// What happened to responses, per [`ResponseKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RrlEvent {
    /// Sent within the limits.
    Sent,
    /// Limited and slipped.
    Slipped,
    /// Limited and dropped (by its own account or by `all-per-second`).
    Dropped,
    /// Would have been limited, sent in `log_only` mode.
    WouldLimit,
    /// Exempt: TCP, valid server cookie or exempt network.
    Exempt,
}

impl RrlEvent {
    /// Every event, in counter order.
    pub const ALL: [Self; 5] = [Self::Sent, Self::Slipped, Self::Dropped, Self::WouldLimit, Self::Exempt];

    /// The metrics label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Slipped => "slipped",
            Self::Dropped => "dropped",
            Self::WouldLimit => "would_limit",
            Self::Exempt => "exempt",
        }
    }
}

/// RRL counters; shared across reloads like the engine's.
#[derive(Debug, Default)]
pub struct RrlCounters {
    events: [[AtomicU64; 5]; 5],
    /// Responses limited by `all-per-second` (also counted as dropped under their kind).
    pub all_limited: AtomicU64,
    /// Accounts that overwrote another one in the full table.
    pub evictions: AtomicU64,
}

impl RrlCounters {
    /// The count of `event` for responses of `kind`.
    pub fn get(&self, kind: ResponseKind, event: RrlEvent) -> u64 {
        self.events[kind.index()][event as usize].load(Ordering::Relaxed)
    }

    fn add(&self, kind: ResponseKind, event: RrlEvent) {
        self.events[kind.index()][event as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// Validated RRL settings; rates are responses per second per account, 0 = unlimited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RrlSettings {
    /// On by default; `[rrl] enabled = false` turns it off (see the module docs).
    pub enabled: bool,
    /// `responses-per-second`: positive answers.
    pub responses_per_second: u32,
    /// `nxdomains-per-second`.
    pub nxdomains_per_second: u32,
    /// `nodata-per-second`.
    pub nodata_per_second: u32,
    /// `referrals-per-second`.
    pub referrals_per_second: u32,
    /// `errors-per-second`.
    pub errors_per_second: u32,
    /// `all-per-second`: every response of a client prefix; never slips.
    pub all_per_second: u32,
    /// `window`: seconds of debt (and staleness) an account keeps.
    pub window: u32,
    /// `slip`: every `slip`-th limited response slips; 0 never, 1 always.
    pub slip: u8,
    /// `ipv4-prefix-length`: IPv4 clients are aggregated to this prefix.
    pub ipv4_prefix_length: u8,
    /// `ipv6-prefix-length`: IPv6 clients are aggregated to this prefix.
    pub ipv6_prefix_length: u8,
    /// `exempt-clients`: never limited.
    pub exempt: Vec<Prefix>,
    /// `log-only`: count, never limit.
    pub log_only: bool,
    /// `table-size`: buckets preallocated (rounded up to fill whole sets).
    pub table_size: u32,
}

impl RrlSettings {
    /// The server's defaults: on, NSD's 200 per second for every kind, slip 2, no
    /// `all-per-second` (see the module docs).
    pub const DEFAULT: Self = Self::defaults(true);
    /// [`RrlSettings::DEFAULT`] disabled: what an engine without configured policy uses.
    pub const OFF: Self = Self::defaults(false);
    /// `responses-per-second` (NSD's `rrl-ratelimit`).
    pub const RESPONSES_PER_SECOND: Limit<u32> = Limit { default: 200, min: 0, max: 1_000_000 };
    /// `nxdomains-per-second`.
    pub const NXDOMAINS_PER_SECOND: Limit<u32> = Limit { default: 200, min: 0, max: 1_000_000 };
    /// `nodata-per-second`.
    pub const NODATA_PER_SECOND: Limit<u32> = Limit { default: 200, min: 0, max: 1_000_000 };
    /// `referrals-per-second`.
    pub const REFERRALS_PER_SECOND: Limit<u32> = Limit { default: 200, min: 0, max: 1_000_000 };
    /// `errors-per-second`.
    pub const ERRORS_PER_SECOND: Limit<u32> = Limit { default: 200, min: 0, max: 1_000_000 };
    /// `all-per-second` (off, as in BIND).
    pub const ALL_PER_SECOND: Limit<u32> = Limit { default: 0, min: 0, max: 1_000_000 };
    /// `window`, seconds (BIND: 15, 1..=3600).
    pub const WINDOW: Limit<u32> = Limit { default: 15, min: 1, max: 3600 };
    /// `slip` (BIND: 2, 0..=10).
    pub const SLIP: Limit<u8> = Limit { default: 2, min: 0, max: 10 };
    /// `ipv4-prefix-length`.
    pub const IPV4_PREFIX_LENGTH: Limit<u8> = Limit { default: 24, min: 0, max: 32 };
    /// `ipv6-prefix-length`.
    pub const IPV6_PREFIX_LENGTH: Limit<u8> = Limit { default: 56, min: 0, max: 128 };
    /// `table-size`, buckets (32 bytes each; default 2 MiB).
    pub const TABLE_SIZE: Limit<u32> = Limit { default: 65_536, min: 1024, max: 4_194_304 };

    const fn defaults(enabled: bool) -> Self {
        Self {
            enabled,
            responses_per_second: Self::RESPONSES_PER_SECOND.default,
            nxdomains_per_second: Self::NXDOMAINS_PER_SECOND.default,
            nodata_per_second: Self::NODATA_PER_SECOND.default,
            referrals_per_second: Self::REFERRALS_PER_SECOND.default,
            errors_per_second: Self::ERRORS_PER_SECOND.default,
            all_per_second: Self::ALL_PER_SECOND.default,
            window: Self::WINDOW.default,
            slip: Self::SLIP.default,
            ipv4_prefix_length: Self::IPV4_PREFIX_LENGTH.default,
            ipv6_prefix_length: Self::IPV6_PREFIX_LENGTH.default,
            exempt: Vec::new(),
            log_only: false,
            table_size: Self::TABLE_SIZE.default,
        }
    }

    /// The rate of accounts of `kind`.
    pub fn rate(&self, kind: ResponseKind) -> u32 {
        match kind {
            ResponseKind::Answer => self.responses_per_second,
            ResponseKind::NxDomain => self.nxdomains_per_second,
            ResponseKind::NoData => self.nodata_per_second,
            ResponseKind::Referral => self.referrals_per_second,
            ResponseKind::Error => self.errors_per_second,
        }
    }
}

impl Default for RrlSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The rate limiter: one per server, shared by all UDP workers through `&self`.
#[derive(Debug)]
pub struct Rrl {
    settings: RrlSettings,
    hash_key: [u8; 16],
    shards: Box<[Shard]>,
    sets_per_shard: usize,
    counters: Arc<RrlCounters>,
}

impl Rrl {
    /// Builds the limiter and, when enabled, preallocates its whole table. `hash_key` must be
    /// secret and random (the caller's CSPRNG); settings out of range are clamped.
    pub fn new(settings: &RrlSettings, hash_key: [u8; 16], counters: Arc<RrlCounters>) -> Self {
        let settings = clamped(settings);
        let (shards, sets_per_shard) = if settings.enabled { allocate(settings.table_size) } else { (Box::default(), 0) };
        Self { settings, hash_key, shards, sets_per_shard, counters }
    }

    /// The settings in force (after clamping).
    pub fn settings(&self) -> &RrlSettings {
        &self.settings
    }

    /// The counters.
    pub fn counters(&self) -> &Arc<RrlCounters> {
        &self.counters
    }

    /// Buckets in the table (0 when disabled); fixed for the limiter's life.
    pub fn capacity(&self) -> usize {
        self.shards.len() * self.sets_per_shard * WAYS
    }

    /// The keyed hash naming an account: the lower-cased `name` (what [`ResponseKind`]
    /// prescribes for `kind`), plus `qtype` for answers; 0 for errors.
    pub fn name_hash(&self, kind: ResponseKind, name: &NameBuf, qtype: Rtype) -> u64 {
        if kind == ResponseKind::Error {
            return 0;
        }
        let mut buffer = [0u8; 257];
        let wire = name.as_wire();
        buffer[..wire.len()].copy_from_slice(wire);
        buffer[..wire.len()].make_ascii_lowercase();
        let qtype = if kind == ResponseKind::Answer { qtype.0 } else { 0 };
        buffer[wire.len()..wire.len() + 2].copy_from_slice(&qtype.to_be_bytes());
        keyed_hash(&self.hash_key, &buffer[..wire.len() + 2])
    }

    /// Charges one response and says what to do with it. Never allocates.
    pub fn account(&self, key: RrlKey, now: Instant) -> RrlVerdict {
        if !self.settings.enabled {
            return RrlVerdict::Send;
        }
        if self.is_exempt(&key) {
            self.counters.add(key.kind, RrlEvent::Exempt);
            return RrlVerdict::Send;
        }
        let prefix = self.client_prefix(key.client);
        let now = now.as_secs();
        if self.settings.all_per_second > 0 && self.debit(&prefix, None, 0, now) != Debit::Send {
            self.counters.all_limited.fetch_add(1, Ordering::Relaxed);
            return self.limited(key.kind, RrlVerdict::Drop);
        }
        if self.settings.rate(key.kind) == 0 {
            self.counters.add(key.kind, RrlEvent::Sent);
            return RrlVerdict::Send;
        }
        match self.debit(&prefix, Some(key.kind), key.name_hash, now) {
            Debit::Send => {
                self.counters.add(key.kind, RrlEvent::Sent);
                RrlVerdict::Send
            }
            Debit::Slip if key.kind != ResponseKind::Error => self.limited(key.kind, RrlVerdict::Slip(slip_reply(key.cookie))),
            Debit::Slip | Debit::Drop => self.limited(key.kind, RrlVerdict::Drop),
        }
    }

    /// The client aggregated to the configured prefix length.
    pub fn client_prefix(&self, client: IpAddr) -> Prefix {
        let probe = Prefix::host(client);
        let len = if probe.addr().is_ipv4() { self.settings.ipv4_prefix_length } else { self.settings.ipv6_prefix_length };
        Prefix::covering(client, len)
    }

    fn is_exempt(&self, key: &RrlKey) -> bool {
        key.transport.is_stream() || key.cookie == QueryCookie::Verified || self.settings.exempt.iter().any(|net| net.contains(key.client))
    }

    /// Counts a limited response, or lets it through in log-only mode.
    fn limited(&self, kind: ResponseKind, verdict: RrlVerdict) -> RrlVerdict {
        if self.settings.log_only {
            self.counters.add(kind, RrlEvent::WouldLimit);
            return RrlVerdict::Send;
        }
        let event = if verdict == RrlVerdict::Drop { RrlEvent::Dropped } else { RrlEvent::Slipped };
        self.counters.add(kind, event);
        verdict
    }

    /// Debits the account of (`prefix`, `kind`, `name_hash`); `kind` `None` is all-per-second.
    fn debit(&self, prefix: &Prefix, kind: Option<ResponseKind>, name_hash: u64, now: u64) -> Debit {
        let rate = kind.map_or(self.settings.all_per_second, |kind| self.settings.rate(kind));
        let policy = DebitPolicy {
            rate: i64::from(rate),
            window: u64::from(self.settings.window),
            slip: if kind.is_some() { u32::from(self.settings.slip) } else { 0 },
        };
        let hash = self.bucket_hash(prefix, kind, name_hash);
        let shard_index = (hash as usize) % SHARDS;
        let set_index = ((hash >> 6) as usize) % self.sets_per_shard.max(1);
        let Some(shard) = self.shards.get(shard_index) else { return Debit::Send };
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(set) = shard.get_mut(set_index * WAYS..(set_index + 1) * WAYS) else { return Debit::Send };
        let (bucket, evicted) = find_or_claim(set, hash.max(1), policy.rate, now);
        if evicted {
            self.counters.evictions.fetch_add(1, Ordering::Relaxed);
        }
        policy.debit(bucket, now)
    }

    fn bucket_hash(&self, prefix: &Prefix, kind: Option<ResponseKind>, name_hash: u64) -> u64 {
        let mut message = [0u8; 27];
        message[..18].copy_from_slice(&prefix.to_key_bytes());
        message[18] = kind.map_or(0xff, ResponseKind::index) as u8;
        message[19..].copy_from_slice(&name_hash.to_le_bytes());
        keyed_hash(&self.hash_key, &message)
    }
}

/// One lock's share of the table: `sets_per_shard * WAYS` buckets.
type Shard = Mutex<Box<[Bucket]>>;

/// One account: 32 bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// Keyed hash of the account; 0 = free.
    tag: u64,
    /// Second of the last debit.
    last: u64,
    /// Signed credit: responses that may still be sent this second.
    balance: i64,
    /// Limited responses since the last slip, modulo `slip`.
    slip_count: u32,
}

/// The outcome of one debit, before kind and cookie decide how to slip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Debit {
    Send,
    Slip,
    Drop,
}

/// The numbers one debit needs.
#[derive(Clone, Copy, Debug)]
struct DebitPolicy {
    rate: i64,
    window: u64,
    slip: u32,
}

impl DebitPolicy {
    /// BIND's `debit_rrl_entry`: credit the elapsed seconds, debit one, bound the debt, slip.
    fn debit(self, bucket: &mut Bucket, now: u64) -> Debit {
        let age = now.saturating_sub(bucket.last);
        if age > self.window {
            bucket.balance = self.rate;
            bucket.slip_count = 0;
        } else if age > 0 {
            bucket.balance = bucket.balance.saturating_add(self.rate.saturating_mul(age as i64));
            if bucket.balance > self.rate {
                bucket.balance = self.rate;
                bucket.slip_count = 0;
            }
        }
        bucket.last = now;
        bucket.balance -= 1;
        if bucket.balance >= 0 {
            return Debit::Send;
        }
        bucket.balance = bucket.balance.max(-(self.window as i64) * self.rate);
        if self.slip == 0 {
            return Debit::Drop;
        }
        let first = bucket.slip_count == 0;
        bucket.slip_count += 1;
        if bucket.slip_count >= self.slip {
            bucket.slip_count = 0;
        }
        if first {
            Debit::Slip
        } else {
            Debit::Drop
        }
    }
}

/// The bucket tagged `tag`, or the set's free or least recently used one, reset to full credit.
fn find_or_claim(set: &mut [Bucket], tag: u64, rate: i64, now: u64) -> (&mut Bucket, bool) {
    if let Some(index) = set.iter().position(|bucket| bucket.tag == tag) {
        return (&mut set[index], false);
    }
    let chosen = set.iter().enumerate().min_by_key(|(_, bucket)| (bucket.tag != 0, bucket.last)).map_or(0, |(index, _)| index);
    let bucket = &mut set[chosen];
    let evicted = bucket.tag != 0;
    *bucket = Bucket { tag, last: now, balance: rate, slip_count: 0 };
    (bucket, evicted)
}

fn slip_reply(cookie: QueryCookie) -> SlipReply {
    match cookie {
        QueryCookie::Absent => SlipReply::Truncate,
        QueryCookie::Unverified | QueryCookie::Verified => SlipReply::BadCookie,
    }
}

/// The table: `SHARDS` shards of `sets` sets of `WAYS` buckets, at least `size` in all.
fn allocate(size: u32) -> (Box<[Shard]>, usize) {
    let sets = (size as usize).div_ceil(SHARDS * WAYS).max(1);
    let shards = (0..SHARDS).map(|_| Mutex::new(vec![Bucket::default(); sets * WAYS].into_boxed_slice())).collect();
    (shards, sets)
}

fn clamped(settings: &RrlSettings) -> RrlSettings {
    let clamp32 = |value: u32, limit: Limit<u32>| value.clamp(limit.min, limit.max);
    let clamp8 = |value: u8, limit: Limit<u8>| value.clamp(limit.min, limit.max);
    RrlSettings {
        responses_per_second: clamp32(settings.responses_per_second, RrlSettings::RESPONSES_PER_SECOND),
        nxdomains_per_second: clamp32(settings.nxdomains_per_second, RrlSettings::NXDOMAINS_PER_SECOND),
        nodata_per_second: clamp32(settings.nodata_per_second, RrlSettings::NODATA_PER_SECOND),
        referrals_per_second: clamp32(settings.referrals_per_second, RrlSettings::REFERRALS_PER_SECOND),
        errors_per_second: clamp32(settings.errors_per_second, RrlSettings::ERRORS_PER_SECOND),
        all_per_second: clamp32(settings.all_per_second, RrlSettings::ALL_PER_SECOND),
        window: clamp32(settings.window, RrlSettings::WINDOW),
        slip: clamp8(settings.slip, RrlSettings::SLIP),
        ipv4_prefix_length: clamp8(settings.ipv4_prefix_length, RrlSettings::IPV4_PREFIX_LENGTH),
        ipv6_prefix_length: clamp8(settings.ipv6_prefix_length, RrlSettings::IPV6_PREFIX_LENGTH),
        table_size: clamp32(settings.table_size, RrlSettings::TABLE_SIZE),
        ..settings.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rate: i64, window: u64, slip: u32) -> DebitPolicy {
        DebitPolicy { rate, window, slip }
    }

    #[test]
    fn bind_debit_credits_elapsed_seconds_up_to_one_second() {
        let mut bucket = Bucket { tag: 1, last: 0, balance: -3, slip_count: 1 };
        assert_eq!(policy(2, 15, 2).debit(&mut bucket, 1), Debit::Drop, "-3 + 2 - 1 = -2");
        assert_eq!(bucket.balance, -2);
        assert_eq!(policy(2, 15, 2).debit(&mut bucket, 3), Debit::Send, "capped at 2, then 1");
        assert_eq!((bucket.balance, bucket.slip_count), (1, 0));
    }

    #[test]
    fn bind_debit_bounds_debt_to_window() {
        let mut bucket = Bucket { tag: 1, last: 0, balance: 2, slip_count: 0 };
        for _ in 0..1000 {
            policy(2, 5, 0).debit(&mut bucket, 0);
        }
        assert_eq!(bucket.balance, -10);
    }

    #[test]
    fn lru_claims_free_then_oldest() {
        let mut set = [Bucket::default(); WAYS];
        for (index, tag) in (10..10 + WAYS as u64).enumerate() {
            let (bucket, evicted) = find_or_claim(&mut set, tag, 5, index as u64);
            assert!(!evicted && bucket.balance == 5);
        }
        let (bucket, evicted) = find_or_claim(&mut set, 99, 5, 100);
        assert!(evicted && bucket.tag == 99);
        assert!(set.iter().all(|b| b.tag != 10), "the oldest (tag 10) went");
    }
}
