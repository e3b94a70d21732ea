//! SVCB and HTTPS rdata (RFC 9460): SvcPriority, TargetName and SvcParams.
//!
//! On the wire the params are in strictly increasing key order; in text they may come in any
//! order, values possibly quoted, lists comma-separated with `\,` and `\\` escapes (RFC 9460
//! Appendix A.1). The check enforces what the text parser enforces (RFC 9460 §2.2, §7, §8), so
//! every rdata that passes it round-trips through text.

use super::encoding::{decode_base64, write_base64};
use super::text::{parse_number, unescape_into, write_escaped, Cursor};
use super::RdataTextError;
use crate::name::NameBuf;
use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

const MANDATORY: u16 = 0;
const ALPN: u16 = 1;
const NO_DEFAULT_ALPN: u16 = 2;
const PORT: u16 = 3;
const IPV4HINT: u16 = 4;
const ECH: u16 = 5;
const IPV6HINT: u16 = 6;
const OHTTP: u16 = 8;
/// The reserved "invalid key" (RFC 9460 §14.3.2).
const INVALID_KEY: u16 = 65535;

/// Registered key names, by number (RFC 9460 §14.3.2, RFC 9461, RFC 9540).
const KEY_NAMES: [&str; 9] = ["mandatory", "alpn", "no-default-alpn", "port", "ipv4hint", "ech", "ipv6hint", "dohpath", "ohttp"];

/// True for well-formed SVCB/HTTPS rdata.
pub(crate) fn check(rdata: &[u8]) -> bool {
    let Some(params) = split_params(rdata) else { return false };
    let mut previous = None;
    for (key, value) in params.iter().copied() {
        if previous.is_some_and(|p| p >= key) || key == INVALID_KEY || !check_value(key, value) {
            return false;
        }
        previous = Some(key);
    }
    let mandatory = params.iter().find(|(key, _)| *key == MANDATORY).map_or(&[][..], |(_, value)| value);
    mandatory.chunks(2).all(|pair| {
        let key = u16::from_be_bytes([pair.first().copied().unwrap_or(0), pair.get(1).copied().unwrap_or(0)]);
        params.iter().any(|(present, _)| *present == key)
    })
}

/// Writes checked SVCB/HTTPS rdata.
pub(crate) fn to_text(rdata: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    let priority = u16::from_be_bytes([*rdata.first().ok_or(fmt::Error)?, *rdata.get(1).ok_or(fmt::Error)?]);
    let (target, _) = NameBuf::parse_uncompressed(rdata, 2).map_err(|_| fmt::Error)?;
    write!(out, "{priority} {target}")?;
    for (key, value) in split_params(rdata).ok_or(fmt::Error)? {
        out.write_char(' ')?;
        write_key(key, out)?;
        write_value(key, value, out)?;
    }
    Ok(())
}

/// Parses SVCB/HTTPS presentation format.
pub(crate) fn from_text(cursor: &mut Cursor<'_, '_>, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let priority = cursor.number("priority", 0xFFFF)? as u16;
    let target = cursor.name("target")?;
    let mut params: Vec<(u16, Vec<u8>)> = Vec::new();
    while let Some(token) = cursor.next_optional() {
        let (key_text, value) = match token.text.split_once('=') {
            None => (token.text, None),
            Some((key, "")) if cursor.peek().is_some_and(|next| next.quoted) => (key, cursor.next_optional().map(|next| next.text)),
            Some((key, value)) => (key, Some(strip_quotes(value))),
        };
        let key = parse_key(key_text).ok_or_else(|| cursor.error("params", format_args!("unknown key '{key_text}'")))?;
        if params.iter().any(|(present, _)| *present == key) {
            return Err(cursor.error("params", format_args!("key '{key_text}' appears more than once")));
        }
        let mut decoded = Vec::new();
        if let Some(value) = value {
            unescape_into(value, &mut decoded).ok_or_else(|| cursor.error(key_text, format_args!("bad escape in '{value}'")))?;
        }
        let wire = parse_value(key, value.is_some(), &decoded).map_err(|why| cursor.error(key_text, why))?;
        params.push((key, wire));
    }
    params.sort_by_key(|(key, _)| *key);
    if let Some((_, mandatory)) = params.iter().find(|(key, _)| *key == MANDATORY) {
        for pair in mandatory.chunks(2) {
            let key = u16::from_be_bytes([pair.first().copied().unwrap_or(0), pair.get(1).copied().unwrap_or(0)]);
            if !params.iter().any(|(present, _)| *present == key) {
                return Err(cursor.error("mandatory", format_args!("lists key{key}, which is not present")));
            }
        }
    }
    out.extend_from_slice(&priority.to_be_bytes());
    out.extend_from_slice(target.as_wire());
    for (key, value) in params {
        let len = u16::try_from(value.len()).map_err(|_| cursor.error("params", "value longer than 65535 octets"))?;
        out.extend_from_slice(&key.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&value);
    }
    Ok(())
}

