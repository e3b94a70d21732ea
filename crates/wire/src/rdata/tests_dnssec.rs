//! Golden vectors for the DNSSEC types, TSIG, and the types with their own layout (LOC,
//! IPSECKEY, APL, WKS).

use super::tests::{golden, parse, print, unhex};
use super::*;

const RFC4034_KEY: &str = "AQPSKmynfzW4kyBv015MUG2DeIQ3Cbl+BBZH4b/0PY1kxkmvHjcZc8nokfzj31GajIQKY+5CptLr3buXA10hWqTkF7H6RfoRqXQeogmMHfpftf6zMv1LyBUgia7za6ZEzOJBOztyvhjL742iU/TpPSEDhm2SNKLijfUppn1UaNvv4w==";
const RFC4034_SIGNATURE: &str = "oJB1W6WNGv+ldvQ3WDG0MQkg5IEhjRip8WTrPYGv07h108dUKGMeDPKijVCHX3DDKdfb+v6oB9wfuh3DTJXUAfI/M0zmO/zz8bW0Rznl8O3tGNazPwQKkRN20XPXV6nwwfoXmJQbsLNrLfkGJ5D6fwFm8nN+6pBzeDQfsS3Ap3o=";

/// After RFC 4034 §2.3: the DNSKEY example, key split over three tokens as in the RFC.
#[test]
fn rfc4034_2_3_dnskey() {
    let (first, rest) = RFC4034_KEY.split_at(40);
    let (second, third) = rest.split_at(60);
    let text = format!("256 3 5 ( {first}\n {second}\n {third} )");
    let hex = "010003050103d22a6ca77f35b893206fd35e4c506d8378843709b97e041647e1bff43d8d64c649af1e371973c9e891fce3df519a8c840a63ee42a6d2ebddbb97035d215aa4e417b1fa45fa11a9741ea2098c1dfa5fb5feb332fd4bc8152089aef36ba644cce2413b3b72be18cbef8da253f4e93d2103866d9234a2e28df529a67d5468dbefe3";
    let printed = format!("256 3 5 {RFC4034_KEY}");
    for rtype in [Rtype::DNSKEY, Rtype::CDNSKEY, Rtype::KEY] {
        golden(rtype, &text, hex, &printed);
    }
    golden(Rtype::DNSKEY, "257 3 ECDSAP256SHA256 Zm9v", "0101 03 0d 666f6f", "257 3 13 Zm9v");
    // RFC 8078 §4: the CDNSKEY delete request.
    golden(Rtype::CDNSKEY, "0 3 0 AA==", "0000 03 00 00", "0 3 0 AA==");
    assert_eq!(parse(Rtype::DNSKEY, "256 3 BOGUS Zm9v").unwrap_err().0, "DNSKEY algorithm: expected a mnemonic or a number 0-255, got 'BOGUS'");
}

/// After RFC 4034 §3.3: the RRSIG example.
#[test]
fn rfc4034_3_3_rrsig() {
    let text = format!("A 5 3 86400 20030322173103 ( 20030220173103 2642 example.com. {RFC4034_SIGNATURE} )");
    let hex = "00010503000151803e7c9dd73e5510d70a52076578616d706c6503636f6d00a090755ba58d1affa576f4375831b4310920e481218d18a9f164eb3d81afd3b875d3c75428631e0cf2a28d50875f70c329d7dbfafea807dc1fba1dc34c95d401f23f334ce63bfcf3f1b5b44739e5f0eded18d6b33f040a911376d173d757a9f0c1fa1798941bb0b36b2df9062790fa7f0166f2737eea907378341fb12dc0a77a";
    let printed = format!("A 5 3 86400 20030322173103 20030220173103 2642 example.com. {RFC4034_SIGNATURE}");
    golden(Rtype::RRSIG, &text, hex, &printed);
    golden(Rtype::SIG, &text, hex, &printed);
    // Times as plain seconds since the epoch.
    let seconds = format!("A 5 3 86400 1048354263 1045762263 2642 example.com. {RFC4034_SIGNATURE}");
    assert_eq!(parse(Rtype::RRSIG, &seconds).unwrap(), unhex(hex));
    golden(
        Rtype::RRSIG,
        "TYPE65280 13 0 0 0 4294967295 0 .",
        "ff00 0d 00 00000000 00000000 ffffffff 0000 00",
        "TYPE65280 13 0 0 19700101000000 21060207062815 0 .",
    );
    assert!(parse(Rtype::RRSIG, "A 5 3 86400 20031322173103 20030220173103 2642 example.com. AA==").unwrap_err().0.starts_with("RRSIG expiration:"));
    assert!(parse(Rtype::RRSIG, "BOGUS 5 3 86400 0 0 2642 example.com. AA==").unwrap_err().0.starts_with("RRSIG type covered:"));
}

