//! The resolver's part of the log: a line when a zone's hold by the random-subdomain flood
//! defence (`engine::resolve::zone_rate`) starts and when it ends, naming the zone; and for the
//! periodic summary, SERVFAIL by reason, DNSSEC-bogus answers, the defence's counters and
//! resolutions that panicked (each bogus answer is also logged as it happens, with its reason,
//! by the resolver pool).

use portcullis_engine::resolve::zone_rate::HoldEvent;
use portcullis_engine::resolve::Failure;
use portcullis_net::resolver_pool::ResolverPool;
use std::sync::atomic::Ordering::Relaxed;

/// Logs the holds that started or ended since the last call (called about once a second).
pub fn log_events(pool: &ResolverPool) {
    for event in pool.zone_rates().events(pool.now()) {
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
