//! DNSSEC key files in BIND's format, which `dnssec-signzone`, `ldns-signzone` and Knot's
//! `keymgr import-bind` read too: `K<origin>+<alg>+<tag>.key` holds the DNSKEY record in zone
//! file text, `K<origin>+<alg>+<tag>.private` the private key in "Private-key-format: v1.3"
//! (mode 0600). Algorithms ECDSAP256SHA256 (13), ECDSAP384SHA384 (14) and ED25519 (15), whose
//! `PrivateKey` is the raw private scalar or seed in base64; RSASHA256 (8) and RSASHA512 (10)
//! files (made by BIND: `ring` cannot generate RSA keys) are read from their PKCS#1 fields.

use portcullis_dnssec::key::Dnskey;
use portcullis_dnssec::zone::{KeyRole, ZoneKey};
use portcullis_dnssec::{key_tag, Algorithm, SigningKey};
use portcullis_wire::rdata::{decode_base64, rdata_to_text, write_base64};
use portcullis_wire::{NameBuf, Rtype};
use ring::rand::SecureRandom;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The TTL written in `.key` files.
pub const KEY_TTL: u32 = 3600;

/// A key read from (or written to) a pair of key files.
#[derive(Debug)]
pub struct KeyPair {
    /// The zone the key belongs to.
    pub owner: NameBuf,
    /// DNSKEY flags (256 for a ZSK, 257 for a KSK or CSK).
    pub flags: u16,
    /// The private key.
    pub key: SigningKey,
}

impl KeyPair {
    /// The DNSKEY rdata.
    pub fn dnskey_rdata(&self) -> Vec<u8> {
        let public_key = self.key.public_key();
        Dnskey { flags: self.flags, protocol: 3, algorithm: self.key.algorithm(), public_key: &public_key }.to_rdata()
    }

    /// The key as the zone signer takes it: a KSK when the SEP flag is set, else a ZSK (a zone
    /// with keys of one kind only signs everything with them).
    pub fn zone_key(&self) -> ZoneKey<'_> {
        let role = if self.flags & Dnskey::SEP != 0 { KeyRole::Ksk } else { KeyRole::Zsk };
        ZoneKey { key: &self.key, role }
    }

    /// The base name `K<origin>+<alg>+<tag>` (without `.key` or `.private`).
    pub fn base_name(&self) -> String {
        format!("K{}+{:03}+{:05}", self.owner, self.key.algorithm().0, key_tag(&self.dnskey_rdata()))
    }
}

/// An algorithm's mnemonic as key files write it.
pub fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm.0 {
        8 => "RSASHA256",
        10 => "RSASHA512",
        13 => "ECDSAP256SHA256",
        14 => "ECDSAP384SHA384",
        15 => "ED25519",
        _ => "UNKNOWN",
    }
}

/// Writes `<dir>/<base>.key` and `<dir>/<base>.private` (mode 0600, never overwriting) for a
/// key whose raw private part is `private`; returns the base path.
pub fn write(dir: &Path, pair: &KeyPair, private: &[u8]) -> Result<PathBuf, String> {
    let base = dir.join(pair.base_name());
    let mut dnskey = String::new();
    rdata_to_text(Rtype::DNSKEY, &pair.dnskey_rdata(), &mut dnskey).map_err(|_| "cannot write the DNSKEY".to_string())?;
    let kind = if pair.flags & Dnskey::SEP != 0 { "key-signing" } else { "zone-signing" };
    let tag = key_tag(&pair.dnskey_rdata());
    let public = format!("; This is a {kind} key, keyid {tag}, for {}\n{} {KEY_TTL} IN DNSKEY {dnskey}\n", pair.owner, pair.owner);
    let algorithm = pair.key.algorithm();
    let secret = format!("Private-key-format: v1.3\nAlgorithm: {} ({})\nPrivateKey: {}\n", algorithm.0, algorithm_name(algorithm), encode_base64(private));
    create(&with_suffix(&base, "private"), &secret, 0o600)?;
    create(&with_suffix(&base, "key"), &public, 0o644)?;
    Ok(base)
}

fn create(path: &Path, text: &str, mode: u32) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

/// `base` with `.suffix` appended (the origin in a base name has dots, so no `with_extension`).
fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut text = base.as_os_str().to_owned();
    text.push(".");
    text.push(suffix);
    PathBuf::from(text)
}

/// Reads the key files of `base` (a path with or without `.key` or `.private`).
pub fn read(base: &Path, rng: &dyn SecureRandom) -> Result<KeyPair, String> {
    let text = base.to_string_lossy();
    let stem = text.strip_suffix(".key").or_else(|| text.strip_suffix(".private")).unwrap_or(&text);
    let base = PathBuf::from(stem);
    let key_path = with_suffix(&base, "key");
    let private_path = with_suffix(&base, "private");
    let public = std::fs::read_to_string(&key_path).map_err(|e| format!("{}: {e}", key_path.display()))?;
    let private = std::fs::read_to_string(&private_path).map_err(|e| format!("{}: {e}", private_path.display()))?;
    let (owner, flags, algorithm, public_key) = parse_public(&public).map_err(|e| format!("{}: {e}", key_path.display()))?;
    let key = parse_private(&private, algorithm, &public_key, rng).map_err(|e| format!("{}: {e}", private_path.display()))?;
    if key.public_key() != public_key {
        return Err(format!("{}: the private key does not match {}", private_path.display(), key_path.display()));
    }
    Ok(KeyPair { owner, flags, key })
}