/// From RFC 4034 §4.3: the NSEC example and its wire form.
#[test]
fn rfc4034_4_3_nsec() {
    let hex = "04686f7374 076578616d706c65 03636f6d 00
               0006 4001000000 03 041b 000000000000000000000000000000000000000000000000000020";
    golden(Rtype::NSEC, "host.example.com. ( A MX RRSIG NSEC TYPE1234 )", hex, "host.example.com. A MX RRSIG NSEC TYPE1234");
    golden(Rtype::NSEC, "host.example.com. NSEC A A", "04686f7374 076578616d706c65 03636f6d 00 0006 4000000000 01", "host.example.com. A NSEC");
    golden(Rtype::NSEC, ".", "00", ".");
    assert!(parse(Rtype::NSEC, "a. BOGUS").unwrap_err().0.starts_with("NSEC types: unknown type 'BOGUS'"));
    // Windows out of order, empty, or with a trailing zero octet are malformed.
    assert!(!rdata_check(Rtype::NSEC, &unhex("00 0101 40 0001 40")));
    assert!(!rdata_check(Rtype::NSEC, &unhex("00 0000")));
    assert!(!rdata_check(Rtype::NSEC, &unhex("00 0002 4000")));
    assert!(!rdata_check(Rtype::NSEC, &unhex("00 0021 40000000000000000000000000000000000000000000000000000000000000000001")));
}

/// After RFC 4034 §5.4 (DS), RFC 8078 §4 (CDS delete), RFC 4431 (DLV).
#[test]
fn rfc4034_5_4_ds() {
    let hex = "ec45 05 01 2bb183af5f22588179a53b0a98631fad1a292118";
    let printed = "60485 5 1 2BB183AF5F22588179A53B0A98631FAD1A292118";
    for rtype in [Rtype::DS, Rtype::CDS, Rtype::DLV] {
        golden(rtype, "60485 5 1 ( 2BB183AF5F22588179A53B0A 98631FAD1A292118 )", hex, printed);
    }
    golden(Rtype::CDS, "0 0 0 00", "0000 00 00 00", "0 0 0 00");
    assert!(parse(Rtype::DS, "60485 5 1 2BB183AF5F2").unwrap_err().0.starts_with("DS digest: odd number"));
    assert!(parse(Rtype::DS, "60485 5 1 XX").unwrap_err().0.starts_with("DS digest: invalid hex"));
}

/// After RFC 5155 Appendix A: an NSEC3 of the example zone and the NSEC3PARAM.
#[test]
fn rfc5155_appendix_a_nsec3() {
    golden(
        Rtype::NSEC3,
        "1 1 12 aabbccdd ( 2t7b4g4vsa5smi47k61mv5bv1a22bojr MX DNSKEY NS SOA NSEC3PARAM RRSIG )",
        "01 01 000c 04 aabbccdd 14 174eb2409fe28bcb4887a1836f957f0a8425e27b 0007 22010000000290",
        "1 1 12 AABBCCDD 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR NS SOA MX RRSIG DNSKEY NSEC3PARAM",
    );
    golden(
        Rtype::NSEC3,
        "1 0 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR",
        "01 00 0000 00 14 174eb2409fe28bcb4887a1836f957f0a8425e27b",
        "1 0 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR",
    );
    golden(Rtype::NSEC3PARAM, "1 0 12 aabbccdd", "01 00 000c 04 aabbccdd", "1 0 12 AABBCCDD");
    golden(Rtype::NSEC3PARAM, "1 0 0 -", "01 00 0000 00", "1 0 0 -");
    assert!(parse(Rtype::NSEC3, "1 0 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJ!").is_err());
    assert!(parse(Rtype::NSEC3PARAM, "1 0 65536 -").is_err());
    assert!(!rdata_check(Rtype::NSEC3, &unhex("01 00 0000 00 00")));
}