/// Splits the params after the priority and target; `None` when they do not exactly fill.
fn split_params(rdata: &[u8]) -> Option<Vec<(u16, &[u8])>> {
    rdata.get(..2)?;
    let (_, mut pos) = NameBuf::parse_uncompressed(rdata, 2).ok()?;
    let mut params = Vec::new();
    while pos < rdata.len() {
        let header = rdata.get(pos..pos + 4)?;
        let key = u16::from_be_bytes([*header.first()?, *header.get(1)?]);
        let len = usize::from(u16::from_be_bytes([*header.get(2)?, *header.get(3)?]));
        let value = rdata.get(pos + 4..pos + 4 + len)?;
        params.push((key, value));
        pos += 4 + len;
    }
    Some(params)
}

fn check_value(key: u16, value: &[u8]) -> bool {
    match key {
        MANDATORY => {
            let keys: Vec<u16> =
                value.chunks(2).map(|pair| u16::from_be_bytes([pair.first().copied().unwrap_or(0), pair.get(1).copied().unwrap_or(0)])).collect();
            !value.is_empty() && value.len() % 2 == 0 && keys.windows(2).all(|w| w.first() < w.get(1)) && !keys.contains(&MANDATORY)
        }
        ALPN => !value.is_empty() && check_alpn(value),
        NO_DEFAULT_ALPN | OHTTP => value.is_empty(),
        PORT => value.len() == 2,
        IPV4HINT => !value.is_empty() && value.len() % 4 == 0,
        ECH => !value.is_empty(),
        IPV6HINT => !value.is_empty() && value.len() % 16 == 0,
        _ => true,
    }
}

fn check_alpn(mut value: &[u8]) -> bool {
    while let Some((&len, rest)) = value.split_first() {
        if len == 0 || rest.len() < usize::from(len) {
            return false;
        }
        value = rest.get(usize::from(len)..).unwrap_or_default();
    }
    true
}

fn write_key(key: u16, out: &mut dyn fmt::Write) -> fmt::Result {
    match KEY_NAMES.get(usize::from(key)) {
        Some(name) => out.write_str(name),
        None => write!(out, "key{key}"),
    }
}

fn write_value(key: u16, value: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    match key {
        MANDATORY => write_list(value.chunks(2), out, |pair, out| {
            write_key(u16::from_be_bytes([pair.first().copied().unwrap_or(0), pair.get(1).copied().unwrap_or(0)]), out)
        }),
        ALPN => {
            out.write_str("=\"")?;
            let mut rest = value;
            let mut first = true;
            while let Some((&len, tail)) = rest.split_first() {
                let (id, tail) = tail.split_at(usize::from(len).min(tail.len()));
                if !first {
                    out.write_char(',')?;
                }
                let mut escaped = Vec::with_capacity(id.len());
                for &byte in id {
                    if byte == b',' || byte == b'\\' {
                        escaped.push(b'\\');
                    }
                    escaped.push(byte);
                }
                write_value_text(&escaped, out)?;
                first = false;
                rest = tail;
            }
            out.write_char('"')
        }
        NO_DEFAULT_ALPN | OHTTP => Ok(()),
        PORT => write!(out, "={}", u16::from_be_bytes([value.first().copied().unwrap_or(0), value.get(1).copied().unwrap_or(0)])),
        IPV4HINT => write_list(value.chunks(4), out, |quad, out| {
            let octets: [u8; 4] = quad.try_into().map_err(|_| fmt::Error)?;
            write!(out, "{}", Ipv4Addr::from(octets))
        }),
        ECH => {
            out.write_char('=')?;
            write_base64(value, out)
        }
        IPV6HINT => write_list(value.chunks(16), out, |chunk, out| {
            let octets: [u8; 16] = chunk.try_into().map_err(|_| fmt::Error)?;
            write!(out, "{}", Ipv6Addr::from(octets))
        }),
        _ if value.is_empty() => Ok(()),
        _ => {
            out.write_str("=\"")?;
            write_value_text(value, out)?;
            out.write_char('"')
        }
    }
}

