//! SECURITY-REFERENCE §6.3: EDNS.

use crate::*;
#[test]
fn row29_two_opt_records_are_formerr() {
    let reply = assert_error_with_question(&www().edns(Opt::new(1232)).edns(Opt::new(1232)), Transport::Udp, FORMERR);
    assert!(reply.opt().is_none(), "the OPT did not parse, so none is sent back");
}

#[test]
fn row30_opt_outside_the_additional_section_is_formerr() {
    let opt = Opt::new(1232).record();
    assert_error_with_question(&www().record(Section::Answer, &opt), Transport::Udp, FORMERR);
    assert_error_with_question(&www().record(Section::Authority, &opt), Transport::Udp, FORMERR);
}

#[test]
fn row31_opt_owner_other_than_root_is_formerr() {
    let mut opt = Opt::new(1232);
    opt.owner = wire("a.");
    assert_error_with_question(&www().edns(opt), Transport::Udp, FORMERR);
}

/// `www()` with EDNS version 1.
fn version_one() -> Query {
    let mut opt = Opt::new(4096);
    opt.version = 1;
    www().edns(opt)
}

#[test]
fn row32_edns_version_1_gets_badvers() {
    let engine = tricky();
    let bytes = version_one().build();
    let reply = ask_raw(&engine, &bytes, Transport::Udp);
    reply.assert_error(&bytes, BADVERS);
    assert_eq!(reply.header_rcode(), 0, "BADVERS (16) leaves 0 in the header");
    let opt = reply.opt().expect("BADVERS travels in OPT");
    assert_eq!(opt, OptView { udp: 1232, ext_rcode: 1, version: 0, flags: 0, options: vec![] });
    assert_eq!(reply.counts()[1..], [0, 0, 1]);
    assert_still_serves(&engine);
}

#[test]
fn row32_badvers_echoes_the_question() {
    let query = version_one();
    let reply = udp(&tricky(), &query);
    assert_eq!(reply.rcode(), BADVERS);
    assert_eq!(reply.counts()[0], 1);
    assert_eq!(reply.question_bytes(), query.questions);
}

#[test]
fn row32_badvers_still_returns_nsid() {
    let engine = tricky_with(EngineSettings { nsid: Some(b"ns-a".to_vec()), ..EngineSettings::default() });
    let mut opt = Opt::new(1232).with(code::NSID, &[]);
    opt.version = 1;
    let reply = udp(&engine, &www().edns(opt));
    assert_eq!(reply.rcode(), BADVERS);
    assert_eq!(reply.opt().expect("OPT").options, vec![(code::NSID, b"ns-a".to_vec())]);
}

#[test]
fn row33_option_overrunning_the_opt_rdata_is_formerr() {
    let mut opt = Opt::new(1232);
    opt.options = vec![0, 3, 0, 9, 1, 2];
    assert_error_with_question(&www().edns(opt), Transport::Udp, FORMERR);
    let mut opt = Opt::new(1232).with(code::NSID, &[]);
    opt.options.extend_from_slice(&[0, 10]);
    assert_error_with_question(&www().edns(opt), Transport::Udp, FORMERR);
}

#[test]
fn row34_unknown_options_are_ignored_and_not_echoed() {
    let engine = tricky();
    let reply = udp(&engine, &www().edns(Opt::new(1232).with(65_001, b"hello").with(20, &[])));
    assert_eq!(reply.rcode(), 0);
    assert_eq!(reply.answer(), ["www.tricky.test. 120 IN A 192.0.2.80"]);
    assert_eq!(reply.opt().expect("OPT").options, vec![]);
}

#[test]
fn row35_unknown_edns_flags_are_ignored_and_not_echoed() {
    let engine = tricky();
    let mut opt = Opt::new(1232);
    opt.flags = 0x7FFF;
    let reply = udp(&engine, &www().edns(opt.clone()));
    assert_eq!(reply.rcode(), 0);
    assert_eq!(reply.opt().expect("OPT").flags, 0);
    opt.flags = 0xFFFF;
    let reply = udp(&engine, &www().edns(opt));
    assert_eq!(reply.opt().expect("OPT").flags, 0x8000, "only DO is echoed");
}

