//! A real tunnel (issue 16): Debian's `iodined` serves `t.tunnel-test.com.` on a loopback
//! hierarchy (NSD serves the root, `com.` and `tunnel-test.com.`, which delegates `t` to
//! iodined), and Debian's `iodine` client uses portcullis as its resolver (`-r`: no raw mode, so
//! every packet goes through DNS). In log mode portcullis detects the tunnel within a minute (a
//! `tunnelling` alert and a log line naming the domain); in block mode the tunnel breaks: iodine
//! never completes its set-up, or stops once refused.
//!
//! Needs root (port 53 on 127.x addresses, a TUN device), NSD, iodine and iodined; skipped
//! otherwise (failed under CI=true).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "it/client.rs"]
mod client;
mod hierarchy;
#[path = "it/peers.rs"]
mod peers;

use hierarchy::resolvers::Process;
use hierarchy::{net_for, start_nsd, Net};
use peers::{require, temp_dir, RemoveOnDrop};
use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const PASSWORD: &str = "portcullis-test";

fn zones(net: Net) -> Vec<(String, String)> {
    let ns = net.ip(1);
    let soa =
        |origin: &str| format!("$TTL 300\n{origin} IN SOA ns.{origin} h.{origin} 1 3600 600 86400 60\n{origin} IN NS ns.{origin}\nns.{origin} IN A {ns}\n");
    let root = format!(
        "$TTL 3600\n. IN SOA a.rootns. h.rootns. 1 3600 600 86400 300\n. IN NS a.rootns.\na.rootns. IN A {ns}\ncom. IN NS ns.com.\nns.com. IN A {ns}\n"
    );
    let com = soa("com.") + &format!("tunnel-test.com. IN NS ns.tunnel-test.com.\nns.tunnel-test.com. IN A {ns}\n");
    let tunnel = soa("tunnel-test.com.") + &format!("t.tunnel-test.com. IN NS ns.t.tunnel-test.com.\nns.t.tunnel-test.com. IN A {}\n", net.ip(2));
    vec![(".".into(), root), ("com.".into(), com), ("tunnel-test.com.".into(), tunnel)]
}

fn start_portcullis(dir: &Path, hints: &Path, listen: SocketAddr, mode: &str) -> Process {
    let config = dir.join("portcullis.toml");
    let text = format!(
        "[server]\nlisten = [\"{listen}\"]\nthreads = 1\n\n[resolver]\nrecursion = true\nroot-hints = \"{}\"\n\
         do-not-query-localhost = false\nallow-recursion = [\"127.0.0.0/8\"]\nuse-ipv6 = false\n\n\
         [detection]\ntunnelling = \"{mode}\"\n",
        hints.display()
    );
    fs::write(&config, text).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.arg("serve").arg("--config").arg(&config).env("RUST_LOG", "info");
    let mut process = Process::spawn("portcullis", command, dir.to_path_buf());
    process.wait_ready(listen, "com.");
    process
}

/// Polls `check` every 200 ms until it is true or `limit` passed; the time it took.
/// iodined's address inside the tunnel.
const TUNNEL_SERVER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 53, 53, 1);

fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

