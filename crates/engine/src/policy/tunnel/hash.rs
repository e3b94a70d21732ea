//! The detector's fast keyed hash: a folded multiply (the 128-bit product of two 64-bit words,
//! its halves xored; the step of wyhash and foldhash) per 16 octets, from a secret seed; and the
//! test for upper-case letters, eight octets at a time, that tells whether a name must be
//! lower-cased before it is split. It keys the repeated-name filter, the windows' bitmaps, the
//! parent memo and the account table, so it must cost a few instructions a word (SipHash, the
//! engine's hash for other client-filled tables, costs about five times as much). On the
//! engine's path the whole name's hash is the cache's owner key, made once for the lookup
//! ([`super::TunnelDetector::check_lowered`]); [`super::TunnelDetector::check`] makes its own.
//!
//! Why a folded multiply and not a multiply-xorshift: in `state = (state ^ word) * odd; state ^=
//! state >> 29` a flipped top bit stays one flipped top bit through the multiply, so two names
//! differing in bit 63 of one word and in bits 63 and 34 of the next hash alike under every seed;
//! a tunnel could send such variants of a name it sent before and have them taken for repeats.
//! The high half of a 128-bit product depends on every bit of both factors through the carries:
//! there is no difference that survives it independently of the secret seed.

/// 0x80 in each octet of `word` that is an ASCII upper-case letter.
#[inline]
fn upper_mask(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low7 = word & (0x7F * ONES);
    let at_least_a = low7 + (0x80 - 0x41) * ONES;
    let above_z = low7 + (0x80 - 0x5B) * ONES;
    at_least_a & !above_z & !word & (0x80 * ONES)
}

/// True when `bytes` hold an ASCII upper-case letter (eight octets at a time).
#[inline]
pub fn has_upper(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let upper = (&mut chunks).fold(0, |upper, chunk| upper | upper_mask(word(chunk)));
    upper | upper_mask(tail_word(chunks.remainder())) != 0
}

/// The folded multiply.
#[inline]
pub fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// The two secret words of a hash.
#[derive(Clone, Copy, Debug)]
pub struct Seed {
    start: u64,
    multiplier: u64,
}

impl Seed {
    /// A seed from 64 secret bits.
    pub fn new(secret: u64) -> Self {
        let start = fold(secret ^ 0xa076_1d64_78bd_642f, 0xe703_7ed1_a0b4_28db);
        let multiplier = fold(secret ^ 0x8ebc_6af0_9c88_c6e3, 0x5899_65cc_7537_4cc3) | 1;
        Self { start, multiplier }
    }

    /// The hash of `bytes` with `tweak` mixed in (a label's position, a purpose), octets as
    /// they are (callers hash lower-case names, or want the case kept): one folded multiply per
    /// 16 octets. The last 16 (or the last 8 of 9 to 16) are read as one block that may overlap
    /// the one before, as in wyhash and rapidhash: with the length mixed in, the blocks still
    /// determine the octets, and the tail costs no branch on its length past 8.
    #[inline]
    pub fn of(&self, tweak: u64, bytes: &[u8]) -> u64 {
        let len = bytes.len();
        let mut state = self.start ^ tweak.rotate_left(16) ^ len as u64;
        let (a, b) = if len > 16 {
            // Every block that starts more than 16 octets before the end, then the last 16.
            for block in bytes.chunks_exact(16).take((len - 1) / 16) {
                let (a, b) = halves(block);
                state = fold(state ^ a, b ^ self.multiplier);
            }
            bytes.last_chunk::<16>().map_or((0, 0), |last| halves(last))
        } else if len >= 8 {
            let first = bytes.first_chunk::<8>().map_or(0, |first| u64::from_le_bytes(*first));
            (first, bytes.last_chunk::<8>().map_or(0, |last| u64::from_le_bytes(*last)))
        } else {
            (tail_word(bytes), 0)
        };
        state = fold(state ^ a, b ^ self.multiplier);
        fold(state ^ tweak, self.multiplier ^ 0x2d35_8dcc_aa6c_78a5)
    }

