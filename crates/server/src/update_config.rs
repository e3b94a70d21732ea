//! A primary zone's dynamic update settings (RFC 2136): its `update-policy` (BIND-like grant
//! rules: which TSIG key may change which names and types) and `zonefile-sync` (how long after
//! an update the zone file is rewritten with the journal's changes). Who may send updates at all
//! is the `[acl] update` list (addresses and `key NAME` elements), checked first.
//!
//! ```toml
//! [[zone]]
//! origin = "example."
//! file = "example.zone"
//! update-policy = [
//!   { grant = "ddns-key", match = "subdomain", name = "dyn.example.", types = ["A", "AAAA", "TXT"] },
//!   { deny = "ddns-key", match = "name", name = "locked.dyn.example." },
//!   { grant = "host-key", match = "self" },
//! ]
//! zonefile-sync = 60
//! ```

use crate::config::file;
use portcullis_engine::auth::update::{Grant, GrantMatch, UpdatePolicy};
use portcullis_engine::policy::TsigKey;
use portcullis_wire::{NameBuf, Rtype};
use serde::Deserialize;
use std::time::Duration;

/// One `update-policy` rule as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct GrantFile {
    /// The key this rule grants to (exactly one of `grant` and `deny`).
    pub grant: Option<String>,
    /// The key this rule denies to.
    pub deny: Option<String>,
    /// `name`, `subdomain`, `wildcard`, `zonesub` or `self`.
    #[serde(rename = "match")]
    pub matching: String,
    /// The name matched (not for `zonesub` and `self`).
    pub name: Option<String>,
    /// Types covered (none: every type but SOA, NS, RRSIG, NSEC, NSEC3; `ANY`: every type).
    #[serde(default)]
    pub types: Vec<String>,
}

/// A zone's update settings, validated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneUpdate {
    /// The grant rules (none: the `update` ACL alone decides).
    pub policy: Option<UpdatePolicy>,
    /// How long after an update the zone file is rewritten.
    pub zonefile_sync: Duration,
}

impl ZoneUpdate {
    /// The default: no policy, the file rewritten 60 s after an update.
    pub const DEFAULT: Self = Self { policy: None, zonefile_sync: Duration::from_secs(file::Zone::ZONEFILE_SYNC.default) };
}

/// Validates a zone's update keys (`path` is `zone[N]`); `origin` is the zone's origin and
/// `secondary` whether it has primaries (updates are refused there, so the keys are errors).
pub fn zone_update(path: &str, zone: &file::Zone, origin: &NameBuf, secondary: bool, errors: &mut Vec<String>) -> ZoneUpdate {
    if secondary && (zone.update_policy.is_some() || zone.zonefile_sync.is_some()) {
        errors.push(format!("{path}: update-policy and zonefile-sync are for primary zones; a secondary zone refuses updates"));
    }
    let zonefile_sync = Duration::from_secs(file::Zone::ZONEFILE_SYNC.get(path, zone.zonefile_sync, errors));
    let policy = zone.update_policy.as_ref().map(|rules| {
        let grants = rules.iter().enumerate().filter_map(|(i, rule)| grant(&format!("{path}.update-policy[{i}]"), rule, origin, errors)).collect();
        UpdatePolicy { grants }
    });
    ZoneUpdate { policy, zonefile_sync }
}

/// Every key an `update-policy` names must be a `[[key]]`.
pub fn check_policy_keys(policy: &UpdatePolicy, origin: &NameBuf, keys: &[TsigKey], errors: &mut Vec<String>) {
    for grant in &policy.grants {
        if crate::key_config::find_key(keys, &grant.key).is_none() {
            errors.push(format!("zone {origin}: update-policy key {}: no [[key]] has that name", grant.key));
        }
    }
}

fn grant(path: &str, rule: &GrantFile, origin: &NameBuf, errors: &mut Vec<String>) -> Option<Grant> {
    let (allow, key) = match (&rule.grant, &rule.deny) {
        (Some(key), None) => (true, key),
        (None, Some(key)) => (false, key),
        _ => {
            errors.push(format!("{path}: give exactly one of grant = KEY and deny = KEY"));
            return None;
        }
    };
    let key = absolute(key).map_err(|_| errors.push(format!("{path}: '{key}' is not a key name"))).ok()?;
    let matching = match rule.matching.as_str() {
        "name" => GrantMatch::Name,
        "subdomain" => GrantMatch::Subdomain,
        "wildcard" => GrantMatch::Wildcard,
        "zonesub" => GrantMatch::Zonesub,
        "self" => GrantMatch::OwnKeyName,
        other => {
            errors.push(format!("{path}.match: '{other}' is not one of name, subdomain, wildcard, zonesub, self"));
            return None;
        }
    };
    let name = match (&rule.name, matching) {
        (None, GrantMatch::Zonesub | GrantMatch::OwnKeyName) => *origin,
        (Some(text), _) => match absolute(text) {
            Ok(name) if name.is_subdomain_of(origin) => name,
            _ => {
                errors.push(format!("{path}.name: '{text}' is not a name in zone {origin}"));
                return None;
            }
        },
        (None, _) => {
            errors.push(format!("{path}: match = \"{}\" needs a name", rule.matching));
            return None;
        }
    };
    if matching == GrantMatch::Wildcard && !name.is_wildcard() {
        errors.push(format!("{path}.name: match = \"wildcard\" needs a name starting with '*.'"));
    }
    let mut types = Vec::new();
    for (i, text) in rule.types.iter().enumerate() {
        match Rtype::from_text(text) {
            Some(rtype) => types.push(rtype),
            None => errors.push(format!("{path}.types[{i}]: '{text}' is not a record type")),
        }
    }
    Some(Grant { allow, key, matching, name, types })
}

fn absolute(text: &str) -> Result<NameBuf, portcullis_wire::name::NameTextError> {
    let text = if text.ends_with('.') { text.to_owned() } else { format!("{text}.") };
    NameBuf::from_text(&text, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> GrantFile {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn rules_are_read_and_bad_ones_named() {
        let origin = NameBuf::from_text("example.", None).unwrap();
        let mut errors = Vec::new();
        let good = grant("p", &rule("grant = \"k\"\nmatch = \"subdomain\"\nname = \"dyn.example\"\ntypes = [\"A\", \"TXT\"]"), &origin, &mut errors).unwrap();
        assert_eq!((good.allow, good.matching, good.types.len()), (true, GrantMatch::Subdomain, 2));
        assert!(errors.is_empty(), "{errors:?}");
        assert!(grant("p", &rule("grant = \"k\"\nmatch = \"name\"\nname = \"www.other.\""), &origin, &mut errors).is_none());
        assert!(grant("p", &rule("grant = \"k\"\ndeny = \"k\"\nmatch = \"self\""), &origin, &mut errors).is_none());
        assert!(grant("p", &rule("grant = \"k\"\nmatch = \"everything\""), &origin, &mut errors).is_none());
        assert_eq!(errors.len(), 3, "{errors:?}");
    }
}
