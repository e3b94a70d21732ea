//! The DNS tunnelling detector (issue 16 item 1; SECURITY-REFERENCE §4.1): data carried in
//! query names towards a domain whose server is the other end of the tunnel (iodine, dnscat2,
//! dns2tcp, exfiltration by lookups).
//!
//! Accounts are kept per (client prefix, registered domain): the client aggregated to
//! `prefix_v4`/`prefix_v6` (/32 and /64 by default) and the name's registered domain by the
//! Public Suffix List ([`name`]). Each account holds the features of a sliding window of about a
//! minute ([`window`]); their combined score ([`window::Features::score`]) over
//! [`TunnelSettings::score`] makes a detection. No weak signal alone gets there: the score is
//! the information carried (compressed size of new labels) over the budget, weighted by
//! randomness for the alphabet, carrier qtypes, NXDOMAIN ratio and distinct names.
//!
//! A detection is an [`TunnelEvent`] (drained by the server about once a second, which logs it
//! and raises an alert of kind `tunnelling`); in [`TunnelMode::Block`] the account's queries are
//! refused for the hold time ([`TunnelVerdict::Block`]: the engine answers REFUSED with EDE 15),
//! and only that account's: other clients and other domains are untouched.
//!
//! Memory is bounded: the table is allocated once ([`SHARDS`] shards behind a mutex, each a
//! set-associative array of [`WAYS`]-way sets, the least recently used account of a set giving
//! way; a set's tags sit in one cache line apart from the accounts' windows), addressed by a
//! keyed hash ([`hash`]) under a secret seed so that clients cannot aim collisions. Observing a
//! query allocates nothing; only a detection does (its event).
//!
//! Cost on the cache-hit path (issue 16 item 5): the engine lends the cache's key of the
//! question name (lower-cased, keyed hash: [`crate::cache::Owner`], made once for the lookup)
//! to [`TunnelDetector::check_lowered`], so the detector hashes no name on that path; a repeat
//! of a (client, name) pair seen in the window stops at the filter ([`recent`]). Any other query finds its account: from the parent memo ([`memo`]) when the
//! client asked about a name with the same parent before and that name's split holds for all the
//! parent's children, else by splitting the name with the Public Suffix List (borrowed) and
//! hashing the account. It then takes one shard's
//! lock and updates the window, reusing the name's hash for the distinct-name bitmap.
//! [`TunnelDetector::full_path`] counts those queries by why the filter sent them.

pub mod hash;
mod holds;
pub mod memo;
pub mod name;
pub mod recent;
pub mod window;

use crate::base::{Instant, Limit, Prefix};
use hash::Seed;
use memo::{Memo, Memoed};
use name::Labels;
use recent::Seen;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use window::{Features, Scale, Window};

/// Independently locked shards of the table.
pub const SHARDS: usize = 16;
/// Accounts per set.
pub const WAYS: usize = 4;
/// Events kept for the server at most between two drains.
const EVENTS_KEPT: usize = 256;
/// Slots of the repeated-name filter per account (`tunnelling-accounts` 4096: 262 144 slots,
/// 2 MiB; at most 4 Mi slots).
const RECENT_PER_ACCOUNT: usize = 64;
/// Entries of the parent memo per account (`tunnelling-accounts` 4096: 16 384 entries, 384 KiB).
const MEMO_PER_ACCOUNT: usize = 4;
/// Seconds between two events about the same account while it stays detected.
const EVENT_EVERY_SECS: u64 = 10;

/// What the detector does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelMode {
    /// Nothing: queries are not looked at.
    Off,
    /// Detections are logged and raised as alerts.
    Log,
    /// As `Log`, and the detected account's queries are refused for the hold time.
    Block,
}

impl TunnelMode {
    /// The setting's word: `off`, `log`, `block`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Log => "log",
            Self::Block => "block",
        }
    }
}

