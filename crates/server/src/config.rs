//! Configuration in two layers (DESIGN §5.11): [`file`] mirrors the TOML and rejects unknown
//! keys; [`Settings`] holds validated values. Validation reports every error with its TOML path.

use crate::cli::ServeArgs;
use portcullis_engine::EngineSettings;
use portcullis_net::tcp::TcpLimits;
use portcullis_wire::NameBuf;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The embedded default configuration.
pub const DEFAULT_CONFIG: &str = include_str!("../default/portcullis.toml");
/// The embedded example zone, named `@embedded/example.com.zone` in the default configuration.
pub const EMBEDDED_ZONE: &str = include_str!("../default/example.com.zone");
/// The file name that refers to the embedded zone.
pub const EMBEDDED_ZONE_PATH: &str = "@embedded/example.com.zone";

/// A numeric setting's bounds.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    /// Used when the key is absent.
    pub default: u64,
    /// Smallest accepted.
    pub min: u64,
    /// Largest accepted.
    pub max: u64,
}

/// Limits of every numeric key, by TOML path.
pub const LIMITS: &[(&str, Limit)] = &[
    ("server.threads", Limit { default: 0, min: 0, max: 256 }),
    ("server.udp-payload", Limit { default: 1232, min: 512, max: 4096 }),
    ("tcp.max-connections", Limit { default: 1024, min: 1, max: 1_000_000 }),
    ("tcp.per-client", Limit { default: 32, min: 1, max: 100_000 }),
    ("tcp.first-message-timeout-ms", Limit { default: 5000, min: 100, max: 120_000 }),
    ("tcp.message-timeout-ms", Limit { default: 2000, min: 100, max: 120_000 }),
    ("tcp.idle-timeout-ms", Limit { default: 10_000, min: 100, max: 3_600_000 }),
    ("tcp.in-flight", Limit { default: 16, min: 1, max: 1024 }),
    ("tcp.queries-per-connection", Limit { default: 1_000_000, min: 1, max: 100_000_000 }),
    ("tcp.lifetime-ms", Limit { default: 300_000, min: 1000, max: 86_400_000 }),
    ("rrl.responses-per-second", Limit { default: 200, min: 0, max: 1_000_000 }),
    ("rrl.nxdomains-per-second", Limit { default: 200, min: 0, max: 1_000_000 }),
    ("rrl.nodata-per-second", Limit { default: 200, min: 0, max: 1_000_000 }),
    ("rrl.referrals-per-second", Limit { default: 200, min: 0, max: 1_000_000 }),
    ("rrl.errors-per-second", Limit { default: 200, min: 0, max: 1_000_000 }),
    ("rrl.all-per-second", Limit { default: 0, min: 0, max: 1_000_000 }),
    ("rrl.window", Limit { default: 15, min: 1, max: 3600 }),
    ("rrl.slip", Limit { default: 2, min: 0, max: 10 }),
    ("rrl.ipv4-prefix-length", Limit { default: 24, min: 0, max: 32 }),
    ("rrl.ipv6-prefix-length", Limit { default: 56, min: 0, max: 128 }),
    ("rrl.table-size", Limit { default: 65_536, min: 1024, max: 4_194_304 }),
    ("query-limit.rate-limit", Limit { default: 100, min: 1, max: 1_000_000 }),
    ("query-limit.instant-limit", Limit { default: 250, min: 1, max: 1_000_000 }),
    ("query-limit.slip", Limit { default: 1, min: 0, max: 100 }),
    ("query-limit.table-size", Limit { default: 65_536, min: 1024, max: 4_194_304 }),
    ("cookies.secret-lifetime-hours", Limit { default: 24, min: 1, max: 8760 }),
    ("cookies.nocookie-udp-size", Limit { default: 1232, min: 512, max: 4096 }),
    ("resolver.upstream-port", Limit { default: 53, min: 1, max: 65_535 }),
    ("resolver.edns-payload", Limit { default: 1232, min: 0, max: 4096 }),
    ("resolver.max-cname-chain", Limit { default: 11, min: 1, max: 64 }),
    ("resolver.max-upstream-queries", Limit { default: 100, min: 1, max: 10_000 }),
    ("resolver.max-referrals", Limit { default: 100, min: 1, max: 1000 }),
    ("resolver.max-depth", Limit { default: 7, min: 1, max: 32 }),
    ("resolver.max-ns-per-delegation", Limit { default: 13, min: 1, max: 100 }),
    ("resolver.max-nx-target-lookups", Limit { default: 5, min: 0, max: 100 }),
    ("resolver.total-time-ms", Limit { default: 10_000, min: 100, max: 120_000 }),
    ("resolver.zone-failure-rate", Limit { default: 200, min: 0, max: 1_000_000 }),
    ("resolver.zone-query-rate", Limit { default: 1000, min: 0, max: 1_000_000 }),
    ("resolver.zone-query-rate-factor", Limit { default: 10, min: 0, max: 1000 }),
    ("resolver.cache-entries", Limit { default: 200_000, min: 1000, max: 100_000_000 }),
    ("resolver.cache-size-mb", Limit { default: 128, min: 1, max: 65_536 }),
    ("resolver.min-ttl", Limit { default: 0, min: 0, max: 86_400 }),
    ("resolver.max-ttl", Limit { default: 86_400, min: 1, max: 604_800 }),
    ("resolver.max-negative-ttl", Limit { default: 3600, min: 0, max: 86_400 }),
    ("resolver.prefetch-percent", Limit { default: 10, min: 0, max: 50 }),
    ("resolver.max-resolutions", Limit { default: 1000, min: 1, max: 100_000 }),
    ("resolver.max-waiters", Limit { default: 256, min: 1, max: 65_536 }),
    ("zone.transfer-max-records", Limit { default: 10_000_000, min: 2, max: 1_000_000_000 }),
    ("zone.transfer-max-bytes", Limit { default: 1 << 30, min: 65_536, max: 1 << 36 }),
    ("zone.transfer-timeout", Limit { default: 300, min: 1, max: 86_400 }),
];