/// Writes the inside of a quoted value, also escaping the bytes that end an unquoted token, so
/// the value reads back whether or not the tokenizer honours a quote in mid-token.
fn write_value_text(bytes: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    for chunk in bytes.split_inclusive(|&b| matches!(b, b' ' | b'(' | b')' | b';')) {
        match chunk.split_last() {
            Some((&last, head)) if matches!(last, b' ' | b'(' | b')' | b';') => {
                write_escaped(head, out)?;
                write!(out, "\\{:03}", last)?;
            }
            _ => write_escaped(chunk, out)?,
        }
    }
    Ok(())
}

fn write_list<'v>(
    items: impl Iterator<Item = &'v [u8]>,
    out: &mut dyn fmt::Write,
    mut each: impl FnMut(&'v [u8], &mut dyn fmt::Write) -> fmt::Result,
) -> fmt::Result {
    out.write_char('=')?;
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.write_char(',')?;
        }
        each(item, out)?;
    }
    Ok(())
}

fn strip_quotes(value: &str) -> &str {
    match value.strip_prefix('"').and_then(|inner| inner.strip_suffix('"')) {
        Some(inner) if !inner.ends_with('\\') || inner.ends_with("\\\\") => inner,
        _ => value,
    }
}

fn parse_key(text: &str) -> Option<u16> {
    if let Some(index) = KEY_NAMES.iter().position(|name| name.eq_ignore_ascii_case(text)) {
        return u16::try_from(index).ok();
    }
    let digits = text.strip_prefix("key")?;
    let key = parse_number(digits, 0xFFFF)? as u16;
    (key != INVALID_KEY).then_some(key)
}

/// Converts one decoded value (escapes already removed) to its wire form.
fn parse_value(key: u16, has_value: bool, value: &[u8]) -> Result<Vec<u8>, String> {
    let needs_value = matches!(key, MANDATORY | ALPN | PORT | IPV4HINT | ECH | IPV6HINT);
    if needs_value && value.is_empty() {
        return Err("missing value".into());
    }
    if matches!(key, NO_DEFAULT_ALPN | OHTTP) && has_value && !value.is_empty() {
        return Err("takes no value".into());
    }
    let mut wire = Vec::new();
    match key {
        MANDATORY => {
            let mut keys = Vec::new();
            for item in split_list(value)? {
                let text = String::from_utf8_lossy(&item);
                let listed = parse_key(&text).ok_or_else(|| format!("unknown key '{text}'"))?;
                if listed == MANDATORY {
                    return Err("must not list 'mandatory'".into());
                }
                if keys.contains(&listed) {
                    return Err(format!("lists '{text}' more than once"));
                }
                keys.push(listed);
            }
            keys.sort_unstable();
            keys.iter().for_each(|key| wire.extend_from_slice(&key.to_be_bytes()));
        }
        ALPN => {
            for id in split_list(value)? {
                let len = u8::try_from(id.len()).map_err(|_| "protocol id longer than 255 octets".to_string())?;
                if len == 0 {
                    return Err("empty protocol id".into());
                }
                wire.push(len);
                wire.extend_from_slice(&id);
            }
        }
        PORT => {
            let text = String::from_utf8_lossy(value);
            let port = parse_number(&text, 0xFFFF).ok_or_else(|| format!("expected a number 0-65535, got '{text}'"))?;
            wire.extend_from_slice(&(port as u16).to_be_bytes());
        }
        IPV4HINT => parse_addresses::<Ipv4Addr>(value, &mut wire, |a| a.octets().to_vec())?,
        IPV6HINT => parse_addresses::<Ipv6Addr>(value, &mut wire, |a| a.octets().to_vec())?,
        ECH => decode_base64(&String::from_utf8_lossy(value), &mut wire).map_err(str::to_string)?,
        _ => wire.extend_from_slice(value),
    }
    Ok(wire)
}

fn parse_addresses<A: core::str::FromStr>(value: &[u8], wire: &mut Vec<u8>, octets: impl Fn(A) -> Vec<u8>) -> Result<(), String> {
    for item in split_list(value)? {
        let text = String::from_utf8_lossy(&item);
        let address = text.parse::<A>().map_err(|_| format!("expected an address, got '{text}'"))?;
        wire.extend_from_slice(&octets(address));
    }
    Ok(())
}