/// The detector's validated settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TunnelSettings {
    /// Off, log or block.
    pub mode: TunnelMode,
    /// Information a (client prefix, domain) may send in a minute, octets (compressed estimate).
    pub budget: u32,
    /// Distinct names a minute at which that signal counts fully.
    pub names: u32,
    /// Score (hundredths) at which a window is a detection: 100 is the budget spent by random
    /// labels with no other signal.
    pub score: u32,
    /// Seconds a detected account stays blocked after its last detection.
    pub hold: u32,
    /// Accounts kept at most.
    pub accounts: u32,
    /// IPv4 clients are aggregated to this prefix length.
    pub prefix_v4: u8,
    /// IPv6 clients are aggregated to this prefix length.
    pub prefix_v6: u8,
    /// Registered domains (and names below them) never looked at, lower-case wire form.
    pub allow_domains: Vec<Vec<u8>>,
    /// Clients never looked at.
    pub allow_clients: Vec<Prefix>,
}

impl TunnelSettings {
    /// `tunnelling-budget`: octets a minute.
    pub const BUDGET: Limit<u32> = Limit { default: 1500, min: 100, max: 1_000_000 };
    /// `tunnelling-names`: distinct names a minute.
    pub const NAMES: Limit<u32> = Limit { default: 100, min: 10, max: 1_000_000 };
    /// `tunnelling-score`: hundredths.
    pub const SCORE: Limit<u32> = Limit { default: 100, min: 10, max: 10_000 };
    /// `tunnelling-hold`: seconds.
    pub const HOLD: Limit<u32> = Limit { default: 300, min: 1, max: 86_400 };
    /// `tunnelling-accounts`.
    pub const ACCOUNTS: Limit<u32> = Limit { default: 4096, min: 64, max: 1 << 20 };
    /// `tunnelling-prefix-v4`.
    pub const PREFIX_V4: Limit<u8> = Limit { default: 32, min: 8, max: 32 };
    /// `tunnelling-prefix-v6`.
    pub const PREFIX_V6: Limit<u8> = Limit { default: 64, min: 16, max: 128 };

    /// The defaults, in log mode.
    pub fn new(mode: TunnelMode) -> Self {
        Self {
            mode,
            budget: Self::BUDGET.default,
            names: Self::NAMES.default,
            score: Self::SCORE.default,
            hold: Self::HOLD.default,
            accounts: Self::ACCOUNTS.default,
            prefix_v4: Self::PREFIX_V4.default,
            prefix_v6: Self::PREFIX_V6.default,
            allow_domains: Vec::new(),
            allow_clients: Vec::new(),
        }
    }
}

impl Default for TunnelSettings {
    fn default() -> Self {
        Self::new(TunnelMode::Log)
    }
}

/// What to do with a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelVerdict {
    /// Answer it as usual.
    Pass,
    /// Refuse it (REFUSED, EDE 15 naming the detector).
    Block,
}

/// The account a query went to (its tag), for [`TunnelDetector::nxdomain_in`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountRef(u64);

/// A detection, for the log and the alerts.
#[derive(Clone, Debug, PartialEq)]
pub struct TunnelEvent {
    /// The client prefix.
    pub client: Prefix,
    /// The registered domain, text with its final dot.
    pub domain: String,
    /// The score (1.0 at the threshold).
    pub score: f64,
    /// The features that made it.
    pub features: Features,
    /// Whether its queries are refused.
    pub blocked: bool,
    /// Detector time, seconds.
    pub at: u64,
}

/// Counters of the detector, per action.
#[derive(Debug, Default)]
pub struct TunnelCounters {
    /// Detections (events made).
    pub detections: AtomicU64,
    /// Queries refused.
    pub blocked: AtomicU64,
    /// Queries skipped by an allow-list.
    pub allowed: AtomicU64,
}

/// Queries that took the full path, by what the repeated-name filter said
/// ([`TunnelDetector::full_path`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FullPath {
    /// Not in the filter: first sightings, and names pushed out of their bucket.
    pub unknown: u64,
    /// In the filter from more than a half window before.
    pub stale: u64,
    /// Taken while some account was held (block mode).
    pub held: u64,
}

impl FullPath {
    fn count(&mut self, seen: Seen) {
        match seen {
            Seen::Unknown => self.unknown += 1,
            Seen::Stale => self.stale += 1,
            Seen::Held => self.held += 1,
            Seen::Repeat => {}
        }
    }
}

