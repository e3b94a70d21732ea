//! Zones signed by policy (`[[zone]] dnssec-policy`): served, transferred with `dig` AXFR and
//! checked by three verifiers (`ldns-verify-zone`, `dnssec-verify`, `kzonecheck -d on`); keys
//! kept across restarts; an unwritable key directory stops the server at start; a reload with
//! one changed record signs only that record (and the SOA, whose serial goes up) again.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a panic with context

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::Server;
use crate::peers::{free_port, require, temp_dir};
use crate::portcullis::BINARY;
use crate::transfers::{dig_axfr, records};

/// Delegations with and without DS, glue, a wildcard, an empty non-terminal, CNAME and DNAME.
const ZONE: &str = include_str!("../../../../testdata/zones/signing-example.zone");

/// A named policy: Ed25519, a KSK and a ZSK, NSEC3 with opt-out.
pub const ED25519_NSEC3: &str = "[[dnssec-policy]]\nname = \"optout\"\nalgorithm = \"ed25519\"\nkeys = \"ksk-zsk\"\nnsec3 = true\nnsec3-opt-out = true\n";

/// Writes the zone and a configuration signing it with `policy` (tables in `tables`), keys in
/// `keys`; returns the server's directory, address and arguments.
fn setup(test: &str, policy: &str, tables: &str, keys: &Path) -> (PathBuf, SocketAddr, Vec<std::ffi::OsString>) {
    let dir = temp_dir(test);
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    std::fs::write(dir.join("example.zone"), ZONE).unwrap();
    let config = format!(
        "[server]\nlisten = [\"{addr}\"]\nthreads = 1\nkey-directory = \"{}\"\n[acl]\ntransfer = [\"127.0.0.1\"]\n\
         [[zone]]\norigin = \"example.\"\nfile = \"example.zone\"\ndnssec-policy = \"{policy}\"\n{tables}",
        keys.display()
    );
    let path = dir.join("portcullis.toml");
    std::fs::write(&path, config).unwrap();
    (dir, addr, vec!["serve".into(), "--config".into(), path.into_os_string()])
}

pub fn start(test: &str, policy: &str, tables: &str, keys: &Path) -> Server {
    let (dir, addr, args) = setup(test, policy, tables, keys);
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    Server::start(dir, addr, &args, "example.").unwrap_or_else(|e| panic!("{e}"))
}

/// The AXFR as normalized lines (one SOA).
fn axfr(dig: &Path, server: &Server) -> Vec<String> {
    let mut lines = records(&dig_axfr(dig, server.addr, "example.", &[]));
    lines.dedup();
    lines
}

fn of_type<'a>(lines: &'a [String], rtype: &str) -> Vec<&'a String> {
    lines.iter().filter(|line| line.split(' ').nth(3) == Some(rtype)).collect()
}

fn serial(lines: &[String]) -> u32 {
    of_type(lines, "SOA")[0].split(' ').nth(6).unwrap().parse().unwrap()
}

/// Each verifier accepts the transferred zone.
fn verify(tools: &[PathBuf], lines: &[String], csk: bool, what: &str) {
    let file = std::env::temp_dir().join(format!("portcullis-it-signed-{}-{what}.zone", std::process::id()));
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let mut bind = Command::new(&tools[2]);
    if csk {
        bind.arg("-z");
    }
    let runs = [
        ("ldns-verify-zone", Command::new(&tools[1]).arg(&file).output()),
        ("dnssec-verify", bind.args(["-o", "example."]).arg(&file).output()),
        ("kzonecheck", Command::new(&tools[3]).args(["-o", "example.", "-d", "on"]).arg(&file).output()),
    ];
    for (name, output) in runs {
        let output = output.unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{what}: {name} rejects the AXFR:\n{text}\n{}", lines.join("\n"));
    }
    let _ = std::fs::remove_file(&file);
}

const TOOLS: [&str; 4] = ["dig", "ldns-verify-zone", "dnssec-verify", "kzonecheck"];

