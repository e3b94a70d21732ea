//! `[[forward]]` tables and the `--forward` flag: file layer and validation into the engine's
//! [`ForwardSettings`] (issue 5). Forwarding goes through the resolver pool: the clients the
//! `allow-recursion` ACL lets in are forwarded; names outside every forward zone are resolved
//! from the root only when recursion is on (else REFUSED).

use crate::config::Limit;
use portcullis_engine::resolve::forward::ForwardSettings;
use portcullis_engine::resolve::upstreams::{GroupSettings, Hedge, Policy};
use portcullis_engine::resolve::ForwardMode;
use portcullis_wire::message::Question;
use portcullis_wire::{Class, NameBuf, Rtype};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// One `[[forward]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ForwardFile {
    pub zone: String,
    pub policy: Option<String>,
    pub mode: Option<String>,
    #[serde(default)]
    pub primaries: Vec<String>,
    #[serde(default)]
    pub backups: Vec<String>,
    pub weights: Option<BTreeMap<String, u64>>,
    pub hedge: Option<bool>,
    pub hedge_ms: Option<u64>,
    pub probe: Option<String>,
    pub probe_interval_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub fall: Option<u64>,
    pub rise: Option<u64>,
    pub transport: Option<String>,
    pub cache: Option<bool>,
    pub dnssec_validation: Option<bool>,
    pub tls_name: Option<String>,
    pub tls_ca: Option<String>,
    pub tls_pin: Option<Vec<String>>,
}

impl ForwardFile {
    /// `fall`: failures in a row that mark an upstream down.
    pub const FALL: Limit<u32> = Limit::new("fall", 3, 1, 100);
    /// `rise`: successes in a row that bring it back.
    pub const RISE: Limit<u32> = Limit::new("rise", 2, 1, 100);
    /// `probe-interval-ms`.
    pub const PROBE_INTERVAL_MS: Limit<u64> = Limit::new("probe-interval-ms", 1000, 10, 3_600_000);
    /// `timeout-ms`.
    pub const TIMEOUT_MS: Limit<u64> = Limit::new("timeout-ms", 1000, 50, 60_000);
    /// `hedge-ms` (absent: no fixed hedge).
    pub const HEDGE_MS: Limit<u64> = Limit::new("hedge-ms", 0, 1, 60_000);
    /// Each entry of `weights`.
    pub const WEIGHT: Limit<u32> = Limit::new("weight", 1, 0, 1_000_000);
}

/// Validates every `[[forward]]`.
pub fn forwards(raw: &[ForwardFile], errors: &mut Vec<String>) -> Vec<ForwardSettings> {
    let mut zones: Vec<ForwardSettings> = Vec::new();
    for (i, file) in raw.iter().enumerate() {
        let path = format!("forward[{i}]");
        if let Some(zone) = forward(file, &path, errors) {
            if zones.iter().any(|have| have.zone == zone.zone) {
                errors.push(format!("{path}.zone: '{}' is forwarded twice", file.zone));
            }
            zones.push(zone);
        }
    }
    zones
}

/// The `--forward ADDR[:PORT],...` flag: everything (`.`) to one group with the defaults.
pub fn from_flag(text: &str) -> Result<ForwardSettings, String> {
    let primaries = text.split(',').filter(|part| !part.trim().is_empty()).map(|part| upstream(part.trim())).collect::<Result<Vec<_>, _>>()?;
    if primaries.is_empty() {
        return Err("expected ADDR[:PORT],ADDR[:PORT]...".into());
    }
    let group = GroupSettings { primaries, ..GroupSettings::default() };
    Ok(ForwardSettings { zone: NameBuf::ROOT, mode: ForwardMode::Only, group, probe: default_probe(&NameBuf::ROOT), cache: true, validate: true, tls: None })
}

