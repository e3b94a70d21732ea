//! The `[acl]`, `[rrl]`, `[query-limit]` and `[cookies]` tables: file layer and validation into
//! the engine's policy settings (names follow BIND's options where one exists, Knot's for the
//! query limiter).

use crate::config::Limit;
use portcullis_engine::policy::{
    AclSettings, ActionRules, CookieSettings, DenyResponse, ListenerRules, MatchElement, NamedList, Prefix, QueryLimitSettings, RrlSettings, ZoneRules,
};
use portcullis_wire::NameBuf;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[acl]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AclFile {
    /// "refuse" (default) or "drop".
    pub denied: Option<String>,
    /// Named address match lists.
    #[serde(default)]
    pub lists: BTreeMap<String, Vec<String>>,
    pub query: Option<Vec<String>>,
    pub recursion: Option<Vec<String>>,
    pub transfer: Option<Vec<String>>,
    pub notify: Option<Vec<String>>,
    pub update: Option<Vec<String>>,
    /// `[[acl.listener]]`.
    #[serde(default)]
    pub listener: Vec<ListenerFile>,
    /// `[[acl.zone]]`.
    #[serde(default)]
    pub zone: Vec<ZoneAclFile>,
}

/// Match lists per action, as the three rule tables (`[acl]`, `[[acl.listener]]`, `[[acl.zone]]`)
/// spell them. Written out in each rather than flattened: serde hands a flattened struct's keys
/// over without telling `serde_ignored` which were unknown.
#[derive(Debug)]
pub struct RulesFile<'a> {
    pub query: &'a Option<Vec<String>>,
    pub recursion: &'a Option<Vec<String>>,
    pub transfer: &'a Option<Vec<String>>,
    pub notify: &'a Option<Vec<String>>,
    pub update: &'a Option<Vec<String>>,
}

/// `fn rules(&self) -> RulesFile` for the tables that have the match lists.
macro_rules! rules_of {
    ($($table:ty),*) => {$(
        impl $table {
            /// Its match lists.
            pub fn rules(&self) -> RulesFile<'_> {
                RulesFile { query: &self.query, recursion: &self.recursion, transfer: &self.transfer, notify: &self.notify, update: &self.update }
            }
        }
    )*};
}
rules_of!(AclFile, ListenerFile, ZoneAclFile);

/// `[[acl.listener]]`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ListenerFile {
    /// A listen address exactly as in `server.listen`.
    pub address: String,
    pub query: Option<Vec<String>>,
    pub recursion: Option<Vec<String>>,
    pub transfer: Option<Vec<String>>,
    pub notify: Option<Vec<String>>,
    pub update: Option<Vec<String>>,
}

/// `[[acl.zone]]`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ZoneAclFile {
    pub zone: String,
    pub query: Option<Vec<String>>,
    pub recursion: Option<Vec<String>>,
    pub transfer: Option<Vec<String>>,
    pub notify: Option<Vec<String>>,
    pub update: Option<Vec<String>>,
}

/// `[rrl]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RrlFile {
    pub enabled: Option<bool>,
    pub responses_per_second: Option<u64>,
    pub nxdomains_per_second: Option<u64>,
    pub nodata_per_second: Option<u64>,
    pub referrals_per_second: Option<u64>,
    pub errors_per_second: Option<u64>,
    pub all_per_second: Option<u64>,
    pub window: Option<u64>,
    pub slip: Option<u64>,
    pub ipv4_prefix_length: Option<u64>,
    pub ipv6_prefix_length: Option<u64>,
    #[serde(default)]
    pub exempt_clients: Vec<String>,
    pub log_only: Option<bool>,
    pub table_size: Option<u64>,
}

impl RrlFile {
    /// `responses-per-second`.
    pub const RESPONSES_PER_SECOND: Limit<u32> = Limit::engine("responses-per-second", RrlSettings::RESPONSES_PER_SECOND);
    /// `nxdomains-per-second`.
    pub const NXDOMAINS_PER_SECOND: Limit<u32> = Limit::engine("nxdomains-per-second", RrlSettings::NXDOMAINS_PER_SECOND);
    /// `nodata-per-second`.
    pub const NODATA_PER_SECOND: Limit<u32> = Limit::engine("nodata-per-second", RrlSettings::NODATA_PER_SECOND);
    /// `referrals-per-second`.
    pub const REFERRALS_PER_SECOND: Limit<u32> = Limit::engine("referrals-per-second", RrlSettings::REFERRALS_PER_SECOND);
    /// `errors-per-second`.
    pub const ERRORS_PER_SECOND: Limit<u32> = Limit::engine("errors-per-second", RrlSettings::ERRORS_PER_SECOND);
    /// `all-per-second`.
    pub const ALL_PER_SECOND: Limit<u32> = Limit::engine("all-per-second", RrlSettings::ALL_PER_SECOND);
    /// `window`.
    pub const WINDOW: Limit<u32> = Limit::engine("window", RrlSettings::WINDOW);
    /// `slip`.
    pub const SLIP: Limit<u8> = Limit::engine("slip", RrlSettings::SLIP);
    /// `ipv4-prefix-length`.
    pub const IPV4_PREFIX_LENGTH: Limit<u8> = Limit::engine("ipv4-prefix-length", RrlSettings::IPV4_PREFIX_LENGTH);
    /// `ipv6-prefix-length`.
    pub const IPV6_PREFIX_LENGTH: Limit<u8> = Limit::engine("ipv6-prefix-length", RrlSettings::IPV6_PREFIX_LENGTH);
    /// `table-size`.
    pub const TABLE_SIZE: Limit<u32> = Limit::engine("table-size", RrlSettings::TABLE_SIZE);
}

