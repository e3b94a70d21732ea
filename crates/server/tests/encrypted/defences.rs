//! The encrypted listeners' defences and life: the certificate re-read on SIGHUP without
//! dropping connections, HTTP/2 rapid reset (CVE-2023-44487), TLS below 1.2 refused, DoQ's
//! protocol errors (RFC 9250 §4.3), and a server with no cleartext socket at all.

use crate::client::Query;
use crate::clients;
use crate::harness::Server;
use crate::peers::{free_port, temp_dir};
use crate::pki::Pki;
use crate::support::{answer_of, curl_doh, runtime, Encrypted, Method};
use portcullis_wire::message::Message;
use portcullis_wire::{Rcode, Rtype};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn sighup_gives_new_connections_the_new_certificate_while_open_ones_keep_working() {
    let Some(server) = Encrypted::start("reload") else { return };
    let runtime = runtime();
    let query = Query::new("www.example.test.", Rtype::A).to_wire(7).unwrap();
    runtime.block_on(async {
        let mut open = clients::tls_connect(server.tls, &server.pki.root, &[b"dot"]).await.unwrap();
        assert_eq!(clients::peer_leaf(&open), server.leaf.der, "the first certificate");
        clients::dot_pipeline(&mut open, std::slice::from_ref(&query)).await.unwrap();
        let open_quic = clients::Doq::connect(server.quic, &server.pki.root, &[b"doq"]).await.unwrap();

        // A new chain (an RSA key in PKCS#1 form this time) in the same files, then SIGHUP.
        let second = server.pki.leaf("second", true);
        std::fs::copy(&second.chain, &server.leaf.chain).unwrap();
        std::fs::copy(&second.key, &server.leaf.key).unwrap();
        server.server.signal("HUP");
        let log = server.server.wait_log(Duration::from_secs(10), |log| log.contains("tls certificate reloaded"));
        assert!(log.is_ok(), "no reload in the log:\n{}", server.server.stderr());

        let fresh = clients::tls_connect(server.tls, &server.pki.root, &[b"dot"]).await.unwrap();
        assert_eq!(clients::peer_leaf(&fresh), second.der, "a new connection sees the new certificate");
        let replies = clients::dot_pipeline(&mut open, std::slice::from_ref(&query)).await.unwrap();
        assert_eq!(Message::parse(&replies[0]).unwrap().rcode(), Rcode::NOERROR, "the open DoT connection still answers");
        let reply = open_quic.query(&query).await.unwrap();
        assert_eq!(Message::parse(&reply).unwrap().rcode(), Rcode::NOERROR, "the open DoQ connection still answers");
    });
    // DoH too, on a new connection with the new chain.
    let reply = curl_doh(&server, Method::Post, true, &query);
    assert_eq!(reply.status, 200);
}

#[test]
fn rapid_reset_cuts_the_attacker_off_and_others_are_answered_within_a_second() {
    let Some(server) = Encrypted::start("rapid-reset") else { return };
    let (opened, cut_off) = runtime().block_on(clients::rapid_reset(server.https, &server.pki.root, 1000, None)).unwrap();
    assert!(cut_off, "1000 opened-and-reset streams: the connection was not closed ({opened} opened)");
    // Streams reset only once the server has taken them (h2's pending-reset bound never sees
    // these): cut off too, by the server's own count.
    let settle = Some(Duration::from_millis(2));
    let (opened, cut_off) = runtime().block_on(clients::rapid_reset(server.https, &server.pki.root, 400, settle)).unwrap();
    assert!(cut_off, "400 streams reset after being taken: the connection was not closed ({opened} opened)");
    let query = Query::new("www.example.test.", Rtype::A).to_wire(0).unwrap();
    let started = Instant::now();
    let reply = curl_doh(&server, Method::Post, true, &query);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "answered after {:?}", started.elapsed());
    assert_eq!(answer_of(&reply.body).0, Rcode::NOERROR);
}