#[test]
fn zones_signed_by_policy_pass_three_verifiers_with_every_record_kept() {
    let Some(tools) = require("zones_signed_by_policy_pass_three_verifiers", &TOOLS) else { return };
    for (policy, tables, csk) in [("default", "", true), ("optout", ED25519_NSEC3, false)] {
        let keys = temp_dir("keys");
        let server = start("signed", policy, tables, &keys);
        let lines = axfr(&tools[0], &server);
        verify(&tools, &lines, csk, policy);
        for original in ["a.b.example. 3600 IN A 192.0.2.3", "ns.insecure.example. 3600 IN A 192.0.2.5", "www.example. 600 IN CNAME a.b.example."] {
            assert!(lines.iter().any(|l| l == original), "{policy}: {original} missing");
        }
        let dnskeys = of_type(&lines, "DNSKEY");
        assert_eq!(dnskeys.len(), if csk { 1 } else { 2 }, "{policy}: {dnskeys:?}");
        // A zone's first key has its CDS/CDNSKEY only after max(Ipub, Isig), when no cache holds
        // the unsigned zone any more (tests/rollover.rs sees them come and the parent act on them).
        assert_eq!(of_type(&lines, "CDS").len(), 0, "{policy}: no CDS yet");
        assert_eq!(of_type(&lines, "CDNSKEY").len(), 0, "{policy}");
        if csk {
            assert!(dnskeys[0].contains(" 257 3 13 ") && !of_type(&lines, "NSEC").is_empty(), "{dnskeys:?}");
        } else {
            assert!(dnskeys.iter().all(|k| k.contains(" 3 15 ")), "{dnskeys:?}");
            assert_eq!(of_type(&lines, "NSEC3PARAM").iter().map(|l| l.split(' ').skip(4).collect::<Vec<_>>().join(" ")).collect::<Vec<_>>(), ["1 0 0 -"]);
            assert!(of_type(&lines, "NSEC3").iter().all(|l| l.split(' ').nth(5) == Some("1")), "opt-out flag on every NSEC3");
        }
        // Before any CDS, the DS printed for the parent is that of the published key-signing key.
        let config = server.dir.join("portcullis.toml");
        let ds = Command::new(BINARY).args(["dnssec", "ds", "example.", "--config"]).arg(&config).output().unwrap();
        let ds = String::from_utf8_lossy(&ds.stdout).into_owned();
        let algorithm = if csk { " 13 2 " } else { " 15 2 " };
        assert!(ds.lines().count() == 1 && ds.contains(algorithm), "{policy}: ds {ds}");
        // BIND's tools read K*.state as their own key-manager files: there is none here.
        let names: Vec<String> = std::fs::read_dir(&keys).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(names.iter().any(|n| n.ends_with(".keystate")) && !names.iter().any(|n| n.ends_with(".state")), "{names:?}");
        drop(server);
        let _ = std::fs::remove_dir_all(&keys);
    }
}

