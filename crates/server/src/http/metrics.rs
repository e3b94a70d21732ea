//! `/metrics`: the Prometheus text exposition (format 0.0.4, `prometheus-client`'s encoder),
//! collected at scrape time from the counters the server keeps ([`Sources`]): nothing is
//! copied into a registry beforehand, so a scrape is exact at the moment it runs. Counter names
//! get `_total` from the encoder; every family has help text; times are in seconds.

use crate::stats::{Sources, RESPONSE_KINDS};
use portcullis_engine::metrics::{transport_label, AnswerSource, QueryType, RCODE_SLOTS, TRANSPORTS};
use portcullis_engine::policy::{AlertKind, RrlEvent};
use portcullis_engine::resolve::Failure;
use portcullis_engine::DropReason;
use portcullis_net::metrics::CloseReason;
use portcullis_wire::Rcode;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::fmt::Error;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// Labels of one series: (name, value) pairs.
type Labels = Vec<(&'static str, String)>;

/// The collector over the server's counters.
pub struct ServerCollector(pub Arc<Sources>);

impl std::fmt::Debug for ServerCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerCollector")
    }
}

/// The exposition of `sources`, as `/metrics` serves it.
pub fn render(sources: &Arc<Sources>) -> Result<String, Error> {
    let mut registry = Registry::with_prefix("portcullis");
    registry.register_collector(Box::new(ServerCollector(sources.clone())));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

/// One family at a time, each series a label set and a value.
struct Families<'e, 'a> {
    encoder: &'e mut DescriptorEncoder<'a>,
}

impl Families<'_, '_> {
    fn family<V: Copy>(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        kind: MetricType,
        series: &[(Labels, V)],
        put: impl Fn(&mut prometheus_client::encoding::MetricEncoder<'_>, V) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if series.is_empty() {
            return Ok(());
        }
        let mut metric = self.encoder.encode_descriptor(name, help, unit.as_ref(), kind)?;
        for (labels, value) in series {
            if labels.is_empty() {
                put(&mut metric, *value)?;
            } else {
                put(&mut metric.encode_family(labels)?, *value)?;
            }
        }
        Ok(())
    }

    fn counters(&mut self, name: &str, help: &str, series: &[(Labels, u64)]) -> Result<(), Error> {
        self.family(name, help, None, MetricType::Counter, series, |m, v| m.encode_counter::<NoLabelSet, _, u64>(&v, None))
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) -> Result<(), Error> {
        self.counters(name, help, &[(Vec::new(), value)])
    }

    fn gauges(&mut self, name: &str, help: &str, unit: Option<Unit>, series: &[(Labels, f64)]) -> Result<(), Error> {
        self.family(name, help, unit, MetricType::Gauge, series, |m, v| m.encode_gauge(&v))
    }

    fn gauge(&mut self, name: &str, help: &str, unit: Option<Unit>, value: f64) -> Result<(), Error> {
        self.gauges(name, help, unit, &[(Vec::new(), value)])
    }
}

fn one(label: &'static str, value: impl Into<String>) -> Labels {
    vec![(label, value.into())]
}

impl Collector for ServerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        let mut out = Families { encoder: &mut encoder };
        let sources = &*self.0;
        queries(sources, &mut out)?;
        policy(sources, &mut out)?;
        cache(sources, &mut out)?;
        resolver(sources, &mut out)?;
        answer_latency(sources, &mut out)?;
        zones(sources, &mut out)?;
        alerts(sources, &mut out)
    }
}

/// Queries, responses, drops, TCP closes, answers by kind.
fn queries(sources: &Sources, out: &mut Families<'_, '_>) -> Result<(), Error> {
    let c = &sources.counters;
    let series: Vec<_> = TRANSPORTS
        .iter()
        .flat_map(|&t| {
            QueryType::ALL.iter().map(move |&q| (vec![("transport", transport_label(t).to_string()), ("qtype", q.label().to_string())], c.requests_of(t, q)))
        })
        .collect();
    out.counters(
        "queries",
        "DNS requests received, each counted once, by transport and question type (OTHER: other types; NONE: no readable question).",
        &series,
    )?;
    let rcodes: Vec<_> = (0..RCODE_SLOTS).filter(|&s| s < 6 || c.rcodes(s) > 0).map(|s| (one("rcode", Rcode(s as u16).to_string()), c.rcodes(s))).collect();
    out.counters("responses", "Replies sent by the query pipeline, by rcode (the header's four bits).", &rcodes)?;
    let drops: Vec<_> = DropReason::ALL.iter().map(|&r| (one("reason", r.as_str()), c.drops_of(r))).collect();
    out.counters("drops", "Requests dropped without a reply, by reason.", &drops)?;
    let closes: Vec<_> = CloseReason::ALL.iter().map(|&r| (one("reason", r.as_str()), sources.net.closes_of(r))).collect();
    out.counters("tcp_closes", "TCP connections closed or refused, by reason.", &closes)?;
    let kinds = ["answer", "nodata", "nxdomain", "referral", "truncated", "error"];
    let answers: Vec<_> = kinds.iter().enumerate().map(|(i, k)| (one("kind", *k), c.answers(i))).collect();
    out.counters("authoritative_answers", "Authoritative answers, by kind.", &answers)?;
    out.counter("transfers", "Zone transfers started (AXFR, and IXFR answered with the whole zone).", c.transfers.load(Relaxed))?;
    out.counter("worker_restarts", "UDP workers started again after a panic.", sources.worker_restarts.load(Relaxed))
}