/// The TOML file, as written.
pub mod file {
    use serde::Deserialize;

    /// The whole file.
    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub struct Config {
        /// `[server]`.
        #[serde(default)]
        pub server: Server,
        /// `[tcp]`.
        #[serde(default)]
        pub tcp: Tcp,
        /// `[log]`.
        #[serde(default)]
        pub log: Log,
        /// `[[zone]]`.
        #[serde(default)]
        pub zone: Vec<Zone>,
        /// `[acl]`.
        #[serde(default)]
        pub acl: crate::policy_config::AclFile,
        /// `[rrl]`: on by default (`enabled = false` turns it off).
        pub rrl: Option<crate::policy_config::RrlFile>,
        /// `[query-limit]`: present = on.
        pub query_limit: Option<crate::policy_config::QueryLimitFile>,
        /// `[cookies]`.
        #[serde(default)]
        pub cookies: crate::policy_config::CookiesFile,
        /// `[resolver]`.
        #[serde(default)]
        pub resolver: crate::resolver_config::ResolverFile,
        /// `[[forward]]`.
        #[serde(default)]
        pub forward: Vec<crate::forward_config::ForwardFile>,
        /// `[[key]]`.
        #[serde(default)]
        pub key: Vec<crate::key_config::KeyFile>,
    }

    /// `[server]`.
    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub struct Server {
        pub listen: Option<Vec<String>>,
        pub threads: Option<u64>,
        pub udp_payload: Option<u64>,
        pub minimal_responses: Option<bool>,
        pub nsid: Option<String>,
        pub version: Option<String>,
        pub identity: Option<String>,
    }

    /// `[tcp]`.
    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub struct Tcp {
        pub max_connections: Option<u64>,
        pub per_client: Option<u64>,
        pub first_message_timeout_ms: Option<u64>,
        pub message_timeout_ms: Option<u64>,
        pub idle_timeout_ms: Option<u64>,
        pub in_flight: Option<u64>,
        pub queries_per_connection: Option<u64>,
        pub lifetime_ms: Option<u64>,
    }

    /// `[log]`.
    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub struct Log {
        pub level: Option<String>,
    }

