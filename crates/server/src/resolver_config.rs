//! The `[resolver]` table: file layer and validation into the engine's resolver and cache
//! settings (names follow Unbound's options where one exists). Recursion is off unless
//! `recursion = true` (or `--recursive`); the embedded default configuration turns it on.

use crate::config::bounded;
use portcullis_engine::cache::CacheSettings;
use portcullis_engine::policy::MatchElement;
use portcullis_engine::resolve::hints::parse_root_hints;
use portcullis_engine::resolve::ResolverSettings;
use portcullis_net::resolver_pool::PoolLimits;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `[resolver]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
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
}

/// Validates `[resolver]`; `base` is the config file's directory.
pub fn resolver(raw: &ResolverFile, base: Option<&Path>, errors: &mut Vec<String>) -> ResolverConfig {
    let mut n = |key: &str, value: Option<u64>| bounded(&format!("resolver.{key}"), value, errors);
    let defaults = ResolverSettings::default();
    let mut settings = ResolverSettings {
        upstream_port: n("upstream-port", raw.upstream_port) as u16,
        edns_payload: n("edns-payload", raw.edns_payload) as u16,
        max_cname_chain: n("max-cname-chain", raw.max_cname_chain) as usize,
        max_upstream_queries: n("max-upstream-queries", raw.max_upstream_queries) as u32,
        max_referrals: n("max-referrals", raw.max_referrals) as u32,
        max_depth: n("max-depth", raw.max_depth) as usize,
        max_ns_per_delegation: n("max-ns-per-delegation", raw.max_ns_per_delegation) as usize,
        max_nx_target_lookups: n("max-nx-target-lookups", raw.max_nx_target_lookups) as u32,
        total_time_ms: n("total-time-ms", raw.total_time_ms),
        zone_failure_rate: n("zone-failure-rate", raw.zone_failure_rate) as u32,
        zone_query_rate: n("zone-query-rate", raw.zone_query_rate) as u32,
        zone_query_rate_factor: n("zone-query-rate-factor", raw.zone_query_rate_factor) as u32,
        qname_minimisation: raw.qname_minimisation.unwrap_or(defaults.qname_minimisation),
        qname_minimisation_strict: raw.qname_minimisation_strict.unwrap_or(defaults.qname_minimisation_strict),
        use_0x20: raw.use_0x20.unwrap_or(defaults.use_0x20),
        do_not_query_localhost: raw.do_not_query_localhost.unwrap_or(defaults.do_not_query_localhost),
        rebinding_protection: raw.rebinding_protection.unwrap_or(defaults.rebinding_protection),
        use_ipv6: raw.use_ipv6.unwrap_or(defaults.use_ipv6),
        ..defaults
    };
    let cache = CacheSettings {
        max_entries: n("cache-entries", raw.cache_entries) as usize,
        max_bytes: (n("cache-size-mb", raw.cache_size_mb) as usize) << 20,
        min_ttl: n("min-ttl", raw.min_ttl) as u32,
        max_ttl: n("max-ttl", raw.max_ttl) as u32,
        max_negative_ttl: n("max-negative-ttl", raw.max_negative_ttl) as u32,
        serve_stale: raw.serve_stale.unwrap_or(false),
        prefetch_percent: n("prefetch-percent", raw.prefetch_percent) as u8,
        ..CacheSettings::DEFAULT
    };
    let pool = PoolLimits { max_resolutions: n("max-resolutions", raw.max_resolutions) as usize, max_waiters: n("max-waiters", raw.max_waiters) as usize };
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
    let allow_recursion = raw.allow_recursion.as_ref().map(|items| {
        items
            .iter()
            .enumerate()
            .filter_map(|(i, text)| text.parse::<MatchElement>().map_err(|e| errors.push(format!("resolver.allow-recursion[{i}]: '{text}': {e}"))).ok())
            .collect()
    });
    ResolverConfig { enabled: raw.recursion.unwrap_or(false), root_hints, allow_recursion, settings, cache, pool }
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
