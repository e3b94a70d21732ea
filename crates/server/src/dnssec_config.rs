//! DNSSEC signing as policy: the `[[dnssec-policy]]` tables, the built-in policy `default`, a
//! zone's `dnssec-policy` and `[server] key-directory`. A policy gives the keys' algorithm and
//! shape (a CSK, or a KSK and a ZSK), the denial of existence (NSEC, or NSEC3 with RFC 9276's
//! `1 0 0 -`, optionally opt-out), the key lifetimes and the timings of signatures and
//! rollovers (RFC 6781, RFC 7583); every duration is bounded by a [`Limit`].

use crate::config_limit::Limit;
use portcullis_dnssec::rollover::RollPolicy;
use portcullis_dnssec::{Algorithm, Denial};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A duration as written: seconds, or a number with a unit (`s`, `m`, `h`, `d`, `w`: `"14d"`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum DurationText {
    /// Seconds.
    Seconds(u64),
    /// A number and a unit.
    Text(String),
}

impl DurationText {
    /// Seconds, or an error saying what is wrong.
    fn seconds(&self) -> Result<u64, String> {
        let text = match self {
            Self::Seconds(seconds) => return Ok(*seconds),
            Self::Text(text) => text.trim(),
        };
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().map_err(|_| format!("'{text}' is not a duration (seconds, or a number with s, m, h, d or w)"))?;
        let scale = match unit.trim() {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 604_800,
            _ => return Err(format!("'{text}': unknown unit '{unit}' (s, m, h, d or w)")),
        };
        number.checked_mul(scale).ok_or_else(|| format!("'{text}' is too long"))
    }
}

/// One `[[dnssec-policy]]` table, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PolicyFile {
    pub name: String,
    pub algorithm: Option<String>,
    pub keys: Option<String>,
    pub nsec3: Option<bool>,
    pub nsec3_opt_out: Option<bool>,
    pub ksk_lifetime: Option<DurationText>,
    pub zsk_lifetime: Option<DurationText>,
    pub signature_validity: Option<DurationText>,
    pub signature_refresh: Option<DurationText>,
    pub signature_jitter: Option<DurationText>,
    pub dnskey_ttl: Option<DurationText>,
    pub zone_propagation_delay: Option<DurationText>,
    pub parent_ds_ttl: Option<DurationText>,
    pub parent_propagation_delay: Option<DurationText>,
}

const DAY: u64 = 86_400;
const YEAR: u64 = 365 * DAY;

impl PolicyFile {
    /// `ksk-lifetime` (0: never rolled).
    pub const KSK_LIFETIME: Limit<u64> = Limit::new("ksk-lifetime", 0, 0, 100 * YEAR);
    /// `zsk-lifetime` (0: never rolled).
    pub const ZSK_LIFETIME: Limit<u64> = Limit::new("zsk-lifetime", 0, 0, 100 * YEAR);
    /// `signature-validity`: 14 days, from 1 hour to 1 year.
    pub const SIGNATURE_VALIDITY: Limit<u64> = Limit::new("signature-validity", 14 * DAY, 3600, YEAR);
    /// `signature-refresh`: signatures expiring within this are made again (5 days).
    pub const SIGNATURE_REFRESH: Limit<u64> = Limit::new("signature-refresh", 5 * DAY, 600, YEAR);
    /// `signature-jitter`: a new signature expires up to this before the validity (12 hours).
    pub const SIGNATURE_JITTER: Limit<u64> = Limit::new("signature-jitter", 12 * 3600, 0, 30 * DAY);
    /// `dnskey-ttl` (1 hour). From 1 s, as BIND and Knot allow: the rollover planner waits the
    /// TTL whatever it is, and a short one makes a roll quick (or a rollover test real-time).
    pub const DNSKEY_TTL: Limit<u64> = Limit::new("dnskey-ttl", 3600, 1, DAY);
    /// `zone-propagation-delay` (5 minutes).
    pub const ZONE_PROPAGATION_DELAY: Limit<u64> = Limit::new("zone-propagation-delay", 300, 0, 30 * DAY);
    /// `parent-ds-ttl` (1 day).
    pub const PARENT_DS_TTL: Limit<u64> = Limit::new("parent-ds-ttl", DAY, 60, 7 * DAY);
    /// `parent-propagation-delay` (1 hour).
    pub const PARENT_PROPAGATION_DELAY: Limit<u64> = Limit::new("parent-propagation-delay", 3600, 0, 30 * DAY);
}

