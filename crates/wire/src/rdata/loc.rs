//! LOC rdata (RFC 1876): version 0, size and precisions as mantissa/exponent centimetres,
//! latitude and longitude in thousandths of an arc-second offset by 2^31, altitude in centimetres
//! offset by 100 000 m.
//!
//! Text: `d1 [m1 [s1]] N|S d2 [m2 [s2]] E|W alt[m] [siz[m] [hp[m] [vp[m]]]]`, written as BIND does:
//! `42 21 54.000 N 71 6 18.000 W -24.00m 30m 10m 10m`.

use super::text::{parse_number, Cursor};
use super::RdataTextError;
use core::fmt;

const EQUATOR: u32 = 1 << 31;
const MILLISECONDS_PER_DEGREE: u64 = 3_600_000;
const ALTITUDE_OFFSET_CM: i64 = 10_000_000;
/// Defaults of RFC 1876 §3: size 1 m, horizontal precision 10 000 m, vertical 10 m.
const DEFAULT_PRECISIONS: [u8; 3] = [0x12, 0x16, 0x13];

/// True for well-formed version 0 LOC rdata with coordinates in range.
pub(crate) fn check(rdata: &[u8]) -> bool {
    let Some(loc) = Loc::from_wire(rdata) else { return false };
    // Mantissa and exponent at most 9, and zero written only as 0x00, so text round-trips.
    loc.precisions.iter().all(|&byte| byte >> 4 <= 9 && byte & 0xF <= 9 && (byte >> 4 != 0 || byte == 0))
        && u64::from(loc.latitude.abs_diff(EQUATOR)) <= 90 * MILLISECONDS_PER_DEGREE
        && u64::from(loc.longitude.abs_diff(EQUATOR)) <= 180 * MILLISECONDS_PER_DEGREE
}

/// Writes checked LOC rdata.
pub(crate) fn to_text(rdata: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    let loc = Loc::from_wire(rdata).ok_or(fmt::Error)?;
    write_angle(loc.latitude, ['N', 'S'], out)?;
    out.write_char(' ')?;
    write_angle(loc.longitude, ['E', 'W'], out)?;
    out.write_char(' ')?;
    let altitude = i64::from(loc.altitude) - ALTITUDE_OFFSET_CM;
    if altitude < 0 {
        out.write_char('-')?;
    }
    let altitude = altitude.unsigned_abs();
    write!(out, "{}.{:02}m", altitude / 100, altitude % 100)?;
    for byte in loc.precisions {
        let centimetres = u64::from(byte >> 4) * 10u64.pow(u32::from(byte & 0xF));
        match centimetres % 100 {
            0 => write!(out, " {}m", centimetres / 100)?,
            fraction => write!(out, " {}.{fraction:02}m", centimetres / 100)?,
        }
    }
    Ok(())
}

/// Parses LOC presentation format.
pub(crate) fn from_text(cursor: &mut Cursor<'_, '_>, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let latitude = parse_angle(cursor, "latitude", 90, ['N', 'S'])?;
    let longitude = parse_angle(cursor, "longitude", 180, ['E', 'W'])?;
    let token = cursor.next("altitude")?;
    let altitude = parse_metres(token.text)
        .map(|cm| cm + ALTITUDE_OFFSET_CM)
        .and_then(|value| u32::try_from(value).ok())
        .ok_or_else(|| cursor.error("altitude", format_args!("expected metres -100000.00 to 42849672.95, got '{}'", token.text)))?;
    let mut precisions = DEFAULT_PRECISIONS;
    for (slot, name) in precisions.iter_mut().zip(["size", "horizontal precision", "vertical precision"]) {
        let Some(token) = cursor.next_optional() else { break };
        *slot = parse_metres(token.text)
            .and_then(|cm| u64::try_from(cm).ok())
            .filter(|&cm| cm <= 9_000_000_000)
            .and_then(precision_byte)
            .ok_or_else(|| cursor.error(name, format_args!("expected metres 0 to 90000000.00, got '{}'", token.text)))?;
    }
    out.push(0);
    out.extend_from_slice(&precisions);
    out.extend_from_slice(&latitude.to_be_bytes());
    out.extend_from_slice(&longitude.to_be_bytes());
    out.extend_from_slice(&altitude.to_be_bytes());
    Ok(())
}

/// The fields of version 0 LOC rdata.
struct Loc {
    precisions: [u8; 3],
    latitude: u32,
    longitude: u32,
    altitude: u32,
}

