//! Property tests: `rdata_to_text` and `rdata_from_text` never panic, and every rdata that passes
//! `rdata_check` comes back byte for byte from its text.

use super::tests::{origin, tokenize};
use super::*;
use proptest::prelude::*;

/// Every known type and one unknown one.
fn any_rtype() -> impl Strategy<Value = Rtype> {
    let mut all: Vec<Rtype> = Rtype::KNOWN.to_vec();
    all.push(Rtype(65280));
    prop::sample::select(all)
}

/// Bytes built from name-like, string-like and raw pieces, so structured types often pass the check.
fn structured_rdata() -> impl Strategy<Value = Vec<u8>> {
    let name = name();
    let string = prop::collection::vec(any::<u8>(), 0..6).prop_map(|bytes| {
        let mut wire = vec![bytes.len() as u8];
        wire.extend_from_slice(&bytes);
        wire
    });
    let raw = prop::collection::vec(any::<u8>(), 0..5);
    let small = prop::collection::vec(0u8..4, 1..3);
    let piece = prop_oneof![name, string, raw, small];
    prop::collection::vec(piece, 0..7).prop_map(|pieces| pieces.concat())
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    let label = prop::collection::vec(prop_oneof![4 => b'a'..=b'z', 1 => any::<u8>()], 1..5);
    prop::collection::vec(label, 0..3).prop_map(|labels| {
        let mut wire = Vec::new();
        for label in labels {
            wire.push(label.len() as u8);
            wire.extend_from_slice(&label);
        }
        wire.push(0);
        wire
    })
}

fn bytes(len: impl Into<prop::collection::SizeRange>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), len)
}

/// `width`-octet length prefix, then the bytes.
fn sized(width: usize, len: core::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
    bytes(len).prop_map(move |data| {
        let mut wire = (data.len() as u16).to_be_bytes()[2 - width..].to_vec();
        wire.extend_from_slice(&data);
        wire
    })
}

fn bitmap() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![0u16..300, any::<u16>()], 0..6).prop_map(|mut types| {
        let mut wire = Vec::new();
        fields::encode_bitmap(&mut types, &mut wire);
        wire
    })
}

fn svcb_params() -> impl Strategy<Value = Vec<u8>> {
    let alpn = prop::collection::vec(sized(1, 1..4), 1..3).prop_map(|ids| ids.concat());
    let value = prop_oneof![
        (Just(1u16), alpn),
        (Just(2u16), Just(Vec::new())),
        (Just(3u16), bytes(2)),
        (Just(4u16), bytes(4..=4)),
        (Just(5u16), bytes(1..6)),
        (Just(6u16), bytes(16..=16)),
        (Just(7u16), bytes(0..6)),
        (7u16..1000, bytes(0..6)),
    ];
    prop::collection::btree_map(any::<u16>(), value, 0..4).prop_map(|params| {
        let unique: std::collections::BTreeMap<u16, Vec<u8>> = params.into_values().collect();
        let mut wire = Vec::new();
        for (key, value) in unique {
            wire.extend_from_slice(&key.to_be_bytes());
            wire.extend_from_slice(&(value.len() as u16).to_be_bytes());
            wire.extend_from_slice(&value);
        }
        wire
    })
}

fn precision() -> impl Strategy<Value = u8> {
    (0u8..10, 0u8..10).prop_map(|(mantissa, exponent)| if mantissa == 0 { 0 } else { mantissa << 4 | exponent })
}

/// Rdata built to each type's layout, with random contents.
fn typed_rdata() -> impl Strategy<Value = (Rtype, Vec<u8>)> {
    let equator = 1u32 << 31;
    prop_oneof![
        (name(), name(), bytes(20)).prop_map(|(a, b, c)| (Rtype::SOA, [a, b, c].concat())),
        (name(), bytes(10), sized(2, 0..5), bytes(4), sized(2, 0..5)).prop_map(|(a, b, c, d, e)| (Rtype::TSIG, [a, b, c, d, e].concat())),
        (precision(), precision(), precision(), 0..=180 * 3_600_000u32, 0..=360 * 3_600_000u32, any::<u32>()).prop_map(move |(s, h, v, lat, lon, alt)| {
            let mut wire = vec![0, s, h, v];
            wire.extend_from_slice(&(equator - 90 * 3_600_000 + lat).to_be_bytes());
            wire.extend_from_slice(&(equator - 180 * 3_600_000 + lon).to_be_bytes());
            wire.extend_from_slice(&alt.to_be_bytes());
            (Rtype::LOC, wire)
        }),
        (prop::sample::select(vec![Rtype::SVCB, Rtype::HTTPS]), bytes(2), name(), svcb_params()).prop_map(|(t, a, b, c)| (t, [a, b, c].concat())),
        (bytes(18), name(), bytes(0..8)).prop_map(|(a, b, c)| (Rtype::RRSIG, [a, b, c].concat())),
        (bytes(4), sized(1, 0..5), sized(1, 1..21), bitmap()).prop_map(|(a, b, c, d)| (Rtype::NSEC3, [a, b, c, d].concat())),
        (name(), bitmap()).prop_map(|(a, b)| (Rtype::NSEC, [a, b].concat())),
        (bytes(6), bitmap()).prop_map(|(a, b)| (Rtype::CSYNC, [a, b].concat())),
        (bytes(4), sized(1, 0..4), sized(1, 0..4), sized(1, 0..9), name()).prop_map(|(a, b, c, d, e)| (Rtype::NAPTR, [a, b, c, d, e].concat())),
        (any::<u8>(), 1u8..16, bytes(0..9)).prop_map(|(flags, len, value)| {
            let mut wire = vec![flags, len];
            wire.extend((0..len).map(|i| b'a' + i % 26));
            wire.extend_from_slice(&value);
            (Rtype::CAA, wire)
        }),
    ]
}

