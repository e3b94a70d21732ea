//! Binary-to-text encodings used in presentation format: base64 (RFC 4648 §4), base32hex without
//! padding (RFC 4648 §7, as NSEC3 uses it per RFC 5155 §3.3) and hexadecimal (RFC 4648 §8).
//!
//! Decoders never panic and reject any character outside their alphabet.

use core::fmt;

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE32HEX: &[u8; 32] = b"0123456789ABCDEFGHIJKLMNOPQRSTUV";
const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Writes `data` in padded base64.
pub fn write_base64(data: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    for chunk in data.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let group = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        for i in 0..4 {
            if i <= chunk.len() {
                let index = ((group >> (18 - 6 * i)) & 0x3F) as usize;
                out.write_char(char::from(BASE64[index]))?;
            } else {
                out.write_char('=')?;
            }
        }
    }
    Ok(())
}

/// Decodes padded base64 (whitespace already removed) and appends it to `out`.
pub fn decode_base64(text: &str, out: &mut Vec<u8>) -> Result<(), &'static str> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return Err("base64 length is not a multiple of 4");
    }
    let padding = bytes.iter().rev().take_while(|&&b| b == b'=').count();
    if padding > 2 {
        return Err("too much base64 padding");
    }
    let body = &bytes[..bytes.len() - padding];
    let mut group = 0u32;
    let mut bits = 0u32;
    for &byte in body {
        let value = base64_value(byte).ok_or("invalid base64 character")?;
        group = (group << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((group >> bits) as u8);
            group &= (1 << bits) - 1;
        }
    }
    Ok(())
}

/// Number of bytes `text` decodes to as padded base64, if its length is valid.
pub(crate) fn base64_decoded_len(text: &str) -> usize {
    let padding = text.bytes().rev().take_while(|&b| b == b'=').count().min(2);
    (text.len() / 4 * 3).saturating_sub(padding)
}

/// Writes `data` in base32hex without padding (upper case).
pub fn write_base32hex(data: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    let mut group = 0u32;
    let mut bits = 0u32;
    for &byte in data {
        group = (group << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.write_char(char::from(BASE32HEX[((group >> bits) & 0x1F) as usize]))?;
        }
        group &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.write_char(char::from(BASE32HEX[((group << (5 - bits)) & 0x1F) as usize]))?;
    }
    Ok(())
}

/// Decodes unpadded base32hex (either case) and appends it to `out`.
pub fn decode_base32hex(text: &str, out: &mut Vec<u8>) -> Result<(), &'static str> {
    if matches!(text.len() % 8, 1 | 3 | 6) {
        return Err("base32hex length is invalid");
    }
    let mut group = 0u32;
    let mut bits = 0u32;
    for byte in text.bytes() {
        let value = match byte {
            b'0'..=b'9' => byte - b'0',
            b'A'..=b'V' => byte - b'A' + 10,
            b'a'..=b'v' => byte - b'a' + 10,
            _ => return Err("invalid base32hex character"),
        };
        group = (group << 5) | u32::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((group >> bits) as u8);
            group &= (1 << bits) - 1;
        }
    }
    if group != 0 {
        return Err("base32hex has non-zero trailing bits");
    }
    Ok(())
}

/// Writes `data` as upper-case hex digits.
pub(crate) fn write_hex(data: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    for &byte in data {
        out.write_char(char::from(HEX[usize::from(byte >> 4)]))?;
        out.write_char(char::from(HEX[usize::from(byte & 0xF)]))?;
    }
    Ok(())
}

/// Decodes hex digits (either case, even count) and appends them to `out`.
pub(crate) fn decode_hex(text: &str, out: &mut Vec<u8>) -> Result<(), &'static str> {
    let bytes = text.as_bytes();
    if bytes.len() % 2 != 0 {
        return Err("odd number of hex digits");
    }
    for pair in bytes.chunks(2) {
        let (Some(high), Some(low)) = (pair.first().and_then(|&b| hex_value(b)), pair.get(1).and_then(|&b| hex_value(b))) else {
            return Err("invalid hex digit");
        };
        out.push((high << 4) | low);
    }
    Ok(())
}

/// The value of one hex digit.
pub(crate) fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

fn base64_value(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base64(data: &[u8]) -> String {
        let mut text = String::new();
        write_base64(data, &mut text).unwrap();
        text
    }

    fn base32hex(data: &[u8]) -> String {
        let mut text = String::new();
        write_base32hex(data, &mut text).unwrap();
        text
    }

    /// RFC 4648 §10 test vectors.
    #[test]
    fn rfc4648_10_base64() {
        let cases = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
            let mut decoded = Vec::new();
            decode_base64(encoded, &mut decoded).unwrap();
            assert_eq!(decoded, plain.as_bytes());
            assert_eq!(base64_decoded_len(encoded), plain.len());
        }
        assert!(decode_base64("Zm9", &mut Vec::new()).is_err());
        assert!(decode_base64("Zm!v", &mut Vec::new()).is_err());
        assert!(decode_base64("Z===", &mut Vec::new()).is_err());
    }

    /// RFC 4648 §10 base32hex vectors, padding removed as RFC 5155 does.
    #[test]
    fn rfc4648_10_base32hex() {
        let cases = [("", ""), ("f", "CO"), ("fo", "CPNG"), ("foo", "CPNMU"), ("foob", "CPNMUOG"), ("fooba", "CPNMUOJ1"), ("foobar", "CPNMUOJ1E8")];
        for (plain, encoded) in cases {
            assert_eq!(base32hex(plain.as_bytes()), encoded);
            let mut decoded = Vec::new();
            decode_base32hex(&encoded.to_ascii_lowercase(), &mut decoded).unwrap();
            assert_eq!(decoded, plain.as_bytes());
        }
        assert!(decode_base32hex("C", &mut Vec::new()).is_err());
        assert!(decode_base32hex("CW", &mut Vec::new()).is_err());
    }

    #[test]
    fn hex_both_ways() {
        let mut text = String::new();
        write_hex(&[0x00, 0xAB, 0x7f], &mut text).unwrap();
        assert_eq!(text, "00AB7F");
        let mut decoded = Vec::new();
        decode_hex("00ab7F", &mut decoded).unwrap();
        assert_eq!(decoded, [0x00, 0xAB, 0x7f]);
        assert!(decode_hex("abc", &mut Vec::new()).is_err());
        assert!(decode_hex("zz", &mut Vec::new()).is_err());
    }
}
