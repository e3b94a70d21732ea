//! The counters line: every non-zero drop reason, TCP close reason, rcode and resolver counter,
//! logged once a minute when it changed.

use super::build::Shared;
use portcullis_net::metrics::{CloseReason, NetCounters};
use std::time::Duration;

/// How often drop and refusal counters are summarised in the log.
pub(super) const SUMMARY_PERIOD: Duration = Duration::from_secs(60);

/// Logs every non-zero drop reason, TCP close reason and rcode counter, when they changed since
/// the last summary.
pub(super) fn log_summary(shared: &Shared, last: &mut String) {
    use std::sync::atomic::Ordering::Relaxed;
    let counters = &shared.counters;
    let mut parts = vec![format!("requests={}", counters.requests())];
    for reason in portcullis_engine::DropReason::ALL {
        let count = counters.drops_of(reason);
        if count > 0 {
            parts.push(format!("drop_{}={count}", reason.as_str()));
        }
    }
    parts.extend(close_counts(&shared.net_counters));
    for rcode in 1..portcullis_engine::metrics::RCODE_SLOTS {
        let count = counters.rcodes(rcode);
        if count > 0 {
            parts.push(format!("{}={count}", portcullis_wire::Rcode(rcode as u16).to_string().to_lowercase()));
        }
    }
    if counters.cache_answers() > 0 {
        parts.push(format!("cache_answers={}", counters.cache_answers()));
    }
    for (label, counter) in [
        ("resolutions", &counters.resolutions),
        ("resolved_answers", &counters.resolved_answers),
        ("recursion_refused", &counters.recursion_refused),
        ("stale_answers", &counters.stale_answers),
        ("worker_restarts", &shared.worker_restarts),
    ] {
        let count = counter.load(Relaxed);
        if count > 0 {
            parts.push(format!("{label}={count}"));
        }
    }
    if let Some(pool) = shared.pool.get() {
        let upstream = pool.counters.upstream_queries.load(Relaxed);
        if upstream > 0 {
            parts.push(format!(
                "upstream_queries={upstream} coalesced={} resolver_failures={} prefetches={}",
                pool.counters.coalesced.load(Relaxed),
                pool.counters.failed.load(Relaxed),
                pool.counters.prefetches.load(Relaxed)
            ));
        }
        parts.extend(crate::resolver_log::summary_parts(pool));
        let forwarded = pool.counters.forwarded.load(Relaxed);
        if forwarded > 0 {
            parts.push(format!(
                "forwarded={forwarded} forward_fallbacks={} probes={}",
                pool.counters.forward_fallbacks.load(Relaxed),
                pool.counters.probes.load(Relaxed)
            ));
            for (zone, upstreams) in pool.upstreams() {
                for upstream in upstreams {
                    let srtt = upstream.srtt_ms.map_or_else(|| "-".to_string(), |ms| format!("{ms:.1}"));
                    let state = if upstream.up { "up" } else { "down" };
                    parts.push(format!("forward[{zone} {}]={state}/q{}/f{}/srtt{srtt}", upstream.addr, upstream.queries, upstream.failures));
                }
            }
        }
    }
    for (kind, event, label) in rrl_events() {
        let count = shared.rrl_counters.get(kind, event);
        if count > 0 {
            parts.push(format!("rrl_{label}={count}"));
        }
    }
    let line = parts.join(" ");
    if line != *last {
        tracing::info!("counters: {line}");
        *last = line;
    }
}

/// `tcp_close_REASON=N` for every TCP close reason counted at least once.
fn close_counts(counters: &NetCounters) -> impl Iterator<Item = String> + '_ {
    CloseReason::ALL.into_iter().filter_map(|reason| {
        let count = counters.closes_of(reason);
        (count > 0).then(|| format!("tcp_close_{}={count}", reason.as_str()))
    })
}

fn rrl_events() -> Vec<(portcullis_engine::policy::ResponseKind, portcullis_engine::policy::RrlEvent, String)> {
    use portcullis_engine::policy::{ResponseKind as K, RrlEvent as E};
    let kinds = [(K::Answer, "answer"), (K::NxDomain, "nxdomain"), (K::NoData, "nodata"), (K::Referral, "referral"), (K::Error, "error")];
    let events = [(E::Slipped, "slipped"), (E::Dropped, "dropped"), (E::WouldLimit, "would_limit")];
    kinds.iter().flat_map(|(k, kl)| events.iter().map(move |(e, el)| (*k, *e, format!("{kl}_{el}")))).collect()
}

#[cfg(test)]
mod tests {
    use super::close_counts;
    use portcullis_net::metrics::{CloseReason, NetCounters};

    #[test]
    fn the_counters_line_names_every_tcp_close_reason_counted() {
        let counters = NetCounters::default();
        assert_eq!(close_counts(&counters).count(), 0);
        counters.closed(CloseReason::IdleTimeout);
        counters.closed(CloseReason::IdleTimeout);
        counters.closed(CloseReason::PerClientLimit);
        assert_eq!(close_counts(&counters).collect::<Vec<_>>(), ["tcp_close_idle_timeout=2", "tcp_close_per_client_limit=1"]);
    }
}