/// The tags of one set's accounts and when each was last used: one cache line, read on every
/// full-path query before a window is touched.
#[derive(Clone, Copy)]
struct Set {
    tags: [u64; WAYS],
    last: [u64; WAYS],
}

#[derive(Clone, Copy)]
struct Account {
    /// Blocked until this second (0: not blocked).
    hold_until: u64,
    /// Last event made about it.
    last_event: u64,
    window: Window,
}

impl Account {
    const EMPTY: Self = Self { hold_until: 0, last_event: 0, window: Window::EMPTY };

    /// Empties the account in place for a new owner at `now` (seconds).
    fn clear(&mut self, now: u64) {
        (self.hold_until, self.last_event) = (0, 0);
        self.window.clear(now);
    }
}

/// One shard of the account table.
struct Table {
    sets: Box<[Set]>,
    accounts: Box<[Account]>,
    full_path: FullPath,
}

/// The secret seeds of the detector's hashes, one per purpose.
struct Seeds {
    /// Query names (the filter's key, the windows' name bitmaps).
    names: Seed,
    /// Labels, with their position (the windows' label bitmaps).
    labels: Seed,
    /// Accounts (client prefix and registered domain).
    accounts: Seed,
}

/// The detector: settings, the account table, the events for the server and counters.
pub struct TunnelDetector {
    settings: TunnelSettings,
    seeds: Seeds,
    /// Repeated names, answered without the table.
    recent: recent::Recent,
    /// Parents' accounts and splits, for first sightings under a known parent.
    memo: Memo,
    shards: Box<[Mutex<Table>]>,
    sets: usize,
    events: Mutex<Vec<TunnelEvent>>,
    /// Counted by action.
    pub counters: TunnelCounters,
}

impl std::fmt::Debug for TunnelDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelDetector").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// The tweak of whole names' hashes.
const NAME_TWEAK: u64 = 0xff;

impl TunnelDetector {
    /// A detector with `settings` (clamped to their bounds) hashing under the secret `key`.
    pub fn new(settings: TunnelSettings, key: [u8; 16]) -> Self {
        let settings = clamped(settings);
        let sets = (settings.accounts as usize).div_ceil(SHARDS * WAYS).max(1);
        let table = || Table {
            sets: vec![Set { tags: [0; WAYS], last: [0; WAYS] }; sets].into_boxed_slice(),
            accounts: vec![Account::EMPTY; sets * WAYS].into_boxed_slice(),
            full_path: FullPath::default(),
        };
        let shards = (0..SHARDS).map(|_| Mutex::new(table())).collect();
        let secret = |purpose: &[u8]| crate::base::hash::keyed_hash(&key, purpose);
        let seeds =
            Seeds { names: Seed::new(secret(b"tunnel names")), labels: Seed::new(secret(b"tunnel labels")), accounts: Seed::new(secret(b"tunnel accounts")) };
        let recent = recent::Recent::new((settings.accounts as usize * RECENT_PER_ACCOUNT).clamp(1 << 16, 1 << 22), secret(b"tunnel recent"));
        let memo = Memo::new(settings.accounts as usize * MEMO_PER_ACCOUNT, secret(b"tunnel memo"));
        Self { settings, seeds, recent, memo, shards, sets, events: Mutex::new(Vec::new()), counters: TunnelCounters::default() }
    }

    /// The settings in force.
    pub fn settings(&self) -> &TunnelSettings {
        &self.settings
    }

    /// Looks at a query for `qname` (uncompressed wire form) of `qtype` from `client` at `now`,
    /// and says whether to answer it. Allocates nothing unless it makes a detection.
    pub fn observe(&self, now: Instant, client: IpAddr, qname: &[u8], qtype: u16) -> TunnelVerdict {
        self.check(now, client, qname, qtype).0
    }

