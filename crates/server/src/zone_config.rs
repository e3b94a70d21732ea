//! The `[[zone]]` tables: a primary zone from its `file`, or a secondary zone transferred from
//! its `primaries` (and kept in `file`, when given); either may `notify` its own secondaries. A TSIG `key` signs what the zone
//! sends: SOA queries and transfer requests to its primaries, NOTIFY to its secondaries. A
//! secondary's transfers in are bounded (`transfer-max-records`, `transfer-max-bytes`,
//! `transfer-timeout`).

use crate::config::{file, ZoneSettings, EMBEDDED_ZONE_PATH};
use portcullis_engine::auth::receive::TransferLimits;
use portcullis_engine::policy::TsigKey;
use portcullis_wire::NameBuf;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The bounds of one transfer in of a secondary zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferSettings {
    /// Records and bytes (`transfer-max-records`, `transfer-max-bytes`).
    pub limits: TransferLimits,
    /// The whole transfer, from connect to last message (`transfer-timeout`).
    pub timeout: Duration,
}

impl TransferSettings {
    /// 10 million records, 1 GiB, 300 s (the defaults of the `[[zone]]` keys).
    pub const DEFAULT: Self = Self {
        limits: TransferLimits { max_records: file::Zone::TRANSFER_MAX_RECORDS.default, max_bytes: file::Zone::TRANSFER_MAX_BYTES.default },
        timeout: Duration::from_secs(file::Zone::TRANSFER_TIMEOUT.default),
    };
}

impl Default for TransferSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What a zone's `dnssec-policy` may name, and where signed zones' keys go.
pub struct Signing<'a> {
    /// The validated `[[dnssec-policy]]` tables and the built-in `default`.
    pub policies: &'a [crate::dnssec_config::DnssecPolicy],
    /// `[server] key-directory`.
    pub key_directory: &'a Path,
}

/// Validates every `[[zone]]`; `base` is the config file's directory.
pub fn zones(raw: &[file::Zone], base: Option<&Path>, signing: &Signing<'_>, state: &Path, errors: &mut Vec<String>) -> Vec<ZoneSettings> {
    let mut zones = Vec::new();
    for (i, zone) in raw.iter().enumerate() {
        let path = format!("zone[{i}]");
        let file = match (&zone.file, zone.primaries.is_empty()) {
            // A primary's zone file, or where a secondary keeps its copy.
            (Some(file), _) => file.as_str(),
            (None, false) => "",
            (None, true) => {
                errors.push(format!("{path}: a zone needs a file (primary) or primaries (secondary)"));
                continue;
            }
        };
        let mut settings = match zone_settings(&zone.origin, file, base) {
            Ok(settings) => settings,
            Err(message) => {
                errors.push(format!("{path}: {message}"));
                continue;
            }
        };
        settings.notify = addresses(&format!("{path}.notify"), &zone.notify, errors);
        settings.primaries = addresses(&format!("{path}.primaries"), &zone.primaries, errors);
        settings.key = zone.key.as_deref().and_then(|text| {
            let absolute = if text.ends_with('.') { text.to_owned() } else { format!("{text}.") };
            NameBuf::from_text(&absolute, None).map_err(|_| errors.push(format!("{path}.key: '{text}' is not a key name"))).ok()
        });
        settings.transfer = transfer(&path, zone, errors);
        journal(&mut settings, zone, base, state, &path, errors);
        let secondary = !settings.primaries.is_empty();
        settings.update = crate::update_config::zone_update(&path, zone, &settings.origin, secondary, errors);
        settings.signing = crate::dnssec_config::zone_signing(&path, zone.dnssec_policy.as_deref(), secondary, signing.policies, signing.key_directory, errors);
        if settings.key.is_some() && settings.primaries.is_empty() && settings.notify.is_empty() {
            errors.push(format!("{path}.key: a key signs transfers from primaries and NOTIFY to secondaries; this zone has neither"));
        }
        settings.catalog = crate::catalog_config::zone(&path, zone, &settings, errors);
        if zones.iter().any(|other: &ZoneSettings| other.origin == settings.origin) {
            errors.push(format!("{path}: zone {} is defined twice", settings.origin));
            continue;
        }
        zones.push(settings);
    }
    crate::catalog_config::check_members(&zones, errors);
    zones
}

