//! The field kinds that most types are made of, each in three directions: finding its end in
//! wire rdata (the structural check), writing it in presentation format, and parsing it from
//! tokens. A type made only of these is described by a table of [`Field`]s in `mod.rs`.

use super::encoding::{base64_decoded_len, decode_base32hex, decode_base64, decode_hex, write_base32hex, write_base64, write_hex};
use super::text::{parse_time, write_quoted, write_time, Cursor};
use super::RdataTextError;
use crate::name::NameBuf;
use crate::types::Rtype;
use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

/// One field of a type's rdata: its name for error messages and its kind.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
}

/// Builds a [`Field`].
pub(crate) const fn field(name: &'static str, kind: Kind) -> Field {
    Field { name, kind }
}

/// How one field is laid out on the wire and written in text. `Rest*` kinds take the rest of the
/// rdata and come last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An 8-bit decimal number.
    U8,
    /// A 16-bit decimal number.
    U16,
    /// A 32-bit decimal number.
    U32,
    /// A 48-bit decimal number (TSIG time signed).
    U48,
    /// A DNSSEC algorithm number; mnemonics accepted on input (RFC 4034 Appendix A.1).
    Algorithm,
    /// A CERT type; mnemonics accepted on input (RFC 4398 §2.1).
    CertType,
    /// A record type mnemonic or `TYPEnnn`.
    Rtype,
    /// An RRSIG time, written `YYYYMMDDHHmmSS` (RFC 4034 §3.2).
    Time,
    /// A TSIG error: an rcode mnemonic or number (RFC 8945 §4.2).
    TsigError,
    /// An uncompressed domain name.
    Name,
    /// One character-string.
    CharacterString,
    /// One or more character-strings to the end (TXT).
    RestStrings,
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// A 48-bit EUI, `xx-xx-xx-xx-xx-xx` (RFC 7043).
    Eui48,
    /// A 64-bit EUI.
    Eui64,
    /// A 64-bit ILNP locator or node id, `xxxx:xxxx:xxxx:xxxx` (RFC 6742).
    Ilnp64,
    /// Base64 to the end; may be split over tokens; may be empty.
    RestBase64,
    /// Hex to the end; may be split over tokens; may be empty.
    RestHex,
    /// Type bitmap to the end (RFC 4034 §4.1.2).
    RestBitmap,
    /// The rest as one quoted string without a length octet (CAA value, URI target).
    RestText,
    /// `0x`-prefixed hex to the end (NSAP, RFC 1706 §5).
    RestNsap,
    /// Length octet then bytes, written in hex or `-` when empty (NSEC3 salt).
    Salt,
    /// Length octet then bytes in base32hex (NSEC3 next hashed owner name, RFC 5155 §3.3).
    NextHashed,
    /// 16-bit length then bytes, written as the length then base64 (TSIG MAC and other data).
    SizedBase64,
    /// Length octet then letters and digits, written unquoted (CAA tag, RFC 8659 §4.1).
    Tag,
}

/// The offset just past the field of `kind` starting at `pos`, if it is well-formed.
pub(crate) fn take(kind: Kind, rdata: &[u8], pos: usize) -> Option<usize> {
    let rest = rdata.get(pos..)?;
    let fixed = |len: usize| (rest.len() >= len).then_some(pos + len);
    match kind {
        Kind::U8 | Kind::Algorithm => fixed(1),
        Kind::U16 | Kind::CertType | Kind::Rtype | Kind::TsigError => fixed(2),
        Kind::U32 | Kind::Time | Kind::Ipv4 => fixed(4),
        Kind::U48 | Kind::Eui48 => fixed(6),
        Kind::Eui64 | Kind::Ilnp64 => fixed(8),
        Kind::Ipv6 => fixed(16),
        Kind::Name => NameBuf::parse_uncompressed(rdata, pos).ok().map(|(_, end)| end),
        Kind::CharacterString | Kind::Salt => Some(pos + 1 + usize::from(*rest.first()?)).filter(|&end| end <= rdata.len()),
        Kind::NextHashed => Some(pos + 1 + usize::from(*rest.first()?)).filter(|&end| end <= rdata.len() && end > pos + 1),
        Kind::Tag => {
            let end = pos + 1 + usize::from(*rest.first()?);
            let tag = rdata.get(pos + 1..end)?;
            (!tag.is_empty() && tag.iter().all(u8::is_ascii_alphanumeric)).then_some(end)
        }
        Kind::SizedBase64 => {
            let size = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
            Some(pos + 2 + size).filter(|&end| end <= rdata.len())
        }
        Kind::RestStrings => take_strings(rdata, pos),
        Kind::RestBitmap => check_bitmap(rest).then_some(rdata.len()),
        Kind::RestBase64 | Kind::RestHex | Kind::RestText | Kind::RestNsap => Some(rdata.len()),
    }
}

