//! The `[acl]`, `[rrl]`, `[query-limit]` and `[cookies]` tables: file layer and validation into
//! the engine's policy settings (names follow BIND's options where one exists, Knot's for the
//! query limiter).

use crate::config::LIMITS;
use portcullis_engine::policy::{
    AclSettings, ActionRules, CookieSettings, DenyResponse, ListenerRules, MatchElement, NamedList, Prefix, QueryLimitSettings, RrlSettings, ZoneRules,
};
use portcullis_wire::NameBuf;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[acl]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AclFile {
    /// "refuse" (default) or "drop".
    pub denied: Option<String>,
    /// Named address match lists.
    #[serde(default)]
    pub lists: BTreeMap<String, Vec<String>>,
    #[serde(flatten)]
    pub rules: RulesFile,
    /// `[[acl.listener]]`.
    #[serde(default)]
    pub listener: Vec<ListenerFile>,
    /// `[[acl.zone]]`.
    #[serde(default)]
    pub zone: Vec<ZoneAclFile>,
}

/// Match lists per action.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RulesFile {
    pub query: Option<Vec<String>>,
    pub recursion: Option<Vec<String>>,
    pub transfer: Option<Vec<String>>,
    pub notify: Option<Vec<String>>,
    pub update: Option<Vec<String>>,
}

/// `[[acl.listener]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ListenerFile {
    /// A listen address exactly as in `server.listen`.
    pub address: String,
    #[serde(flatten)]
    pub rules: RulesFile,
}

/// `[[acl.zone]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ZoneAclFile {
    pub zone: String,
    #[serde(flatten)]
    pub rules: RulesFile,
}

/// `[rrl]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
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

/// `[query-limit]`: Knot's per-prefix UDP query limiter.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct QueryLimitFile {
    pub enabled: Option<bool>,
    pub rate_limit: Option<u64>,
    pub instant_limit: Option<u64>,
    pub slip: Option<u64>,
    pub table_size: Option<u64>,
}

/// `[cookies]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CookiesFile {
    pub answer_cookie: Option<bool>,
    pub require_cookie: Option<bool>,
    pub secret: Option<String>,
    pub secret_lifetime_hours: Option<u64>,
    pub nocookie_udp_size: Option<u64>,
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
        .map(|(i, l)| ListenerRules { listener: l.address.clone(), rules: rules(&format!("acl.listener[{i}]"), &l.rules, errors) })
        .collect();
    let mut zones = Vec::new();
    for (i, zone) in raw.zone.iter().enumerate() {
        let text = if zone.zone.ends_with('.') { zone.zone.clone() } else { format!("{}.", zone.zone) };
        match NameBuf::from_text(&text, None) {
            Ok(name) => zones.push(ZoneRules { zone: name, rules: rules(&format!("acl.zone[{i}]"), &zone.rules, errors) }),
            Err(error) => errors.push(format!("acl.zone[{i}].zone: '{}': {error}", zone.zone)),
        }
    }
    AclSettings { lists, global: rules("acl", &raw.rules, errors), listeners, zones, denied }
}

/// Validates `[rrl]`: on, with the defaults, when absent; `enabled = false` turns it off.
pub fn rrl(raw: Option<&RrlFile>, errors: &mut Vec<String>) -> RrlSettings {
    let Some(raw) = raw else { return RrlSettings::DEFAULT };
    let d = RrlSettings::DEFAULT;
    let exempt = raw
        .exempt_clients
        .iter()
        .enumerate()
        .filter_map(|(i, text)| text.parse::<Prefix>().map_err(|e| errors.push(format!("rrl.exempt-clients[{i}]: '{text}': {e}"))).ok())
        .collect();
    let mut n = |key: &str, value: Option<u64>, default: u64| bounded(&format!("rrl.{key}"), value, default, errors);
    RrlSettings {
        enabled: raw.enabled.unwrap_or(true),
        responses_per_second: n("responses-per-second", raw.responses_per_second, d.responses_per_second.into()) as u32,
        nxdomains_per_second: n("nxdomains-per-second", raw.nxdomains_per_second, d.nxdomains_per_second.into()) as u32,
        nodata_per_second: n("nodata-per-second", raw.nodata_per_second, d.nodata_per_second.into()) as u32,
        referrals_per_second: n("referrals-per-second", raw.referrals_per_second, d.referrals_per_second.into()) as u32,
        errors_per_second: n("errors-per-second", raw.errors_per_second, d.errors_per_second.into()) as u32,
        all_per_second: n("all-per-second", raw.all_per_second, d.all_per_second.into()) as u32,
        window: n("window", raw.window, d.window.into()) as u32,
        slip: n("slip", raw.slip, d.slip.into()) as u8,
        ipv4_prefix_length: n("ipv4-prefix-length", raw.ipv4_prefix_length, d.ipv4_prefix_length.into()) as u8,
        ipv6_prefix_length: n("ipv6-prefix-length", raw.ipv6_prefix_length, d.ipv6_prefix_length.into()) as u8,
        exempt,
        log_only: raw.log_only.unwrap_or(false),
        table_size: n("table-size", raw.table_size, d.table_size.into()) as u32,
    }
}

/// Validates `[query-limit]`: off unless the table is present (and not `enabled = false`).
pub fn query_limit(raw: Option<&QueryLimitFile>, errors: &mut Vec<String>) -> QueryLimitSettings {
    let Some(raw) = raw else { return QueryLimitSettings::DEFAULT };
    let d = QueryLimitSettings::DEFAULT;
    let mut n = |key: &str, value: Option<u64>, default: u64| bounded(&format!("query-limit.{key}"), value, default, errors);
    QueryLimitSettings {
        enabled: raw.enabled.unwrap_or(true),
        rate_limit: n("rate-limit", raw.rate_limit, d.rate_limit.into()) as u32,
        instant_limit: n("instant-limit", raw.instant_limit, d.instant_limit.into()) as u32,
        slip: n("slip", raw.slip, d.slip.into()) as u8,
        table_size: n("table-size", raw.table_size, d.table_size.into()) as u32,
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
        lifetime_hours: bounded("cookies.secret-lifetime-hours", raw.secret_lifetime_hours, 24, errors),
        nocookie_udp_size: bounded("cookies.nocookie-udp-size", raw.nocookie_udp_size, 1232, errors) as u16,
    }
}

fn rules(path: &str, raw: &RulesFile, errors: &mut Vec<String>) -> ActionRules {
    let mut list = |key: &str, items: &Option<Vec<String>>| items.as_ref().map(|items| elements(&format!("{path}.{key}"), items, errors));
    ActionRules {
        query: list("query", &raw.query),
        recursion: list("recursion", &raw.recursion),
        transfer: list("transfer", &raw.transfer),
        notify: list("notify", &raw.notify),
        update: list("update", &raw.update),
    }
}

fn elements(path: &str, items: &[String], errors: &mut Vec<String>) -> Vec<MatchElement> {
    items.iter().enumerate().filter_map(|(i, text)| text.parse::<MatchElement>().map_err(|e| errors.push(format!("{path}[{i}]: '{text}': {e}"))).ok()).collect()
}

fn bounded(path: &str, value: Option<u64>, default: u64, errors: &mut Vec<String>) -> u64 {
    match LIMITS.iter().find(|(name, _)| *name == path) {
        Some((_, limit)) => crate::config::within(path, value, *limit, errors),
        None => value.unwrap_or(default),
    }
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
