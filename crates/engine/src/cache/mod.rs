//! The resolver's cache: RRsets in wire form keyed by (lower-cased owner, type, class), negative
//! entries (RFC 2308), resolution failures (RFC 9520) and stale data (RFC 8767).
//!
//! - **Shards**: the key's owner picks one of [`CacheSettings::shards`] shards, each under its own
//!   mutex, with its share of the entry and byte budget; the least recently used entry of a shard
//!   is evicted first. The lower-cased owner is hashed once per lookup with keyed SipHash (the
//!   caller supplies the key) so that owners cannot be chosen to collide; the type is mixed in per
//!   probe (`key.rs`, `shard.rs`).
//! - **Credibility** (RFC 2181 §5.4.1, [`Trust`]): data never replaces unexpired data of a higher
//!   rank; clients are only shown [`Trust::Answer`] or better.
//! - **Limits** (SECURITY-REFERENCE §2.1, §7, BIND CVE-2024-1737): an RRset of more than
//!   [`CacheSettings::max_rrs_per_rrset`] records, or a new type at an owner that already has
//!   [`CacheSettings::max_types_per_owner`], is not cached.
//! - **TTLs**: clamped to `[min_ttl, max_ttl]` (Unbound's `cache-min-ttl` 0, `cache-max-ttl`
//!   86400); negative TTL = min(SOA TTL, SOA MINIMUM) (RFC 2308 §5) capped at
//!   `max_negative_ttl` (3600). Written TTLs count down from the `now` of each lookup.
//! - **Prefetch**: a hit with less than [`CacheSettings::prefetch_percent`] of its TTL left says
//!   so ([`Hit::prefetch`]); the caller decides to refresh it.
//! - **Serve-stale** (RFC 8767, off by default): expired data is kept for
//!   [`CacheSettings::stale_retain_secs`] and returned, with TTL
//!   [`CacheSettings::stale_answer_ttl`], only to lookups that pass `allow_stale`.
//!
//! [`Cache::write_answer`] answers a client question from the cache into a [`MessageWriter`]
//! without allocating (CNAME chains followed in the cache, at most [`MAX_CHAIN`] links).

#![warn(missing_docs)]

pub mod aggressive;
mod aggressive_nsec3;
mod entry;
pub mod failed_checks;
mod flush;
pub mod handover;
mod handover_record;
#[cfg(test)]
mod handover_tests;
mod key;
pub mod keys;
mod security;
mod shard;
#[cfg(test)]
mod tests;

pub use entry::{negative_ttl, Rrset, Security, Trust};

use crate::base::Instant;
use entry::{Entry, EntryKind};
pub use key::Owner;
use key::{FailureKey, KeyedState};
use portcullis_wire::message::{Question, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};
use shard::{Failure, Shard};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Most CNAME links followed when answering from the cache (SECURITY-REFERENCE §7).
pub const MAX_CHAIN: usize = 11;

/// Longest time bogus data is kept (Unbound's `val-bogus-ttl` 60 s): long enough to spare the
/// servers a retry storm, short enough that a repaired zone is seen soon.
pub const BOGUS_TTL: u32 = 60;

/// The reserved type under which a name's NXDOMAIN entry is kept.
const NXDOMAIN_TYPE: Rtype = Rtype(0);

/// Cache settings; [`CacheSettings::DEFAULT`] follows Unbound and SECURITY-REFERENCE §7.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSettings {
    /// Most entries in all.
    pub max_entries: usize,
    /// Most bytes in all (entries and their bookkeeping).
    pub max_bytes: usize,
    /// Number of shards (at least 1).
    pub shards: usize,
    /// Smallest TTL kept (Unbound `cache-min-ttl`).
    pub min_ttl: u32,
    /// Largest TTL kept (Unbound `cache-max-ttl`).
    pub max_ttl: u32,
    /// Largest negative TTL kept (Unbound `cache-max-negative-ttl`).
    pub max_negative_ttl: u32,
    /// Most records in one cached RRset.
    pub max_rrs_per_rrset: usize,
    /// Most types cached at one owner.
    pub max_types_per_owner: u16,
    /// Hits with less than this percentage of their TTL left report `prefetch`.
    pub prefetch_percent: u8,
    /// Keep expired data and serve it when asked (RFC 8767).
    pub serve_stale: bool,
    /// How long expired data is kept for serve-stale, in seconds.
    pub stale_retain_secs: u32,
    /// TTL written for stale data (RFC 8767 §4: 30 s).
    pub stale_answer_ttl: u32,
    /// First hold-down of a failed question, in seconds (RFC 9520 §3.2: 5 s, doubling).
    pub failure_initial_secs: u32,
    /// Longest hold-down of a failed question (RFC 9520: at most 5 minutes).
    pub failure_max_secs: u32,
    /// Secret key of the shard and table hashes.
    pub hash_key: [u8; 16],
}