    /// [`observe`](Self::observe), with the account the query went to (for
    /// [`nxdomain_in`](Self::nxdomain_in) once its answer is known, without splitting and hashing
    /// the name again); `None` when the query was not looked at.
    #[inline]
    pub fn check(&self, now: Instant, client: IpAddr, qname: &[u8], qtype: u16) -> (TunnelVerdict, Option<AccountRef>) {
        if self.settings.mode == TunnelMode::Off {
            return (TunnelVerdict::Pass, None);
        }
        let mut buffer = [0u8; 255];
        let lower = if hash::has_upper(qname) { lowered(qname, &mut buffer) } else { qname };
        self.check_lowered(now, client, lower, self.seeds.names.of(NAME_TWEAK, lower), qtype)
    }

    /// [`check`](Self::check) of a name lower-cased and hashed already: `qname` is lower-case
    /// and `name_hash` a keyed hash of it (the engine lends the cache's owner key,
    /// [`crate::cache::Owner`], made once for the lookup: the cache-hit path hashes the name
    /// once, issue 16 item 5).
    #[inline]
    pub fn check_lowered(&self, now: Instant, client: IpAddr, qname: &[u8], name_hash: u64, qtype: u16) -> (TunnelVerdict, Option<AccountRef>) {
        if self.settings.mode == TunnelMode::Off {
            return (TunnelVerdict::Pass, None);
        }
        let now = now.as_secs();
        let key = self.recent.key(client, name_hash);
        let (seen, way) = self.recent.seen(key, now);
        if seen == Seen::Repeat {
            return (TunnelVerdict::Pass, None);
        }
        self.full(&Query { now, client, qtype, name_hash, key, seen, way }, qname)
    }

    /// Queries that took the full path so far, by what the repeated-name filter said.
    pub fn full_path(&self) -> FullPath {
        self.shards.iter().fold(FullPath::default(), |sum, shard| {
            let counts = shard.lock().unwrap_or_else(PoisonError::into_inner).full_path;
            FullPath { unknown: sum.unknown + counts.unknown, stale: sum.stale + counts.stale, held: sum.held + counts.held }
        })
    }

    /// The full path of [`check`](Self::check): `qname` is lower-case.
    #[inline(never)]
    fn full(&self, query: &Query, qname: &[u8]) -> (TunnelVerdict, Option<AccountRef>) {
        let Some((name, tag)) = self.account_of(query.client, qname) else { return (TunnelVerdict::Pass, None) };
        let (verdict, detection) = self.with_account(tag, query.now, Some(query.seen), |account| self.update(account, &name, query));
        if let Some((score, features, blocked)) = detection {
            self.push_event(TunnelEvent { client: self.prefix_of(query.client), domain: name.registered_text(), score, features, blocked, at: query.now });
        }
        match verdict {
            TunnelVerdict::Block => _ = self.counters.blocked.fetch_add(1, Ordering::Relaxed),
            TunnelVerdict::Pass => self.recent.remember(query.key, query.now, query.way),
        }
        (verdict, Some(AccountRef(tag)))
    }

    /// Counts an NXDOMAIN answer in `account` (from [`check`](Self::check)).
    pub fn nxdomain_in(&self, now: Instant, account: AccountRef) {
        self.with_account(account.0, now.as_secs(), None, |account| account.window.nxdomain());
    }

    /// Counts an NXDOMAIN answer to a query [`observe`](Self::observe) looked at.
    pub fn nxdomain(&self, now: Instant, client: IpAddr, qname: &[u8]) {
        let mut lower = [0u8; 255];
        let Some((_, tag)) = self.account_of(client, lowered(qname, &mut lower)) else { return };
        self.with_account(tag, now.as_secs(), None, |account| account.window.nxdomain());
    }