#[test]
fn row36_edns_udp_size_below_512_is_treated_as_512() {
    // medium.tricky.test. TXT is about 700 bytes: over 512, under 1232.
    let engine = tricky();
    for size in [0u16, 1, 100, 511, 512] {
        let reply = udp(&engine, &Query::new("medium.tricky.test.", Rtype::TXT).edns(Opt::new(size)));
        assert!(reply.tc(), "size {size}: a reply over 512 must be truncated");
        assert!(reply.bytes.len() <= 512, "size {size}: {} bytes", reply.bytes.len());
        assert!(reply.bytes.len() >= 12 + 24 + 11, "size {size}: header, question and OPT are kept");
        assert_eq!(reply.answer(), Vec::<String>::new(), "size {size}");
        assert_eq!(reply.opt().expect("OPT").udp, 1232, "size {size}: we still advertise our size");
    }
    let reply = udp(&engine, &Query::new("medium.tricky.test.", Rtype::TXT).edns(Opt::new(1232)));
    assert!(!reply.tc() && reply.bytes.len() > 512);
    assert_eq!(reply.answer().len(), 6);
}

/// `count` options of `code` with `data`, as an option area.
fn repeated(code: u16, data: &[u8], count: usize) -> Vec<u8> {
    (0..count).flat_map(|_| option(code, data)).collect()
}

