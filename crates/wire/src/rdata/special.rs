//! Types whose layout depends on their own contents: IPSECKEY (RFC 4025 §2, gateway by type),
//! WKS (RFC 1035 §3.4.2, a port bitmap) and APL (RFC 3123 §4, a list of address prefixes).

use super::encoding::{decode_base64, write_base64};
use super::text::{parse_number, Cursor};
use super::RdataTextError;
use crate::name::NameBuf;
use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

/// True for IPSECKEY rdata with a known gateway type and a gateway of the right form.
pub(crate) fn check_ipseckey(rdata: &[u8]) -> bool {
    ipseckey_gateway_end(rdata).is_some()
}

/// Writes checked IPSECKEY rdata: `precedence gateway-type algorithm gateway [key]`.
pub(crate) fn ipseckey_to_text(rdata: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    let end = ipseckey_gateway_end(rdata).ok_or(fmt::Error)?;
    let [precedence, gateway_type, algorithm] = rdata.get(..3).and_then(|h| <[u8; 3]>::try_from(h).ok()).ok_or(fmt::Error)?;
    write!(out, "{precedence} {gateway_type} {algorithm} ")?;
    let gateway = rdata.get(3..end).ok_or(fmt::Error)?;
    match gateway_type {
        0 => out.write_char('.')?,
        1 => write!(out, "{}", Ipv4Addr::from(<[u8; 4]>::try_from(gateway).map_err(|_| fmt::Error)?))?,
        2 => write!(out, "{}", Ipv6Addr::from(<[u8; 16]>::try_from(gateway).map_err(|_| fmt::Error)?))?,
        _ => write!(out, "{}", NameBuf::from_wire(gateway).map_err(|_| fmt::Error)?)?,
    }
    let key = rdata.get(end..).unwrap_or_default();
    if !key.is_empty() {
        out.write_char(' ')?;
        write_base64(key, out)?;
    }
    Ok(())
}

/// Parses IPSECKEY presentation format.
pub(crate) fn ipseckey_from_text(cursor: &mut Cursor<'_, '_>, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let precedence = cursor.number("precedence", 0xFF)? as u8;
    let gateway_type = cursor.number("gateway type", 3)? as u8;
    let algorithm = cursor.number("algorithm", 0xFF)? as u8;
    out.extend_from_slice(&[precedence, gateway_type, algorithm]);
    let token = cursor.next("gateway")?;
    let bad = |what: &str| cursor.error("gateway", format_args!("expected {what} for gateway type {gateway_type}, got '{}'", token.text));
    match gateway_type {
        0 if token.text == "." => {}
        0 => return Err(bad("'.'")),
        1 => out.extend_from_slice(&token.text.parse::<Ipv4Addr>().map_err(|_| bad("an IPv4 address"))?.octets()),
        2 => out.extend_from_slice(&token.text.parse::<Ipv6Addr>().map_err(|_| bad("an IPv6 address"))?.octets()),
        _ => out.extend_from_slice(cursor.name_from("gateway", token.text)?.as_wire()),
    }
    let key = cursor.joined_rest();
    decode_base64(&key, out).map_err(|why| cursor.error("public key", why))
}

fn ipseckey_gateway_end(rdata: &[u8]) -> Option<usize> {
    let end = match *rdata.get(1)? {
        0 => 3,
        1 => 7,
        2 => 19,
        3 => NameBuf::parse_uncompressed(rdata, 3).ok()?.1,
        _ => return None,
    };
    (end <= rdata.len()).then_some(end)
}

/// True for WKS rdata: address, protocol, and a port bitmap without trailing zero octets.
pub(crate) fn check_wks(rdata: &[u8]) -> bool {
    rdata.len() >= 5 && rdata.len() <= 5 + 8192 && rdata.last().is_some_and(|&last| last != 0 || rdata.len() == 5)
}

/// Writes checked WKS rdata: `address protocol port...`.
pub(crate) fn wks_to_text(rdata: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    let address: [u8; 4] = rdata.get(..4).and_then(|a| a.try_into().ok()).ok_or(fmt::Error)?;
    write!(out, "{} {}", Ipv4Addr::from(address), rdata.get(4).ok_or(fmt::Error)?)?;
    for (index, &byte) in rdata.get(5..).unwrap_or_default().iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                write!(out, " {}", index * 8 + bit)?;
            }
        }
    }
    Ok(())
}

