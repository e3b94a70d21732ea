//! Alerts: what a detector saw that an operator should know about, in one shape for every
//! source (the resolver's zone query limit today; the tunnelling, shadowing and blocklist
//! detectors of issue 16 when they come), kept in a bounded store ([`Alerts`]) that the server
//! shows in its HTTP API (`GET /api/alerts`), its dashboard, `portcullis ctl alerts` and its
//! metrics (`portcullis_alerts_total{kind}`).
//!
//! Sans-IO like the rest of the engine: times are Unix seconds given by the caller. An alert is
//! identified by its kind, domain and client: raising the same one again updates the entry kept
//! (last seen, count, score, action, detail) and makes it the newest instead of adding another,
//! so a detector may raise its alert at every sighting. The store keeps the newest `capacity`
//! alerts; the oldest goes first. It is shared across reloads (the server owns it).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// What raised an alert (its label in metrics and JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// DNS tunnelling (data carried in query names), per client prefix and registered domain.
    Tunnelling,
    /// Domain shadowing: a burst of new subdomains pointing outside the domain's networks.
    Shadowing,
    /// A name on a blocklist or response policy zone was asked for.
    Blocklist,
    /// Response rate limiting dropped or slipped answers.
    Rrl,
    /// The resolver's zone query limit held a zone whose servers fail at a flood's rate
    /// (a random-subdomain flood, `resolve::zone_rate`).
    ZoneRate,
    /// Domain shadowing, authoritative side: one change of a served zone (a reload, a transfer
    /// in, a dynamic update) added names in bulk under one parent (`shadow_zone`).
    ShadowingZone,
}

// Every variant is in `ALL`, at its own index.
const _: () = assert!(AlertKind::ALL.len() == AlertKind::ShadowingZone as usize + 1);

impl AlertKind {
    /// Every kind, in declaration order (the order of the per-kind counters).
    pub const ALL: [Self; 6] = [Self::Tunnelling, Self::Shadowing, Self::Blocklist, Self::Rrl, Self::ZoneRate, Self::ShadowingZone];

    /// The label: `tunnelling`, `shadowing`, `blocklist`, `rrl`, `zone_rate`, `shadowing_zone`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tunnelling => "tunnelling",
            Self::Shadowing => "shadowing",
            Self::Blocklist => "blocklist",
            Self::Rrl => "rrl",
            Self::ZoneRate => "zone_rate",
            Self::ShadowingZone => "shadowing_zone",
        }
    }
}

/// What was done about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertAction {
    /// Only reported.
    Log,
    /// The traffic it names is refused, dropped or held back.
    Block,
}

impl AlertAction {
    /// The label: `log` or `block`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Block => "block",
        }
    }
}

/// One alert.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// What raised it.
    pub kind: AlertKind,
    /// The domain concerned (lower-case, with its final dot), if any.
    pub domain: Option<String>,
    /// The client prefix concerned (`192.0.2.0/24`, `2001:db8::/64`), if any.
    pub client: Option<String>,
    /// How sure or how strong: the detector's score (for the zone query limit, failures a
    /// second; for RRL, responses limited).
    pub score: f64,
    /// What was done.
    pub action: AlertAction,
    /// First sighting, Unix seconds.
    pub first_seen: u64,
    /// Last sighting, Unix seconds.
    pub last_seen: u64,
    /// Sightings (raises merged into this alert).
    pub count: u64,
    /// A sentence for the operator.
    pub detail: String,
}

impl Alert {
    /// An alert seen once at `now`.
    pub fn new(kind: AlertKind, action: AlertAction, now: u64, detail: String) -> Self {
        Self { kind, domain: None, client: None, score: 0.0, action, first_seen: now, last_seen: now, count: 1, detail }
    }

    /// The same alert about `domain`.
    pub fn domain(self, domain: impl Into<String>) -> Self {
        Self { domain: Some(domain.into()), ..self }
    }

    /// The same alert about `client`.
    pub fn client(self, client: impl Into<String>) -> Self {
        Self { client: Some(client.into()), ..self }
    }

    /// The same alert with `score`.
    pub fn score(self, score: f64) -> Self {
        Self { score, ..self }
    }