    /// One `[[zone]]`.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    pub struct Zone {
        pub origin: String,
        /// A primary zone's file; for a secondary zone (`primaries`), where its copy is kept.
        pub file: Option<String>,
        /// Where a secondary zone is transferred from, `ADDR[:PORT]`.
        #[serde(default)]
        pub primaries: Vec<String>,
        /// The TSIG key signing what the zone sends: SOA queries and transfer requests to its
        /// primaries, NOTIFY to its secondaries.
        pub key: Option<String>,
        /// Secondaries told of a new serial (RFC 1996), `ADDR[:PORT]`.
        #[serde(default)]
        pub notify: Vec<String>,
        /// A secondary zone: records one transfer in may bring before it is given up.
        pub transfer_max_records: Option<u64>,
        /// A secondary zone: bytes of messages one transfer in may bring.
        pub transfer_max_bytes: Option<u64>,
        /// A secondary zone: seconds one transfer in may take, from connect to last message.
        pub transfer_timeout: Option<u64>,
    }
}

/// A zone to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSettings {
    /// Its origin.
    pub origin: NameBuf,
    /// Its file (or [`EMBEDDED_ZONE_PATH`]); for a secondary zone, where its copy is kept (empty:
    /// in memory only).
    pub file: PathBuf,
    /// Secondaries sent a NOTIFY when the zone is loaded with a new serial.
    pub notify: Vec<SocketAddr>,
    /// A secondary zone: transferred from these.
    pub primaries: Vec<SocketAddr>,
    /// The TSIG key signing what the zone sends (see [`file::Zone::key`]).
    pub key: Option<NameBuf>,
    /// A secondary zone: the bounds of one transfer in.
    pub transfer: crate::zone_config::TransferSettings,
}

/// Validated settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Addresses to serve on.
    pub listen: Vec<SocketAddr>,
    /// The addresses are defaults (the embedded configuration's, or the file names none) and
    /// not from `--listen`: IPv6 ones are left out on a host without IPv6.
    pub listen_defaulted: bool,
    /// UDP workers per address.
    pub threads: usize,
    /// The engine's settings.
    pub engine: EngineSettings,
    /// TCP limits.
    pub tcp: TcpLimits,
    /// Log level.
    pub log_level: String,
    /// Zones.
    pub zones: Vec<ZoneSettings>,
    /// Access control.
    pub acl: portcullis_engine::policy::AclSettings,
    /// Response rate limiting.
    pub rrl: portcullis_engine::policy::RrlSettings,
    /// The per-prefix UDP query limiter.
    pub query_limit: portcullis_engine::policy::QueryLimitSettings,
    /// DNS cookies.
    pub cookies: crate::policy_config::CookieConfig,
    /// Recursion, the cache and the resolver.
    pub resolver: crate::resolver_config::ResolverConfig,
    /// Forward zones: any sends clients that may recurse to the resolver pool; names outside
    /// them are resolved from the root only when `resolver.enabled`.
    pub forward: Vec<portcullis_engine::resolve::forward::ForwardSettings>,
    /// TSIG keys.
    pub keys: Vec<portcullis_engine::policy::TsigKey>,
}

/// Reads the configuration named by the flags (or the embedded default) and applies the flags.
pub fn load(args: &ServeArgs) -> Result<Settings, Vec<String>> {
    let (text, base) = match &args.config {
        Some(path) => (std::fs::read_to_string(path).map_err(|e| vec![format!("{}: {e}", path.display())])?, path.parent().map(Path::to_path_buf)),
        None => (DEFAULT_CONFIG.to_string(), None),
    };
    let label = args.config.as_ref().map_or("embedded config".into(), |p| p.display().to_string());
    let (raw, mut errors) = parse_file(&text).map_err(|e| vec![format!("{label}: {e}")])?;
    let mut settings = match validate(&raw, base.as_deref()) {
        Ok(settings) if errors.is_empty() => Settings { listen_defaulted: settings.listen_defaulted || args.config.is_none(), ..settings },
        Ok(_) => return Err(errors.iter().map(|e| format!("{label}: {e}")).collect()),
        Err(more) => {
            errors.extend(more);
            return Err(errors.iter().map(|e| format!("{label}: {e}")).collect());
        }
    };
    apply_flags(&mut settings, args)?;
    Ok(settings)
}

