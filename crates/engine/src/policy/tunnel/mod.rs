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
//! way), addressed by SipHash under a secret key so that clients cannot aim collisions.
//! Observing a query allocates nothing; only a detection does (its event).

mod holds;
pub mod name;
pub mod recent;
pub mod window;

use crate::base::{Instant, Limit, Prefix};
use name::SplitName;
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

#[derive(Clone, Copy)]
struct Account {
    tag: u64,
    last: u64,
    /// Blocked until this second (0: not blocked).
    hold_until: u64,
    /// Last event made about it.
    last_event: u64,
    window: Window,
}

impl Account {
    const EMPTY: Self = Self { tag: 0, last: 0, hold_until: 0, last_event: 0, window: Window::EMPTY };
}

/// The detector: settings, the account table, the events for the server and counters.
pub struct TunnelDetector {
    settings: TunnelSettings,
    key: [u8; 16],
    /// The seed of the windows' bitmap hash (from the key).
    seed: u64,
    /// Repeated names, answered without the table.
    recent: recent::Recent,
    shards: Box<[Mutex<Box<[Account]>>]>,
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

impl TunnelDetector {
    /// A detector with `settings` (clamped to their bounds) hashing under the secret `key`.
    pub fn new(settings: TunnelSettings, key: [u8; 16]) -> Self {
        let settings = clamped(settings);
        let sets = (settings.accounts as usize).div_ceil(SHARDS * WAYS).max(1);
        let shards = (0..SHARDS).map(|_| Mutex::new(vec![Account::EMPTY; sets * WAYS].into_boxed_slice())).collect();
        let seed = crate::base::hash::keyed_hash(&key, b"tunnel window seed");
        let recent = recent::Recent::new((settings.accounts as usize * RECENT_PER_ACCOUNT).clamp(1 << 16, 1 << 22), seed.rotate_left(32));
        Self { settings, key, seed, recent, shards, sets, events: Mutex::new(Vec::new()), counters: TunnelCounters::default() }
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
    pub fn check(&self, now: Instant, client: IpAddr, qname: &[u8], qtype: u16) -> (TunnelVerdict, Option<AccountRef>) {
        if self.settings.mode == TunnelMode::Off {
            return (TunnelVerdict::Pass, None);
        }
        let now = now.as_secs();
        let key = self.recent.key(client, qname);
        if self.recent.is_repeat(key, now) {
            return (TunnelVerdict::Pass, None);
        }
        let mut name = SplitName::EMPTY;
        let Some(prefix) = self.subject(client, qname, &mut name) else { return (TunnelVerdict::Pass, None) };
        let tag = self.tag(&prefix, name.registered_wire());
        let (verdict, detection) = self.with_account(tag, now, |account| self.update(account, &name, qtype, now));
        if let Some((score, features, blocked)) = detection {
            self.push_event(TunnelEvent { client: prefix, domain: name.registered_text(), score, features, blocked, at: now });
        }
        match verdict {
            TunnelVerdict::Block => _ = self.counters.blocked.fetch_add(1, Ordering::Relaxed),
            TunnelVerdict::Pass => self.recent.remember(key, now),
        }
        (verdict, Some(AccountRef(tag)))
    }

    /// Counts an NXDOMAIN answer in `account` (from [`check`](Self::check)).
    pub fn nxdomain_in(&self, now: Instant, account: AccountRef) {
        self.with_account(account.0, now.as_secs(), |account| account.window.nxdomain());
    }

    /// Counts an NXDOMAIN answer to a query [`observe`](Self::observe) looked at.
    pub fn nxdomain(&self, now: Instant, client: IpAddr, qname: &[u8]) {
        let mut name = SplitName::EMPTY;
        let Some(prefix) = self.subject(client, qname, &mut name) else { return };
        let tag = self.tag(&prefix, name.registered_wire());
        self.with_account(tag, now.as_secs(), |account| account.window.nxdomain());
    }

    /// The detections made since the last call, oldest first.
    pub fn drain_events(&self) -> Vec<TunnelEvent> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The account's prefix, with `qname` split into `name`; `None` when the query is not
    /// looked at.
    fn subject(&self, client: IpAddr, qname: &[u8], name: &mut SplitName) -> Option<Prefix> {
        if self.settings.mode == TunnelMode::Off {
            return None;
        }
        if self.settings.allow_clients.iter().any(|allowed| allowed.contains(client)) {
            self.counters.allowed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if !name.split(qname) {
            return None;
        }
        if self.settings.allow_domains.iter().any(|domain| is_at_or_below(name.registered_wire(), domain)) {
            self.counters.allowed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let len = if client.is_ipv4() { self.settings.prefix_v4 } else { self.settings.prefix_v6 };
        Some(Prefix::covering(crate::base::prefix::canonical(client), len))
    }

    /// The account's tag: SipHash under the secret key of the prefix and the domain, laid out
    /// in one buffer (one call is cheaper than a streaming hash); never 0 (an empty slot).
    fn tag(&self, prefix: &Prefix, domain: &[u8]) -> u64 {
        let mut bytes = [0u8; 18 + 255];
        bytes[..18].copy_from_slice(&prefix.to_key_bytes());
        let len = domain.len().min(255);
        bytes[18..18 + len].copy_from_slice(&domain[..len]);
        crate::base::hash::keyed_hash(&self.key, &bytes[..18 + len]) | 1
    }

    /// Runs `f` on the account `tag`, claiming the least recently used of its set if needed.
    fn with_account<R>(&self, tag: u64, now: u64, f: impl FnOnce(&mut Account) -> R) -> R {
        let shard = &self.shards[(tag as usize) % SHARDS];
        let set = ((tag >> 32) as usize) % self.sets;
        let mut table = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let ways = &mut table[set * WAYS..(set + 1) * WAYS];
        let index = match ways.iter().position(|account| account.tag == tag) {
            Some(index) => index,
            None => {
                let index = ways.iter().enumerate().min_by_key(|(_, account)| (account.tag != 0, account.last)).map_or(0, |(index, _)| index);
                ways[index] = Account { tag, ..Account::EMPTY };
                index
            }
        };
        let account = &mut ways[index];
        account.last = now;
        account.window.advance(now);
        f(account)
    }

    /// Adds the query to the account; scores the window when the query brought a new label.
    fn update(&self, account: &mut Account, name: &SplitName, qtype: u16, now: u64) -> (TunnelVerdict, Option<(f64, Features, bool)>) {
        account.window.query(qtype);
        let mut fresh = false;
        if name.subdomain_labels() > 0 {
            account.window.name(window::hash(self.seed, 0xff, name.subdomain_wire()));
            for index in 0..name.subdomain_labels() {
                let position = (name.subdomain_labels() - index) as u8;
                let label = name.label(index);
                fresh |= account.window.label(window::hash(self.seed, position, label), label);
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