impl CacheSettings {
    /// The defaults.
    pub const DEFAULT: Self = Self {
        max_entries: 200_000,
        max_bytes: 128 << 20,
        shards: 16,
        min_ttl: 0,
        max_ttl: 86_400,
        max_negative_ttl: 3600,
        max_rrs_per_rrset: 100,
        max_types_per_owner: 100,
        prefetch_percent: 10,
        serve_stale: false,
        stale_retain_secs: 86_400,
        stale_answer_ttl: 30,
        failure_initial_secs: 5,
        failure_max_secs: 300,
        hash_key: [0; 16],
    };
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What an insert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored.
    Stored,
    /// Unexpired data of a higher rank is kept instead.
    KeptHigherTrust,
    /// More records than `max_rrs_per_rrset`: not cached.
    TooManyRecords,
    /// The owner already has `max_types_per_owner` types: not cached.
    TooManyTypes,
    /// A negative answer without a SOA is not cached (RFC 2308 §5).
    NoSoa,
}

/// Facts about a cache hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// TTL left in seconds (the stale answer TTL for stale data).
    pub ttl: u32,
    /// Credibility of the data.
    pub trust: Trust,
    /// Less than `prefetch_percent` of the TTL is left: refresh it now.
    pub prefetch: bool,
    /// The data has expired and is served under RFC 8767.
    pub stale: bool,
    /// What DNSSEC validation said about the data.
    pub security: Security,
    /// The Extended DNS Error code of bogus data (RFC 8914).
    pub ede: u16,
}

/// The result of a resolver-side lookup ([`Cache::get`]); owned, so it allocates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cached {
    /// An RRset.
    Positive(Rrset, Hit),
    /// The name does not exist (RFC 2308), with its SOA when known.
    NxDomain(Option<Rrset>, Hit),
    /// The name exists without data of the type (RFC 2308), with its SOA when known.
    NoData(Option<Rrset>, Hit),
}

/// The result of [`Cache::write_answer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerHit {
    /// The rcode to send.
    pub rcode: Rcode,
    /// Some entry used is close to expiry.
    pub prefetch: bool,
    /// Some entry used is stale.
    pub stale: bool,
    /// Not everything fitted: set TC.
    pub truncated: bool,
    /// The lowest validation status of the entries used ([`Security::Secure`] only when all are).
    pub security: Security,
    /// The Extended DNS Error code of a bogus entry used.
    pub ede: u16,
    /// RRSIGs are written too (the query's DO bit).
    dnssec_ok: bool,
    /// A wildcard expansion written whose kept proofs go into the authority section at the end.
    proved: Option<(NameBuf, Rtype)>,
}

/// Counters, readable while the cache is in use.
#[derive(Debug, Default)]
pub struct CacheCounters {
    /// Lookups that found usable data.
    pub hits: AtomicU64,
    /// Lookups that found nothing usable.
    pub misses: AtomicU64,
    /// Entries evicted to stay within budget.
    pub evictions: AtomicU64,
    /// Inserts refused by the per-RRset or per-owner limits.
    pub refused: AtomicU64,
}

