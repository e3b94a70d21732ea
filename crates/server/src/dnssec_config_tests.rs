use super::*;
use crate::config::{parse_file, validate};

fn settings(text: &str) -> Result<crate::config::Settings, Vec<String>> {
    let (raw, unknown) = parse_file(text).map_err(|e| vec![e])?;
    if !unknown.is_empty() {
        return Err(unknown);
    }
    validate(&raw, Some(Path::new("/etc/portcullis")))
}

const ZONE: &str = "[[zone]]\norigin = \"example.\"\nfile = \"example.zone\"\n";

#[test]
fn the_default_policy_is_built_in_and_keys_go_beside_the_config() {
    let settings = settings(&format!("{ZONE}dnssec-policy = \"default\"\n")).unwrap();
    let signing = settings.zones[0].signing.clone().unwrap();
    assert_eq!(signing.key_directory, PathBuf::from("/etc/portcullis/keys"));
    let policy = signing.policy;
    assert_eq!((policy.name.as_str(), policy.algorithm, policy.split, policy.denial), ("default", Algorithm::ECDSAP256SHA256, false, Denial::Nsec));
    assert_eq!((policy.signature_validity, policy.signature_refresh, policy.signature_jitter), (14 * DAY, 5 * DAY, 12 * 3600));
    assert_eq!(policy.roll_policy(600).ksk_lifetime, None);
    let unsigned = self::settings(ZONE).unwrap();
    assert!(unsigned.zones[0].signing.is_none());
    assert_eq!(key_directory(Some("/var/lib/p"), Some(Path::new("/etc"))), PathBuf::from("/var/lib/p"));
    assert_eq!(key_directory(Some("k"), None), PathBuf::from("./k"));
}

#[test]
fn a_named_policy_is_read_with_units_and_bounds() {
    let text = format!(
        "[server]\nkey-directory = \"/srv/keys\"\n{ZONE}dnssec-policy = \"fast\"\n[[dnssec-policy]]\nname = \"fast\"\nalgorithm = \"ed25519\"\nkeys = \"ksk-zsk\"\n\
         nsec3 = true\nnsec3-opt-out = true\nksk-lifetime = \"365d\"\nzsk-lifetime = \"30d\"\nsignature-validity = \"7d\"\nsignature-refresh = 86400\n\
         signature-jitter = \"1h\"\ndnskey-ttl = \"10m\"\nzone-propagation-delay = 60\nparent-ds-ttl = \"2h\"\nparent-propagation-delay = \"1w\"\n"
    );
    let settings = settings(&text).unwrap();
    let signing = settings.zones[0].signing.clone().unwrap();
    assert_eq!(signing.key_directory, PathBuf::from("/srv/keys"));
    let policy = signing.policy;
    assert_eq!((policy.algorithm, policy.split, policy.denial), (Algorithm::ED25519, true, Denial::Nsec3 { opt_out: true }));
    assert_eq!((policy.ksk_lifetime, policy.zsk_lifetime, policy.signature_validity), (365 * DAY, 30 * DAY, 7 * DAY));
    assert_eq!((policy.signature_refresh, policy.signature_jitter, policy.dnskey_ttl), (DAY, 3600, 600));
    assert_eq!((policy.zone_propagation_delay, policy.parent_ds_ttl, policy.parent_propagation_delay), (60, 7200, 7 * DAY));
    let roll = policy.roll_policy(3600);
    assert_eq!((roll.ksk_lifetime, roll.zsk_lifetime, roll.zone_max_ttl), (Some(365 * DAY), Some(30 * DAY), 3600));
}

#[test]
fn bad_policies_are_reported_with_their_paths() {
    let text = format!(
        "{ZONE}dnssec-policy = \"nope\"\n[[zone]]\norigin = \"sec.\"\nprimaries = [\"192.0.2.1\"]\ndnssec-policy = \"default\"\n\
         [[dnssec-policy]]\nname = \"p\"\nalgorithm = \"dsa\"\nkeys = \"three\"\nnsec3-opt-out = true\nsignature-validity = \"2x\"\n\
         dnskey-ttl = 0\nsignature-refresh = \"20d\"\n[[dnssec-policy]]\nname = \"p\"\n[[dnssec-policy]]\nname = \"q\"\nalgoritm = \"ed25519\"\n"
    );
    let (raw, unknown) = parse_file(&text).unwrap();
    assert_eq!(unknown, ["unknown key dnssec-policy[2].algoritm (see the configuration reference in README.md)"]);
    let errors = validate(&raw, None).unwrap_err();
    let starts = [
        "dnssec-policy[0].algorithm: 'dsa' is not one of",
        "dnssec-policy[0].keys: 'three' is not",
        "dnssec-policy[0].nsec3-opt-out: opt-out is an NSEC3 feature",
        "dnssec-policy[0].signature-validity: '2x': unknown unit",
        "dnssec-policy[0].dnskey-ttl: 0 is outside 1..=86400",
        "dnssec-policy[0]: signature-refresh (1728000) plus signature-jitter (43200) must be shorter than signature-validity (1209600)",
        "dnssec-policy[1]: policy 'p' is defined twice",
        "zone[0].dnssec-policy: no [[dnssec-policy]] is named 'nope'",
        "zone[1].dnssec-policy: only primary zones are signed",
    ];
    assert_eq!(errors.len(), starts.len(), "{errors:#?}");
    for (error, start) in errors.iter().zip(starts) {
        assert!(error.starts_with(start), "{error}");
    }
}

#[test]
fn durations_parse_with_units() {
    assert_eq!(DurationText::Text("90".into()).seconds(), Ok(90));
    assert_eq!(DurationText::Text("2w".into()).seconds(), Ok(1_209_600));
    assert!(DurationText::Text("d".into()).seconds().is_err());
    assert!(DurationText::Text("99999999999999999w".into()).seconds().unwrap_err().contains("too long"));
}
