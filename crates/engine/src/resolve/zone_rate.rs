//! [`ZoneRates`]: the defence against random-subdomain floods ("water torture", SECURITY-REFERENCE
//! §3.10 and §6 row 63), which holds back only a zone whose servers are failing at a flood's rate.
//!
//! In such a flood every client question names a new subdomain of the victim zone, misses the
//! cache and asks that zone's servers, and nearly every one of those queries ends in NXDOMAIN, or
//! in SERVFAIL, REFUSED or a timeout once the servers buckle. Honest load looks different: a busy
//! resolver asks a TLD's servers thousands of times a second on a cold cache, and they answer
//! with referrals. So the rate that counts is the rate of *failing* queries to one zone's servers
//! (an NXDOMAIN, SERVFAIL or REFUSED answer, or no answer in time):
//!
//! - Below `failure_rate` failures a second, nothing is limited, however many queries go.
//! - At `failure_rate` failures within one second the zone is **held** for [`HOLD_SECONDS`]; the
//!   hold is extended while the zone's servers keep failing at half that rate.
//! - While held, at most `query_rate` queries a second go to the zone's servers, and past that one
//!   query in `factor` (Unbound's `ratelimit` and `ratelimit-factor`), up to `query_rate` more:
//!   never more than twice `query_rate` a second, however large the flood; every other resolution
//!   that needed the zone's servers ends at once with SERVFAIL (`Failure::ZoneRateLimited`),
//!   which is not cached as the name's failure: a client that asks again is answered as soon as
//!   the zone is released, and a refused question never counts as a query sent or a failure.
//!
//! Names of other zones, and names already cached, are never touched. Each hold's start and end
//! is a [`HoldEvent`] for the log ([`ZoneRates::events`]).

use crate::base::hash::KeyedState;
use crate::base::Instant;
use portcullis_wire::NameBuf;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Zones counted before the table is emptied of older seconds.
const MAX_ZONES: usize = 65_536;
/// Zones held at once whose names are kept for the log.
const MAX_HELD: usize = 4096;
/// Events kept until [`ZoneRates::events`] takes them.
const MAX_EVENTS: usize = 256;
/// How long a hold lasts after the last second that started or extended it.
pub const HOLD_SECONDS: u64 = 5;

/// The three settings, from [`super::ResolverSettings`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneLimits {
    /// Failing queries a second to one zone's servers that hold the zone; 0 = never held.
    pub failure_rate: u32,
    /// Queries a second still sent to a held zone's servers; 0 = no limit.
    pub query_rate: u32,
    /// Past `query_rate`, one query in this many still goes (at most `query_rate` more); 0 = none.
    pub factor: u32,
}

/// A zone's hold starting or ending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HoldEvent {
    /// Failing queries within one second held the zone.
    Started {
        /// The zone, lower-cased.
        zone: NameBuf,
        /// Failures counted in the second that started the hold.
        failures: u32,
    },
    /// The zone's hold ended.
    Ended {
        /// The zone, lower-cased.
        zone: NameBuf,
        /// How long it was held.
        seconds: u64,
        /// Queries not sent to its servers during the hold.
        held_back: u64,
    },
}

/// One zone's counts in the current second.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    second: u64,
    /// Queries asked to go this second (sent or held back).
    attempts: u32,
    failures: u32,
    /// Held up to and including this second (0: never held).
    held_until: u64,
}

impl Window {
    fn roll(&mut self, second: u64) {
        if self.second != second {
            *self = Window { second, held_until: self.held_until, ..Window::default() };
        }
    }

    fn held(&self, second: u64) -> bool {
        self.held_until >= second && self.held_until > 0
    }
}

/// A held zone, for the log.
#[derive(Clone, Debug)]
struct Held {
    zone: NameBuf,
    since: u64,
    held_back: u64,
}

#[derive(Debug, Default)]
struct Table {
    windows: HashMap<u64, Window, KeyedState>,
    held: HashMap<u64, Held, KeyedState>,
    events: Vec<HoldEvent>,
}

/// The shared per-zone counters; all methods take `&self`.
#[derive(Debug, Default)]
pub struct ZoneRates {
    /// Keyed by a hash of the lowercased zone name, under the secret key of [`ZoneRates::new`].
    table: Mutex<Table>,
    hasher: KeyedState,
    /// Queries not sent because their zone was held.
    pub limited: AtomicU64,
    /// Holds started.
    pub holds: AtomicU64,
    /// Failing queries counted (NXDOMAIN, SERVFAIL, REFUSED, timeouts).
    pub failures: AtomicU64,
}