/// The cache; shared by reference between resolutions and workers.
pub struct Cache {
    settings: CacheSettings,
    state: KeyedState,
    shards: Box<[Mutex<Shard>]>,
    /// Counters.
    pub counters: CacheCounters,
    /// The validator's key cache (DNSSEC chain of trust per zone).
    pub keys: keys::KeyCache,
    /// Validated NSEC records for aggressive negative answers (RFC 8198).
    pub nsec: aggressive::NsecIndex,
    /// Signature checks that failed lately (KeyTrap: the same failing RRSIG costs one check).
    pub failed_checks: failed_checks::FailedChecks,
    /// The trust points RFC 5011 keeps (not emptied by [`Cache::clear`]: the server stores them).
    pub trust: crate::resolve::validate::rfc5011::TrustPoints,
    /// A DNAME was stored once (never reset): until then a cached CNAME cannot have been
    /// synthesised from one, and a cache hit through a CNAME skips the walk up its owner's
    /// ancestors ([`Cache::covering_dname`]). Set before the DNAME's shard is unlocked, so a
    /// reader that sees a CNAME stored after it (under another shard's lock) sees it set.
    dname_stored: AtomicBool,
}

impl Cache {
    /// An empty cache.
    pub fn new(settings: CacheSettings) -> Self {
        let count = settings.shards.max(1);
        let state = KeyedState { key: settings.hash_key };
        let (entries, bytes) = (settings.max_entries.div_ceil(count), settings.max_bytes / count);
        let shards = (0..count).map(|_| Mutex::new(Shard::new(state, entries, bytes))).collect();
        let (keys, nsec, trust) = (keys::KeyCache::default(), aggressive::NsecIndex::default(), Default::default());
        let failed_checks = failed_checks::FailedChecks::new(settings.hash_key);
        let dname_stored = AtomicBool::new(false);
        Self { settings, state, shards, counters: CacheCounters::default(), keys, nsec, failed_checks, trust, dname_stored }
    }

