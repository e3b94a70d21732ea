//! Outgoing zone transfers (AXFR, RFC 5936; IXFR, RFC 1995) against the real thing:
//!
//! - `dig` and `kdig` AXFR from portcullis give the same records as from NSD and Knot serving
//!   the same zone files (`example.test.`, and `gen.test.` with thousands of names, so the
//!   transfer spans many messages);
//! - Knot, configured as a secondary of portcullis, transfers the zone and then sends the same
//!   zone on: its AXFR equals ours;
//! - IXFR: from an older serial over TCP the whole zone, from the current serial or over UDP
//!   the SOA alone;
//! - `portcullis query ZONE AXFR` prints the records dig prints, and a refusal as a reply;
//! - NOTIFY (RFC 1996): a reload with a new serial tells Knot, which transfers the new zone at
//!   once (its SOA refresh is an hour away).
//!
//! portcullis runs with `[acl] transfer = ["127.0.0.1"]`.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::peers::{self, free_port, require, run_tool, temp_dir, ServerProcess, ZoneSpec};
use crate::portcullis::BINARY;
use crate::zones;

/// A client run longer than this is killed and fails the test.
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// portcullis serving `zones`, transfers allowed from 127.0.0.1.
fn primary(zones: &[ZoneSpec]) -> ServerProcess {
    primary_with(zones, "[acl]\ntransfer = [\"127.0.0.1\"]\n")
}

/// portcullis serving `zones`, with `extra` configuration (tables other than `[server]`).
pub fn primary_with(zones: &[ZoneSpec], extra: &str) -> ServerProcess {
    let dir = temp_dir("portcullis-primary");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut config = format!("[server]\nlisten = [\"{addr}\"]\nthreads = 1\n\n{extra}\n");
    for zone in zones {
        config.push_str(&format!("\n[[zone]]\norigin = \"{}\"\nfile = \"{}\"\n", zone.origin, zone.file.display()));
    }
    let path = dir.join("portcullis.toml");
    fs::write(&path, config).unwrap_or_else(|e| panic!("write config: {e}"));
    let mut command = Command::new(BINARY);
    command.arg("serve").arg("--config").arg(&path);
    ServerProcess::start("portcullis", command, dir, addr, &zones[0].origin).unwrap_or_else(|e| panic!("{e}"))
}

/// The records a transfer printed (`dig`/`kdig` with `+noall +answer`), one line each, fields
/// joined by single spaces, sorted.
pub fn records(output: &str) -> Vec<String> {
    let mut lines: Vec<String> = output
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with(';'))
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    lines.sort();
    lines
}

