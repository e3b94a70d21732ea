//! The active refresh of RFC 5011 §2.3: every trust-anchored zone's DNSKEY RRset is asked for on
//! a timer of its own, so that an idle resolver follows its anchors' key rollovers too (a
//! resolver that is asked nothing would otherwise see a new KSK only when a client's question
//! needs the zone's keys after their TTL).
//!
//! One task: at start, then for each anchored zone after [`rfc5011::refresh_interval`] (MAX(1
//! hour, MIN(15 days, half the DNSKEY RRset's original TTL, half the time left before its
//! RRSIGs expire))), or [`rfc5011::retry_interval`] after a refresh that did not give a secure
//! DNSKEY RRset. A refresh forgets the zone's cached DNSKEY RRset and what the key cache knows of
//! the zone, then resolves (zone, DNSKEY) through the resolver pool like a client question: the
//! validation that follows checks the RRset against the anchor and the trusted keys and hands it
//! to the trust points ([`rfc5011::TrustPoints::observe`]); the state file is written by the
//! main loop as for any change (`trust_state::save`).
//!
//! The zones are read from the pool's settings at each round (a reload may change the anchors);
//! nothing is refreshed while validation is off or the anchors do not apply.
//!
//! Test hook: when the environment variable [`REFRESH_SECS`] holds a number of seconds at start,
//! that interval replaces the RFC's (both refresh and retry; the log warns). It exists for the
//! RFC 5011 test (`crates/server/tests/validation/rfc5011.rs`), which cannot wait an hour.

use portcullis_engine::cache::{Cache, Cached, Rrset, Security};
use portcullis_engine::resolve::validate::rfc5011;
use portcullis_net::resolver_pool::ResolverPool;
use portcullis_wire::message::Question;
use portcullis_wire::{Class, NameBuf, Rtype};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The environment variable of the refresh interval test hook (see the module documentation).
pub const REFRESH_SECS: &str = "PORTCULLIS_TRUST_REFRESH_SECS";

/// Starts the refresh task on the current runtime.
pub fn spawn(pool: Arc<ResolverPool>, cache: Arc<Cache>) {
    let hook = std::env::var(REFRESH_SECS).ok().and_then(|text| text.trim().parse::<u64>().ok()).filter(|secs| *secs > 0);
    if let Some(secs) = hook {
        tracing::warn!("test hook {REFRESH_SECS}: trust anchors are refreshed every {secs} s, not on RFC 5011's timers");
    }
    tokio::spawn(run(pool, cache, hook));
}

/// Seconds since the epoch (RRSIG times are wall-clock times).
fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs())
}

/// Refreshes each anchored zone when it is due, for ever.
async fn run(pool: Arc<ResolverPool>, cache: Arc<Cache>, hook: Option<u64>) {
    // (zone, unix second it is due)
    let mut due: Vec<(NameBuf, u64)> = Vec::new();
    loop {
        let now = unix_now();
        let zones = anchored_zones(&pool);
        due.retain(|(zone, _)| zones.contains(zone));
        for zone in zones {
            if !due.iter().any(|(known, _)| *known == zone) {
                due.push((zone, now));
            }
        }
        for (zone, when) in due.iter_mut().filter(|(_, when)| *when <= now) {
            let wait = refresh(&pool, &cache, zone).await;
            *when = unix_now() + hook.unwrap_or(wait);
        }
        let next = due.iter().map(|(_, when)| *when).min().unwrap_or(now + rfc5011::MIN_REFRESH);
        let sleep = next.saturating_sub(unix_now()).clamp(1, rfc5011::MIN_REFRESH);
        tokio::time::sleep(Duration::from_secs(sleep)).await;
    }
}

/// The zones of the trust anchors in force, when validation applies them.
fn anchored_zones(pool: &ResolverPool) -> Vec<NameBuf> {
    let settings = pool.settings();
    if !settings.validates() {
        return Vec::new();
    }
    let mut zones: Vec<NameBuf> = settings.dnssec.anchors.iter().map(|anchor| anchor.zone.to_lowercase()).collect();
    zones.dedup();
    zones
}

/// Asks `zone`'s DNSKEY RRset again, past the caches; the seconds until the next refresh.
async fn refresh(pool: &ResolverPool, cache: &Cache, zone: &NameBuf) -> u64 {
    let last = dnskeys(pool, cache, zone).map(|(set, _)| set);
    cache.remove(zone, Rtype::DNSKEY, Class::IN);
    cache.keys.remove(zone);
    let resolved = pool.resolve(Question { qname: *zone, qtype: Rtype::DNSKEY, qclass: Class::IN }).await;
    let unix = unix_now();
    match dnskeys(pool, cache, zone) {
        Some((set, Security::Secure)) => {
            let wait = rfc5011::refresh_interval(&set, unix);
            tracing::info!(%zone, next_in_secs = wait, "trust anchor refreshed (RFC 5011)");
            wait
        }
        found => {
            let wait = rfc5011::retry_interval(last.as_ref(), unix);
            let why = resolved.bogus.map_or_else(|| format!("rcode {}, {:?}", resolved.rcode.0, found.map(|(_, security)| security)), |bogus| bogus.why);
            tracing::warn!(%zone, retry_in_secs = wait, "trust anchor refresh (RFC 5011) failed: {why}");
            wait
        }
    }
}

/// The cached DNSKEY RRset of `zone` and its validation status.
fn dnskeys(pool: &ResolverPool, cache: &Cache, zone: &NameBuf) -> Option<(Rrset, Security)> {
    match cache.get(zone, Rtype::DNSKEY, Class::IN, pool.now(), false)? {
        Cached::Positive(set, hit) => Some((set, hit.security)),
        _ => None,
    }
}