#[test]
fn tls_below_1_2_is_refused_and_1_2_and_1_3_are_served() {
    let Some(server) = Encrypted::start("tls-versions") else { return };
    let handshake = |version: &str| {
        let mut command = Command::new("openssl");
        command.args(["s_client", "-connect", &server.tls.to_string(), "-servername", "localhost", version, "-CAfile"]).arg(&server.pki.root);
        if version == "-tls1_1" {
            // OpenSSL 3 refuses TLS 1.1 itself at its default security level: lower it, so
            // that the refusal seen is the server's.
            command.args(["-cipher", "DEFAULT@SECLEVEL=0"]);
        }
        let output = command.stdin(std::process::Stdio::null()).output().unwrap();
        String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr)
    };
    for version in ["-tls1_3", "-tls1_2"] {
        let text = handshake(version);
        assert!(text.contains("Verify return code: 0 (ok)") && !text.contains("Cipher is (NONE)"), "{version}: {text}");
    }
    let text = handshake("-tls1_1");
    assert!(text.contains("Cipher is (NONE)") && text.contains("alert"), "TLS 1.1 must be refused: {text}");
}

#[test]
fn doq_requires_its_alpn_and_message_id_zero() {
    let Some(server) = Encrypted::start("doq-errors") else { return };
    runtime().block_on(async {
        // Without ALPN "doq" there is no connection (RFC 9250 §4.1.1).
        assert!(clients::Doq::connect(server.quic, &server.pki.root, &[b"dot"]).await.is_err(), "a connection offering only 'dot'");
        // A message ID other than 0 closes the connection with DOQ_PROTOCOL_ERROR (§4.2.1).
        let doq = clients::Doq::connect(server.quic, &server.pki.root, &[b"doq"]).await.unwrap();
        let mut framed = vec![0u8, 0];
        framed.extend_from_slice(&Query::new("www.example.test.", Rtype::A).to_wire(9).unwrap());
        let len = (framed.len() - 2) as u16;
        framed[..2].copy_from_slice(&len.to_be_bytes());
        assert!(doq.raw(&framed).await.is_err(), "a query with ID 9 is answered");
        match tokio::time::timeout(clients::WAIT, doq.connection.closed()).await {
            Ok(quinn::ConnectionError::ApplicationClosed(close)) => assert_eq!(close.error_code, quinn::VarInt::from_u32(2), "{close:?}"),
            other => panic!("expected DOQ_PROTOCOL_ERROR, got {other:?}"),
        }
        // A stream whose length prefix does not match its message: the same.
        let doq = clients::Doq::connect(server.quic, &server.pki.root, &[b"doq"]).await.unwrap();
        assert!(doq.raw(&[0, 40, 0, 0, 1, 0]).await.is_err());
        match tokio::time::timeout(clients::WAIT, doq.connection.closed()).await {
            Ok(quinn::ConnectionError::ApplicationClosed(close)) => assert_eq!(close.error_code, quinn::VarInt::from_u32(2), "{close:?}"),
            other => panic!("expected DOQ_PROTOCOL_ERROR, got {other:?}"),
        }
        // The server still answers.
        let doq = clients::Doq::connect(server.quic, &server.pki.root, &[b"doq"]).await.unwrap();
        doq.query(&Query::new("www.example.test.", Rtype::A).to_wire(0).unwrap()).await.unwrap();
    });
}