/// A validated policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnssecPolicy {
    /// Its name (`default` for the built-in one).
    pub name: String,
    /// The keys' algorithm.
    pub algorithm: Algorithm,
    /// A KSK and a ZSK (true) or a single CSK (false).
    pub split: bool,
    /// NSEC, or NSEC3 (opt-out or not).
    pub denial: Denial,
    /// Seconds a KSK (or CSK) signs before it is rolled (0: never).
    pub ksk_lifetime: u64,
    /// Seconds a ZSK signs before it is rolled (0: never).
    pub zsk_lifetime: u64,
    /// Seconds a new signature is valid (from its inception, less jitter).
    pub signature_validity: u64,
    /// Signatures expiring within this many seconds are made again.
    pub signature_refresh: u64,
    /// The largest random shortening of a new signature's validity, seconds.
    pub signature_jitter: u64,
    /// TTL of DNSKEY, CDS and CDNSKEY.
    pub dnskey_ttl: u32,
    /// Seconds a change takes to reach every server of the zone.
    pub zone_propagation_delay: u64,
    /// TTL of the DS RRset at the parent.
    pub parent_ds_ttl: u32,
    /// Seconds a DS change takes to reach every server of the parent.
    pub parent_propagation_delay: u64,
}

impl DnssecPolicy {
    /// The built-in policy `default`: ECDSAP256SHA256, a single CSK never rolled, NSEC, and the
    /// defaults of every duration.
    pub fn builtin() -> Self {
        let mut errors = Vec::new();
        policy(&PolicyFile { name: "default".into(), ..PolicyFile::default() }, "dnssec-policy", &mut errors)
    }

    /// The planner's view of this policy; `zone_max_ttl` is the largest TTL of the zone.
    pub fn roll_policy(&self, zone_max_ttl: u32) -> RollPolicy {
        let lifetime = |seconds: u64| (seconds > 0).then_some(seconds);
        RollPolicy {
            algorithm: self.algorithm,
            split: self.split,
            ksk_lifetime: lifetime(self.ksk_lifetime),
            zsk_lifetime: lifetime(self.zsk_lifetime),
            dnskey_ttl: self.dnskey_ttl,
            zone_max_ttl,
            zone_propagation_delay: self.zone_propagation_delay,
            parent_ds_ttl: self.parent_ds_ttl,
            parent_propagation_delay: self.parent_propagation_delay,
        }
    }
}

/// How a zone is signed: its policy and where its keys are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSigning {
    /// The policy.
    pub policy: DnssecPolicy,
    /// The key directory (`[server] key-directory`).
    pub key_directory: PathBuf,
}

/// The algorithms a policy may name.
fn algorithm(text: &str) -> Result<Algorithm, String> {
    match text.to_ascii_lowercase().as_str() {
        "ecdsap256sha256" => Ok(Algorithm::ECDSAP256SHA256),
        "ecdsap384sha384" => Ok(Algorithm::ECDSAP384SHA384),
        "ed25519" => Ok(Algorithm::ED25519),
        "rsasha256" => Ok(Algorithm::RSASHA256),
        _ => Err(format!("'{text}' is not one of ecdsap256sha256, ecdsap384sha384, ed25519, rsasha256")),
    }
}

/// A duration key of a policy: parsed, then bounded by `limit`.
fn duration(path: &str, limit: Limit<u64>, value: Option<&DurationText>, errors: &mut Vec<String>) -> u64 {
    let seconds = match value.map(DurationText::seconds).transpose() {
        Ok(seconds) => seconds,
        Err(message) => {
            errors.push(format!("{path}.{}: {message}", limit.key));
            return limit.default;
        }
    };
    limit.get(path, seconds, errors)
}

