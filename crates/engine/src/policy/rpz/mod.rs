//! Response policy zones and blocklists (issue 16 item 3), with BIND 9.18's semantics.
//!
//! [`Rpz`] is the ordered set the resolver path consults: the policy zones in configured order,
//! then the blocklists. The first source with a match decides (a PASSTHRU stops the search too).
//! Within a policy zone the trigger kinds are tried in BIND's order: client IP, QNAME, answer IP,
//! NSDNAME, NSIP ([`trigger::TriggerKind::ALL`]); among QNAME (and NSDNAME) triggers the exact
//! name beats a wildcard and the closest wildcard beats those above it; among address triggers
//! the longest prefix wins.
//!
//! Client-IP and QNAME triggers are known before resolution: [`Rpz::check_query`] settles them
//! at once unless an earlier zone has triggers that need the answer (answer IP, NSDNAME, NSIP),
//! in which case it says [`Check::NeedAnswer`] and [`Rpz::check_answer`] settles every kind
//! after resolution (or from the cache), with the [`Facts`] of the answer.
//!
//! A policy zone is an ordinary zone of the server (a primary from its file or a secondary
//! transferred from its primaries, kept current with NOTIFY): each engine built over a new
//! snapshot of it compiles it again ([`Rpz::refreshed`]); the zone's own hash table answers the
//! name lookups ([`zone`]). Blocklists are [`list::Blocklist`]s.

pub mod action;
mod eval;
pub mod fuzz;
pub mod list;
pub mod trigger;
pub mod zone;

use crate::auth::zone::Node;
use crate::auth::Zone;
pub use action::Action;
pub use list::{Blocklist, ListFormat};
use portcullis_wire::NameBuf;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
pub use trigger::TriggerKind;
use zone::PolicyZone;

/// A zone's `policy` setting: its records' actions (`given`) or one action for every trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyOverride {
    /// The actions the zone's records give.
    Given,
    /// NXDOMAIN for every trigger.
    Nxdomain,
    /// NODATA for every trigger.
    Nodata,
    /// PASSTHRU for every trigger (an allow-list zone).
    Passthru,
    /// DROP for every trigger.
    Drop,
    /// Matches are counted and logged but not applied; later sources are still consulted.
    Disabled,
}

/// One `[[rpz]]` as the engine needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSettings {
    /// The policy zone (a zone of the server's zone set).
    pub origin: NameBuf,
    /// `policy`.
    pub policy: PolicyOverride,
    /// `log`: each match raises an event ([`RpzCounters::drain_events`]).
    pub log: bool,
}

/// What a blocklist does to a listed name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListAction {
    /// NXDOMAIN with EDE 15.
    Nxdomain,
    /// REFUSED with EDE 15.
    Refused,
    /// A: 0.0.0.0, AAAA: ::, other types NODATA; EDE 15.
    Null,
}

/// One loaded `[[blocklist]]`.
#[derive(Clone, Debug)]
pub struct ListEntry {
    /// The file, for the log and the alerts.
    pub name: Arc<str>,
    /// Its names.
    pub list: Arc<Blocklist>,
    /// `action`.
    pub action: ListAction,
    /// `log`.
    pub log: bool,
}

/// What to answer instead of the resolution.
#[derive(Clone, Copy, Debug)]
pub enum Rewrite {
    /// NXDOMAIN.
    Nxdomain,
    /// NOERROR, no data.
    Nodata,
    /// No rewrite (the normal answer), later sources not consulted.
    Passthru,
    /// No reply.
    Drop,
    /// TC=1 over UDP; the normal answer over TCP.
    TcpOnly,
    /// The records of the trigger's node in the zone.
    LocalData(Node),
    /// REFUSED (blocklists).
    Refused,
    /// 0.0.0.0 / :: (blocklists).
    Null,
}

