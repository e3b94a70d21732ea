//! Presentation-format building blocks shared by every type: the token cursor that names the
//! field in its errors, numbers, character-strings (RFC 1035 §5.1 escapes), names and the
//! `YYYYMMDDHHmmSS` time form of RFC 4034 §3.2.

use super::{RdataTextError, Token};
use crate::name::{unescape, NameBuf};
use crate::types::Rtype;
use core::fmt;

/// Error messages are cut to this many characters (they quote the offending token).
const MAX_ERROR_CHARS: usize = 200;

/// Hands out the tokens of one record's rdata in order; errors name the type and the field.
pub(crate) struct Cursor<'t, 'a> {
    tokens: &'t [Token<'a>],
    rtype: Rtype,
    origin: &'t NameBuf,
}

impl<'t, 'a> Cursor<'t, 'a> {
    /// A cursor over `tokens`, the rdata of a record of type `rtype`.
    pub(crate) fn new(rtype: Rtype, tokens: &'t [Token<'a>], origin: &'t NameBuf) -> Self {
        Self { tokens, rtype, origin }
    }

    /// The next token, which must be there.
    pub(crate) fn next(&mut self, field: &str) -> Result<Token<'a>, RdataTextError> {
        self.next_optional().ok_or_else(|| self.error(field, "missing"))
    }

    /// The next token, if any.
    pub(crate) fn next_optional(&mut self) -> Option<Token<'a>> {
        let (&first, rest) = self.tokens.split_first()?;
        self.tokens = rest;
        Some(first)
    }

    /// The next token without consuming it.
    pub(crate) fn peek(&self) -> Option<Token<'a>> {
        self.tokens.first().copied()
    }

    /// All remaining tokens.
    pub(crate) fn rest(&mut self) -> &'t [Token<'a>] {
        core::mem::take(&mut self.tokens)
    }

    /// True when every token has been used.
    pub(crate) fn is_done(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Fails when tokens are left over.
    pub(crate) fn finish(&self) -> Result<(), RdataTextError> {
        match self.tokens.first() {
            None => Ok(()),
            Some(extra) => Err(RdataTextError(format!("{}: unexpected extra field '{}'", self.rtype, extra.text))),
        }
    }

    /// An error about `field` of this type.
    pub(crate) fn error(&self, field: &str, message: impl fmt::Display) -> RdataTextError {
        let mut text = format!("{} {field}: {message}", self.rtype);
        if let Some((cut, _)) = text.char_indices().nth(MAX_ERROR_CHARS) {
            text.truncate(cut);
            text.push_str("...");
        }
        RdataTextError(text)
    }

    /// The next token as a decimal number no larger than `max`.
    pub(crate) fn number(&mut self, field: &str, max: u64) -> Result<u64, RdataTextError> {
        let token = self.next(field)?;
        parse_number(token.text, max).ok_or_else(|| self.error(field, format_args!("expected a number 0-{max}, got '{}'", token.text)))
    }

    /// The next token as a domain name, relative names completed with the origin.
    pub(crate) fn name(&mut self, field: &str) -> Result<NameBuf, RdataTextError> {
        let token = self.next(field)?;
        self.name_from(field, token.text)
    }

    /// `text` as a domain name, relative names completed with the origin.
    pub(crate) fn name_from(&self, field: &str, text: &str) -> Result<NameBuf, RdataTextError> {
        if text == "@" {
            return Ok(*self.origin);
        }
        NameBuf::from_text(text, Some(self.origin)).map_err(|error| self.error(field, format_args!("{error} in '{text}'")))
    }

    /// The next token as one character-string (at most 255 octets), appended with its length.
    pub(crate) fn character_string(&mut self, field: &str, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
        let token = self.next(field)?;
        self.character_string_from(field, token.text, out)
    }

    /// `text` as one character-string, appended with its length octet.
    pub(crate) fn character_string_from(&self, field: &str, text: &str, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
        let length_at = out.len();
        out.push(0);
        unescape_into(text, out).ok_or_else(|| self.error(field, format_args!("bad escape in '{text}'")))?;
        let length = out.len() - length_at - 1;
        let Ok(length) = u8::try_from(length) else {
            return Err(self.error(field, format_args!("string of {length} octets is longer than 255")));
        };
        if let Some(slot) = out.get_mut(length_at) {
            *slot = length;
        }
        Ok(())
    }

    /// The remaining tokens concatenated (for base64 and hex fields that may be split).
    pub(crate) fn joined_rest(&mut self) -> String {
        self.rest().iter().map(|token| token.text).collect()
    }
}