fn forward(file: &ForwardFile, path: &str, errors: &mut Vec<String>) -> Option<ForwardSettings> {
    let before = errors.len();
    let (fall, rise) = (ForwardFile::FALL.get(path, file.fall, errors), ForwardFile::RISE.get(path, file.rise, errors));
    let probe_interval_ms = ForwardFile::PROBE_INTERVAL_MS.get(path, file.probe_interval_ms, errors);
    let timeout_ms = ForwardFile::TIMEOUT_MS.get(path, file.timeout_ms, errors);
    let hedge = match (file.hedge, file.hedge_ms) {
        (Some(false), _) | (None, None) => Hedge::Off,
        (_, Some(ms)) => Hedge::After(ForwardFile::HEDGE_MS.get(path, Some(ms), errors)),
        (Some(true), None) => Hedge::P95,
    };
    let zone = name(&file.zone).map_err(|e| errors.push(format!("{path}.zone: '{}': {e}", file.zone))).ok();
    let policy = match &file.policy {
        None => Policy::default(),
        Some(text) => Policy::from_name(text).unwrap_or_else(|| {
            errors.push(format!("{path}.policy: '{text}' is not one of round-robin, weighted-random, lowest-latency, ordered"));
            Policy::default()
        }),
    };
    let mode = match &file.mode {
        None => ForwardMode::Only,
        Some(text) => ForwardMode::from_name(text).unwrap_or_else(|| {
            errors.push(format!("{path}.mode: '{text}' is not forward-only or forward-first"));
            ForwardMode::Only
        }),
    };
    let mut list = |key: &str, items: &[String]| -> Vec<SocketAddr> {
        items.iter().enumerate().filter_map(|(j, text)| upstream(text).map_err(|e| errors.push(format!("{path}.{key}[{j}]: {e}"))).ok()).collect()
    };
    let primaries = list("primaries", &file.primaries);
    let backups = list("backups", &file.backups);
    if file.primaries.is_empty() {
        errors.push(format!("{path}.primaries: at least one upstream is needed"));
    }
    let transport = match file.transport.as_deref() {
        None | Some("udp") => portcullis_engine::Transport::Udp,
        Some("tcp") => portcullis_engine::Transport::Tcp,
        Some("tls") => portcullis_engine::Transport::Tls,
        Some("https") => portcullis_engine::Transport::Https,
        Some("quic") => portcullis_engine::Transport::Quic,
        Some(other) => {
            errors.push(format!("{path}.transport: '{other}' is not udp, tcp, tls, https or quic"));
            portcullis_engine::Transport::Udp
        }
    };
    let tls = crate::forward_tls::upstream_tls(file, transport, path, errors);
    let all: Vec<SocketAddr> = primaries.iter().chain(&backups).copied().collect();
    let mut weights = vec![1u32; all.len()];
    for (key, weight) in file.weights.iter().flatten() {
        let weight = ForwardFile::WEIGHT.at(&format!("{path}.weights.{key}"), Some(*weight), errors);
        match upstream(key).ok().and_then(|addr| all.iter().position(|have| *have == addr)) {
            Some(index) => weights[index] = weight,
            None => errors.push(format!("{path}.weights.{key}: not one of the primaries or backups")),
        }
    }
    let probe = match (&file.probe, &zone) {
        (Some(text), _) => probe(text).map_err(|e| errors.push(format!("{path}.probe: '{text}': {e}"))).ok(),
        (None, Some(zone)) => Some(default_probe(zone)),
        (None, None) => None,
    };
    if errors.len() > before {
        return None;
    }
    let group = GroupSettings { policy, primaries, backups, weights, fall, rise, probe_interval_ms, timeout_ms, hedge, transport };
    let validate = file.dnssec_validation.unwrap_or(true);
    Some(ForwardSettings { zone: zone?, mode, group, probe: probe?, cache: file.cache.unwrap_or(true), validate, tls })
}

/// `ADDR` or `ADDR:PORT` (`[v6]:PORT`); port 53 by default.
fn upstream(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)).map_err(|_| format!("'{text}' is not ADDR[:PORT]"))
}

fn name(text: &str) -> Result<NameBuf, String> {
    let text = if text.ends_with('.') { text.to_string() } else { format!("{text}.") };
    NameBuf::from_text(&text, None).map_err(|e| e.to_string())
}

