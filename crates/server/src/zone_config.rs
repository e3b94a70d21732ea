//! The `[[zone]]` tables: a primary zone from its `file`, or a secondary zone transferred from
//! its `primaries` (and kept in `file`, when given); either may `notify` its own secondaries. A TSIG `key` signs what the zone
//! sends: SOA queries and transfer requests to its primaries, NOTIFY to its secondaries.

use crate::config::{file, ZoneSettings, EMBEDDED_ZONE_PATH};
use portcullis_engine::policy::TsigKey;
use portcullis_wire::NameBuf;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Validates every `[[zone]]`; `base` is the config file's directory.
pub fn zones(raw: &[file::Zone], base: Option<&Path>, errors: &mut Vec<String>) -> Vec<ZoneSettings> {
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
        if settings.key.is_some() && settings.primaries.is_empty() && settings.notify.is_empty() {
            errors.push(format!("{path}.key: a key signs transfers from primaries and NOTIFY to secondaries; this zone has neither"));
        }
        if zones.iter().any(|other: &ZoneSettings| other.origin == settings.origin) {
            errors.push(format!("{path}: zone {} is defined twice", settings.origin));
            continue;
        }
        zones.push(settings);
    }
    zones
}

/// Every zone's `key` must name a `[[key]]`.
pub fn check_zone_keys(zones: &[ZoneSettings], keys: &[TsigKey], errors: &mut Vec<String>) {
    for zone in zones {
        let Some(name) = &zone.key else { continue };
        if crate::key_config::find_key(keys, name).is_none() {
            errors.push(format!("zone {}: key {name}: no [[key]] has that name", zone.origin));
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
    Ok(ZoneSettings { origin, file, notify: Vec::new(), primaries: Vec::new(), key: None })
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
        }
    }

    #[test]
    fn a_zone_is_primary_or_secondary() {
        let mut errors = Vec::new();
        let primary = zones(&[zone(Some("example.zone"), &[], None)], Some(Path::new("/etc/p")), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((primary[0].file.clone(), primary[0].notify.clone()), (PathBuf::from("/etc/p/example.zone"), vec!["192.0.2.7:53".parse().unwrap()]));
        let secondary = zones(&[zone(None, &["192.0.2.1", "[2001:db8::1]:5353"], Some("xfr"))], None, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(secondary[0].primaries, ["192.0.2.1:53".parse().unwrap(), "[2001:db8::1]:5353".parse().unwrap()]);
        assert_eq!(secondary[0].key.map(|k| k.to_string()), Some("xfr.".into()));
        assert!(secondary[0].file.as_os_str().is_empty());
        // A secondary may keep its copy in a file.
        let kept = zones(&[zone(Some("copy.zone"), &["192.0.2.1"], None)], Some(Path::new("/var/p")), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((kept[0].file.clone(), kept[0].primaries.len()), (PathBuf::from("/var/p/copy.zone"), 1));
    }

    #[test]
    fn bad_zones_are_reported() {
        let mut errors = Vec::new();
        let mut raw = [zone(Some("/var/a"), &["192.0.2.1"], None), zone(None, &[], None), zone(None, &["nope"], None), zone(Some("a"), &[], Some("k"))];
        raw[3].origin = "other.".into();
        raw[3].notify.clear();
        zones(&raw, None, &mut errors);
        let starts = ["zone[1]: a zone needs", "zone[2].primaries[0]", "zone[2]: zone example. is defined twice", "zone[3].key: a key signs"];
        assert_eq!(errors.len(), starts.len(), "{errors:?}");
        for (error, start) in errors.iter().zip(starts) {
            assert!(error.starts_with(start), "{error}");
        }
        let twice = [zone(Some("a"), &[], None), zone(Some("b"), &[], None)];
        let mut errors = Vec::new();
        zones(&twice, None, &mut errors);
        assert_eq!(errors, ["zone[1]: zone example. is defined twice"]);
    }
}