/// Reads the DNSKEY line of a `.key` file: owner, flags, algorithm and public key.
fn parse_public(text: &str) -> Result<(NameBuf, u16, Algorithm, Vec<u8>), String> {
    for line in text.lines().map(|l| l.split(';').next().unwrap_or("")) {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = tokens.iter().position(|t| t.eq_ignore_ascii_case("DNSKEY")) else { continue };
        let owner = tokens.first().and_then(|t| NameBuf::from_text(t, None).ok()).ok_or("bad owner name")?;
        let field = |i: usize| tokens.get(at + i).copied().ok_or("DNSKEY record too short");
        let flags: u16 = field(1)?.parse().map_err(|_| "bad flags")?;
        let algorithm: u8 = field(3)?.parse().map_err(|_| "bad algorithm")?;
        let mut public_key = Vec::new();
        decode_base64(&tokens[(at + 4).min(tokens.len())..].concat(), &mut public_key).map_err(|e| format!("public key: {e}"))?;
        return Ok((owner, flags, Algorithm(algorithm), public_key));
    }
    Err("no DNSKEY record".to_string())
}

/// Reads a "Private-key-format: v1.3" file of an ECDSA or Ed25519 key.
fn parse_private(text: &str, algorithm: Algorithm, public_key: &[u8], rng: &dyn SecureRandom) -> Result<SigningKey, String> {
    let value = |name: &str| text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')).map(str::trim));
    let declared = value("Algorithm").and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse::<u8>().ok());
    if declared != Some(algorithm.0) {
        return Err("Algorithm does not match the .key file".to_string());
    }
    if matches!(algorithm, Algorithm::RSASHA256 | Algorithm::RSASHA512) {
        return rsa_private(&value, algorithm, rng);
    }
    let mut secret = Vec::new();
    decode_base64(value("PrivateKey").ok_or("no PrivateKey (only RSA, ECDSA and Ed25519 key files are supported)")?, &mut secret)?;
    let key = match algorithm {
        Algorithm::ED25519 => SigningKey::from_ed25519_seed(&secret),
        Algorithm::ECDSAP256SHA256 | Algorithm::ECDSAP384SHA384 => SigningKey::from_ecdsa_scalar(algorithm, &secret, public_key, rng),
        other => return Err(format!("algorithm {} is not supported in key files (RSASHA256, RSASHA512, ECDSA and Ed25519 only)", other.0)),
    };
    key.map_err(|e| e.to_string())
}

/// The fields of an RSA private key in a BIND key file, in the order of PKCS#1's RSAPrivateKey
/// (RFC 8017 §A.1.2) after its version.
const RSA_FIELDS: [&str; 8] = ["Modulus", "PublicExponent", "PrivateExponent", "Prime1", "Prime2", "Exponent1", "Exponent2", "Coefficient"];

/// An RSA key from the fields of a BIND key file (made by `dnssec-keygen -a RSASHA256`: `ring`
/// cannot generate RSA keys), wrapped as PKCS#8 for `ring` (RFC 5208: version 0, the
/// rsaEncryption algorithm, the RSAPrivateKey).
fn rsa_private<'t>(value: &dyn Fn(&str) -> Option<&'t str>, algorithm: Algorithm, rng: &dyn SecureRandom) -> Result<SigningKey, String> {
    let mut key = der(0x02, &[0]);
    for name in RSA_FIELDS {
        let mut bytes = Vec::new();
        decode_base64(value(name).ok_or_else(|| format!("no {name} in the RSA key file"))?, &mut bytes)?;
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len().saturating_sub(1));
        let mut integer = if bytes.get(start).is_some_and(|b| b & 0x80 != 0) { vec![0] } else { Vec::new() };
        integer.extend_from_slice(&bytes[start..]);
        key.extend(der(0x02, &integer));
    }
    let rsa_private_key = der(0x30, &key);
    // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }.
    let algorithm_id = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    let pkcs8 = der(0x30, &[der(0x02, &[0]), algorithm_id.to_vec(), der(0x04, &rsa_private_key)].concat());
    SigningKey::from_pkcs8(algorithm, &pkcs8, rng).map_err(|e| format!("RSA key: {e}"))
}

/// One DER element: `tag`, the definite length, `content`.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        len @ 0..=0x7f => out.push(len as u8),
        len @ 0x80..=0xff => out.extend([0x81, len as u8]),
        len => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// Base64 (RFC 4648 §4) with padding, as BIND's `.private` files hold it.
pub fn encode_base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    // Writing into a String cannot fail.
    let _ = write_base64(data, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let vectors = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")];
        for (plain, encoded) in vectors {
            assert_eq!(encode_base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn key_files_round_trip_and_refuse_a_mismatch() {
        let rng = ring::rand::SystemRandom::new();
        let dir = std::env::temp_dir().join(format!("portcullis-keyfiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let owner = NameBuf::from_text("example.", None).unwrap();
        let seed = [7u8; 32];
        let pair = KeyPair { owner, flags: 257, key: SigningKey::from_ed25519_seed(&seed).unwrap() };
        let base = write(&dir, &pair, &seed).unwrap();
        assert!(base.to_string_lossy().ends_with(&pair.base_name()));
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(with_suffix(&base, "private")).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        let read_back = read(&with_suffix(&base, "key"), &rng).unwrap();
        assert_eq!((read_back.owner, read_back.flags, read_back.dnskey_rdata()), (owner, 257, pair.dnskey_rdata()));
        assert!(write(&dir, &pair, &seed).is_err(), "never overwrites");
        let other = KeyPair { owner, flags: 257, key: SigningKey::from_ed25519_seed(&[8u8; 32]).unwrap() };
        let other_base = write(&dir, &other, &[8u8; 32]).unwrap();
        std::fs::remove_file(with_suffix(&base, "private")).unwrap();
        std::fs::write(with_suffix(&base, "private"), std::fs::read(with_suffix(&other_base, "private")).unwrap()).unwrap();
        assert!(read(&base, &rng).unwrap_err().contains("does not match"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
