//! dnstap (`[dnstap] file`): every query of a run over UDP and TCP, and its response, read back
//! from the Frame Streams file by `dnstap-ldns` (Debian `dnstap-ldns`).

use std::fs;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use portcullis_wire::Rtype;

use crate::client::{self, Query};
use crate::harness::{example_zone, Server};
use crate::peers::{free_port, require, temp_dir};

#[test]
fn dnstap_ldns_reads_every_query_and_its_response() {
    let Some(tools) = require("dnstap_ldns_reads_every_query_and_its_response (Debian package dnstap-ldns)", &["dnstap-ldns"]) else { return };
    let dir = temp_dir("dnstap");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let tap = dir.join("queries.dnstap");
    let config = dir.join("portcullis.toml");
    let text = format!(
        "[server]\nlisten = [\"{addr}\"]\nthreads = 1\n\n[dnstap]\nfile = \"{}\"\nversion = true\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"{}\"\n",
        tap.display(),
        example_zone().display()
    );
    fs::write(&config, text).unwrap_or_default();
    let mut server =
        Server::start(dir.clone(), addr, &["serve".as_ref(), "--config".as_ref(), config.as_os_str()], "example.test.").unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = (0..20).map(|i| format!("q{i}.example.test.")).collect();
    for (i, name) in names.iter().enumerate() {
        let transport = if i % 4 == 0 { client::Transport::Tcp } else { client::Transport::Udp };
        client::ask(addr, &Query::new(name, Rtype::A), transport).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(15)).is_some_and(|status| status.success()), "{}", server.stderr());
    let output = Command::new(&tools[0]).arg("-r").arg(&tap).output().unwrap_or_else(|e| panic!("dnstap-ldns: {e}"));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "dnstap-ldns: {}", String::from_utf8_lossy(&output.stderr));
    for (i, name) in names.iter().enumerate() {
        let transport = if i % 4 == 0 { "TCP" } else { "UDP" };
        for kind in ["CQ", "CR"] {
            let wanted = format!(" {kind} 127.0.0.1 {transport} ");
            let seen = text.lines().filter(|line| line.contains(&wanted) && line.contains(&format!("\"{name}\" IN A"))).count();
            assert_eq!(seen, 1, "{kind} of {name} over {transport}:\n{text}");
        }
    }
    // The readiness probes (SOA) came first; nothing else.
    assert!(text.lines().all(|line| line.contains(" IN A") || line.contains(" IN SOA")), "{text}");
    // `version = true`: every message carries the version.
    let yaml = Command::new(&tools[0]).arg("-y").arg("-r").arg(&tap).output().unwrap_or_else(|e| panic!("dnstap-ldns -y: {e}"));
    let yaml = String::from_utf8_lossy(&yaml.stdout);
    let (messages, versions) = (yaml.matches("type: MESSAGE").count(), yaml.matches("version: \"portcullis ").count());
    assert!(messages >= 40 && versions == messages, "{messages} messages, {versions} with the version");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn dnstap_reaches_a_collector_socket_that_fstrm_capture_listens_on() {
    let Some(tools) = require("dnstap_reaches_a_collector_socket (Debian packages fstrm-bin, dnstap-ldns)", &["fstrm_capture", "dnstap-ldns"]) else { return };
    let dir = temp_dir("dnstap-socket");
    let (socket, captured) = (dir.join("collector.sock"), dir.join("captured.dnstap"));
    let mut collector = Command::new(&tools[0])
        .args(["-t", "protobuf:dnstap.Dnstap", "-u"])
        .arg(&socket)
        .arg("-w")
        .arg(&captured)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("fstrm_capture: {e}"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(std::time::Instant::now() < deadline, "fstrm_capture made no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = dir.join("portcullis.toml");
    let text = format!(
        "[server]\nlisten = [\"{addr}\"]\nthreads = 1\n\n[dnstap]\nsocket = \"{}\"\nresponses = false\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"{}\"\n",
        socket.display(),
        example_zone().display()
    );
    fs::write(&config, text).unwrap_or_default();
    let server_dir = dir.join("server");
    fs::create_dir_all(&server_dir).unwrap_or_default();
    let mut server =
        Server::start(server_dir, addr, &["serve".as_ref(), "--config".as_ref(), config.as_os_str()], "example.test.").unwrap_or_else(|e| panic!("{e}"));
    for i in 0..10 {
        client::ask(addr, &Query::new(&format!("s{i}.example.test."), Rtype::A), client::Transport::Udp).unwrap_or_else(|e| panic!("{e}"));
    }
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(15)).is_some_and(|status| status.success()), "{}", server.stderr());
    let _ = Command::new("kill").args(["-INT", &collector.id().to_string()]).status();
    let _ = collector.wait();
    let output = Command::new(&tools[1]).arg("-r").arg(&captured).output().unwrap_or_else(|e| panic!("dnstap-ldns: {e}"));
    let text = String::from_utf8_lossy(&output.stdout);
    for i in 0..10 {
        let name = format!("\"s{i}.example.test.\" IN A");
        assert_eq!(text.lines().filter(|l| l.contains(" CQ ") && l.contains(&name)).count(), 1, "{name}:\n{text}");
    }
    assert!(!text.contains(" CR "), "responses = false:\n{text}");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn the_query_log_has_a_line_per_query_beside_dnstap() {
    let dir = temp_dir("querylog");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (log, tap) = (dir.join("queries.log"), dir.join("queries.dnstap"));
    let config = dir.join("portcullis.toml");
    let text = format!(
        "[server]\nlisten = [\"{addr}\"]\nthreads = 1\n\n[dnstap]\nfile = \"{}\"\n\n[querylog]\nfile = \"{}\"\nformat = \"json\"\n\n\
         [[zone]]\norigin = \"example.test.\"\nfile = \"{}\"\n",
        tap.display(),
        log.display(),
        example_zone().display()
    );
    fs::write(&config, text).unwrap_or_default();
    let server_dir = dir.join("server");
    fs::create_dir_all(&server_dir).unwrap_or_default();
    let mut server =
        Server::start(server_dir, addr, &["serve".as_ref(), "--config".as_ref(), config.as_os_str()], "example.test.").unwrap_or_else(|e| panic!("{e}"));
    client::ask(addr, &Query::new("www.example.test.", Rtype::A), client::Transport::Udp).unwrap_or_else(|e| panic!("{e}"));
    client::ask(addr, &Query::new("nowhere.example.test.", Rtype::AAAA), client::Transport::Tcp).unwrap_or_else(|e| panic!("{e}"));
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(15)).is_some_and(|status| status.success()), "{}", server.stderr());
    let lines: Vec<serde_json::Value> =
        fs::read_to_string(&log).unwrap_or_default().lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect();
    let find = |name: &str| lines.iter().find(|l| l["name"] == name).unwrap_or_else(|| panic!("no line for {name}: {lines:?}"));
    let (www, nowhere) = (find("www.example.test."), find("nowhere.example.test."));
    assert_eq!((www["transport"].as_str(), www["type"].as_str(), www["rcode"].as_str()), (Some("udp"), Some("A"), Some("NOERROR")));
    assert_eq!((nowhere["transport"].as_str(), nowhere["type"].as_str(), nowhere["rcode"].as_str()), (Some("tcp"), Some("AAAA"), Some("NXDOMAIN")));
    assert_eq!(www["client"], "127.0.0.1");
    assert!(www["size"].as_u64().is_some_and(|size| size > 12));
    assert!(fs::metadata(&tap).is_ok_and(|meta| meta.len() > 100), "dnstap written beside the log");
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn answers_the_relay_and_the_resolver_pool_send_are_captured_with_their_queries() {
    let Some(tools) = require("answers_the_relay_and_the_resolver_pool_send_are_captured (Debian package dnstap-ldns)", &["dnstap-ldns"]) else { return };
    let upstream = crate::ops::OpsServer::with_zone("", "other.test.", &crate::queries::testdata().join("zones/other.test.zone"));
    let dir = temp_dir("dnstap-forward");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (tap, log) = (dir.join("queries.dnstap"), dir.join("queries.log"));
    let text = format!(
        "[server]\nlisten = [\"{addr}\"]\nthreads = 1\n\n[dnstap]\nfile = \"{}\"\n\n[querylog]\nfile = \"{}\"\n\n[[forward]]\nzone = \"other.test.\"\ndnssec-validation = false\nprimaries = [\"{}\"]\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"{}\"\n",
        tap.display(),
        log.display(),
        upstream.server.addr,
        example_zone().display()
    );
    let config = dir.join("portcullis.toml");
    fs::write(&config, text).unwrap_or_default();
    let mut server =
        Server::start(dir.clone(), addr, &["serve".as_ref(), "--config".as_ref(), config.as_os_str()], "example.test.").unwrap_or_else(|e| panic!("{e}"));
    // UDP misses go through the worker's forwarding relay, the TCP one through the pool.
    let udp: Vec<String> = (0..5).map(|i| format!("r{i}.other.test.")).collect();
    crate::ops_reload::ask_all(addr, &udp);
    crate::ops_reload::tcp_recursive(addr, "www.other.test.");
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(15)).is_some_and(|status| status.success()), "{}", server.stderr());
    let output = Command::new(&tools[0]).arg("-r").arg(&tap).output().unwrap_or_else(|e| panic!("dnstap-ldns: {e}"));
    let text = String::from_utf8_lossy(&output.stdout);
    let logged = fs::read_to_string(&log).unwrap_or_default();
    let asked = udp.iter().map(|name| (name.as_str(), "UDP")).chain([("www.other.test.", "TCP")]);
    for (name, transport) in asked {
        for kind in ["CQ", "CR"] {
            let wanted = format!(" {kind} 127.0.0.1 {transport} ");
            let seen = text.lines().filter(|line| line.contains(&wanted) && line.contains(&format!("\"{name}\" IN A"))).count();
            assert_eq!(seen, 1, "{kind} of {name} over {transport}:\n{text}");
        }
        let line = logged
            .lines()
            .find(|l| l.contains(&format!(" {} {name} IN A ", transport.to_lowercase())))
            .unwrap_or_else(|| panic!("{name} not in the query log:\n{logged}"));
        assert!(!line.contains("dropped"), "answered, not dropped: {line}");
    }
    let _ = fs::remove_dir_all(dir);
}

