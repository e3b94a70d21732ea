//! DNS over TLS, HTTPS and QUIC (issue 15), proven against a running `portcullis serve` with
//! a private PKI made by the test (root, intermediate, leaf; clients trust the root only):
//! the same answers as UDP and TCP through `kdig +tls`, `kdig +https`, `curl --http2` and
//! `--http1.1` (GET and POST), a quinn DoQ client and an independent one (dnspython with
//! aioquic, `encrypted/dnspython.rs`); every DoH error status; EDNS padding;
//! pipelined DoT; and the defences (`encrypted/defences.rs`): certificate reload on SIGHUP,
//! rapid reset, TLS 1.1, DoQ protocol errors, a configuration without cleartext listeners.
//!
//! Helpers of the `it` binary are reused through `#[path]`. Every wait is bounded; all traffic
//! stays on 127.0.0.1.

#![allow(dead_code)]
// Test helpers outside #[test] functions: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "it/client.rs"]
mod client;
#[path = "it/harness.rs"]
mod harness;
#[path = "it/peers.rs"]
mod peers;
#[path = "it/portcullis.rs"]
mod portcullis;
#[path = "it/queries.rs"]
mod queries;

#[path = "encrypted/clients.rs"]
mod clients;
#[path = "encrypted/defences.rs"]
mod defences;
#[path = "encrypted/dnspython.rs"]
mod dnspython;
#[path = "encrypted/forwarding.rs"]
mod forwarding;
#[path = "encrypted/pki.rs"]
mod pki;
#[path = "encrypted/support.rs"]
mod support;
#[path = "encrypted/upgrade.rs"]
mod upgrade;

use client::Query;
use portcullis_wire::message::Message;
use portcullis_wire::Rtype;
use support::{answer_of, curl_doh, kdig_answer, padded_query, Encrypted, Method};

/// The query list of the issue: positive, NXDOMAIN, NODATA, a large TXT, ANY.
fn queries() -> Vec<Query> {
    [
        ("www.example.test.", Rtype::A),
        ("nope.example.test.", Rtype::A),
        ("www.example.test.", Rtype::MX),
        ("big.example.test.", Rtype::TXT),
        ("example.test.", Rtype::ANY),
    ]
    .into_iter()
    .map(|(name, rtype)| Query::new(name, rtype))
    .collect()
}

#[test]
fn every_encrypted_transport_gives_the_udp_and_tcp_answers() {
    let Some(server) = Encrypted::start("answers") else { return };
    let runtime = support::runtime();
    for query in queries() {
        let wire = query.to_wire(0).unwrap();
        let tcp = answer_of(&client::tcp(server.udp, &query).unwrap());
        let udp_reply = client::udp(server.udp, &query).unwrap();
        let udp = answer_of(&udp_reply);
        // UDP gives the same answer unless it was truncated or is the minimal ANY (RFC 8482).
        if !Message::parse(&udp_reply).unwrap().header().tc() && query.qtype != Rtype::ANY {
            assert_eq!(udp, tcp, "{query}: udp and tcp differ");
        }
        let dot = runtime.block_on(async {
            let mut stream = clients::tls_connect(server.tls, &server.pki.root, &[b"dot"]).await.unwrap();
            clients::dot_pipeline(&mut stream, std::slice::from_ref(&wire)).await.unwrap().remove(0)
        });
        assert_eq!(answer_of(&dot), tcp, "{query}: DoT");
        let doq = runtime.block_on(async { clients::Doq::connect(server.quic, &server.pki.root, &[b"doq"]).await.unwrap().query(&wire).await.unwrap() });
        assert_eq!(answer_of(&doq), tcp, "{query}: DoQ");
        for (method, http2) in [(Method::Get, true), (Method::Post, true), (Method::Get, false), (Method::Post, false)] {
            let reply = curl_doh(&server, method, http2, &wire);
            assert_eq!(reply.status, 200, "{query} {method:?} http2={http2}: {reply:?}");
            assert_eq!(reply.version, if http2 { "2" } else { "1.1" }, "{query}");
            assert_eq!(answer_of(&reply.body), tcp, "{query}: DoH {method:?} http2={http2}");
            let smallest = support::smallest_ttl(&reply.body);
            let expected = smallest.map(|ttl| format!("max-age={ttl}"));
            assert_eq!(reply.cache_control, expected, "{query}: RFC 8484 §5.1 freshness");
        }
    }
}

