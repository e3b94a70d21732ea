use super::*;
use ring::rand::SystemRandom;

const RSA_2048_PKCS8: &[u8] = include_bytes!("../tests/keys/rsa2048.pk8");

fn generated(algorithm: Algorithm, rng: &SystemRandom) -> SigningKey {
    let pkcs8 = match algorithm {
        Algorithm::ED25519 => Ed25519KeyPair::generate_pkcs8(rng).unwrap().as_ref().to_vec(),
        Algorithm::ECDSAP256SHA256 | Algorithm::ECDSAP384SHA384 => EcdsaKeyPair::generate_pkcs8(ecdsa_alg(algorithm), rng).unwrap().as_ref().to_vec(),
        _ => RSA_2048_PKCS8.to_vec(),
    };
    SigningKey::from_pkcs8(algorithm, &pkcs8, rng).unwrap()
}

#[test]
fn every_signing_algorithm_round_trips_and_a_tampered_signature_fails() {
    let rng = SystemRandom::new();
    for algorithm in [Algorithm::RSASHA256, Algorithm::RSASHA512, Algorithm::ECDSAP256SHA256, Algorithm::ECDSAP384SHA384, Algorithm::ED25519] {
        let key = generated(algorithm, &rng);
        assert_eq!(key.algorithm(), algorithm);
        let public = key.public_key();
        let message = b"signing input";
        let mut signature = key.sign(message, &rng).unwrap();
        assert_eq!(verify(algorithm, &public, message, &signature), Ok(()), "{algorithm:?}");
        assert_eq!(verify(algorithm, &public, b"signing inpuT", &signature), Err(Error::BadSignature), "{algorithm:?}");
        signature[5] ^= 1;
        assert_eq!(verify(algorithm, &public, message, &signature), Err(Error::BadSignature), "{algorithm:?}");
    }
}

#[test]
fn rsa_and_ed25519_signatures_are_deterministic() {
    let rng = SystemRandom::new();
    for algorithm in [Algorithm::RSASHA256, Algorithm::RSASHA512, Algorithm::ED25519] {
        let key = generated(algorithm, &rng);
        assert_eq!(key.sign(b"m", &rng).unwrap(), key.sign(b"m", &rng).unwrap());
    }
}

#[test]
fn a_key_of_the_wrong_algorithm_does_not_verify() {
    let rng = SystemRandom::new();
    let key = generated(Algorithm::ECDSAP256SHA256, &rng);
    let signature = key.sign(b"m", &rng).unwrap();
    assert_eq!(verify(Algorithm::ECDSAP384SHA384, &key.public_key(), b"m", &signature), Err(Error::BadKey));
    assert_eq!(verify(Algorithm::ED25519, &key.public_key(), b"m", &signature), Err(Error::BadKey));
    assert_eq!(verify(Algorithm(3), &key.public_key(), b"m", &signature), Err(Error::UnsupportedAlgorithm(3)));
    assert!(SigningKey::from_pkcs8(Algorithm::ED25519, RSA_2048_PKCS8, &rng).is_err());
}

#[test]
fn rsa_public_keys_use_the_rfc3110_layout() {
    assert_eq!(rsa_dnskey(&[1, 0, 1], &[0, 0xC1, 0x5C]), [3, 1, 0, 1, 0xC1, 0x5C]);
    let long = vec![1u8; 300];
    let key = rsa_dnskey(&long, &[7]);
    assert_eq!(&key[..3], &[0, 1, 44]);
    assert_eq!(rsa_components(&key).unwrap(), (&long[..], &[7u8][..]));
    assert_eq!(rsa_components(&[3, 1, 0, 1]), Err(Error::BadKey));
    assert_eq!(rsa_components(&[]), Err(Error::BadKey));
}

#[test]
fn small_rsa_keys_are_refused_with_a_reason() {
    let mut public = vec![3, 1, 0, 1];
    public.extend_from_slice(&[0xFF; 64]);
    assert_eq!(verify(Algorithm::RSASHA256, &public, b"m", &[0; 64]), Err(Error::UnsupportedKeySize));
}
