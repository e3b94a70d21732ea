//! Forwarding over DoT, DoH and DoQ (issue 15 part 2): one portcullis forwards names to a
//! second that listens only on its encrypted ports (no cleartext socket exists to fall back
//! to), each forward zone over another transport; a wrong `tls-name` or `tls-pin` fails closed
//! with SERVFAIL.

use crate::clients;
use crate::harness::Server;
use crate::peers::{free_port, temp_dir};
use crate::pki::Pki;
use crate::support::{answer_of, runtime};
use portcullis_wire::header::Flags;
use portcullis_wire::message::Message;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

/// A query with RD=1 (forwarding is recursion's), EDNS 1232.
fn recursive_query(name: &str, id: u16) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
    writer.set_header(id, Flags { rd: true, ..Flags::default() });
    writer.push_question(&NameBuf::from_text(name, None).unwrap(), Rtype::A, Class::IN).unwrap();
    writer.push_opt(1232, Rcode::NOERROR, false, &[]).unwrap();
    let len = writer.finish();
    buf.truncate(len);
    buf
}

/// One UDP exchange, waiting up to 8 s (a failing upstream takes its timeouts first).
fn ask(server: SocketAddr, query: &[u8]) -> Vec<u8> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    socket.send_to(query, server).unwrap();
    let mut buf = vec![0u8; 65_535];
    let len = socket.recv(&mut buf).unwrap_or_else(|e| panic!("no answer from the forwarder: {e}"));
    buf.truncate(len);
    buf
}

/// Standard base64 of `bytes` (a `tls-pin`).
fn base64(bytes: &[u8]) -> String {
    let url = portcullis_net::doh_message::base64url_encode(bytes);
    let mut text: String = url
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            other => other,
        })
        .collect();
    while !text.len().is_multiple_of(4) {
        text.push('=');
    }
    text
}

#[test]
fn forwarding_over_dot_doh_and_doq_gets_the_upstream_answers_and_a_bad_name_or_pin_fails_closed() {
    if crate::peers::require("encrypted-forwarding", &["openssl"]).is_none() {
        return;
    }
    // The upstream: encrypted listeners only.
    let dir = temp_dir("encrypted-upstream");
    let pki = Pki::new(&dir);
    let leaf = pki.leaf("upstream", false);
    let localhost = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let [tls, https, quic] = [localhost(free_port()), localhost(free_port()), localhost(free_port())];
    let path = dir.join("portcullis.toml");
    std::fs::write(&path, crate::support::config(&[], [tls, https, quic], &leaf, "")).unwrap();
    let upstream = Server::spawn(dir.clone(), tls, &["serve".as_ref(), "--config".as_ref(), path.as_os_str()]).unwrap();
    assert!(upstream.wait_log(Duration::from_secs(20), |log| log.contains("portcullis ready")).is_ok(), "{}", upstream.stderr());

    // The forwarder: one forward zone per transport and per failure.
    let root = pki.root.display().to_string();
    let good_pin = base64(&portcullis_net::upstream_encrypted::spki_pin(&leaf.der).unwrap());
    let zones = [
        ("www", tls, "tls", "localhost", String::new()),
        ("mail", https, "https", "localhost", String::new()),
        ("ns1", quic, "quic", "localhost", String::new()),
        ("ns2", tls, "tls", "localhost", format!("tls-pin = [\"{good_pin}\"]\n")),
        ("sip", tls, "tls", "wrong.test", String::new()),
        ("mixed", https, "https", "localhost", format!("tls-pin = [\"{}\"]\n", base64(&[7u8; 32]))),
        ("cased", quic, "quic", "127.0.0.1.example", String::new()),
    ];
    let forward_dir = temp_dir("encrypted-forwarder");
    let udp = localhost(free_port());
    // The upstream zone is unsigned below the signed root: forward zones validate by default
    // and could not prove it insecure, so validation is off (what is tested is the transport).
    let mut text = format!("[server]\nlisten = [\"{udp}\"]\nthreads = 1\n");
    for (name, addr, transport, tls_name, extra) in &zones {
        let _ = write!(text, "\n[[forward]]\nzone = \"{name}.example.test.\"\nprimaries = [\"{addr}\"]\ntransport = \"{transport}\"\ntls-name = \"{tls_name}\"\ntls-ca = \"{root}\"\ntimeout-ms = 1000\ndnssec-validation = false\n{extra}");
    }
    let config = forward_dir.join("portcullis.toml");
    std::fs::write(&config, text).unwrap();
    let forwarder = Server::spawn(forward_dir, udp, &["serve".as_ref(), "--config".as_ref(), config.as_os_str()]).unwrap();
    assert!(forwarder.wait_log(Duration::from_secs(20), |log| log.contains("portcullis ready")).is_ok(), "{}", forwarder.stderr());

    let runtime = runtime();
    for (id, (name, _, transport, tls_name, extra)) in zones.iter().enumerate() {
        let qname = format!("{name}.example.test.");
        let reply = ask(udp, &recursive_query(&qname, id as u16 + 1));
        let message = Message::parse(&reply).unwrap();
        let fails = *tls_name != "localhost" || extra.contains(&base64(&[7u8; 32]));
        if fails {
            assert_eq!(message.rcode(), Rcode::SERVFAIL, "{qname} over {transport} with tls-name {tls_name} {extra}: must fail closed");
            continue;
        }
        assert_eq!(message.rcode(), Rcode::NOERROR, "{qname} over {transport}:\n{}", forwarder.stderr());
        let direct = runtime.block_on(async {
            let mut stream = clients::tls_connect(tls, &pki.root, &[b"dot"]).await.unwrap();
            clients::dot_pipeline(&mut stream, &[recursive_query(&qname, 99)]).await.unwrap().remove(0)
        });
        let records = |reply: &[u8]| {
            answer_of(reply).2[0].iter().map(|(owner, rtype, class, _, rdata)| (owner.clone(), *rtype, *class, rdata.clone())).collect::<Vec<_>>()
        };
        assert_eq!(records(&reply), records(&direct), "{qname} over {transport}: the upstream's answer");
        assert!(!records(&reply).is_empty(), "{qname}");
    }
    drop(forwarder);
    drop(upstream);
    let _ = std::fs::remove_dir_all(dir);
}