/// Writes a field's bytes (exactly as [`take`] delimited them) in presentation format.
pub(crate) fn write(kind: Kind, value: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    let number = value.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let tail = value.get(1..).unwrap_or_default();
    match kind {
        Kind::U8 | Kind::U16 | Kind::U32 | Kind::U48 | Kind::Algorithm | Kind::CertType => write!(out, "{number}"),
        Kind::Rtype => write!(out, "{}", Rtype(number as u16)),
        Kind::Time => write_time(number as u32, out),
        Kind::TsigError => write_tsig_error(number as u16, out),
        Kind::Name => match NameBuf::from_wire(value) {
            Ok(name) => write!(out, "{name}"),
            Err(_) => Err(fmt::Error),
        },
        Kind::CharacterString => write_quoted(tail, out),
        Kind::RestStrings => write_strings(value, out),
        Kind::Ipv4 => write!(out, "{}", Ipv4Addr::from(number as u32)),
        Kind::Ipv6 => {
            let bytes: [u8; 16] = value.try_into().map_err(|_| fmt::Error)?;
            write!(out, "{}", Ipv6Addr::from(bytes))
        }
        Kind::Eui48 | Kind::Eui64 => write_separated(value, 1, '-', out),
        Kind::Ilnp64 => write_separated(value, 2, ':', out),
        Kind::RestBase64 => write_base64(value, out),
        Kind::RestHex => write_hex(value, out),
        Kind::RestBitmap => write_bitmap(value, out),
        Kind::RestText => write_quoted(value, out),
        Kind::RestNsap => {
            out.write_str("0x")?;
            write_hex(value, out)
        }
        Kind::Salt if tail.is_empty() => out.write_char('-'),
        Kind::Salt => write_hex(tail, out),
        Kind::NextHashed => write_base32hex(tail, out),
        Kind::Tag => tail.iter().try_for_each(|&b| out.write_char(char::from(b))),
        Kind::SizedBase64 => {
            let data = value.get(2..).unwrap_or_default();
            write!(out, "{}", data.len())?;
            if !data.is_empty() {
                out.write_char(' ')?;
                write_base64(data, out)?;
            }
            Ok(())
        }
    }
}

/// True when the field writes no text at all (an empty rest-of-rdata field).
pub(crate) fn writes_nothing(kind: Kind, value: &[u8]) -> bool {
    value.is_empty() && matches!(kind, Kind::RestBase64 | Kind::RestHex | Kind::RestBitmap)
}

/// Parses one field from the cursor and appends its wire form.
pub(crate) fn parse(field: Field, cursor: &mut Cursor<'_, '_>, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let name = field.name;
    match field.kind {
        Kind::U8 => out.push(cursor.number(name, 0xFF)? as u8),
        Kind::U16 => out.extend_from_slice(&(cursor.number(name, 0xFFFF)? as u16).to_be_bytes()),
        Kind::U32 => out.extend_from_slice(&(cursor.number(name, u64::from(u32::MAX))? as u32).to_be_bytes()),
        Kind::U48 => out.extend_from_slice(cursor.number(name, 0xFFFF_FFFF_FFFF)?.to_be_bytes().get(2..).unwrap_or_default()),
        Kind::Algorithm => out.push(mnemonic_or_number(cursor, name, ALGORITHMS, 0xFF)? as u8),
        Kind::CertType => out.extend_from_slice(&(mnemonic_or_number(cursor, name, CERT_TYPES, 0xFFFF)? as u16).to_be_bytes()),
        Kind::TsigError => out.extend_from_slice(&(mnemonic_or_number(cursor, name, TSIG_ERRORS, 0xFFFF)? as u16).to_be_bytes()),
        Kind::Rtype => {
            let token = cursor.next(name)?;
            let rtype = Rtype::from_text(token.text).ok_or_else(|| cursor.error(name, format_args!("unknown type '{}'", token.text)))?;
            out.extend_from_slice(&rtype.0.to_be_bytes());
        }
        Kind::Time => {
            let token = cursor.next(name)?;
            let time = parse_time(token.text).ok_or_else(|| cursor.error(name, format_args!("expected YYYYMMDDHHmmSS or seconds, got '{}'", token.text)))?;
            out.extend_from_slice(&time.to_be_bytes());
        }
        _ => parse_data(field, cursor, out)?,
    }
    Ok(())
}

