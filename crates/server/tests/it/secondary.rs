//! portcullis as a secondary (RFC 5936, RFC 1996), against real primaries:
//!
//! - of Knot: the zone is transferred at start and served; its AXFR from us equals Knot's; a new
//!   serial on Knot (SIGHUP) comes with Knot's NOTIFY, and we transfer it at once (our refresh
//!   timer is an hour away);
//! - of portcullis: the same through our own NOTIFY, and a NOTIFY from an address the `notify`
//!   ACL does not list changes nothing;
//! - with a TSIG key, of a Knot that only lets the key transfer: the signed transfer verifies;
//!   without the key the zone is not served;
//! - a reload that drops a secondary zone stops serving it, and one that adds it back transfers it;
//! - a NOTIFY signed with the zone's key passes a `notify` ACL that names the key; an unsigned
//!   one does not;
//! - with a `file`, the copy is written there and served after a restart without the primary,
//!   unless it was last refreshed longer ago than the SOA expire; a refresh that finds the
//!   serial unchanged marks it refreshed.

use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use portcullis_wire::message::Message;
use portcullis_wire::{Rcode, Rtype};

use crate::client::{self, Query};
use crate::peers::{self, free_port, require, run_tool, temp_dir, ServerProcess, ZoneSpec};
use crate::portcullis::BINARY;
use crate::transfers::{dig_axfr, records};

const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// `sec.test.` with `serial`; from serial 2 on it has `new.sec.test.`. Refresh is an hour.
fn zone_text(serial: u32) -> String {
    let mut text = format!("$ORIGIN sec.test.\n$TTL 300\n@ SOA ns hostmaster {serial} 3600 900 604800 60\n@ NS ns\nns A 192.0.2.53\n");
    for n in 0..500 {
        text.push_str(&format!("host{n} A 192.0.2.{}\n", n % 250 + 1));
    }
    if serial >= 2 {
        text.push_str("new A 192.0.2.2\n");
    }
    text
}

/// portcullis at `addr` with the configuration `body` (after `[server]`), ready once it answers
/// `probe` authoritatively.
pub fn portcullis_at(addr: SocketAddr, body: &str, probe: &str) -> ServerProcess {
    let dir = temp_dir("portcullis-secondary");
    let config = dir.join("portcullis.toml");
    fs::write(&config, format!("[server]\nlisten = [\"{addr}\"]\nthreads = 1\n\n{body}")).unwrap_or_else(|e| panic!("{e}"));
    let mut command = Command::new(BINARY);
    command.arg("serve").arg("--config").arg(&config);
    ServerProcess::start("portcullis", command, dir, addr, probe).unwrap_or_else(|e| panic!("{e}"))
}

fn secondary_config(primary: SocketAddr) -> String {
    format!("[acl]\ntransfer = [\"127.0.0.1\"]\nnotify = [\"127.0.0.1\"]\n\n[[zone]]\norigin = \"sec.test.\"\nprimaries = [\"{primary}\"]\n")
}