/// Types where structured bytes are likely to pass the check.
fn structured_rtype() -> impl Strategy<Value = Rtype> {
    prop::sample::select(vec![
        Rtype::A,
        Rtype::NS,
        Rtype::SOA,
        Rtype::HINFO,
        Rtype::MINFO,
        Rtype::MX,
        Rtype::TXT,
        Rtype::RP,
        Rtype::AFSDB,
        Rtype::ISDN,
        Rtype::PX,
        Rtype::GPOS,
        Rtype::SRV,
        Rtype::NAPTR,
        Rtype::KX,
        Rtype::CERT,
        Rtype::DS,
        Rtype::SSHFP,
        Rtype::IPSECKEY,
        Rtype::RRSIG,
        Rtype::NSEC,
        Rtype::DNSKEY,
        Rtype::NSEC3,
        Rtype::NSEC3PARAM,
        Rtype::TLSA,
        Rtype::CSYNC,
        Rtype::ZONEMD,
        Rtype::SVCB,
        Rtype::HTTPS,
        Rtype::LP,
        Rtype::TSIG,
        Rtype::URI,
        Rtype::CAA,
        Rtype::APL,
        Rtype::WKS,
        Rtype::LOC,
        Rtype::EUI48,
    ])
}

fn assert_round_trip(rtype: Rtype, rdata: &[u8]) -> Result<(), TestCaseError> {
    let mut text = String::new();
    prop_assert!(rdata_to_text(rtype, rdata, &mut text).is_ok());
    if !rdata_check(rtype, rdata) {
        prop_assert!(text.starts_with("\\# "), "{} malformed but printed '{}'", rtype, text);
        return Ok(());
    }
    let mut again = Vec::new();
    let parsed = rdata_from_text(rtype, &tokenize(&text), &origin(), &mut again);
    prop_assert!(parsed.is_ok(), "{} '{}' does not parse: {:?}", rtype, text, parsed);
    prop_assert_eq!(&again, &rdata.to_vec(), "{} '{}'", rtype, text);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_checked_ones_round_trip(rtype in any_rtype(), rdata in prop::collection::vec(any::<u8>(), 0..64)) {
        assert_round_trip(rtype, &rdata)?;
    }

    #[test]
    fn structured_bytes_round_trip(rtype in structured_rtype(), rdata in structured_rdata()) {
        assert_round_trip(rtype, &rdata)?;
    }

    #[test]
    fn typed_rdata_round_trips((rtype, rdata) in typed_rdata()) {
        assert_round_trip(rtype, &rdata)?;
    }

    #[test]
    fn txt_strings_round_trip(strings in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..4)) {
        let mut rdata = Vec::new();
        for string in &strings {
            let len = string.len().min(255);
            rdata.push(len as u8);
            rdata.extend_from_slice(&string[..len]);
        }
        prop_assert!(rdata_check(Rtype::TXT, &rdata));
        assert_round_trip(Rtype::TXT, &rdata)?;
    }

    #[test]
    fn text_never_panics(rtype in any_rtype(), words in prop::collection::vec("[ -~]{0,12}", 0..10)) {
        let tokens: Vec<Token<'_>> = words.iter().enumerate().map(|(i, text)| Token { text, quoted: i % 3 == 2 }).collect();
        let mut out = vec![7];
        if rdata_from_text(rtype, &tokens, &origin(), &mut out).is_ok() {
            prop_assert!(rdata_check(rtype, &out[1..]), "{} {:?} gave unchecked {:02x?}", rtype, words, out);
        } else {
            prop_assert_eq!(out, vec![7]);
        }
    }

    #[test]
    fn number_like_text_never_panics(rtype in any_rtype(), words in prop::collection::vec("[0-9a-fA-F:.=,\\-\\\\]{1,10}", 0..12)) {
        let tokens: Vec<Token<'_>> = words.iter().map(|text| Token { text, quoted: false }).collect();
        let mut out = Vec::new();
        if rdata_from_text(rtype, &tokens, &origin(), &mut out).is_ok() {
            prop_assert!(rdata_check(rtype, &out), "{} {:?} gave unchecked {:02x?}", rtype, words, out);
        }
    }
}

#[test]
fn typed_rdata_mostly_passes_the_check() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut passed = 0;
    for _ in 0..2000 {
        let (rtype, rdata) = typed_rdata().new_tree(&mut runner).unwrap().current();
        passed += usize::from(rdata_check(rtype, &rdata));
    }
    assert!(passed > 1600, "only {passed} of 2000 typed rdata passed the check");
}