    /// The settings in force.
    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// Entries held in all shards.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes charged in all shards.
    pub fn bytes(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).bytes()).sum()
    }

    /// Drops everything.
    pub fn clear(&self) {
        self.keys.clear();
        self.nsec.clear();
        self.failed_checks.clear();
        for shard in self.shards.iter() {
            lock(shard).clear();
        }
    }

    /// Stores a positive RRset with credibility `trust`, TTL clamped. An NXDOMAIN entry for the
    /// owner of no higher rank is removed.
    pub fn insert_rrset(&self, rrset: &Rrset, trust: Trust, now: Instant) -> InsertOutcome {
        self.insert_checked(rrset, trust, (Security::Indeterminate, 0), now)
    }

    /// [`Cache::insert_rrset`] with what validation said (`security`, and the EDE code of bogus
    /// data); bogus data is kept at most [`BOGUS_TTL`].
    pub fn insert_checked(&self, rrset: &Rrset, trust: Trust, (security, ede): (Security, u16), now: Instant) -> InsertOutcome {
        if rrset.rdatas.len() > self.settings.max_rrs_per_rrset || rrset.rdatas.is_empty() {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            return InsertOutcome::TooManyRecords;
        }
        let mut ttl = rrset.ttl.clamp(self.settings.min_ttl, self.settings.max_ttl.max(self.settings.min_ttl));
        if security == Security::Bogus {
            ttl = ttl.min(BOGUS_TTL);
        }
        let owner = Owner::new(&self.state, &rrset.owner);
        let mut shard = self.shard(&owner);
        if let Some(nx) = shard.find(&owner, NXDOMAIN_TYPE, rrset.class) {
            if shard.entry(nx).is_some_and(|nx| nx.trust <= trust || nx.expired(now)) {
                shard.remove(nx);
            }
        }
        let mut entry = Entry::positive(owner.wire(), rrset, ttl, trust, now);
        (entry.security, entry.ede) = (security, ede);
        self.store(&mut shard, &owner, entry, now)
    }

    /// Stores a negative entry: NXDOMAIN for `owner` when `rtype` is `None`, else NODATA for
    /// (`owner`, `rtype`), with `soa` for the authority section (RFC 2308 §5).
    pub fn insert_negative(&self, owner: &NameBuf, rtype: Option<Rtype>, class: Class, soa: Option<&Rrset>, trust: Trust, now: Instant) -> InsertOutcome {
        self.insert_negative_checked(owner, rtype, class, soa, trust, (Security::Indeterminate, 0), now)
    }

    /// The resolver's lookup: positive data at (`owner`, `rtype`) of any rank, else a NODATA entry,
    /// else an NXDOMAIN entry for `owner`. Allocates the returned copy.
    pub fn get(&self, owner: &NameBuf, rtype: Rtype, class: Class, now: Instant, allow_stale: bool) -> Option<Cached> {
        let owner = Owner::new(&self.state, owner);
        let mut shard = self.shard(&owner);
        let found = [rtype, NXDOMAIN_TYPE].into_iter().find_map(|rtype| {
            let slot = shard.find(&owner, rtype, class)?;
            shard.touch(slot);
            let entry = shard.entry(slot)?;
            let hit = self.usable(entry, now, allow_stale)?;
            Some(owned(entry, hit))
        });
        self.count(found.is_some());
        found
    }

    /// Removes the entry at (`owner`, `rtype`, `class`).
    pub fn remove(&self, owner: &NameBuf, rtype: Rtype, class: Class) -> bool {
        let owner = Owner::new(&self.state, owner);
        let mut shard = self.shard(&owner);
        let Some(slot) = shard.find(&owner, rtype, class) else { return false };
        shard.remove(slot);
        true
    }

    /// Writes the cached answer to `question` into the answer (and, for negative answers,
    /// authority) section of `writer`, following cached CNAMEs. Only data of rank
    /// [`Trust::Answer`] or better is used. On a miss the writer is left as it was and `None` is
    /// returned. Does not allocate.
    pub fn write_answer(&self, question: &Question, now: Instant, allow_stale: bool, writer: &mut MessageWriter<'_>) -> Option<AnswerHit> {
        self.write_answer_dnssec(question, now, allow_stale, false, writer)
    }

    /// [`Cache::write_answer`]; with `dnssec_ok` (the query's DO bit, RFC 4035 §3.2.1) each
    /// RRset is followed by the RRSIGs cached with it. The hit says the lowest validation status
    /// of what was written.
    pub fn write_answer_dnssec(
        &self,
        question: &Question,
        now: Instant,
        allow_stale: bool,
        dnssec_ok: bool,
        writer: &mut MessageWriter<'_>,
    ) -> Option<AnswerHit> {
        let owner = Owner::new(&self.state, &question.qname);
        self.write_answer_owned(question, &owner, now, allow_stale, dnssec_ok, writer)
    }

    /// The key of `name` (lower-cased, hashed): made once for a question whose owner key the
    /// caller needs too, then given to [`Cache::write_answer_owned`].
    #[inline]
    pub fn owner(&self, name: &NameBuf) -> Owner {
        Owner::new(&self.state, name)
    }

    /// [`Cache::write_answer_dnssec`] with the question name's key made already
    /// ([`Cache::owner`] of `question.qname`).
    pub fn write_answer_owned(
        &self,
        question: &Question,
        owner: &Owner,
        now: Instant,
        allow_stale: bool,
        dnssec_ok: bool,
        writer: &mut MessageWriter<'_>,
    ) -> Option<AnswerHit> {
        let mark = writer.mark();
        let mut state =
            AnswerHit { rcode: Rcode::NOERROR, prefetch: false, stale: false, truncated: false, security: Security::Secure, ede: 0, dnssec_ok, proved: None };
        let mut target;
        let mut name = &question.qname;
        let mut followed;
        let mut key = owner;
        for _ in 0..=MAX_CHAIN {
            match self.write_step(name, key, question, now, allow_stale, writer, &mut state) {
                Step::Done => {
                    if let Some((owner, rtype)) = state.proved.take() {
                        state.truncated |= !self.write_kept_proofs(&owner, rtype, question.qclass, now, writer);
                    }
                    self.count(true);
                    // Field by field: `proved` is spent, and copying the whole state would copy
                    // its name buffer too.
                    let AnswerHit { rcode, prefetch, stale, truncated, security, ede, dnssec_ok, proved: _ } = state;
                    return Some(AnswerHit { rcode, prefetch, stale, truncated, security, ede, dnssec_ok, proved: None });
                }
                Step::Follow(next) => {
                    target = next;
                    name = &target;
                    followed = Owner::new(&self.state, name);
                    key = &followed;
                }
                Step::Miss => break,
            }
        }
        writer.rollback(mark);
        self.count(false);
        None
    }

    /// Records a failed resolution of (`owner`, `rtype`) (RFC 9520): held down for 5 s, doubling
    /// on each further failure up to `failure_max_secs`. Returns the hold-down in seconds.
    pub fn record_failure(&self, owner: &NameBuf, rtype: Rtype, class: Class, now: Instant) -> u32 {
        let key = FailureKey::new(owner, rtype, class);
        let (initial, max) = (self.settings.failure_initial_secs, self.settings.failure_max_secs.max(1));
        let mut shard = self.failure_shard(&key.owner);
        let cap = (self.settings.max_entries / self.shards.len()).max(64);
        if shard.failures.len() >= cap {
            shard.failures.retain(|_, failure| failure.until > now);
        }
        let backoff = match shard.failures.get(&key) {
            Some(previous) if previous.until.plus_secs(u64::from(max)) > now => previous.backoff_secs.saturating_mul(2).min(max),
            _ => initial.min(max),
        };
        if shard.failures.len() < cap || shard.failures.contains_key(&key) {
            shard.failures.insert(key, Failure { until: now.plus_secs(u64::from(backoff)), backoff_secs: backoff });
        }
        backoff
    }

    /// True while (`owner`, `rtype`) is held down after a failure (RFC 9520): answer SERVFAIL
    /// without asking upstream.
    pub fn failed(&self, owner: &NameBuf, rtype: Rtype, class: Class, now: Instant) -> bool {
        let key = FailureKey::new(owner, rtype, class);
        self.failure_shard(&key.owner).failures.get(&key).is_some_and(|failure| failure.until > now)
    }

    /// Forgets a failure (after a success).
    pub fn clear_failure(&self, owner: &NameBuf, rtype: Rtype, class: Class) {
        let key = FailureKey::new(owner, rtype, class);
        self.failure_shard(&key.owner).failures.remove(&key);
    }

    fn store(&self, shard: &mut Shard, owner: &Owner, entry: Entry, now: Instant) -> InsertOutcome {
        if let Some(existing) = shard.find(owner, entry.rtype, entry.class).and_then(|slot| shard.entry(slot)) {
            if existing.trust > entry.trust && !existing.expired(now) {
                return InsertOutcome::KeptHigherTrust;
            }
            // Bogus data never replaces unexpired secure data (a forgery must not evict the truth).
            if existing.security == Security::Secure && entry.security == Security::Bogus && existing.trust >= entry.trust && !existing.expired(now) {
                return InsertOutcome::KeptHigherTrust;
            }
        } else if shard.types_at(owner) >= self.settings.max_types_per_owner {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            return InsertOutcome::TooManyTypes;
        }
        if entry.rtype == Rtype::DNAME {
            self.dname_stored.store(true, Ordering::Relaxed);
        }
        let evicted = shard.insert(owner, entry);
        self.counters.evictions.fetch_add(evicted as u64, Ordering::Relaxed);
        InsertOutcome::Stored
    }

    /// The hit facts when `entry` may be used at `now`.
    fn usable(&self, entry: &Entry, now: Instant, allow_stale: bool) -> Option<Hit> {
        if entry.expired(now) {
            let retain = u64::from(self.settings.stale_retain_secs);
            let stale_ok = allow_stale && self.settings.serve_stale && entry.expires_at.plus_secs(retain) > now;
            let hit = Hit { ttl: self.settings.stale_answer_ttl, trust: entry.trust, prefetch: true, stale: true, security: entry.security, ede: entry.ede };
            return stale_ok.then_some(hit);
        }
        let ttl = entry.remaining(now);
        let prefetch = u64::from(ttl) * 100 < u64::from(entry.original_ttl) * u64::from(self.settings.prefetch_percent);
        Some(Hit { ttl, trust: entry.trust, prefetch, stale: false, security: entry.security, ede: entry.ede })
    }

    /// One link of [`Self::write_answer`].
    #[allow(clippy::too_many_arguments)]
    fn write_step(
        &self,
        name: &NameBuf,
        owner: &Owner,
        question: &Question,
        now: Instant,
        allow_stale: bool,
        writer: &mut MessageWriter<'_>,
        state: &mut AnswerHit,
    ) -> Step {
        let follow = question.qtype != Rtype::CNAME;
        let rtypes = [Some(question.qtype), follow.then_some(Rtype::CNAME), Some(NXDOMAIN_TYPE)];
        let mut shard = self.shard(owner);
        for rtype in rtypes.into_iter().flatten() {
            let chain = follow && rtype == Rtype::CNAME;
            let found = self.found(&mut shard, owner, rtype, question.qclass, now, allow_stale);
            // Data of rank Answer or better, or a negative entry; a link of the chain only as a
            // CNAME (NODATA for type CNAME says nothing about the type asked).
            let usable = |(entry, hit): &(&Entry, Hit)| if entry.kind == EntryKind::Positive { hit.trust >= Trust::Answer } else { !chain };
            let Some((entry, hit)) = found.filter(usable) else { continue };
            if chain && !self.dname_stored.load(Ordering::Relaxed) {
                // No DNAME was ever cached: the CNAME is written from the entry found.
                state.note(&hit);
                return write_entry(name, entry, hit.ttl, true, writer, state);
            }
            if chain {
                // A CNAME synthesised from a cached DNAME comes after that DNAME (RFC 6672 §3.4).
                let target = entry.rdatas().next().and_then(|rdata| NameBuf::from_wire(rdata).ok());
                drop(shard);
                if let Some(dname) = target.and_then(|target| self.covering_dname(name, &target, question.qclass, now, allow_stale)) {
                    let _ = self.write_positive(&dname, Rtype::DNAME, question.qclass, false, now, allow_stale, writer, state);
                }
                // (The shard was unlocked meanwhile: the CNAME is looked up again.)
                return self.write_positive(name, Rtype::CNAME, question.qclass, true, now, allow_stale, writer, state).unwrap_or(Step::Miss);
            }
            state.note(&hit);
            return write_entry(name, entry, hit.ttl, false, writer, state);
        }
        Step::Miss
    }

    /// Writes the positive RRset at (`name`, `rtype`) of rank [`Trust::Answer`] or better, if
    /// it is cached and usable; `follow` as in [`write_entry`].
    #[allow(clippy::too_many_arguments)]
    fn write_positive(
        &self,
        name: &NameBuf,
        rtype: Rtype,
        class: Class,
        follow: bool,
        now: Instant,
        allow_stale: bool,
        writer: &mut MessageWriter<'_>,
        state: &mut AnswerHit,
    ) -> Option<Step> {
        let owner = Owner::new(&self.state, name);
        let mut shard = self.shard(&owner);
        let found = self.found(&mut shard, &owner, rtype, class, now, allow_stale);
        let (entry, hit) = found.filter(|(entry, hit)| entry.kind == EntryKind::Positive && hit.trust >= Trust::Answer)?;
        state.note(&hit);
        Some(write_entry(name, entry, hit.ttl, follow, writer, state))
    }

    /// The owner of the cached DNAME a CNAME from `name` to `target` was synthesised from: the
    /// closest ancestor of `name` (below the root) with a usable DNAME, when the DNAME is of rank
    /// [`Trust::Answer`] or better and its substitution gives `target` (RFC 6672 §3.4).
    pub fn covering_dname(&self, name: &NameBuf, target: &NameBuf, class: Class, now: Instant, allow_stale: bool) -> Option<NameBuf> {
        let mut ancestor = name.parent();
        while let Some(above) = ancestor.filter(|above| !above.is_root()) {
            let owner = Owner::new(&self.state, &above);
            let mut shard = self.shard(&owner);
            let found = self.found(&mut shard, &owner, Rtype::DNAME, class, now, allow_stale);
            if let Some((entry, hit)) = found.filter(|(entry, _)| entry.kind == EntryKind::Positive) {
                let to = entry.rdatas().next().and_then(|rdata| NameBuf::from_wire(rdata).ok())?;
                let substituted = name.replace_suffix(&above, &to);
                return (hit.trust >= Trust::Answer && substituted == Some(*target)).then_some(above);
            }
            drop(shard);
            ancestor = above.parent();
        }
        None
    }

    /// The entry at (`owner`, `rtype`) in `shard` (touched for the LRU), when usable at `now`.
    #[allow(clippy::too_many_arguments)]
    fn found<'s>(&self, shard: &'s mut Shard, owner: &Owner, rtype: Rtype, class: Class, now: Instant, allow_stale: bool) -> Option<(&'s Entry, Hit)> {
        let slot = shard.find(owner, rtype, class)?;
        shard.touch(slot);
        let entry = shard.entry(slot)?;
        Some((entry, self.usable(entry, now, allow_stale)?))
    }

    fn shard(&self, owner: &Owner) -> MutexGuard<'_, Shard> {
        lock(&self.shards[((owner.hash >> 32) % self.shards.len() as u64) as usize])
    }

    /// The shard holding the failures of `owner` (lower-cased).
    fn failure_shard(&self, owner: &NameBuf) -> MutexGuard<'_, Shard> {
        self.shard(&Owner::new(&self.state, owner))
    }

    fn count(&self, hit: bool) {
        let counter = if hit { &self.counters.hits } else { &self.counters.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one link of a cached answer did. `Follow` carries an inline name on purpose: the
/// answer path does not allocate.
#[allow(clippy::large_enum_variant)]
enum Step {
    Done,
    Follow(NameBuf),
    Miss,
}

impl AnswerHit {
    /// Takes in the facts of one more entry used.
    fn note(&mut self, hit: &Hit) {
        self.prefetch |= hit.prefetch;
        self.stale |= hit.stale;
        if hit.security < self.security {
            self.security = hit.security;
            self.ede = hit.ede;
        }
    }
}

/// Writes one entry for [`Cache::write_answer`]; the owner is the name as asked.
fn write_entry(name: &NameBuf, entry: &Entry, ttl: u32, follow: bool, writer: &mut MessageWriter<'_>, state: &mut AnswerHit) -> Step {
    if entry.kind != EntryKind::Positive {
        state.rcode = if entry.kind == EntryKind::NxDomain { Rcode::NXDOMAIN } else { Rcode::NOERROR };
        if let Some((soa_owner, rdata)) = entry.soa() {
            state.truncated |= writer.push(Section::Authority, &soa_owner, Rtype::SOA, entry.class, ttl, rdata).is_err();
        }
        for (owner, rtype, rdatas, sigs) in entry.proofs().filter(|_| state.dnssec_ok) {
            for (rtype, rdata) in rdatas.map(|rdata| (rtype, rdata)).chain(sigs.map(|sig| (Rtype::RRSIG, sig))) {
                state.truncated |= writer.push(Section::Authority, &owner, rtype, entry.class, ttl, rdata).is_err();
            }
        }
        return Step::Done;
    }
    let mark = writer.mark();
    // The owner is compressed once for the whole RRset, then once for its RRSIGs.
    let mut sigs = entry.sigs().filter(|_| state.dnssec_ok).peekable();
    let written = writer.push_rrset(Section::Answer, name, entry.rtype, entry.class, ttl, entry.rdatas()).is_ok()
        && (sigs.peek().is_none() || writer.push_rrset(Section::Answer, name, Rtype::RRSIG, entry.class, ttl, sigs).is_ok());
    if !written {
        writer.rollback(mark);
        state.truncated = true;
        return Step::Done;
    }
    if state.dnssec_ok && entry.proofs().next().is_some() {
        // One wildcard expansion's proofs per answer: a chain through two is resolved instead.
        if state.proved.is_some() {
            return Step::Miss;
        }
        state.proved = Some((*name, entry.rtype));
    }
    if follow {
        if let Some(target) = entry.rdatas().next().and_then(|rdata| NameBuf::from_wire(rdata).ok()) {
            return Step::Follow(target);
        }
    }
    Step::Done
}

/// An owned copy of an entry for [`Cache::get`].
fn owned(entry: &Entry, hit: Hit) -> Cached {
    let soa = || {
        entry.soa().map(|(owner, rdata)| Rrset { owner, rtype: Rtype::SOA, class: entry.class, ttl: hit.ttl, rdatas: vec![rdata.to_vec()], sigs: Vec::new() })
    };
    match entry.kind {
        EntryKind::Positive => {
            let rdatas = entry.rdatas().map(<[u8]>::to_vec).collect();
            let sigs = entry.sigs().map(<[u8]>::to_vec).collect();
            let owner = NameBuf::from_wire(entry.owner()).unwrap_or(NameBuf::ROOT);
            Cached::Positive(Rrset { owner, rtype: entry.rtype, class: entry.class, ttl: hit.ttl, rdatas, sigs }, hit)
        }
        EntryKind::NxDomain => Cached::NxDomain(soa(), hit),
        EntryKind::NoData => Cached::NoData(soa(), hit),
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}
