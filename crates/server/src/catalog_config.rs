//! The catalog keys of `[[zone]]` (RFC 9432): `catalog = "producer"` on a primary catalog zone
//! whose file holds its SOA, NS and `version` record, `catalog-member = "CATALOG."` on the zones
//! it lists, and `catalog = "consumer"` on a secondary catalog zone whose members the server then
//! serves as secondaries of the same primaries (`catalog-max-members` bounds them). A consumer's
//! copy is kept in its `file`, by default `ORIGIN.zone` in the state directory (as any secondary
//! zone without a file: `zone_config`), and its members' copies (and journals) in the directory
//! [`ZoneCatalog::members_dir`] beside it.

use crate::config::{file, ZoneSettings};
use portcullis_engine::auth::catalog::CatalogLimits;
use portcullis_wire::NameBuf;
use std::path::{Path, PathBuf};

/// A zone's part in catalog zones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneCatalog {
    /// The zone is itself a catalog zone.
    pub role: Option<CatalogRole>,
    /// The zone is a member of the producer catalog zone so named.
    pub member_of: Option<NameBuf>,
    /// A consumer's bounds on what it accepts.
    pub limits: CatalogLimits,
}

/// What the server does with a catalog zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatalogRole {
    /// A primary catalog zone: the server adds an entry per `catalog-member` zone.
    Producer,
    /// A secondary catalog zone: the server serves its members.
    Consumer,
}

impl ZoneCatalog {
    /// Where a consumer catalog zone kept in `file` keeps its members' copies: `FILE.members/`
    /// (`None` for a catalog kept in memory only).
    pub fn members_dir(file: &Path) -> Option<PathBuf> {
        if file.as_os_str().is_empty() {
            return None;
        }
        let mut name = file.as_os_str().to_owned();
        name.push(".members");
        Some(PathBuf::from(name))
    }
}

/// The catalog part of the zone at `path` (`zone[2]`); a consumer without `file` gets the default
/// one beside the configuration file (`base`).
pub fn zone(path: &str, raw: &file::Zone, settings: &ZoneSettings, errors: &mut Vec<String>) -> ZoneCatalog {
    let mut catalog = ZoneCatalog::default();
    let secondary = !settings.primaries.is_empty();
    match raw.catalog.as_deref() {
        None => {}
        Some("producer") if secondary => errors.push(format!("{path}.catalog: a producer catalog zone is a primary zone: it needs a file, not primaries")),
        Some("producer") if raw.dnssec_policy.is_some() => errors.push(format!("{path}.catalog: a producer catalog zone is not signed (no dnssec-policy)")),
        Some("producer") => catalog.role = Some(CatalogRole::Producer),
        Some("consumer") if !secondary => errors.push(format!("{path}.catalog: a consumer catalog zone is a secondary zone: it needs primaries")),
        Some("consumer") => {
            catalog.role = Some(CatalogRole::Consumer);
        }
        Some(other) => errors.push(format!("{path}.catalog: '{other}' is not \"producer\" or \"consumer\"")),
    }
    if raw.catalog_max_members.is_some() && catalog.role != Some(CatalogRole::Consumer) {
        errors.push(format!("{path}.catalog-max-members: bounds a consumer catalog zone, and this zone is not one"));
    }
    catalog.limits.max_members = file::Zone::CATALOG_MAX_MEMBERS.get(path, raw.catalog_max_members, errors);
    if let Some(text) = raw.catalog_member.as_deref() {
        let absolute = if text.ends_with('.') { text.to_owned() } else { format!("{text}.") };
        match NameBuf::from_text(&absolute, None) {
            Err(error) => errors.push(format!("{path}.catalog-member: '{text}': {error}")),
            Ok(_) if raw.catalog.is_some() => errors.push(format!("{path}.catalog-member: a catalog zone is not a member of another")),
            Ok(name) => catalog.member_of = Some(name),
        }
    }
    catalog
}

