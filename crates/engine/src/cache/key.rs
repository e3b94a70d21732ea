//! Cache keys: the owner lower-cased once into an inline buffer and hashed once (keyed
//! SipHash-1-3 over the whole wire name, so that owners cannot be chosen to collide); the type
//! and class are mixed into that hash per probe without rehashing the name.

pub(super) use crate::base::hash::KeyedState;
use portcullis_wire::{Class, NameBuf, Rtype};

/// An owner as the cache keys it: lower-cased wire form and its keyed hash, computed once per
/// name looked up, in one pass over 8-byte words. Inline; does not allocate. The engine makes
/// the question's once ([`super::Cache::owner`]) and lends it to the tunnelling detector (the
/// lower-cased name and a keyed hash of it, issue 16 item 5) and to the lookup.
pub struct Owner {
    len: u8,
    /// The lower-cased name, zero-padded to whole words.
    bytes: [u8; 256],
    /// Keyed hash of the lower-cased wire name: SipHash-1-3, the same value as `SipHasher13`
    /// over those bytes.
    pub hash: u64,
}

impl Owner {
    /// Lower-cases and hashes `name`. Inline, so that the 264 bytes are built in the caller's
    /// slot rather than copied out.
    #[inline]
    pub fn new(state: &KeyedState, name: &NameBuf) -> Self {
        let wire = name.as_wire();
        let len = wire.len().min(255);
        let (k0, k1) = state.halves();
        let mut sip = Sip13::new(k0, k1);
        let mut bytes = [0u8; 256];
        let mut chunks = wire[..len].chunks_exact(8);
        for (chunk, out) in (&mut chunks).zip(bytes.chunks_exact_mut(8)) {
            let word = lower_word(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
            out.copy_from_slice(&word.to_le_bytes());
            sip.compress(word);
        }
        let rest = chunks.remainder();
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        let word = lower_word(u64::from_le_bytes(last));
        let full = len - rest.len();
        bytes[full..full + 8].copy_from_slice(&word.to_le_bytes());
        sip.compress(word | (len as u64) << 56);
        Self { len: len as u8, bytes, hash: sip.finish() }
    }

    /// The lower-cased wire name.
    pub fn wire(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// ASCII lower case of eight bytes at once: `A`..=`Z` gain 0x20, every other byte is kept.
fn lower_word(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low7 = word & (0x7F * ONES);
    let at_least_a = low7 + (0x80 - 0x41) * ONES;
    let above_z = low7 + (0x80 - 0x5B) * ONES;
    let upper = at_least_a & !above_z & !word & (0x80 * ONES);
    word | (upper >> 2)
}

/// SipHash-1-3 over whole words (the caller builds the last word with the length).
struct Sip13 {
    v: [u64; 4],
}

impl Sip13 {
    fn new(k0: u64, k1: u64) -> Self {
        Self { v: [k0 ^ 0x736F_6D65_7073_6575, k1 ^ 0x646F_7261_6E64_6F6D, k0 ^ 0x6C79_6765_6E65_7261, k1 ^ 0x7465_6462_7974_6573] }
    }

    fn round(&mut self) {
        let [mut v0, mut v1, mut v2, mut v3] = self.v;
        v0 = v0.wrapping_add(v1);
        v1 = v1.rotate_left(13) ^ v0;
        v0 = v0.rotate_left(32);
        v2 = v2.wrapping_add(v3);
        v3 = v3.rotate_left(16) ^ v2;
        v0 = v0.wrapping_add(v3);
        v3 = v3.rotate_left(21) ^ v0;
        v2 = v2.wrapping_add(v1);
        v1 = v1.rotate_left(17) ^ v2;
        v2 = v2.rotate_left(32);
        self.v = [v0, v1, v2, v3];
    }

    fn compress(&mut self, word: u64) {
        self.v[3] ^= word;
        self.round();
        self.v[0] ^= word;
    }

    fn finish(mut self) -> u64 {
        self.v[2] ^= 0xFF;
        self.round();
        self.round();
        self.round();
        self.v[0] ^ self.v[1] ^ self.v[2] ^ self.v[3]
    }
}

/// The hash of (owner, type, class) from the owner's hash: a bijective mix (SplitMix64's
/// finaliser), so it is as hard to predict as the owner's keyed hash.
pub(super) fn mix(owner_hash: u64, rtype: Rtype, class: Class) -> u64 {
    let mut h = owner_hash ^ (u64::from(rtype.0) << 16 | u64::from(class.0)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// A failure-table key: lower-cased owner, type, class (exact, not hashed down).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct FailureKey {
    pub owner: NameBuf,
    pub rtype: Rtype,
    pub class: Class,
}

impl FailureKey {
    /// A key for `owner` (lower-cased here).
    pub fn new(owner: &NameBuf, rtype: Rtype, class: Class) -> Self {
        Self { owner: owner.to_lowercase(), rtype, class }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hasher};

    #[test]
    fn owner_hash_is_siphash13_of_the_lower_cased_name() {
        let state = KeyedState { key: *b"0123456789abcdef" };
        for text in [".", "a.", "Example.", "WWW.Example.COM.", "x-Y_z.@[`{.", "abcdefg.", "a234567.b234567.c234567.d.", "\\200A\\255Z."] {
            let name = NameBuf::from_text(text, None).unwrap();
            let owner = Owner::new(&state, &name);
            let lower = name.as_wire().to_ascii_lowercase();
            assert_eq!(owner.wire(), &lower[..], "{text}");
            let mut reference = state.build_hasher();
            reference.write(&lower);
            assert_eq!(owner.hash, reference.finish(), "{text}");
        }
    }
}