/// Parses the fields that are not numbers: names, strings, addresses and encoded binary.
fn parse_data(field: Field, cursor: &mut Cursor<'_, '_>, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let name = field.name;
    match field.kind {
        Kind::Name => out.extend_from_slice(cursor.name(name)?.as_wire()),
        Kind::CharacterString => cursor.character_string(name, out)?,
        Kind::RestStrings => {
            cursor.character_string(name, out)?;
            while !cursor.is_done() {
                cursor.character_string(name, out)?;
            }
        }
        Kind::Ipv4 => {
            let token = cursor.next(name)?;
            let address: Ipv4Addr = token.text.parse().map_err(|_| cursor.error(name, format_args!("expected an IPv4 address, got '{}'", token.text)))?;
            out.extend_from_slice(&address.octets());
        }
        Kind::Ipv6 => {
            let token = cursor.next(name)?;
            let address: Ipv6Addr = token.text.parse().map_err(|_| cursor.error(name, format_args!("expected an IPv6 address, got '{}'", token.text)))?;
            out.extend_from_slice(&address.octets());
        }
        Kind::Eui48 => parse_separated(cursor, name, 6, 1, '-', out)?,
        Kind::Eui64 => parse_separated(cursor, name, 8, 1, '-', out)?,
        Kind::Ilnp64 => parse_separated(cursor, name, 8, 2, ':', out)?,
        Kind::RestBase64 => {
            let text = cursor.joined_rest();
            decode_base64(&text, out).map_err(|why| cursor.error(name, why))?;
        }
        Kind::RestHex => {
            let text = cursor.joined_rest();
            decode_hex(&text, out).map_err(|why| cursor.error(name, why))?;
        }
        Kind::RestBitmap => parse_bitmap(cursor, name, out)?,
        Kind::RestText => {
            let token = cursor.next(name)?;
            super::text::unescape_into(token.text, out).ok_or_else(|| cursor.error(name, format_args!("bad escape in '{}'", token.text)))?;
        }
        Kind::RestNsap => parse_nsap(cursor, name, out)?,
        Kind::Salt => parse_salt(cursor, name, out)?,
        Kind::NextHashed => {
            let token = cursor.next(name)?;
            let mut bytes = Vec::new();
            decode_base32hex(token.text, &mut bytes).map_err(|why| cursor.error(name, why))?;
            if bytes.is_empty() {
                return Err(cursor.error(name, "must not be empty"));
            }
            push_with_length(cursor, name, &bytes, 1, out)?;
        }
        Kind::Tag => {
            let token = cursor.next(name)?;
            if token.text.is_empty() || !token.text.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(cursor.error(name, format_args!("expected letters and digits, got '{}'", token.text)));
            }
            push_with_length(cursor, name, token.text.as_bytes(), 1, out)?;
        }
        Kind::SizedBase64 => parse_sized_base64(cursor, name, out)?,
        Kind::U8 | Kind::U16 | Kind::U32 | Kind::U48 | Kind::Algorithm | Kind::CertType | Kind::TsigError | Kind::Rtype | Kind::Time => {
            parse(field, cursor, out)?;
        }
    }
    Ok(())
}

/// DNSSEC algorithm mnemonics (IANA "DNS Security Algorithm Numbers").
const ALGORITHMS: &[(&str, u64)] = &[
    ("RSAMD5", 1),
    ("DH", 2),
    ("DSA", 3),
    ("RSASHA1", 5),
    ("DSA-NSEC3-SHA1", 6),
    ("RSASHA1-NSEC3-SHA1", 7),
    ("RSASHA256", 8),
    ("RSASHA512", 10),
    ("ECC-GOST", 12),
    ("ECDSAP256SHA256", 13),
    ("ECDSAP384SHA384", 14),
    ("ED25519", 15),
    ("ED448", 16),
    ("INDIRECT", 252),
    ("PRIVATEDNS", 253),
    ("PRIVATEOID", 254),
];