    /// One word hashed: one folded multiply (a word that holds a secret hash already, such as
    /// an IPv4 address xored with a name's keyed hash).
    #[inline]
    pub fn word(&self, a: u64) -> u64 {
        fold(self.start ^ a, self.multiplier)
    }

    /// Two words hashed together (a client address and a name's hash).
    #[inline]
    pub fn pair(&self, a: u64, b: u64) -> u64 {
        fold(fold(self.start ^ a, self.multiplier) ^ b, self.multiplier ^ 0x2d35_8dcc_aa6c_78a5)
    }
}

/// The two little-endian words of a 16-octet block.
#[inline]
fn halves(block: &[u8]) -> (u64, u64) {
    (word(&block[..8]), word(&block[8..16]))
}

/// Eight octets as a little-endian word.
#[inline]
fn word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]])
}

/// Zero to seven octets as a little-endian word, read in at most two overlapping loads.
#[inline]
fn tail_word(rest: &[u8]) -> u64 {
    let len = rest.len();
    let two = |at: usize| u64::from(u16::from_le_bytes([rest[at], rest[at + 1]]));
    let four = |at: usize| u64::from(u32::from_le_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]]));
    match len {
        0 => 0,
        1 => u64::from(rest[0]),
        2..=3 => two(0) | two(len - 2) << ((len - 2) * 8),
        _ => four(0) | four(len - 4) << ((len - 4) * 8),
    }
}

#[cfg(test)]
mod tests {
    use super::{has_upper, tail_word, Seed};

    #[test]
    fn tail_words_are_the_octets_little_endian() {
        for len in 0..=8usize {
            let bytes: Vec<u8> = (1..=len as u8).collect();
            let mut word = [0u8; 8];
            word[..len].copy_from_slice(&bytes);
            assert_eq!(tail_word(&bytes), u64::from_le_bytes(word), "{len} octets");
        }
    }

    #[test]
    fn hashes_depend_on_every_octet_and_the_seed_and_upper_case_is_seen() {
        let seed = Seed::new(7);
        assert_ne!(seed.of(1, b"\x03WWW\x07Example\x03com\x00"), seed.of(1, b"\x03www\x07example\x03com\x00"));
        assert!(has_upper(b"\x03wwW\x00") && has_upper(b"\x10abcdefghijklmnoP\x00") && !has_upper(b"\x03www\x40\x5b\xc1\x00"));
        for len in 1..40 {
            let name: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(!has_upper(&name));
            let mut upper = name.clone();
            upper[len - 1] = b'Q';
            assert!(has_upper(&upper), "{len}");
            assert_ne!(seed.of(0, &name), seed.of(0, &upper), "{len}");
        }
        // Every octet counts at every length, the overlapping tail blocks included.
        for len in 1..50usize {
            let name: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            for at in 0..len {
                let mut other = name.clone();
                other[at] ^= 1;
                assert_ne!(seed.of(3, &name), seed.of(3, &other), "octet {at} of {len}");
            }
        }
        assert_ne!(seed.of(1, b"abc"), seed.of(2, b"abc"));
        assert_ne!(seed.of(1, b"abc"), Seed::new(8).of(1, b"abc"));
        assert_ne!(seed.of(1, b"abc"), seed.of(1, b"abc\0"), "the length counts");
    }

    #[test]
    fn the_top_bit_differential_of_a_multiply_xorshift_does_not_collide() {
        // Bit 63 of one word and bits 63 and 34 of the next: a collision under every seed for
        // `(state ^ word) * odd; state ^= state >> 29`.
        let mut a = [0x61u8; 16];
        let mut b = a;
        b[7] ^= 0x80;
        b[15] ^= 0x80;
        b[12] ^= 0x04;
        a[0] = 0x62;
        b[0] = 0x62;
        let xorshift = |seed: u64, bytes: &[u8]| {
            bytes.chunks_exact(8).fold(seed, |state, chunk| {
                let state = (state ^ u64::from_le_bytes(chunk.try_into().unwrap_or_default())).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                state ^ state >> 29
            })
        };
        for secret in 0..64 {
            assert_eq!(xorshift(secret, &a), xorshift(secret, &b), "the differential collides there");
            let seed = Seed::new(secret);
            assert_ne!(seed.of(0, &a), seed.of(0, &b));
        }
    }
}