/// The default probe: the zone's SOA (`. SOA` for everything).
fn default_probe(zone: &NameBuf) -> Question {
    Question { qname: *zone, qtype: Rtype::SOA, qclass: Class::IN }
}

/// `NAME TYPE`, e.g. `example.com. SOA`.
fn probe(text: &str) -> Result<Question, String> {
    let mut words = text.split_whitespace();
    let qname = name(words.next().ok_or("expected NAME TYPE")?)?;
    let qtype = words.next().map_or(Ok(Rtype::SOA), |word| Rtype::from_text(word).ok_or_else(|| format!("unknown type '{word}'")))?;
    Ok(Question { qname, qtype, qclass: Class::IN })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<ForwardSettings>, Vec<String>> {
        #[derive(Deserialize)]
        struct Wrapper {
            forward: Vec<ForwardFile>,
        }
        let raw: Wrapper = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut errors = Vec::new();
        let zones = forwards(&raw.forward, &mut errors);
        if errors.is_empty() {
            Ok(zones)
        } else {
            Err(errors)
        }
    }

    #[test]
    fn full_form() {
        let zones = parse(
            "[[forward]]\nzone = \"example.\"\npolicy = \"weighted-random\"\nmode = \"forward-first\"\nprimaries = [\"127.0.0.1:5301\", \"127.0.0.2\"]\n\
             backups = [\"[::1]:5302\"]\nweights = { \"127.0.0.1:5301\" = 5 }\nhedge-ms = 40\nprobe = \"www.example. A\"\nprobe-interval-ms = 500\nfall = 4\nrise = 1\ncache = false\n",
        )
        .unwrap();
        let zone = &zones[0];
        assert_eq!(zone.zone.to_string(), "example.");
        assert_eq!(zone.mode, ForwardMode::First);
        assert_eq!(zone.group.policy, Policy::WeightedRandom);
        assert_eq!(zone.group.primaries[1], "127.0.0.2:53".parse().unwrap());
        assert_eq!(zone.group.weights, [5, 1, 1]);
        assert_eq!((zone.group.fall, zone.group.rise, zone.group.probe_interval_ms, zone.group.hedge), (4, 1, 500, Hedge::After(40)));
        assert_eq!((zone.probe.qname.to_string().as_str(), zone.probe.qtype), ("www.example.", Rtype::A));
        assert!(!zone.cache);
    }

    #[test]
    fn every_error_has_its_path() {
        let errors = parse(
            "[[forward]]\nzone = \"example.\"\npolicy = \"fastest\"\nmode = \"sometimes\"\nprimaries = [\"nope\"]\nfall = 0\nweights = { \"10.0.0.1\" = 2 }\n",
        )
        .unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("forward[0].policy")));
        assert!(errors.iter().any(|e| e.starts_with("forward[0].primaries[0]")));
        assert!(errors.iter().any(|e| e.starts_with("forward[0].fall: 0 is outside")));
        assert!(errors.iter().any(|e| e.starts_with("forward[0].weights.10.0.0.1")));
    }

    #[test]
    fn flag_forwards_everything() {
        let zone = from_flag("127.0.0.1:5301,192.0.2.1").unwrap();
        assert_eq!(zone.zone, NameBuf::ROOT);
        assert_eq!(zone.group.primaries.len(), 2);
        assert_eq!(zone.group.policy, Policy::LowestLatency);
        assert!(from_flag("").is_err());
        assert!(from_flag("not-an-address").is_err());
        assert!(zone.validate, "the flag's zone validates (issue 14)");
    }

    #[test]
    fn a_forward_zone_validates_unless_told_not_to() {
        let zones = parse(
            "[[forward]]\nzone = \"a.\"\nprimaries = [\"127.0.0.1\"]\n[[forward]]\nzone = \"b.\"\nprimaries = [\"127.0.0.1\"]\ndnssec-validation = false\n",
        )
        .unwrap();
        assert_eq!((zones[0].validate, zones[1].validate), (true, false));
    }
}