impl Loc {
    fn from_wire(rdata: &[u8]) -> Option<Self> {
        let bytes: &[u8; 16] = rdata.try_into().ok()?;
        let word = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        (bytes[0] == 0).then(|| Self { precisions: [bytes[1], bytes[2], bytes[3]], latitude: word(4), longitude: word(8), altitude: word(12) })
    }
}

fn write_angle(value: u32, hemispheres: [char; 2], out: &mut dyn fmt::Write) -> fmt::Result {
    let (hemisphere, offset) = if value >= EQUATOR { (hemispheres[0], value - EQUATOR) } else { (hemispheres[1], EQUATOR - value) };
    let offset = u64::from(offset);
    let degrees = offset / MILLISECONDS_PER_DEGREE;
    let minutes = offset / 60_000 % 60;
    let seconds = offset / 1000 % 60;
    write!(out, "{degrees} {minutes} {seconds}.{:03} {hemisphere}", offset % 1000)
}

fn parse_angle(cursor: &mut Cursor<'_, '_>, field: &str, max_degrees: u64, hemispheres: [char; 2]) -> Result<u32, RdataTextError> {
    let bad = |cursor: &Cursor<'_, '_>, text: &str| cursor.error(field, format_args!("expected degrees [minutes [seconds]] and a hemisphere, got '{text}'"));
    let mut parts = [0u64; 3];
    let mut count = 0;
    let positive = loop {
        let token = cursor.next(field)?;
        let text = token.text;
        if count > 0 && text.len() == 1 {
            if text.eq_ignore_ascii_case(&hemispheres[0].to_string()) {
                break true;
            }
            if text.eq_ignore_ascii_case(&hemispheres[1].to_string()) {
                break false;
            }
        }
        let value = match count {
            0 => parse_number(text, max_degrees).map(|d| d * MILLISECONDS_PER_DEGREE),
            1 => parse_number(text, 59).map(|m| m * 60_000),
            2 => parse_seconds(text),
            _ => None,
        };
        let slot = parts.get_mut(count).ok_or_else(|| bad(cursor, text))?;
        *slot = value.ok_or_else(|| bad(cursor, text))?;
        count += 1;
    };
    let total: u64 = parts.iter().sum();
    if total > max_degrees * MILLISECONDS_PER_DEGREE {
        return Err(cursor.error(field, format_args!("more than {max_degrees} degrees")));
    }
    let total = total as u32;
    Ok(if positive { EQUATOR + total } else { EQUATOR - total })
}

/// Seconds `0`-`59.999` as thousandths.
fn parse_seconds(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || (text.contains('.') && fraction.is_empty()) {
        return None;
    }
    let whole = parse_number(whole, 59)?;
    let fraction = if fraction.is_empty() { 0 } else { parse_number(fraction, 999)? * 10u64.pow(3 - fraction.len() as u32) };
    Some(whole * 1000 + fraction)
}

/// Metres with up to two decimals and an optional `m`, as signed centimetres.
fn parse_metres(text: &str) -> Option<i64> {
    let text = text.strip_suffix(['m', 'M']).unwrap_or(text);
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 2 || (text.contains('.') && fraction.is_empty()) {
        return None;
    }
    let whole = i64::try_from(parse_number(whole, 100_000_000)?).ok()?;
    let fraction = if fraction.is_empty() { 0 } else { i64::try_from(parse_number(fraction, 99)?).ok()? * 10i64.pow(2 - fraction.len() as u32) };
    let centimetres = whole * 100 + fraction;
    Some(if negative { -centimetres } else { centimetres })
}

/// Centimetres as the mantissa/exponent octet, truncating to one significant digit.
fn precision_byte(centimetres: u64) -> Option<u8> {
    let mut mantissa = centimetres;
    let mut exponent = 0u8;
    while mantissa >= 10 {
        mantissa /= 10;
        exponent += 1;
    }
    (exponent <= 9).then_some(((mantissa as u8) << 4) | exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_bytes() {
        assert_eq!(precision_byte(100), Some(0x12));
        assert_eq!(precision_byte(1_000_000), Some(0x16));
        assert_eq!(precision_byte(0), Some(0x00));
        assert_eq!(precision_byte(9_000_000_000), Some(0x99));
        assert_eq!(precision_byte(10_000_000_000), None);
        assert_eq!(parse_metres("-24m"), Some(-2400));
        assert_eq!(parse_metres("0.5"), Some(50));
        assert_eq!(parse_metres("1.234"), None);
        assert_eq!(parse_seconds("54.5"), Some(54_500));
    }
}