/// Parses a decimal number without sign, rejecting overflow past `max`.
pub(crate) fn parse_number(text: &str, max: u64) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value = 0u64;
    for digit in text.bytes() {
        value = value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
    }
    (value <= max).then_some(value)
}

/// Decodes `\X` and `\DDD` escapes of `text`, appending the bytes to `out`.
pub(crate) fn unescape_into(text: &str, out: &mut Vec<u8>) -> Option<()> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'\\' {
            let (value, used) = unescape(bytes.get(i + 1..)?)?;
            out.push(value);
            i += 1 + used;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    Some(())
}

/// Writes `bytes` inside double quotes, escaping `"` and `\` and writing non-printables as `\DDD`.
pub(crate) fn write_quoted(bytes: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    out.write_char('"')?;
    write_escaped(bytes, out)?;
    out.write_char('"')
}

/// Writes `bytes` as the inside of a quoted string.
pub(crate) fn write_escaped(bytes: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    for &byte in bytes {
        match byte {
            b'"' | b'\\' => write!(out, "\\{}", char::from(byte))?,
            0x20..=0x7E => out.write_char(char::from(byte))?,
            _ => write!(out, "\\{byte:03}")?,
        }
    }
    Ok(())
}

/// Parses an RRSIG time: `YYYYMMDDHHmmSS` (UTC) or plain seconds since the epoch.
pub(crate) fn parse_time(text: &str) -> Option<u32> {
    if text.len() != 14 {
        return parse_number(text, u64::from(u32::MAX)).and_then(|v| u32::try_from(v).ok());
    }
    let part = |range: core::ops::Range<usize>| text.get(range).and_then(|digits| parse_number(digits, 9999));
    let (year, month, day) = (part(0..4)?, part(4..6)?, part(6..8)?);
    let (hour, minute, second) = (part(8..10)?, part(10..12)?, part(12..14)?);
    if !(1970..=2106).contains(&year) || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    u32::try_from(seconds).ok()
}

/// Writes seconds since the epoch as `YYYYMMDDHHmmSS` (UTC).
pub(crate) fn write_time(seconds: u32, out: &mut dyn fmt::Write) -> fmt::Result {
    let seconds = u64::from(seconds);
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let rest = seconds % 86_400;
    write!(out, "{year:04}{month:02}{day:02}{:02}{:02}{:02}", rest / 3600, rest / 60 % 60, rest % 60)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date on or after it (H. Hinnant's algorithm).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_reject_overflow_and_signs() {
        assert_eq!(parse_number("65535", 65535), Some(65535));
        assert_eq!(parse_number("65536", 65535), None);
        assert_eq!(parse_number("99999999999999999999999", u64::MAX), None);
        assert_eq!(parse_number("+1", 10), None);
        assert_eq!(parse_number("", 10), None);
        assert_eq!(parse_number("-1", 10), None);
    }

    /// RFC 4034 §3.3: 20030322173103 is the expiration of the example RRSIG.
    #[test]
    fn rfc4034_3_2_time_both_ways() {
        assert_eq!(parse_time("20030322173103"), Some(1_048_354_263));
        assert_eq!(parse_time("1048354263"), Some(1_048_354_263));
        let mut text = String::new();
        write_time(1_048_354_263, &mut text).unwrap();
        assert_eq!(text, "20030322173103");
        let mut text = String::new();
        write_time(u32::MAX, &mut text).unwrap();
        assert_eq!(text, "21060207062815");
        assert_eq!(parse_time("21060207062815"), Some(u32::MAX));
        assert_eq!(parse_time("21060207062816"), None);
        assert_eq!(parse_time("20230229000000"), None);
        assert_eq!(parse_time("20240229000000"), Some(1_709_164_800));
        assert_eq!(parse_time("4294967296"), None);
    }

    #[test]
    fn escapes() {
        let mut out = Vec::new();
        unescape_into(r#"a\"b\\c\010"#, &mut out).unwrap();
        assert_eq!(out, b"a\"b\\c\n");
        assert!(unescape_into("bad\\", &mut Vec::new()).is_none());
        assert!(unescape_into("bad\\256", &mut Vec::new()).is_none());
        let mut text = String::new();
        write_quoted(b"a\"b\\c\n\xff", &mut text).unwrap();
        assert_eq!(text, r#""a\"b\\c\010\255""#);
    }
}
