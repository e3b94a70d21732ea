//! NSEC3 owner hashes (RFC 5155 §5) and base32hex (RFC 4648 §7), the encoding of NSEC3 owner
//! labels and of the Next Hashed Owner Name in presentation format.

use crate::Error;
use portcullis_wire::rdata::{decode_base32hex, write_base32hex};
use portcullis_wire::NameBuf;
use ring::digest;

/// The only NSEC3 hash algorithm: SHA-1 (RFC 5155 §11).
pub const SHA1: u8 = 1;

/// `IH(salt, name, iterations)` of RFC 5155 §5: SHA-1 over the canonical (lower-case) wire name
/// and the salt, then `iterations` more times over the previous digest and the salt. The caller
/// bounds `iterations` (RFC 9276); the hash algorithm must be [`SHA1`].
pub fn hash(name: &NameBuf, algorithm: u8, salt: &[u8], iterations: u16) -> Result<[u8; 20], Error> {
    if algorithm != SHA1 {
        return Err(Error::UnsupportedDigest(algorithm));
    }
    let mut current = sha1(name.to_lowercase().as_wire(), salt);
    for _ in 0..iterations {
        current = sha1(&current, salt);
    }
    Ok(current)
}

fn sha1(data: &[u8], salt: &[u8]) -> [u8; 20] {
    let mut context = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    context.update(data);
    context.update(salt);
    let mut out = [0u8; 20];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// The hashed owner name: `base32hex(hash).zone` (RFC 5155 §3), lower-case.
pub fn hashed_owner(hash: &[u8], zone: &NameBuf) -> Result<NameBuf, Error> {
    let label = base32hex_encode(hash);
    let text = format!("{label}.{zone}");
    NameBuf::from_text(&text, None).map_err(|_| Error::Malformed("NSEC3 owner name"))
}

/// base32hex, lower-case, without padding (as NSEC3 owner labels are written).
pub fn base32hex_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    // Writing into a String cannot fail.
    let _ = write_base32hex(data, &mut out);
    out.make_ascii_lowercase();
    out
}

/// Decodes base32hex in either case, with or without `=` padding. Rejects other characters,
/// impossible lengths and non-zero trailing bits.
pub fn base32hex_decode(text: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    decode_base32hex(text.trim_end_matches('='), &mut out).map_err(|_| Error::Malformed("base32hex"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32hex_round_trips_every_length() {
        let data: Vec<u8> = (0..=40u8).map(|b| b.wrapping_mul(37)).collect();
        for len in 0..data.len() {
            let text = base32hex_encode(&data[..len]);
            assert_eq!(base32hex_decode(&text).unwrap(), &data[..len], "{len}");
            assert_eq!(base32hex_decode(&text.to_uppercase()).unwrap(), &data[..len]);
        }
    }

    #[test]
    fn base32hex_rejects_bad_input() {
        for bad in ["w0", "0", "000", "000000", "01"] {
            assert!(base32hex_decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_sha1_hashes() {
        assert_eq!(hash(&NameBuf::ROOT, 2, &[], 0), Err(Error::UnsupportedDigest(2)));
    }
}
