//! Configuration in two layers (DESIGN §5.11): [`file`] mirrors the TOML (a key it does not know
//! is reported with its full path, found by `serde_ignored`); [`Settings`] holds validated
//! values. Validation reports every error with its TOML path; each numeric key is bounded by a
//! typed [`Limit`] const beside its file struct.

use crate::cli::ServeArgs;
pub use crate::config_limit::Limit;
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

/// The TOML file, as written.
pub mod file {
    use super::Limit;
    use portcullis_engine::auth::receive::TransferLimits;
    use serde::Deserialize;

    /// The whole file.
    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "kebab-case")]
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
        /// `[[dnssec-policy]]`.
        #[serde(default)]
        pub dnssec_policy: Vec<crate::dnssec_config::PolicyFile>,
        /// `[http]`: the metrics, stats and dashboard listener (off by default).
        #[serde(default)]
        pub http: crate::ops_config::HttpFile,
        /// `[control]`: the `portcullis ctl` socket.
        #[serde(default)]
        pub control: crate::ops_config::ControlFile,
        /// `[alerts]`.
        #[serde(default)]
        pub alerts: crate::ops_config::AlertsFile,
        /// `[dnstap]`.
        #[serde(default)]
        pub dnstap: crate::ops_config::DnstapFile,
        /// `[querylog]`.
        #[serde(default)]
        pub querylog: crate::ops_config::QueryLogFile,
        /// `[tls]`: the encrypted listeners' certificate.
        pub tls: Option<crate::tls_config::TlsFile>,
        /// `[detection]`: the threat detectors (tunnelling).
        #[serde(default)]
        pub detection: crate::detection_config::DetectionFile,
        /// `[[rpz]]`: response policy zones, in order of precedence.
        #[serde(default)]
        pub rpz: Vec<crate::rpz_config::RpzFile>,
        /// `[[blocklist]]`: hosts and domain lists, after the policy zones.
        #[serde(default)]
        pub blocklist: Vec<crate::rpz_config::BlocklistFile>,
    }

    /// `[server]`.
    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub struct Server {
        pub listen: Option<Vec<String>>,
        pub listen_tls: Option<Vec<String>>,
        pub listen_https: Option<Vec<String>>,
        pub listen_quic: Option<Vec<String>>,
        pub threads: Option<u64>,
        pub udp_payload: Option<u64>,
        pub minimal_responses: Option<bool>,
        pub nsid: Option<String>,
        pub version: Option<String>,
        pub identity: Option<String>,
        /// Where the keys of signed zones are kept.
        pub key_directory: Option<String>,
        /// Where journals and kept copies of zones without a file go.
        pub state_directory: Option<String>,
        /// Interfaces whose UDP queries take the AF_XDP path.
        pub xdp: Option<Vec<String>>,
        /// Slots of each UDP worker's reply cache (0: off).
        pub reply_cache: Option<u64>,
    }

    impl Server {
        /// `threads` (0: one per core).
        pub const THREADS: Limit<usize> = Limit::new("threads", 0, 0, 256);
        /// `udp-payload`.
        pub const UDP_PAYLOAD: Limit<u16> = Limit::new("udp-payload", 1232, 512, 4096);
        /// `reply-cache`: slots per UDP worker (each up to 512 reply bytes; 0: off, the default:
        /// a workload that seldom repeats a query pays the look-up and gains nothing).
        pub const REPLY_CACHE: Limit<usize> = Limit::new("reply-cache", 0, 0, 65_536);
    }

    /// `[tcp]`.
    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "kebab-case")]
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

    impl Tcp {
        /// `max-connections`.
        pub const MAX_CONNECTIONS: Limit<usize> = Limit::new("max-connections", 1024, 1, 1_000_000);
        /// `per-client`.
        pub const PER_CLIENT: Limit<usize> = Limit::new("per-client", 32, 1, 100_000);
        /// `first-message-timeout-ms`.
        pub const FIRST_MESSAGE_TIMEOUT_MS: Limit<u64> = Limit::new("first-message-timeout-ms", 5000, 100, 120_000);
        /// `message-timeout-ms`.
        pub const MESSAGE_TIMEOUT_MS: Limit<u64> = Limit::new("message-timeout-ms", 2000, 100, 120_000);
        /// `idle-timeout-ms`.
        pub const IDLE_TIMEOUT_MS: Limit<u64> = Limit::new("idle-timeout-ms", 10_000, 100, 3_600_000);
        /// `in-flight`.
        pub const IN_FLIGHT: Limit<usize> = Limit::new("in-flight", 16, 1, 1024);
        /// `queries-per-connection`.
        pub const QUERIES_PER_CONNECTION: Limit<usize> = Limit::new("queries-per-connection", 1_000_000, 1, 100_000_000);
        /// `lifetime-ms`.
        pub const LIFETIME_MS: Limit<u64> = Limit::new("lifetime-ms", 300_000, 1000, 86_400_000);
    }

    /// `[log]`.
    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub struct Log {
        pub level: Option<String>,
    }

    /// One `[[zone]]`.
    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "kebab-case")]
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
        /// A primary zone signed by the server: the name of its `[[dnssec-policy]]`.
        pub dnssec_policy: Option<String>,
        /// A catalog zone (RFC 9432): `"producer"` or `"consumer"` (`crate::catalog_config`).
        pub catalog: Option<String>,
        /// A member zone of the producer catalog zone so named.
        pub catalog_member: Option<String>,
        /// A consumer catalog zone: most member zones it may list.
        pub catalog_max_members: Option<u64>,
        /// A primary zone: which TSIG key may update which names and types (`update_config`).
        pub update_policy: Option<Vec<crate::update_config::GrantFile>>,
        /// A primary zone: seconds after a dynamic update before the zone file is rewritten.
        pub zonefile_sync: Option<u64>,
        /// The zone's journal file (default: beside its file, or in the state directory).
        pub journal: Option<String>,
        /// Octets the journal may take before its oldest differences are dropped.
        pub max_journal_size: Option<u64>,
    }

    impl Zone {
        /// `transfer-max-records`.
        pub const TRANSFER_MAX_RECORDS: Limit<usize> = Limit::new("transfer-max-records", TransferLimits::DEFAULT.max_records, 2, 1_000_000_000);
        /// `transfer-max-bytes` (1 GiB; at most 64 GiB).
        pub const TRANSFER_MAX_BYTES: Limit<u64> = Limit::new("transfer-max-bytes", TransferLimits::DEFAULT.max_bytes, 65_536, 1 << 36);
        /// `transfer-timeout`, seconds.
        pub const TRANSFER_TIMEOUT: Limit<u64> = Limit::new("transfer-timeout", 300, 1, 86_400);
        /// `catalog-max-members`.
        pub const CATALOG_MAX_MEMBERS: Limit<usize> =
            Limit::new("catalog-max-members", portcullis_engine::auth::catalog::CatalogLimits::DEFAULT.max_members, 1, 1_000_000);
        /// `zonefile-sync`, seconds (0: rewritten after every update).
        pub const ZONEFILE_SYNC: Limit<u64> = Limit::new("zonefile-sync", 60, 0, 86_400);
        /// `max-journal-size`, octets (default 16 MiB; at most 64 GiB).
        pub const MAX_JOURNAL_SIZE: Limit<u64> = Limit::new("max-journal-size", crate::journal::JournalLimits::DEFAULT.max_bytes, 4096, 1 << 36);
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
    /// A signed zone: its policy and key directory.
    pub signing: Option<crate::dnssec_config::ZoneSigning>,
    /// Its part in catalog zones (RFC 9432), if any.
    pub catalog: crate::catalog_config::ZoneCatalog,
    /// A primary zone: its dynamic update policy and zone file rewriting.
    pub update: crate::update_config::ZoneUpdate,
    /// Its journal (`journal`; empty: none, as for the embedded zone).
    pub journal: PathBuf,
    /// How large the journal may grow (`max-journal-size`).
    pub journal_limits: crate::journal::JournalLimits,
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
    /// Slots of each UDP worker's reply cache (0: off).
    pub reply_cache: usize,
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
    /// Where the keys of signed zones are kept (`[server] key-directory`).
    #[allow(dead_code)]
    pub key_directory: PathBuf,
    /// HTTP, control socket and alerts.
    pub ops: crate::ops_config::OpsSettings,
    /// dnstap output (`None`: off).
    pub dnstap: Option<crate::dnstap::DnstapSettings>,
    /// The query log (`None`: off).
    pub querylog: Option<crate::querylog::QueryLogSettings>,
    /// DoT, DoH and DoQ listeners and their certificate.
    pub encrypted: crate::tls_config::EncryptedSettings,
    /// The tunnelling detector (`[detection]`).
    pub tunnelling: portcullis_engine::policy::tunnel::TunnelSettings,
    /// The shadowing detector (`[detection]`).
    pub shadowing: portcullis_engine::policy::shadow::ShadowSettings,
    /// Response policy zones and blocklists (`[[rpz]]`, `[[blocklist]]`).
    pub rpz: crate::rpz_config::RpzConfig,
    /// Interfaces whose UDP queries take the AF_XDP path (`[server] xdp`).
    pub xdp: Vec<String>,
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

/// Parses the TOML; every unknown key is reported with its full path (`zone[2].primaryes`) and
/// left out, so that the rest of the file is still validated and every error is reported at once.
pub fn parse_file(text: &str) -> Result<(file::Config, Vec<String>), String> {
    let mut unknown = Vec::new();
    let config = serde_ignored::deserialize(toml::Deserializer::new(text), |path| {
        unknown.push(format!("unknown key {} (see the configuration reference in README.md)", toml_path(&path)));
    })
    .map_err(|e| e.to_string())?;
    Ok((config, unknown))
}

/// `path` as written in the TOML: `resolver.zone-query-rate`, `zone[2].primaries`.
fn toml_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", toml_path(parent)),
        Path::Map { parent, key } => match toml_path(parent) {
            prefix if prefix.is_empty() => key.clone(),
            prefix => format!("{prefix}.{key}"),
        },
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => toml_path(parent),
    }
}