pub fn dig_axfr(dig: &Path, server: SocketAddr, zone: &str, extra: &[&str]) -> String {
    let mut args =
        vec![format!("@{}", server.ip()), "-p".into(), server.port().to_string(), "+noall".into(), "+answer".into(), "+time=5".into(), "+tries=1".into()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.extend([zone.to_owned(), "AXFR".to_owned()]);
    run_tool(dig, &args, TOOL_TIMEOUT)
}

fn kdig_axfr(kdig: &Path, server: SocketAddr, zone: &str) -> String {
    let args = [
        format!("@{}", server.ip()),
        "-p".into(),
        server.port().to_string(),
        "+noall".into(),
        "+answer".into(),
        "+time=5".into(),
        "+retry=0".into(),
        zone.into(),
        "AXFR".into(),
    ];
    run_tool(kdig, &args, TOOL_TIMEOUT)
}

/// The SOA serial a transfer printed first.
fn first_serial(lines: &[String]) -> u32 {
    let soa = lines.iter().find(|line| line.split(' ').nth(3) == Some("SOA")).unwrap_or_else(|| panic!("no SOA in {lines:?}"));
    soa.split(' ').nth(6).and_then(|serial| serial.parse().ok()).unwrap_or_else(|| panic!("no serial in {soa}"))
}

#[test]
fn axfr_gives_the_records_nsd_and_knot_give() {
    let test = "axfr_gives_the_records_nsd_and_knot_give";
    let Some(tools) = require(test, &["dig", "kdig", "nsd", "knotd"]) else { return };
    let zone_list = [zones::example_test(), zones::generated()];
    let ours = primary(&zone_list);
    let nsd = peers::nsd(&tools[2], &zone_list).unwrap_or_else(|e| panic!("{e}"));
    let knot = peers::knot(&tools[3], &zone_list).unwrap_or_else(|e| panic!("{e}"));
    for zone in &zone_list {
        let mine = records(&dig_axfr(&tools[0], ours.addr, &zone.origin, &[]));
        let soa_count = mine.iter().filter(|line| line.split(' ').nth(3) == Some("SOA")).count();
        assert_eq!(soa_count, 2, "{}: the SOA opens and closes the transfer\n{}", zone.origin, ours.logs());
        assert!(mine.len() > 10, "{}: {mine:?}", zone.origin);
        for (name, peer) in [("nsd", &nsd), ("knot", &knot)] {
            let theirs = records(&dig_axfr(&tools[0], peer.addr, &zone.origin, &[]));
            assert_eq!(mine, theirs, "{}: our AXFR differs from {name}'s", zone.origin);
        }
        let with_kdig = records(&kdig_axfr(&tools[1], ours.addr, &zone.origin));
        assert_eq!(with_kdig, mine, "{}: kdig reads the same transfer", zone.origin);
        println!("AXFR {}: {} records, identical to NSD's and Knot's", zone.origin, mine.len());
    }
}

#[test]
fn knot_as_a_secondary_transfers_the_zone_from_portcullis() {
    let test = "knot_as_a_secondary_transfers_the_zone_from_portcullis";
    let Some(tools) = require(test, &["dig", "knotd"]) else { return };
    let zone = zones::generated();
    let ours = primary(std::slice::from_ref(&zone));
    // Ready once Knot answers the zone's SOA with AA: it has transferred the zone.
    let secondary = peers::knot_secondary(&tools[1], &zone.origin, ours.addr, None).unwrap_or_else(|e| panic!("{e}\n{}", ours.logs()));
    let mine = records(&dig_axfr(&tools[0], ours.addr, &zone.origin, &[]));
    let theirs = records(&dig_axfr(&tools[0], secondary.addr, &zone.origin, &[]));
    assert_eq!(theirs, mine, "the secondary's zone differs from the primary's\n{}", secondary.logs());
    println!("Knot transferred {} ({} records) from portcullis", zone.origin, mine.len());
}

#[test]
fn ixfr_sends_the_zone_to_an_old_serial_and_the_soa_to_a_current_one() {
    let test = "ixfr_sends_the_zone_to_an_old_serial_and_the_soa_to_a_current_one";
    let Some(tools) = require(test, &["dig"]) else { return };
    let zone = zones::example_test();
    let ours = primary(std::slice::from_ref(&zone));
    let full = records(&dig_axfr(&tools[0], ours.addr, &zone.origin, &[]));
    let serial = first_serial(&full);
    let ixfr = |serial: u32, transport: &str| {
        let args = [
            format!("@{}", ours.addr.ip()),
            "-p".into(),
            ours.addr.port().to_string(),
            "+noall".into(),
            "+answer".into(),
            "+time=5".into(),
            "+tries=1".into(),
            transport.into(),
            zone.origin.clone(),
            format!("IXFR={serial}"),
        ];
        records(&run_tool(&tools[0], &args, TOOL_TIMEOUT))
    };
    // An older serial over TCP: the whole zone (no history is kept), as AXFR sends it.
    assert_eq!(ixfr(serial.wrapping_sub(1), "+tcp"), full);
    // The current serial, or a newer one: the SOA alone.
    for asked in [serial, serial.wrapping_add(5)] {
        let soa = ixfr(asked, "+tcp");
        assert_eq!(soa.len(), 1, "IXFR={asked}: {soa:?}");
        assert_eq!(first_serial(&soa), serial);
    }
    // Over UDP: the SOA alone, whatever the serial (the client then asks over TCP).
    let udp = ixfr(serial.wrapping_sub(1), "+notcp");
    assert_eq!((udp.len(), first_serial(&udp)), (1, serial), "{udp:?}");
}

#[test]
fn portcullis_query_axfr_prints_the_records_dig_prints() {
    let test = "portcullis_query_axfr_prints_the_records_dig_prints";
    let Some(tools) = require(test, &["dig"]) else { return };
    let zone = zones::generated();
    let ours = primary(std::slice::from_ref(&zone));
    let at = format!("@{}", ours.addr);
    let output = Command::new(BINARY).args(["query", &zone.origin, "AXFR", &at]).output().unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}{}", String::from_utf8_lossy(&output.stderr));
    let dig = records(&dig_axfr(&tools[0], ours.addr, &zone.origin, &[]));
    assert_eq!(records(&text), dig, "the records of the transfer");
    let messages = text.lines().find(|line| line.starts_with(";; XFR size:")).unwrap_or_else(|| panic!("no XFR size line:\n{text}"));
    assert!(messages.contains(&format!("{} records", dig.len())), "{messages}");
    let json = Command::new(BINARY).args(["query", &zone.origin, "AXFR", &at, "--json"]).output().unwrap_or_else(|e| panic!("{e}"));
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(value["records"].as_array().map(Vec::len), Some(dig.len()));
    assert!(value["messages"].as_u64().is_some_and(|n| n > 1), "{}", value["messages"]);
    // A server that does not allow the transfer: the refusal is printed, exit status 2.
    let refusing = crate::portcullis::start(std::slice::from_ref(&zone));
    let refused = Command::new(BINARY).args(["query", &zone.origin, "AXFR", &format!("@{}", refusing.addr)]).output().unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&refused.stdout);
    assert_eq!(refused.status.code(), Some(2), "{text}");
    assert!(text.contains("status: REFUSED"), "{text}");
}