/// CERT type mnemonics (RFC 4398 §2.1).
const CERT_TYPES: &[(&str, u64)] =
    &[("PKIX", 1), ("SPKI", 2), ("PGP", 3), ("IPKIX", 4), ("ISPKI", 5), ("IPGP", 6), ("ACPKIX", 7), ("IACPKIX", 8), ("URI", 253), ("OID", 254)];

/// TSIG error mnemonics (RFC 8945 §4.2 and the base rcodes).
const TSIG_ERRORS: &[(&str, u64)] = &[
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
    ("YXDOMAIN", 6),
    ("YXRRSET", 7),
    ("NXRRSET", 8),
    ("NOTAUTH", 9),
    ("NOTZONE", 10),
    ("BADSIG", 16),
    ("BADKEY", 17),
    ("BADTIME", 18),
    ("BADMODE", 19),
    ("BADNAME", 20),
    ("BADALG", 21),
    ("BADTRUNC", 22),
    ("BADCOOKIE", 23),
];

fn mnemonic_or_number(cursor: &mut Cursor<'_, '_>, name: &str, table: &[(&str, u64)], max: u64) -> Result<u64, RdataTextError> {
    let token = cursor.next(name)?;
    if let Some(&(_, value)) = table.iter().find(|(mnemonic, _)| mnemonic.eq_ignore_ascii_case(token.text)) {
        return Ok(value);
    }
    super::text::parse_number(token.text, max).ok_or_else(|| cursor.error(name, format_args!("expected a mnemonic or a number 0-{max}, got '{}'", token.text)))
}

fn write_tsig_error(value: u16, out: &mut dyn fmt::Write) -> fmt::Result {
    match TSIG_ERRORS.iter().find(|&&(_, number)| number == u64::from(value)) {
        Some((mnemonic, _)) => out.write_str(mnemonic),
        None => write!(out, "{value}"),
    }
}