fn file_text(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// Runs iodined, portcullis in `mode` and the iodine client; returns (the processes, for their
/// logs, and the directory of each).
fn run(mode: &str, tools: &[std::path::PathBuf], net: Net, dir: &Path) -> (Vec<Process>, std::path::PathBuf, std::path::PathBuf) {
    fs::create_dir_all(dir).unwrap();
    let hints = dir.join("root.hints");
    fs::write(&hints, format!(".  3600000 NS a.rootns.\na.rootns. 3600000 A {}\n", net.ip(1))).unwrap();
    let server_dir = dir.join("iodined");
    let resolver_dir = dir.join("portcullis");
    let client_dir = dir.join("iodine");
    for sub in [&server_dir, &resolver_dir, &client_dir] {
        fs::create_dir_all(sub).unwrap();
    }
    let mut iodined = Command::new(&tools[1]);
    iodined.args(["-f", "-c", "-l"]).arg(net.ip(2).to_string()).args(["-p", "53", "-P", PASSWORD, &format!("{TUNNEL_SERVER}/27"), "t.tunnel-test.com"]);
    let iodined = Process::spawn("iodined", iodined, server_dir);
    let portcullis = start_portcullis(&resolver_dir, &hints, net.addr(3), mode);
    let mut iodine = Command::new(&tools[0]);
    iodine.args(["-f", "-r", "-P", PASSWORD]).arg(net.ip(3).to_string()).arg("t.tunnel-test.com");
    let iodine = Process::spawn("iodine", iodine, client_dir.clone());
    (vec![iodine, portcullis, iodined], resolver_dir, client_dir)
}

#[test]
fn a_real_iodine_tunnel_is_detected_in_log_mode_and_broken_in_block_mode() {
    let test = "a_real_iodine_tunnel_is_detected_in_log_mode_and_broken_in_block_mode";
    let Some(tools) = require(test, &["iodine", "iodined", "nsd"]) else { return };
    let Some(net) = net_for(test, 3, Some(("/dev/net/tun", Path::new("/dev/net/tun").exists()))) else { return };
    let zones = zones(net);
    let zone_refs: Vec<(&str, &str)> = zones.iter().map(|(origin, text)| (origin.as_str(), text.as_str())).collect();
    let _nsd = start_nsd(&tools[2], net.addr(1), &zone_refs).unwrap();
    let dir = temp_dir("iodine");
    let _cleanup = RemoveOnDrop(dir.clone());

    // Log mode: the tunnel is set up, and detected within a minute.
    let log_dir = dir.join("log");
    let (processes, resolver_dir, client_dir) = run("log", &tools, net, &log_dir);
    let logs = |processes: &[Process]| processes.iter().map(Process::logs).collect::<Vec<_>>().join("\n");
    let client_log = |dir: &Path| file_text(&dir.join("stderr.log")) + &file_text(&dir.join("stdout.log"));
    // Once the tunnel is up, data goes through it as an exfiltration would: a datagram of
    // changing bytes to iodined's tunnel address on every check (routed over the tunnel's own
    // interface, so nothing leaves the machine; never sent before the set-up is complete). The
    // set-up's own queries may or may not be enough for the detector, depending on timing.
    let sink = std::net::UdpSocket::bind("0.0.0.0:0").ok();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let detected = wait_until(Duration::from_secs(60), || {
        if let Some(sink) = sink.as_ref().filter(|_| client_log(&client_dir).contains("Connection setup complete")) {
            let payload: Vec<u8> = (0..400)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    (state >> 56) as u8
                })
                .collect();
            let _ = sink.send_to(&payload, (TUNNEL_SERVER, 9));
        }
        file_text(&resolver_dir.join("stderr.log")).contains("DNS tunnelling suspected")
            || file_text(&resolver_dir.join("stdout.log")).contains("DNS tunnelling suspected")
    });
    let set_up = wait_until(Duration::from_secs(60), || client_log(&client_dir).contains("Connection setup complete")).is_some();
    println!("log mode: detected after {detected:?}; iodine set up: {set_up}");
    assert!(!client_log(&client_dir).contains("Got REFUSED"), "log mode refused iodine's queries\n{}", logs(&processes));
    assert!(detected.is_some(), "the iodine tunnel was not detected within a minute\n{}", logs(&processes));
    assert!(set_up, "in log mode the tunnel works\n{}", logs(&processes));
    drop(processes);

    // Block mode: the tunnel breaks.
    let block_dir = dir.join("block");
    let (processes, resolver_dir, client_dir) = run("block", &tools, net, &block_dir);
    let refused = wait_until(Duration::from_secs(60), || {
        file_text(&resolver_dir.join("stderr.log")).contains("DNS tunnelling suspected")
            || file_text(&resolver_dir.join("stdout.log")).contains("DNS tunnelling suspected")
    });
    println!("block mode: detected after {refused:?}");
    assert!(refused.is_some(), "not detected in block mode\n{}", logs(&processes));
    let client_log = || file_text(&client_dir.join("stderr.log")) + &file_text(&client_dir.join("stdout.log"));
    // The tunnel breaks: iodine's queries get REFUSED from then on (it reports each one).
    let broken = wait_until(Duration::from_secs(30), || client_log().matches("Got REFUSED").count() >= 5);
    println!("iodine in block mode:\n{}", client_log());
    assert!(broken.is_some(), "iodine was not refused in block mode\n{}", logs(&processes));
    assert!(!client_log().contains("Got NXDOMAIN") || client_log().contains("Got REFUSED"));
    drop(processes);
}
