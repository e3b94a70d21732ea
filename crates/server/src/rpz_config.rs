//! `[[rpz]]` and `[[blocklist]]` (issue 16 item 3). A policy zone is an ordinary zone of the
//! server: `file` makes it a primary (reloaded on SIGHUP), `primaries` a secondary (transferred,
//! kept current with NOTIFY and refreshes by `secondary.rs`, like any `[[zone]]`, with `key` for
//! TSIG); validation adds it to the zone list and keeps its `policy` and `log` for the engine.
//! The order of the tables is the order of precedence: policy zones first, then blocklists.

use crate::config::{file, ZoneSettings};
use portcullis_engine::policy::rpz::{ListAction, ListFormat, PolicyOverride, ZoneSettings as RpzZone};
use std::path::{Path, PathBuf};

/// One `[[rpz]]` as written.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RpzFile {
    /// The policy zone's name.
    pub zone: String,
    /// A zone file (the zone is a primary of this server).
    pub file: Option<String>,
    /// Where the zone is transferred from, `ADDR[:PORT]`.
    #[serde(default)]
    pub primaries: Vec<String>,
    /// The TSIG key of the transfers.
    pub key: Option<String>,
    /// `given` (default), `nxdomain`, `nodata`, `passthru`, `drop` or `disabled`.
    pub policy: Option<String>,
    /// Log each match (default false).
    pub log: Option<bool>,
}

/// One `[[blocklist]]` as written.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BlocklistFile {
    /// The list file.
    pub file: String,
    /// `hosts` or `domains`.
    pub format: String,
    /// `nxdomain` (default), `refused` or `null`.
    pub action: Option<String>,
    /// Log each match (default false).
    pub log: Option<bool>,
}

/// A validated `[[blocklist]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListConfig {
    /// The file (relative paths from the configuration's directory).
    pub path: PathBuf,
    /// Its format.
    pub format: ListFormat,
    /// What a listed name gets.
    pub action: ListAction,
    /// Log each match.
    pub log: bool,
}

/// The validated tables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RpzConfig {
    /// Policy zones in order.
    pub zones: Vec<RpzZone>,
    /// Blocklists in order.
    pub lists: Vec<ListConfig>,
}

impl RpzConfig {
    /// True when nothing is configured.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty() && self.lists.is_empty()
    }
}

/// Validates `[[rpz]]` and `[[blocklist]]`; the policy zones are returned as zones to serve too.
pub fn rpz(
    zones: &[RpzFile],
    lists: &[BlocklistFile],
    base: Option<&Path>,
    state_directory: &Path,
    errors: &mut Vec<String>,
) -> (RpzConfig, Vec<ZoneSettings>) {
    let mut config = RpzConfig::default();
    let mut served = Vec::new();
    for (i, raw) in zones.iter().enumerate() {
        let path = format!("rpz[{i}]");
        let policy = match raw.policy.as_deref().unwrap_or("given") {
            "given" => PolicyOverride::Given,
            "nxdomain" => PolicyOverride::Nxdomain,
            "nodata" => PolicyOverride::Nodata,
            "passthru" => PolicyOverride::Passthru,
            "drop" => PolicyOverride::Drop,
            "disabled" => PolicyOverride::Disabled,
            other => {
                errors.push(format!("{path}.policy: '{other}' is not one of given, nxdomain, nodata, passthru, drop, disabled"));
                continue;
            }
        };
        if raw.file.is_some() != raw.primaries.is_empty() {
            errors.push(format!("{path}: a policy zone needs either file (served from it) or primaries (transferred), not both"));
            continue;
        }
        let zone =
            file::Zone { origin: raw.zone.clone(), file: raw.file.clone(), primaries: raw.primaries.clone(), key: raw.key.clone(), ..file::Zone::default() };
        let signing = crate::zone_config::Signing { policies: &[], key_directory: Path::new("") };
        let mut own = Vec::new();
        let settings = crate::zone_config::zones(std::slice::from_ref(&zone), base, &signing, state_directory, &mut own);
        errors.extend(own.into_iter().map(|error| error.replacen("zone[0]", &path, 1)));
        let Some(settings) = settings.into_iter().next() else { continue };
        if config.zones.iter().any(|other: &RpzZone| other.origin == settings.origin) {
            errors.push(format!("{path}: policy zone {} is listed twice", settings.origin));
            continue;
        }
        config.zones.push(RpzZone { origin: settings.origin, policy, log: raw.log.unwrap_or(false) });
        served.push(settings);
    }
    for (i, raw) in lists.iter().enumerate() {
        if let Some(list) = list(&format!("blocklist[{i}]"), raw, base, errors) {
            config.lists.push(list);
        }
    }
    (config, served)
}

