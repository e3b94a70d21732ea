//! The engine's two hashers: [`keyed_hash`] (SipHash-1-3 under a secret key, for tables a client
//! fills with names or addresses of its choosing: RRL, the query limiter) and [`FnvBuild`]
//! (FNV-1a, unkeyed, for build-time maps over our own zone data).

use siphasher::sip::SipHasher13;

/// SipHash-1-3 of `bytes` under `key`: the hash of every table that clients fill, so that they
/// cannot aim their entries at one bucket. The key is secret and comes from the I/O layer.
#[inline]
pub fn keyed_hash(key: &[u8; 16], bytes: &[u8]) -> u64 {
    SipHasher13::new_with_key(key).hash(bytes)
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