/// RRL, ACL and cookie outcomes.
fn policy(sources: &Sources, out: &mut Families<'_, '_>) -> Result<(), Error> {
    let events = [(RrlEvent::Slipped, "slipped"), (RrlEvent::Dropped, "dropped"), (RrlEvent::WouldLimit, "would_limit")];
    let kinds = ["answer", "nxdomain", "nodata", "referral", "error"];
    let series: Vec<_> = RESPONSE_KINDS
        .iter()
        .zip(kinds)
        .flat_map(|(&kind, label)| {
            events.iter().map(move |&(event, name)| (vec![("kind", label.to_string()), ("event", name.to_string())], sources.rrl.get(kind, event)))
        })
        .collect();
    out.counters("rrl_responses", "Responses limited by response rate limiting, by response kind and what was done (would_limit: log-only mode).", &series)?;
    let c = &sources.counters;
    out.counter("recursion_refused", "Recursive queries refused by the recursion ACL (RFC 5358).", c.recursion_refused.load(Relaxed))?;
    out.counter("acl_drops", "Requests dropped by an ACL deny rule (also in drops_total{reason=\"acl_deny\"}).", c.drops_of(DropReason::AclDeny))?;
    out.counter(
        "badcookie_responses",
        "BADCOOKIE replies (RFC 7873), counted by their header bits (rcode 23 & 15).",
        c.rcodes(usize::from(Rcode::BADCOOKIE.header_bits())),
    )
}

fn cache(sources: &Sources, out: &mut Families<'_, '_>) -> Result<(), Error> {
    let (cache, counters) = (&sources.cache, &sources.cache.counters);
    out.gauge("cache_entries", "Entries in the resolver's cache.", None, cache.len() as f64)?;
    out.gauge("cache_size", "Bytes charged to the resolver's cache.", Some(Unit::Bytes), cache.bytes() as f64)?;
    out.counter("cache_hits", "Cache lookups that found usable data.", counters.hits.load(Relaxed))?;
    out.counter("cache_misses", "Cache lookups that found nothing usable.", counters.misses.load(Relaxed))?;
    out.counter("cache_evictions", "Cache entries evicted to stay within budget.", counters.evictions.load(Relaxed))?;
    out.counter("cache_answers", "Recursive queries answered from the cache on the UDP or TCP worker.", sources.counters.cache_answers())
}

