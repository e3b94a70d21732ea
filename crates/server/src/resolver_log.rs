//! The resolver's part of the log: a line when a zone's hold by the random-subdomain flood
//! defence (`engine::resolve::zone_rate`) starts and when it ends, naming the zone; and for the
//! periodic summary, SERVFAIL by reason, the defence's counters and resolutions that panicked.

use portcullis_engine::policy::{Alert, AlertAction, AlertKind, Alerts};
use portcullis_engine::resolve::zone_rate::HoldEvent;
use portcullis_engine::resolve::Failure;
use portcullis_net::resolver_pool::ResolverPool;
use std::sync::atomic::Ordering::Relaxed;

/// Logs the holds that started or ended since the last call (called about once a second), and
/// raises (then updates) a `zone_rate` alert naming the zone.
pub fn log_events(pool: &ResolverPool, alerts: &Alerts) {
    for event in pool.zone_rates().events(pool.now()) {
        alerts.raise(hold_alert(&event, crate::outgoing::unix_now()));
        match event {
            HoldEvent::Started { zone, failures } => tracing::warn!(
                %zone,
                failures,
                "zone query limit started: the zone's servers failed {failures} queries within a second \
                 (a random-subdomain flood?); queries to them are limited to resolver.zone-query-rate a second"
            ),
            HoldEvent::Ended { zone, seconds, held_back } => tracing::warn!(
                %zone,
                seconds,
                held_back,
                "zone query limit stopped after {seconds} s; {held_back} queries to the zone's servers were held back"
            ),
        }
    }
}

/// The alert of a hold's start or end (the same alert: the end updates it).
fn hold_alert(event: &HoldEvent, now: u64) -> Alert {
    let (zone, score, detail) = match event {
        HoldEvent::Started { zone, failures } => (
            zone,
            f64::from(*failures),
            format!("{failures} failing queries a second to the zone's servers (a random-subdomain flood?): queries to them are limited to resolver.zone-query-rate a second"),
        ),
        HoldEvent::Ended { zone, seconds, held_back } => {
            (zone, *held_back as f64, format!("zone query limit stopped after {seconds} s; {held_back} queries to the zone's servers were held back"))
        }
    };
    Alert::new(AlertKind::ZoneRate, AlertAction::Block, now, detail).domain(zone.to_string()).score(score)
}

/// `label=count` parts of the summary: SERVFAIL by reason and the flood defence's counters.
pub fn summary_parts(pool: &ResolverPool) -> Vec<String> {
    let mut parts = Vec::new();
    for failure in Failure::ALL {
        let count = pool.counters.failed_by[failure.index()].load(Relaxed);
        if count > 0 {
            parts.push(format!("servfail_{}={count}", failure.as_str()));
        }
    }
    let panicked = pool.counters.panicked.load(Relaxed);
    if panicked > 0 {
        parts.push(format!("resolutions_panicked={panicked}"));
    }
    let rates = pool.zone_rates();
    for (label, counter) in [("zone_holds", &rates.holds), ("zone_rate_limited", &rates.limited), ("zone_failures", &rates.failures)] {
        let count = counter.load(Relaxed);
        if count > 0 {
            parts.push(format!("{label}={count}"));
        }
    }
    parts
}