#[test]
fn dnspython_with_aioquic_over_doq_trusting_only_the_root_gets_the_udp_and_tcp_answers() {
    let test = "dnspython_with_aioquic_over_doq";
    let Some(client) = dnspython::Dnspython::install(test) else { return };
    let Some(server) = Encrypted::start("dnspython") else { return };
    let queries = queries();
    let wires: Vec<Vec<u8>> = queries.iter().map(|query| query.to_wire(0).unwrap()).collect();
    let replies = client.quic(server.quic, &server.pki.root, "localhost", &wires);
    for (query, reply) in queries.iter().zip(&replies) {
        let udp_reply = client::udp(server.udp, query).unwrap();
        // The UDP answer, or the TCP one where UDP truncates or gives the minimal ANY (RFC 8482).
        let expected = if Message::parse(&udp_reply).unwrap().header().tc() || query.qtype == Rtype::ANY {
            answer_of(&client::tcp(server.udp, query).unwrap())
        } else {
            answer_of(&udp_reply)
        };
        assert_eq!(answer_of(reply), expected, "{query}: dnspython over DoQ");
        assert!(!expected.2[0].is_empty() || query.qname.starts_with("nope") || query.qtype == Rtype::MX, "{query}: an empty answer");
    }
}

#[test]
fn kdig_over_tls_and_https_trusting_only_the_root_gets_the_udp_answers() {
    let Some(server) = Encrypted::start("kdig") else { return };
    if peers::require("kdig_over_tls_and_https", &["kdig"]).is_none() {
        return;
    }
    for query in queries().into_iter().filter(|q| q.qtype != Rtype::ANY) {
        let udp = kdig_answer(&server, &query, &[]);
        assert!(!udp.is_empty() || query.qname.starts_with("nope") || query.qtype == Rtype::MX, "{query}: {udp:?}");
        let tls = kdig_answer(
            &server,
            &query,
            &[format!("+tls-ca={}", server.pki.root.display()), "+tls-hostname=localhost".into(), format!("-p{}", server.tls.port())],
        );
        assert_eq!(tls, udp, "{query}: kdig +tls");
        let https = kdig_answer(
            &server,
            &query,
            &[format!("+tls-ca={}", server.pki.root.display()), "+tls-hostname=localhost".into(), "+https".into(), format!("-p{}", server.https.port())],
        );
        assert_eq!(https, udp, "{query}: kdig +https");
    }
    // ANY: the TCP form over both.
    let any = Query::new("example.test.", Rtype::ANY);
    let tcp = kdig_answer(&server, &any, &["+tcp".into()]);
    let tls =
        kdig_answer(&server, &any, &[format!("+tls-ca={}", server.pki.root.display()), "+tls-hostname=localhost".into(), format!("-p{}", server.tls.port())]);
    assert_eq!(tls, tcp, "ANY over kdig +tls");
}

#[test]
fn doh_answers_every_bad_request_with_its_status() {
    let Some(server) = Encrypted::start("statuses") else { return };
    let query = Query::new("www.example.test.", Rtype::A).to_wire(0).unwrap();
    let cases: [(&str, Vec<String>, u16); 8] = [
        ("bad base64url", vec![format!("{}/dns-query?dns=AA*A", server.https_url())], 400),
        ("padded base64url", vec![format!("{}/dns-query?dns=AAAA=", server.https_url())], 400),
        ("no dns parameter", vec![format!("{}/dns-query?x=1", server.https_url())], 400),
        ("malformed message", vec![format!("{}/dns-query?dns=AAABAAABAAAAAAAAA3d3dw", server.https_url())], 400),
        ("other path", vec![format!("{}/resolve?dns=AAAB", server.https_url())], 404),
        ("other method", vec!["-X".into(), "PUT".into(), format!("{}/dns-query", server.https_url())], 405),
        (
            "wrong content type",
            vec!["-H".into(), "content-type: text/plain".into(), "--data-binary".into(), "@query.bin".into(), format!("{}/dns-query", server.https_url())],
            415,
        ),
        (
            "body over 65535",
            vec![
                "-H".into(),
                "content-type: application/dns-message".into(),
                "--data-binary".into(),
                "@big.bin".into(),
                format!("{}/dns-query", server.https_url()),
            ],
            413,
        ),
    ];
    std::fs::write(server.dir().join("query.bin"), &query).unwrap();
    std::fs::write(server.dir().join("big.bin"), vec![0u8; 70_000]).unwrap();
    for (what, args, status) in cases {
        for http in ["--http2", "--http1.1"] {
            let reply = support::curl(&server, &[&[http.to_string()][..], &args].concat());
            assert_eq!(reply.status, status, "{what} over {http}: {reply:?}");
        }
    }
}

