//! Property test of the configuration file: any value of any known key gets a clear error or a
//! setting, never a panic (integer extremes, empty and odd text, odd list elements).

use crate::config::{parse_file, validate};
use proptest::prelude::*;

/// Every integer key, as `(table, key)`; `forward` is a `[[forward]]` entry.
const NUMBERS: &[(&str, &str)] = &[
    ("server", "threads"),
    ("server", "udp-payload"),
    ("tcp", "max-connections"),
    ("tcp", "per-client"),
    ("tcp", "first-message-timeout-ms"),
    ("tcp", "message-timeout-ms"),
    ("tcp", "idle-timeout-ms"),
    ("tcp", "in-flight"),
    ("tcp", "queries-per-connection"),
    ("tcp", "lifetime-ms"),
    ("rrl", "responses-per-second"),
    ("rrl", "nxdomains-per-second"),
    ("rrl", "nodata-per-second"),
    ("rrl", "referrals-per-second"),
    ("rrl", "errors-per-second"),
    ("rrl", "all-per-second"),
    ("rrl", "window"),
    ("rrl", "slip"),
    ("rrl", "ipv4-prefix-length"),
    ("rrl", "ipv6-prefix-length"),
    ("rrl", "table-size"),
    ("query-limit", "rate-limit"),
    ("query-limit", "instant-limit"),
    ("query-limit", "slip"),
    ("query-limit", "table-size"),
    ("cookies", "secret-lifetime-hours"),
    ("cookies", "nocookie-udp-size"),
    ("resolver", "cache-entries"),
    ("resolver", "cache-size-mb"),
    ("resolver", "min-ttl"),
    ("resolver", "max-ttl"),
    ("resolver", "max-negative-ttl"),
    ("resolver", "prefetch-percent"),
    ("resolver", "upstream-port"),
    ("resolver", "edns-payload"),
    ("resolver", "max-cname-chain"),
    ("resolver", "max-upstream-queries"),
    ("resolver", "zone-failure-rate"),
    ("resolver", "zone-query-rate"),
    ("resolver", "zone-query-rate-factor"),
    ("resolver", "max-referrals"),
    ("resolver", "max-depth"),
    ("resolver", "max-ns-per-delegation"),
    ("resolver", "max-nx-target-lookups"),
    ("resolver", "total-time-ms"),
    ("resolver", "max-resolutions"),
    ("resolver", "max-waiters"),
    ("forward", "hedge-ms"),
    ("forward", "probe-interval-ms"),
    ("forward", "timeout-ms"),
    ("forward", "fall"),
    ("forward", "rise"),
];

/// Every text key.
const TEXTS: &[(&str, &str)] = &[
    ("server", "nsid"),
    ("server", "version"),
    ("server", "identity"),
    ("log", "level"),
    ("acl", "denied"),
    ("cookies", "secret"),
    ("resolver", "root-hints"),
    ("forward", "policy"),
    ("forward", "mode"),
    ("forward", "probe"),
    ("forward", "transport"),
];

/// Every list key.
const LISTS: &[(&str, &str)] = &[
    ("server", "listen"),
    ("acl", "query"),
    ("acl", "recursion"),
    ("acl", "transfer"),
    ("acl", "notify"),
    ("acl", "update"),
    ("resolver", "allow-recursion"),
    ("rrl", "exempt-clients"),
    ("forward", "primaries"),
    ("forward", "backups"),
];

fn number() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => prop_oneof![Just(0), Just(1), Just(i64::from(u16::MAX) + 1), Just(i64::from(u32::MAX) + 1), Just(i64::MAX), 0..100_000i64],
        1 => Just(-1),
    ]
}

fn text() -> impl Strategy<Value = String> {
    let odd = ["", ".", "..", "a..b", "\u{0}", "*", "::", "[::]:0", "999.1.1.1:53", "127.0.0.1:99999", "0.0.0.0/33", "::/129", "example.", "hex:zz", "-1"];
    prop_oneof![proptest::sample::select(odd.to_vec()).prop_map(str::to_string), "[ -~]{0,40}", Just("x".repeat(300))]
}

/// One value in TOML syntax for `kind` (0 number, 1 text, 2 list).
fn value(kind: u8) -> BoxedStrategy<String> {
    match kind {
        0 => number().prop_map(|n| n.to_string()).boxed(),
        1 => text().prop_map(|t| toml::Value::String(t).to_string()).boxed(),
        _ => proptest::collection::vec(text(), 0..4)
            .prop_map(|items| toml::Value::Array(items.into_iter().map(toml::Value::String).collect()).to_string())
            .boxed(),
    }
}

/// A configuration with some keys set: each line is `table`, `key`, value.
fn config() -> impl Strategy<Value = String> {
    let keys: Vec<(u8, &str, &str)> =
        NUMBERS.iter().map(|&(t, k)| (0, t, k)).chain(TEXTS.iter().map(|&(t, k)| (1, t, k))).chain(LISTS.iter().map(|&(t, k)| (2, t, k))).collect();
    let entry = proptest::sample::select(keys).prop_flat_map(|(kind, table, key)| value(kind).prop_map(move |v| (table, key, v)));
    proptest::collection::vec(entry, 1..12).prop_map(|entries| {
        let mut forward = String::from("[[forward]]\nzone = \"example.\"\nprimaries = [\"127.0.0.1\"]\n");
        let mut tables: Vec<(&str, String)> = Vec::new();
        let mut seen = Vec::new();
        for (table, key, value) in entries {
            // A key set twice is a TOML error, not a validation case.
            if seen.contains(&(table, key)) {
                continue;
            }
            seen.push((table, key));
            if table == "forward" {
                forward.push_str(&format!("{key} = {value}\n"));
                continue;
            }
            match tables.iter_mut().find(|(name, _)| *name == table) {
                Some((_, lines)) => lines.push_str(&format!("{key} = {value}\n")),
                None => tables.push((table, format!("{key} = {value}\n"))),
            }
        }
        let mut text: String = tables.iter().map(|(name, lines)| format!("[{name}]\n{lines}")).collect();
        text.push_str(&forward);
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]
    #[test]
    fn any_value_of_any_key_is_a_setting_or_an_error(text in config()) {
        // A duplicate key or a negative number is a TOML error; the rest reaches validation.
        if let Ok((raw, unknown)) = parse_file(&text) {
            prop_assert!(unknown.is_empty(), "every key generated is known: {unknown:?}");
            if let Err(errors) = validate(&raw, None) {
                prop_assert!(!errors.is_empty() && errors.iter().all(|e| !e.is_empty()), "{text}");
            }
        }
    }
}
