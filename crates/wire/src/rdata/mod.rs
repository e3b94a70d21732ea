//! Record data in presentation format (RFC 1035 §5 and each type's RFC), both directions, plus
//! the structural check of wire rdata.
//!
//! - Text to wire: [`rdata_from_text`] takes the zone-file tokens of one record's rdata (escapes
//!   still in place) and appends uncompressed wire rdata. The RFC 3597 generic form
//!   `\# <len> <hex>` is accepted for every type.
//! - Wire to text: [`rdata_to_text`] writes the canonical presentation form, as `dig`/`kdig`
//!   print it; rdata that fails [`rdata_check`], and types without a text format, are written in
//!   the generic form.
//!
//! Most types are a list of fields (`fields.rs`, the table in `format`); SVCB/HTTPS (`svcb.rs`,
//! RFC 9460), LOC (`loc.rs`, RFC 1876) and IPSECKEY, WKS and APL (`special.rs`) have their own
//! code. Base64, base32hex and hex are in `encoding.rs`; tokens, numbers, strings and times in
//! `text.rs`.
//!
//! Invariant: no function here panics on any input.

// `usize::is_multiple_of` (1.87) and `Option::is_none_or` (1.82) are newer than the workspace's
// rust-version (1.80), so the lints that suggest them are off here.
#![allow(clippy::manual_is_multiple_of, clippy::unnecessary_map_or)]

mod encoding;
pub use encoding::{decode_base32hex, decode_base64, write_base32hex, write_base64};
mod fields;
mod loc;
mod special;
mod svcb;
mod text;

use crate::name::NameBuf;
use crate::types::Rtype;
use core::fmt;
use fields::{field, Field, Kind};
use text::Cursor;

/// One token of a zone-file line, as the tokenizer found it: escapes still in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    /// The raw text (without the surrounding quotes when `quoted`).
    pub text: &'a str,
    /// True when the token was a quoted string.
    pub quoted: bool,
}

/// Why rdata text was rejected: a message for the user, naming the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RdataTextError(pub String);