#[test]
fn a_restart_keeps_the_keys_and_raises_the_serial() {
    let Some(tools) = require("a_restart_keeps_the_keys", &TOOLS[..1]) else { return };
    let keys = temp_dir("keys");
    let first = start("restart", "optout", ED25519_NSEC3, &keys);
    let before = axfr(&tools[0], &first);
    drop(first);
    let second = start("restart", "optout", ED25519_NSEC3, &keys);
    let after = axfr(&tools[0], &second);
    let dnskeys = |lines: &[String]| {
        let mut keys: Vec<String> = of_type(lines, "DNSKEY").into_iter().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(dnskeys(&before), dnskeys(&after));
    assert_eq!(dnskeys(&after).len(), 2);
    assert!(serial(&after) > serial(&before), "{} then {}", serial(&before), serial(&after));
    let _ = std::fs::remove_dir_all(&keys);
}

#[test]
fn an_unwritable_key_directory_stops_the_server_at_start() {
    let blocker = temp_dir("blocker").join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let keys = blocker.join("keys");
    let (dir, addr, args) = setup("unwritable", "default", "", &keys);
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let mut server = Server::spawn(dir, addr, &args).unwrap();
    let status = server.wait_exit(Duration::from_secs(20)).expect("the server should exit");
    assert!(!status.success());
    let log = server.stderr();
    assert!(log.contains(&format!("key directory {}", keys.display())) && log.contains("not starting"), "{log}");
}

#[test]
fn a_reload_with_one_changed_record_signs_only_that_record_and_the_soa_again() {
    let Some(tools) = require("a_reload_with_one_changed_record", &TOOLS) else { return };
    let keys = temp_dir("keys");
    let server = start("reload", "default", "", &keys);
    server.settle_signals();
    let before = axfr(&tools[0], &server);
    std::fs::write(server.dir.join("example.zone"), ZONE.replace("mail A 192.0.2.10", "mail A 192.0.2.11")).unwrap();
    server.signal("HUP");
    server.wait_log(Duration::from_secs(20), |log| log.contains("reloaded")).unwrap_or_else(|log| panic!("no reload:\n{log}"));
    let after = axfr(&tools[0], &server);
    assert_eq!(serial(&after), serial(&before) + 1);
    verify(&tools, &after, true, "reloaded");
    let signatures = |lines: &[String]| -> Vec<String> { of_type(lines, "RRSIG").into_iter().cloned().collect() };
    let (old, new) = (signatures(&before), signatures(&after));
    assert_eq!(old.len(), new.len());
    let mut changed: Vec<String> = new
        .iter()
        .filter(|sig| !old.contains(sig))
        .map(|sig| {
            let fields: Vec<&str> = sig.split(' ').collect();
            format!("{} {}", fields[0], fields[4])
        })
        .collect();
    changed.sort();
    assert_eq!(changed, ["example. SOA", "mail.example. A"]);
    // Nothing changed: a reload keeps the serial and every signature.
    server.signal("HUP");
    server.wait_log(Duration::from_secs(20), |log| log.matches("reloaded").count() >= 2).unwrap_or_else(|log| panic!("no second reload:\n{log}"));
    assert_eq!(axfr(&tools[0], &server), after);
    drop(server);
    let _ = std::fs::remove_dir_all(&keys);
}

#[test]
fn an_rsa_key_made_by_bind_and_dropped_in_signs_an_rsasha256_policy_zone() {
    let Some(tools) = require("an_rsa_key_made_by_bind", &["dig", "ldns-verify-zone", "dnssec-verify", "kzonecheck", "dnssec-keygen"]) else { return };
    let keys = temp_dir("keys");
    let tables = "[[dnssec-policy]]\nname = \"rsa\"\nalgorithm = \"rsasha256\"\n";
    // Without a key, the zone cannot be signed: ring makes no RSA keys, and the log says what to do.
    let (dir, addr, args) = setup("rsa-missing", "rsa", tables, &keys);
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let server = Server::spawn(dir, addr, &args).unwrap();
    server.wait_log(Duration::from_secs(20), |log| log.contains("ring cannot generate RSA keys")).unwrap_or_else(|log| panic!("no RSA hint:\n{log}"));
    drop(server);
    let made = Command::new(&tools[4]).args(["-a", "RSASHA256", "-b", "2048", "-f", "KSK", "-K"]).arg(&keys).arg("example.").output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let base = String::from_utf8_lossy(&made.stdout).trim().to_string();
    let server = start("rsa", "rsa", tables, &keys);
    let lines = axfr(&tools[0], &server);
    verify(&tools, &lines, true, "rsasha256");
    let tag = base.rsplit('+').next().unwrap().trim_start_matches('0');
    assert!(of_type(&lines, "RRSIG").iter().all(|sig| sig.split(' ').nth(10) == Some(tag)), "signed by {base}");
    assert!(std::fs::read_to_string(keys.join(format!("{base}.keystate"))).unwrap().contains("Role: CSK"), "adopted as the CSK");
    drop(server);
    let _ = std::fs::remove_dir_all(&keys);
}

#[test]
fn a_reload_that_cannot_write_the_key_directory_keeps_the_signed_zone_and_says_why() {
    let Some(tools) = require("a_reload_that_cannot_write_the_key_directory", &TOOLS[..1]) else { return };
    let keys = temp_dir("keys");
    let server = start("reload-blocked", "default", "", &keys);
    server.settle_signals();
    let before = axfr(&tools[0], &server);
    std::fs::rename(&keys, keys.with_extension("moved")).unwrap();
    std::fs::write(&keys, "a file where the key directory was").unwrap();
    std::fs::write(server.dir.join("example.zone"), ZONE.replace("mail A 192.0.2.10", "mail A 192.0.2.11")).unwrap();
    server.signal("HUP");
    let log = server.wait_log(Duration::from_secs(20), |log| log.contains("reloaded")).unwrap_or_else(|log| panic!("no reload:\n{log}"));
    assert!(log.contains("keeping the previous version") && log.contains(&format!("key directory {}", keys.display())), "{log}");
    assert_eq!(axfr(&tools[0], &server), before, "the signed zone served before");
    drop(server);
    let _ = std::fs::remove_file(&keys);
    let _ = std::fs::remove_dir_all(keys.with_extension("moved"));
}