    fn same_subject(&self, other: &Self) -> bool {
        self.kind == other.kind && self.domain == other.domain && self.client == other.client
    }
}

/// The bounded store of current alerts, newest last, and the count of alerts raised by kind.
#[derive(Debug)]
pub struct Alerts {
    capacity: usize,
    kept: Mutex<VecDeque<Alert>>,
    raised: [AtomicU64; AlertKind::ALL.len()],
}

impl Alerts {
    /// Alerts kept by default.
    pub const DEFAULT_CAPACITY: usize = 1000;

    /// A store keeping the newest `capacity` alerts (at least one).
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), kept: Mutex::new(VecDeque::new()), raised: Default::default() }
    }

    /// Alerts kept at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Adds `alert`, or merges it into the alert kept about the same kind, domain and client
    /// (first seen kept, the rest updated, counts added), which becomes the newest. Counts the
    /// raise under its kind either way.
    pub fn raise(&self, alert: Alert) {
        self.raised[alert.kind as usize].fetch_add(1, Ordering::Relaxed);
        let mut kept = self.lock();
        let merged = match kept.iter().position(|old| old.same_subject(&alert)) {
            Some(at) => {
                let Some(old) = kept.remove(at) else { return };
                Alert { first_seen: old.first_seen.min(alert.first_seen), count: old.count.saturating_add(alert.count), ..alert }
            }
            None => alert,
        };
        while kept.len() >= self.capacity {
            kept.pop_front();
        }
        kept.push_back(merged);
    }

    /// The alerts kept, oldest first.
    pub fn list(&self) -> Vec<Alert> {
        self.lock().iter().cloned().collect()
    }

    /// Forgets every alert kept (the counts by kind stay).
    pub fn clear(&self) -> usize {
        let mut kept = self.lock();
        let count = kept.len();
        kept.clear();
        count
    }

    /// Alerts of `kind` raised since start (merged raises included).
    pub fn raised(&self, kind: AlertKind) -> u64 {
        self.raised[kind as usize].load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Alert>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for Alerts {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::{Alert, AlertAction, AlertKind, Alerts};

    fn hold(zone: &str, now: u64) -> Alert {
        Alert::new(AlertKind::ZoneRate, AlertAction::Block, now, format!("{zone} held")).domain(zone).score(1000.0)
    }

    #[test]
    fn the_same_subject_is_merged_and_becomes_the_newest() {
        let alerts = Alerts::new(10);
        alerts.raise(hold("a.example.", 100));
        alerts.raise(hold("b.example.", 101));
        alerts.raise(hold("a.example.", 105).score(2000.0));
        let list = alerts.list();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].domain.as_deref(), Some("a.example."));
        assert_eq!((list[1].first_seen, list[1].last_seen, list[1].count, list[1].score), (100, 105, 2, 2000.0));
        assert_eq!(alerts.raised(AlertKind::ZoneRate), 3);
        assert_eq!(alerts.raised(AlertKind::Tunnelling), 0);
        // Another kind or client about the same domain is another alert.
        alerts.raise(Alert::new(AlertKind::Tunnelling, AlertAction::Log, 106, String::new()).domain("a.example.").client("192.0.2.0/24"));
        assert_eq!(alerts.list().len(), 3);
    }

    #[test]
    fn the_store_keeps_the_newest_within_its_capacity() {
        let alerts = Alerts::new(3);
        for i in 0..10u64 {
            alerts.raise(hold(&format!("z{i}.example."), i));
        }
        let domains: Vec<_> = alerts.list().into_iter().filter_map(|a| a.domain).collect();
        assert_eq!(domains, ["z7.example.", "z8.example.", "z9.example."]);
        assert_eq!(alerts.raised(AlertKind::ZoneRate), 10);
        assert_eq!(alerts.clear(), 3);
        assert!(alerts.list().is_empty());
        assert_eq!(Alerts::new(0).capacity(), 1);
    }

    #[test]
    fn every_kind_has_its_own_slot_and_label() {
        for (slot, kind) in AlertKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, slot);
            assert!(AlertKind::ALL[..slot].iter().all(|earlier| earlier.as_str() != kind.as_str()));
        }
    }
}
