//! The engine's two hashers: [`keyed_hash`] (SipHash-1-3 under a secret key, for tables a client
//! fills with names or addresses of its choosing: RRL, the query limiter) and [`FnvBuild`]
//! (FNV-1a, unkeyed, for build-time maps over our own zone data).

use siphasher::sip::SipHasher13;
use std::hash::BuildHasher;

/// SipHash-1-3 of `bytes` under `key`: the hash of every table that clients fill, so that they
/// cannot aim their entries at one bucket. The key is secret and comes from the I/O layer.
#[inline]
pub fn keyed_hash(key: &[u8; 16], bytes: &[u8]) -> u64 {
    SipHasher13::new_with_key(key).hash(bytes)
}

/// SipHash-1-3 under a secret key as a `BuildHasher`: the hasher of every map that clients or
/// the servers they point us at can fill (the cache, the resolver's per-server and per-zone
/// tables). The key comes from the I/O layer; the all-zero default is for tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyedState {
    /// The secret key.
    pub key: [u8; 16],
}

impl BuildHasher for KeyedState {
    type Hasher = SipHasher13;

    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_key(&self.key)
    }
}

impl KeyedState {
    /// The key as SipHash's two 64-bit halves.
    pub fn halves(&self) -> (u64, u64) {
        let [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p] = self.key;
        (u64::from_le_bytes([a, b, c, d, e, f, g, h]), u64::from_le_bytes([i, j, k, l, m, n, o, p]))
    }
}

/// FNV-1a as a `Hasher`, for build-time tables keyed by our own names.
#[derive(Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Builds [`Fnv`] hashers (for `HashMap::with_hasher`).
pub type FnvBuild = std::hash::BuildHasherDefault<Fnv>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hasher};

    #[test]
    fn keyed_hashes_depend_on_the_key_and_fnv_is_fnv_1a() {
        assert_ne!(keyed_hash(&[0; 16], b"example."), keyed_hash(&[1; 16], b"example."));
        assert_eq!(keyed_hash(&[7; 16], b"a"), keyed_hash(&[7; 16], b"a"));
        let mut fnv = FnvBuild::default().build_hasher();
        fnv.write(b"a");
        assert_eq!(fnv.finish(), 0xaf63_dc4c_8601_ec8c);
    }
}
