//! What the server shows about itself: the counters it already keeps (the engine's, sharded per
//! worker and summed here; the I/O layer's; RRL's; the cache's; the resolver pool's and its
//! forward groups'), read at the moment they are asked for, plus a short history taken once a
//! second by [`Sources::tick`] (queries per second, when each zone copy was loaded, RRL
//! alerts). Nothing here touches the query path: every read is a relaxed load or a lock the
//! query path does not take.
//!
//! Read by the HTTP listener (`/metrics`, `/api/stats`, `/api/alerts`: `crate::http`) and by
//! the control socket (`portcullis ctl stats`, `zone-status`, `upstreams`: `crate::ctl`).

use portcullis_engine::auth::Zone;
use portcullis_engine::cache::Cache;
use portcullis_engine::metrics::{transport_label, EngineCounters, QueryType, RCODE_SLOTS, TRANSPORTS};
use portcullis_engine::policy::{Alert, AlertAction, AlertKind, Alerts, ResponseKind, RrlCounters, RrlEvent};
use portcullis_engine::DropReason;
use portcullis_net::metrics::{CloseReason, NetCounters};
use portcullis_net::resolver_pool::ResolverPool;
use portcullis_net::EngineHandle;
use portcullis_wire::{NameBuf, Rcode};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Samples kept (one a second): the dashboard's plot spans this many seconds.
pub const HISTORY: usize = 120;
/// Rcodes always shown, even at zero (the others when counted).
const COMMON_RCODES: [u16; 6] = [0, 1, 2, 3, 4, 5];

/// Everything the server's numbers are read from; shared by the HTTP listener, the control
/// socket and the one-second sampler.
pub struct Sources {
    /// The engine in service (swapped on reload; its counters outlive it).
    pub engine: EngineHandle,
    /// The query pipeline's counters.
    pub counters: Arc<EngineCounters>,
    /// RRL's counters.
    pub rrl: Arc<RrlCounters>,
    /// The I/O layer's counters (TCP closes).
    pub net: Arc<NetCounters>,
    /// The resolver's cache.
    pub cache: Arc<Cache>,
    /// The resolver pool, once started.
    pub pool: Arc<OnceLock<Arc<ResolverPool>>>,
    /// Current alerts.
    pub alerts: Arc<Alerts>,
    /// UDP workers restarted after a panic.
    pub worker_restarts: Arc<AtomicU64>,
    /// Secondary zones' origins (for `zone-status`).
    pub secondaries: Arc<dyn Fn() -> Vec<NameBuf> + Send + Sync>,
    /// When the server started, Unix seconds.
    pub started: u64,
    /// dnstap's queue, when on (its counters).
    pub tap: Option<Arc<portcullis_net::tap::Tap>>,
    history: Mutex<History>,
}

/// What the sampler remembers.
#[derive(Default)]
struct History {
    /// (Unix milliseconds, queries so far), oldest first.
    samples: VecDeque<(u64, u64)>,
    /// Each zone copy served: its address (a new copy is a new `Arc`) and when it was first seen.
    zones: HashMap<NameBuf, (usize, u64)>,
    /// RRL's limited responses at the last tick.
    rrl_limited: u64,
}