/// A zone's transfer bounds; on a zone without `primaries` (nothing is transferred in) the keys
/// are an error.
fn transfer(path: &str, zone: &file::Zone, errors: &mut Vec<String>) -> TransferSettings {
    if zone.primaries.is_empty() {
        let keys =
            [("transfer-max-records", zone.transfer_max_records), ("transfer-max-bytes", zone.transfer_max_bytes), ("transfer-timeout", zone.transfer_timeout)];
        for (key, _) in keys.iter().filter(|(_, value)| value.is_some()) {
            errors.push(format!("{path}.{key}: bounds transfers in, and this zone has no primaries"));
        }
    }
    let limits = TransferLimits {
        max_records: file::Zone::TRANSFER_MAX_RECORDS.get(path, zone.transfer_max_records, errors),
        max_bytes: file::Zone::TRANSFER_MAX_BYTES.get(path, zone.transfer_max_bytes, errors),
    };
    TransferSettings { limits, timeout: Duration::from_secs(file::Zone::TRANSFER_TIMEOUT.get(path, zone.transfer_timeout, errors)) }
}

/// A zone's journal and its bound; a secondary without a `file` keeps its copy in the state
/// directory (so that a restart serves it at once), as it keeps its journal there.
fn journal(settings: &mut ZoneSettings, zone: &file::Zone, base: Option<&Path>, state: &Path, path: &str, errors: &mut Vec<String>) {
    if settings.file.as_os_str().is_empty() {
        settings.file = state.join(state_file_name(&settings.origin, "zone"));
        settings.journal = state.join(state_file_name(&settings.origin, "jnl"));
    }
    if let Some(journal) = &zone.journal {
        settings.journal = match base {
            Some(base) if Path::new(journal).is_relative() => base.join(journal),
            _ => PathBuf::from(journal),
        };
    }
    if settings.journal.as_os_str().is_empty() && settings.file.as_os_str() == EMBEDDED_ZONE_PATH {
        settings.journal = state.join(state_file_name(&settings.origin, "jnl"));
    }
    if zone.max_journal_size.is_some() {
        settings.journal_limits = crate::journal::JournalLimits::sized(file::Zone::MAX_JOURNAL_SIZE.get(path, zone.max_journal_size, errors));
    }
}

/// `ORIGIN.EXT` as a file name: the origin's text without its final dot (`root` for the root),
/// any character other than a letter, digit, `-`, `_` or `.` written as `%XX`.
pub fn state_file_name(origin: &NameBuf, ext: &str) -> String {
    let text = origin.to_string();
    let text = text.strip_suffix('.').unwrap_or(&text);
    let mut name = if text.is_empty() { String::from("root") } else { String::new() };
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{name}.{ext}")
}

/// Every zone's `key` must name a `[[key]]`.
pub fn check_zone_keys(zones: &[ZoneSettings], keys: &[TsigKey], errors: &mut Vec<String>) {
    for zone in zones {
        let Some(name) = &zone.key else { continue };
        if crate::key_config::find_key(keys, name).is_none() {
            errors.push(format!("zone {}: key {name}: no [[key]] has that name", zone.origin));
        }
    }
    for zone in zones {
        if let Some(policy) = &zone.update.policy {
            crate::update_config::check_policy_keys(policy, &zone.origin, keys, errors);
        }
    }
}

