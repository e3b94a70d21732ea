//! The `[[key]]` tables: TSIG keys (RFC 8945), as `tsig-keygen` (BIND) and `keymgr -t` (Knot)
//! print them: a name, an algorithm and a base64 secret, at least as long as the algorithm's
//! digest (RFC 8945 §6 asks for such keys with a SHOULD, after RFC 2104 §3; a shorter one is an
//! error here, so a weak key never goes into service), and optionally the shortest MAC accepted
//! in a request (`min-mac-length`, RFC 8945 §5.2.2.1's local minimum; default the whole digest).

use portcullis_engine::policy::tsig::{Algorithm, TsigKey};
use portcullis_engine::policy::{AclSettings, Action, ActionRules, MatchElement};
use portcullis_wire::rdata::decode_base64;
use portcullis_wire::NameBuf;
use serde::Deserialize;

/// `[[key]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct KeyFile {
    /// The key's domain name (`xfr.example.`).
    pub name: String,
    /// `hmac-sha256` (default), `hmac-sha1`, `hmac-sha384` or `hmac-sha512`.
    pub algorithm: Option<String>,
    /// The shared secret, base64; at least as many octets as the digest.
    pub secret: String,
    /// Shortest MAC accepted in a request, octets (max(10, half the digest) ..= the digest);
    /// shorter ones that verify get BADTRUNC. Default: the digest (no truncation).
    pub min_mac_length: Option<u64>,
}

/// Validates every `[[key]]`; errors name the key by index.
pub fn keys(raw: &[KeyFile], errors: &mut Vec<String>) -> Vec<TsigKey> {
    let mut keys: Vec<TsigKey> = Vec::new();
    for (i, file) in raw.iter().enumerate() {
        let path = format!("key[{i}]");
        let text = if file.name.ends_with('.') { file.name.clone() } else { format!("{}.", file.name) };
        let name = match NameBuf::from_text(&text, None) {
            Ok(name) if !name.is_root() => name,
            _ => {
                errors.push(format!("{path}.name: '{}' is not a domain name", file.name));
                continue;
            }
        };
        if find_key(&keys, &name).is_some() {
            errors.push(format!("{path}.name: key {name} is defined twice"));
            continue;
        }
        let algorithm_text = file.algorithm.as_deref().unwrap_or("hmac-sha256");
        let Some(algorithm) = Algorithm::from_text(algorithm_text) else {
            let known: Vec<&str> = Algorithm::ALL.iter().map(|a| a.mnemonic()).collect();
            errors.push(format!("{path}.algorithm: '{algorithm_text}' is not one of {}", known.join(", ")));
            continue;
        };
        let Some(secret) = secret(&path, &name, algorithm, &file.secret, errors) else { continue };
        let key = TsigKey::new(&name, algorithm, &secret);
        match min_mac_length(&path, algorithm, file.min_mac_length, errors) {
            Some(len) => keys.push(key.with_min_mac_len(len)),
            None => keys.push(key),
        }
    }
    keys
}

/// The decoded secret of key `name`, when it is base64 and no shorter than the digest.
fn secret(path: &str, name: &NameBuf, algorithm: Algorithm, text: &str, errors: &mut Vec<String>) -> Option<Vec<u8>> {
    let compact: String = text.split_whitespace().collect();
    let mut secret = Vec::new();
    if let Err(reason) = decode_base64(&compact, &mut secret) {
        errors.push(format!("{path}.secret: not base64 ({reason})"));
        return None;
    }
    let needed = algorithm.digest_len();
    if secret.len() < needed {
        errors.push(format!(
            "{path}.secret: key {name} has {} octets of secret; {} needs at least {needed} (the digest's length, RFC 8945 §6)",
            secret.len(),
            algorithm.mnemonic()
        ));
        return None;
    }
    Some(secret)
}

/// The validated `min-mac-length`: `None` when absent (the whole digest) or out of range.
fn min_mac_length(path: &str, algorithm: Algorithm, value: Option<u64>, errors: &mut Vec<String>) -> Option<usize> {
    let value = value?;
    let (min, max) = (algorithm.shortest_mac(), algorithm.digest_len());
    match usize::try_from(value) {
        Ok(len) if (min..=max).contains(&len) => Some(len),
        _ => {
            errors.push(format!("{path}.min-mac-length: {value} is outside {min}..={max} for {} (RFC 8945 §5.2.2.1)", algorithm.mnemonic()));
            None
        }
    }
}

/// The key named `name` (any case).
pub fn find_key<'k>(keys: &'k [TsigKey], name: &NameBuf) -> Option<&'k TsigKey> {
    keys.iter().find(|key| key.name().as_wire().eq_ignore_ascii_case(name.as_wire()))
}