#[test]
fn encrypted_answers_are_padded_to_468_octet_blocks_when_asked() {
    let Some(server) = Encrypted::start("padding") else { return };
    let runtime = support::runtime();
    for (name, rtype) in [("www.example.test.", Rtype::A), ("big.example.test.", Rtype::TXT), ("nope.example.test.", Rtype::A)] {
        let padded = padded_query(name, rtype, true);
        let plain = padded_query(name, rtype, false);
        let dot = runtime.block_on(async {
            let mut stream = clients::tls_connect(server.tls, &server.pki.root, &[b"dot"]).await.unwrap();
            clients::dot_pipeline(&mut stream, &[padded.clone(), plain.clone()]).await.unwrap()
        });
        let doq = runtime.block_on(async {
            let doq = clients::Doq::connect(server.quic, &server.pki.root, &[b"doq"]).await.unwrap();
            vec![doq.query(&padded).await.unwrap(), doq.query(&plain).await.unwrap()]
        });
        let doh = vec![curl_doh(&server, Method::Post, true, &padded).body, curl_doh(&server, Method::Post, true, &plain).body];
        for (transport, replies) in [("DoT", dot), ("DoQ", doq), ("DoH", doh)] {
            assert_eq!(replies[0].len() % 468, 0, "{name} {transport}: {} octets", replies[0].len());
            assert!(support::has_padding(&replies[0]), "{name} {transport}");
            assert!(!support::has_padding(&replies[1]), "{name} {transport}: padded without being asked");
            assert_eq!(answer_of(&replies[0]), answer_of(&replies[1]), "{name} {transport}");
        }
        // Cleartext answers are never padded (RFC 8467 §4: padding is for encrypted transports).
        let udp = support::udp_raw(server.udp, &padded);
        assert!(!support::has_padding(&udp), "{name} over UDP");
    }
}

#[test]
fn a_hundred_pipelined_dot_queries_get_their_answers_with_their_ids() {
    let Some(server) = Encrypted::start("pipeline") else { return };
    let names = ["www", "nope", "mail", "ns1", "big"];
    let queries: Vec<Vec<u8>> =
        (0..100u16).map(|i| Query::new(&format!("{}.example.test.", names[usize::from(i) % 5]), Rtype::A).to_wire(1000 + i).unwrap()).collect();
    let replies = support::runtime().block_on(async {
        let mut stream = clients::tls_connect(server.tls, &server.pki.root, &[b"dot"]).await.unwrap();
        clients::dot_pipeline(&mut stream, &queries).await.unwrap()
    });
    let mut ids: Vec<u16> = replies.iter().map(|reply| Message::parse(reply).unwrap().header().id()).collect();
    for reply in &replies {
        let message = Message::parse(reply).unwrap();
        let index = usize::from(message.header().id() - 1000);
        assert_eq!(
            message.question().unwrap().qname.to_string(),
            format!("{}.example.test.", names[index % 5]),
            "the reply with ID {} answers its own question",
            message.header().id()
        );
    }
    ids.sort_unstable();
    assert_eq!(ids, (1000..1100).collect::<Vec<u16>>());
}

