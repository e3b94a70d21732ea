//! Aggressive use of cached NSEC3 records (RFC 8198): a name whose hash falls in the same NSEC3
//! span as a name already denied, found from the signed zone's text.

use portcullis_dnssec::nsec3::{base32hex_decode, hash, SHA1};
use portcullis_wire::NameBuf;

/// The NSEC3 hashes of the signed zone text `signed` (owners of its NSEC3 records), sorted.
fn chain_hashes(signed: &str) -> Vec<Vec<u8>> {
    let mut hashes: Vec<Vec<u8>> = signed
        .lines()
        .filter(|line| line.split_whitespace().nth(3) == Some("NSEC3"))
        .filter_map(|line| base32hex_decode(line.split('.').next()?).ok())
        .collect();
    hashes.sort();
    hashes.dedup();
    hashes
}

/// The start of the span of `chain` that holds `hashed` (the last one when it wraps).
fn span<'a>(chain: &'a [Vec<u8>], hashed: &[u8]) -> Option<&'a Vec<u8>> {
    chain.iter().rev().find(|owner| owner.as_slice() < hashed).or(chain.last())
}

/// A name `nN.ZONE` other than `denied` whose NSEC3 hash (SHA-1, no salt, no iterations) lies
/// in the span that covers `denied`'s: denied from the same cached records.
pub fn name_in_the_same_nsec3_span(signed: &str, zone: &str, denied: &str) -> String {
    let chain = chain_hashes(signed);
    assert!(chain.len() > 2, "no NSEC3 chain in {zone}");
    let hashed = |text: &str| hash(&NameBuf::from_text(text, None).unwrap(), SHA1, &[], 0).unwrap().to_vec();
    let target = span(&chain, &hashed(denied)).cloned();
    (0..10_000).map(|n| format!("n{n}.{zone}")).find(|name| name != denied && span(&chain, &hashed(name)).cloned() == target).unwrap()
}