/// After RFC 4255 §3.3 (SSHFP), RFC 6698 §2.3 (TLSA, also SMIMEA per RFC 8162), RFC 8976
/// Appendix A.1 (ZONEMD), RFC 7477 §2.1.1 (CSYNC).
#[test]
fn hex_and_bitmap_types() {
    golden(
        Rtype::SSHFP,
        "2 1 123456789abcdef67890123456789abcdef67890",
        "02 01 123456789abcdef67890123456789abcdef67890",
        "2 1 123456789ABCDEF67890123456789ABCDEF67890",
    );
    let tlsa = "00 00 01 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971";
    let printed = "0 0 1 D2ABDE240D7CD3EE6B4B28C54DF034B97983A1D16E8A410E4561CB106618E971";
    golden(Rtype::TLSA, "0 0 1 d2abde240d7cd3ee6b4b28c54df034b9 7983a1d16e8a410e4561cb106618e971", tlsa, printed);
    golden(Rtype::SMIMEA, "0 0 1 d2abde240d7cd3ee6b4b28c54df034b9 7983a1d16e8a410e4561cb106618e971", tlsa, printed);
    golden(
        Rtype::ZONEMD,
        "2018031900 1 1 ( c68090d90a7aed71 6bc459f9340e3d7c 1370d4d24b7e2fc3 a1ddc0b9a87153b9 a9713b3c9ae5cc27 777f98b8e730044c )",
        "7848b91c 01 01 c68090d90a7aed716bc459f9340e3d7c1370d4d24b7e2fc3a1ddc0b9a87153b9a9713b3c9ae5cc27777f98b8e730044c",
        "2018031900 1 1 C68090D90A7AED716BC459F9340E3D7C1370D4D24B7E2FC3A1DDC0B9A87153B9A9713B3C9AE5CC27777F98B8E730044C",
    );
    golden(Rtype::CSYNC, "66 3 A NS AAAA", "00000042 0003 0004 60000008", "66 3 A NS AAAA");
}

/// After RFC 8945 §4.2: TSIG as dig prints it.
#[test]
fn rfc8945_4_2_tsig() {
    golden(
        Rtype::TSIG,
        "hmac-sha256. 1700000000 300 32 AAECAwQFBgcICQoLDA0ODxAREhMU FRYXGBkaGxwdHh8= 4660 NOERROR 0",
        "0b686d61632d736861323536 00 00006553f100 012c 0020 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f 1234 0000 0000",
        "hmac-sha256. 1700000000 300 32 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= 4660 NOERROR 0",
    );
    golden(
        Rtype::TSIG,
        "hmac-sha1. 1700000000 300 0 4660 BADTIME 6 AABlU/EA",
        "09686d61632d73686131 00 00006553f100 012c 0000 1234 0012 0006 00006553f100",
        "hmac-sha1. 1700000000 300 0 4660 BADTIME 6 AABlU/EA",
    );
    golden(Rtype::TSIG, "a. 281474976710655 0 0 0 99 0", "0161 00 ffffffffffff 0000 0000 0000 0063 0000", "a. 281474976710655 0 0 0 99 0");
    assert!(parse(Rtype::TSIG, "a. 281474976710656 0 0 0 0 0").is_err());
    assert!(parse(Rtype::TSIG, "a. 0 0 4 AAAA 0 0 0").unwrap_err().0.starts_with("TSIG MAC:"));
}

/// After RFC 1876 §3 (LOC), with the default horizontal and vertical precision.
#[test]
fn rfc1876_3_loc() {
    golden(Rtype::LOC, "42 21 54 N 71 06 18 W -24m 30m", "0033161389172dd070be15f000988d20", "42 21 54.000 N 71 6 18.000 W -24.00m 30m 10000m 10m");
    let wire = parse(Rtype::LOC, "52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m").unwrap();
    assert_eq!(print(Rtype::LOC, &wire), "52 22 23.000 N 4 53 32.000 E -2.00m 0m 10000m 10m");
    let wire = parse(Rtype::LOC, "0 S 180 E 0 1 2 3").unwrap();
    assert_eq!(print(Rtype::LOC, &wire), "0 0 0.000 N 180 0 0.000 E 0.00m 1m 2m 3m");
    let wire = parse(Rtype::LOC, "90 S 180 W 42849672.95m 90000000m 0.01 0.5m").unwrap();
    assert_eq!(print(Rtype::LOC, &wire), "90 0 0.000 S 180 0 0.000 W 42849672.95m 90000000m 0.01m 0.50m");
    for bad in [
        "91 N 0 E 0",
        "90 1 N 0 E 0",
        "42 60 N 0 E 0",
        "42 N 181 E 0",
        "42 N 0 E",
        "42 X 0 E 0",
        "1 2 3 4 N 0 E 0",
        "0 N 0 E -100000.01m",
        "0 N 0 E 0 90000000.01m",
    ] {
        assert!(parse(Rtype::LOC, bad).is_err(), "{bad}");
    }
    assert_eq!(print(Rtype::LOC, &unhex("0133161389172dd070be15f000988d20")), r"\# 16 0133161389172DD070BE15F000988D20");
    assert!(!rdata_check(Rtype::LOC, &unhex("003a161389172dd070be15f000988d20")));
}

