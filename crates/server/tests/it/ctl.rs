//! `portcullis ctl` against running servers: every command's output and exit status, the
//! control socket's place (beside the configuration file) and mode (0600, other users refused),
//! two servers side by side each with its own socket, and a flush that removes cached names.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use portcullis_wire::{Rcode, Rtype};

use crate::harness::udp_rcode;
use crate::ops::{socket_of, OpsServer};
use crate::portcullis::BINARY;
use crate::queries::testdata;

/// The rcode and answer count of a UDP query for `name` A with RD=1.
fn recursive(server: std::net::SocketAddr, name: &str) -> Result<(Rcode, u16), String> {
    let mut query = crate::client::Query::new(name, Rtype::A).to_wire(0x5151)?;
    query[2] |= 0x01;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    socket.send_to(&query, server).map_err(|e| e.to_string())?;
    let mut reply = [0u8; 4096];
    let len = socket.recv(&mut reply).map_err(|e| e.to_string())?;
    let message = portcullis_wire::message::Message::parse(&reply[..len]).map_err(|e| format!("{e:?}"))?;
    Ok((message.rcode(), message.header().ancount()))
}

/// `portcullis ctl ARGS`: (exit code, stdout, stderr).
pub fn ctl(args: &[&str]) -> (i32, String, String) {
    let output: Output = Command::new(BINARY).arg("ctl").args(args).output().unwrap_or_else(|e| panic!("portcullis ctl: {e}"));
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

pub fn ctl_ok(config: &Path, args: &[&str]) -> String {
    let config = config.to_string_lossy();
    let mut all = vec!["--config", &config];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = ctl(&all);
    assert_eq!(code, 0, "ctl {args:?} failed: {stderr}");
    stdout
}

fn stats(config: &Path) -> serde_json::Value {
    let stdout = ctl_ok(config, &["stats", "--json"]);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stats --json is not JSON alone ({e}): {stdout}"))
}

#[test]
fn ctl_status_stats_zone_status_and_reloads() {
    let ops = OpsServer::start("");
    let config = ops.config.as_path();
    let socket = socket_of(config);
    let meta = fs::metadata(&socket).unwrap_or_else(|e| panic!("no socket beside the config at {}: {e}", socket.display()));
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "owner-only socket");

    let status = ctl_ok(config, &["status"]);
    assert!(status.starts_with("portcullis ") && status.contains("1 zones"), "{status}");
    let (code, by_socket, _) = ctl(&["--socket", &socket.to_string_lossy(), "status"]);
    assert_eq!(code, 0);
    assert!(by_socket.starts_with("portcullis "));

    let before = stats(config)["queries_total"].as_u64().unwrap_or(0);
    udp_rcode(ops.server.addr, "www.example.test.", Rtype::A).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats(config)["queries_total"].as_u64(), Some(before + 1));
    let text = ctl_ok(config, &["stats"]);
    assert!(text.lines().any(|l| l == format!("queries_total {}", before + 1)), "{text}");

    let zones = ctl_ok(config, &["zone-status"]);
    assert!(zones.starts_with("example.test. serial 2024010101 loaded 20"), "{zones}");
    assert_eq!(ctl_ok(config, &["upstreams"]).trim(), "(none)");

    // reload-zone reads the zone file again.
    let file = ops.server.dir.join("example.test.zone");
    let zone = fs::read_to_string(&file).unwrap_or_default().replace("2024010101", "2024010102");
    fs::write(&file, zone).unwrap_or_default();
    assert!(ctl_ok(config, &["reload-zone", "example.test"]).contains("serial 2024010102"));
    assert!(ctl_ok(config, &["zone-status", "example.test."]).starts_with("example.test. serial 2024010102"));
    let (code, _, stderr) = ctl(&["--config", &config.to_string_lossy(), "reload-zone", "nowhere.test"]);
    assert_eq!(code, 1, "an unknown zone fails");
    assert!(stderr.contains("no zone nowhere.test. is configured"), "{stderr}");
    let (code, _, _) = ctl(&["--config", &config.to_string_lossy(), "zone-status", "nowhere.test"]);
    assert_eq!(code, 1);

    // A bad configuration fails the reload and keeps the server as it was.
    let good = fs::read_to_string(config).unwrap_or_default();
    fs::write(config, format!("{good}\n[server2]\n")).unwrap_or_default();
    let (code, _, stderr) = ctl(&["--socket", &socket.to_string_lossy(), "reload"]);
    assert_eq!(code, 1, "a bad configuration fails the reload");
    assert!(stderr.contains("server2"), "{stderr}");
    assert_eq!(udp_rcode(ops.server.addr, "www.example.test.", Rtype::A).map(|r| r.0), Ok(Rcode::NOERROR));
    fs::write(config, good).unwrap_or_default();
    assert_eq!(ctl_ok(config, &["reload"]).trim(), "reloaded");
    assert_eq!(ctl_ok(config, &["alerts"]).trim(), "(none)");
    assert_eq!(ctl_ok(config, &["alerts", "--json"]).trim(), "[]");

    let (code, _, stderr) = ctl(&["--socket", "/nonexistent/portcullis.ctl", "status"]);
    assert_eq!(code, 2, "an unreachable socket: {stderr}");
}

