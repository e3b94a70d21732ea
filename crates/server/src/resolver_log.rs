//! The resolver's part of the log: a line when a zone's hold by the random-subdomain flood
//! defence (`engine::resolve::zone_rate`) starts and when it ends, naming the zone; and for the
//! periodic summary, SERVFAIL by reason, DNSSEC-bogus answers, the defence's counters and
//! resolutions that panicked (each bogus answer is also logged as it happens, with its reason,
//! by the resolver pool).

use portcullis_engine::policy::{Alert, AlertAction, AlertKind, Alerts};
use portcullis_engine::resolve::zone_rate::HoldEvent;
use portcullis_engine::resolve::Failure;
use portcullis_net::resolver_pool::ResolverPool;
use std::sync::atomic::Ordering::Relaxed;

/// Logs the holds that started or ended since the last call (called about once a second), and
/// raises (then updates) a `zone_rate` alert naming the zone.
pub fn log_events(pool: &ResolverPool, alerts: &Alerts) {
    let events = pool.zone_rates().events(pool.now());
    raise_alerts(&events, alerts, crate::outgoing::unix_now());
    for event in events {
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

/// Raises the alert of each hold that started or ended (at `now`, Unix seconds).
fn raise_alerts(events: &[HoldEvent], alerts: &Alerts, now: u64) {
    for event in events {
        alerts.raise(hold_alert(event, now));
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
    let bogus = pool.counters.bogus.load(Relaxed);
    if bogus > 0 {
        parts.push(format!("dnssec_bogus={bogus}"));
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

#[cfg(test)]
mod tests {
    use super::raise_alerts;
    use portcullis_engine::policy::{AlertAction, AlertKind, Alerts, Instant};
    use portcullis_engine::resolve::zone_rate::{ZoneLimits, ZoneRates, HOLD_SECONDS};
    use portcullis_wire::NameBuf;

    #[test]
    fn a_zone_held_by_the_flood_defence_is_one_alert_updated_when_the_hold_ends() {
        let (rates, alerts) = (ZoneRates::new([7; 16]), Alerts::new(10));
        let limits = ZoneLimits { failure_rate: 50, query_rate: 10, factor: 10 };
        let victim = NameBuf::from_text("Victim.Example.", None).unwrap_or(NameBuf::ROOT);
        let start = Instant::from_secs(1000);
        for _ in 0..limits.failure_rate {
            rates.record(&victim, true, limits, start);
        }
        raise_alerts(&rates.events(start), &alerts, 1_800_000_000);
        let list = alerts.list();
        assert_eq!(list.len(), 1);
        let alert = &list[0];
        assert_eq!(
            (alert.kind, alert.action, alert.domain.as_deref(), alert.client.as_deref()),
            (AlertKind::ZoneRate, AlertAction::Block, Some("victim.example."), None)
        );
        assert_eq!((alert.score, alert.count, alert.first_seen), (50.0, 1, 1_800_000_000));
        // Held back while held, then the end of the hold updates the same alert.
        for _ in 0..100 {
            rates.allow(&victim, limits, start);
        }
        let later = Instant::from_secs(1000 + HOLD_SECONDS + 2);
        raise_alerts(&rates.events(later), &alerts, 1_800_000_007);
        let list = alerts.list();
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!((list[0].count, list[0].first_seen, list[0].last_seen), (2, 1_800_000_000, 1_800_000_007));
        assert!(list[0].detail.contains("queries to the zone's servers were held back"), "{}", list[0].detail);
        assert_eq!(alerts.raised(AlertKind::ZoneRate), 2);
    }
}