impl fmt::Display for RdataTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Converts presentation-format rdata to uncompressed wire form, appended to `out`.
///
/// Relative names are completed with `origin` (`@` is the origin itself). On error nothing is
/// appended.
pub fn rdata_from_text(rtype: Rtype, tokens: &[Token<'_>], origin: &NameBuf, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let start = out.len();
    let result = match tokens.split_first() {
        Some((first, rest)) if !first.quoted && first.text == "\\#" => generic_from_text(rtype, rest, out),
        _ => known_from_text(rtype, tokens, origin, out),
    };
    let result = result.and_then(|()| match out.len() - start {
        len if len > usize::from(u16::MAX) => Err(RdataTextError(format!("{rtype}: rdata of {len} octets is longer than 65535"))),
        _ => Ok(()),
    });
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Writes uncompressed wire rdata in presentation format; malformed rdata is written in the RFC 3597
/// generic form `\# len hex`.
pub fn rdata_to_text(rtype: Rtype, rdata: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    if rdata_check(rtype, rdata) && !matches!(format(rtype), Format::Generic) {
        let mut text = String::new();
        if known_to_text(rtype, rdata, &mut text).is_ok() && !text.is_empty() {
            return out.write_str(&text);
        }
    }
    write_generic(rdata, out)
}

/// True when `rdata` is structurally valid for `rtype`: every field present and well-formed, with
/// nothing left over. Types without a known structure accept any rdata up to 65535 octets.
pub fn rdata_check(rtype: Rtype, rdata: &[u8]) -> bool {
    if rdata.len() > usize::from(u16::MAX) {
        return false;
    }
    match format(rtype) {
        Format::Fields(fields) => check_fields(fields, rdata),
        Format::Svcb => svcb::check(rdata),
        Format::Loc => loc::check(rdata),
        Format::Ipseckey => special::check_ipseckey(rdata),
        Format::Wks => special::check_wks(rdata),
        Format::Apl => special::check_apl(rdata),
        Format::Generic => true,
    }
}

/// How a type's rdata is laid out.
#[derive(Clone, Copy)]
enum Format {
    /// A fixed list of fields.
    Fields(&'static [Field]),
    /// SVCB and HTTPS (RFC 9460).
    Svcb,
    /// LOC (RFC 1876).
    Loc,
    /// IPSECKEY (RFC 4025).
    Ipseckey,
    /// WKS (RFC 1035 §3.4.2).
    Wks,
    /// APL (RFC 3123).
    Apl,
    /// No presentation format: only `\#` (NULL, OPT, meta types, unknown types, and a few rare
    /// ones such as HIP, NXT and TKEY).
    Generic,
}

/// Builds a `Format::Fields` from a list of `name: Kind` pairs.
macro_rules! fields {
    ($($name:literal: $kind:ident),* $(,)?) => {{
        const FIELDS: &[Field] = &[$(field($name, Kind::$kind)),*];
        Format::Fields(FIELDS)
    }};
}

/// The layout of each type.
fn format(rtype: Rtype) -> Format {
    match rtype {
        Rtype::A => fields!("address": Ipv4),
        Rtype::NS | Rtype::MD | Rtype::MF | Rtype::CNAME | Rtype::MB | Rtype::MG | Rtype::MR | Rtype::PTR | Rtype::DNAME => {
            fields!("target": Name)
        }
        Rtype::SOA => fields!("mname": Name, "rname": Name, "serial": U32, "refresh": U32, "retry": U32, "expire": U32, "minimum": U32),
        Rtype::WKS => Format::Wks,
        Rtype::HINFO => fields!("cpu": CharacterString, "os": CharacterString),
        Rtype::MINFO => fields!("rmailbx": Name, "emailbx": Name),
        Rtype::MX | Rtype::RT => fields!("preference": U16, "exchange": Name),
        Rtype::TXT | Rtype::SPF => fields!("text": RestStrings),
        Rtype::RP => fields!("mbox": Name, "txt": Name),
        Rtype::AFSDB => fields!("subtype": U16, "hostname": Name),
        Rtype::X25 => fields!("address": CharacterString),
        Rtype::ISDN => fields!("address": RestStrings),
        Rtype::NSAP => fields!("address": RestNsap),
        Rtype::SIG | Rtype::RRSIG => fields!(
            "type covered": Rtype, "algorithm": Algorithm, "labels": U8, "original TTL": U32, "expiration": Time,
            "inception": Time, "key tag": U16, "signer": Name, "signature": RestBase64,
        ),
        Rtype::KEY | Rtype::DNSKEY | Rtype::CDNSKEY => fields!("flags": U16, "protocol": U8, "algorithm": Algorithm, "public key": RestBase64),
        Rtype::PX => fields!("preference": U16, "map822": Name, "mapx400": Name),
        Rtype::GPOS => fields!("longitude": CharacterString, "latitude": CharacterString, "altitude": CharacterString),
        Rtype::AAAA => fields!("address": Ipv6),
        Rtype::LOC => Format::Loc,
        Rtype::SRV => fields!("priority": U16, "weight": U16, "port": U16, "target": Name),
        Rtype::NAPTR => fields!(
            "order": U16, "preference": U16, "flags": CharacterString, "services": CharacterString,
            "regexp": CharacterString, "replacement": Name,
        ),
        Rtype::KX => fields!("preference": U16, "exchanger": Name),
        Rtype::CERT => fields!("type": CertType, "key tag": U16, "algorithm": Algorithm, "certificate": RestBase64),
        Rtype::APL => Format::Apl,
        Rtype::DS | Rtype::CDS | Rtype::DLV => fields!("key tag": U16, "algorithm": Algorithm, "digest type": U8, "digest": RestHex),
        Rtype::SSHFP => fields!("algorithm": U8, "fingerprint type": U8, "fingerprint": RestHex),
        Rtype::IPSECKEY => Format::Ipseckey,
        Rtype::NSEC => fields!("next name": Name, "types": RestBitmap),
        Rtype::DHCID => fields!("digest": RestBase64),
        Rtype::NSEC3 => fields!(
            "hash algorithm": U8, "flags": U8, "iterations": U16, "salt": Salt, "next hashed owner": NextHashed,
            "types": RestBitmap,
        ),
        Rtype::NSEC3PARAM => fields!("hash algorithm": U8, "flags": U8, "iterations": U16, "salt": Salt),
        Rtype::TLSA | Rtype::SMIMEA => fields!("usage": U8, "selector": U8, "matching type": U8, "data": RestHex),
        Rtype::OPENPGPKEY => fields!("public key": RestBase64),
        Rtype::CSYNC => fields!("serial": U32, "flags": U16, "types": RestBitmap),
        Rtype::ZONEMD => fields!("serial": U32, "scheme": U8, "hash algorithm": U8, "digest": RestHex),
        Rtype::SVCB | Rtype::HTTPS => Format::Svcb,
        Rtype::NID => fields!("preference": U16, "node id": Ilnp64),
        Rtype::L32 => fields!("preference": U16, "locator": Ipv4),
        Rtype::L64 => fields!("preference": U16, "locator": Ilnp64),
        Rtype::LP => fields!("preference": U16, "fqdn": Name),
        Rtype::EUI48 => fields!("address": Eui48),
        Rtype::EUI64 => fields!("address": Eui64),
        Rtype::TSIG => fields!(
            "algorithm": Name, "time signed": U48, "fudge": U16, "MAC": SizedBase64, "original id": U16,
            "error": TsigError, "other data": SizedBase64,
        ),
        Rtype::URI => fields!("priority": U16, "weight": U16, "target": RestText),
        Rtype::CAA => fields!("flags": U8, "tag": Tag, "value": RestText),
        _ => Format::Generic,
    }
}

fn known_from_text(rtype: Rtype, tokens: &[Token<'_>], origin: &NameBuf, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let mut cursor = Cursor::new(rtype, tokens, origin);
    match format(rtype) {
        Format::Fields(fields) => fields.iter().try_for_each(|&field| fields::parse(field, &mut cursor, out))?,
        Format::Svcb => svcb::from_text(&mut cursor, out)?,
        Format::Loc => loc::from_text(&mut cursor, out)?,
        Format::Ipseckey => special::ipseckey_from_text(&mut cursor, out)?,
        Format::Wks => special::wks_from_text(&mut cursor, out)?,
        Format::Apl => special::apl_from_text(&mut cursor, out)?,
        Format::Generic => return Err(RdataTextError(format!("{rtype}: only the generic form '\\# length hex' is known for this type"))),
    }
    cursor.finish()
}

fn known_to_text(rtype: Rtype, rdata: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    match format(rtype) {
        Format::Fields(fields) => fields_to_text(fields, rdata, out),
        Format::Svcb => svcb::to_text(rdata, out),
        Format::Loc => loc::to_text(rdata, out),
        Format::Ipseckey => special::ipseckey_to_text(rdata, out),
        Format::Wks => special::wks_to_text(rdata, out),
        Format::Apl => special::apl_to_text(rdata, out),
        Format::Generic => Err(fmt::Error),
    }
}

fn check_fields(fields: &[Field], rdata: &[u8]) -> bool {
    let mut pos = 0;
    for field in fields {
        match fields::take(field.kind, rdata, pos) {
            Some(end) => pos = end,
            None => return false,
        }
    }
    pos == rdata.len()
}

fn fields_to_text(fields: &[Field], rdata: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    let mut pos = 0;
    let mut first = true;
    for field in fields {
        let end = fields::take(field.kind, rdata, pos).ok_or(fmt::Error)?;
        let value = rdata.get(pos..end).ok_or(fmt::Error)?;
        pos = end;
        if fields::writes_nothing(field.kind, value) {
            continue;
        }
        if !first {
            out.write_char(' ')?;
        }
        fields::write(field.kind, value, out)?;
        first = false;
    }
    Ok(())
}

/// Parses the RFC 3597 §5 generic form after the `\#` token.
fn generic_from_text(rtype: Rtype, tokens: &[Token<'_>], out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let Some((length, hex)) = tokens.split_first() else {
        return Err(RdataTextError(format!("{rtype} generic rdata: missing length after \\#")));
    };
    let Some(length) = text::parse_number(length.text, u64::from(u16::MAX)) else {
        return Err(RdataTextError(format!("{rtype} generic rdata: expected a length 0-65535, got '{}'", length.text)));
    };
    let digits: String = hex.iter().map(|token| token.text).collect();
    let start = out.len();
    encoding::decode_hex(&digits, out).map_err(|why| RdataTextError(format!("{rtype} generic rdata: {why}")))?;
    let decoded = out.len() - start;
    if decoded as u64 != length {
        return Err(RdataTextError(format!("{rtype} generic rdata: length {length} does not match {decoded} octets of hex")));
    }
    if !rdata_check(rtype, out.get(start..).unwrap_or_default()) {
        return Err(RdataTextError(format!("{rtype} generic rdata: not valid {rtype} rdata")));
    }
    Ok(())
}

/// Writes the RFC 3597 §5 generic form.
fn write_generic(rdata: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    write!(out, "\\# {}", rdata.len())?;
    if !rdata.is_empty() {
        out.write_char(' ')?;
        encoding::write_hex(rdata, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dnssec;
#[cfg(test)]
mod tests_fuzz;
