use super::*;
use portcullis_wire::rdata::{rdata_from_text, Token};

fn name(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

fn rdata(rtype: Rtype, text: &str) -> Vec<u8> {
    let tokens: Vec<Token<'_>> = text.split_whitespace().map(|text| Token { text, quoted: false }).collect();
    let mut out = Vec::new();
    rdata_from_text(rtype, &tokens, &NameBuf::ROOT, &mut out).unwrap();
    out
}

/// The owners of RFC 5155 Appendix A's zone `example.`, hashed in its NSEC3 chain.
const RFC5155_OWNERS: [&str; 12] = [
    "example.",
    "a.example.",
    "ai.example.",
    "ns1.example.",
    "ns2.example.",
    "w.example.",
    "*.w.example.",
    "x.w.example.",
    "y.w.example.",
    "x.y.w.example.",
    "xx.example.",
    "2t7b4g4vsa5smi47k61mv5bv1a22bojr.example.",
];

#[test]
fn nsec3_chain_reproduces_rfc5155_appendix_a_apex_record() {
    let apex_types = vec![Rtype::NS, Rtype::SOA, Rtype::MX, Rtype::RRSIG, Rtype::DNSKEY, Rtype::NSEC3PARAM];
    let owners: Vec<(NameBuf, Vec<Rtype>)> = RFC5155_OWNERS.iter().map(|o| (name(o), if *o == "example." { apex_types.clone() } else { Vec::new() })).collect();
    let params = Nsec3Params { algorithm: 1, iterations: 12, salt: &[0xaa, 0xbb, 0xcc, 0xdd] };
    let chain = nsec3_chain(&name("example."), &params, OPT_OUT, &owners).unwrap();
    assert_eq!(chain.len(), 12);
    let apex = chain.iter().find(|(owner, _)| owner.to_string() == "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example.").unwrap();
    assert_eq!(apex.1, rdata(Rtype::NSEC3, "1 1 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr NS SOA MX RRSIG DNSKEY NSEC3PARAM"));
    // A ring in hash order: each record's next hash is the following owner's label.
    for (i, (_, rdata)) in chain.iter().enumerate() {
        let record = Nsec3::parse(rdata).unwrap();
        let following = &chain[(i + 1) % chain.len()].0;
        let label = following.labels().next().unwrap();
        assert_eq!(nsec3::base32hex_encode(record.next_hash).as_bytes(), label);
        assert_eq!((record.flags, record.params), (OPT_OUT, params));
    }
    assert_eq!(params.to_rdata(), rdata(Rtype::NSEC3PARAM, "1 0 12 aabbccdd"));
}

#[test]
fn nsec_chain_is_canonical_and_wraps_to_the_apex() {
    let owners = vec![(name("b.example."), vec![Rtype::A]), (name("example."), vec![Rtype::SOA, Rtype::NS]), (name("A.example."), vec![Rtype(65280)])];
    let chain = nsec_chain(&owners);
    let order: Vec<String> = chain.iter().map(|(owner, _)| owner.to_string()).collect();
    assert_eq!(order, ["example.", "A.example.", "b.example."]);
    let last = Nsec::parse(&chain[2].1).unwrap();
    assert_eq!(last.next, name("example."));
    assert_eq!(bitmap::decode(last.bitmap).unwrap(), [Rtype::A, Rtype::RRSIG, Rtype::NSEC]);
    let first = Nsec::parse(&chain[0].1).unwrap();
    assert_eq!(first.next.as_wire(), name("A.example.").as_wire());
    assert!(bitmap::contains(Nsec::parse(&chain[1].1).unwrap().bitmap, Rtype(65280)));
}

#[test]
fn nsec3_coverage_wraps_and_excludes_the_ends() {
    assert!(nsec3_covers(&[2], &[5], &[3]));
    assert!(!nsec3_covers(&[2], &[5], &[2]) && !nsec3_covers(&[2], &[5], &[5]) && !nsec3_covers(&[2], &[5], &[6]));
    assert!(nsec3_covers(&[9], &[1], &[0]) && nsec3_covers(&[9], &[1], &[10]) && !nsec3_covers(&[9], &[1], &[5]));
}

#[test]
fn malformed_nsec3_rdata_is_refused() {
    for bad in [&[1u8, 0, 0, 0][..], &[1, 0, 0, 0, 4, 1], &[1, 0, 0, 0, 0, 0], &[1, 0, 0, 0, 0, 5, 1, 2]] {
        assert!(Nsec3::parse(bad).is_err(), "{bad:?}");
    }
    assert!(Nsec::parse(&[3, b'a']).is_err());
}