#[test]
fn portcullis_query_over_tls_https_and_quic_shows_the_transport_and_tls_version() {
    let Some(server) = Encrypted::start("query-client") else { return };
    let run = |extra: &[String]| {
        let output = std::process::Command::new(portcullis::BINARY)
            .args(["query", "www.example.test", "A", "--json", "--timeout", "3", "--attempts", "1"])
            .args(extra)
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stdout).to_string(), String::from_utf8_lossy(&output.stderr).to_string())
    };
    let root = server.pki.root.display().to_string();
    for (flag, addr, label) in [("--tls", server.tls, "TLS"), ("--https", server.https, "HTTPS"), ("--quic", server.quic, "QUIC")] {
        let (code, stdout, stderr) = run(&[flag.into(), format!("@{addr}"), "--tls-name".into(), "localhost".into(), "--tls-ca".into(), root.clone()]);
        assert_eq!(code, Some(0), "{flag}: {stdout} {stderr}");
        let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(json["transport"], label, "{flag}");
        assert_eq!(json["tls"], "TLSv1.3", "{flag}");
        assert_eq!(json["rcode"], "NOERROR", "{flag}");
        assert_eq!(json["answer"].as_array().map(Vec::len), Some(2), "{flag}: {stdout}");
        // Without the test root the certificate is not trusted: no answer; --insecure gets one.
        let (code, _, stderr) = run(&[flag.into(), format!("@{addr}"), "--tls-name".into(), "localhost".into()]);
        assert_eq!(code, Some(9), "{flag} trusting only the system roots: {stderr}");
        let (code, stdout, _) = run(&[flag.into(), format!("@{addr}"), "--insecure".into()]);
        assert_eq!(code, Some(0), "{flag} --insecure: {stdout}");
    }
}

/// A query (ID 0) with an empty edns-tcp-keepalive option (RFC 7828 §3.2.1).
fn keepalive_query() -> Vec<u8> {
    use portcullis_wire::writer::MessageWriter;
    use portcullis_wire::{header::Flags, Class, NameBuf, Rcode};
    let mut buf = vec![0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    writer.set_header(0, Flags::default());
    writer.push_question(&NameBuf::from_text("www.example.test.", None).unwrap(), Rtype::A, Class::IN).unwrap();
    writer.push_opt(1232, Rcode::NOERROR, false, &[(11, &[])]).unwrap();
    let len = writer.finish();
    buf.truncate(len);
    buf
}

/// The edns-tcp-keepalive option's data in a reply, if any.
fn keepalive_of(reply: &[u8]) -> Option<Vec<u8>> {
    Message::parse(reply).unwrap().edns().and_then(|edns| edns.iter_options().find(|(code, _)| *code == 11).map(|(_, data)| data.to_vec()))
}

#[test]
fn dot_answers_edns_keepalive_as_tcp_does_and_doh_and_doq_never_send_it() {
    let Some(server) = Encrypted::start("keepalive") else { return };
    let query = keepalive_query();
    let runtime = support::runtime();
    let dot = runtime.block_on(async {
        let mut stream = clients::tls_connect(server.tls, &server.pki.root, &[b"dot"]).await.unwrap();
        clients::dot_pipeline(&mut stream, std::slice::from_ref(&query)).await.unwrap().remove(0)
    });
    let tcp = {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(server.udp).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        stream.write_all(&[&(query.len() as u16).to_be_bytes()[..], &query].concat()).unwrap();
        let mut prefix = [0u8; 2];
        stream.read_exact(&mut prefix).unwrap();
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        stream.read_exact(&mut reply).unwrap();
        reply
    };
    let timeout = keepalive_of(&tcp).expect("TCP answers edns-tcp-keepalive");
    assert_eq!(timeout.len(), 2, "a timeout in units of 100 ms");
    assert_eq!(keepalive_of(&dot), Some(timeout), "DoT as TCP (RFC 7858 §3.4)");
    let doq = runtime.block_on(async { clients::Doq::connect(server.quic, &server.pki.root, &[b"doq"]).await.unwrap().query(&query).await.unwrap() });
    assert_eq!(keepalive_of(&doq), None, "DoQ must not send it (RFC 9250 §5.5.2)");
    let doh = curl_doh(&server, Method::Post, true, &query);
    assert_eq!(keepalive_of(&doh.body), None, "DoH");
}
