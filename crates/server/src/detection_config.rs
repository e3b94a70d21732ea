//! `[detection]`: the threat detectors (issue 16). The tunnelling detector
//! (`portcullis_engine::policy::tunnel`): `tunnelling = "off" | "log" | "block"` (default
//! `log`), its thresholds, hold time, table size, client prefix lengths and allow-lists, each
//! bounded (the engine's `TunnelSettings` limits); the shadowing detector
//! (`policy::shadow`, `policy::shadow_zone`): `shadowing = "off" | "log"`, its burst, windows,
//! table size and the zone side's threshold (the engine's `ShadowSettings` limits).

use crate::config_limit::Limit;
use portcullis_engine::policy::shadow::ShadowSettings;
use portcullis_engine::policy::tunnel::{TunnelMode, TunnelSettings};
use portcullis_engine::policy::Prefix;
use portcullis_wire::NameBuf;

/// `[detection]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DetectionFile {
    /// `off`, `log` (default) or `block`.
    pub tunnelling: Option<String>,
    /// Information (octets, compressed estimate) a client prefix may send to one registered
    /// domain in a minute.
    pub tunnelling_budget: Option<u64>,
    /// Distinct names a minute at which that signal counts fully.
    pub tunnelling_names: Option<u64>,
    /// The score, in hundredths, at which a window is a detection.
    pub tunnelling_score: Option<u64>,
    /// Seconds a detected (client prefix, domain) stays refused in block mode.
    pub tunnelling_hold: Option<u64>,
    /// (client prefix, domain) accounts kept.
    pub tunnelling_accounts: Option<u64>,
    /// IPv4 client prefix length.
    pub tunnelling_prefix_v4: Option<u64>,
    /// IPv6 client prefix length.
    pub tunnelling_prefix_v6: Option<u64>,
    /// Domains never looked at (with every name below them).
    pub tunnelling_allow_domains: Option<Vec<String>>,
    /// Client prefixes never looked at.
    pub tunnelling_allow_clients: Option<Vec<String>>,
    /// `off` or `log` (default).
    pub shadowing: Option<String>,
    /// New names in new networks within ten minutes that make an alert.
    pub shadowing_burst: Option<u64>,
    /// Registered domains kept.
    pub shadowing_accounts: Option<u64>,
    /// Seconds a burst of new names is counted over.
    pub shadowing_burst_window: Option<u64>,
    /// Seconds a domain is known before its new names are judged.
    pub shadowing_establish: Option<u64>,
    /// New names under one parent in one change of a served zone that make an alert.
    pub shadowing_zone_names: Option<u64>,
}

impl DetectionFile {
    /// `tunnelling-budget`.
    pub const BUDGET: Limit<u32> = Limit::engine("tunnelling-budget", TunnelSettings::BUDGET);
    /// `tunnelling-names`.
    pub const NAMES: Limit<u32> = Limit::engine("tunnelling-names", TunnelSettings::NAMES);
    /// `tunnelling-score`.
    pub const SCORE: Limit<u32> = Limit::engine("tunnelling-score", TunnelSettings::SCORE);
    /// `tunnelling-hold`.
    pub const HOLD: Limit<u32> = Limit::engine("tunnelling-hold", TunnelSettings::HOLD);
    /// `tunnelling-accounts`.
    pub const ACCOUNTS: Limit<u32> = Limit::engine("tunnelling-accounts", TunnelSettings::ACCOUNTS);
    /// `tunnelling-prefix-v4`.
    pub const PREFIX_V4: Limit<u8> = Limit::engine("tunnelling-prefix-v4", TunnelSettings::PREFIX_V4);
    /// `tunnelling-prefix-v6`.
    pub const PREFIX_V6: Limit<u8> = Limit::engine("tunnelling-prefix-v6", TunnelSettings::PREFIX_V6);
    /// `shadowing-burst`.
    pub const SHADOW_BURST: Limit<u32> = Limit::engine("shadowing-burst", ShadowSettings::BURST);
    /// `shadowing-accounts`.
    pub const SHADOW_ACCOUNTS: Limit<u32> = Limit::engine("shadowing-accounts", ShadowSettings::ACCOUNTS);
    /// `shadowing-burst-window`.
    pub const SHADOW_BURST_WINDOW: Limit<u32> = Limit::engine("shadowing-burst-window", ShadowSettings::BURST_WINDOW);
    /// `shadowing-establish`.
    pub const SHADOW_ESTABLISH: Limit<u32> = Limit::engine("shadowing-establish", ShadowSettings::ESTABLISH);
    /// `shadowing-zone-names`.
    pub const SHADOW_ZONE_NAMES: Limit<u32> = Limit::engine("shadowing-zone-names", ShadowSettings::ZONE_NAMES);
}