/// After RFC 4025 §3: the IPSECKEY examples.
#[test]
fn rfc4025_3_ipseckey() {
    let key = "AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ==";
    let key_hex = "010351537986ed35533b6064478eeeb27b5bd74dae149b6e81ba3a0521af82ab7801";
    golden(Rtype::IPSECKEY, &format!("10 1 2 192.0.2.38 {key}"), &format!("0a0102 c0000226 {key_hex}"), &format!("10 1 2 192.0.2.38 {key}"));
    golden(Rtype::IPSECKEY, &format!("10 0 2 . {key}"), &format!("0a0002 {key_hex}"), &format!("10 0 2 . {key}"));
    golden(Rtype::IPSECKEY, "10 1 2 192.0.2.3", "0a0102 c0000203", "10 1 2 192.0.2.3");
    golden(
        Rtype::IPSECKEY,
        &format!("10 3 2 mygateway.example.com. {key}"),
        &format!("0a0302 096d7967617465776179 076578616d706c65 03636f6d 00 {key_hex}"),
        &format!("10 3 2 mygateway.example.com. {key}"),
    );
    golden(
        Rtype::IPSECKEY,
        &format!("10 2 2 2001:0DB8:0:8002::2000:1 {key}"),
        &format!("0a0202 20010db8000080020000000020000001 {key_hex}"),
        &format!("10 2 2 2001:db8:0:8002::2000:1 {key}"),
    );
    assert!(parse(Rtype::IPSECKEY, "10 4 2 . AA==").is_err());
    assert!(parse(Rtype::IPSECKEY, "10 0 2 a. AA==").is_err());
    assert!(!rdata_check(Rtype::IPSECKEY, &unhex("0a0402")));
    assert!(!rdata_check(Rtype::IPSECKEY, &unhex("0a0102c00002")));
}

/// After RFC 3123 §5: the APL examples.
#[test]
fn rfc3123_5_apl() {
    golden(Rtype::APL, "1:192.168.32.0/21 !1:192.168.38.0/28", "0001 15 03 c0a820 0001 1c 83 c0a826", "1:192.168.32.0/21 !1:192.168.38.0/28");
    golden(Rtype::APL, "1:224.0.0.0/4 2:FF00:0:0:0:0:0:0:0/8", "0001 04 01 e0 0002 08 01 ff", "1:224.0.0.0/4 2:ff00::/8");
    golden(Rtype::APL, "1:0.0.0.0/0", "0001 00 00", "1:0.0.0.0/0");
    assert_eq!(print(Rtype::APL, &[]), r"\# 0");
    assert!(parse(Rtype::APL, "3:1.2.3.4/8").is_err());
    assert!(parse(Rtype::APL, "1:1.2.3.4/33").is_err());
    assert!(!rdata_check(Rtype::APL, &unhex("0001 08 02 0a00")));
}

/// RFC 1035 §3.4.2 WKS, ports as numbers.
#[test]
fn rfc1035_3_4_2_wks() {
    golden(Rtype::WKS, "10.0.0.1 TCP 21 23 25", "0a000001 06 00000540", "10.0.0.1 6 21 23 25");
    golden(Rtype::WKS, "10.0.0.1 17", "0a000001 11", "10.0.0.1 17");
    assert!(parse(Rtype::WKS, "10.0.0.1 tcp 65536").is_err());
    assert!(!rdata_check(Rtype::WKS, &unhex("0a000001 06 0000")));
}
