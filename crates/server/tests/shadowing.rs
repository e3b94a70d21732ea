//! The domain shadowing detector end to end (issue 16 item 2), both sides.
//!
//! Resolver: NSD serves a loopback root, `com.` and two domains under it; portcullis resolves
//! from that root with short windows (`shadowing-establish = 2`, `shadowing-burst-window = 3`).
//! Both domains are established (their usual names resolved, then the establishing time
//! waited out). `growing-test.com.` then grows by 50 names in its own network at once and by 52
//! names in four new networks, one window apart (ordinary growth: each burst stays below
//! `shadowing-burst`); `bank-test.com.` gains 50 names in a new network in one burst. Only the
//! latter is a `shadowing` alert (`ctl alerts --json`, as `/api/alerts` serves it).
//!
//! Authoritative: a portcullis primary whose zone file gains 60 names under one parent, reloaded
//! by `ctl reload-zone`, then 60 under another, reloaded by SIGHUP, then an `nsupdate` adding 55
//! under a third: three `shadowing_zone` alerts naming those parents; the first load (with 60
//! names under one parent) and a reload adding three names make none. A portcullis secondary
//! following by NOTIFY and IXFR raises the same three (its first AXFR is a first load).
//!
//! The resolver test needs root (port 53 on 127.x addresses) and NSD; the authoritative one
//! nsupdate; each is skipped without them (failed under CI=true). Every wait is bounded.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "it/client.rs"]
mod client;
mod hierarchy;
#[path = "it/peers.rs"]
mod peers;

use client::Query;
use hierarchy::resolvers::{alerts, wait_alert, Process};
use hierarchy::{net_for, start_nsd, Net};
use peers::{free_port, require, run_tool, temp_dir, RemoveOnDrop};
use portcullis_wire::Rtype;
use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The burst window set for the test, in seconds.
const WINDOW: f64 = 3.0;

fn zones(net: Net) -> Vec<(String, String)> {
    let ns = net.ip(1);
    let soa =
        |origin: &str| format!("$TTL 300\n{origin} IN SOA ns.{origin} h.{origin} 1 3600 600 86400 60\n{origin} IN NS ns.{origin}\nns.{origin} IN A {ns}\n");
    let root = format!(
        "$TTL 3600\n. IN SOA a.rootns. h.rootns. 1 3600 600 86400 300\n. IN NS a.rootns.\na.rootns. IN A {ns}\ncom. IN NS ns.com.\nns.com. IN A {ns}\n"
    );
    let mut com = soa("com.");
    for domain in ["bank-test.com.", "growing-test.com."] {
        com.push_str(&format!("{domain} IN NS ns.{domain}\nns.{domain} IN A {ns}\n"));
    }
    let mut bank = soa("bank-test.com.");
    let mut growing = soa("growing-test.com.");
    for i in 0..10 {
        bank.push_str(&format!("host{i}.bank-test.com. IN A 192.0.2.{}\n", 10 + i));
        growing.push_str(&format!("host{i}.growing-test.com. IN A 198.51.100.{}\n", 10 + i));
    }
    for i in 0..50 {
        bank.push_str(&format!("login-{i}.bank-test.com. IN A 203.0.113.{}\n", i + 1));
        growing.push_str(&format!("web-{i}.growing-test.com. IN A 198.51.100.{}\n", 100 + i));
    }
    for chunk in 0..4 {
        for i in 0..13 {
            growing.push_str(&format!("shop-{chunk}-{i}.growing-test.com. IN A 100.64.{chunk}.{}\n", i + 1));
        }
    }
    vec![(".".into(), root), ("com.".into(), com), ("bank-test.com.".into(), bank), ("growing-test.com.".into(), growing)]
}

/// One RD=1 A query over UDP, answered NOERROR with one address (three tries, 3 s each).
fn resolve(server: SocketAddr, qname: &str) {
    let mut wire = Query::new(qname, Rtype::A).to_wire(0x5a0d).unwrap();
    wire[2] |= 0x01;
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(server).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    for _ in 0..3 {
        socket.send(&wire).unwrap();
        let mut reply = [0u8; 4096];
        if let Ok(len) = socket.recv(&mut reply) {
            assert!(len > 12 && reply[3] & 0x0f == 0 && reply[6..8] == [0, 1], "{qname}: {:?}", &reply[..len]);
            return;
        }
    }
    panic!("{qname}: no reply from {server}");
}

/// Sleeps until `when` (the detector's windows are time itself: nothing else to wait on).
fn wait_until(when: Instant) {
    if let Some(left) = when.checked_duration_since(Instant::now()) {
        std::thread::sleep(left);
    }
}