/// Checks a parsed file; `base` is the directory relative zone paths start from.
pub fn validate(raw: &file::Config, base: Option<&Path>) -> Result<Settings, Vec<String>> {
    let mut errors = Vec::new();
    let (server, tcp) = (&raw.server, &raw.tcp);
    let threads = file::Server::THREADS.get("server", server.threads, &mut errors);
    let udp_payload = file::Server::UDP_PAYLOAD.get("server", server.udp_payload, &mut errors);
    let reply_cache = file::Server::REPLY_CACHE.get("server", server.reply_cache, &mut errors);
    let millis = |limit: Limit<u64>, value: Option<u64>, errors: &mut Vec<String>| Duration::from_millis(limit.get("tcp", value, errors));
    let tcp = TcpLimits {
        max_connections: file::Tcp::MAX_CONNECTIONS.get("tcp", tcp.max_connections, &mut errors),
        per_client: file::Tcp::PER_CLIENT.get("tcp", tcp.per_client, &mut errors),
        first_message: millis(file::Tcp::FIRST_MESSAGE_TIMEOUT_MS, tcp.first_message_timeout_ms, &mut errors),
        per_message: millis(file::Tcp::MESSAGE_TIMEOUT_MS, tcp.message_timeout_ms, &mut errors),
        idle: millis(file::Tcp::IDLE_TIMEOUT_MS, tcp.idle_timeout_ms, &mut errors),
        in_flight: file::Tcp::IN_FLIGHT.get("tcp", tcp.in_flight, &mut errors),
        queries_per_connection: file::Tcp::QUERIES_PER_CONNECTION.get("tcp", tcp.queries_per_connection, &mut errors),
        lifetime: millis(file::Tcp::LIFETIME_MS, tcp.lifetime_ms, &mut errors),
        // Set per encrypted listener from [tls] handshakes-per-second (app/encrypted.rs).
        handshakes_per_second: 0,
    };
    let listen_text = raw.server.listen.clone().unwrap_or_else(|| vec!["0.0.0.0:53".into(), "[::]:53".into()]);
    let xdp = crate::xdp_config::interfaces(server.xdp.as_deref(), &mut errors);
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
    let policies = crate::dnssec_config::policies(&raw.dnssec_policy, &mut errors);
    let key_directory = crate::dnssec_config::key_directory(raw.server.key_directory.as_deref(), base);
    let signing = crate::zone_config::Signing { policies: &policies, key_directory: &key_directory };
    let state_directory = crate::dnssec_config::state_directory(raw.server.state_directory.as_deref(), base);
    let mut zones = crate::zone_config::zones(&raw.zone, base, &signing, &state_directory, &mut errors);
    let (rpz, policy_zones) = crate::rpz_config::rpz(&raw.rpz, &raw.blocklist, base, &state_directory, &mut errors);
    for zone in policy_zones {
        if zones.iter().any(|other| other.origin == zone.origin) {
            errors.push(format!("rpz: policy zone {} is also a [[zone]]", zone.origin));
        }
        zones.push(zone);
    }
    let mut acl = crate::policy_config::acl(&raw.acl, &mut errors);
    let resolver = crate::resolver_config::resolver(&raw.resolver, base, &mut errors);
    if let Some(list) = &resolver.allow_recursion {
        acl.global.recursion = Some(list.clone());
    }
    let forward = crate::forward_config::forwards(&raw.forward, &mut errors);
    let keys = crate::key_config::keys(&raw.key, &mut errors);
    let lists = [("listen-tls", server.listen_tls.as_ref()), ("listen-https", server.listen_https.as_ref()), ("listen-quic", server.listen_quic.as_ref())];
    let encrypted = crate::tls_config::encrypted(lists, raw.tls.as_ref(), base, &mut errors);
    crate::zone_config::check_zone_keys(&zones, &keys, &mut errors);
    crate::key_config::check_acl_keys(&acl, &keys, &mut errors);
    let rrl = crate::policy_config::rrl(raw.rrl.as_ref(), &mut errors);
    let query_limit = crate::policy_config::query_limit(raw.query_limit.as_ref(), &mut errors);
    let cookies = crate::policy_config::cookies(&raw.cookies, &mut errors);
    let ops = crate::ops_config::ops(&raw.http, &raw.control, &raw.alerts, base, &mut errors);
    let dnstap = crate::ops_config::dnstap(&raw.dnstap, base, &mut errors);
    let querylog = crate::ops_config::querylog(&raw.querylog, base, &mut errors);
    let tunnelling = crate::detection_config::tunnelling(&raw.detection, &mut errors);
    let shadowing = crate::detection_config::shadowing(&raw.detection, &mut errors);
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
    Ok(Settings {
        listen,
        listen_defaulted,
        threads,
        reply_cache,
        engine,
        tcp,
        log_level,
        zones,
        acl,
        rrl,
        query_limit,
        cookies,
        resolver,
        forward,
        keys,
        ops,
        dnstap,
        querylog,
        key_directory,
        encrypted,
        tunnelling,
        shadowing,
        rpz,
        xdp,
    })
}