/// Every `catalog-member` names a configured producer catalog zone.
pub fn check_members(zones: &[ZoneSettings], errors: &mut Vec<String>) {
    for zone in zones {
        let Some(catalog) = zone.catalog.member_of else { continue };
        let producer = zones.iter().any(|other| other.origin == catalog && other.catalog.role == Some(CatalogRole::Producer));
        if !producer {
            errors.push(format!("zone {}: catalog-member {catalog}: no [[zone]] with that origin has catalog = \"producer\"", zone.origin));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(text: &str) -> Vec<String> {
        let (raw, unknown) = crate::config::parse_file(text).unwrap();
        assert!(unknown.is_empty(), "{unknown:?}");
        crate::config::validate(&raw, Some(Path::new("/etc/p"))).err().unwrap_or_default()
    }

    #[test]
    fn producer_members_and_consumer_are_read() {
        let text = "[[zone]]\norigin = \"catalog.\"\nfile = \"catalog.zone\"\ncatalog = \"producer\"\n\n\
                    [[zone]]\norigin = \"a.example.\"\nfile = \"a.zone\"\ncatalog-member = \"catalog\"\n\n\
                    [[zone]]\norigin = \"other.\"\nprimaries = [\"192.0.2.1\"]\ncatalog = \"consumer\"\ncatalog-max-members = 5\n";
        let (raw, _) = crate::config::parse_file(text).unwrap();
        let settings = crate::config::validate(&raw, Some(Path::new("/etc/p"))).unwrap();
        assert_eq!(settings.zones[0].catalog.role, Some(CatalogRole::Producer));
        assert_eq!(settings.zones[1].catalog.member_of.map(|n| n.to_string()), Some("catalog.".into()));
        let consumer = &settings.zones[2];
        assert_eq!((consumer.catalog.role, consumer.catalog.limits.max_members), (Some(CatalogRole::Consumer), 5));
        assert_eq!(consumer.file, PathBuf::from("/etc/p/state/other.zone"), "a consumer's copy is kept in the state directory by default");
        assert_eq!(ZoneCatalog::members_dir(&consumer.file), Some(PathBuf::from("/etc/p/state/other.zone.members")));
    }

    #[test]
    fn bad_catalog_keys_are_reported_clearly() {
        let cases = [
            ("[[zone]]\norigin = \"a.\"\nfile = \"a\"\ncatalog = \"both\"\n", "zone[0].catalog: 'both' is not \"producer\" or \"consumer\""),
            ("[[zone]]\norigin = \"a.\"\nprimaries = [\"192.0.2.1\"]\ncatalog = \"producer\"\n", "zone[0].catalog: a producer catalog zone is a primary zone"),
            ("[[zone]]\norigin = \"a.\"\nfile = \"a\"\ncatalog = \"consumer\"\n", "zone[0].catalog: a consumer catalog zone is a secondary zone"),
            ("[[zone]]\norigin = \"a.\"\nfile = \"a\"\ncatalog-member = \"catalog.\"\n", "zone a.: catalog-member catalog.: no [[zone]] with that origin"),
            ("[[zone]]\norigin = \"a.\"\nfile = \"a\"\ncatalog-max-members = 3\n", "zone[0].catalog-max-members: bounds a consumer catalog zone"),
            (
                "[[zone]]\norigin = \"a.\"\nprimaries = [\"192.0.2.1\"]\ncatalog = \"consumer\"\ncatalog-max-members = 0\n",
                "zone[0].catalog-max-members: 0 is outside 1..=1000000",
            ),
            (
                "[[zone]]\norigin = \"c.\"\nprimaries = [\"192.0.2.1\"]\ncatalog = \"consumer\"\n\n[[zone]]\norigin = \"a.\"\nfile = \"a\"\ncatalog-member = \"c.\"\n",
                "zone a.: catalog-member c.: no [[zone]] with that origin has catalog = \"producer\"",
            ),
        ];
        for (text, start) in cases {
            let errors = errors_of(text);
            assert!(errors.iter().any(|error| error.starts_with(start)), "{start} not in {errors:?}");
        }
    }
}
