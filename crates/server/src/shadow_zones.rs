//! The authoritative side of the domain shadowing detector (issue 16 item 2): every change of a
//! served zone that the journals record (a reload by SIGHUP or `ctl reload-zone`, a transfer in,
//! a dynamic update) passes [`ZoneWatch::changed`] with its differences and the new version,
//! before the new version is served; a parent name that gained at least
//! `[detection] shadowing-zone-names` new names in that one change
//! (`portcullis_engine::policy::shadow_zone`) makes a log line and an alert of kind
//! `shadowing_zone` (its domain the parent, the zone, count and serials in its detail). The
//! first load of a zone has no earlier version and is never judged; `shadowing = "off"` turns
//! this side off too. Zones whose names are not hosts are not judged: response policy zones
//! (`[[rpz]]`: a feed adds triggers by the thousand) and catalog zones (RFC 9432: one entry per
//! member zone).

use crate::config::{Settings, ZoneSettings};
use portcullis_engine::auth::diff::ZoneDiff;
use portcullis_engine::auth::Zone;
use portcullis_engine::policy::shadow::ShadowSettings;
use portcullis_engine::policy::shadow_zone::{bulk_additions, BulkAdd};
use portcullis_engine::policy::{Alert, AlertAction, AlertKind, Alerts};
use portcullis_wire::NameBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// The watch over zone changes: the alert store and the settings in force.
#[derive(Debug)]
pub struct ZoneWatch {
    alerts: Arc<Alerts>,
    /// The settings, and the response policy zones (not judged).
    settings: Mutex<(ShadowSettings, Vec<NameBuf>)>,
}

impl ZoneWatch {
    /// A watch raising its alerts in `alerts`, with the settings of `config` until
    /// [`ZoneWatch::configure`].
    pub fn new(alerts: Arc<Alerts>, config: &Settings) -> Self {
        let watch = Self { alerts, settings: Mutex::default() };
        watch.configure(config);
        watch
    }

    /// The settings of a (reloaded) configuration.
    pub fn configure(&self, config: &Settings) {
        let policy_zones = config.rpz.zones.iter().map(|zone| zone.origin.to_lowercase()).collect();
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner) = (config.shadowing.clone(), policy_zones);
    }

    /// Judges one change of `zone`: `diffs` (in order) leading to `new`.
    pub fn changed(&self, zone: &ZoneSettings, diffs: &[ZoneDiff], new: &Zone) {
        let origin = &zone.origin;
        let (settings, policy_zones) = self.settings.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if !settings.enabled || zone.catalog.role.is_some() || policy_zones.contains(&origin.to_lowercase()) {
            return;
        }
        let (Some(first), Some(last)) = (diffs.first(), diffs.last()) else { return };
        let serials = (first.old_serial(), last.new_serial());
        let now = crate::outgoing::unix_now();
        for add in bulk_additions(diffs, new, settings.zone_names) {
            let detail = detail(origin, &add, serials);
            tracing::warn!(
                detector = "shadowing_zone",
                zone = %origin,
                parent = %add.parent,
                names = add.names,
                from = serials.0,
                to = serials.1,
                "names added in bulk to a served zone: {detail}"
            );
            self.alerts.raise(Alert::new(AlertKind::ShadowingZone, AlertAction::Log, now, detail).domain(add.parent.to_string()).score(f64::from(add.names)));
        }
    }
}

/// The alert's sentence.
fn detail(origin: &NameBuf, add: &BulkAdd, (from, to): (u32, u32)) -> String {
    format!(
        "zone {origin}: {} new names under {} in one change (serial {from} -> {to}), e.g. {}; check who changed the zone",
        add.names, add.parent, add.example
    )
}

#[cfg(test)]
mod tests {
    use super::ZoneWatch;
    use crate::journal::zones::Journals;
    use portcullis_engine::auth::Zone;
    use portcullis_engine::load::load_zone_text;
    use portcullis_engine::policy::{AlertKind, Alerts};
    use portcullis_engine::zonefile::NoIncludes;
    use portcullis_wire::NameBuf;
    use std::sync::Arc;

    /// The settings of a configuration file's `text`.
    fn config(text: &str) -> crate::config::Settings {
        let raw: crate::config::file::Config = toml::from_str(text).unwrap();
        crate::config::validate(&raw, None).unwrap()
    }

    fn zone(serial: u32, names: usize) -> Zone {
        let mut text = format!("$ORIGIN shadow.test.\n$TTL 300\n@ SOA ns host {serial} 3600 900 604800 60\n@ NS ns\nns A 192.0.2.53\n");
        (0..names).for_each(|i| text.push_str(&format!("n{i}.promo A 203.0.113.{}\n", i % 200 + 1)));
        load_zone_text(&NameBuf::from_text("shadow.test.", None).unwrap(), &text, "test", &NoIncludes).unwrap()
    }

    #[test]
    fn a_recorded_change_adding_names_in_bulk_is_an_alert_and_a_first_load_is_not() {
        let dir = std::env::temp_dir().join(format!("portcullis-shadow-zones-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let settings = crate::zone_config::zone_settings("shadow.test.", &dir.join("shadow.test.zone").display().to_string(), None).unwrap();
        let alerts = Arc::new(Alerts::default());
        let watch = Arc::new(ZoneWatch::new(alerts.clone(), &config("")));
        let journals = Journals::watched(watch.clone());
        // The first load (a replay) is not judged, even with many names.
        let first = journals.replay(&settings, zone(1, 80));
        assert!(alerts.list().is_empty());
        // A few names more: nothing; 60 more under one parent: one alert naming it.
        let second = journals.record(&settings, &first, zone(2, 85), true).unwrap();
        assert!(alerts.list().is_empty());
        let third = journals.record(&settings, &second, zone(3, 145), true).unwrap();
        let list = alerts.list();
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!((list[0].kind, list[0].domain.as_deref(), list[0].score), (AlertKind::ShadowingZone, Some("promo.shadow.test."), 60.0));
        assert!(list[0].detail.contains("zone shadow.test.: 60 new names under promo.shadow.test.") && list[0].detail.contains("2 -> 3"), "{}", list[0].detail);
        // Off: nothing more; a higher threshold from a reload, a policy zone, a catalog zone:
        // nothing either.
        watch.configure(&config("[detection]\nshadowing = \"off\"\n"));
        let fourth = journals.record(&settings, &third, zone(4, 205), true).unwrap();
        watch.configure(&config("[detection]\nshadowing-zone-names = 100\n"));
        let fifth = journals.record(&settings, &fourth, zone(5, 265), true).unwrap();
        watch.configure(&config("[[rpz]]\nzone = \"Shadow.Test\"\nfile = \"rpz.zone\"\n"));
        let sixth = journals.record(&settings, &fifth, zone(6, 325), true).unwrap();
        watch.configure(&config(""));
        let catalog = crate::config::ZoneSettings {
            catalog: crate::catalog_config::ZoneCatalog { role: Some(crate::catalog_config::CatalogRole::Producer), ..Default::default() },
            ..settings.clone()
        };
        let seventh = journals.record(&catalog, &sixth, zone(7, 385), true).unwrap();
        assert_eq!(alerts.raised(AlertKind::ShadowingZone), 1);
        // The same configuration again: judged.
        journals.record(&settings, &seventh, zone(8, 445), true).unwrap();
        assert_eq!(alerts.raised(AlertKind::ShadowingZone), 2);
        std::fs::remove_dir_all(&dir).ok();
    }
}
