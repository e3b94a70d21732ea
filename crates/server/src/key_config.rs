//! The `[[key]]` tables: TSIG keys (RFC 8945), as `tsig-keygen` (BIND) and `keymgr -t` (Knot)
//! print them: a name, an algorithm and a base64 secret.

use portcullis_engine::policy::tsig::{Algorithm, TsigKey};
use portcullis_engine::policy::{AclSettings, Action, ActionRules, MatchElement};
use portcullis_wire::rdata::decode_base64;
use portcullis_wire::NameBuf;
use serde::Deserialize;

/// `[[key]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KeyFile {
    /// The key's domain name (`xfr.example.`).
    pub name: String,
    /// `hmac-sha256` (default), `hmac-sha1`, `hmac-sha384` or `hmac-sha512`.
    pub algorithm: Option<String>,
    /// The shared secret, base64.
    pub secret: String,
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
        let compact: String = file.secret.split_whitespace().collect();
        let mut secret = Vec::new();
        match decode_base64(&compact, &mut secret) {
            Ok(()) if !secret.is_empty() => keys.push(TsigKey::new(&name, algorithm, &secret)),
            Ok(()) => errors.push(format!("{path}.secret: empty")),
            Err(reason) => errors.push(format!("{path}.secret: not base64 ({reason})")),
        }
    }
    keys
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

    fn key(name: &str, algorithm: Option<&str>, secret: &str) -> KeyFile {
        KeyFile { name: name.into(), algorithm: algorithm.map(Into::into), secret: secret.into() }
    }

    #[test]
    fn keys_are_read_with_their_algorithm_and_checked() {
        let mut errors = Vec::new();
        let raw = [key("xfr.example", None, "c2VjcmV0c2VjcmV0c2VjcmV0"), key("Old.Example.", Some("HMAC-SHA1"), "c2VjcmV0 c2VjcmV0")];
        let keys = keys(&raw, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let described: Vec<(String, Algorithm)> = keys.iter().map(|k| (k.name().to_string(), k.algorithm())).collect();
        assert_eq!(described, [("xfr.example.".to_string(), Algorithm::HmacSha256), ("old.example.".to_string(), Algorithm::HmacSha1)]);
    }

    #[test]
    fn acl_key_elements_must_name_a_configured_key() {
        let mut errors = Vec::new();
        let keys = keys(&[key("xfr.example.", None, "c2VjcmV0")], &mut errors);
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
            key("a..b", None, "c2VjcmV0"),
            key("k.", Some("hmac-md5"), "c2VjcmV0"),
            key("k.", None, "not base64!"),
            key("k.", None, ""),
            key("ok.", None, "c2VjcmV0"),
            key("OK.", None, "c2VjcmV0"),
        ];
        assert_eq!(keys(&raw, &mut errors).len(), 1);
        assert_eq!(errors.len(), 5, "{errors:?}");
        for (error, start) in errors.iter().zip(["key[0].name", "key[1].algorithm", "key[2].secret", "key[3].secret", "key[5].name"]) {
            assert!(error.starts_with(start), "{error}");
        }
    }
}
