//! `nsupdate -y` and `knsupdate -y` against portcullis (RFC 2136 §3): every outcome a client can
//! see, each checked in the tool's own output (both tools verify the TSIG of the answer and say
//! so when it fails) and in the zone served afterwards.

use crate::peers::{require, run_tool};
use crate::support::{lookup, serial, start_primary, KEY, OTHER_KEY, OTHER_SECRET, SECRET, SERIAL};
use portcullis_wire::Rtype;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `tool` (nsupdate or knsupdate) with `key` (`-y`, none: unsigned) on `commands` (the
/// server line and `send` are added); its output.
fn update(tool: &Path, addr: SocketAddr, key: Option<String>, commands: &str, tcp: bool) -> String {
    let dir = crate::peers::temp_dir("nsupdate");
    let script = dir.join("script");
    std::fs::write(&script, format!("server {} {}\nzone dyn.test.\n{commands}\nsend\n", addr.ip(), addr.port())).unwrap_or_else(|e| panic!("{e}"));
    let mut args: Vec<String> = Vec::new();
    if tcp {
        args.push("-v".into());
    }
    if let Some(key) = key {
        args.extend(["-y".into(), key]);
    }
    args.push(script.display().to_string());
    let output = run_tool(tool, &args, TOOL_TIMEOUT);
    let _ = std::fs::remove_dir_all(&dir);
    output
}

fn ddns() -> Option<String> {
    Some(format!("hmac-sha256:{KEY}:{SECRET}"))
}

/// The tool's output says the update failed with `rcode` (nsupdate: "update failed: X",
/// knsupdate: "update failed with 'X'" or "... (X)").
fn failed_with(output: &str, rcode: &str) -> bool {
    output.lines().any(|line| line.contains("failed") && line.contains(rcode))
}

#[test]
fn nsupdate_adds_deletes_and_checks_prerequisites() {
    let Some(tools) = require("nsupdate_adds_deletes_and_checks_prerequisites", &["nsupdate"]) else { return };
    let nsupdate = &tools[0];
    let (server, state) = start_primary("");
    let addr = server.addr;
    // Add, over UDP and over TCP: answered NOERROR, signed (nsupdate verifies the answer's TSIG
    // and prints an error when it does not), served at once, serial one up each time.
    let out = update(nsupdate, addr, ddns(), "update add new.dyn.test. 300 A 192.0.2.7", false);
    assert!(out.trim().is_empty(), "nsupdate: {out}\n{}", server.stderr());
    assert_eq!(lookup(addr, "new.dyn.test.", Rtype::A), (0, vec![vec![192, 0, 2, 7]]));
    assert_eq!(serial(addr), SERIAL + 1);
    let out = update(nsupdate, addr, ddns(), "update add tcp.dyn.test. 300 TXT \"over tcp\"", true);
    assert!(out.trim().is_empty(), "nsupdate -v: {out}");
    assert_eq!(lookup(addr, "tcp.dyn.test.", Rtype::TXT).1.len(), 1);
    assert_eq!(serial(addr), SERIAL + 2);
    // Delete an RR, an RRset, a name.
    let out = update(nsupdate, addr, ddns(), "update delete new.dyn.test. A 192.0.2.7\nupdate delete old.dyn.test.\nupdate delete tcp.dyn.test. TXT", false);
    assert!(out.trim().is_empty(), "nsupdate: {out}");
    assert_eq!(lookup(addr, "new.dyn.test.", Rtype::A).0, 3, "NXDOMAIN once its only record went");
    assert_eq!(lookup(addr, "old.dyn.test.", Rtype::TXT).0, 3);
    assert_eq!(serial(addr), SERIAL + 3);
    // Each prerequisite rcode (RFC 2136 §3.2.5); nothing is applied and the serial stays.
    let cases = [
        ("prereq yxdomain nope.dyn.test.", "NXDOMAIN"),
        ("prereq nxdomain www.dyn.test.", "YXDOMAIN"),
        ("prereq yxrrset www.dyn.test. AAAA", "NXRRSET"),
        ("prereq nxrrset www.dyn.test. A", "YXRRSET"),
        ("prereq yxrrset www.dyn.test. A 192.0.2.99", "NXRRSET"),
    ];
    for (prereq, rcode) in cases {
        let out = update(nsupdate, addr, ddns(), &format!("{prereq}\nupdate add applied.dyn.test. 300 A 192.0.2.5"), false);
        assert!(failed_with(&out, rcode), "{prereq}: expected {rcode}, nsupdate said: {out}");
    }
    assert_eq!(lookup(addr, "applied.dyn.test.", Rtype::A).0, 3, "no failed update applied anything");
    assert_eq!(serial(addr), SERIAL + 3);
    // Prerequisites that hold: applied.
    let out = update(
        nsupdate,
        addr,
        ddns(),
        "prereq yxrrset www.dyn.test. A 192.0.2.80\nprereq nxdomain applied.dyn.test.\nupdate add applied.dyn.test. 300 A 192.0.2.5",
        false,
    );
    assert!(out.trim().is_empty(), "nsupdate: {out}");
    assert_eq!(lookup(addr, "applied.dyn.test.", Rtype::A).1, [vec![192, 0, 2, 5]]);
    // An update that changes nothing: NOERROR, same serial.
    let out = update(nsupdate, addr, ddns(), "update add applied.dyn.test. 300 A 192.0.2.5", false);
    assert!(out.trim().is_empty(), "nsupdate: {out}");
    assert_eq!(serial(addr), SERIAL + 4);
    // `zonefile-sync = 1`: the zone file holds the updates a second later.
    let file = state.0.join("dyn.test.zone");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&file).unwrap_or_default().contains("applied.dyn.test.") {
        assert!(std::time::Instant::now() < deadline, "zone file not rewritten:\n{}", server.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn nsupdate_is_refused_or_notauth_when_it_should_be() {
    let Some(tools) = require("nsupdate_is_refused_or_notauth_when_it_should_be", &["nsupdate"]) else { return };
    let nsupdate = &tools[0];
    let (server, _state) = start_primary("");
    let addr = server.addr;
    let change = "update add denied.dyn.test. 300 A 192.0.2.6";
    let out = update(nsupdate, addr, Some(format!("hmac-sha256:unknown.key.:{SECRET}")), change, false);
    assert!(out.contains("BADKEY") || failed_with(&out, "NOTAUTH"), "unknown key: {out}");
    let out = update(nsupdate, addr, Some(format!("hmac-sha256:{KEY}:{OTHER_SECRET}")), change, false);
    assert!(out.contains("BADSIG") || failed_with(&out, "NOTAUTH"), "wrong secret: {out}");
    let out = update(nsupdate, addr, None, change, false);
    assert!(failed_with(&out, "REFUSED"), "unsigned, from an address the update ACL does not list: {out}");
    let other = Some(format!("hmac-sha256:{OTHER_KEY}:{OTHER_SECRET}"));
    let out = update(nsupdate, addr, other.clone(), change, false);
    assert!(failed_with(&out, "REFUSED"), "the policy gives other.key only other.dyn.test.: {out}");
    let out = update(nsupdate, addr, other.clone(), "update add x.other.dyn.test. 300 MX 10 www.dyn.test.", false);
    assert!(failed_with(&out, "REFUSED"), "nor the MX type: {out}");
    let out = update(nsupdate, addr, other, "update add x.other.dyn.test. 300 A 192.0.2.9", false);
    assert!(out.trim().is_empty(), "within its grant: {out}");
    let out = update(nsupdate, addr, ddns(), "zone elsewhere.test.\nupdate add a.elsewhere.test. 300 A 192.0.2.1", false);
    assert!(failed_with(&out, "NOTAUTH"), "a zone not served here: {out}");
    assert_eq!(lookup(addr, "denied.dyn.test.", Rtype::A).0, 3, "nothing denied was applied");
    assert_eq!(serial(addr), SERIAL + 1, "only the granted update changed the zone");
}

#[test]
fn knsupdate_adds_and_deletes_with_tsig() {
    let Some(tools) = require("knsupdate_adds_and_deletes_with_tsig", &["knsupdate"]) else { return };
    let knsupdate = &tools[0];
    let (server, _state) = start_primary("");
    let addr = server.addr;
    let out =
        update(knsupdate, addr, ddns(), "origin dyn.test.\nupdate add knot.dyn.test. 300 A 192.0.2.42\nupdate add knot.dyn.test. 300 AAAA 2001:db8::42", false);
    assert!(!out.contains("failed") && !out.to_lowercase().contains("error"), "knsupdate: {out}\n{}", server.stderr());
    assert_eq!(lookup(addr, "knot.dyn.test.", Rtype::A).1, [vec![192, 0, 2, 42]]);
    assert_eq!(lookup(addr, "knot.dyn.test.", Rtype::AAAA).1.len(), 1);
    let out = update(knsupdate, addr, ddns(), "origin dyn.test.\nprereq nxdomain knot.dyn.test.\nupdate delete knot.dyn.test.", false);
    assert!(failed_with(&out, "YXDOMAIN"), "knsupdate: {out}");
    let out = update(knsupdate, addr, ddns(), "origin dyn.test.\nupdate delete knot.dyn.test.", false);
    assert!(!out.contains("failed"), "knsupdate: {out}");
    assert_eq!(lookup(addr, "knot.dyn.test.", Rtype::A).0, 3);
    let out = update(knsupdate, addr, Some(format!("hmac-sha256:{KEY}:{OTHER_SECRET}")), "origin dyn.test.\nupdate add bad.dyn.test. 300 A 192.0.2.1", false);
    assert!(out.contains("BADSIG") || failed_with(&out, "NOTAUTH"), "knsupdate, wrong secret: {out}");
    assert_eq!(serial(addr), SERIAL + 2);
}