/// `notify.test.` with `serial` and, from serial 2 on, `new.notify.test.`.
fn notify_zone(serial: u32) -> String {
    let mut text = format!("$ORIGIN notify.test.\n$TTL 300\n@ SOA ns hostmaster {serial} 3600 900 604800 60\n@ NS ns\nns A 192.0.2.53\nold A 192.0.2.1\n");
    if serial >= 2 {
        text.push_str("new A 192.0.2.2\n");
    }
    text
}

#[test]
fn a_reload_with_a_new_serial_notifies_knot_which_transfers_at_once() {
    let test = "a_reload_with_a_new_serial_notifies_knot_which_transfers_at_once";
    let Some(tools) = require(test, &["dig", "knotd"]) else { return };
    let dir = temp_dir("notify-zone");
    let file = dir.join("notify.test.zone");
    fs::write(&file, notify_zone(1)).unwrap_or_else(|e| panic!("{e}"));
    let zone = ZoneSpec::new("notify.test.", &file);
    let ours = primary(std::slice::from_ref(&zone));
    let secondary = peers::knot_secondary(&tools[1], &zone.origin, ours.addr, None).unwrap_or_else(|e| panic!("{e}\n{}", ours.logs()));
    let ask_new = || {
        let args = [
            format!("@{}", secondary.addr.ip()),
            "-p".into(),
            secondary.addr.port().to_string(),
            "+short".into(),
            "+time=1".into(),
            "+tries=1".into(),
            "new.notify.test.".into(),
            "A".into(),
        ];
        run_tool(&tools[0], &args, TOOL_TIMEOUT)
    };
    assert!(!ask_new().contains("192.0.2.2"), "serial 1 has no new.notify.test.");
    // Serial 2, and the secondary as a NOTIFY target; then SIGHUP.
    fs::write(&file, notify_zone(2)).unwrap_or_else(|e| panic!("{e}"));
    let config = ours.dir().join("portcullis.toml");
    let text = fs::read_to_string(&config).unwrap_or_else(|e| panic!("{e}"));
    let line = format!("file = \"{}\"\n", file.display());
    fs::write(&config, text.replace(&line, &format!("{line}notify = [\"{}\"]\n", secondary.addr))).unwrap_or_else(|e| panic!("{e}"));
    let pid = ours.pid().unwrap_or_else(|| panic!("no pid"));
    assert!(Command::new("kill").args(["-HUP", &pid.to_string()]).status().is_ok_and(|s| s.success()));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !ask_new().contains("192.0.2.2") {
        assert!(std::time::Instant::now() < deadline, "Knot did not transfer serial 2 after the NOTIFY\n{}\n{}", ours.logs(), secondary.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    let logs = ours.logs();
    assert!(logs.contains("notify answered") && logs.contains("rcode=NOERROR"), "{logs}");
    let _ = fs::remove_dir_all(&dir);
}