fn apply_flags(settings: &mut Settings, args: &ServeArgs) -> Result<(), Vec<String>> {
    if !args.listen.is_empty() {
        settings.listen.clone_from(&args.listen);
        settings.listen_defaulted = false;
    }
    if let Some(threads) = args.threads {
        settings.threads = threads;
    }
    if args.http.is_some() {
        settings.ops.http = args.http;
    }
    if let Some(path) = &args.control {
        settings.ops.control = crate::ops_config::ControlSocket::Path(path.clone());
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
    crate::tls_config::apply_flags(&mut settings.encrypted, args, &mut errors);
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
    if let Some(path) = &args.trust_anchor {
        match crate::resolver_config::apply_trust_anchors(&mut settings.resolver.settings, path) {
            Ok(()) => settings.resolver.trust_anchor_file = Some(path.clone()),
            Err(error) => errors.push(format!("--trust-anchor: {error}")),
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

    fn unknown(key: &str) -> String {
        format!("unknown key {key} (see the configuration reference in README.md)")
    }

    #[test]
    fn unknown_keys_are_reported_with_their_full_paths() {
        let (_, errors) = parse_file("[server]\nlisten-on = []\n[tcp]\nbogus = 1\nin-flight = 0\n").unwrap();
        assert_eq!(errors, [unknown("server.listen-on"), unknown("tcp.bogus")]);
        let text = "[resolver]\nzone-querry-rate = 5\n[[zone]]\norigin = \"a.\"\nfile = \"a\"\n[[zone]]\norigin = \"b.\"\nfile = \"b\"\n\
                    [[zone]]\norigin = \"c.\"\nprimaryes = [\"192.0.2.1\"]\n[acl]\nquerry = []\n[[acl.listener]]\naddress = \"x\"\nnotfy = []\n\
                    [[forward]]\nzone = \".\"\nprimaries = []\nwieghts = {}\n[[key]]\nname = \"k.\"\nsecret = \"\"\nalgoritm = \"x\"\n[resolvr]\n";
        let (_, errors) = parse_file(text).unwrap();
        let expected =
            ["resolver.zone-querry-rate", "zone[2].primaryes", "acl.querry", "acl.listener[0].notfy", "forward[0].wieghts", "key[0].algoritm", "resolvr"];
        let mut sorted = errors.clone();
        sorted.sort();
        let mut wanted: Vec<String> = expected.iter().map(|key| unknown(key)).collect();
        wanted.sort();
        assert_eq!(sorted, wanted);
    }

    /// Unknown keys were once found by re-parsing serde's "unknown field `x`" and removing the
    /// first key named x anywhere in the file: a key unknown in one table whose name another
    /// table has was reported (and removed) there. `level` is `log`'s, `zone` the top level's.
    #[test]
    fn an_unknown_key_named_like_another_tables_key_is_reported_where_it_is() {
        let text = "[log]\nlevel = \"debug\"\n[rrl]\nzone = 1\n[[zone]]\norigin = \"example.\"\nfile = \"example.zone\"\nlevel = 3\n";
        let (raw, errors) = parse_file(text).unwrap();
        assert_eq!(errors, [unknown("rrl.zone"), unknown("zone[0].level")]);
        // Nothing else was taken away: the log level and the zone are still there.
        assert_eq!(raw.log.level.as_deref(), Some("debug"));
        assert_eq!(raw.zone.len(), 1);
    }

    #[test]
    fn a_value_of_the_wrong_type_is_a_toml_error_with_its_place() {
        let error = parse_file("[tcp]\nin-flight = \"many\"\n").unwrap_err();
        assert!(error.contains("in-flight") || error.contains("line 2"), "{error}");
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