impl ZoneRates {
    /// Empty counters whose zone hashes use the secret `key` (from the I/O layer's random
    /// source, so that a flood cannot aim its zones at one bucket).
    pub fn new(key: [u8; 16]) -> Self {
        let hasher = KeyedState { key };
        let table = Table { windows: HashMap::with_hasher(hasher), held: HashMap::with_hasher(hasher), events: Vec::new() };
        Self { table: Mutex::new(table), hasher, ..Self::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn key(&self, zone: &NameBuf) -> u64 {
        self.hasher.hash_one(zone.to_lowercase().as_wire())
    }

    /// Whether one more query may go to the servers of `zone` at `now`: always, unless the zone
    /// is held and past its `query_rate` this second (then one in `factor`).
    pub fn allow(&self, zone: &NameBuf, limits: ZoneLimits, now: Instant) -> bool {
        if limits.failure_rate == 0 || limits.query_rate == 0 {
            return true;
        }
        let key = self.key(zone);
        let second = now.as_millis() / 1000;
        let mut table = self.lock();
        let Some(window) = table.windows.get_mut(&key) else { return true };
        window.roll(second);
        if !window.held(second) {
            return true;
        }
        window.attempts = window.attempts.saturating_add(1);
        let over = window.attempts.saturating_sub(limits.query_rate);
        // One in `factor` past the rate, and at most `query_rate` of those: never more than
        // twice the rate reaches the zone's servers, however large the flood.
        let allowed = over == 0 || (limits.factor > 0 && over.is_multiple_of(limits.factor) && over / limits.factor <= limits.query_rate);
        if !allowed {
            drop_one(&mut table, key);
            self.limited.fetch_add(1, Ordering::Relaxed);
        }
        allowed
    }

    /// Counts the end of one query sent to the servers of `zone`: `failed` for an NXDOMAIN,
    /// SERVFAIL or REFUSED answer or a timeout. Failures at the flood rate hold the zone.
    pub fn record(&self, zone: &NameBuf, failed: bool, limits: ZoneLimits, now: Instant) {
        if !failed || limits.failure_rate == 0 || limits.query_rate == 0 {
            return;
        }
        self.failures.fetch_add(1, Ordering::Relaxed);
        let key = self.key(zone);
        let second = now.as_millis() / 1000;
        let mut table = self.lock();
        make_room(&mut table, key, second);
        let window = table.windows.entry(key).or_insert(Window { second, ..Window::default() });
        window.roll(second);
        window.failures = window.failures.saturating_add(1);
        let was_held = window.held(second);
        let threshold = if was_held { (limits.failure_rate / 2).max(1) } else { limits.failure_rate };
        if window.failures < threshold {
            return;
        }
        window.held_until = second + HOLD_SECONDS;
        if was_held {
            return;
        }
        let failures = window.failures;
        self.holds.fetch_add(1, Ordering::Relaxed);
        if table.held.len() < MAX_HELD {
            table.held.insert(key, Held { zone: zone.to_lowercase(), since: second, held_back: 0 });
            push_event(&mut table, HoldEvent::Started { zone: zone.to_lowercase(), failures });
        }
    }

    /// Takes the events since the last call, after ending the holds that expired before `now`.
    pub fn events(&self, now: Instant) -> Vec<HoldEvent> {
        let second = now.as_millis() / 1000;
        let mut table = self.lock();
        let Table { windows, held, events } = &mut *table;
        held.retain(|key, hold| {
            let still = windows.get(key).is_some_and(|window| window.held(second));
            if !still {
                let seconds = second.saturating_sub(hold.since);
                let ended = HoldEvent::Ended { zone: hold.zone, seconds, held_back: hold.held_back };
                if events.len() < MAX_EVENTS {
                    events.push(ended);
                }
            }
            still
        });
        std::mem::take(events)
    }

    /// Zones held at `now`.
    pub fn held_zones(&self, now: Instant) -> usize {
        let second = now.as_millis() / 1000;
        self.lock().windows.values().filter(|window| window.held(second)).count()
    }
}

/// Keeps the table bounded: when full, forgets zones neither counted this second nor held.
fn make_room(table: &mut Table, key: u64, second: u64) {
    if table.windows.len() < MAX_ZONES || table.windows.contains_key(&key) {
        return;
    }
    table.windows.retain(|_, window| window.second == second || window.held(second));
    if table.windows.len() >= MAX_ZONES {
        table.windows.retain(|_, window| window.held(second));
    }
    if table.windows.len() >= MAX_ZONES {
        table.windows.clear();
    }
}

/// Counts a query held back in the zone's hold, for its end event.
fn drop_one(table: &mut Table, key: u64) {
    if let Some(held) = table.held.get_mut(&key) {
        held.held_back += 1;
    }
}

fn push_event(table: &mut Table, event: HoldEvent) {
    if table.events.len() < MAX_EVENTS {
        table.events.push(event);
    }
}

#[cfg(test)]
#[path = "zone_rate_tests.rs"]
mod tests;
