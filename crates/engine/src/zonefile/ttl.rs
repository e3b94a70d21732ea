//! TTL values in zone files: seconds (RFC 1035 §5.1) or BIND's unit form (`1h30m`, `1w2d`).
//!
//! Values above 2^31 - 1 are refused rather than silently read as zero (RFC 2181 §8).

/// The largest TTL accepted (RFC 2181 §8).
pub(super) const MAX_TTL: u32 = 0x7FFF_FFFF;

/// Why a TTL was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TtlError {
    /// Not a number nor a sum of `<number><unit>` parts.
    Syntax,
    /// Above 2^31 - 1.
    TooLarge,
}

/// Parses `3600`, `1h`, `1h30m`, `1W2d` (units w, d, h, m, s in any case, each at most once).
pub(super) fn parse_ttl(text: &str) -> Result<u32, TtlError> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Err(TtlError::Syntax);
    }
    if bytes.iter().all(u8::is_ascii_digit) {
        return check(number(bytes)?);
    }
    let mut total: u64 = 0;
    let mut seen = [false; 5];
    let mut rest = bytes;
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (Some(value), Some(&unit)) = (rest.get(..digits).filter(|d| !d.is_empty()), rest.get(digits)) else {
            return Err(TtlError::Syntax);
        };
        let (index, seconds) = match unit.to_ascii_lowercase() {
            b'w' => (0, 604_800),
            b'd' => (1, 86_400),
            b'h' => (2, 3_600),
            b'm' => (3, 60),
            b's' => (4, 1),
            _ => return Err(TtlError::Syntax),
        };
        if std::mem::replace(&mut seen[index], true) {
            return Err(TtlError::Syntax);
        }
        total = total.saturating_add(number(value)?.saturating_mul(seconds));
        rest = &rest[digits + 1..];
    }
    check(total)
}

/// A decimal number, saturating far above any TTL.
fn number(digits: &[u8]) -> Result<u64, TtlError> {
    if digits.len() > 12 {
        return Err(TtlError::TooLarge);
    }
    Ok(digits.iter().fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0')))
}

fn check(total: u64) -> Result<u32, TtlError> {
    u32::try_from(total).ok().filter(|&ttl| ttl <= MAX_TTL).ok_or(TtlError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_and_units() {
        assert_eq!(parse_ttl("3600"), Ok(3600));
        assert_eq!(parse_ttl("0"), Ok(0));
        assert_eq!(parse_ttl("1h30m"), Ok(5400));
        assert_eq!(parse_ttl("1W2d"), Ok(7 * 86_400 + 2 * 86_400));
        assert_eq!(parse_ttl("1d2h3m4s"), Ok(86_400 + 7_200 + 180 + 4));
        assert_eq!(parse_ttl("2147483647"), Ok(MAX_TTL));
    }

    #[test]
    fn rejects_junk_and_overflow() {
        for bad in ["", "abc", "1x", "h", "1h30", "1h1h", "-1", "1.5h", "1 h"] {
            assert_eq!(parse_ttl(bad), Err(TtlError::Syntax), "{bad}");
        }
        assert_eq!(parse_ttl("2147483648"), Err(TtlError::TooLarge));
        assert_eq!(parse_ttl("99999999999999999999999"), Err(TtlError::TooLarge));
        assert_eq!(parse_ttl("999999999999w"), Err(TtlError::TooLarge));
    }
}