/// Validates one policy table at `path`.
fn policy(raw: &PolicyFile, path: &str, errors: &mut Vec<String>) -> DnssecPolicy {
    let algorithm = match raw.algorithm.as_deref().map(algorithm).transpose() {
        Ok(found) => found.unwrap_or(Algorithm::ECDSAP256SHA256),
        Err(message) => {
            errors.push(format!("{path}.algorithm: {message}"));
            Algorithm::ECDSAP256SHA256
        }
    };
    let split = match raw.keys.as_deref() {
        None | Some("csk") => false,
        Some("ksk-zsk") => true,
        Some(other) => {
            errors.push(format!("{path}.keys: '{other}' is not \"csk\" or \"ksk-zsk\""));
            false
        }
    };
    let nsec3 = raw.nsec3.unwrap_or(false);
    if raw.nsec3_opt_out == Some(true) && !nsec3 {
        errors.push(format!("{path}.nsec3-opt-out: opt-out is an NSEC3 feature; set nsec3 = true"));
    }
    let denial = if nsec3 { Denial::Nsec3 { opt_out: raw.nsec3_opt_out.unwrap_or(false) } } else { Denial::Nsec };
    let d = |limit: Limit<u64>, value: &Option<DurationText>, errors: &mut Vec<String>| duration(path, limit, value.as_ref(), errors);
    let ttl = |seconds: u64| u32::try_from(seconds).unwrap_or(u32::MAX);
    let policy = DnssecPolicy {
        name: raw.name.clone(),
        algorithm,
        split,
        denial,
        ksk_lifetime: d(PolicyFile::KSK_LIFETIME, &raw.ksk_lifetime, errors),
        zsk_lifetime: d(PolicyFile::ZSK_LIFETIME, &raw.zsk_lifetime, errors),
        signature_validity: d(PolicyFile::SIGNATURE_VALIDITY, &raw.signature_validity, errors),
        signature_refresh: d(PolicyFile::SIGNATURE_REFRESH, &raw.signature_refresh, errors),
        signature_jitter: d(PolicyFile::SIGNATURE_JITTER, &raw.signature_jitter, errors),
        dnskey_ttl: ttl(d(PolicyFile::DNSKEY_TTL, &raw.dnskey_ttl, errors)),
        zone_propagation_delay: d(PolicyFile::ZONE_PROPAGATION_DELAY, &raw.zone_propagation_delay, errors),
        parent_ds_ttl: ttl(d(PolicyFile::PARENT_DS_TTL, &raw.parent_ds_ttl, errors)),
        parent_propagation_delay: d(PolicyFile::PARENT_PROPAGATION_DELAY, &raw.parent_propagation_delay, errors),
    };
    if policy.signature_refresh + policy.signature_jitter >= policy.signature_validity {
        errors.push(format!(
            "{path}: signature-refresh ({}) plus signature-jitter ({}) must be shorter than signature-validity ({}), or every signature would be made again at once",
            policy.signature_refresh, policy.signature_jitter, policy.signature_validity
        ));
    }
    policy
}

/// Validates every `[[dnssec-policy]]`; the built-in `default` is always there (a table named
/// `default` replaces it).
pub fn policies(raw: &[PolicyFile], errors: &mut Vec<String>) -> Vec<DnssecPolicy> {
    let mut out: Vec<DnssecPolicy> = Vec::new();
    for (i, table) in raw.iter().enumerate() {
        let path = format!("dnssec-policy[{i}]");
        if table.name.is_empty() {
            errors.push(format!("{path}.name: a policy needs a name"));
            continue;
        }
        if out.iter().any(|p| p.name == table.name) {
            errors.push(format!("{path}: policy '{}' is defined twice", table.name));
            continue;
        }
        out.push(policy(table, &path, errors));
    }
    if !out.iter().any(|p| p.name == "default") {
        out.push(DnssecPolicy::builtin());
    }
    out
}

/// A zone's `dnssec-policy`: the named policy, on a primary zone only.
pub fn zone_signing(
    path: &str,
    name: Option<&str>,
    secondary: bool,
    policies: &[DnssecPolicy],
    key_directory: &Path,
    errors: &mut Vec<String>,
) -> Option<ZoneSigning> {
    let name = name?;
    if secondary {
        errors.push(format!("{path}.dnssec-policy: only primary zones are signed (a secondary serves its primary's records as transferred)"));
        return None;
    }
    let Some(policy) = policies.iter().find(|p| p.name == name) else {
        errors.push(format!("{path}.dnssec-policy: no [[dnssec-policy]] is named '{name}' (the built-in one is \"default\")"));
        return None;
    };
    Some(ZoneSigning { policy: policy.clone(), key_directory: key_directory.to_path_buf() })
}

/// `[server] key-directory`, resolved against the configuration's directory (`base`); without
/// it, `keys` beside the configuration file, or `./keys` for the embedded configuration.
pub fn key_directory(configured: Option<&str>, base: Option<&Path>) -> PathBuf {
    directory(configured, base, "keys")
}

/// `[server] state-directory` (journals, kept copies of secondary zones without a `file`),
/// resolved as [`key_directory`]; without it, `state` beside the configuration file.
pub fn state_directory(configured: Option<&str>, base: Option<&Path>) -> PathBuf {
    directory(configured, base, "state")
}

/// A directory named in the configuration, relative to its directory (`base`, else `.`): never
/// a fixed system path, so that several instances can run on one host.
fn directory(configured: Option<&str>, base: Option<&Path>, default: &str) -> PathBuf {
    let base = base.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    match configured {
        Some(dir) if Path::new(dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => base.join(dir),
        None => base.join(default),
    }
}

#[cfg(test)]
#[path = "dnssec_config_tests.rs"]
mod tests;