/// `[query-limit]`: Knot's per-prefix UDP query limiter.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct QueryLimitFile {
    pub enabled: Option<bool>,
    pub rate_limit: Option<u64>,
    pub instant_limit: Option<u64>,
    pub slip: Option<u64>,
    pub table_size: Option<u64>,
}

impl QueryLimitFile {
    /// `rate-limit`.
    pub const RATE_LIMIT: Limit<u32> = Limit::engine("rate-limit", QueryLimitSettings::RATE_LIMIT);
    /// `instant-limit`.
    pub const INSTANT_LIMIT: Limit<u32> = Limit::engine("instant-limit", QueryLimitSettings::INSTANT_LIMIT);
    /// `slip`.
    pub const SLIP: Limit<u8> = Limit::engine("slip", QueryLimitSettings::SLIP);
    /// `table-size`.
    pub const TABLE_SIZE: Limit<u32> = Limit::engine("table-size", QueryLimitSettings::TABLE_SIZE);
}

/// `[cookies]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CookiesFile {
    pub answer_cookie: Option<bool>,
    pub require_cookie: Option<bool>,
    pub secret: Option<String>,
    pub secret_lifetime_hours: Option<u64>,
    pub nocookie_udp_size: Option<u64>,
}

impl CookiesFile {
    /// `secret-lifetime-hours`.
    pub const SECRET_LIFETIME_HOURS: Limit<u64> = Limit::new("secret-lifetime-hours", 24, 1, 8760);
    /// `nocookie-udp-size`.
    pub const NOCOOKIE_UDP_SIZE: Limit<u16> = Limit::new("nocookie-udp-size", 1232, 512, 4096);
}

/// Validated cookie settings.
#[derive(Clone, Debug)]
pub struct CookieConfig {
    /// Answer cookies at all (`answer-cookie`).
    pub answer: bool,
    /// The engine unit's settings.
    pub settings: CookieSettings,
    /// A fixed secret (all servers of an anycast group share it); `None` = random, rotated.
    pub secret: Option<[u8; 16]>,
    /// Hours between rotations of a random secret.
    pub lifetime_hours: u64,
    /// Largest UDP answer to a client without a valid server cookie.
    pub nocookie_udp_size: u16,
}

/// Validates `[acl]`; `listen` names the listeners in order.
pub fn acl(raw: &AclFile, errors: &mut Vec<String>) -> AclSettings {
    let denied = match raw.denied.as_deref() {
        None | Some("refuse") => DenyResponse::Refuse,
        Some("drop") => DenyResponse::Drop,
        Some(other) => {
            errors.push(format!("acl.denied: '{other}' is not \"refuse\" or \"drop\""));
            DenyResponse::Refuse
        }
    };
    let lists =
        raw.lists.iter().map(|(name, items)| NamedList { name: name.clone(), elements: elements(&format!("acl.lists.{name}"), items, errors) }).collect();
    let listeners = raw
        .listener
        .iter()
        .enumerate()
        .map(|(i, l)| ListenerRules { listener: l.address.clone(), rules: rules(&format!("acl.listener[{i}]"), &l.rules(), errors) })
        .collect();
    let mut zones = Vec::new();
    for (i, zone) in raw.zone.iter().enumerate() {
        let text = if zone.zone.ends_with('.') { zone.zone.clone() } else { format!("{}.", zone.zone) };
        match NameBuf::from_text(&text, None) {
            Ok(name) => zones.push(ZoneRules { zone: name, rules: rules(&format!("acl.zone[{i}]"), &zone.rules(), errors) }),
            Err(error) => errors.push(format!("acl.zone[{i}].zone: '{}': {error}", zone.zone)),
        }
    }
    AclSettings { lists, global: rules("acl", &raw.rules(), errors), listeners, zones, denied }
}

