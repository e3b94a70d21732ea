//! Names as the zone keys them: the case-folding hash of the lookup table, the FNV hasher of
//! build-time maps ([`crate::base::hash`]), and canonical DNS order (RFC 4034 §6.1).

/// A byte string whose plain order is the canonical order of the name (RFC 4034 §6.1): labels
/// from the right, lower-cased, each followed by 0x00, with 0x00 and 0x01 inside labels escaped
/// as 0x01 0x01 and 0x01 0x02 so that a shorter label sorts first.
pub(crate) fn canonical_key(wire: &[u8], out: &mut Vec<u8>) {
    canonical_key_with(wire, |byte| out.push(byte));
}

/// Longest canonical key of a name: every octet escaped.
pub(crate) const KEY_MAX: usize = 2 * 255;

/// [`canonical_key`] into a fixed buffer (a query's name, without allocating); returns its
/// length.
pub(crate) fn canonical_key_into(wire: &[u8], out: &mut [u8; KEY_MAX]) -> usize {
    let mut len = 0;
    canonical_key_with(wire, |byte| {
        if let Some(slot) = out.get_mut(len) {
            *slot = byte;
            len += 1;
        }
    });
    len
}

fn canonical_key_with(wire: &[u8], mut push: impl FnMut(u8)) {
    let mut starts = [0u8; 128];
    let count = label_starts(wire, &mut starts);
    for &start in starts[..count].iter().rev() {
        for &byte in label_at(wire, start) {
            match byte {
                0 => [1, 1].into_iter().for_each(&mut push),
                1 => [1, 2].into_iter().for_each(&mut push),
                other => push(other.to_ascii_lowercase()),
            }
        }
        push(0);
    }
}

pub(crate) use crate::base::hash::FnvBuild;

pub(crate) fn label_starts(wire: &[u8], starts: &mut [u8; 128]) -> usize {
    let mut count = 0;
    let mut pos = 0usize;
    while let Some(&len) = wire.get(pos) {
        if len == 0 || count == starts.len() {
            break;
        }
        starts[count] = pos as u8;
        count += 1;
        pos += 1 + usize::from(len);
    }
    count
}

fn label_at(wire: &[u8], start: u8) -> &[u8] {
    let start = usize::from(start);
    let len = usize::from(wire.get(start).copied().unwrap_or(0));
    wire.get(start + 1..start + 1 + len).unwrap_or(&[])
}

/// A multiply-rotate hash over the wire name with ASCII case folded, eight bytes at a time,
/// finished with a 64-bit mix so the low bits (the table index) depend on every byte. Cheap; the
/// keys are ours, not the attacker's (a query can only probe, not insert). Names that differ only
/// in case hash alike, so a query name needs no lower-cased copy.
pub fn hash(wire: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = wire.len() as u64;
    let mut chunks = wire.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]);
        h = (h.rotate_left(5) ^ fold_case(word)).wrapping_mul(K);
    }
    h = (h.rotate_left(5) ^ fold_case(tail_word(wire, chunks.remainder()))).wrapping_mul(K);
    h ^= h >> 32;
    h = h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

/// The last bytes of a name (`rest`, fewer than eight) as a little-endian word padded with zeros:
/// the name's last eight bytes shifted down when it has that many (no copy into a padded array,
/// which costs a library call), else that copy.
fn tail_word(wire: &[u8], rest: &[u8]) -> u64 {
    if rest.is_empty() {
        return 0;
    }
    if let Some(last) = wire.last_chunk::<8>() {
        return u64::from_le_bytes(*last) >> (8 * (8 - rest.len()));
    }
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    u64::from_le_bytes(tail)
}

/// ASCII lower-casing of eight bytes at once: 0x20 is added to every byte in `A..=Z`.
fn fold_case(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = word & !HIGH;
    // The high bit of each byte: set when its low seven bits are >= 'A', respectively > 'Z'
    // (no carry crosses a byte: low7 + 0x3F <= 0xBE).
    let at_least_a = low7 + ONES * u64::from(0x80 - b'A');
    let above_z = low7 + ONES * u64::from(0x80 - b'Z' - 1);
    let upper = at_least_a & !above_z & !word & HIGH;
    word | (upper >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_wire::NameBuf;

    fn name(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap()
    }

    #[test]
    fn canonical_keys_order_like_rfc4034() {
        let ordered = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "z.a.example.",
            "zabc.a.example.",
            "z.example.",
            "\\000.z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        let keys: Vec<Vec<u8>> = ordered
            .iter()
            .map(|n| {
                let mut k = Vec::new();
                canonical_key(name(n).as_wire(), &mut k);
                k
            })
            .collect();
        for (pair, names) in keys.windows(2).zip(ordered.windows(2)) {
            assert!(pair[0] < pair[1], "{names:?}");
            assert_eq!(name(names[0]).canonical_cmp(&name(names[1])), std::cmp::Ordering::Less);
        }
    }

    #[test]
    fn fold_case_lowers_ascii_letters_only() {
        for byte in 0..=255u8 {
            let bytes = [byte, b'A', b'z', byte, 0xC1, b'@', b'[', byte];
            assert_eq!(fold_case(u64::from_le_bytes(bytes)), u64::from_le_bytes(bytes.map(|b| b.to_ascii_lowercase())), "byte {byte:#x}");
        }
        assert_eq!(hash(b"\x03WwW\x07ExAmple\x00"), hash(b"\x03www\x07example\x00"));
        for len in 1..24 {
            let wire: Vec<u8> = (1..=len as u8).collect();
            let rest = &wire[wire.len() / 8 * 8..];
            let mut padded = [0u8; 8];
            padded[..rest.len()].copy_from_slice(rest);
            assert_eq!(tail_word(&wire, rest), if rest.is_empty() { 0 } else { u64::from_le_bytes(padded) }, "{len}");
        }
    }
}