/// Parses WKS presentation format; the protocol may be `tcp`, `udp` or a number, ports numbers.
pub(crate) fn wks_from_text(cursor: &mut Cursor<'_, '_>, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let token = cursor.next("address")?;
    let address: Ipv4Addr = token.text.parse().map_err(|_| cursor.error("address", format_args!("expected an IPv4 address, got '{}'", token.text)))?;
    out.extend_from_slice(&address.octets());
    let token = cursor.next("protocol")?;
    let protocol = match token.text.to_ascii_lowercase().as_str() {
        "tcp" => 6,
        "udp" => 17,
        other => parse_number(other, 0xFF).ok_or_else(|| cursor.error("protocol", format_args!("expected tcp, udp or a number, got '{other}'")))? as u8,
    };
    out.push(protocol);
    let mut bitmap = Vec::new();
    while let Some(token) = cursor.next_optional() {
        let port = parse_number(token.text, 0xFFFF).ok_or_else(|| cursor.error("port", format_args!("expected a port number, got '{}'", token.text)))?;
        let index = (port / 8) as usize;
        if bitmap.len() <= index {
            bitmap.resize(index + 1, 0);
        }
        if let Some(octet) = bitmap.get_mut(index) {
            *octet |= 0x80 >> (port % 8);
        }
    }
    out.extend_from_slice(&bitmap);
    Ok(())
}

/// True for APL rdata: items of family 1 or 2 with in-range prefixes and trimmed addresses.
pub(crate) fn check_apl(rdata: &[u8]) -> bool {
    let mut rest = rdata;
    while !rest.is_empty() {
        let Some(used) = apl_item(rest).map(|item| 4 + item.address.len()) else { return false };
        rest = rest.get(used..).unwrap_or_default();
    }
    true
}

/// Writes checked APL rdata: `[!]family:address/prefix ...`.
pub(crate) fn apl_to_text(rdata: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    let mut rest = rdata;
    let mut first = true;
    while !rest.is_empty() {
        let item = apl_item(rest).ok_or(fmt::Error)?;
        if !first {
            out.write_char(' ')?;
        }
        first = false;
        if item.negated {
            out.write_char('!')?;
        }
        if item.family == 1 {
            let mut octets = [0u8; 4];
            octets.get_mut(..item.address.len()).ok_or(fmt::Error)?.copy_from_slice(item.address);
            write!(out, "1:{}/{}", Ipv4Addr::from(octets), item.prefix)?;
        } else {
            let mut octets = [0u8; 16];
            octets.get_mut(..item.address.len()).ok_or(fmt::Error)?.copy_from_slice(item.address);
            write!(out, "2:{}/{}", Ipv6Addr::from(octets), item.prefix)?;
        }
        rest = rest.get(4 + item.address.len()..).unwrap_or_default();
    }
    Ok(())
}

/// Parses APL presentation format.
pub(crate) fn apl_from_text(cursor: &mut Cursor<'_, '_>, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    while let Some(token) = cursor.next_optional() {
        let bad = || cursor.error("item", format_args!("expected [!]family:address/prefix, got '{}'", token.text));
        let (negated, text) = match token.text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, token.text),
        };
        let (family, rest) = text.split_once(':').ok_or_else(bad)?;
        let (address, prefix) = rest.rsplit_once('/').ok_or_else(bad)?;
        let (family, octets, max_prefix) = match family {
            "1" => (1u16, address.parse::<Ipv4Addr>().map_err(|_| bad())?.octets().to_vec(), 32),
            "2" => (2u16, address.parse::<Ipv6Addr>().map_err(|_| bad())?.octets().to_vec(), 128),
            _ => return Err(bad()),
        };
        let prefix = parse_number(prefix, max_prefix).ok_or_else(bad)? as u8;
        let used = octets.iter().rposition(|&b| b != 0).map_or(0, |last| last + 1);
        out.extend_from_slice(&family.to_be_bytes());
        out.push(prefix);
        out.push(u8::from(negated) << 7 | used as u8);
        out.extend_from_slice(octets.get(..used).unwrap_or_default());
    }
    Ok(())
}

/// One APL item.
struct AplItem<'a> {
    family: u16,
    prefix: u8,
    negated: bool,
    address: &'a [u8],
}

fn apl_item(rdata: &[u8]) -> Option<AplItem<'_>> {
    let family = u16::from_be_bytes([*rdata.first()?, *rdata.get(1)?]);
    let prefix = *rdata.get(2)?;
    let length_byte = *rdata.get(3)?;
    let address = rdata.get(4..4 + usize::from(length_byte & 0x7F))?;
    let (max_len, max_prefix) = match family {
        1 => (4, 32),
        2 => (16, 128),
        _ => return None,
    };
    let trimmed = address.last().map_or(true, |&last| last != 0);
    (address.len() <= max_len && prefix <= max_prefix && trimmed).then_some(AplItem { family, prefix, negated: length_byte & 0x80 != 0, address })
}
