//! `keygen`: a new DNSSEC key for a zone, written as BIND-format key files (see
//! [`crate::key_files`]). Keys come from `ring` with the system's random source; `ring` cannot
//! generate RSA keys, so only ECDSA P-256, ECDSA P-384 and Ed25519 are offered.

use crate::cli::KeygenArgs;
use crate::key_files::{self, KeyPair};
use portcullis_dnssec::key::Dnskey;
use portcullis_dnssec::{Algorithm, SigningKey};
use portcullis_wire::NameBuf;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING};
use std::process::ExitCode;

/// Generates a key and prints its base name (`<dir>/K<origin>+<alg>+<tag>`).
pub fn run(args: KeygenArgs) -> ExitCode {
    match generate(&args) {
        Ok(base) => {
            println!("{}", base.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("portcullis keygen: {error}");
            ExitCode::from(1)
        }
    }
}

fn generate(args: &KeygenArgs) -> Result<std::path::PathBuf, String> {
    let origin = parse_origin(&args.origin)?;
    let algorithm = parse_algorithm(&args.algorithm)?;
    std::fs::create_dir_all(&args.directory).map_err(|e| format!("{}: {e}", args.directory.display()))?;
    let rng = SystemRandom::new();
    let (key, private) = new_key(algorithm, &rng)?;
    let flags = if args.ksk { Dnskey::ZONE | Dnskey::SEP } else { Dnskey::ZONE };
    key_files::write(&args.directory, &KeyPair { owner: origin, flags, key }, &private)
}

/// An origin given with or without its final dot.
pub fn parse_origin(text: &str) -> Result<NameBuf, String> {
    let absolute = if text.ends_with('.') { text.to_string() } else { format!("{text}.") };
    NameBuf::from_text(&absolute, None).map_err(|e| format!("origin '{text}': {e}"))
}

/// The algorithms `keygen` accepts, by mnemonic or number.
fn parse_algorithm(text: &str) -> Result<Algorithm, String> {
    match text.to_ascii_lowercase().as_str() {
        "ecdsap256sha256" | "13" => Ok(Algorithm::ECDSAP256SHA256),
        "ecdsap384sha384" | "14" => Ok(Algorithm::ECDSAP384SHA384),
        "ed25519" | "15" => Ok(Algorithm::ED25519),
        "rsasha256" | "rsasha512" | "8" | "10" => Err(format!(
            "{text}: RSA keys cannot be generated (ring has no RSA key generation); use ecdsap256sha256, or import an RSA key made elsewhere as PKCS#8"
        )),
        _ => Err(format!("unknown algorithm '{text}' (ecdsap256sha256, ecdsap384sha384 or ed25519)")),
    }
}

/// A fresh key and its raw private part (the ECDSA scalar or the Ed25519 seed), checked by
/// rebuilding the key from that raw part.
pub fn new_key(algorithm: Algorithm, rng: &SystemRandom) -> Result<(SigningKey, Vec<u8>), String> {
    let failed = |_| "key generation failed".to_string();
    let pkcs8 = match algorithm {
        Algorithm::ECDSAP256SHA256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, rng).map_err(failed)?,
        Algorithm::ECDSAP384SHA384 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, rng).map_err(failed)?,
        _ => Ed25519KeyPair::generate_pkcs8(rng).map_err(failed)?,
    };
    let key = SigningKey::from_pkcs8(algorithm, pkcs8.as_ref(), rng).map_err(|e| e.to_string())?;
    let private = raw_private(algorithm, pkcs8.as_ref()).ok_or("cannot find the private key in ring's PKCS#8")?;
    let rebuilt = match algorithm {
        Algorithm::ED25519 => SigningKey::from_ed25519_seed(&private),
        _ => SigningKey::from_ecdsa_scalar(algorithm, &private, &key.public_key(), rng),
    };
    match rebuilt {
        Ok(rebuilt) if rebuilt.public_key() == key.public_key() => Ok((key, private)),
        _ => Err("the extracted private key does not match the generated key".to_string()),
    }
}

/// The raw private key inside a PKCS#8 document as `ring` writes it: Ed25519's seed is the
/// OCTET STRING wrapped in an OCTET STRING (`04 22 04 20`, RFC 8410 §7); an ECDSA scalar is
/// the `privateKey` OCTET STRING after `version 1` of the ECPrivateKey (RFC 5915 §3).
pub fn raw_private(algorithm: Algorithm, pkcs8: &[u8]) -> Option<Vec<u8>> {
    let (marker, len): (&[u8], usize) = match algorithm {
        Algorithm::ED25519 => (&[0x04, 0x22, 0x04, 0x20], 32),
        Algorithm::ECDSAP256SHA256 => (&[0x02, 0x01, 0x01, 0x04, 0x20], 32),
        Algorithm::ECDSAP384SHA384 => (&[0x02, 0x01, 0x01, 0x04, 0x30], 48),
        _ => return None,
    };
    let at = pkcs8.windows(marker.len()).position(|w| w == marker)? + marker.len();
    pkcs8.get(at..at + len).map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_offered_algorithm_round_trips_through_its_raw_private_key() {
        let rng = SystemRandom::new();
        for algorithm in [Algorithm::ECDSAP256SHA256, Algorithm::ECDSAP384SHA384, Algorithm::ED25519] {
            let (key, private) = new_key(algorithm, &rng).unwrap();
            assert_eq!(key.algorithm(), algorithm);
            assert_eq!(private.len(), if algorithm == Algorithm::ECDSAP384SHA384 { 48 } else { 32 });
        }
    }

    #[test]
    fn rsa_and_unknown_algorithms_are_refused_with_a_reason() {
        assert!(parse_algorithm("RSASHA256").unwrap_err().contains("ring has no RSA key generation"));
        assert!(parse_algorithm("dsa").unwrap_err().contains("unknown algorithm"));
        assert_eq!(parse_algorithm("ED25519"), Ok(Algorithm::ED25519));
        assert_eq!(parse_origin("example.com").unwrap(), parse_origin("example.com.").unwrap());
    }
}
