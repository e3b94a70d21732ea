//! Building the [`Rpz`] set and settling a query against it, in BIND's order of precedence.

use super::zone::{Matched, PolicyZone};
use super::{Action, Check, Facts, Hit, ListAction, ListEntry, PolicyOverride, Rewrite, Rpz, RpzCounters, RpzEvent, Source, TriggerKind, ZoneSettings};
use crate::auth::ZoneSet;
use portcullis_wire::NameBuf;
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// What one policy zone says.
enum Step {
    Hit(Matched),
    Miss,
    NeedAnswer,
}

impl Rpz {
    /// The set of `zones` (compiled from their snapshots in `served`; a zone with no copy yet
    /// matches nothing) and `lists`. Bad triggers are left out and reported through
    /// [`RpzCounters::drain_warnings`].
    pub fn new(zones: Vec<ZoneSettings>, lists: Vec<ListEntry>, served: &ZoneSet, counters: Arc<RpzCounters>) -> Self {
        let zones = zones.into_iter().map(|settings| Source { label: settings.origin.to_string().into(), settings, compiled: None }).collect();
        let empty = Self { zones, lists, counters };
        empty.refreshed(served).unwrap_or(empty)
    }

    /// The same set over `served`, each zone whose snapshot changed compiled again; `None` when
    /// none changed.
    pub fn refreshed(&self, served: &ZoneSet) -> Option<Self> {
        let changed = |source: &Source| {
            let now = served.get(&source.settings.origin);
            match (&source.compiled, now) {
                (Some(compiled), Some(zone)) => !Arc::ptr_eq(&compiled.zone, zone),
                (None, None) => false,
                _ => true,
            }
        };
        if !self.zones.iter().any(changed) {
            return None;
        }
        let zones = self
            .zones
            .iter()
            .map(|source| {
                if !changed(source) {
                    return source.clone();
                }
                let compiled = served.get(&source.settings.origin).map(|zone| {
                    let (compiled, warnings) = PolicyZone::compile(zone.clone());
                    self.counters.warn(warnings.into_iter().map(|w| format!("rpz {}: {w}", source.label)).collect());
                    Arc::new(compiled)
                });
                Source { compiled, ..source.clone() }
            })
            .collect();
        Some(Self { zones, lists: self.lists.clone(), counters: self.counters.clone() })
    }

    /// The same zones with `lists` instead of the current blocklists.
    pub fn with_lists(&self, lists: Vec<ListEntry>) -> Self {
        Self { zones: self.zones.clone(), lists, counters: self.counters.clone() }
    }

    /// The blocklists.
    pub fn lists(&self) -> &[ListEntry] {
        &self.lists
    }

    /// Per policy zone: its origin and its triggers by kind (`None` while it has no copy).
    pub fn zone_triggers(&self) -> Vec<(NameBuf, Option<[usize; 5]>)> {
        self.zones.iter().map(|source| (source.settings.origin, source.compiled.as_ref().map(|c| c.counts))).collect()
    }