#[test]
fn a_burst_of_new_names_in_a_new_network_is_an_alert_and_ordinary_growth_is_not() {
    let test = "a_burst_of_new_names_in_a_new_network_is_an_alert_and_ordinary_growth_is_not";
    let Some(tools) = require(test, &["nsd"]) else { return };
    let Some(net) = net_for(test, 1, None) else { return };
    let zones = zones(net);
    let zone_refs: Vec<(&str, &str)> = zones.iter().map(|(origin, text)| (origin.as_str(), text.as_str())).collect();
    let _nsd = start_nsd(&tools[0], net.addr(1), &zone_refs).unwrap();
    let dir = temp_dir("shadowing");
    let _cleanup = RemoveOnDrop(dir.clone());
    let hints = dir.join("root.hints");
    fs::write(&hints, format!(".  3600000 NS a.rootns.\na.rootns. 3600000 A {}\n", net.ip(1))).unwrap();
    let home = dir.join("portcullis");
    fs::create_dir_all(&home).unwrap();
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let extra = "\n[detection]\nshadowing-establish = 2\nshadowing-burst-window = 3\n";
    let portcullis = hierarchy::resolvers::start_portcullis_with(&home, &hints, listen, "com.", extra);
    let config = home.join("portcullis.toml");

    // Both domains' usual names: their networks are learned; 2 s later they are established.
    let first = Instant::now();
    for i in 0..10 {
        resolve(listen, &format!("host{i}.bank-test.com."));
        resolve(listen, &format!("host{i}.growing-test.com."));
    }
    wait_until(first + Duration::from_secs_f64(WINDOW));

    // Ordinary growth: 50 new names in the domain's own network at once, then 52 in four new
    // networks, a burst window apart, each burst below the threshold (20).
    for i in 0..50 {
        resolve(listen, &format!("web-{i}.growing-test.com."));
    }
    for chunk in 0..4 {
        let started = Instant::now();
        for i in 0..13 {
            resolve(listen, &format!("shop-{chunk}-{i}.growing-test.com."));
        }
        if chunk < 3 {
            // Past the window that began with this chunk's first answer (whole seconds).
            wait_until(started + Duration::from_secs_f64(WINDOW + 0.5));
        }
    }
    // Shadowing: 50 new names in a new network in one burst.
    for i in 0..50 {
        resolve(listen, &format!("login-{i}.bank-test.com."));
    }
    println!("queries done {:?} after the first", first.elapsed());

    let alert = wait_alert(&config, "shadowing", Some("bank-test.com.")).unwrap_or_else(|| panic!("no shadowing alert\n{}", portcullis.logs()));
    assert_eq!(alert["action"], "log", "{alert}");
    assert!(alert["score"].as_f64().is_some_and(|score| score >= 20.0), "{alert}");
    assert!(alert["detail"].as_str().is_some_and(|detail| detail.contains("203.0.113.0/24") && detail.contains("within 3 s")), "{alert}");
    // Alerts are drained in order: the growth came first, and made none.
    let growing: Vec<_> = alerts(&config).into_iter().filter(|alert| alert["domain"] == "growing-test.com.").collect();
    assert!(growing.is_empty(), "ordinary growth raised {growing:?}");
    assert!(portcullis.stderr().contains("domain shadowing suspected") || portcullis.logs().contains("domain shadowing suspected"));
}

const ORIGIN: &str = "shadow.test.";
const KEY: &str = "ddns.key.";
const SECRET: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";

/// The zone's text at `serial`: its usual names, 60 under `legacy` (there from the first load),
/// and `count` names under each of `parents`.
fn zone_text(serial: u32, parents: &[(&str, usize)]) -> String {
    let mut text = format!("$ORIGIN {ORIGIN}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.80\n");
    for (parent, count) in [("legacy", 60)].iter().chain(parents) {
        for i in 0..*count {
            text.push_str(&format!("n{i}.{parent} A 203.0.113.{}\n", i % 250 + 1));
        }
    }
    text
}

/// The serial served, if any (a secondary serves none before its first transfer).
fn serial(addr: SocketAddr) -> Option<u32> {
    let reply = client::udp(addr, &Query::new(ORIGIN, Rtype::SOA)).ok()?;
    let message = portcullis_wire::message::Message::parse(&reply).ok()?;
    let soa = message.records(portcullis_wire::message::Section::Answer).find(|r| r.rtype == Rtype::SOA)?.rdata.to_vec();
    Some(u32::from_be_bytes(soa.get(soa.len().checked_sub(20)?..soa.len() - 16)?.try_into().ok()?))
}

