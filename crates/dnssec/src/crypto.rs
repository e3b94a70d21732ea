//! Signature verification and signing through `ring` (RFC 5702 RSA, RFC 6605 ECDSA, RFC 8080
//! Ed25519). Public keys are in their DNSKEY format; private keys are PKCS#8 documents (or the
//! raw forms that BIND's key files hold); randomness is the caller's `SecureRandom`.

use crate::{Algorithm, Error};
use ring::rand::SecureRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents, UnparsedPublicKey};

/// RSA moduli below this many bits are refused for verification (ring's smallest).
const RSA_MIN_VERIFY_BITS: usize = 1024;

/// Verifies `signature` over `message` (the signing input) with a DNSKEY public key of
/// `algorithm`. RSA keys of 1024 bits and more are accepted (ring's legacy parameters, since
/// many zones still sign with 1024-bit keys).
pub fn verify(algorithm: Algorithm, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), Error> {
    match algorithm {
        Algorithm::RSASHA1 | Algorithm::RSASHA1_NSEC3_SHA1 => {
            verify_rsa(&signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY, public_key, message, signature)
        }
        Algorithm::RSASHA256 => verify_rsa(&signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, public_key, message, signature),
        Algorithm::RSASHA512 => verify_rsa(&signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY, public_key, message, signature),
        Algorithm::ECDSAP256SHA256 => verify_ecdsa(&signature::ECDSA_P256_SHA256_FIXED, 64, public_key, message, signature),
        Algorithm::ECDSAP384SHA384 => verify_ecdsa(&signature::ECDSA_P384_SHA384_FIXED, 96, public_key, message, signature),
        Algorithm::ED25519 => {
            if public_key.len() != 32 {
                return Err(Error::BadKey);
            }
            UnparsedPublicKey::new(&signature::ED25519, public_key).verify(message, signature).map_err(|_| Error::BadSignature)
        }
        Algorithm(other) => Err(Error::UnsupportedAlgorithm(other)),
    }
}

/// Splits an RSA DNSKEY public key (RFC 3110 §2) into exponent and modulus.
pub fn rsa_components(public_key: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    let (exponent_len, rest) = match public_key {
        [0, high, low, rest @ ..] => (usize::from(u16::from_be_bytes([*high, *low])), rest),
        [len, rest @ ..] if *len != 0 => (usize::from(*len), rest),
        _ => return Err(Error::BadKey),
    };
    if rest.len() <= exponent_len {
        return Err(Error::BadKey);
    }
    Ok(rest.split_at(exponent_len))
}

fn verify_rsa(params: &'static signature::RsaParameters, public_key: &[u8], message: &[u8], sig: &[u8]) -> Result<(), Error> {
    let (e, n) = rsa_components(public_key)?;
    let n = strip_leading_zeros(n);
    let bits = n.first().map_or(0, |first| n.len() * 8 - first.leading_zeros() as usize);
    if bits < RSA_MIN_VERIFY_BITS {
        return Err(Error::UnsupportedKeySize);
    }
    RsaPublicKeyComponents { n, e: strip_leading_zeros(e) }.verify(params, message, sig).map_err(|_| Error::BadSignature)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    &bytes[zeros..]
}

fn verify_ecdsa(alg: &'static signature::EcdsaVerificationAlgorithm, point_len: usize, public_key: &[u8], message: &[u8], sig: &[u8]) -> Result<(), Error> {
    if public_key.len() != point_len {
        return Err(Error::BadKey);
    }
    let mut point = Vec::with_capacity(1 + point_len);
    point.push(0x04);
    point.extend_from_slice(public_key);
    UnparsedPublicKey::new(alg, &point).verify(message, sig).map_err(|_| Error::BadSignature)
}

/// A private key ready to sign, for the algorithms `ring` can sign with: RSASHA256, RSASHA512
/// (keys of 2048 bits and more), ECDSAP256SHA256, ECDSAP384SHA384 and ED25519.
pub struct SigningKey {
    algorithm: Algorithm,
    pair: Pair,
}