impl Sources {
    /// Sources over the server's state; the sampler's history starts empty.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        engine: EngineHandle,
        counters: Arc<EngineCounters>,
        rrl: Arc<RrlCounters>,
        net: Arc<NetCounters>,
        cache: Arc<Cache>,
        pool: Arc<OnceLock<Arc<ResolverPool>>>,
        alerts: Arc<Alerts>,
        worker_restarts: Arc<AtomicU64>,
        secondaries: Arc<dyn Fn() -> Vec<NameBuf> + Send + Sync>,
        started: u64,
    ) -> Self {
        Self { engine, counters, rrl, net, cache, pool, alerts, worker_restarts, secondaries, started, tap: None, history: Mutex::default() }
    }

    /// The same sources with dnstap's counters.
    pub fn with_tap(self, tap: Option<Arc<portcullis_net::tap::Tap>>) -> Self {
        Self { tap, ..self }
    }

    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one sample at `now_ms` (Unix milliseconds): the query count, the zone copies
    /// loaded since the last tick, and an RRL alert when responses were limited since then.
    pub fn tick(&self, now_ms: u64) {
        let queries = self.counters.requests();
        let limited = self.rrl_limited();
        let engine = self.engine.load();
        let mut history = self.history();
        if history.samples.len() >= HISTORY {
            history.samples.pop_front();
        }
        history.samples.push_back((now_ms, queries));
        let mut seen = HashMap::new();
        for zone in engine.zones().iter() {
            let address = Arc::as_ptr(zone) as usize;
            let loaded = match history.zones.get(zone.origin()) {
                Some(&(old, loaded)) if old == address => loaded,
                _ => now_ms / 1000,
            };
            seen.insert(*zone.origin(), (address, loaded));
        }
        history.zones = seen;
        let (before, now) = (std::mem::replace(&mut history.rrl_limited, limited.0 + limited.1), limited.0 + limited.1);
        drop(history);
        if now > before {
            let action = if limited.1 > 0 { AlertAction::Block } else { AlertAction::Log };
            let detail = format!("response rate limiting limited {} responses in the last second ({} in all)", now - before, now);
            self.alerts.raise(Alert::new(AlertKind::Rrl, action, now_ms / 1000, detail).score((now - before) as f64));
        }
    }

    /// RRL's limited responses: (would have been limited in log-only mode, slipped or dropped).
    fn rrl_limited(&self) -> (u64, u64) {
        let mut limited = (0, 0);
        for kind in RESPONSE_KINDS {
            limited.0 += self.rrl.get(kind, RrlEvent::WouldLimit);
            limited.1 += self.rrl.get(kind, RrlEvent::Slipped) + self.rrl.get(kind, RrlEvent::Dropped);
        }
        limited
    }

    /// Queries a second between the last two samples (0 before there are two).
    pub fn queries_per_second(&self) -> f64 {
        let history = self.history();
        let mut last = history.samples.iter().rev();
        match (last.next(), last.next()) {
            (Some(&(t1, q1)), Some(&(t0, q0))) if t1 > t0 => (q1.saturating_sub(q0)) as f64 * 1000.0 / (t1 - t0) as f64,
            _ => 0.0,
        }
    }

    /// Queries a second over the history, oldest first, one value a sample.
    fn rate_history(&self) -> Vec<f64> {
        let history = self.history();
        let samples: Vec<_> = history.samples.iter().copied().collect();
        samples
            .windows(2)
            .map(|pair| if pair[1].0 > pair[0].0 { pair[1].1.saturating_sub(pair[0].1) as f64 * 1000.0 / (pair[1].0 - pair[0].0) as f64 } else { 0.0 })
            .collect()
    }

    /// When the copy of `origin` served now was loaded (Unix seconds), as far as the sampler saw.
    fn loaded_at(&self, origin: &NameBuf) -> Option<u64> {
        self.history().zones.get(origin).map(|&(_, loaded)| loaded)
    }

    /// The stats object of `/api/stats` and `portcullis ctl stats --json`, at `now` (Unix seconds).
    pub fn stats(&self, now: u64) -> Value {
        let counters = &self.counters;
        let mut by_transport = Map::new();
        let mut by_type = Map::new();
        for transport in TRANSPORTS {
            by_transport.insert(transport_label(transport).into(), json!(QueryType::ALL.iter().map(|&q| counters.requests_of(transport, q)).sum::<u64>()));
        }
        for qtype in QueryType::ALL {
            let count: u64 = TRANSPORTS.iter().map(|&t| counters.requests_of(t, qtype)).sum();
            if count > 0 {
                by_type.insert(qtype.label().into(), json!(count));
            }
        }
        let drops: Map<String, Value> = DropReason::ALL.iter().map(|&r| (r.as_str().to_string(), json!(counters.drops_of(r)))).collect();
        let closes: Map<String, Value> = CloseReason::ALL.iter().map(|&r| (r.as_str().to_string(), json!(self.net.closes_of(r)))).collect();
        let (would_limit, limited) = self.rrl_limited();
        let blocked = counters.drops_of(DropReason::AclDeny) + counters.recursion_refused.load(Relaxed);
        let (names, clients) = counters.top(TOP);
        let top_names: Vec<Value> = names.iter().map(|(wire, n)| json!({"name": wire_name(wire), "queries": n})).collect();
        let top_clients: Vec<Value> = clients.iter().map(|(address, n)| json!({"client": client_text(address), "queries": n})).collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "time": rfc3339(now),
            "uptime_seconds": now.saturating_sub(self.started),
            "queries_total": counters.requests(),
            "queries_per_second": self.queries_per_second(),
            "queries_per_second_history": self.rate_history(),
            "queries_by_transport": by_transport,
            "queries_by_type": by_type,
            "responses": self.rcodes(),
            "drops": drops,
            "tcp_closes": closes,
            "rate_limited": limited,
            "rate_limited_log_only": would_limit,
            "blocked": blocked,
            "cache": self.cache_stats(),
            "resolver": self.resolver_stats(),
            "upstreams": self.upstreams(),
            "zones": self.zones(None),
            "alerts": self.alerts.list().len(),
            "top_names": top_names,
            "top_clients": top_clients,
        })
    }

    /// Replies by rcode mnemonic: the common ones always, the others when counted.
    pub fn rcodes(&self) -> Map<String, Value> {
        let mut rcodes = Map::new();
        for slot in 0..RCODE_SLOTS {
            let count = self.counters.rcodes(slot);
            if count > 0 || COMMON_RCODES.contains(&(slot as u16)) {
                rcodes.insert(Rcode(slot as u16).to_string(), json!(count));
            }
        }
        rcodes
    }

    fn cache_stats(&self) -> Value {
        let counters = &self.cache.counters;
        json!({
            "entries": self.cache.len(),
            "bytes": self.cache.bytes(),
            "hits": counters.hits.load(Relaxed),
            "misses": counters.misses.load(Relaxed),
            "evictions": counters.evictions.load(Relaxed),
            "answered_on_worker": self.counters.cache_answers(),
        })
    }

    fn resolver_stats(&self) -> Value {
        let Some(pool) = self.pool.get() else { return Value::Null };
        let c = &pool.counters;
        json!({
            "resolutions": self.counters.resolutions.load(Relaxed),
            "in_flight": pool.in_flight(),
            "upstream_queries": c.upstream_queries.load(Relaxed),
            "coalesced": c.coalesced.load(Relaxed),
            "failed": c.failed.load(Relaxed),
            "forwarded": c.forwarded.load(Relaxed),
            "prefetches": c.prefetches.load(Relaxed),
            "zones_held": pool.zone_rates().held_zones(pool.now()),
        })
    }

    /// Every forward group member: zone, `ADDR:PORT`, health, smoothed RTT, queries, failures,
    /// queries in flight.
    pub fn upstreams(&self) -> Vec<Value> {
        let Some(pool) = self.pool.get() else { return Vec::new() };
        let mut list = Vec::new();
        for (zone, members) in pool.upstreams() {
            for member in members {
                list.push(json!({
                    "zone": zone,
                    "address": member.addr.to_string(),
                    "tier": format!("{:?}", member.tier).to_lowercase(),
                    "up": member.up,
                    "srtt_ms": member.srtt_ms,
                    "queries": member.queries,
                    "failures": member.failures,
                    "in_flight": member.in_flight,
                }));
            }
        }
        list
    }

    /// The zones served (or `only` that one), with their serials, when their copies were
    /// loaded, and which are secondaries; configured zones without a copy are listed too.
    pub fn zones(&self, only: Option<&NameBuf>) -> Vec<Value> {
        let engine = self.engine.load();
        let secondaries = (self.secondaries)();
        let wanted = |origin: &NameBuf| only.is_none_or(|only| only.to_lowercase() == origin.to_lowercase());
        let mut list: Vec<Value> = engine.zones().iter().filter(|zone| wanted(zone.origin())).map(|zone| self.zone(zone, &secondaries)).collect();
        for origin in engine.unloaded().iter().chain(secondaries.iter()).filter(|origin| wanted(origin)) {
            if engine.zones().get(origin).is_none() && !list.iter().any(|z| z["zone"] == origin.to_string()) {
                list.push(json!({ "zone": origin.to_string(), "loaded": false, "secondary": secondaries.contains(origin) }));
            }
        }
        list
    }

    fn zone(&self, zone: &Zone, secondaries: &[NameBuf]) -> Value {
        let secondary = secondaries.contains(zone.origin());
        let loaded_at = self.loaded_at(zone.origin()).map(rfc3339);
        json!({
            "zone": zone.origin().to_string(),
            "serial": zone.serial(),
            "loaded": true,
            "loaded_at": loaded_at,
            "secondary": secondary,
            "last_transfer": if secondary { loaded_at.clone() } else { None },
            "names": zone.node_count(),
        })
    }

    /// RRL's settings in force and what it limited, by response kind (`portcullis ctl rrl`).
    pub fn rrl(&self) -> Value {
        let engine = self.engine.load();
        let settings = engine.policy().rrl.settings();
        let kinds = ["answer", "nxdomain", "nodata", "referral", "error"];
        let counts: Map<String, Value> = RESPONSE_KINDS
            .iter()
            .zip(kinds)
            .map(|(&kind, label)| {
                let count = |event| self.rrl.get(kind, event);
                (
                    label.to_string(),
                    json!({"slipped": count(RrlEvent::Slipped), "dropped": count(RrlEvent::Dropped), "would_limit": count(RrlEvent::WouldLimit)}),
                )
            })
            .collect();
        json!({
            "enabled": settings.enabled,
            "log_only": settings.log_only,
            "responses_per_second": settings.responses_per_second,
            "nxdomains_per_second": settings.nxdomains_per_second,
            "window": settings.window,
            "slip": settings.slip,
            "table_size": engine.policy().rrl.capacity(),
            "limited": counts,
        })
    }

    /// The alerts list of `/api/alerts`: one object per alert, oldest first, times in RFC 3339.
    pub fn alerts_json(&self) -> Value {
        Value::Array(self.alerts.list().iter().map(alert_json).collect())
    }
}