fn list(path: &str, raw: &BlocklistFile, base: Option<&Path>, errors: &mut Vec<String>) -> Option<ListConfig> {
    let format = match raw.format.as_str() {
        "hosts" => ListFormat::Hosts,
        "domains" => ListFormat::Domains,
        other => {
            errors.push(format!("{path}.format: '{other}' is not hosts or domains"));
            return None;
        }
    };
    let action = match raw.action.as_deref().unwrap_or("nxdomain") {
        "nxdomain" => ListAction::Nxdomain,
        "refused" => ListAction::Refused,
        "null" => ListAction::Null,
        other => {
            errors.push(format!("{path}.action: '{other}' is not nxdomain, refused or null"));
            return None;
        }
    };
    let file = PathBuf::from(&raw.file);
    let path = match base {
        Some(base) if file.is_relative() => base.join(file),
        _ => file,
    };
    Some(ListConfig { path, format, action, log: raw.log.unwrap_or(false) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_validate_into_zones_and_lists() {
        let text = r#"
[[rpz]]
zone = "rpz.example"
file = "rpz.zone"
policy = "nxdomain"
log = true

[[rpz]]
zone = "feed.example."
primaries = ["127.0.0.1:5300"]

[[blocklist]]
file = "/etc/hosts.block"
format = "hosts"
action = "null"

[[blocklist]]
file = "domains.txt"
format = "domains"
"#;
        let (raw, unknown) = crate::config::parse_file(text).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        let settings = crate::config::validate(&raw, Some(Path::new("/etc/p"))).unwrap();
        let rpz = &settings.rpz;
        assert_eq!(
            rpz.zones.iter().map(|z| (z.origin.to_string(), z.policy, z.log)).collect::<Vec<_>>(),
            [("rpz.example.".to_string(), PolicyOverride::Nxdomain, true), ("feed.example.".to_string(), PolicyOverride::Given, false)]
        );
        assert_eq!(rpz.lists[0], ListConfig { path: "/etc/hosts.block".into(), format: ListFormat::Hosts, action: ListAction::Null, log: false });
        assert_eq!((rpz.lists[1].path.clone(), rpz.lists[1].action), (PathBuf::from("/etc/p/domains.txt"), ListAction::Nxdomain));
        let zones: Vec<_> = settings.zones.iter().map(|z| (z.origin.to_string(), z.primaries.len(), z.file.clone())).collect();
        assert!(zones.contains(&("rpz.example.".into(), 0, PathBuf::from("/etc/p/rpz.zone"))), "{zones:?}");
        // A transferred policy zone keeps its copy in the state directory, as any secondary.
        assert!(zones.contains(&("feed.example.".into(), 1, PathBuf::from("/etc/p/state/feed.example.zone"))), "{zones:?}");
    }

    #[test]
    fn bad_tables_are_reported() {
        let text = r#"
[[rpz]]
zone = "a.example"
policy = "block"
file = "x"

[[rpz]]
zone = "b.example"

[[rpz]]
zone = "c.example"
file = "c"
primaries = ["nope"]

[[blocklist]]
file = "x"
format = "adblock"

[[blocklist]]
file = "x"
format = "hosts"
action = "sinkhole"
"#;
        let (raw, _) = crate::config::parse_file(text).unwrap();
        let errors = crate::config::validate(&raw, None).unwrap_err();
        let starts = ["rpz[0].policy: 'block'", "rpz[1]: a policy zone needs", "rpz[2]: a policy zone needs", "blocklist[0].format", "blocklist[1].action"];
        assert_eq!(errors.len(), starts.len(), "{errors:?}");
        for (error, start) in errors.iter().zip(starts) {
            assert!(error.starts_with(start), "{error}");
        }
    }
}
