use super::*;
use portcullis_wire::message::Message;

const SECRET: &[u8] = b"a secret of thirty-two octets!!!";
const NOW: u64 = 1_796_000_000;

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

fn keyring() -> Keyring {
    Keyring::new(vec![TsigKey::new(&name("Xfr.Key."), Algorithm::HmacSha256, SECRET), TsigKey::new(&name("other."), Algorithm::HmacSha1, b"x")])
}

/// A query for `example. SOA` (ID 0x4242, no additional records).
fn query() -> Vec<u8> {
    let mut bytes = vec![0x42, 0x42, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    bytes.extend_from_slice(name("example.").as_wire());
    bytes.extend_from_slice(&[0, 6, 0, 1]);
    bytes
}

/// The TSIG variables of RFC 8945 §4.3.3, written out here independently of the code under test.
fn variables(key: &str, algorithm: &str, time: u64, fudge: u16) -> Vec<u8> {
    let mut out = name(key).to_lowercase().as_wire().to_vec();
    out.extend_from_slice(&[0, 255, 0, 0, 0, 0]);
    out.extend_from_slice(name(algorithm).as_wire());
    out.extend_from_slice(&time.to_be_bytes()[2..]);
    out.extend_from_slice(&fudge.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

/// `message` signed as a client signs it, with the MAC cut to `mac_len` octets.
fn signed(message: &[u8], key: &str, algorithm: &str, secret: &[u8], time: u64, mac_len: usize) -> (Vec<u8>, Vec<u8>) {
    let ring = match algorithm {
        "hmac-sha1." => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        _ => hmac::HMAC_SHA256,
    };
    let mut covered = message.to_vec();
    covered.extend(variables(key, algorithm, time, 300));
    let mac = hmac::sign(&hmac::Key::new(ring, secret), &covered);
    let mac = &mac.as_ref()[..mac_len];
    let mut rdata = name(algorithm).as_wire().to_vec();
    rdata.extend_from_slice(&time.to_be_bytes()[2..]);
    rdata.extend_from_slice(&300u16.to_be_bytes());
    rdata.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    rdata.extend_from_slice(mac);
    rdata.extend_from_slice(&[message[0], message[1], 0, 0, 0, 0]);
    let mut out = message.to_vec();
    out[11] += 1;
    out.extend_from_slice(name(key).as_wire());
    out.extend_from_slice(&[0, 250, 0, 255, 0, 0, 0, 0]);
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
    (out, mac.to_vec())
}

fn check(bytes: &[u8], now: u64) -> Checked {
    let message = Message::parse(bytes).unwrap();
    let offset = message.tsig_offset().unwrap();
    let tsig = Tsig::parse(bytes, offset).unwrap();
    keyring().check(bytes, offset, &tsig, now)
}

#[test]
fn a_request_signed_with_a_known_key_verifies_in_any_case_of_its_name() {
    let (bytes, _) = signed(&query(), "xfr.KEY.", "hmac-sha256.", SECRET, NOW, 32);
    assert!(matches!(check(&bytes, NOW), Checked::Signed(signer) if signer.error == 0));
    // Truncated to half the digest (16 octets): allowed by RFC 8945 §5.2.2.1 but shorter than
    // the key's local minimum (the whole digest): BADTRUNC, signed.
    let (bytes, _) = signed(&query(), "xfr.key.", "hmac-sha256.", SECRET, NOW, 16);
    assert!(matches!(check(&bytes, NOW), Checked::Signed(signer) if signer.error == error::BADTRUNC));
    // A key whose local minimum is 16 octets accepts it.
    let truncating = Keyring::new(vec![TsigKey::new(&name("xfr.key."), Algorithm::HmacSha256, SECRET).with_min_mac_len(16)]);
    let message = Message::parse(&bytes).unwrap();
    let offset = message.tsig_offset().unwrap();
    let checked = truncating.check(&bytes, offset, &Tsig::parse(&bytes, offset).unwrap(), NOW);
    assert!(matches!(checked, Checked::Signed(signer) if signer.error == 0));
}

#[test]
fn the_local_minimum_is_held_within_what_the_rfc_allows() {
    let key = |len| TsigKey::new(&name("k."), Algorithm::HmacSha256, SECRET).with_min_mac_len(len).min_mac_len();
    assert_eq!((key(0), key(16), key(20), key(99)), (16, 16, 20, 32));
    assert_eq!(TsigKey::new(&name("k."), Algorithm::HmacSha1, SECRET).with_min_mac_len(0).min_mac_len(), 10, "SHA-1: 10 octets, not half of 20");
}

#[test]
fn unknown_keys_and_algorithms_are_badkey_and_bad_macs_badsig() {
    let (bytes, _) = signed(&query(), "nobody.", "hmac-sha256.", SECRET, NOW, 32);
    assert!(matches!(check(&bytes, NOW), Checked::Unsigned(error::BADKEY)));
    // The right name with another algorithm than the key's.
    let (bytes, _) = signed(&query(), "other.", "hmac-sha256.", b"x", NOW, 32);
    assert!(matches!(check(&bytes, NOW), Checked::Unsigned(error::BADKEY)));
    let (bytes, _) = signed(&query(), "xfr.key.", "hmac-sha256.", b"the wrong secret", NOW, 32);
    assert!(matches!(check(&bytes, NOW), Checked::Unsigned(error::BADSIG)));
    // One bit of the signed message changed.
    let (mut bytes, _) = signed(&query(), "xfr.key.", "hmac-sha256.", SECRET, NOW, 32);
    bytes[3] ^= 0x10;
    assert!(matches!(check(&bytes, NOW), Checked::Unsigned(error::BADSIG)));
    // The SHA-1 key verifies with its own algorithm.
    let (bytes, _) = signed(&query(), "other.", "hmac-sha1.", b"x", NOW, 20);
    assert!(matches!(check(&bytes, NOW), Checked::Signed(_)));
}

#[test]
fn macs_too_long_or_too_short_are_formerr() {
    for len in [9, 10, 15] {
        let (bytes, _) = signed(&query(), "xfr.key.", "hmac-sha256.", SECRET, NOW, len);
        assert!(matches!(check(&bytes, NOW), Checked::FormErr), "{len} octets");
    }
    let (mut bytes, _) = signed(&query(), "xfr.key.", "hmac-sha256.", SECRET, NOW, 32);
    // 33 octets claimed by MAC size and rdata length (the parse must still succeed).
    let message = Message::parse(&bytes).unwrap();
    let offset = message.tsig_offset().unwrap();
    let mac_size_at = offset + name("xfr.key.").len() + 10 + name("hmac-sha256.").len() + 8;
    bytes[mac_size_at + 1] = 33;
    bytes.insert(mac_size_at + 2 + 32, 0);
    let rdlength_at = offset + name("xfr.key.").len() + 8;
    bytes[rdlength_at + 1] += 1;
    assert!(matches!(check(&bytes, NOW), Checked::FormErr));
}

#[test]
fn outside_the_fudge_is_badtime_signed_with_our_time() {
    let (bytes, _) = signed(&query(), "xfr.key.", "hmac-sha256.", SECRET, NOW - 301, 32);
    let Checked::Signed(mut signer) = check(&bytes, NOW) else { panic!("BADTIME is signed") };
    assert_eq!(signer.error, error::BADTIME);
    let mut out = query();
    out[2] |= 0x80;
    let len = out.len();
    out.resize(len + signer.record_len(), 0);
    let end = signer.sign(&mut out, len, NOW).unwrap();
    assert_eq!(end, out.len(), "record_len is exact");
    let reply = Tsig::parse(&out, len).unwrap();
    assert_eq!((reply.error, reply.time_signed, reply.other), (error::BADTIME, NOW - 301, &NOW.to_be_bytes()[2..]));
    // Within the fudge, on either side: no error.
    for time in [NOW - 300, NOW + 300] {
        let (bytes, _) = signed(&query(), "xfr.key.", "hmac-sha256.", SECRET, time, 32);
        assert!(matches!(check(&bytes, NOW), Checked::Signed(signer) if signer.error == 0), "{time}");
    }
}

#[test]
fn the_reply_is_signed_over_the_request_mac_and_the_next_message_over_the_reply_mac() {
    let (bytes, request_mac) = signed(&query(), "xfr.key.", "hmac-sha256.", SECRET, NOW, 32);
    let Checked::Signed(mut signer) = check(&bytes, NOW) else { panic!("verified") };
    let mut reply = query();
    reply[2] |= 0x84;
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET);
    let mut first = reply.clone();
    first.resize(reply.len() + signer.record_len(), 0);
    signer.sign(&mut first, reply.len(), NOW + 1).unwrap();
    let record = Tsig::parse(&first, reply.len()).unwrap();
    assert_eq!(u16::from_be_bytes([first[10], first[11]]), 1, "ARCOUNT counts the TSIG record");
    let mut covered = (request_mac.len() as u16).to_be_bytes().to_vec();
    covered.extend_from_slice(&request_mac);
    covered.extend_from_slice(&reply);
    covered.extend(variables("xfr.key.", "hmac-sha256.", NOW + 1, 300));
    assert!(hmac::verify(&key, &covered, record.mac).is_ok(), "RFC 8945 §4.3.3");
    // The next message of a transfer: the prior MAC, the message, the timers only.
    let mut second = reply.clone();
    second.resize(reply.len() + signer.record_len(), 0);
    signer.sign(&mut second, reply.len(), NOW + 2).unwrap();
    let next = Tsig::parse(&second, reply.len()).unwrap();
    let mut covered = (record.mac.len() as u16).to_be_bytes().to_vec();
    covered.extend_from_slice(record.mac);
    covered.extend_from_slice(&reply);
    covered.extend_from_slice(&(NOW + 2).to_be_bytes()[2..]);
    covered.extend_from_slice(&300u16.to_be_bytes());
    assert!(hmac::verify(&key, &covered, next.mac).is_ok(), "RFC 8945 §5.3.1");
    // No room: nothing written.
    let mut small = reply.clone();
    assert!(signer.sign(&mut small, reply.len(), NOW).is_none());
}

#[test]
fn algorithms_are_named_as_iana_names_them() {
    assert_eq!(Algorithm::from_text("HMAC-SHA256"), Some(Algorithm::HmacSha256));
    assert_eq!(Algorithm::from_text("hmac-sha512."), Some(Algorithm::HmacSha512));
    assert_eq!(Algorithm::from_text("hmac-md5"), None, "not provided by ring");
    assert_eq!(Algorithm::ALL.map(Algorithm::digest_len), [20, 32, 48, 64]);
    assert_eq!(Algorithm::HmacSha384.name().to_string(), "hmac-sha384.");
}

#[test]
fn a_mac_matches_only_the_first_octets_of_the_computed_one() {
    use super::mac_matches;
    let computed: Vec<u8> = (1..=32).collect();
    assert!(mac_matches(&computed, &computed));
    assert!(mac_matches(&computed, &computed[..16]));
    let mut wrong = computed[..16].to_vec();
    wrong[15] ^= 1;
    assert!(!mac_matches(&computed, &wrong));
    assert!(!mac_matches(&computed, &computed[1..17]));
    let longer: Vec<u8> = (1..=33).collect();
    assert!(!mac_matches(&computed, &longer));
}