/// Unbound serving `example.test.` local data on `udp` (and TCP), DoT on `tls`, DoH on
/// `https`, with `leaf`'s chain.
fn start_unbound(dir: &std::path::Path, [udp, tls, https]: [SocketAddr; 3], leaf: &crate::pki::Leaf) -> crate::peers::ServerProcess {
    let text = format!(
        "server:\n    interface: 127.0.0.1@{udp_port}\n    interface: 127.0.0.1@{tls_port}\n    interface: 127.0.0.1@{https_port}\n    \
         port: {udp_port}\n    tls-port: {tls_port}\n    https-port: {https_port}\n    tls-service-key: \"{key}\"\n    tls-service-pem: \"{chain}\"\n    \
         do-ip6: no\n    do-daemonize: no\n    chroot: \"\"\n    username: \"\"\n    directory: \"{dir}\"\n    pidfile: \"{dir}/unbound.pid\"\n    \
         use-syslog: no\n    logfile: \"\"\n    verbosity: 1\n    access-control: 127.0.0.0/8 allow\n    num-threads: 1\n    module-config: \"iterator\"\n    \
         local-zone: \"example.test.\" static\n    \
         local-data: \"example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 300\"\n    \
         local-data: \"www.example.test. 120 IN A 192.0.2.80\"\n    local-data: \"mail.example.test. 900 IN A 192.0.2.25\"\n\
         remote-control:\n    control-enable: no\n",
        udp_port = udp.port(),
        tls_port = tls.port(),
        https_port = https.port(),
        key = leaf.key.display(),
        chain = leaf.chain.display(),
        dir = dir.display(),
    );
    let config = dir.join("unbound.conf");
    std::fs::write(&config, text).unwrap();
    let binary = crate::peers::find_binary("unbound").unwrap();
    let mut command = std::process::Command::new(binary);
    command.arg("-d").arg("-c").arg(&config);
    crate::peers::ServerProcess::start("unbound", command, dir.to_path_buf(), udp, "example.test.").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn forwarding_over_dot_and_doh_to_unbound_gets_its_answers() {
    if crate::peers::require("encrypted-forwarding-unbound", &["openssl", "unbound"]).is_none() {
        return;
    }
    let dir = temp_dir("unbound-encrypted");
    let pki = Pki::new(&dir);
    let leaf = pki.leaf("unbound", false);
    let localhost = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let [udp, tls, https] = [localhost(free_port()), localhost(free_port()), localhost(free_port())];
    let unbound = start_unbound(&dir, [udp, tls, https], &leaf);

    let forward_dir = temp_dir("unbound-forwarder");
    let listen = localhost(free_port());
    let root = pki.root.display();
    // Unsigned upstream zones: validation off, as above.
    let text = format!(
        "[server]\nlisten = [\"{listen}\"]\nthreads = 1\n\n[[forward]]\nzone = \"www.example.test.\"\nprimaries = [\"{tls}\"]\ntransport = \"tls\"\n\
         tls-name = \"localhost\"\ntls-ca = \"{root}\"\ndnssec-validation = false\n\n[[forward]]\nzone = \"mail.example.test.\"\nprimaries = [\"{https}\"]\ntransport = \"https\"\n\
         tls-name = \"localhost\"\ntls-ca = \"{root}\"\ndnssec-validation = false\n"
    );
    let config = forward_dir.join("portcullis.toml");
    std::fs::write(&config, text).unwrap();
    let forwarder = Server::spawn(forward_dir, listen, &["serve".as_ref(), "--config".as_ref(), config.as_os_str()]).unwrap();
    assert!(forwarder.wait_log(Duration::from_secs(20), |log| log.contains("portcullis ready")).is_ok(), "{}", forwarder.stderr());
    for (id, (name, transport)) in [("www.example.test.", "DoT"), ("mail.example.test.", "DoH")].into_iter().enumerate() {
        let reply = ask(listen, &recursive_query(name, id as u16 + 1));
        let direct = ask(udp, &recursive_query(name, 77));
        assert_eq!(Message::parse(&reply).unwrap().rcode(), Rcode::NOERROR, "{name} over {transport}:\n{}\n{}", forwarder.stderr(), unbound.logs());
        let records = |reply: &[u8]| {
            answer_of(reply).2[0].iter().map(|(owner, rtype, class, _, rdata)| (owner.clone(), *rtype, *class, rdata.clone())).collect::<Vec<_>>()
        };
        assert_eq!(records(&reply), records(&direct), "{name} over {transport}");
        assert_eq!(records(&reply).len(), 1, "{name}");
    }
}
