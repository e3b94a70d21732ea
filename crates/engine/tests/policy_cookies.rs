//! DNS cookies: every RFC 9018 Appendix A vector, the time window of RFC 9018 §4.3, secret
//! rollover, and the server decision table of RFC 7873 §5.2.
//!
//! The vectors are copied from `/work/shared/vectors/dns-cookies-rfc9018.json` (RFC 9018
//! Appendix A, hashes recomputed there with an independent SipHash-2-4).

/// Named after the file, so that `cargo test -p portcullis-engine policy` selects these tests.
#[cfg(test)]
mod policy_cookies {
    use portcullis_engine::policy::cookies::{self, CookieAction, CookieSettings, CookieStatus, Cookies};
    use portcullis_engine::policy::rrl::QueryCookie;
    use portcullis_engine::Transport;
    use std::net::IpAddr;

    /// One vector of `dns-cookies-rfc9018.json`.
    struct Vector {
        name: &'static str,
        client_ip: &'static str,
        old_server_secret_hex: Option<&'static str>,
        server_secret_hex: &'static str,
        request_cookie_hex: &'static str,
        now: u64,
        response_cookie_hex: &'static str,
    }

    const VECTORS: [Vector; 4] = [
        Vector {
            name: "A.1 learning a new Server Cookie",
            client_ip: "198.51.100.100",
            old_server_secret_hex: None,
            server_secret_hex: "e5e973e5a6b2a43f48e7dc849e37bfcf",
            request_cookie_hex: "2464c4abcf10c957",
            now: 1559731985,
            response_cookie_hex: "2464c4abcf10c957010000005cf79f111f8130c3eee29480",
        },
        Vector {
            name: "A.2 same client, server renews an older (40 min) cookie",
            client_ip: "198.51.100.100",
            old_server_secret_hex: None,
            server_secret_hex: "e5e973e5a6b2a43f48e7dc849e37bfcf",
            request_cookie_hex: "2464c4abcf10c957010000005cf79f111f8130c3eee29480",
            now: 1559734385,
            response_cookie_hex: "2464c4abcf10c957010000005cf7a871d4a564a1442aca77",
        },
        Vector {
            name: "A.3 another client; request cookie has non-zero Reserved bytes",
            client_ip: "203.0.113.203",
            old_server_secret_hex: None,
            server_secret_hex: "e5e973e5a6b2a43f48e7dc849e37bfcf",
            request_cookie_hex: "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5",
            now: 1559734700,
            response_cookie_hex: "fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e",
        },
        Vector {
            name: "A.4 IPv6 client, secret rolled over",
            client_ip: "2001:db8:220:1:59de:d0f4:8769:82b8",
            old_server_secret_hex: Some("dd3bdf9344b678b185a6f5cb60fca715"),
            server_secret_hex: "445536bcd2513298075a5d379663c962",
            request_cookie_hex: "22681ab97d52c298010000005cf7c57926556bd0934c72f8",
            now: 1559741961,
            response_cookie_hex: "22681ab97d52c298010000005cf7c609a6bb79d16625507a",
        },
    ];

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    fn secret(text: &str) -> [u8; 16] {
        unhex(text).try_into().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn server(vector: &Vector) -> Cookies {
        Cookies::new(CookieSettings::DEFAULT, secret(vector.server_secret_hex), vector.old_server_secret_hex.map(secret))
    }

    fn client_part(option: &[u8]) -> [u8; 8] {
        option[..8].try_into().unwrap()
    }

    #[test]
    fn rfc9018_appendix_a_responses() {
        for vector in &VECTORS {
            let request = unhex(vector.request_cookie_hex);
            let outcome = server(vector).process(Some(&request), ip(vector.client_ip), Transport::Udp, vector.now);
            assert_eq!(outcome.action, CookieAction::Answer, "{}", vector.name);
            let reply = outcome.reply.unwrap();
            assert_eq!(reply.as_bytes(), unhex(vector.response_cookie_hex), "{}", vector.name);
            let minted = server(vector).mint(&client_part(&request), ip(vector.client_ip), vector.now);
            assert_eq!(minted[..], unhex(vector.response_cookie_hex)[8..], "{}", vector.name);
        }
    }

    #[test]
    fn rfc9018_appendix_a_request_statuses() {
        let status = |index: usize, now: u64| {
            let vector = &VECTORS[index];
            let request = unhex(vector.request_cookie_hex);
            server(vector).verify(&client_part(&request), &request[8..], ip(vector.client_ip), now)
        };
        assert_eq!(status(0, VECTORS[0].now), CookieStatus::Missing, "A.1: client cookie only");
        assert_eq!(status(1, VECTORS[1].now), CookieStatus::Renew, "A.2: valid, 40 min old");
        // A.3's cookie is 6715 s old when the RFC's example replies: authentic but past the hour
        // §4.3 allows, so it is renewed as if absent. Ten minutes after issue it verifies, with the
        // Reserved bytes hashed as received.
        assert_eq!(status(2, VECTORS[2].now), CookieStatus::Expired, "A.3 at reply time");
        assert_eq!(status(2, 1559727985 + 600), CookieStatus::Valid, "A.3 ten minutes after issue");
        assert_eq!(status(3, VECTORS[3].now), CookieStatus::Renew, "A.4: made with the previous secret");
    }

    #[test]
    fn rfc9018_4_3_previous_secret_accepted_only_when_configured() {
        let vector = &VECTORS[3];
        let request = unhex(vector.request_cookie_hex);
        let client = ip(vector.client_ip);
        let rolled = Cookies::new(CookieSettings::DEFAULT, secret(vector.server_secret_hex), None);
        assert_eq!(rolled.verify(&client_part(&request), &request[8..], client, vector.now), CookieStatus::Invalid);
        let old_only = Cookies::new(CookieSettings::DEFAULT, secret(vector.old_server_secret_hex.unwrap()), None);
        assert_eq!(old_only.verify(&client_part(&request), &request[8..], client, vector.now), CookieStatus::Valid);
        let outcome = server(vector).process(Some(&request), client, Transport::Udp, vector.now);
        assert_eq!(outcome.rrl_cookie(), QueryCookie::Verified);
    }

    fn fresh() -> (Cookies, [u8; 8], IpAddr) {
        (Cookies::new(CookieSettings::DEFAULT, [0x42; 16], None), *b"clientck", ip("192.0.2.10"))
    }

    #[test]
    fn rfc9018_4_3_time_window() {
        let (cookies, client, address) = fresh();
        let issued = 1_700_000_000;
        let cookie = cookies.mint(&client, address, issued);
        let at = |now| cookies.verify(&client, &cookie, address, now);
        assert_eq!(at(issued), CookieStatus::Valid);
        assert_eq!(at(issued + 1800), CookieStatus::Valid);
        assert_eq!(at(issued + 1801), CookieStatus::Renew, "older than half an hour");
        assert_eq!(at(issued + 3600), CookieStatus::Renew);
        assert_eq!(at(issued + 3601), CookieStatus::Expired, "older than an hour");
        assert_eq!(at(issued - 300), CookieStatus::Valid, "five minutes of clock skew");
        assert_eq!(at(issued - 301), CookieStatus::Future);
    }

    #[test]
    fn rfc9018_4_3_serial_arithmetic_across_the_wrap() {
        let (cookies, client, address) = fresh();
        let cookie = cookies.mint(&client, address, 0xFFFF_FFF0);
        assert_eq!(cookies.verify(&client, &cookie, address, 0x1_0000_0010), CookieStatus::Valid, "32 s later, past 2^32");
        assert_eq!(cookies.verify(&client, &cookie, address, 0xFFFF_FF00), CookieStatus::Valid, "240 s ahead: within skew");
    }

    #[test]
    fn rfc9018_4_2_tampering_is_invalid() {
        let (cookies, client, address) = fresh();
        let cookie = cookies.mint(&client, address, 5000);
        let mut reserved = cookie;
        reserved[2] ^= 1;
        let mut version = cookie;
        version[0] = 2;
        assert_eq!(cookies.verify(&client, &reserved, address, 5000), CookieStatus::Invalid, "Reserved bytes are hashed");
        assert_eq!(cookies.verify(&client, &version, address, 5000), CookieStatus::Invalid, "unknown version");
        assert_eq!(cookies.verify(&client, &cookie, ip("192.0.2.11"), 5000), CookieStatus::Invalid, "another client address");
        assert_eq!(cookies.verify(b"otherclt", &cookie, address, 5000), CookieStatus::Invalid, "another client cookie");
        assert_eq!(cookies.verify(&client, &cookie[..12], address, 5000), CookieStatus::Invalid, "not 16 bytes");
        assert_eq!(cookies.verify(&client, &[1; 7], address, 5000), CookieStatus::Malformed);
        assert_eq!(cookies.verify(&client, &[1; 33], address, 5000), CookieStatus::Malformed);
        assert_eq!(cookies.verify(&client, &cookie, ip("::ffff:192.0.2.10"), 5000), CookieStatus::Valid, "IPv4-mapped is IPv4");
    }

    #[test]
    fn rfc7873_5_2_decision_table() {
        use cookies::decide;
        use CookieAction::{Answer, BadCookie, FormErr, Ignore};
        for (transport, require) in [(Transport::Udp, false), (Transport::Udp, true), (Transport::Tcp, false), (Transport::Tcp, true)] {
            let unproven = if transport == Transport::Udp && require { BadCookie } else { Answer };
            assert_eq!(decide(None, transport, require), Ignore);
            assert_eq!(decide(Some(CookieStatus::Malformed), transport, require), FormErr);
            for status in [CookieStatus::Valid, CookieStatus::Renew] {
                assert_eq!(decide(Some(status), transport, require), Answer);
            }
            for status in [CookieStatus::Missing, CookieStatus::Invalid, CookieStatus::Expired, CookieStatus::Future] {
                assert_eq!(decide(Some(status), transport, require), unproven, "{status:?} {transport:?} {require}");
            }
        }
    }

    #[test]
    fn rfc7873_5_2_process_replies() {
        let (_, client, address) = fresh();
        let strict = Cookies::new(CookieSettings { require_cookie: true, ..CookieSettings::DEFAULT }, [0x42; 16], None);
        let now = 10_000;
        let no_option = strict.process(None, address, Transport::Udp, now);
        assert_eq!((no_option.action, no_option.reply, no_option.rrl_cookie()), (CookieAction::Ignore, None, QueryCookie::Absent));

        let malformed = strict.process(Some(&[1; 12]), address, Transport::Udp, now);
        assert_eq!((malformed.action, malformed.status, malformed.reply), (CookieAction::FormErr, Some(CookieStatus::Malformed), None));

        let only_client = strict.process(Some(&client), address, Transport::Udp, now);
        assert_eq!(only_client.action, CookieAction::BadCookie);
        assert_eq!(only_client.rrl_cookie(), QueryCookie::Unverified);
        let reply = only_client.reply.unwrap();
        assert_eq!(reply.as_bytes()[..8], client, "the client cookie is echoed");
        assert_eq!(reply.server_cookie(), strict.mint(&client, address, now), "with a fresh server cookie");
        assert_eq!(strict.process(Some(&client), address, Transport::Tcp, now).action, CookieAction::Answer, "§5.2.3: TCP is answered");

        let mut full = [0u8; 24];
        full[..8].copy_from_slice(&client);
        full[8..].copy_from_slice(&strict.mint(&client, address, now - 60));
        let valid = strict.process(Some(&full), address, Transport::Udp, now);
        assert_eq!((valid.action, valid.status), (CookieAction::Answer, Some(CookieStatus::Valid)));
        assert_eq!(valid.reply.unwrap().as_bytes(), full, "a young cookie is echoed unchanged");
        let renewed = strict.process(Some(&full), address, Transport::Udp, now + 2000).reply.unwrap();
        assert_eq!(renewed.server_cookie(), strict.mint(&client, address, now + 2000), "an old one is renewed");
    }

    #[test]
    fn rfc7873_5_3_client_helpers() {
        assert_eq!(cookies::client_cookie([9; 8]), [9; 8]);
        let secret = [5; 16];
        let first = cookies::client_cookie_for(&secret, ip("192.0.2.53"));
        assert_eq!(first, cookies::client_cookie_for(&secret, ip("::ffff:192.0.2.53")), "stable per server");
        assert_ne!(first, cookies::client_cookie_for(&secret, ip("2001:db8::53")), "differs across servers");
        assert_ne!(first, cookies::client_cookie_for(&[6; 16], ip("192.0.2.53")), "depends on the secret");

        let (data, len) = cookies::query_option(&first, None);
        assert_eq!(&data[..len], &first);
        let learned = [0xab; 16];
        let (data, len) = cookies::query_option(&first, Some(&learned));
        assert_eq!((len, &data[8..len]), (24, &learned[..]));
        assert_eq!(cookies::query_option(&first, Some(&[1; 7])).1, 8, "an impossible server cookie is not sent");

        let mut reply = [0u8; 24];
        reply[..8].copy_from_slice(&first);
        reply[8..].copy_from_slice(&learned);
        assert_eq!(cookies::reply_server_cookie(&first, &reply), Some(&learned[..]));
        assert_eq!(cookies::reply_server_cookie(&[0; 8], &reply), None, "wrong client cookie: discard");
        assert_eq!(cookies::reply_server_cookie(&first, &reply[..12]), None, "malformed");
        assert_eq!(cookies::reply_server_cookie(&first, &reply[..8]), None, "no server cookie");
    }
}