/// The shadowing detector's settings from `[detection]`.
pub fn shadowing(file: &DetectionFile, errors: &mut Vec<String>) -> ShadowSettings {
    let enabled = match file.shadowing.as_deref() {
        None | Some("log") => true,
        Some("off") => false,
        Some(other) => {
            errors.push(format!("detection.shadowing: '{other}' is not one of off, log"));
            true
        }
    };
    ShadowSettings {
        enabled,
        burst: DetectionFile::SHADOW_BURST.get("detection", file.shadowing_burst, errors),
        accounts: DetectionFile::SHADOW_ACCOUNTS.get("detection", file.shadowing_accounts, errors),
        burst_window: DetectionFile::SHADOW_BURST_WINDOW.get("detection", file.shadowing_burst_window, errors),
        establish: DetectionFile::SHADOW_ESTABLISH.get("detection", file.shadowing_establish, errors),
        zone_names: DetectionFile::SHADOW_ZONE_NAMES.get("detection", file.shadowing_zone_names, errors),
    }
}

/// The tunnelling detector's settings from `[detection]`; errors name the key.
pub fn tunnelling(file: &DetectionFile, errors: &mut Vec<String>) -> TunnelSettings {
    const TABLE: &str = "detection";
    let mode = match file.tunnelling.as_deref() {
        None | Some("log") => TunnelMode::Log,
        Some("off") => TunnelMode::Off,
        Some("block") => TunnelMode::Block,
        Some(other) => {
            errors.push(format!("detection.tunnelling: '{other}' is not one of off, log, block"));
            TunnelMode::Log
        }
    };
    let allow_domains = file.tunnelling_allow_domains.iter().flatten().enumerate().filter_map(|(i, text)| {
        let absolute = if text.ends_with('.') { text.clone() } else { format!("{text}.") };
        match NameBuf::from_text(&absolute, None) {
            Ok(name) => Some(name.as_wire().to_ascii_lowercase()),
            Err(err) => {
                errors.push(format!("detection.tunnelling-allow-domains[{i}]: '{text}': {err:?}"));
                None
            }
        }
    });
    let allow_domains = allow_domains.collect();
    let allow_clients = file.tunnelling_allow_clients.iter().flatten().enumerate();
    let allow_clients = allow_clients
        .filter_map(|(i, text)| text.parse::<Prefix>().map_err(|e| errors.push(format!("detection.tunnelling-allow-clients[{i}]: '{text}': {e}"))).ok())
        .collect();
    TunnelSettings {
        mode,
        budget: DetectionFile::BUDGET.get(TABLE, file.tunnelling_budget, errors),
        names: DetectionFile::NAMES.get(TABLE, file.tunnelling_names, errors),
        score: DetectionFile::SCORE.get(TABLE, file.tunnelling_score, errors),
        hold: DetectionFile::HOLD.get(TABLE, file.tunnelling_hold, errors),
        accounts: DetectionFile::ACCOUNTS.get(TABLE, file.tunnelling_accounts, errors),
        prefix_v4: DetectionFile::PREFIX_V4.get(TABLE, file.tunnelling_prefix_v4, errors),
        prefix_v6: DetectionFile::PREFIX_V6.get(TABLE, file.tunnelling_prefix_v6, errors),
        allow_domains,
        allow_clients,
    }
}