impl Rewrite {
    /// The label of the counters and the log.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Nxdomain => "nxdomain",
            Self::Nodata => "nodata",
            Self::Passthru => "passthru",
            Self::Drop => "drop",
            Self::TcpOnly => "tcp-only",
            Self::LocalData(_) => "local-data",
            Self::Refused => "refused",
            Self::Null => "null",
        }
    }

    /// Slot in [`RpzCounters::actions`].
    const fn index(self) -> usize {
        match self {
            Self::Nxdomain => 0,
            Self::Nodata => 1,
            Self::Passthru => 2,
            Self::Drop => 3,
            Self::TcpOnly => 4,
            Self::LocalData(_) => 5,
            Self::Refused => 6,
            Self::Null => 7,
        }
    }

    /// The labels in counter order.
    pub const LABELS: [&'static str; 8] = ["nxdomain", "nodata", "passthru", "drop", "tcp-only", "local-data", "refused", "null"];
}

/// A match that decides the answer.
#[derive(Clone, Copy, Debug)]
pub struct Hit<'r> {
    /// What to answer.
    pub rewrite: Rewrite,
    /// The policy zone of a local-data rewrite.
    pub zone: Option<&'r Zone>,
    /// The trigger kind (QNAME for blocklists).
    pub kind: TriggerKind,
    /// The policy zone's origin or the list's file.
    pub source: &'r str,
    /// The source is a blocklist (EDE 15) rather than a policy zone.
    pub list: bool,
}

/// The outcome of the query-time check.
#[derive(Clone, Copy, Debug)]
pub enum Check<'r> {
    /// No source matches.
    Miss,
    /// This decides.
    Hit(Hit<'r>),
    /// Settle after resolution with [`Rpz::check_answer`].
    NeedAnswer,
}

/// What the resolution found, for answer-IP, NSDNAME and NSIP triggers.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// The answer's A and AAAA addresses.
    pub addresses: Vec<IpAddr>,
    /// The NS names of the query name's closest enclosing zone known.
    pub ns_names: Vec<NameBuf>,
    /// Their addresses known.
    pub ns_addresses: Vec<IpAddr>,
}

/// One logged match (`log = true`).
#[derive(Clone, Debug)]
pub struct RpzEvent {
    /// The client.
    pub client: IpAddr,
    /// The query name.
    pub qname: NameBuf,
    /// The zone origin or list file.
    pub source: Arc<str>,
    /// The trigger kind.
    pub kind: TriggerKind,
    /// The action label; `disabled` policies log what they would have done.
    pub action: &'static str,
    /// False for a match of a `policy = "disabled"` zone.
    pub applied: bool,
}

/// Events kept between two drains.
const MAX_EVENTS: usize = 1024;

/// Counters and events, shared across rebuilds of the [`Rpz`] (the server keeps one).
#[derive(Debug, Default)]
pub struct RpzCounters {
    /// Matches by action ([`Rewrite::LABELS`] order).
    pub actions: [AtomicU64; 8],
    /// Matches of `policy = "disabled"` zones.
    pub disabled: AtomicU64,
    /// Events not kept because the queue was full.
    pub events_dropped: AtomicU64,
    events: Mutex<VecDeque<RpzEvent>>,
    warnings: Mutex<Vec<String>>,
}

impl RpzCounters {
    /// The events since the last call.
    pub fn drain_events(&self) -> Vec<RpzEvent> {
        self.events.lock().map(|mut events| events.drain(..).collect()).unwrap_or_default()
    }

    /// The warnings of zones compiled since the last call (bad triggers).
    pub fn drain_warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|mut warnings| std::mem::take(&mut *warnings)).unwrap_or_default()
    }

    fn event(&self, event: RpzEvent) {
        if let Ok(mut events) = self.events.lock() {
            if events.len() < MAX_EVENTS {
                events.push_back(event);
                return;
            }
        }
        self.events_dropped.fetch_add(1, Relaxed);
    }

    fn warn(&self, warnings: Vec<String>) {
        if let Ok(mut kept) = self.warnings.lock() {
            let room = 100usize.saturating_sub(kept.len());
            kept.extend(warnings.into_iter().take(room));
        }
    }
}

/// A policy zone in the set: its settings, its label and its compiled snapshot (none until the
/// zone has a copy).
#[derive(Debug, Clone)]
struct Source {
    settings: ZoneSettings,
    label: Arc<str>,
    compiled: Option<Arc<PolicyZone>>,
}

/// The policy zones and blocklists, in order of precedence.
#[derive(Debug)]
pub struct Rpz {
    zones: Vec<Source>,
    lists: Vec<ListEntry>,
    /// Shared counters and events.
    pub counters: Arc<RpzCounters>,
}