enum Pair {
    Rsa(RsaKeyPair, &'static dyn signature::RsaEncoding),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl core::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigningKey").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key from a PKCS#8 document (RFC 5208/5958, as `ring` and `openssl pkcs8 -topk8` write
    /// them); ECDSA keys need `rng` for their nonces' key.
    pub fn from_pkcs8(algorithm: Algorithm, pkcs8: &[u8], rng: &dyn SecureRandom) -> Result<Self, Error> {
        let pair = match algorithm {
            Algorithm::RSASHA256 | Algorithm::RSASHA512 => Pair::Rsa(rsa_pair(RsaKeyPair::from_pkcs8(pkcs8))?, rsa_encoding(algorithm)),
            Algorithm::ECDSAP256SHA256 | Algorithm::ECDSAP384SHA384 => {
                Pair::Ecdsa(EcdsaKeyPair::from_pkcs8(ecdsa_alg(algorithm), pkcs8, rng).map_err(|_| Error::BadKey)?)
            }
            Algorithm::ED25519 => Pair::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|_| Error::BadKey)?),
            Algorithm(other) => return Err(Error::UnsupportedAlgorithm(other)),
        };
        Ok(Self { algorithm, pair })
    }

    /// An Ed25519 key from its 32-octet seed (the `PrivateKey` of a BIND key file).
    pub fn from_ed25519_seed(seed: &[u8]) -> Result<Self, Error> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| Error::BadKey)?;
        Ok(Self { algorithm: Algorithm::ED25519, pair: Pair::Ed25519(pair) })
    }

    /// An ECDSA key from its private scalar (big-endian, the `PrivateKey` of a BIND key file) and
    /// its DNSKEY public key (`x || y`).
    pub fn from_ecdsa_scalar(algorithm: Algorithm, scalar: &[u8], public_key: &[u8], rng: &dyn SecureRandom) -> Result<Self, Error> {
        if !matches!(algorithm, Algorithm::ECDSAP256SHA256 | Algorithm::ECDSAP384SHA384) {
            return Err(Error::UnsupportedAlgorithm(algorithm.0));
        }
        let point = [&[0x04][..], public_key].concat();
        let pair = EcdsaKeyPair::from_private_key_and_public_key(ecdsa_alg(algorithm), scalar, &point, rng).map_err(|_| Error::BadKey)?;
        Ok(Self { algorithm, pair: Pair::Ecdsa(pair) })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public key in DNSKEY format (RFC 3110 for RSA, `x || y` for ECDSA, the 32 octets of
    /// Ed25519).
    pub fn public_key(&self) -> Vec<u8> {
        match &self.pair {
            Pair::Rsa(pair, _) => {
                let components: RsaPublicKeyComponents<Vec<u8>> = pair.public().into();
                rsa_dnskey(&components.e, &components.n)
            }
            Pair::Ecdsa(pair) => pair.public_key().as_ref().get(1..).unwrap_or_default().to_vec(),
            Pair::Ed25519(pair) => pair.public_key().as_ref().to_vec(),
        }
    }

    /// Signs `message` (the signing input). RSA PKCS#1 v1.5 and Ed25519 are deterministic; ECDSA
    /// draws its nonce through `rng` (ring mixes it with the key).
    pub fn sign(&self, message: &[u8], rng: &dyn SecureRandom) -> Result<Vec<u8>, Error> {
        match &self.pair {
            Pair::Rsa(pair, encoding) => {
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(*encoding, rng, message, &mut out).map_err(|_| Error::SigningFailed)?;
                Ok(out)
            }
            Pair::Ecdsa(pair) => Ok(pair.sign(rng, message).map_err(|_| Error::SigningFailed)?.as_ref().to_vec()),
            Pair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

fn rsa_pair(result: Result<RsaKeyPair, ring::error::KeyRejected>) -> Result<RsaKeyPair, Error> {
    result.map_err(|rejected| match rejected.to_string().as_str() {
        "TooSmall" => Error::UnsupportedKeySize,
        _ => Error::BadKey,
    })
}

fn rsa_encoding(algorithm: Algorithm) -> &'static dyn signature::RsaEncoding {
    if algorithm == Algorithm::RSASHA512 {
        &signature::RSA_PKCS1_SHA512
    } else {
        &signature::RSA_PKCS1_SHA256
    }
}

fn ecdsa_alg(algorithm: Algorithm) -> &'static signature::EcdsaSigningAlgorithm {
    if algorithm == Algorithm::ECDSAP384SHA384 {
        &signature::ECDSA_P384_SHA384_FIXED_SIGNING
    } else {
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING
    }
}

/// An RSA public key in DNSKEY format (RFC 3110 §2): exponent length, exponent, modulus.
pub fn rsa_dnskey(exponent: &[u8], modulus: &[u8]) -> Vec<u8> {
    let (exponent, modulus) = (strip_leading_zeros(exponent), strip_leading_zeros(modulus));
    let mut out = Vec::with_capacity(3 + exponent.len() + modulus.len());
    match u8::try_from(exponent.len()) {
        Ok(len) if len > 0 => out.push(len),
        _ => {
            out.push(0);
            out.extend_from_slice(&(exponent.len() as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(exponent);
    out.extend_from_slice(modulus);
    out
}

#[cfg(test)]
#[path = "crypto_tests.rs"]
mod tests;