/// The frames' lengths and the client's port are fixed-width varints (`net/src/tap_frame.rs`):
/// BIND's `dnstap-read` and `dnstap-ldns` (both protobuf-c) read every field of them as its
/// value: the client's and the server's ports, the addresses, and each message whole (its size).
#[test]
fn dnstap_read_and_dnstap_ldns_read_the_fixed_width_varints_as_their_values() {
    let Some(tools) =
        require("dnstap_read_and_dnstap_ldns_read_the_fixed_width_varints (Debian packages bind9-dnsutils, dnstap-ldns)", &["dnstap-read", "dnstap-ldns"])
    else {
        return;
    };
    let dir = temp_dir("dnstap-wide");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let tap = dir.join("queries.dnstap");
    let config = dir.join("portcullis.toml");
    let text = format!(
        "[server]\nlisten = [\"{addr}\"]\nthreads = 1\n\n[dnstap]\nfile = \"{}\"\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"{}\"\n",
        tap.display(),
        example_zone().display()
    );
    fs::write(&config, text).unwrap_or_default();
    let mut server =
        Server::start(dir.clone(), addr, &["serve".as_ref(), "--config".as_ref(), config.as_os_str()], "example.test.").unwrap_or_else(|e| panic!("{e}"));
    // One client socket with a known port; names of several lengths (the sizes differ).
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap_or_default();
    let port = socket.local_addr().map(|local| local.port()).unwrap_or_default();
    let mut sizes = Vec::new();
    for (i, name) in ["www.example.test.", "a-much-longer-label-than-the-others.example.test.", "nowhere.example.test."].iter().enumerate() {
        let query = Query::new(name, Rtype::A).to_wire(0x4100 + i as u16).unwrap_or_else(|e| panic!("{e}"));
        socket.send_to(&query, addr).unwrap_or_else(|e| panic!("send: {e}"));
        let mut reply = [0u8; 4096];
        let (len, _) = socket.recv_from(&mut reply).unwrap_or_else(|e| panic!("{name}: {e}"));
        sizes.push((query.len(), len));
    }
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(15)).is_some_and(|status| status.success()), "{}", server.stderr());
    for (tool, args) in [(&tools[0], &["-y"][..]), (&tools[1], &["-y", "-r"][..])] {
        let output = Command::new(tool).args(args).arg(&tap).output().unwrap_or_else(|e| panic!("{}: {e}", tool.display()));
        let yaml = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{}: {}", tool.display(), String::from_utf8_lossy(&output.stderr));
        // dnstap-read quotes the addresses, dnstap-ldns does not.
        let count = |text: &str| yaml.lines().filter(|line| line.trim().replace('"', "") == text).count();
        assert_eq!(count(&format!("query_port: {port}")), 6, "the client's port in each query and response of it:\n{yaml}");
        assert_eq!(count(&format!("response_port: {}", addr.port())), count("type: MESSAGE"), "the server's port in every message:\n{yaml}");
        assert_eq!(count("query_address: 127.0.0.1"), count("type: MESSAGE"), "{yaml}");
        for (query, response) in &sizes {
            // dnstap-read prints each message's size ("message_size: 35b").
            if tool.ends_with("dnstap-read") {
                assert!(count(&format!("message_size: {query}b")) >= 1, "a query of {query} bytes:\n{yaml}");
                assert!(count(&format!("message_size: {response}b")) >= 1, "a response of {response} bytes:\n{yaml}");
            }
        }
    }
    let _ = fs::remove_dir_all(dir);
}
