//! NSEC and NSEC3 type bitmaps (RFC 4034 §4.1.2, RFC 5155 §3.2.1): windows of up to 32 octets,
//! one bit per type, for any type number 0-65535.

use crate::Error;
use portcullis_wire::Rtype;

/// Encodes the types (any order, duplicates allowed) as a type bitmap.
pub fn encode(types: impl IntoIterator<Item = Rtype>) -> Vec<u8> {
    let mut sorted: Vec<u16> = types.into_iter().map(|t| t.0).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = Vec::new();
    let mut rest = &sorted[..];
    while let Some(first) = rest.first() {
        let window = first >> 8;
        let count = rest.iter().take_while(|t| *t >> 8 == window).count();
        let (in_window, after) = rest.split_at(count);
        let mut bits = [0u8; 32];
        let mut used = 0;
        for t in in_window {
            let low = usize::from(t & 0xFF);
            bits[low / 8] |= 0x80 >> (low % 8);
            used = low / 8 + 1;
        }
        out.push(window as u8);
        out.push(used as u8);
        out.extend_from_slice(&bits[..used]);
        rest = after;
    }
    out
}

/// Decodes a type bitmap into its types, in increasing order. Rejects what RFC 4034 §4.1.2 calls
/// malformed: windows out of order or repeated, lengths of 0 or above 32, truncation, and a
/// trailing zero octet in a window.
pub fn decode(bitmap: &[u8]) -> Result<Vec<Rtype>, Error> {
    let mut types = Vec::new();
    let mut rest = bitmap;
    let mut previous: Option<u8> = None;
    while let [window, len, tail @ ..] = rest {
        let len = usize::from(*len);
        if previous.is_some_and(|p| p >= *window) || len == 0 || len > 32 || tail.len() < len {
            return Err(Error::Malformed("type bitmap"));
        }
        let bits = &tail[..len];
        if bits[len - 1] == 0 {
            return Err(Error::Malformed("type bitmap"));
        }
        for (octet, byte) in bits.iter().enumerate() {
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    types.push(Rtype(u16::from(*window) << 8 | (octet * 8 + bit) as u16));
                }
            }
        }
        previous = Some(*window);
        rest = &tail[len..];
    }
    if !rest.is_empty() {
        return Err(Error::Malformed("type bitmap"));
    }
    Ok(types)
}

/// True when the bitmap has the bit of `rtype` (without decoding the whole bitmap; a malformed
/// bitmap answers false for what lies past the fault).
pub fn contains(bitmap: &[u8], rtype: Rtype) -> bool {
    let (window, low) = ((rtype.0 >> 8) as u8, usize::from(rtype.0 & 0xFF));
    let mut rest = bitmap;
    while let [w, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        if *w == window {
            return tail[..len].get(low / 8).is_some_and(|byte| byte & (0x80 >> (low % 8)) != 0);
        }
        rest = &tail[len..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc4034_example_bitmap() {
        // RFC 4034 §4.3: A MX RRSIG NSEC TYPE1234.
        let types = [Rtype::A, Rtype::MX, Rtype::RRSIG, Rtype::NSEC, Rtype(1234)];
        let expected = [
            0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 0x1b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20,
        ];
        assert_eq!(encode(types), expected);
        assert_eq!(decode(&expected).unwrap(), types);
        assert!(contains(&expected, Rtype(1234)) && contains(&expected, Rtype::MX) && !contains(&expected, Rtype::AAAA));
    }

    #[test]
    fn unknown_and_extreme_types_round_trip() {
        let types = [Rtype(0), Rtype(255), Rtype(256), Rtype(65280), Rtype(65535)];
        assert_eq!(decode(&encode(types)).unwrap(), types);
        assert_eq!(encode([]), Vec::<u8>::new());
    }

    #[test]
    fn malformed_bitmaps_are_refused() {
        for bad in [&[0u8, 0][..], &[0, 33], &[0, 2, 0x40], &[1, 1, 0x40, 0, 1, 0x40], &[0, 2, 0x40, 0], &[0]] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn encode_then_decode_gives_the_sorted_set(types in proptest::collection::vec(any::<u16>(), 0..64)) {
            let mut expected = types.clone();
            expected.sort_unstable();
            expected.dedup();
            let bitmap = encode(types.iter().map(|t| Rtype(*t)));
            let decoded: Vec<u16> = decode(&bitmap).unwrap().into_iter().map(|t| t.0).collect();
            prop_assert_eq!(&decoded, &expected);
            for t in &types {
                prop_assert!(contains(&bitmap, Rtype(*t)));
            }
        }

        #[test]
        fn decode_never_panics_and_reencodes_what_it_accepts(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(types) = decode(&bytes) {
                prop_assert_eq!(encode(types), bytes);
            }
        }
    }
}