/// Parses the TOML; unknown keys are reported with their paths and then left out, so that the
/// rest of the file is still validated and every error is reported at once.
pub fn parse_file(text: &str) -> Result<(file::Config, Vec<String>), String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut errors = Vec::new();
    for _ in 0..64 {
        match toml::Value::Table(table.clone()).try_into::<file::Config>() {
            Ok(config) => return Ok((config, errors)),
            Err(error) => {
                let message = error.to_string();
                let Some(key) = unknown_field(&message) else { return Err(message) };
                let Some(path) = remove_key(&mut table, &key, "") else { return Err(message) };
                errors.push(format!("{path}: unknown key (see the configuration reference in README.md)"));
            }
        }
    }
    Err("too many unknown keys".into())
}

/// The field named in serde's "unknown field `x`" message.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    rest.split('`').next().map(str::to_string)
}

/// Removes the first key named `key` (depth first) and returns its dotted path.
fn remove_key(table: &mut toml::Table, key: &str, prefix: &str) -> Option<String> {
    if table.remove(key).is_some() {
        return Some(format!("{prefix}{key}"));
    }
    for (name, value) in table.iter_mut() {
        let found = match value {
            toml::Value::Table(inner) => remove_key(inner, key, &format!("{prefix}{name}.")),
            toml::Value::Array(items) => items.iter_mut().enumerate().find_map(|(i, item)| match item {
                toml::Value::Table(inner) => remove_key(inner, key, &format!("{prefix}{name}[{i}].")),
                _ => None,
            }),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Checks a parsed file; `base` is the directory relative zone paths start from.
pub fn validate(raw: &file::Config, base: Option<&Path>) -> Result<Settings, Vec<String>> {
    let mut errors = Vec::new();
    let mut number = |path: &str, value: Option<u64>| bounded(path, value, &mut errors);
    let threads = number("server.threads", raw.server.threads) as usize;
    let udp_payload = number("server.udp-payload", raw.server.udp_payload) as u16;
    let tcp = TcpLimits {
        max_connections: number("tcp.max-connections", raw.tcp.max_connections) as usize,
        per_client: number("tcp.per-client", raw.tcp.per_client) as usize,
        first_message: Duration::from_millis(number("tcp.first-message-timeout-ms", raw.tcp.first_message_timeout_ms)),
        per_message: Duration::from_millis(number("tcp.message-timeout-ms", raw.tcp.message_timeout_ms)),
        idle: Duration::from_millis(number("tcp.idle-timeout-ms", raw.tcp.idle_timeout_ms)),
        in_flight: number("tcp.in-flight", raw.tcp.in_flight) as usize,
        queries_per_connection: number("tcp.queries-per-connection", raw.tcp.queries_per_connection) as usize,
        lifetime: Duration::from_millis(number("tcp.lifetime-ms", raw.tcp.lifetime_ms)),
    };
    let listen_text = raw.server.listen.clone().unwrap_or_else(|| vec!["0.0.0.0:53".into(), "[::]:53".into()]);
    let listen = listen_text
        .iter()
        .enumerate()
        .filter_map(|(i, text)| {
            text.parse().map_err(|_| errors.push(format!("server.listen[{i}]: '{text}' is not ADDR:PORT (e.g. 127.0.0.1:53 or [::1]:53)"))).ok()
        })
        .collect();
    let log_level = raw.log.level.clone().unwrap_or_else(|| "info".into());
    if !["error", "warn", "info", "debug", "trace"].contains(&log_level.as_str()) {
        errors.push(format!("log.level: '{log_level}' is not one of error, warn, info, debug, trace"));
    }
    let zones = crate::zone_config::zones(&raw.zone, base, &mut errors);
    let mut acl = crate::policy_config::acl(&raw.acl, &mut errors);
    let resolver = crate::resolver_config::resolver(&raw.resolver, base, &mut errors);
    if let Some(list) = &resolver.allow_recursion {
        acl.global.recursion = Some(list.clone());
    }
    let forward = crate::forward_config::forwards(&raw.forward, &mut errors);
    let keys = crate::key_config::keys(&raw.key, &mut errors);
    crate::zone_config::check_zone_keys(&zones, &keys, &mut errors);
    crate::key_config::check_acl_keys(&acl, &keys, &mut errors);
    let rrl = crate::policy_config::rrl(raw.rrl.as_ref(), &mut errors);
    let query_limit = crate::policy_config::query_limit(raw.query_limit.as_ref(), &mut errors);
    let cookies = crate::policy_config::cookies(&raw.cookies, &mut errors);
    let engine = EngineSettings {
        udp_payload,
        nocookie_udp_payload: cookies.nocookie_udp_size,
        tcp_keepalive: u16::try_from(tcp.idle.as_millis() / 100).unwrap_or(u16::MAX),
        minimal_responses: raw.server.minimal_responses.unwrap_or(false),
        nsid: raw.server.nsid.as_ref().map(|s| s.as_bytes().to_vec()),
        version: raw.server.version.clone(),
        identity: raw.server.identity.clone(),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let listen_defaulted = raw.server.listen.is_none();
    Ok(Settings { listen, listen_defaulted, threads, engine, tcp, log_level, zones, acl, rrl, query_limit, cookies, resolver, forward, keys })
}

fn apply_flags(settings: &mut Settings, args: &ServeArgs) -> Result<(), Vec<String>> {
    if !args.listen.is_empty() {
        settings.listen.clone_from(&args.listen);
        settings.listen_defaulted = false;
    }
    if let Some(threads) = args.threads {
        settings.threads = threads;
    }
    if let Some(level) = &args.log_level {
        settings.log_level.clone_from(level);
    }
    if args.config.is_none() && !args.zone.is_empty() {
        // Zones given without a file: serve exactly those, authoritative only (the embedded
        // example zone and its resolver for localhost are left out; --recursive adds recursion).
        settings.zones.clear();
        settings.resolver.enabled = false;
    }
    let mut errors = Vec::new();
    if args.recursive {
        settings.resolver.enabled = true;
    }
    if let Some(text) = &args.forward {
        match crate::forward_config::from_flag(text) {
            Ok(zone) => {
                settings.forward.retain(|have| have.zone != zone.zone);
                settings.forward.push(zone);
            }
            Err(error) => errors.push(format!("--forward {text}: {error}")),
        }
    }
    if let Some(path) = &args.root_hints {
        match crate::resolver_config::load_root_hints(path) {
            Ok(servers) => {
                settings.resolver.settings.root_servers = servers;
                settings.resolver.root_hints = Some(path.clone());
            }
            Err(error) => errors.push(format!("--root-hints: {error}")),
        }
    }
    if !args.allow_recursion.is_empty() {
        let mut list = Vec::new();
        for text in &args.allow_recursion {
            match text.parse::<portcullis_engine::policy::MatchElement>() {
                Ok(element) => list.push(element),
                Err(error) => errors.push(format!("--allow-recursion {text}: {error}")),
            }
        }
        settings.acl.global.recursion = Some(list);
    }
    for flag in &args.zone {
        let Some((origin, path)) = flag.split_once('=') else {
            errors.push(format!("--zone {flag}: expected ORIGIN=FILE, e.g. --zone example.com=/etc/zones/example.com.zone"));
            continue;
        };
        match crate::zone_config::zone_settings(origin, path, None) {
            Ok(zone) => {
                settings.zones.retain(|z| z.origin != zone.origin);
                settings.zones.push(zone);
            }
            Err(message) => errors.push(format!("--zone {flag}: {message}")),
        }
    }
    for (i, listener) in settings.acl.listeners.iter().enumerate() {
        if !settings.listen.iter().any(|addr| addr.to_string() == listener.listener) {
            errors.push(format!("acl.listener[{i}].address: '{}' is not one of the listen addresses", listener.listener));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The value of the numeric key `path` (from [`LIMITS`]): its default when absent; out of range
/// is an error naming the path, the range and the default.
pub(crate) fn bounded(path: &str, value: Option<u64>, errors: &mut Vec<String>) -> u64 {
    let Some((_, limit)) = LIMITS.iter().find(|(name, _)| *name == path) else { return value.unwrap_or(0) };
    within(path, value, *limit, errors)
}

/// [`bounded`] for a limit given directly.
pub(crate) fn within(path: &str, value: Option<u64>, limit: Limit, errors: &mut Vec<String>) -> u64 {
    let Some(value) = value else { return limit.default };
    if value < limit.min || value > limit.max {
        errors.push(format!("{path}: {value} is outside {}..={} (default {})", limit.min, limit.max, limit.default));
        return limit.default;
    }
    value
}

impl Settings {
    /// True when some queries go to the resolver pool: recursion, or forward zones.
    pub fn resolves(&self) -> bool {
        self.resolver.enabled || !self.forward.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_flag_forwards_everything_without_recursion_from_the_root() {
        let args = ServeArgs { zone: vec!["example.org=/tmp/x.zone".into()], forward: Some("127.0.0.1:5301".into()), ..ServeArgs::default() };
        let settings = load(&args).unwrap();
        assert!(settings.resolves() && !settings.resolver.enabled);
        assert_eq!(settings.forward.len(), 1);
        assert_eq!(settings.forward[0].zone, NameBuf::ROOT);
        let args = ServeArgs { forward: Some("nope".into()), ..ServeArgs::default() };
        assert!(load(&args).is_err());
    }

    #[test]
    fn embedded_default_is_valid() {
        let settings = load(&ServeArgs::default()).unwrap();
        assert_eq!(settings.zones.len(), 1);
        assert_eq!(settings.listen.len(), 2);
        assert!(settings.resolver.enabled, "the embedded default resolves for localhost");
        assert!(settings.resolver.root_hints.is_none(), "with the IANA root hints");
    }

    #[test]
    fn zone_flags_without_a_file_turn_recursion_off_unless_asked() {
        let args = ServeArgs { zone: vec!["example.org=/tmp/x.zone".into()], ..ServeArgs::default() };
        assert!(!load(&args).unwrap().resolver.enabled);
        let args =
            ServeArgs { zone: vec!["example.org=/tmp/x.zone".into()], recursive: true, allow_recursion: vec!["10.0.0.0/8".into()], ..ServeArgs::default() };
        let settings = load(&args).unwrap();
        assert!(settings.resolver.enabled);
        assert_eq!(settings.acl.global.recursion.as_ref().map(Vec::len), Some(1));
        let args = ServeArgs { allow_recursion: vec!["bogus/99".into()], ..ServeArgs::default() };
        assert!(load(&args).is_err());
    }

    #[test]
    fn every_error_is_reported_with_its_path() {
        let raw: file::Config = toml::from_str("[server]\nudp-payload = 100\nlisten = [\"nope\"]\n[tcp]\nin-flight = 0\n").unwrap();
        let errors = validate(&raw, None).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("server.udp-payload: 100 is outside 512..=4096")));
        assert!(errors.iter().any(|e| e.starts_with("server.listen[0]")));
        assert!(errors.iter().any(|e| e.starts_with("tcp.in-flight")));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<file::Config>("[server]\nlisten-on = []\n").is_err());
        let (_, errors) = parse_file("[server]\nlisten-on = []\n[tcp]\nbogus = 1\nin-flight = 0\n").unwrap();
        assert_eq!(
            errors,
            [
                "server.listen-on: unknown key (see the configuration reference in README.md)",
                "tcp.bogus: unknown key (see the configuration reference in README.md)"
            ]
        );
    }

    #[test]
    fn flags_override_the_file() {
        let args = ServeArgs {
            listen: vec!["127.0.0.1:5353".parse().unwrap()],
            zone: vec!["example.org=/tmp/x.zone".into()],
            threads: Some(2),
            ..ServeArgs::default()
        };
        let settings = load(&args).unwrap();
        assert_eq!(settings.listen, args.listen);
        assert_eq!(settings.threads, 2);
        assert_eq!(settings.zones.len(), 1);
        assert_eq!(settings.zones[0].origin.to_string(), "example.org.");
    }
}
