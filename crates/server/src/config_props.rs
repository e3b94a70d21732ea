//! Property test of the configuration file: any value of any known key gets a clear error or a
//! setting, never a panic (integer extremes, empty and odd text, odd list elements).

use crate::config::{file, parse_file, validate};
use crate::forward_config::ForwardFile;
use crate::policy_config::{CookiesFile, QueryLimitFile, RrlFile};
use crate::resolver_config::ResolverFile;
use proptest::prelude::*;

/// Every integer key, as `(table, key)`, named by its [`crate::config::Limit`] const: a const
/// whose key the file does not know is reported unknown below. `forward` is a `[[forward]]`
/// entry, `zone` a secondary `[[zone]]`.
const NUMBERS: &[(&str, &str)] = &[
    ("server", file::Server::THREADS.key),
    ("server", file::Server::UDP_PAYLOAD.key),
    ("server", file::Server::REPLY_CACHE.key),
    ("tcp", file::Tcp::MAX_CONNECTIONS.key),
    ("tcp", file::Tcp::PER_CLIENT.key),
    ("tcp", file::Tcp::FIRST_MESSAGE_TIMEOUT_MS.key),
    ("tcp", file::Tcp::MESSAGE_TIMEOUT_MS.key),
    ("tcp", file::Tcp::IDLE_TIMEOUT_MS.key),
    ("tcp", file::Tcp::IN_FLIGHT.key),
    ("tcp", file::Tcp::QUERIES_PER_CONNECTION.key),
    ("tcp", file::Tcp::LIFETIME_MS.key),
    ("rrl", RrlFile::RESPONSES_PER_SECOND.key),
    ("rrl", RrlFile::NXDOMAINS_PER_SECOND.key),
    ("rrl", RrlFile::NODATA_PER_SECOND.key),
    ("rrl", RrlFile::REFERRALS_PER_SECOND.key),
    ("rrl", RrlFile::ERRORS_PER_SECOND.key),
    ("rrl", RrlFile::ALL_PER_SECOND.key),
    ("rrl", RrlFile::WINDOW.key),
    ("rrl", RrlFile::SLIP.key),
    ("rrl", RrlFile::IPV4_PREFIX_LENGTH.key),
    ("rrl", RrlFile::IPV6_PREFIX_LENGTH.key),
    ("rrl", RrlFile::TABLE_SIZE.key),
    ("query-limit", QueryLimitFile::RATE_LIMIT.key),
    ("query-limit", QueryLimitFile::INSTANT_LIMIT.key),
    ("query-limit", QueryLimitFile::SLIP.key),
    ("query-limit", QueryLimitFile::TABLE_SIZE.key),
    ("cookies", CookiesFile::SECRET_LIFETIME_HOURS.key),
    ("cookies", CookiesFile::NOCOOKIE_UDP_SIZE.key),
    ("resolver", ResolverFile::UPSTREAM_PORT.key),
    ("resolver", ResolverFile::EDNS_PAYLOAD.key),
    ("resolver", ResolverFile::MAX_CNAME_CHAIN.key),
    ("resolver", ResolverFile::MAX_UPSTREAM_QUERIES.key),
    ("resolver", ResolverFile::MAX_REFERRALS.key),
    ("resolver", ResolverFile::MAX_DEPTH.key),
    ("resolver", ResolverFile::MAX_NS_PER_DELEGATION.key),
    ("resolver", ResolverFile::MAX_NX_TARGET_LOOKUPS.key),
    ("resolver", ResolverFile::TOTAL_TIME_MS.key),
    ("resolver", ResolverFile::ZONE_FAILURE_RATE.key),
    ("resolver", ResolverFile::ZONE_QUERY_RATE.key),
    ("resolver", ResolverFile::ZONE_QUERY_RATE_FACTOR.key),
    ("resolver", ResolverFile::CACHE_ENTRIES.key),
    ("resolver", ResolverFile::CACHE_SIZE_MB.key),
    ("resolver", ResolverFile::MIN_TTL.key),
    ("resolver", ResolverFile::MAX_TTL.key),
    ("resolver", ResolverFile::MAX_NEGATIVE_TTL.key),
    ("resolver", ResolverFile::PREFETCH_PERCENT.key),
    ("resolver", ResolverFile::MAX_RESOLUTIONS.key),
    ("resolver", ResolverFile::MAX_WAITERS.key),
    ("forward", ForwardFile::HEDGE_MS.key),
    ("forward", ForwardFile::PROBE_INTERVAL_MS.key),
    ("forward", ForwardFile::TIMEOUT_MS.key),
    ("forward", ForwardFile::FALL.key),
    ("forward", ForwardFile::RISE.key),
    ("zone", file::Zone::TRANSFER_MAX_RECORDS.key),
    ("zone", file::Zone::TRANSFER_MAX_BYTES.key),
    ("zone", file::Zone::TRANSFER_TIMEOUT.key),
    ("zone", file::Zone::ZONEFILE_SYNC.key),
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
    ("resolver", "trust-anchor-file"),
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
    ("resolver", "negative-trust-anchors"),
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
        let mut zone = String::from("[[zone]]\norigin = \"example.\"\nprimaries = [\"127.0.0.1\"]\n");
        let mut tables: Vec<(&str, String)> = Vec::new();
        let mut seen = Vec::new();
        for (table, key, value) in entries {
            // A key set twice is a TOML error, not a validation case.
            if seen.contains(&(table, key)) {
                continue;
            }
            seen.push((table, key));
            if table == "forward" || table == "zone" {
                let array = if table == "zone" { &mut zone } else { &mut forward };
                array.push_str(&format!("{key} = {value}\n"));
                continue;
            }
            match tables.iter_mut().find(|(name, _)| *name == table) {
                Some((_, lines)) => lines.push_str(&format!("{key} = {value}\n")),
                None => tables.push((table, format!("{key} = {value}\n"))),
            }
        }
        let mut text: String = tables.iter().map(|(name, lines)| format!("[{name}]\n{lines}")).collect();
        text.push_str(&forward);
        text.push_str(&zone);
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