fn push_with_length(cursor: &Cursor<'_, '_>, name: &str, bytes: &[u8], width: usize, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let max = if width == 1 { 0xFF } else { 0xFFFF };
    if bytes.len() > max {
        return Err(cursor.error(name, format_args!("{} octets is longer than {max}", bytes.len())));
    }
    if width == 1 {
        out.push(bytes.len() as u8);
    } else {
        out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(bytes);
    Ok(())
}

fn take_strings(rdata: &[u8], mut pos: usize) -> Option<usize> {
    if pos >= rdata.len() {
        return None;
    }
    while pos < rdata.len() {
        pos = take(Kind::CharacterString, rdata, pos)?;
    }
    Some(pos)
}

fn write_strings(mut value: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    let mut first = true;
    while let Some((&len, rest)) = value.split_first() {
        let (string, rest) = rest.split_at(usize::from(len).min(rest.len()));
        if !first {
            out.write_char(' ')?;
        }
        write_quoted(string, out)?;
        first = false;
        value = rest;
    }
    Ok(())
}

fn write_separated(value: &[u8], group: usize, separator: char, out: &mut dyn fmt::Write) -> fmt::Result {
    for (i, chunk) in value.chunks(group).enumerate() {
        if i > 0 {
            out.write_char(separator)?;
        }
        chunk.iter().try_for_each(|byte| write!(out, "{byte:02x}"))?;
    }
    Ok(())
}

fn parse_separated(cursor: &mut Cursor<'_, '_>, name: &str, len: usize, group: usize, separator: char, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let token = cursor.next(name)?;
    let bad =
        || cursor.error(name, format_args!("expected {} groups of {} hex digits separated by '{separator}', got '{}'", len / group, group * 2, token.text));
    let mut count = 0;
    for part in token.text.split(separator) {
        if part.len() != group * 2 {
            return Err(bad());
        }
        let mut bytes = Vec::new();
        decode_hex(part, &mut bytes).map_err(|_| bad())?;
        out.extend_from_slice(&bytes);
        count += bytes.len();
    }
    if count != len {
        return Err(bad());
    }
    Ok(())
}

fn parse_salt(cursor: &mut Cursor<'_, '_>, name: &str, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let token = cursor.next(name)?;
    if token.text == "-" {
        out.push(0);
        return Ok(());
    }
    let mut bytes = Vec::new();
    decode_hex(token.text, &mut bytes).map_err(|why| cursor.error(name, why))?;
    push_with_length(cursor, name, &bytes, 1, out)
}

fn parse_nsap(cursor: &mut Cursor<'_, '_>, name: &str, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let token = cursor.next(name)?;
    let digits = token.text.strip_prefix("0x").or_else(|| token.text.strip_prefix("0X"));
    let digits: String = digits.ok_or_else(|| cursor.error(name, "expected 0x followed by hex digits"))?.chars().filter(|&c| c != '.').collect();
    decode_hex(&digits, out).map_err(|why| cursor.error(name, why))
}

fn parse_sized_base64(cursor: &mut Cursor<'_, '_>, name: &str, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let size = cursor.number(name, 0xFFFF)? as usize;
    let mut text = String::new();
    while base64_decoded_len(&text) < size {
        let Some(token) = cursor.next_optional() else { break };
        text.push_str(token.text);
    }
    let mut bytes = Vec::new();
    decode_base64(&text, &mut bytes).map_err(|why| cursor.error(name, why))?;
    if bytes.len() != size {
        return Err(cursor.error(name, format_args!("size {size} does not match {} octets of base64", bytes.len())));
    }
    push_with_length(cursor, name, &bytes, 2, out)
}

/// True for a well-formed type bitmap (RFC 4034 §4.1.2): windows in increasing order, 1-32 octets
/// each, no trailing zero octet.
pub(crate) fn check_bitmap(mut bitmap: &[u8]) -> bool {
    let mut previous: Option<u8> = None;
    while let [window, len, rest @ ..] = bitmap {
        let len = usize::from(*len);
        if previous.is_some_and(|p| p >= *window) || !(1..=32).contains(&len) || rest.get(len - 1).map_or(true, |&last| last == 0) {
            return false;
        }
        previous = Some(*window);
        bitmap = rest.get(len..).unwrap_or_default();
    }
    bitmap.is_empty()
}

/// Writes the types of a well-formed bitmap, space-separated.
pub(crate) fn write_bitmap(mut bitmap: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    let mut first = true;
    while let [window, len, rest @ ..] = bitmap {
        let len = usize::from(*len).min(rest.len());
        for (index, &byte) in rest.iter().take(len).enumerate() {
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    let rtype = Rtype((u16::from(*window) << 8) | (index * 8 + bit) as u16);
                    if !first {
                        out.write_char(' ')?;
                    }
                    write!(out, "{rtype}")?;
                    first = false;
                }
            }
        }
        bitmap = rest.get(len..).unwrap_or_default();
    }
    Ok(())
}

/// Parses the remaining tokens as type mnemonics into a bitmap (RFC 4034 §4.1.2).
pub(crate) fn parse_bitmap(cursor: &mut Cursor<'_, '_>, name: &str, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let mut types = Vec::new();
    while let Some(token) = cursor.next_optional() {
        let rtype = Rtype::from_text(token.text).ok_or_else(|| cursor.error(name, format_args!("unknown type '{}'", token.text)))?;
        types.push(rtype.0);
    }
    encode_bitmap(&mut types, out);
    Ok(())
}

/// Encodes a set of types as a bitmap (sorts and deduplicates `types`).
pub(crate) fn encode_bitmap(types: &mut Vec<u16>, out: &mut Vec<u8>) {
    types.sort_unstable();
    types.dedup();
    let mut index = 0;
    while let Some(&first) = types.get(index) {
        let window = (first >> 8) as u8;
        let mut octets = [0u8; 32];
        let mut used = 0;
        while let Some(&rtype) = types.get(index).filter(|&&t| (t >> 8) as u8 == window) {
            let low = usize::from(rtype & 0xFF);
            if let Some(octet) = octets.get_mut(low / 8) {
                *octet |= 0x80 >> (low % 8);
            }
            used = low / 8 + 1;
            index += 1;
        }
        out.push(window);
        out.push(used as u8);
        out.extend_from_slice(octets.get(..used).unwrap_or_default());
    }
}
