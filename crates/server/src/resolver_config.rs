//! The `[resolver]` table: file layer and validation into the engine's resolver and cache
//! settings (names follow Unbound's options where one exists). Recursion is off unless
//! `recursion = true` (or `--recursive`); the embedded default configuration turns it on.

use crate::config::Limit;
use portcullis_engine::cache::CacheSettings;
use portcullis_engine::policy::MatchElement;
use portcullis_engine::resolve::hints::parse_root_hints;
use portcullis_engine::resolve::ResolverSettings;
use portcullis_net::resolver_pool::PoolLimits;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `[resolver]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ResolverFile {
    pub recursion: Option<bool>,
    pub root_hints: Option<String>,
    pub allow_recursion: Option<Vec<String>>,
    pub cache_entries: Option<u64>,
    pub cache_size_mb: Option<u64>,
    pub min_ttl: Option<u64>,
    pub max_ttl: Option<u64>,
    pub max_negative_ttl: Option<u64>,
    pub serve_stale: Option<bool>,
    pub prefetch_percent: Option<u64>,
    pub qname_minimisation: Option<bool>,
    pub qname_minimisation_strict: Option<bool>,
    pub use_0x20: Option<bool>,
    pub do_not_query_localhost: Option<bool>,
    pub rebinding_protection: Option<bool>,
    pub use_ipv6: Option<bool>,
    pub upstream_port: Option<u64>,
    pub edns_payload: Option<u64>,
    pub max_cname_chain: Option<u64>,
    pub max_upstream_queries: Option<u64>,
    pub max_referrals: Option<u64>,
    pub max_depth: Option<u64>,
    pub max_ns_per_delegation: Option<u64>,
    pub max_nx_target_lookups: Option<u64>,
    pub total_time_ms: Option<u64>,
    pub zone_failure_rate: Option<u64>,
    pub zone_query_rate: Option<u64>,
    pub zone_query_rate_factor: Option<u64>,
    pub max_resolutions: Option<u64>,
    pub max_waiters: Option<u64>,
    pub dnssec_validation: Option<bool>,
    pub trust_anchor_file: Option<String>,
    pub negative_trust_anchors: Option<Vec<String>>,
}

impl ResolverFile {
    /// `upstream-port`.
    pub const UPSTREAM_PORT: Limit<u16> = Limit::new("upstream-port", 53, 1, 65_535);
    /// `edns-payload`.
    pub const EDNS_PAYLOAD: Limit<u16> = Limit::new("edns-payload", 1232, 0, 4096);
    /// `max-cname-chain`.
    pub const MAX_CNAME_CHAIN: Limit<usize> = Limit::new("max-cname-chain", 11, 1, 64);
    /// `max-upstream-queries`.
    pub const MAX_UPSTREAM_QUERIES: Limit<u32> = Limit::new("max-upstream-queries", 100, 1, 10_000);
    /// `max-referrals`.
    pub const MAX_REFERRALS: Limit<u32> = Limit::new("max-referrals", 100, 1, 1000);
    /// `max-depth`.
    pub const MAX_DEPTH: Limit<usize> = Limit::new("max-depth", 7, 1, 32);
    /// `max-ns-per-delegation`.
    pub const MAX_NS_PER_DELEGATION: Limit<usize> = Limit::new("max-ns-per-delegation", 13, 1, 100);
    /// `max-nx-target-lookups`.
    pub const MAX_NX_TARGET_LOOKUPS: Limit<u32> = Limit::new("max-nx-target-lookups", 5, 0, 100);
    /// `total-time-ms`.
    pub const TOTAL_TIME_MS: Limit<u64> = Limit::new("total-time-ms", 10_000, 100, 120_000);
    /// `zone-failure-rate`.
    pub const ZONE_FAILURE_RATE: Limit<u32> = Limit::new("zone-failure-rate", 200, 0, 1_000_000);
    /// `zone-query-rate`.
    pub const ZONE_QUERY_RATE: Limit<u32> = Limit::new("zone-query-rate", 1000, 0, 1_000_000);
    /// `zone-query-rate-factor`.
    pub const ZONE_QUERY_RATE_FACTOR: Limit<u32> = Limit::new("zone-query-rate-factor", 10, 0, 1000);
    /// `cache-entries`.
    pub const CACHE_ENTRIES: Limit<usize> = Limit::new("cache-entries", 200_000, 1000, 100_000_000);
    /// `cache-size-mb`.
    pub const CACHE_SIZE_MB: Limit<usize> = Limit::new("cache-size-mb", 128, 1, 65_536);
    /// `min-ttl`.
    pub const MIN_TTL: Limit<u32> = Limit::new("min-ttl", 0, 0, 86_400);
    /// `max-ttl`.
    pub const MAX_TTL: Limit<u32> = Limit::new("max-ttl", 86_400, 1, 604_800);
    /// `max-negative-ttl`.
    pub const MAX_NEGATIVE_TTL: Limit<u32> = Limit::new("max-negative-ttl", 3600, 0, 86_400);
    /// `prefetch-percent`.
    pub const PREFETCH_PERCENT: Limit<u8> = Limit::new("prefetch-percent", 10, 0, 50);
    /// `max-resolutions`.
    pub const MAX_RESOLUTIONS: Limit<usize> = Limit::new("max-resolutions", 1000, 1, 100_000);
    /// `max-waiters`.
    pub const MAX_WAITERS: Limit<usize> = Limit::new("max-waiters", 256, 1, 65_536);
}

/// Validated resolver configuration.
#[derive(Clone, Debug)]
pub struct ResolverConfig {
    /// Recursion on.
    pub enabled: bool,
    /// The root-hints file, if any (resolved relative to the config file).
    pub root_hints: Option<PathBuf>,
    /// `allow-recursion`: replaces the ACL's recursion rule when set.
    pub allow_recursion: Option<Vec<MatchElement>>,
    /// The resolver's settings (root servers from the hints file once loaded).
    pub settings: ResolverSettings,
    /// The cache's settings (hash key set at startup).
    pub cache: CacheSettings,
    /// Pool bounds.
    pub pool: PoolLimits,
    /// The trust-anchor file, if any (resolved relative to the config file).
    pub trust_anchor_file: Option<PathBuf>,
}

/// Validates `[resolver]`; `base` is the config file's directory.
pub fn resolver(raw: &ResolverFile, base: Option<&Path>, errors: &mut Vec<String>) -> ResolverConfig {
    let defaults = ResolverSettings::default();
    let mut settings = ResolverSettings {
        upstream_port: ResolverFile::UPSTREAM_PORT.get("resolver", raw.upstream_port, errors),
        edns_payload: ResolverFile::EDNS_PAYLOAD.get("resolver", raw.edns_payload, errors),
        max_cname_chain: ResolverFile::MAX_CNAME_CHAIN.get("resolver", raw.max_cname_chain, errors),
        max_upstream_queries: ResolverFile::MAX_UPSTREAM_QUERIES.get("resolver", raw.max_upstream_queries, errors),
        max_referrals: ResolverFile::MAX_REFERRALS.get("resolver", raw.max_referrals, errors),
        max_depth: ResolverFile::MAX_DEPTH.get("resolver", raw.max_depth, errors),
        max_ns_per_delegation: ResolverFile::MAX_NS_PER_DELEGATION.get("resolver", raw.max_ns_per_delegation, errors),
        max_nx_target_lookups: ResolverFile::MAX_NX_TARGET_LOOKUPS.get("resolver", raw.max_nx_target_lookups, errors),
        total_time_ms: ResolverFile::TOTAL_TIME_MS.get("resolver", raw.total_time_ms, errors),
        zone_failure_rate: ResolverFile::ZONE_FAILURE_RATE.get("resolver", raw.zone_failure_rate, errors),
        zone_query_rate: ResolverFile::ZONE_QUERY_RATE.get("resolver", raw.zone_query_rate, errors),
        zone_query_rate_factor: ResolverFile::ZONE_QUERY_RATE_FACTOR.get("resolver", raw.zone_query_rate_factor, errors),
        qname_minimisation: raw.qname_minimisation.unwrap_or(defaults.qname_minimisation),
        qname_minimisation_strict: raw.qname_minimisation_strict.unwrap_or(defaults.qname_minimisation_strict),
        use_0x20: raw.use_0x20.unwrap_or(defaults.use_0x20),
        do_not_query_localhost: raw.do_not_query_localhost.unwrap_or(defaults.do_not_query_localhost),
        rebinding_protection: raw.rebinding_protection.unwrap_or(defaults.rebinding_protection),
        use_ipv6: raw.use_ipv6.unwrap_or(defaults.use_ipv6),
        ..defaults
    };
    let cache = CacheSettings {
        max_entries: ResolverFile::CACHE_ENTRIES.get("resolver", raw.cache_entries, errors),
        max_bytes: ResolverFile::CACHE_SIZE_MB.get("resolver", raw.cache_size_mb, errors) << 20,
        min_ttl: ResolverFile::MIN_TTL.get("resolver", raw.min_ttl, errors),
        max_ttl: ResolverFile::MAX_TTL.get("resolver", raw.max_ttl, errors),
        max_negative_ttl: ResolverFile::MAX_NEGATIVE_TTL.get("resolver", raw.max_negative_ttl, errors),
        serve_stale: raw.serve_stale.unwrap_or(false),
        prefetch_percent: ResolverFile::PREFETCH_PERCENT.get("resolver", raw.prefetch_percent, errors),
        ..CacheSettings::DEFAULT
    };
    let pool = PoolLimits {
        max_resolutions: ResolverFile::MAX_RESOLUTIONS.get("resolver", raw.max_resolutions, errors),
        max_waiters: ResolverFile::MAX_WAITERS.get("resolver", raw.max_waiters, errors),
    };
    if cache.min_ttl > cache.max_ttl {
        errors.push(format!("resolver.min-ttl: {} is above max-ttl {}", cache.min_ttl, cache.max_ttl));
    }
    let root_hints = raw.root_hints.as_ref().map(|file| {
        let path = PathBuf::from(file);
        match base {
            Some(base) if path.is_relative() => base.join(path),
            _ => path,
        }
    });
    if let Some(path) = &root_hints {
        match load_root_hints(path) {
            Ok(servers) => settings.root_servers = servers,
            Err(error) => errors.push(format!("resolver.root-hints: {error}")),
        }
    }
    settings.dnssec.enabled = raw.dnssec_validation.unwrap_or(true);
    for (i, text) in raw.negative_trust_anchors.iter().flatten().enumerate() {
        match portcullis_wire::NameBuf::from_text(text, Some(&portcullis_wire::NameBuf::ROOT)) {
            Ok(name) => settings.dnssec.negative_anchors.push(name.to_lowercase()),
            Err(error) => errors.push(format!("resolver.negative-trust-anchors[{i}]: '{text}': {error}")),
        }
    }
    let trust_anchor_file = raw.trust_anchor_file.as_ref().map(|file| relative_to(base, file));
    if let Some(path) = &trust_anchor_file {
        if let Err(error) = apply_trust_anchors(&mut settings, path) {
            errors.push(format!("resolver.trust-anchor-file: {error}"));
        }
    }
    let allow_recursion = raw.allow_recursion.as_ref().map(|items| {
        items
            .iter()
            .enumerate()
            .filter_map(|(i, text)| text.parse::<MatchElement>().map_err(|e| errors.push(format!("resolver.allow-recursion[{i}]: '{text}': {e}"))).ok())
            .collect()
    });
    ResolverConfig { enabled: raw.recursion.unwrap_or(false), root_hints, allow_recursion, settings, cache, pool, trust_anchor_file }
}

/// `file` relative to the config file's directory `base`.
fn relative_to(base: Option<&Path>, file: &str) -> PathBuf {
    let path = PathBuf::from(file);
    match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path,
    }
}

/// Reads the trust anchors of `path` into `settings` (after the root hints are known: the
/// built-in root anchors are kept beside islands of trust only with the IANA root).
pub fn apply_trust_anchors(settings: &mut ResolverSettings, path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let anchors = portcullis_engine::resolve::validate::anchors::parse_anchors(&text, &path.display().to_string())?;
    let iana = settings.root_servers == portcullis_engine::resolve::hints::iana_root_addresses();
    settings.dnssec = std::mem::take(&mut settings.dnssec).with_anchors(anchors, iana);
    Ok(())
}

/// Reads a root-hints file into root server addresses.
pub fn load_root_hints(path: &Path) -> Result<Vec<std::net::IpAddr>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let hints = parse_root_hints(&text, &path.display().to_string()).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(hints.addresses())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_security_reference() {
        let mut errors = Vec::new();
        let config = resolver(&ResolverFile::default(), None, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(!config.enabled);
        assert_eq!(config.settings, ResolverSettings::default());
        assert_eq!(config.cache.max_entries, CacheSettings::DEFAULT.max_entries);
        assert_eq!(config.cache.max_bytes, CacheSettings::DEFAULT.max_bytes);
        assert!(config.allow_recursion.is_none());
    }

    #[test]
    fn the_zone_query_rate_reaches_the_settings() {
        let raw: ResolverFile = toml::from_str("zone-failure-rate = 50\nzone-query-rate = 0\nzone-query-rate-factor = 3\n").unwrap();
        let mut errors = Vec::new();
        let config = resolver(&raw, None, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let settings = &config.settings;
        assert_eq!((settings.zone_failure_rate, settings.zone_query_rate, settings.zone_query_rate_factor), (50, 0, 3));
        let raw: ResolverFile = toml::from_str("zone-query-rate-factor = 1001\n").unwrap();
        let _ = resolver(&raw, None, &mut errors);
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn bad_values_are_reported() {
        let raw: ResolverFile = toml::from_str("max-cname-chain = 0\nallow-recursion = [\"nope/99\"]\nroot-hints = \"/nonexistent/root.hints\"\n").unwrap();
        let mut errors = Vec::new();
        let _ = resolver(&raw, None, &mut errors);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("resolver.max-cname-chain: 0 is outside"), "{errors:?}");
    }
}
