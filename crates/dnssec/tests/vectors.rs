//! The published DNSSEC vectors (copied from the project's shared vectors into `tests/vectors/`
//! so that a clean clone has them): RFC 5702, RFC 6605 and RFC 8080 signatures, RFC 5155
//! Appendix A NSEC3 hashes, RFC 4648 base32hex and the RFC 4034 §5.4 DS.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/modexp.rs"]
mod modexp;

use portcullis_dnssec::{key_tag, nsec3, verify, Algorithm, DigestType, Dnskey, Error, Rrsig, SigningKey};
use portcullis_wire::rdata::{decode_base64, rdata_from_text, Token};
use portcullis_wire::{Class, NameBuf, Rtype};
use ring::rand::SystemRandom;
use serde_json::Value;

fn load(file: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(file);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// One record of a zone-file line with owner, TTL, class and type present.
struct Record {
    owner: NameBuf,
    class: Class,
    rtype: Rtype,
    rdata: Vec<u8>,
}

fn record(line: &str) -> Record {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let owner = NameBuf::from_text(fields[0], None).unwrap();
    let class = Class::from_text(fields[2]).unwrap();
    let rtype = Rtype::from_text(fields[3]).unwrap();
    let tokens: Vec<Token<'_>> = fields[4..].iter().map(|text| Token { text, quoted: false }).collect();
    let mut rdata = Vec::new();
    rdata_from_text(rtype, &tokens, &owner, &mut rdata).unwrap();
    Record { owner, class, rtype, rdata }
}

fn base64(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    decode_base64(text, &mut out).unwrap();
    out
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// The signature vectors' pieces: the RRSIG fields and signature, the DNSKEY, the signing input.
struct Signed {
    rrsig: Rrsig,
    signature: Vec<u8>,
    dnskey: Record,
    input: Vec<u8>,
}

fn signed(vector: &Value) -> Signed {
    let rrsig_record = record(vector["rrsig"].as_str().unwrap());
    let (rrsig, signature) = Rrsig::parse(&rrsig_record.rdata).unwrap();
    let rrset: Vec<Record> = vector["rrset"].as_array().unwrap().iter().map(|r| record(r.as_str().unwrap())).collect();
    assert!(rrset.iter().all(|r| r.rtype == rrsig.type_covered && r.owner == rrsig_record.owner));
    let mut input = Vec::new();
    portcullis_dnssec::signing_input(&rrsig, &rrset[0].owner, rrset[0].class, rrset.iter().map(|r| r.rdata.as_slice()), &mut input).unwrap();
    let dnskey = record(vector["dnskey"].as_str().unwrap());
    Signed { rrsig, signature: signature.to_vec(), dnskey, input }
}

fn signature_vectors() -> Vec<Value> {
    load("dnssec-signatures.json")["vectors"].as_array().unwrap().clone()
}

#[test]
fn every_signature_verifies_and_key_tags_match() {
    let vectors = signature_vectors();
    assert_eq!(vectors.len(), 6);
    for vector in &vectors {
        let name = vector["name"].as_str().unwrap();
        let s = signed(vector);
        let key = Dnskey::parse(&s.dnskey.rdata).unwrap();
        assert_eq!(u64::from(key_tag(&s.dnskey.rdata)), vector["key_tag"].as_u64().unwrap(), "{name}");
        assert_eq!(s.rrsig.key_tag, key_tag(&s.dnskey.rdata), "{name}");
        assert!(s.rrsig.is_current(vector["verify_at"].as_u64().unwrap() as u32), "{name}");
        let result = verify(key.algorithm, key.public_key, &s.input, &s.signature);
        if key.algorithm == Algorithm::RSASHA256 {
            // RFC 5702's 512-bit key is below ring's 1024-bit floor: refused with a reason, and
            // checked below with the test's own arithmetic instead.
            assert_eq!(result, Err(Error::UnsupportedKeySize), "{name}");
        } else {
            assert_eq!(result, Ok(()), "{name}");
        }
    }
}

#[test]
fn a_tampered_record_or_signature_fails_verification() {
    for vector in signature_vectors().iter().filter(|v| v["source"] != "RFC 5702, section 6.1") {
        let mut s = signed(vector);
        let key = Dnskey::parse(&s.dnskey.rdata).unwrap();
        let last = s.input.len() - 1;
        s.input[last] ^= 1;
        assert_eq!(verify(key.algorithm, key.public_key, &s.input, &s.signature), Err(Error::BadSignature));
        s.input[last] ^= 1;
        s.signature[0] ^= 0x80;
        assert_eq!(verify(key.algorithm, key.public_key, &s.input, &s.signature), Err(Error::BadSignature));
    }
}

/// SHA-256 DigestInfo prefix of EMSA-PKCS1-v1_5 (RFC 8017 §9.2).
const SHA256_DIGEST_INFO: [u8; 19] = [0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

#[test]
fn rsa_sha256_is_reproduced_byte_for_byte() {
    let vector = &signature_vectors()[0];
    assert_eq!(vector["source"], "RFC 5702, section 6.1");
    let s = signed(vector);
    let private = &vector["private_key_bind"];
    let modulus = base64(private["Modulus"].as_str().unwrap());
    let private_exponent = base64(private["PrivateExponent"].as_str().unwrap());
    let key = Dnskey::parse(&s.dnskey.rdata).unwrap();
    let (exponent, public_modulus) = portcullis_dnssec::crypto::rsa_components(key.public_key).unwrap();
    assert_eq!(public_modulus, modulus);
    // EMSA-PKCS1-v1_5 of our signing input, then the RSA private operation.
    let digest = ring::digest::digest(&ring::digest::SHA256, &s.input);
    let mut encoded = vec![0x00, 0x01];
    encoded.resize(modulus.len() - SHA256_DIGEST_INFO.len() - 32 - 1, 0xFF);
    encoded.push(0x00);
    encoded.extend_from_slice(&SHA256_DIGEST_INFO);
    encoded.extend_from_slice(digest.as_ref());
    assert_eq!(modexp::mod_pow(&encoded, &private_exponent, &modulus), s.signature);
    assert_eq!(modexp::mod_pow(&s.signature, exponent, &modulus), encoded);
}

#[test]
fn ed25519_is_reproduced_byte_for_byte() {
    let rng = SystemRandom::new();
    for vector in signature_vectors().iter().filter(|v| v["dnskey"].as_str().unwrap().contains(" 15 ")) {
        let s = signed(vector);
        let seed = base64(vector["private_key_bind"]["PrivateKey"].as_str().unwrap());
        let key = SigningKey::from_ed25519_seed(&seed).unwrap();
        assert_eq!(key.public_key(), Dnskey::parse(&s.dnskey.rdata).unwrap().public_key);
        assert_eq!(key.sign(&s.input, &rng).unwrap(), s.signature, "{}", vector["name"]);
        let mut rdata = Vec::new();
        rdata.extend_from_slice(&s.rrsig.to_rdata(&s.signature));
        assert_eq!(rdata, record(vector["rrsig"].as_str().unwrap()).rdata);
    }
}

#[test]
fn ecdsa_keys_of_the_rfc_sign_what_their_dnskey_verifies() {
    let rng = SystemRandom::new();
    for vector in signature_vectors().iter().filter(|v| v["source"].as_str().unwrap().starts_with("RFC 6605")) {
        let s = signed(vector);
        let dnskey = Dnskey::parse(&s.dnskey.rdata).unwrap();
        let scalar = base64(vector["private_key_bind"]["PrivateKey"].as_str().unwrap());
        let key = SigningKey::from_ecdsa_scalar(dnskey.algorithm, &scalar, dnskey.public_key, &rng).unwrap();
        assert_eq!(key.public_key(), dnskey.public_key);
        let signature = key.sign(&s.input, &rng).unwrap();
        assert_eq!(verify(dnskey.algorithm, dnskey.public_key, &s.input, &signature), Ok(()));
    }
}

#[test]
fn ds_digests_match() {
    let mut checked = 0;
    for vector in signature_vectors().iter().filter(|v| v.get("ds").is_some()) {
        let dnskey = record(vector["dnskey"].as_str().unwrap());
        let ds = record(vector["ds"].as_str().unwrap());
        let digest_type = DigestType(ds.rdata[3]);
        assert_eq!(portcullis_dnssec::key::ds_rdata(&dnskey.owner, &dnskey.rdata, digest_type).unwrap(), ds.rdata, "{}", vector["name"]);
        checked += 1;
    }
    assert_eq!(checked, 4);
    let rfc4034 = &load("nsec3-base32hex-ds.json")["ds_rfc4034_section5_4"];
    let dnskey = record(rfc4034["dnskey"].as_str().unwrap());
    let ds = record(rfc4034["ds"].as_str().unwrap());
    assert_eq!(u64::from(key_tag(&dnskey.rdata)), rfc4034["key_tag"].as_u64().unwrap());
    assert_eq!(portcullis_dnssec::key::ds_rdata(&dnskey.owner, &dnskey.rdata, DigestType::SHA1).unwrap(), ds.rdata);
    // The digest is over the lower-cased owner.
    let upper = NameBuf::from_text("DSKEY.Example.COM.", None).unwrap();
    assert_eq!(portcullis_dnssec::ds_digest(&upper, &dnskey.rdata, DigestType::SHA1).unwrap(), &ds.rdata[4..]);
}

#[test]
fn nsec3_hashes_match_rfc5155_appendix_a() {
    let vectors = load("nsec3-base32hex-ds.json");
    let nsec3 = &vectors["nsec3"];
    let salt = hex(nsec3["salt_hex"].as_str().unwrap());
    let iterations = nsec3["iterations"].as_u64().unwrap() as u16;
    let algorithm = nsec3["algorithm"].as_u64().unwrap() as u8;
    let zone = NameBuf::from_text("example.", None).unwrap();
    let hashes = nsec3["hashes"].as_array().unwrap();
    assert_eq!(hashes.len(), 12);
    for entry in hashes {
        let name = NameBuf::from_text(entry["name"].as_str().unwrap(), None).unwrap();
        let expected = entry["hash"].as_str().unwrap();
        let hash = nsec3::hash(&name, algorithm, &salt, iterations).unwrap();
        assert_eq!(nsec3::base32hex_encode(&hash), expected, "{name}");
        assert_eq!(nsec3::base32hex_decode(expected).unwrap(), hash);
        let owner = nsec3::hashed_owner(&hash, &zone).unwrap();
        assert_eq!(owner.to_string(), format!("{expected}.example."));
        // Case does not change the hash.
        let upper = NameBuf::from_text(&entry["name"].as_str().unwrap().to_uppercase(), None).unwrap();
        assert_eq!(nsec3::hash(&upper, algorithm, &salt, iterations).unwrap(), hash);
    }
}

#[test]
fn base32hex_matches_rfc4648_section_10() {
    let vectors = load("nsec3-base32hex-ds.json");
    for entry in vectors["base32hex_rfc4648_section10"].as_array().unwrap() {
        let input = entry["in"].as_str().unwrap().as_bytes();
        let output = entry["out"].as_str().unwrap();
        assert_eq!(nsec3::base32hex_encode(input), output.trim_end_matches('=').to_lowercase());
        assert_eq!(nsec3::base32hex_decode(output).unwrap(), input);
    }
}

#[test]
fn the_copies_match_the_shared_vectors_when_present() {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["dnssec-signatures.json", "nsec3-base32hex-ds.json"] {
        let shared = manifest.join("../../../shared/vectors").join(file);
        if let Ok(text) = std::fs::read_to_string(&shared) {
            assert_eq!(text, std::fs::read_to_string(manifest.join("tests/vectors").join(file)).unwrap(), "{file} differs from {}", shared.display());
        }
    }
}