    /// The check before resolution (client IP, QNAME, blocklists).
    pub fn check_query(&self, client: IpAddr, qname: &NameBuf) -> Check<'_> {
        self.settle(client, qname, None)
    }

    /// The check after resolution, every trigger kind, with what the resolution found.
    pub fn check_answer(&self, client: IpAddr, qname: &NameBuf, facts: &Facts) -> Option<Hit<'_>> {
        match self.settle(client, qname, Some(facts)) {
            Check::Hit(hit) => Some(hit),
            Check::Miss | Check::NeedAnswer => None,
        }
    }

    /// True when some policy zone has answer-IP, NSDNAME or NSIP triggers.
    pub fn needs_answer(&self) -> bool {
        self.zones.iter().filter_map(|source| source.compiled.as_ref()).any(|zone| zone.needs_answer())
    }

    fn settle(&self, client: IpAddr, qname: &NameBuf, facts: Option<&Facts>) -> Check<'_> {
        for source in &self.zones {
            let Some(zone) = &source.compiled else { continue };
            // A disabled zone never decides: it is not worth waiting for the answer.
            let disabled = source.settings.policy == PolicyOverride::Disabled;
            let matched = match step(zone, client, qname, facts) {
                Step::NeedAnswer if disabled => continue,
                Step::Hit(matched) => matched,
                Step::Miss => continue,
                Step::NeedAnswer => return Check::NeedAnswer,
            };
            let rewrite = match (source.settings.policy, matched.action) {
                (PolicyOverride::Disabled, action) => {
                    self.counters.disabled.fetch_add(1, Relaxed);
                    self.log(source.settings.log, client, qname, &source.label, matched.kind, action.as_str(), false);
                    continue;
                }
                (PolicyOverride::Given, action) => given(action, matched),
                (PolicyOverride::Nxdomain, _) => Rewrite::Nxdomain,
                (PolicyOverride::Nodata, _) => Rewrite::Nodata,
                (PolicyOverride::Passthru, _) => Rewrite::Passthru,
                (PolicyOverride::Drop, _) => Rewrite::Drop,
            };
            let hit = Hit { rewrite, zone: Some(&zone.zone), kind: matched.kind, source: &source.label, list: false };
            return Check::Hit(self.counted(hit, source.settings.log.then_some(&source.label), client, qname));
        }
        self.list_hit(client, qname).map_or(Check::Miss, Check::Hit)
    }

    fn list_hit(&self, client: IpAddr, qname: &NameBuf) -> Option<Hit<'_>> {
        if self.lists.is_empty() {
            return None;
        }
        let lower = qname.to_lowercase();
        let entry = self.lists.iter().find(|entry| entry.list.blocks(lower.as_wire()))?;
        let rewrite = match entry.action {
            ListAction::Nxdomain => Rewrite::Nxdomain,
            ListAction::Refused => Rewrite::Refused,
            ListAction::Null => Rewrite::Null,
        };
        let hit = Hit { rewrite, zone: None, kind: TriggerKind::Qname, source: &entry.name, list: true };
        Some(self.counted(hit, entry.log.then_some(&entry.name), client, qname))
    }

    /// Counts `hit` and, when its source logs (`logged`), queues its event.
    fn counted<'r>(&'r self, hit: Hit<'r>, logged: Option<&Arc<str>>, client: IpAddr, qname: &NameBuf) -> Hit<'r> {
        if let Some(counter) = self.counters.actions.get(hit.rewrite.index()) {
            counter.fetch_add(1, Relaxed);
        }
        if let Some(source) = logged {
            self.counters.event(RpzEvent { client, qname: *qname, source: source.clone(), kind: hit.kind, action: hit.rewrite.as_str(), applied: true });
        }
        hit
    }

    #[allow(clippy::too_many_arguments)]
    fn log(&self, log: bool, client: IpAddr, qname: &NameBuf, source: &Arc<str>, kind: TriggerKind, action: &'static str, applied: bool) {
        if log {
            self.counters.event(RpzEvent { client, qname: *qname, source: source.clone(), kind, action, applied });
        }
    }
}

/// The rewrite a zone's own action asks for.
fn given(action: Action, matched: Matched) -> Rewrite {
    match action {
        Action::Nxdomain => Rewrite::Nxdomain,
        Action::Nodata => Rewrite::Nodata,
        Action::Passthru => Rewrite::Passthru,
        Action::Drop => Rewrite::Drop,
        Action::TcpOnly => Rewrite::TcpOnly,
        Action::LocalData => Rewrite::LocalData(matched.node),
    }
}

/// One zone's trigger kinds in BIND's order.
fn step(zone: &PolicyZone, client: IpAddr, qname: &NameBuf, facts: Option<&Facts>) -> Step {
    if let Some(matched) = zone.client_ip(client).or_else(|| zone.qname(qname)) {
        return Step::Hit(matched);
    }
    if !zone.needs_answer() {
        return Step::Miss;
    }
    let Some(facts) = facts else { return Step::NeedAnswer };
    let found = zone.answer_ip(&facts.addresses).or_else(|| zone.nsdname(&facts.ns_names)).or_else(|| zone.nsip(&facts.ns_addresses));
    found.map_or(Step::Miss, Step::Hit)
}