/// Splits a value-list at commas, undoing `\,` and `\\` (RFC 9460 Appendix A.1).
fn split_list(value: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut items = vec![Vec::new()];
    let mut bytes = value.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'\\' => {
                let &escaped = bytes.next().ok_or("value ends in a backslash")?;
                items.last_mut().ok_or("empty list")?.push(escaped);
            }
            b',' => items.push(Vec::new()),
            _ => items.last_mut().ok_or("empty list")?.push(byte),
        }
    }
    if items.iter().any(Vec::is_empty) {
        return Err("empty item in list".into());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{golden, parse, print, tokenize, unhex};
    use super::super::{rdata_check, rdata_from_text, Token};
    use crate::name::NameBuf;
    use crate::types::Rtype;

    const FOO_EXAMPLE_COM: &str = "03666f6f 076578616d706c65 03636f6d 00";
    const FOO_EXAMPLE_ORG: &str = "03666f6f 076578616d706c65 036f7267 00";

    /// From RFC 9460 Appendix D.1, Figure 2: AliasMode.
    #[test]
    fn rfc9460_d1_alias_mode() {
        golden(Rtype::HTTPS, "0 foo.example.com.", &format!("0000 {FOO_EXAMPLE_COM}"), "0 foo.example.com.");
        golden(Rtype::SVCB, "0 foo.example.com.", &format!("0000 {FOO_EXAMPLE_COM}"), "0 foo.example.com.");
    }

    /// From RFC 9460 Appendix D.2, Figures 3-10: ServiceMode.
    #[test]
    fn rfc9460_d2_service_mode() {
        // Figure 3: the target is the owner.
        golden(Rtype::SVCB, "1 .", "0001 00", "1 .");
        // Figure 4: a port.
        golden(Rtype::SVCB, "16 foo.example.com. port=53", &format!("0010 {FOO_EXAMPLE_COM} 0003 0002 0035"), "16 foo.example.com. port=53");
        // Figure 5: an unregistered key with an unquoted value.
        let hello = format!("0001 {FOO_EXAMPLE_COM} 029b 0005 68656c6c6f");
        golden(Rtype::SVCB, "1 foo.example.com. key667=hello", &hello, r#"1 foo.example.com. key667="hello""#);
        // Figure 6: a quoted value with a decimal escape.
        let escaped = format!("0001 {FOO_EXAMPLE_COM} 029b 0009 68656c6c6fd2716f6f");
        golden(Rtype::SVCB, r#"1 foo.example.com. key667="hello\210qoo""#, &escaped, r#"1 foo.example.com. key667="hello\210qoo""#);
        // Figure 7: two quoted IPv6 hints.
        golden(
            Rtype::SVCB,
            r#"1 foo.example.com. (ipv6hint="2001:db8::1,2001:db8::53:1")"#,
            &format!("0001 {FOO_EXAMPLE_COM} 0006 0020 20010db8000000000000000000000001 20010db8000000000000000000530001"),
            "1 foo.example.com. ipv6hint=2001:db8::1,2001:db8::53:1",
        );
        // Figure 8: an IPv6 hint in embedded IPv4 syntax.
        golden(
            Rtype::SVCB,
            r#"1 example.com. (ipv6hint="2001:db8:122:344::192.0.2.33")"#,
            "0001 076578616d706c65 03636f6d 00 0006 0010 20010db80122034400000000c0000221",
            "1 example.com. ipv6hint=2001:db8:122:344::c000:221",
        );
        // Figure 9: keys out of order in text, sorted on the wire.
        golden(
            Rtype::SVCB,
            "16 foo.example.org. (alpn=h2,h3-19 mandatory=ipv4hint,alpn ipv4hint=192.0.2.1)",
            &format!("0010 {FOO_EXAMPLE_ORG} 0000 0004 00010004 0001 0009 02683205 68332d3139 0004 0004 c0000201"),
            r#"16 foo.example.org. mandatory=alpn,ipv4hint alpn="h2,h3-19" ipv4hint=192.0.2.1"#,
        );
        // Figure 10: alpn values with escaped commas and backslashes, in two spellings.
        let alpn = format!("0010 {FOO_EXAMPLE_ORG} 0001 000c 08665c6f6f2c626172 026832");
        golden(Rtype::SVCB, r#"16 foo.example.org. alpn="f\\\\oo\\,bar,h2""#, &alpn, r#"16 foo.example.org. alpn="f\\\\oo\\,bar,h2""#);
        golden(Rtype::SVCB, r"16 foo.example.org. alpn=f\\\092oo\092,bar,h2", &alpn, r#"16 foo.example.org. alpn="f\\\\oo\\,bar,h2""#);
    }

    /// From RFC 9460 Appendix D.3, Figure 11: text that must be rejected.
    #[test]
    fn rfc9460_d3_failure_cases() {
        for text in [
            "1 foo.example.com. key123=abc key123=def",
            "1 foo.example.com. mandatory",
            "1 foo.example.com. alpn",
            "1 foo.example.com. port",
            "1 foo.example.com. ipv4hint",
            "1 foo.example.com. ipv6hint",
            "1 foo.example.com. no-default-alpn=abc",
            "1 foo.example.com. mandatory=key123",
            "1 foo.example.com. mandatory=mandatory",
            "1 foo.example.com. mandatory=key123,key123 key123=abc",
        ] {
            assert!(parse(Rtype::SVCB, text).is_err(), "{text}");
        }
    }

    #[test]
    fn other_params() {
        golden(Rtype::HTTPS, "1 . alpn=h3 no-default-alpn", "0001 00 0001 0003 026833 0002 0000", r#"1 . alpn="h3" no-default-alpn"#);
        golden(Rtype::HTTPS, "1 . ech=AEX+DQ==", "0001 00 0005 0004 0045fe0d", "1 . ech=AEX+DQ==");
        golden(
            Rtype::SVCB,
            "1 dns. dohpath=/dns-query{?dns} ohttp",
            "0001 03646e7300 0007 0010 2f646e732d71756572797b3f646e737d 0008 0000",
            r#"1 dns. dohpath="/dns-query{?dns}" ohttp"#,
        );
        golden(Rtype::SVCB, "1 . key1000 key999=\"\"", "0001 00 03e7 0000 03e8 0000", "1 . key999 key1000");
        golden(Rtype::SVCB, "1 . port=\"65535\" key2=\"\"", "0001 00 0002 0000 0003 0002 ffff", "1 . no-default-alpn port=65535");
        for bad in ["1 . key65535=x", "1 . port=65536", "1 . bogus=1", "1 . ipv4hint=1.2.3.4,", "1 . alpn=h2,,h3", "1 . ech=!!", "1 . ech", "1 . alpn=a\\"] {
            assert!(parse(Rtype::SVCB, bad).is_err(), "{bad}");
        }
        let long = format!("1 . alpn={}", "a".repeat(256));
        assert!(parse(Rtype::SVCB, &long).is_err());
    }

    /// A tokenizer may split `key="value"` into `key=` and a quoted token.
    #[test]
    fn quoted_value_as_separate_token() {
        let tokens = [
            Token { text: "1", quoted: false },
            Token { text: ".", quoted: false },
            Token { text: "alpn=", quoted: false },
            Token { text: "h2,h3", quoted: true },
        ];
        let mut out = Vec::new();
        rdata_from_text(Rtype::SVCB, &tokens, &NameBuf::ROOT, &mut out).unwrap();
        assert_eq!(out, unhex("0001 00 0001 0006 026832 026833"));
        assert_eq!(tokenize("a=\"b c\"").len(), 2);
    }

    #[test]
    fn wire_checks() {
        // Keys out of order, a duplicate key, a mandatory key missing, bad lengths.
        for hex in [
            "0001 00 0003 0002 0035 0001 0003 026832",
            "0001 00 0003 0002 0035 0003 0002 0035",
            "0001 00 0000 0002 0003",
            "0001 00 0000 0002 0000",
            "0001 00 0003 0001 35",
            "0001 00 0004 0003 c00002",
            "0001 00 0001 0001 00",
            "0001 00 0002 0001 00",
            "0001 00 0005 0000",
            "0001 00 ffff 0000",
            "0001 00 0003 0002",
            "0001",
        ] {
            let wire = unhex(hex);
            assert!(!rdata_check(Rtype::SVCB, &wire), "{hex}");
            assert!(print(Rtype::SVCB, &wire).starts_with("\\# "));
        }
    }
}