#[test]
fn a_server_without_cleartext_listeners_serves_the_encrypted_ones_and_needs_a_certificate() {
    if crate::peers::require("no-cleartext", &["openssl"]).is_none() {
        return;
    }
    let dir = temp_dir("no-cleartext");
    let pki = Pki::new(&dir);
    let leaf = pki.leaf("only", false);
    let localhost = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let addrs = [localhost(free_port()), localhost(free_port()), localhost(free_port())];
    let path = dir.join("portcullis.toml");
    std::fs::write(&path, crate::support::config(&[], addrs, &leaf, "")).unwrap();
    let server = Server::spawn(dir.clone(), addrs[0], &["serve".as_ref(), "--config".as_ref(), path.as_os_str()]).unwrap();
    assert!(server.wait_log(Duration::from_secs(20), |log| log.contains("portcullis ready")).is_ok(), "{}", server.stderr());
    let query = Query::new("www.example.test.", Rtype::A).to_wire(3).unwrap();
    let reply = runtime().block_on(async {
        let mut stream = clients::tls_connect(addrs[0], &pki.root, &[b"dot"]).await.unwrap();
        clients::dot_pipeline(&mut stream, &[query]).await.unwrap().remove(0)
    });
    assert_eq!(Message::parse(&reply).unwrap().rcode(), Rcode::NOERROR);
    drop(server);

    // The same listeners without [tls]: a configuration error that says what is missing.
    let dir = temp_dir("no-certificate");
    let path = dir.join("portcullis.toml");
    std::fs::write(&path, format!("[server]\nlisten = []\nlisten-tls = [\"{}\"]\n", addrs[0])).unwrap();
    let output = Command::new(crate::portcullis::BINARY).args(["serve", "--config"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("needs [tls] cert and key"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_slow_handshake_is_cut_off_and_connections_per_client_are_bounded_on_every_transport() {
    let extra = "\n[tcp]\nfirst-message-timeout-ms = 1500\nper-client = 2\n";
    let Some(server) = Encrypted::start_with("handshakes", extra) else { return };
    runtime().block_on(async {
        use tokio::io::AsyncReadExt;
        // Connected, no ClientHello: closed once the handshake deadline passes.
        for addr in [server.tls, server.https] {
            let started = Instant::now();
            let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
            let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut [0u8; 16])).await;
            assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{addr}: still open after 5 s: {read:?}");
            let elapsed = started.elapsed();
            assert!(elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_secs(4), "{addr}: closed after {elapsed:?}");
        }
        // Two connections from 127.0.0.1 are admitted, a third is not (DoT, DoH).
        for (addr, alpn) in [(server.tls, &b"dot"[..]), (server.https, &b"h2"[..])] {
            let held =
                [clients::tls_connect(addr, &server.pki.root, &[alpn]).await.unwrap(), clients::tls_connect(addr, &server.pki.root, &[alpn]).await.unwrap()];
            assert!(clients::tls_connect(addr, &server.pki.root, &[alpn]).await.is_err(), "{addr}: a third connection from one client");
            drop(held);
        }
        // DoQ: the same bound, a refused connection costs no handshake.
        let held = [
            clients::Doq::connect(server.quic, &server.pki.root, &[b"doq"]).await.unwrap(),
            clients::Doq::connect(server.quic, &server.pki.root, &[b"doq"]).await.unwrap(),
        ];
        assert!(clients::Doq::connect(server.quic, &server.pki.root, &[b"doq"]).await.is_err(), "a third DoQ connection from one client");
        let query = Query::new("www.example.test.", Rtype::A).to_wire(0).unwrap();
        held[0].query(&query).await.unwrap();
    });
}

#[test]
fn a_client_past_its_handshakes_per_second_is_refused_before_any_cryptography() {
    let Some(server) = Encrypted::start_edited("handshake-rate", |text| text.replace("[tls]\n", "[tls]\nhandshakes-per-second = 3\n")) else { return };
    runtime().block_on(async {
        for (addr, alpn) in [(server.tls, &b"dot"[..]), (server.https, &b"h2"[..])] {
            let started = Instant::now();
            let mut admitted = 0u64;
            for _ in 0..10 {
                admitted += u64::from(clients::tls_connect(addr, &server.pki.root, &[alpn]).await.is_ok());
            }
            let seconds = started.elapsed().as_secs() + 1;
            assert!(admitted >= 3 && admitted <= 3 * seconds, "{addr}: {admitted} handshakes admitted in {seconds} s");
        }
        let mut admitted = 0u64;
        let started = Instant::now();
        for _ in 0..10 {
            admitted += u64::from(clients::Doq::connect(server.quic, &server.pki.root, &[b"doq"]).await.is_ok());
        }
        let seconds = started.elapsed().as_secs() + 1;
        assert!(admitted >= 3 && admitted <= 3 * seconds, "DoQ: {admitted} handshakes admitted in {seconds} s");
    });
}