#[test]
fn the_control_socket_refuses_other_users() {
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root {
        println!("SKIPPED the_control_socket_refuses_other_users: needs root to run ctl as another user");
        return;
    }
    let Some(tools) = crate::peers::require("the_control_socket_refuses_other_users", &["setpriv"]) else { return };
    let ops = OpsServer::start("");
    let socket = socket_of(&ops.config);
    // The directory must let the other user reach the socket file, so only its mode decides.
    fs::set_permissions(&ops.server.dir, fs::Permissions::from_mode(0o755)).unwrap_or_default();
    let output = Command::new(&tools[0])
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BINARY, "ctl", "--socket"])
        .arg(&socket)
        .arg("status")
        .output()
        .unwrap_or_else(|e| panic!("setpriv: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "another user must not connect: {stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
}

#[test]
fn flush_removes_cached_names_and_upstreams_show_each_forwarder() {
    // upstream: authoritative for other.test.; front: serves example.test. and forwards other.test.
    let upstream = OpsServer::with_zone("", "other.test.", &testdata().join("zones/other.test.zone"));
    let forward = format!("\n[[forward]]\nzone = \"other.test.\"\ndnssec-validation = false\nprimaries = [\"{}\"]\n", upstream.server.addr);
    let front = OpsServer::start(&forward);
    let config = front.config.as_path();
    for name in ["www.other.test.", "ns.other.test.", "other.test."] {
        let (rcode, answers) = recursive(front.server.addr, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(rcode, Rcode::NOERROR, "{name} forwarded");
        assert!(answers > 0 || name == "other.test.", "{name}");
    }
    let entries = stats(config)["cache"]["entries"].as_u64().unwrap_or(0);
    assert!(entries >= 2, "answers cached: {entries}");

    let one = ctl_ok(config, &["flush", "www.other.test"]);
    assert!(one.starts_with("1 entries removed at www.other.test."), "{one}");
    assert_eq!(stats(config)["cache"]["entries"].as_u64(), Some(entries - 1));
    let below = ctl_ok(config, &["flush", "other.test", "--below"]);
    assert!(!below.starts_with("0 "), "{below}");
    let left = stats(config)["cache"]["entries"].as_u64().unwrap_or(0);
    assert!(left < entries - 1, "{below}");
    assert!(ctl_ok(config, &["flush"]).starts_with("cache flushed"));
    assert_eq!(stats(config)["cache"]["entries"].as_u64(), Some(0));

    let list = ctl_ok(config, &["upstreams"]);
    let expected = format!("other.test. {} up ", upstream.server.addr);
    assert!(list.lines().any(|l| l.starts_with(&expected)), "{list}");

    // Two servers side by side, each answering on its own socket.
    let theirs = ctl_ok(&upstream.config, &["zone-status"]);
    assert!(theirs.starts_with("other.test. serial 7"), "{theirs}");
    assert!(ctl_ok(config, &["zone-status"]).starts_with("example.test. serial"));
}

#[test]
fn a_socket_another_server_answers_on_is_not_taken() {
    let first = OpsServer::start("");
    let taken = socket_of(&first.config);
    let extra = format!("\n[control]\nsocket = \"{}\"\n", taken.display());
    let started = Instant::now();
    let second = OpsServer::try_with_zone(&extra, "example.test.", &crate::harness::example_zone());
    let error = second.err().unwrap_or_else(|| panic!("a second server took {}", taken.display()));
    assert!(error.contains("another server answers on it"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(ctl_ok(&first.config, &["status"]).starts_with("portcullis "), "the first server keeps its socket");
}