/// A zone served from `file` (resolved against `base`; empty for a secondary).
pub fn zone_settings(origin: &str, file: &str, base: Option<&Path>) -> Result<ZoneSettings, String> {
    let origin_text = if origin.ends_with('.') { origin.to_string() } else { format!("{origin}.") };
    let origin = NameBuf::from_text(&origin_text, None).map_err(|e| format!("origin '{origin}': {e}"))?;
    let path = PathBuf::from(file);
    let file = match base {
        Some(base) if !file.is_empty() && path.is_relative() && file != EMBEDDED_ZONE_PATH => base.join(path),
        _ => path,
    };
    // A zone file's journal is beside it, as BIND's (`FILE.jnl`).
    let journal = if file.as_os_str().is_empty() || file.as_os_str() == EMBEDDED_ZONE_PATH { PathBuf::new() } else { with_suffix(&file, ".jnl") };
    Ok(ZoneSettings {
        origin,
        file,
        notify: Vec::new(),
        primaries: Vec::new(),
        key: None,
        transfer: TransferSettings::DEFAULT,
        signing: None,
        catalog: Default::default(),
        journal,
        journal_limits: crate::journal::JournalLimits::DEFAULT,
        update: crate::update_config::ZoneUpdate::DEFAULT,
    })
}

/// `path` with `suffix` added to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// `ADDR[:PORT]` (port 53 by default).
fn addresses(path: &str, texts: &[String], errors: &mut Vec<String>) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let parsed =
            text.parse::<SocketAddr>().ok().or_else(|| text.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)));
        match parsed {
            Some(addr) => out.push(addr),
            None => errors.push(format!("{path}[{i}]: '{text}' is not ADDR or ADDR:PORT")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(file: Option<&str>, primaries: &[&str], key: Option<&str>) -> file::Zone {
        file::Zone {
            origin: "example.".into(),
            file: file.map(Into::into),
            primaries: primaries.iter().map(|s| (*s).to_owned()).collect(),
            key: key.map(Into::into),
            notify: vec!["192.0.2.7".into()],
            transfer_max_records: None,
            transfer_max_bytes: None,
            transfer_timeout: None,
            dnssec_policy: None,
            catalog: None,
            catalog_member: None,
            catalog_max_members: None,
            journal: None,
            max_journal_size: None,
            update_policy: None,
            zonefile_sync: None,
        }
    }

    fn no_signing() -> Signing<'static> {
        Signing { policies: &[], key_directory: Path::new("/nonexistent") }
    }

    #[test]
    fn a_zone_is_primary_or_secondary() {
        let mut errors = Vec::new();
        let primary = zones(&[zone(Some("example.zone"), &[], None)], Some(Path::new("/etc/p")), &no_signing(), Path::new("/state"), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((primary[0].file.clone(), primary[0].notify.clone()), (PathBuf::from("/etc/p/example.zone"), vec!["192.0.2.7:53".parse().unwrap()]));
        let secondary = zones(&[zone(None, &["192.0.2.1", "[2001:db8::1]:5353"], Some("xfr"))], None, &no_signing(), Path::new("/state"), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(secondary[0].primaries, ["192.0.2.1:53".parse().unwrap(), "[2001:db8::1]:5353".parse().unwrap()]);
        assert_eq!(secondary[0].key.map(|k| k.to_string()), Some("xfr.".into()));
        // Without a file, the copy and the journal are kept in the state directory.
        assert_eq!((secondary[0].file.clone(), secondary[0].journal.clone()), (PathBuf::from("/state/example.zone"), PathBuf::from("/state/example.jnl")));
        assert_eq!(primary[0].journal, PathBuf::from("/etc/p/example.zone.jnl"), "beside the zone file");
        // A secondary may keep its copy in a file.
        let kept = zones(&[zone(Some("copy.zone"), &["192.0.2.1"], None)], Some(Path::new("/var/p")), &no_signing(), Path::new("/state"), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((kept[0].file.clone(), kept[0].primaries.len()), (PathBuf::from("/var/p/copy.zone"), 1));
        let mut named = zone(Some("copy.zone"), &[], None);
        (named.journal, named.max_journal_size) = (Some("j/x.jnl".into()), Some(65_536));
        let named = zones(&[named], Some(Path::new("/var/p")), &no_signing(), Path::new("/state"), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((named[0].journal.clone(), named[0].journal_limits), (PathBuf::from("/var/p/j/x.jnl"), crate::journal::JournalLimits::sized(65_536)));
        assert_eq!(state_file_name(&NameBuf::ROOT, "jnl"), "root.jnl");
        assert_eq!(state_file_name(&NameBuf::from_text("a/b.example.", None).unwrap(), "zone"), "a%2Fb.example.zone");
    }

    #[test]
    fn bad_zones_are_reported() {
        let mut errors = Vec::new();
        let mut raw = [zone(Some("/var/a"), &["192.0.2.1"], None), zone(None, &[], None), zone(None, &["nope"], None), zone(Some("a"), &[], Some("k"))];
        raw[3].origin = "other.".into();
        raw[3].notify.clear();
        zones(&raw, None, &no_signing(), Path::new("/state"), &mut errors);
        let starts = ["zone[1]: a zone needs", "zone[2].primaries[0]", "zone[2]: zone example. is defined twice", "zone[3].key: a key signs"];
        assert_eq!(errors.len(), starts.len(), "{errors:?}");
        for (error, start) in errors.iter().zip(starts) {
            assert!(error.starts_with(start), "{error}");
        }
        let twice = [zone(Some("a"), &[], None), zone(Some("b"), &[], None)];
        let mut errors = Vec::new();
        zones(&twice, None, &no_signing(), Path::new("/state"), &mut errors);
        assert_eq!(errors, ["zone[1]: zone example. is defined twice"]);
    }

    #[test]
    fn transfer_bounds_default_and_are_validated_with_their_key_named() {
        let mut errors = Vec::new();
        let secondary = zones(&[zone(None, &["192.0.2.1"], None)], None, &no_signing(), Path::new("/state"), &mut errors);
        assert_eq!(secondary[0].transfer, TransferSettings::DEFAULT);
        assert_eq!(TransferSettings::DEFAULT.limits, TransferLimits { max_records: 10_000_000, max_bytes: 1 << 30 });
        let mut raw = zone(None, &["192.0.2.1"], None);
        (raw.transfer_max_records, raw.transfer_max_bytes, raw.transfer_timeout) = (Some(5000), Some(1 << 20), Some(2));
        let bounded = zones(&[raw], None, &no_signing(), Path::new("/state"), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let expected = TransferSettings { limits: TransferLimits { max_records: 5000, max_bytes: 1 << 20 }, timeout: Duration::from_secs(2) };
        assert_eq!(bounded[0].transfer, expected);
        let mut bad = zone(None, &["192.0.2.1"], None);
        (bad.transfer_max_records, bad.transfer_max_bytes, bad.transfer_timeout) = (Some(1), Some(1 << 40), Some(0));
        zones(&[bad], None, &no_signing(), Path::new("/state"), &mut errors);
        let starts = [
            "zone[0].transfer-max-records: 1 is outside 2..=",
            "zone[0].transfer-max-bytes: 1099511627776 is outside 65536..=",
            "zone[0].transfer-timeout: 0 is outside 1..=86400 (default 300)",
        ];
        assert_eq!(errors.len(), starts.len(), "{errors:?}");
        for (error, start) in errors.iter().zip(starts) {
            assert!(error.starts_with(start), "{error}");
        }
        // A primary zone transfers nothing in.
        let mut errors = Vec::new();
        let mut primary = zone(Some("a"), &[], None);
        primary.transfer_timeout = Some(10);
        zones(&[primary], None, &no_signing(), Path::new("/state"), &mut errors);
        assert_eq!(errors, ["zone[0].transfer-timeout: bounds transfers in, and this zone has no primaries"]);
    }

    #[test]
    fn transfer_keys_are_read_from_the_file() {
        let text =
            "[[zone]]\norigin = \"example.\"\nprimaries = [\"192.0.2.1\"]\ntransfer-max-records = 100\ntransfer-max-bytes = 100000\ntransfer-timeout = 30\n";
        let (raw, unknown) = crate::config::parse_file(text).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        let settings = crate::config::validate(&raw, None).unwrap();
        let expected = TransferSettings { limits: TransferLimits { max_records: 100, max_bytes: 100_000 }, timeout: Duration::from_secs(30) };
        assert_eq!(settings.zones[0].transfer, expected);
    }
}