/// The latency of the answers the UDP workers write themselves, by source: each answer counted
/// with its batch's time, from the datagrams' arrival to the replies' sending.
fn answer_latency(sources: &Sources, out: &mut Families<'_, '_>) -> Result<(), Error> {
    let mut histogram = out.encoder.encode_descriptor(
        "answer_duration",
        "Time the UDP workers take to answer from the served zones (authoritative) or the cache: each answer counted with its batch's time, receive to send.",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for source in AnswerSource::ALL {
        let (sum, count, buckets) = sources.counters.answer_latency(source);
        histogram.encode_family(&one("source", source.as_str()))?.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
    }
    Ok(())
}

/// The resolver pool and each forward group member.
fn resolver(sources: &Sources, out: &mut Families<'_, '_>) -> Result<(), Error> {
    out.counter("resolutions", "Recursive queries handed to the resolver pool (cache misses).", sources.counters.resolutions.load(Relaxed))?;
    let Some(pool) = sources.pool.get() else { return Ok(()) };
    let c = &pool.counters;
    out.gauge("resolver_in_flight", "Resolutions and forwardings in progress.", None, pool.in_flight() as f64)?;
    out.counter("resolver_upstream_queries", "Queries sent upstream by the resolver pool.", c.upstream_queries.load(Relaxed))?;
    out.counter("resolver_coalesced", "Questions joined to a resolution of the same question in progress.", c.coalesced.load(Relaxed))?;
    let failures: Vec<_> = Failure::ALL.iter().map(|&f| (one("reason", f.as_str()), c.failed_by[f.index()].load(Relaxed))).collect();
    out.counters("resolver_failures", "Resolutions that ended in SERVFAIL, by reason.", &failures)?;
    out.counter("forwarded", "Questions sent to forward groups.", c.forwarded.load(Relaxed))?;
    let (sum, count, buckets) = c.durations.snapshot();
    let mut histogram = out.encoder.encode_descriptor(
        "resolution_duration",
        "Time from a resolution's start to its answer (the resolver pool: recursion, TCP and forward-first forwarding).",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    histogram.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
    let rates = pool.zone_rates();
    out.counter("zone_rate_holds", "Zones held by the random-subdomain flood defence.", rates.holds.load(Relaxed))?;
    out.counter("zone_rate_limited", "Queries to held zones' servers not sent.", rates.limited.load(Relaxed))?;
    out.gauge("zone_rate_held", "Zones held now by the random-subdomain flood defence.", None, rates.held_zones(pool.now()) as f64)?;
    let members: Vec<_> = pool.upstreams().into_iter().flat_map(|(zone, list)| list.into_iter().map(move |m| (zone.clone(), m))).collect();
    let labels = |zone: &str, addr: &std::net::SocketAddr| vec![("zone", zone.to_string()), ("upstream", addr.to_string())];
    let up: Vec<_> = members.iter().map(|(z, m)| (labels(z, &m.addr), if m.up { 1.0 } else { 0.0 })).collect();
    out.gauges("upstream_up", "1 when the forward group member is healthy, else 0.", None, &up)?;
    let rtt: Vec<_> = members.iter().filter_map(|(z, m)| m.srtt_ms.map(|ms| (labels(z, &m.addr), ms / 1000.0))).collect();
    out.gauges("upstream_srtt", "Smoothed round-trip time of the forward group member.", Some(Unit::Seconds), &rtt)?;
    let flight: Vec<_> = members.iter().map(|(z, m)| (labels(z, &m.addr), f64::from(m.in_flight))).collect();
    out.gauges("upstream_in_flight", "Queries in flight to the forward group member.", None, &flight)?;
    let queries: Vec<_> = members.iter().map(|(z, m)| (labels(z, &m.addr), m.queries)).collect();
    out.counters("upstream_queries", "Queries sent to the forward group member (probes included).", &queries)?;
    let failed: Vec<_> = members.iter().map(|(z, m)| (labels(z, &m.addr), m.failures)).collect();
    out.counters("upstream_failures", "Failed exchanges with the forward group member.", &failed)
}

fn zones(sources: &Sources, out: &mut Families<'_, '_>) -> Result<(), Error> {
    let engine = sources.engine.load();
    let serials: Vec<_> = engine.zones().iter().filter_map(|z| z.serial().map(|s| (one("zone", z.origin().to_string()), f64::from(s)))).collect();
    out.gauges("zone_serial", "SOA serial of the zone copy served.", None, &serials)?;
    let mut loaded: Vec<_> = engine.zones().iter().map(|z| (one("zone", z.origin().to_string()), 1.0)).collect();
    loaded.extend(engine.unloaded().iter().map(|origin| (one("zone", origin.to_string()), 0.0)));
    out.gauges("zone_loaded", "1 when the configured zone has a copy served, 0 when its names get SERVFAIL.", None, &loaded)
}

/// The tunnelling detector's counters by action, when it is on (since it was last built).
fn tunnelling(sources: &Sources, out: &mut Families<'_, '_>) -> Result<(), Error> {
    let engine = sources.engine.load();
    let Some(detector) = engine.recursion().and_then(|recursion| recursion.tunnel.clone()) else { return Ok(()) };
    let counters = &detector.counters;
    let actions = [
        (one("action", "detected"), counters.detections.load(Relaxed)),
        (one("action", "blocked"), counters.blocked.load(Relaxed)),
        (one("action", "allowed"), counters.allowed.load(Relaxed)),
    ];
    out.counters("tunnelling", "Tunnelling detector: detections made, queries refused, queries skipped by an allow-list.", &actions)
}

/// Response policy matches by action (`rpz_lists.rs`), when RPZ or blocklists are in use.
fn rpz(sources: &Sources, out: &mut Families<'_, '_>) -> Result<(), Error> {
    let engine = sources.engine.load();
    let Some(rpz) = engine.recursion().and_then(|recursion| recursion.rpz.clone()) else { return Ok(()) };
    let counters = &rpz.counters;
    let labels = portcullis_engine::policy::rpz::Rewrite::LABELS;
    let mut actions: Vec<_> = labels.iter().zip(&counters.actions).map(|(label, count)| (one("action", *label), count.load(Relaxed))).collect();
    actions.push((one("action", "disabled"), counters.disabled.load(Relaxed)));
    out.counters("rpz_matches", "Response policy zone and blocklist matches, by action (disabled: matched by a zone with policy = disabled).", &actions)
}

fn alerts(sources: &Sources, out: &mut Families<'_, '_>) -> Result<(), Error> {
    let raised: Vec<_> = AlertKind::ALL.iter().map(|&k| (one("kind", k.as_str()), sources.alerts.raised(k))).collect();
    out.counters("alerts", "Alerts raised (repeats of a current alert included), by kind.", &raised)?;
    if let Some(tap) = &sources.tap {
        let events = [(one("outcome", "queued"), tap.queued.load(Relaxed)), (one("outcome", "dropped"), tap.dropped.load(Relaxed))];
        out.counters("dnstap_events", "Queries (with their replies) handed to the dnstap writer, or dropped because its queue was full.", &events)?;
    }
    tunnelling(sources, out)?;
    rpz(sources, out)?;
    out.gauge("alerts_current", "Alerts kept in the current list (GET /api/alerts).", None, sources.alerts.list().len() as f64)?;
    out.gauge("start_time", "When the server started, Unix time.", Some(Unit::Seconds), sources.started as f64)
}