/// Every `key NAME` element of the ACL must name a configured key (as BIND requires).
pub fn check_acl_keys(acl: &AclSettings, keys: &[TsigKey], errors: &mut Vec<String>) {
    let mut check = |path: &str, elements: &[MatchElement]| {
        for element in elements {
            if let MatchElement::Key { name, .. } = element {
                if find_key(keys, name).is_none() {
                    errors.push(format!("{path}: 'key {name}': no [[key]] has that name"));
                }
            }
        }
    };
    let rules = |prefix: &str, rules: &ActionRules, check: &mut dyn FnMut(&str, &[MatchElement])| {
        for action in Action::ALL {
            if let Some(list) = rules.list(action) {
                check(&format!("{prefix}{}", action.as_str()), list);
            }
        }
    };
    for list in &acl.lists {
        check(&format!("acl.lists.{}", list.name), &list.elements);
    }
    rules("acl.", &acl.global, &mut check);
    for listener in &acl.listeners {
        rules(&format!("acl.listener[{}].", listener.listener), &listener.rules, &mut check);
    }
    for zone in &acl.zones {
        rules(&format!("acl.zone[{}].", zone.zone), &zone.rules, &mut check);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 32 octets ("secretsecretsecretsecretsecret12"): enough for hmac-sha256.
    const SECRET32: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";
    /// 64 octets: enough for every algorithm.
    const SECRET64: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTJzZWNyZXRzZWNyZXRzZWNyZXRzZWNyZXRzZWNyZXQxMg==";

    fn key(name: &str, algorithm: Option<&str>, secret: &str) -> KeyFile {
        KeyFile { name: name.into(), algorithm: algorithm.map(Into::into), secret: secret.into(), min_mac_length: None }
    }

    #[test]
    fn keys_are_read_with_their_algorithm_and_checked() {
        let mut errors = Vec::new();
        let split = format!("{} {}", &SECRET32[..20], &SECRET32[20..]);
        let raw = [key("xfr.example", None, SECRET32), key("Old.Example.", Some("HMAC-SHA1"), &split)];
        let keys = keys(&raw, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let described: Vec<(String, Algorithm)> = keys.iter().map(|k| (k.name().to_string(), k.algorithm())).collect();
        assert_eq!(described, [("xfr.example.".to_string(), Algorithm::HmacSha256), ("old.example.".to_string(), Algorithm::HmacSha1)]);
        assert_eq!(keys.iter().map(TsigKey::min_mac_len).collect::<Vec<_>>(), [32, 20], "whole MACs unless configured");
    }

    #[test]
    fn secrets_shorter_than_the_digest_are_rejected_naming_the_key() {
        let mut errors = Vec::new();
        // "secret" (6 octets), and 32 octets for hmac-sha384 and hmac-sha512.
        let raw = [
            key("short.example.", None, "c2VjcmV0"),
            key("k384.example.", Some("hmac-sha384"), SECRET32),
            key("k512.example.", Some("hmac-sha512"), SECRET32),
            key("ok1.example.", Some("hmac-sha1"), "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"),
            key("ok512.example.", Some("hmac-sha512"), SECRET64),
        ];
        let kept: Vec<String> = keys(&raw, &mut errors).iter().map(|k| k.name().to_string()).collect();
        assert_eq!(kept, ["ok1.example.", "ok512.example."]);
        assert_eq!(
            errors,
            [
                "key[0].secret: key short.example. has 6 octets of secret; hmac-sha256 needs at least 32 (the digest's length, RFC 8945 §6)",
                "key[1].secret: key k384.example. has 32 octets of secret; hmac-sha384 needs at least 48 (the digest's length, RFC 8945 §6)",
                "key[2].secret: key k512.example. has 32 octets of secret; hmac-sha512 needs at least 64 (the digest's length, RFC 8945 §6)",
            ]
        );
    }

    #[test]
    fn min_mac_length_is_the_local_minimum_within_the_rfc_bounds() {
        let mut errors = Vec::new();
        let with = |name: &str, len| KeyFile { min_mac_length: Some(len), ..key(name, None, SECRET32) };
        let keys = keys(&[with("a.", 16), with("b.", 15), with("c.", 33)], &mut errors);
        assert_eq!(keys.iter().map(TsigKey::min_mac_len).collect::<Vec<_>>(), [16, 32, 32], "out of range: the default");
        assert_eq!(
            errors,
            [
                "key[1].min-mac-length: 15 is outside 16..=32 for hmac-sha256 (RFC 8945 §5.2.2.1)",
                "key[2].min-mac-length: 33 is outside 16..=32 for hmac-sha256 (RFC 8945 §5.2.2.1)"
            ]
        );
    }

    #[test]
    fn acl_key_elements_must_name_a_configured_key() {
        let mut errors = Vec::new();
        let keys = keys(&[key("xfr.example.", None, SECRET32)], &mut errors);
        let element = |text: &str| text.parse::<MatchElement>().unwrap();
        let mut acl = AclSettings::default();
        acl.global.transfer = Some(vec![element("key xfr.example"), element("!key other.example.")]);
        check_acl_keys(&acl, &keys, &mut errors);
        assert_eq!(errors, ["acl.transfer: 'key other.example.': no [[key]] has that name"]);
    }

    #[test]
    fn bad_keys_are_reported_by_index() {
        let mut errors = Vec::new();
        let raw = [
            key("a..b", None, SECRET32),
            key("k.", Some("hmac-md5"), SECRET32),
            key("k.", None, "not base64!"),
            key("k.", None, ""),
            key("ok.", None, SECRET32),
            key("OK.", None, SECRET32),
        ];
        assert_eq!(keys(&raw, &mut errors).len(), 1);
        assert_eq!(errors.len(), 5, "{errors:?}");
        for (error, start) in errors.iter().zip(["key[0].name", "key[1].algorithm", "key[2].secret", "key[3].secret", "key[5].name"]) {
            assert!(error.starts_with(start), "{error}");
        }
    }
}