#[cfg(test)]
mod tests {
    use super::{shadowing, tunnelling, DetectionFile};
    use portcullis_engine::policy::tunnel::TunnelMode;

    #[test]
    fn detection_defaults_to_log_and_checks_its_keys() {
        let mut errors = Vec::new();
        let settings = tunnelling(&DetectionFile::default(), &mut errors);
        assert!(errors.is_empty());
        assert_eq!((settings.mode, settings.budget, settings.hold, settings.prefix_v4, settings.prefix_v6), (TunnelMode::Log, 1500, 300, 32, 64));
        let file: DetectionFile = toml::from_str(
            "tunnelling = \"block\"\ntunnelling-hold = 0\ntunnelling-allow-domains = [\"Sophosxl.net\"]\ntunnelling-allow-clients = [\"192.0.2.0/24\", \"nope\"]",
        )
        .expect("toml");
        let settings = tunnelling(&file, &mut errors);
        assert_eq!(settings.mode, TunnelMode::Block);
        assert_eq!(settings.allow_domains, vec![b"\x08sophosxl\x03net\x00".to_vec()]);
        assert_eq!(settings.allow_clients.len(), 1);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("detection.tunnelling-hold: 0 is outside 1..=86400")), "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("detection.tunnelling-allow-clients[1]: 'nope'")), "{errors:?}");
        let file: DetectionFile = toml::from_str("tunnelling = \"on\"").expect("toml");
        let mut errors = Vec::new();
        tunnelling(&file, &mut errors);
        assert_eq!(errors, ["detection.tunnelling: 'on' is not one of off, log, block"]);
    }

    #[test]
    fn shadowing_windows_and_zone_threshold_are_bounded_settings() {
        let mut errors = Vec::new();
        let settings = shadowing(&DetectionFile::default(), &mut errors);
        assert_eq!((settings.enabled, settings.burst, settings.burst_window, settings.establish, settings.zone_names), (true, 20, 600, 3600, 50));
        let file: DetectionFile = toml::from_str(
            "shadowing-burst-window = 3
shadowing-establish = 2
shadowing-zone-names = 10
shadowing-burst = 5",
        )
        .expect("toml");
        let settings = shadowing(&file, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((settings.burst, settings.burst_window, settings.establish, settings.zone_names), (5, 3, 2, 10));
        let file: DetectionFile = toml::from_str(
            "shadowing-burst-window = 0
shadowing-establish = 2592001
shadowing-zone-names = 1",
        )
        .expect("toml");
        let settings = shadowing(&file, &mut errors);
        assert_eq!(
            errors,
            [
                "detection.shadowing-burst-window: 0 is outside 1..=86400 (default 600)",
                "detection.shadowing-establish: 2592001 is outside 1..=2592000 (default 3600)",
                "detection.shadowing-zone-names: 1 is outside 2..=1000000 (default 50)",
            ]
        );
        assert_eq!((settings.burst_window, settings.establish, settings.zone_names), (600, 3600, 50));
    }

    #[test]
    fn detection_in_a_config_file_unknown_keys_named() {
        let raw: crate::config::file::Config = toml::from_str("[detection]\ntunnelling = \"block\"\ntunnelling-budget = 50\n").expect("toml");
        let errors = crate::config::validate(&raw, None).expect_err("budget out of range");
        assert_eq!(errors, ["detection.tunnelling-budget: 50 is outside 100..=1000000 (default 1500)"]);
        let raw: crate::config::file::Config = toml::from_str("[detection]\nshadowing = \"block\"\n").expect("toml");
        let errors = crate::config::validate(&raw, None).expect_err("no block mode for shadowing");
        assert_eq!(errors, ["detection.shadowing: 'block' is not one of off, log"]);
        let (_, unknown) = crate::config::parse_file("[detection]\ntunneling = \"log\"\n").expect("parsed");
        assert_eq!(unknown.len(), 1);
        assert!(unknown[0].starts_with("unknown key detection.tunneling"), "{unknown:?}");
    }
}