/// Validates `[rrl]`: on, with the defaults, when absent; `enabled = false` turns it off.
pub fn rrl(raw: Option<&RrlFile>, errors: &mut Vec<String>) -> RrlSettings {
    let Some(raw) = raw else { return RrlSettings::DEFAULT };
    let exempt = raw
        .exempt_clients
        .iter()
        .enumerate()
        .filter_map(|(i, text)| text.parse::<Prefix>().map_err(|e| errors.push(format!("rrl.exempt-clients[{i}]: '{text}': {e}"))).ok())
        .collect();
    RrlSettings {
        enabled: raw.enabled.unwrap_or(true),
        responses_per_second: RrlFile::RESPONSES_PER_SECOND.get("rrl", raw.responses_per_second, errors),
        nxdomains_per_second: RrlFile::NXDOMAINS_PER_SECOND.get("rrl", raw.nxdomains_per_second, errors),
        nodata_per_second: RrlFile::NODATA_PER_SECOND.get("rrl", raw.nodata_per_second, errors),
        referrals_per_second: RrlFile::REFERRALS_PER_SECOND.get("rrl", raw.referrals_per_second, errors),
        errors_per_second: RrlFile::ERRORS_PER_SECOND.get("rrl", raw.errors_per_second, errors),
        all_per_second: RrlFile::ALL_PER_SECOND.get("rrl", raw.all_per_second, errors),
        window: RrlFile::WINDOW.get("rrl", raw.window, errors),
        slip: RrlFile::SLIP.get("rrl", raw.slip, errors),
        ipv4_prefix_length: RrlFile::IPV4_PREFIX_LENGTH.get("rrl", raw.ipv4_prefix_length, errors),
        ipv6_prefix_length: RrlFile::IPV6_PREFIX_LENGTH.get("rrl", raw.ipv6_prefix_length, errors),
        exempt,
        log_only: raw.log_only.unwrap_or(false),
        table_size: RrlFile::TABLE_SIZE.get("rrl", raw.table_size, errors),
    }
}

/// Validates `[query-limit]`: off unless the table is present (and not `enabled = false`).
pub fn query_limit(raw: Option<&QueryLimitFile>, errors: &mut Vec<String>) -> QueryLimitSettings {
    let Some(raw) = raw else { return QueryLimitSettings::DEFAULT };
    QueryLimitSettings {
        enabled: raw.enabled.unwrap_or(true),
        rate_limit: QueryLimitFile::RATE_LIMIT.get("query-limit", raw.rate_limit, errors),
        instant_limit: QueryLimitFile::INSTANT_LIMIT.get("query-limit", raw.instant_limit, errors),
        slip: QueryLimitFile::SLIP.get("query-limit", raw.slip, errors),
        table_size: QueryLimitFile::TABLE_SIZE.get("query-limit", raw.table_size, errors),
    }
}

/// Validates `[cookies]`.
pub fn cookies(raw: &CookiesFile, errors: &mut Vec<String>) -> CookieConfig {
    let secret = raw.secret.as_ref().and_then(|hex| match parse_secret(hex) {
        Some(secret) => Some(secret),
        None => {
            errors.push("cookies.secret: expected 32 hexadecimal digits (128 bits)".into());
            None
        }
    });
    CookieConfig {
        answer: raw.answer_cookie.unwrap_or(true),
        settings: CookieSettings { require_cookie: raw.require_cookie.unwrap_or(false), ..CookieSettings::DEFAULT },
        secret,
        lifetime_hours: CookiesFile::SECRET_LIFETIME_HOURS.get("cookies", raw.secret_lifetime_hours, errors),
        nocookie_udp_size: CookiesFile::NOCOOKIE_UDP_SIZE.get("cookies", raw.nocookie_udp_size, errors),
    }
}

fn rules(path: &str, raw: &RulesFile<'_>, errors: &mut Vec<String>) -> ActionRules {
    let mut list = |key: &str, items: &Option<Vec<String>>| items.as_ref().map(|items| elements(&format!("{path}.{key}"), items, errors));
    ActionRules {
        query: list("query", raw.query),
        recursion: list("recursion", raw.recursion),
        transfer: list("transfer", raw.transfer),
        notify: list("notify", raw.notify),
        update: list("update", raw.update),
    }
}

fn elements(path: &str, items: &[String], errors: &mut Vec<String>) -> Vec<MatchElement> {
    items.iter().enumerate().filter_map(|(i, text)| text.parse::<MatchElement>().map_err(|e| errors.push(format!("{path}[{i}]: '{text}': {e}"))).ok()).collect()
}

fn parse_secret(hex: &str) -> Option<[u8; 16]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 32 {
        return None;
    }
    let mut secret = [0u8; 16];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        secret[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(secret)
}