/// Names and clients listed in the stats' tops.
const TOP: usize = 10;

/// A lower-cased wire name as text.
fn wire_name(wire: &[u8]) -> String {
    NameBuf::parse_uncompressed(wire, 0).map_or_else(|_| "?".into(), |(name, _)| name.to_string())
}

/// A 16-byte address as text (IPv4 when mapped).
fn client_text(address: &[u8]) -> String {
    let Ok(octets) = <[u8; 16]>::try_from(address) else { return "?".into() };
    let v6 = std::net::Ipv6Addr::from(octets);
    v6.to_ipv4_mapped().map_or_else(|| v6.to_string(), |v4| v4.to_string())
}

/// RRL's response kinds.
pub const RESPONSE_KINDS: [ResponseKind; 5] = [ResponseKind::Answer, ResponseKind::NxDomain, ResponseKind::NoData, ResponseKind::Referral, ResponseKind::Error];

/// One alert as JSON: `kind`, `domain`, `client`, `score`, `action`, `first_seen`,
/// `last_seen` (RFC 3339, UTC), `count`, `detail`.
pub fn alert_json(alert: &Alert) -> Value {
    json!({
        "kind": alert.kind.as_str(),
        "domain": alert.domain,
        "client": alert.client,
        "score": alert.score,
        "action": alert.action.as_str(),
        "first_seen": rfc3339(alert.first_seen),
        "last_seen": rfc3339(alert.last_seen),
        "count": alert.count,
        "detail": alert.detail,
    })
}

/// Unix seconds as an RFC 3339 UTC time, `2026-12-07T13:21:04Z`.
pub fn rfc3339(unix: u64) -> String {
    let (days, rest) = (unix / 86_400, unix % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// The wall clock in Unix milliseconds.
pub fn unix_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn unix_seconds_print_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_649_664), "2026-12-07T13:21:04Z");
    }
}