    /// The detections made since the last call, oldest first.
    pub fn drain_events(&self) -> Vec<TunnelEvent> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The account of a query for the lower-case `qname` from `client`: the split name and the
    /// account's tag; `None` when the query is not looked at. The split and the tag come from
    /// the parent memo when it has the name's parent for this client ([`memo`]).
    #[inline]
    fn account_of<'a>(&self, client: IpAddr, qname: &'a [u8]) -> Option<(Labels<'a>, u64)> {
        if self.settings.mode == TunnelMode::Off {
            return None;
        }
        if !self.settings.allow_clients.is_empty() && self.allowed_client(client) {
            self.counters.allowed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let parent = qname.get(1 + usize::from(*qname.first()?)..).filter(|parent| parent.len() > 1);
        let key = parent.map(|parent| self.memo.key(client, parent));
        if let Some(hit) = key.and_then(|key| self.memo.get(key)) {
            if let Some(name) = Labels::from_parent(qname, hit.split) {
                return Some((name, hit.tag));
            }
        }
        self.split_account(client, qname, key)
    }

    /// True when `client` is on the allow-list of clients (apart, as
    /// [`prefix_of`](Self::prefix_of)).
    #[inline(never)]
    fn allowed_client(&self, client: IpAddr) -> bool {
        self.settings.allow_clients.iter().any(|allowed| allowed.contains(client))
    }

    /// [`account_of`](Self::account_of) when the parent memo has nothing: the name split with
    /// the Public Suffix List, the allow-list of domains, the account's hash; the split entered
    /// in the memo under `key` when it holds for the parent's children. Apart (not inlined), so
    /// that the memo's hits do not make room for it.
    #[inline(never)]
    fn split_account<'a>(&self, client: IpAddr, qname: &'a [u8], key: Option<u64>) -> Option<(Labels<'a>, u64)> {
        let (name, split) = Labels::split_with_parent(qname)?;
        if self.settings.allow_domains.iter().any(|domain| is_at_or_below(name.registered_wire(), domain)) {
            self.counters.allowed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let tag = self.tag(&self.prefix_of(client), name.registered_wire());
        if let (Some(key), Some(split)) = (key, split) {
            self.memo.put(key, Memoed { tag, split });
        }
        Some((name, tag))
    }

    /// The prefix `client` is counted under. Apart (not inlined): only a memo miss and a
    /// detection need it, and inlined it made every full path unpack the address.
    #[inline(never)]
    fn prefix_of(&self, client: IpAddr) -> Prefix {
        let len = if client.is_ipv4() { self.settings.prefix_v4 } else { self.settings.prefix_v6 };
        Prefix::covering(crate::base::prefix::canonical(client), len)
    }

    /// The account's tag: a keyed hash of the prefix and the domain (lower-case wire form);
    /// never 0 (an empty slot).
    fn tag(&self, prefix: &Prefix, domain: &[u8]) -> u64 {
        let prefix = prefix_words(prefix);
        let domain = self.seeds.accounts.of(prefix[2], domain);
        self.seeds.accounts.pair(domain ^ prefix[0], prefix[1]) | 1
    }

    /// The shard and the set of the account `tag`.
    fn place(&self, tag: u64) -> (usize, usize) {
        // The set by multiply-shift (no division): the high half of the tag scaled to `sets`.
        ((tag as usize) % SHARDS, (((tag >> 32) * self.sets as u64) >> 32) as usize)
    }

    /// Runs `f` on the account `tag`, claiming the least recently used of its set if needed;
    /// counts `seen` in the shard's full-path counts.
    fn with_account<R>(&self, tag: u64, now: u64, seen: Option<Seen>, f: impl FnOnce(&mut Account) -> R) -> R {
        let (shard, set_index) = self.place(tag);
        let mut table = self.shards[shard].lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(seen) = seen {
            table.full_path.count(seen);
        }
        let set = &mut table.sets[set_index];
        let way = match set.tags.iter().position(|&held| held == tag) {
            Some(way) => way,
            None => {
                let way = (0..WAYS).min_by_key(|&way| (set.tags[way] != 0, set.last[way])).unwrap_or(0);
                set.tags[way] = tag;
                table.accounts[set_index * WAYS + way].clear(now);
                way
            }
        };
        table.sets[set_index].last[way] = now;
        let account = &mut table.accounts[set_index * WAYS + way];
        account.window.advance(now);
        f(account)
    }

    /// Adds the query to the account; scores the window when the query brought a new label.
    fn update(&self, account: &mut Account, name: &Labels<'_>, query: &Query) -> (TunnelVerdict, Option<(f64, Features, bool)>) {
        let now = query.now;
        account.window.query(query.qtype);
        let mut fresh = false;
        if name.subdomain_labels() > 0 {
            // The whole name's hash: within one account the registered domain is the same.
            account.window.name(query.name_hash);
            for (index, label) in name.subdomain().enumerate() {
                let position = (name.subdomain_labels() - index) as u64;
                fresh |= account.window.label(self.seeds.labels.of(position, label), label);
            }
        }
        let blocking = self.settings.mode == TunnelMode::Block;
        let held = blocking && now < account.hold_until;
        let scale = Scale { budget: f64::from(self.settings.budget), names: f64::from(self.settings.names) };
        // Scoring costs a pass over the histogram: only when new labels came and enough of
        // them to reach the threshold at the highest weights.
        if !fresh || !account.window.may_reach(scale, f64::from(self.settings.score) / 100.0) {
            return (if held { TunnelVerdict::Block } else { TunnelVerdict::Pass }, None);
        }
        let features = account.window.features();
        let score = features.score(scale) * 100.0 / f64::from(self.settings.score);
        if score < 1.0 {
            return (if held { TunnelVerdict::Block } else { TunnelVerdict::Pass }, None);
        }
        if blocking {
            account.hold_until = now + u64::from(self.settings.hold);
            self.recent.hold_until(account.hold_until);
        }
        let event = (account.last_event == 0 || now >= account.last_event + EVENT_EVERY_SECS).then(|| {
            account.last_event = now;
            (score, features, blocking)
        });
        (if blocking { TunnelVerdict::Block } else { TunnelVerdict::Pass }, event)
    }

    fn push_event(&self, event: TunnelEvent) {
        self.counters.detections.fetch_add(1, Ordering::Relaxed);
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        if events.len() < EVENTS_KEPT {
            events.push(event);
        }
    }
}