/// Waits (bounded) until `server` answers `new.sec.test. A`.
fn wait_for_new(dig: &Path, server: &ServerProcess, primary: &ServerProcess) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let args = [
            format!("@{}", server.addr.ip()),
            "-p".into(),
            server.addr.port().to_string(),
            "+short".into(),
            "+norec".into(),
            "new.sec.test.".into(),
            "A".into(),
        ];
        if run_tool(dig, &args, TOOL_TIMEOUT).contains("192.0.2.2") {
            return;
        }
        assert!(Instant::now() < deadline, "serial 2 did not reach the secondary after the NOTIFY\n{}\n{}", server.logs(), primary.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sighup(server: &ServerProcess) {
    let pid = server.pid().unwrap_or_else(|| panic!("no pid"));
    assert!(Command::new("kill").args(["-HUP", &pid.to_string()]).status().is_ok_and(|s| s.success()));
}

#[test]
fn secondary_of_knot_transfers_serves_and_follows_its_notify() {
    let test = "secondary_of_knot_transfers_serves_and_follows_its_notify";
    let Some(tools) = require(test, &["dig", "knotd"]) else { return };
    let dir = temp_dir("sec-zone");
    let file = dir.join("sec.test.zone");
    fs::write(&file, zone_text(1)).unwrap_or_else(|e| panic!("{e}"));
    let ours = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let knot = peers::knot_notifying(&tools[1], &[ZoneSpec::new("sec.test.", &file)], ours).unwrap_or_else(|e| panic!("{e}"));
    let secondary = portcullis_at(ours, &secondary_config(knot.addr), "sec.test.");
    let mine = records(&dig_axfr(&tools[0], secondary.addr, "sec.test.", &[]));
    let theirs = records(&dig_axfr(&tools[0], knot.addr, "sec.test.", &[]));
    assert_eq!(mine, theirs, "the secondary's copy differs from Knot's zone");
    assert!(mine.len() > 500);
    // Serial 2 on Knot: its NOTIFY makes us transfer at once.
    fs::write(knot.dir().join("0-sec.test.zone"), zone_text(2)).unwrap_or_else(|e| panic!("{e}"));
    sighup(&knot);
    wait_for_new(&tools[0], &secondary, &knot);
    let logs = secondary.logs();
    assert!(logs.contains("NOTIFY received") && logs.contains("serial=2"), "{logs}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn secondary_of_portcullis_follows_its_notify_and_ignores_unlisted_ones() {
    let test = "secondary_of_portcullis_follows_its_notify_and_ignores_unlisted_ones";
    let Some(tools) = require(test, &["dig"]) else { return };
    let dir = temp_dir("sec-zone");
    let file = dir.join("sec.test.zone");
    fs::write(&file, zone_text(1)).unwrap_or_else(|e| panic!("{e}"));
    let (primary_addr, secondary_addr) = (SocketAddr::from(([127, 0, 0, 1], free_port())), SocketAddr::from(([127, 0, 0, 1], free_port())));
    let primary_body =
        format!("[acl]\ntransfer = [\"127.0.0.1\"]\n\n[[zone]]\norigin = \"sec.test.\"\nfile = \"{}\"\nnotify = [\"{secondary_addr}\"]\n", file.display());
    let primary = portcullis_at(primary_addr, &primary_body, "sec.test.");
    // The secondary only takes NOTIFY from 127.0.0.1 (the primary's source address).
    let secondary = portcullis_at(secondary_addr, &secondary_config(primary_addr), "sec.test.");
    // A NOTIFY from 127.0.0.2 is refused and changes nothing.
    let notify = dig_notify(&tools[0], secondary_addr, "127.0.0.2");
    assert!(notify.contains("status: REFUSED"), "{notify}");
    // A new serial on the primary: its NOTIFY makes the secondary transfer at once.
    fs::write(&file, zone_text(2)).unwrap_or_else(|e| panic!("{e}"));
    sighup(&primary);
    wait_for_new(&tools[0], &secondary, &primary);
    assert!(secondary.logs().contains("NOTIFY received"), "{}", secondary.logs());
    let _ = fs::remove_dir_all(&dir);
}

/// A NOTIFY for `sec.test.` sent with dig from `source`.
fn dig_notify(dig: &Path, server: SocketAddr, source: &str) -> String {
    let args = [
        format!("@{}", server.ip()),
        "-p".into(),
        server.port().to_string(),
        "-b".into(),
        source.into(),
        "+opcode=notify".into(),
        "+norec".into(),
        "sec.test.".into(),
        "SOA".into(),
    ];
    run_tool(dig, &args, TOOL_TIMEOUT)
}

#[test]
fn secondary_with_a_key_transfers_from_a_knot_that_requires_it() {
    let test = "secondary_with_a_key_transfers_from_a_knot_that_requires_it";
    let Some(tools) = require(test, &["dig", "knotd"]) else { return };
    let (name, secret) = ("xfr.key.", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=");
    let dir = temp_dir("sec-zone");
    let file = dir.join("sec.test.zone");
    fs::write(&file, zone_text(1)).unwrap_or_else(|e| panic!("{e}"));
    let knot = peers::knot_requiring_key(&tools[1], &[ZoneSpec::new("sec.test.", &file)], (name, "hmac-sha256", secret)).unwrap_or_else(|e| panic!("{e}"));
    let keyed = format!("{}key = \"{name}\"\n\n[[key]]\nname = \"{name}\"\nsecret = \"{secret}\"\n", secondary_config(knot.addr));
    let secondary = portcullis_at(SocketAddr::from(([127, 0, 0, 1], free_port())), &keyed, "sec.test.");
    let mine = records(&dig_axfr(&tools[0], secondary.addr, "sec.test.", &[]));
    let key = format!("hmac-sha256:{name}:{secret}");
    let theirs = records(&dig_axfr(&tools[0], knot.addr, "sec.test.", &["-y", &key]));
    assert_eq!(mine, theirs);
    // Without the key Knot refuses the transfer: the zone is not served.
    let unkeyed_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let dir2 = temp_dir("portcullis-unkeyed");
    fs::write(dir2.join("portcullis.toml"), format!("[server]\nlisten = [\"{unkeyed_addr}\"]\nthreads = 1\n\n{}", secondary_config(knot.addr)))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut command = Command::new(BINARY);
    command.arg("serve").arg("--config").arg(dir2.join("portcullis.toml"));
    let unkeyed = ServerProcess::start("portcullis", command, dir2, unkeyed_addr, "sec.test.");
    let error = unkeyed.err().unwrap_or_else(|| panic!("served a zone it could not transfer"));
    assert!(error.contains("refresh failed"), "{error}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_reload_that_drops_a_secondary_zone_stops_serving_it_and_one_that_adds_it_back_transfers_it() {
    let test = "a_reload_that_drops_a_secondary_zone_stops_serving_it_and_one_that_adds_it_back_transfers_it";
    let Some(tools) = require(test, &["dig"]) else { return };
    let dir = temp_dir("sec-zone");
    let file = dir.join("sec.test.zone");
    fs::write(&file, zone_text(1)).unwrap_or_else(|e| panic!("{e}"));
    let primary_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let primary = portcullis_at(
        primary_addr,
        &format!("[acl]\ntransfer = [\"127.0.0.1\"]\n\n[[zone]]\norigin = \"sec.test.\"\nfile = \"{}\"\n", file.display()),
        "sec.test.",
    );
    let secondary_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let secondary = portcullis_at(secondary_addr, &secondary_config(primary.addr), "sec.test.");
    let status = |server: &ServerProcess| {
        let args = [
            format!("@{}", server.addr.ip()),
            "-p".into(),
            server.addr.port().to_string(),
            "+norec".into(),
            "+time=2".into(),
            "+tries=1".into(),
            "host1.sec.test.".into(),
            "A".into(),
        ];
        run_tool(&tools[0], &args, TOOL_TIMEOUT)
    };
    let config = secondary.dir().join("portcullis.toml");
    let with_zone = fs::read_to_string(&config).unwrap_or_else(|e| panic!("{e}"));
    let without = with_zone.replace(&format!("[[zone]]\norigin = \"sec.test.\"\nprimaries = [\"{}\"]\n", primary.addr), "");
    assert_ne!(without, with_zone);
    fs::write(&config, without).unwrap_or_else(|e| panic!("{e}"));
    sighup(&secondary);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !status(&secondary).contains("status: REFUSED") {
        assert!(Instant::now() < deadline, "the dropped zone is still served\n{}", secondary.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    fs::write(&config, with_zone).unwrap_or_else(|e| panic!("{e}"));
    sighup(&secondary);
    while !status(&secondary).contains("status: NOERROR") {
        assert!(Instant::now() < deadline, "the zone added back was not transferred\n{}", secondary.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_signed_notify_passes_an_acl_that_names_the_key_and_an_unsigned_one_does_not() {
    let test = "a_signed_notify_passes_an_acl_that_names_the_key_and_an_unsigned_one_does_not";
    let Some(tools) = require(test, &["dig"]) else { return };
    let (name, secret) = ("xfr.key.", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=");
    let key_table = format!("\n[[key]]\nname = \"{name}\"\nsecret = \"{secret}\"\n");
    let dir = temp_dir("sec-zone");
    let file = dir.join("sec.test.zone");
    fs::write(&file, zone_text(1)).unwrap_or_else(|e| panic!("{e}"));
    let (primary_addr, secondary_addr) = (SocketAddr::from(([127, 0, 0, 1], free_port())), SocketAddr::from(([127, 0, 0, 1], free_port())));
    // Both sides accept only the key: transfers on the primary, NOTIFY on the secondary.
    let primary_body = format!(
        "[acl]\ntransfer = [\"key {name}\"]\n\n[[zone]]\norigin = \"sec.test.\"\nfile = \"{}\"\nnotify = [\"{secondary_addr}\"]\nkey = \"{name}\"\n{key_table}",
        file.display()
    );
    let primary = portcullis_at(primary_addr, &primary_body, "sec.test.");
    let secondary_body =
        format!("[acl]\nnotify = [\"key {name}\"]\n\n[[zone]]\norigin = \"sec.test.\"\nprimaries = [\"{primary_addr}\"]\nkey = \"{name}\"\n{key_table}");
    let secondary = portcullis_at(secondary_addr, &secondary_body, "sec.test.");
    let unsigned = dig_notify(&tools[0], secondary_addr, "127.0.0.1");
    assert!(unsigned.contains("status: REFUSED"), "an unsigned NOTIFY: {unsigned}");
    fs::write(&file, zone_text(2)).unwrap_or_else(|e| panic!("{e}"));
    sighup(&primary);
    wait_for_new(&tools[0], &secondary, &primary);
    let logs = primary.logs();
    assert!(logs.contains("notify answered") && logs.contains("rcode=NOERROR"), "the signed NOTIFY was accepted and its answer verified\n{logs}");
    let _ = fs::remove_dir_all(&dir);
}

/// A NOTIFY resent for want of an answer is signed anew (a later time, another MAC): a
/// secondary's TSIG replay cache refuses the same signed bytes twice.
#[test]
fn a_resent_signed_notify_is_signed_anew() {
    let (name, secret) = ("xfr.key.", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=");
    let dir = temp_dir("sec-zone");
    let file = dir.join("sec.test.zone");
    fs::write(&file, zone_text(1)).unwrap_or_else(|e| panic!("{e}"));
    // A secondary that never answers: the primary resends after 1 s.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    silent.set_read_timeout(Some(Duration::from_secs(10))).unwrap_or_else(|e| panic!("{e}"));
    let target = silent.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let body = format!(
        "[[zone]]\norigin = \"sec.test.\"\nfile = \"{}\"\nnotify = [\"{target}\"]\nkey = \"{name}\"\n\n[[key]]\nname = \"{name}\"\nsecret = \"{secret}\"\n",
        file.display()
    );
    let _primary = portcullis_at(SocketAddr::from(([127, 0, 0, 1], free_port())), &body, "sec.test.");
    let mut signatures = Vec::new();
    let mut buf = vec![0u8; 4096];
    for send in ["first", "second"] {
        let len = silent.recv(&mut buf).unwrap_or_else(|e| panic!("no {send} NOTIFY: {e}"));
        let message = portcullis_wire::message::Message::parse(&buf[..len]).unwrap_or_else(|e| panic!("{e}"));
        let offset = message.tsig_offset().unwrap_or_else(|| panic!("the {send} NOTIFY is not signed"));
        let tsig = portcullis_wire::tsig::Tsig::parse(&buf[..len], offset).unwrap_or_else(|e| panic!("{e}"));
        signatures.push((tsig.time_signed, tsig.mac.to_vec()));
    }
    assert!(signatures[1].0 > signatures[0].0 && signatures[1].1 != signatures[0].1, "the resend is signed anew: {signatures:?}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_secondary_with_a_file_serves_its_kept_copy_after_a_restart_without_its_primary() {
    let test = "a_secondary_with_a_file_serves_its_kept_copy_after_a_restart_without_its_primary";
    let Some(tools) = require(test, &["dig"]) else { return };
    let dir = temp_dir("sec-zone");
    let file = dir.join("sec.test.zone");
    fs::write(&file, zone_text(2)).unwrap_or_else(|e| panic!("{e}"));
    let primary_body = format!("[acl]\ntransfer = [\"127.0.0.1\"]\n\n[[zone]]\norigin = \"sec.test.\"\nfile = \"{}\"\n", file.display());
    let primary = portcullis_at(SocketAddr::from(([127, 0, 0, 1], free_port())), &primary_body, "sec.test.");
    let copy = dir.join("kept-copy.zone");
    let body = format!("{}file = \"{}\"\n", secondary_config(primary.addr), copy.display());
    let secondary_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let secondary = portcullis_at(secondary_addr, &body, "sec.test.");
    // The copy is written after the transfer (bounded wait), and loads as a zone file.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !copy.exists() {
        assert!(Instant::now() < deadline, "no copy written\n{}", secondary.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    let check = Command::new(BINARY).args(["check-zone", "sec.test.", &copy.display().to_string()]).output().unwrap_or_else(|e| panic!("{e}"));
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    drop(secondary);
    drop(primary);
    // Restarted with its primary gone: the kept copy is served, new.sec.test. included.
    let restarted = portcullis_at(secondary_addr, &body, "sec.test.");
    wait_for_new(&tools[0], &restarted, &restarted);
    assert!(restarted.logs().contains("kept copy loaded"), "{}", restarted.logs());
    let _ = fs::remove_dir_all(&dir);
}

/// `sec.test.`'s kept copy at `file` (serial 2), last modified `days` ago.
fn aged_copy(file: &Path, days: u64) {
    fs::write(file, zone_text(2)).unwrap_or_else(|e| panic!("{e}"));
    let modified = std::time::SystemTime::now() - Duration::from_secs(days * 86_400);
    fs::File::options().write(true).open(file).and_then(|f| f.set_modified(modified)).unwrap_or_else(|e| panic!("{e}"));
}

/// Waits (bounded) until `server`'s log says what became of its kept copy.
fn kept_copy_decided(server: &ServerProcess) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let logs = server.logs();
        if logs.contains("kept copy loaded") || logs.contains("kept copy has expired") {
            return logs;
        }
        assert!(Instant::now() < deadline, "nothing logged about the kept copy\n{logs}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The kept copy's expiry counts from its last refresh (the file's modification time), not from
/// the restart: restarted without its primary, a copy last refreshed 8 days ago (the SOA expire
/// is 7) gets SERVFAIL, one refreshed 6 days ago is served.
#[test]
fn a_kept_copy_older_than_the_soa_expire_is_not_served_after_a_restart() {
    let dir = temp_dir("sec-expire");
    let copy = dir.join("kept-copy.zone");
    // Nothing listens at the primary's address.
    let gone = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let example = crate::harness::example_zone();
    let body = format!("{}file = \"{}\"\n\n[[zone]]\norigin = \"example.test.\"\nfile = \"{}\"\n", secondary_config(gone), copy.display(), example.display());
    for (days, expected) in [(8, Rcode::SERVFAIL), (6, Rcode::NOERROR)] {
        aged_copy(&copy, days);
        let server = portcullis_at(SocketAddr::from(([127, 0, 0, 1], free_port())), &body, "example.test.");
        let logs = kept_copy_decided(&server);
        let reply = client::udp(server.addr, &Query::new("new.sec.test.", Rtype::A)).unwrap_or_else(|e| panic!("{e}"));
        let message = Message::parse(&reply).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(message.rcode(), expected, "a copy refreshed {days} days ago\n{logs}");
        assert_eq!(message.header().ancount(), u16::from(expected == Rcode::NOERROR), "a copy refreshed {days} days ago");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// A refresh that finds the serial unchanged marks the kept copy refreshed (its modification
/// time), so that a restart later counts the expiry from it.
#[test]
fn a_refresh_with_the_same_serial_marks_the_kept_copy_refreshed() {
    let dir = temp_dir("sec-touch");
    let file = dir.join("sec.test.zone");
    fs::write(&file, zone_text(2)).unwrap_or_else(|e| panic!("{e}"));
    let primary_body = format!("[acl]\ntransfer = [\"127.0.0.1\"]\n\n[[zone]]\norigin = \"sec.test.\"\nfile = \"{}\"\n", file.display());
    let primary = portcullis_at(SocketAddr::from(([127, 0, 0, 1], free_port())), &primary_body, "sec.test.");
    let copy = dir.join("kept-copy.zone");
    aged_copy(&copy, 6);
    let body = format!("{}file = \"{}\"\n", secondary_config(primary.addr), copy.display());
    let secondary = portcullis_at(SocketAddr::from(([127, 0, 0, 1], free_port())), &body, "sec.test.");
    let deadline = Instant::now() + Duration::from_secs(20);
    let age = || fs::metadata(&copy).and_then(|m| m.modified()).ok().and_then(|m| m.elapsed().ok()).unwrap_or(Duration::MAX);
    while age() > Duration::from_secs(600) {
        assert!(Instant::now() < deadline, "the kept copy was not marked refreshed\n{}", secondary.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!secondary.logs().contains("secondary zone transferred"), "same serial: no transfer\n{}", secondary.logs());
    let _ = fs::remove_dir_all(&dir);
}