#[test]
fn row37_ten_thousand_tiny_options_are_formerr_in_bounded_time() {
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut opt = Opt::new(1232);
        opt.options = repeated(65_001, &[], 10_000);
        let started = Instant::now();
        assert_error_with_question(&www().edns(opt), transport, FORMERR);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

#[test]
fn row37_repeated_cookie_nsid_and_padding_options_are_bounded() {
    let engine = tricky_with(EngineSettings { nsid: Some(b"ns-a".to_vec()), ..EngineSettings::default() });
    // Within the parser's cap of 64 options: answered, one NSID back, nothing else echoed.
    let mut opt = Opt::new(1232);
    opt.options = repeated(code::COOKIE, &[7; 8], 20);
    opt.options.extend(repeated(code::NSID, &[], 20));
    opt.options.extend(repeated(code::PADDING, &[0; 16], 20));
    let reply = udp(&engine, &www().edns(opt));
    assert_eq!(reply.rcode(), 0);
    assert_eq!(reply.answer(), ["www.tricky.test. 120 IN A 192.0.2.80"]);
    assert_eq!(reply.opt().expect("OPT").options, vec![(code::NSID, b"ns-a".to_vec())]);
    // Far beyond it: FORMERR, whatever the option.
    for (option_code, data) in [(code::COOKIE, &[7u8; 8][..]), (code::NSID, &[][..]), (code::PADDING, &[0u8; 4][..])] {
        let mut opt = Opt::new(1232);
        opt.options = repeated(option_code, data, 1_000);
        let bytes = www().edns(opt).build();
        let reply = ask_raw(&engine, &bytes, Transport::Tcp);
        reply.assert_error(&bytes, FORMERR);
    }
    assert_still_serves(&engine);
}

#[test]
fn row38_cookie_of_a_bad_length_is_formerr() {
    let bad = (0..=7).chain(9..=15).chain([41, 42, 64]);
    for len in bad {
        let query = www().edns(Opt::new(1232).with(code::COOKIE, &vec![0xAB; len]));
        assert_error_with_question(&query, Transport::Udp, FORMERR);
    }
    let engine = tricky();
    for len in [8, 16, 24, 40] {
        let reply = udp(&engine, &www().edns(Opt::new(1232).with(code::COOKIE, &vec![0xAB; len])));
        assert_eq!(reply.rcode(), 0, "cookie of {len} bytes is valid");
    }
}

#[test]
fn row40_malformed_client_subnet_is_formerr() {
    let bad: [(&str, &[u8]); 8] = [
        ("IPv4 source prefix 33", &[0, 1, 33, 0, 192, 0, 2, 1, 0]),
        ("address longer than the prefix", &[0, 1, 24, 0, 192, 0, 2, 1]),
        ("address shorter than the prefix", &[0, 1, 24, 0, 192, 0]),
        ("bits set beyond the prefix", &[0, 1, 23, 0, 192, 0, 3]),
        ("family 0 with a prefix", &[0, 0, 1, 0, 0]),
        ("unknown family", &[0, 3, 0, 0]),
        ("IPv6 source prefix 129", &[0, 2, 129, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("shorter than the fixed part", &[0, 1, 24]),
    ];
    for (label, data) in bad {
        let query = www().edns(Opt::new(1232).with(code::CLIENT_SUBNET, data));
        let engine = tricky();
        let bytes = query.build();
        let reply = ask_raw(&engine, &bytes, Transport::Udp);
        assert_eq!(reply.rcode(), FORMERR, "{label}");
        reply.assert_error(&bytes, FORMERR);
    }
    let reply = udp(&tricky(), &www().edns(Opt::new(1232).with(code::CLIENT_SUBNET, &[0, 1, 24, 0, 192, 0, 2])));
    assert_eq!(reply.rcode(), 0, "a well-formed ECS option is accepted");
}

#[test]
fn row41_tcp_keepalive_without_timeout_is_accepted_and_ignored_over_udp() {
    let engine = tricky();
    // RFC 7828 §3.2.1: queries carry OPTION-LENGTH 0.
    let reply = tcp(&engine, &www().edns(Opt::new(1232).with(code::TCP_KEEPALIVE, &[])));
    assert_eq!(reply.rcode(), 0);
    // Over UDP the option is ignored, even with a TIMEOUT.
    let reply = udp(&engine, &www().edns(Opt::new(1232).with(code::TCP_KEEPALIVE, &[0, 100])));
    assert_eq!(reply.rcode(), 0);
    assert_eq!(reply.answer(), ["www.tricky.test. 120 IN A 192.0.2.80"]);
}

#[test]
fn row41_tcp_keepalive_with_timeout_over_tcp_is_formerr() {
    let query = www().edns(Opt::new(1232).with(code::TCP_KEEPALIVE, &[0, 100]));
    assert_error_with_question(&query, Transport::Tcp, FORMERR);
}

#[test]
fn row42_key_tag_and_expire_of_bad_lengths_are_formerr() {
    for data in [&[][..], &[1][..], &[1, 2, 3][..]] {
        assert_error_with_question(&www().edns(Opt::new(1232).with(code::KEY_TAG, data)), Transport::Udp, FORMERR);
    }
    for data in [&[1][..], &[1, 2][..], &[1, 2, 3][..], &[1, 2, 3, 4, 5][..], &[0; 8][..]] {
        assert_error_with_question(&www().edns(Opt::new(1232).with(code::EXPIRE, data)), Transport::Udp, FORMERR);
    }
    let engine = tricky();
    for (option_code, data) in
        [(code::KEY_TAG, &[0x4f, 0x66][..]), (code::KEY_TAG, &[0, 1, 0, 2][..]), (code::EXPIRE, &[][..]), (code::EXPIRE, &[0, 0, 0, 1][..])]
    {
        let reply = udp(&engine, &www().edns(Opt::new(1232).with(option_code, data)));
        assert_eq!(reply.rcode(), 0, "option {option_code} of {} bytes is valid", data.len());
    }
}

/// The `tricky.test.` engine with server cookies on (RFC 9018, a fixed secret).
fn tricky_with_cookies() -> portcullis_engine::Engine {
    use portcullis_engine::policy::cookies::{CookieSettings, Cookies};
    let policy = portcullis_engine::engine::Policy {
        cookies: Some(Cookies::new(CookieSettings::DEFAULT, [0x42; 16], None)),
        ..portcullis_engine::engine::Policy::defaults()
    };
    let counters = std::sync::Arc::new(portcullis_engine::metrics::EngineCounters::default());
    portcullis_engine::Engine::with_policy(tricky().zones().clone(), EngineSettings::default(), counters, policy)
}

/// The COOKIE option of a reply: the client's 8 bytes, then the server's 16 (RFC 9018).
fn reply_cookie(reply: &Reply) -> Option<Vec<u8>> {
    reply.opt()?.options.into_iter().find(|(option, _)| *option == code::COOKIE).map(|(_, data)| data)
}

#[test]
fn row32_badvers_still_returns_the_cookie() {
    let mut opt = Opt::new(1232).with(code::COOKIE, b"clientck");
    opt.version = 1;
    let reply = udp(&tricky_with_cookies(), &www().edns(opt));
    assert_eq!(reply.rcode(), BADVERS);
    let cookie = reply_cookie(&reply).expect("a COOKIE option");
    assert_eq!((cookie.len(), &cookie[..8]), (24, &b"clientck"[..]), "client cookie echoed, server cookie added");
}

#[test]
fn row39_a_forged_or_stale_server_cookie_gets_an_answer_and_a_fresh_cookie() {
    let engine = tricky_with_cookies();
    // A server cookie the server never made: version 1, reserved, a timestamp, a wrong hash.
    let mut forged = b"clientck".to_vec();
    forged.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 1, 0xDE, 0xAD, 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF]);
    let reply = udp(&engine, &www().edns(Opt::new(1232).with(code::COOKIE, &forged)));
    assert_eq!(reply.rcode(), 0, "answered as a client-only cookie, not BADCOOKIE");
    assert_eq!(reply.answer(), ["www.tricky.test. 120 IN A 192.0.2.80"]);
    let fresh = reply_cookie(&reply).expect("a COOKIE option");
    assert_eq!((fresh.len(), &fresh[..8]), (24, &b"clientck"[..]));
    assert_ne!(fresh, forged, "a fresh server cookie, not the forged one");
}