/// What [`TunnelDetector::check`] learnt of a query before its full path.
struct Query {
    now: u64,
    client: IpAddr,
    qtype: u16,
    /// The lower-case name's hash.
    name_hash: u64,
    /// Its key in the repeated-name filter.
    key: u64,
    /// What the filter said.
    seen: Seen,
    /// The filter's slot for it.
    way: usize,
}

/// A prefix's key bytes as three words: the address's first and last eight octets, then its
/// family and length.
#[inline]
fn prefix_words(prefix: &Prefix) -> [u64; 3] {
    let bytes = prefix.to_key_bytes();
    let word =
        |at: usize| u64::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3], bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
    [word(0), word(8), u64::from(u16::from_le_bytes([bytes[16], bytes[17]]))]
}

/// `qname` lower-cased into `buffer`.
fn lowered<'a>(qname: &[u8], buffer: &'a mut [u8; 255]) -> &'a [u8] {
    let len = qname.len().min(255);
    for (to, from) in buffer.iter_mut().zip(&qname[..len]) {
        *to = from.to_ascii_lowercase();
    }
    &buffer[..len]
}

/// True when `name` (wire) is `domain` (wire) or below it.
fn is_at_or_below(name: &[u8], domain: &[u8]) -> bool {
    name.len() >= domain.len() && name.ends_with(domain) && {
        // `domain` must start at a label boundary of `name`.
        let mut at = 0usize;
        let start = name.len() - domain.len();
        while at < start {
            at += 1 + usize::from(name[at]);
        }
        at == start
    }
}

fn clamped(settings: TunnelSettings) -> TunnelSettings {
    let clamp = |value: u32, limit: Limit<u32>| value.clamp(limit.min, limit.max);
    TunnelSettings {
        budget: clamp(settings.budget, TunnelSettings::BUDGET),
        names: clamp(settings.names, TunnelSettings::NAMES),
        score: clamp(settings.score, TunnelSettings::SCORE),
        hold: clamp(settings.hold, TunnelSettings::HOLD),
        accounts: clamp(settings.accounts, TunnelSettings::ACCOUNTS),
        prefix_v4: settings.prefix_v4.clamp(TunnelSettings::PREFIX_V4.min, TunnelSettings::PREFIX_V4.max),
        prefix_v6: settings.prefix_v6.clamp(TunnelSettings::PREFIX_V6.min, TunnelSettings::PREFIX_V6.max),
        ..settings
    }
}

#[cfg(test)]
mod tests;