/// Waits (at most 10 s) until the zone served is at `expected`.
fn wait_serial(addr: SocketAddr, expected: u32, process: &Process) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while serial(addr) != Some(expected) {
        assert!(Instant::now() < deadline, "serial {expected} never served\n{}", process.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ctl(config: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_portcullis")).arg("ctl").arg("--config").arg(config).args(args).output().unwrap();
    assert!(output.status.success(), "ctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn zone_changes_adding_names_in_bulk_under_one_parent_are_alerts() {
    let Some(tools) = require("zone_changes_adding_names_in_bulk_under_one_parent_are_alerts", &["nsupdate"]) else { return };
    let dir = temp_dir("shadowing-zone");
    let _cleanup = RemoveOnDrop(dir.clone());
    let home = dir.join("portcullis");
    fs::create_dir_all(&home).unwrap();
    let zone = home.join("shadow.test.zone");
    fs::write(&zone, zone_text(1, &[])).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let secondary_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = home.join("portcullis.toml");
    let text = format!(
        "[server]\nlisten = [\"{addr}\"]\nthreads = 1\n\n[acl]\nupdate = [\"key {KEY}\"]\ntransfer = [\"127.0.0.0/8\"]\n\n\
         [[key]]\nname = \"{KEY}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\n\
         [[zone]]\norigin = \"{ORIGIN}\"\nfile = \"{}\"\nnotify = [\"{secondary_addr}\"]\n\
         update-policy = [{{ grant = \"{KEY}\", match = \"zonesub\" }}]\n",
        zone.display()
    );
    fs::write(&config, text).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.arg("serve").arg("--config").arg(&config).env("RUST_LOG", "info");
    let mut portcullis = Process::spawn("portcullis", command, home.clone());
    portcullis.wait_ready(addr, ORIGIN);
    // A portcullis secondary, following by NOTIFY and IXFR (its first copy, an AXFR, is a first load).
    let secondary_home = dir.join("secondary");
    fs::create_dir_all(&secondary_home).unwrap();
    let secondary_config = secondary_home.join("portcullis.toml");
    let text = format!(
        "[server]\nlisten = [\"{secondary_addr}\"]\nthreads = 1\n\n[acl]\nnotify = [\"127.0.0.0/8\"]\n\n[[zone]]\norigin = \"{ORIGIN}\"\nprimaries = [\"{addr}\"]\n"
    );
    fs::write(&secondary_config, text).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.arg("serve").arg("--config").arg(&secondary_config).env("RUST_LOG", "info");
    let mut secondary = Process::spawn("secondary", command, secondary_home.clone());
    secondary.wait_ready(secondary_addr, ORIGIN);
    wait_serial(secondary_addr, 1, &secondary);

    // A few names: no alert. 60 under promo: an alert (ctl reload-zone).
    fs::write(&zone, zone_text(2, &[("few", 3)])).unwrap();
    ctl(&config, &["reload-zone", ORIGIN]);
    fs::write(&zone, zone_text(3, &[("few", 3), ("promo", 60)])).unwrap();
    let out = ctl(&config, &["reload-zone", ORIGIN]);
    assert!(out.contains("serial 3"), "{out}");
    let promo = wait_alert(&config, "shadowing_zone", Some("promo.shadow.test.")).unwrap_or_else(|| panic!("no alert for promo\n{}", portcullis.logs()));
    assert_eq!((promo["score"].as_f64(), promo["action"].as_str()), (Some(60.0), Some("log")), "{promo}");
    let detail = promo["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("zone shadow.test.: 60 new names under promo.shadow.test.") && detail.contains("serial 2 -> 3"), "{promo}");

    // 60 under deals, SIGHUP.
    fs::write(&zone, zone_text(4, &[("few", 3), ("promo", 60), ("deals", 60)])).unwrap();
    let pid = portcullis.child.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    wait_serial(addr, 4, &portcullis);
    wait_alert(&config, "shadowing_zone", Some("deals.shadow.test.")).unwrap_or_else(|| panic!("no alert for deals\n{}", portcullis.logs()));

    // 55 names under upd in one dynamic update (nsupdate over TCP, signed).
    let script = dir.join("nsupdate.txt");
    let adds: String = (0..55).map(|i| format!("update add n{i}.upd.{ORIGIN} 300 A 198.51.100.{}\n", i + 1)).collect();
    fs::write(&script, format!("server {} {}\nzone {ORIGIN}\n{adds}send\n", addr.ip(), addr.port())).unwrap();
    let args = ["-v".to_string(), "-y".to_string(), format!("hmac-sha256:{KEY}:{SECRET}"), script.display().to_string()];
    let out = run_tool(&tools[0], &args, Duration::from_secs(30));
    assert!(out.trim().is_empty(), "nsupdate: {out}\n{}", portcullis.logs());
    wait_serial(addr, 5, &portcullis);
    wait_alert(&config, "shadowing_zone", Some("upd.shadow.test.")).unwrap_or_else(|| panic!("no alert for the update\n{}", portcullis.logs()));
    wait_serial(secondary_addr, 5, &secondary);

    // Nothing else: not the first load's 60 legacy names, not the three new ones.
    let mut parents: Vec<String> = alerts(&config)
        .iter()
        .filter(|alert| alert["kind"] == "shadowing_zone")
        .map(|alert| alert["domain"].as_str().unwrap_or_default().to_string())
        .collect();
    parents.sort();
    assert_eq!(parents, ["deals.shadow.test.", "promo.shadow.test.", "upd.shadow.test."]);
    // The secondary judged each transfer in the same way.
    let mut parents: Vec<String> = alerts(&secondary_config)
        .iter()
        .filter(|alert| alert["kind"] == "shadowing_zone")
        .map(|alert| alert["domain"].as_str().unwrap_or_default().to_string())
        .collect();
    parents.sort();
    assert_eq!(parents, ["deals.shadow.test.", "promo.shadow.test.", "upd.shadow.test."], "{}", secondary.logs());
    assert!(portcullis.stderr().contains("names added in bulk") || portcullis.logs().contains("names added in bulk"), "{}", portcullis.logs());
}
