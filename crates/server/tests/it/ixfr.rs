//! Incremental transfers (RFC 1995) and the zone journal, against the real thing:
//!
//! - IXFR out: after reloads that change one record, `dig IXFR=N` gets the condensed difference
//!   since N over TCP and over UDP, the journal beside the zone file; after SIGKILL and a
//!   restart the history is still there (replayed from the journal);
//! - Knot as a secondary of portcullis gets the change by IXFR (its log says so), TSIG-signed;
//! - portcullis as a secondary of portcullis (no `file`: its copy and journal in the state
//!   directory) gets the change by IXFR after the NOTIFY, and after SIGKILL and a restart with
//!   its primary gone serves its last copy at once.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::peers::{self, free_port, require, run_tool, temp_dir, ServerProcess};
use crate::secondary::portcullis_at;

const TOOL_TIMEOUT: Duration = Duration::from_secs(30);
pub const KEY: (&str, &str, &str) = ("xfr-key", "hmac-sha256", "UAPt4A/SdkCEQu1bozbFMuZaXwDbky5wlHHF0Zt02M8=");

/// `ixfr.test.` at `serial`: 200 hosts, and one record that changes with the serial
/// (`vN.ixfr.test. TXT "N"`). Refresh an hour away.
pub fn zone_text(serial: u32) -> String {
    let mut text = format!("$ORIGIN ixfr.test.\n$TTL 300\n@ SOA ns hostmaster {serial} 3600 900 604800 60\n@ NS ns\nns A 192.0.2.53\n");
    for n in 0..200 {
        text.push_str(&format!("host{n} A 192.0.2.{}\n", n % 250 + 1));
    }
    text.push_str(&format!("v{serial} TXT \"{serial}\"\n"));
    text
}

/// The answer lines of a dig run, in order, fields joined by single spaces.
fn lines(output: &str) -> Vec<String> {
    output.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with(';')).map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
}

fn key_arg() -> String {
    format!("{}:{}:{}", KEY.1, KEY.0, KEY.2)
}

/// `dig IXFR=serial` over `transport` (`+tcp`, `+notcp`), signed with [`KEY`].
fn dig_ixfr(dig: &Path, server: SocketAddr, serial: u32, transport: &str) -> Vec<String> {
    let args = [
        format!("@{}", server.ip()),
        "-p".into(),
        server.port().to_string(),
        "+noall".into(),
        "+answer".into(),
        "+time=5".into(),
        "+tries=1".into(),
        "-y".into(),
        key_arg(),
        transport.into(),
        "ixfr.test.".into(),
        format!("IXFR={serial}"),
    ];
    lines(&run_tool(dig, &args, TOOL_TIMEOUT))
}

/// The serial of an SOA answer line.
fn soa_serial(line: &str) -> Option<u32> {
    let fields: Vec<&str> = line.split(' ').collect();
    (fields.get(3) == Some(&"SOA")).then(|| fields.get(6)?.parse().ok()).flatten()
}

pub fn signal(server: &ServerProcess, signal: &str) {
    let pid = server.pid().unwrap_or_else(|| panic!("no pid"));
    assert!(Command::new("kill").args([signal, &pid.to_string()]).status().is_ok_and(|s| s.success()));
}

/// Waits (bounded) until `server` answers `vN.ixfr.test. TXT`.
pub fn wait_for_version(dig: &Path, server: &ServerProcess, serial: u32, others: &[&ServerProcess]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let args = [
            format!("@{}", server.addr.ip()),
            "-p".into(),
            server.addr.port().to_string(),
            "+short".into(),
            "+time=1".into(),
            "+tries=1".into(),
            format!("v{serial}.ixfr.test."),
            "TXT".into(),
        ];
        if run_tool(dig, &args, TOOL_TIMEOUT).contains(&format!("\"{serial}\"")) {
            return;
        }
        let logs: String = others.iter().map(|other| other.logs()).collect();
        assert!(Instant::now() < deadline, "serial {serial} did not reach {}\n{}\n{logs}", server.name, server.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A portcullis primary of `ixfr.test.` from `file`, transfers allowed with [`KEY`], NOTIFY to
/// `notify` when given.
pub fn primary(file: &Path, notify: Option<SocketAddr>, addr: SocketAddr) -> ServerProcess {
    let notify = notify.map(|to| format!("notify = [\"{to}\"]\nkey = \"{}\"\n", KEY.0)).unwrap_or_default();
    let body = format!(
        "[acl]\ntransfer = [\"key {name}\"]\n\n[[key]]\nname = \"{name}\"\nsecret = \"{secret}\"\n\n[[zone]]\norigin = \"ixfr.test.\"\nfile = \"{}\"\n{notify}",
        file.display(),
        name = KEY.0,
        secret = KEY.2
    );
    portcullis_at(addr, &body, "ixfr.test.")
}

/// Writes serial `serial` and reloads `server`, waiting (bounded) until it serves it.
pub fn reload_to(dig: &Path, server: &ServerProcess, file: &Path, serial: u32) {
    fs::write(file, zone_text(serial)).unwrap_or_else(|e| panic!("{e}"));
    signal(server, "-HUP");
    wait_for_version(dig, server, serial, &[]);
}

#[test]
fn rfc1995_ixfr_out_sends_the_condensed_difference_from_the_journal_even_after_sigkill() {
    let test = "rfc1995_ixfr_out_sends_the_condensed_difference_from_the_journal_even_after_sigkill";
    let Some(tools) = require(test, &["dig"]) else { return };
    let dir = temp_dir("ixfr-out");
    let file = dir.join("ixfr.test.zone");
    fs::write(&file, zone_text(1)).unwrap_or_else(|e| panic!("{e}"));
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let server = primary(&file, None, addr);
    reload_to(&tools[0], &server, &file, 2);
    reload_to(&tools[0], &server, &file, 3);
    assert!(dir.join("ixfr.test.zone.jnl").exists(), "the journal is beside the zone file");
    let expected_since_1 = [(Some(3), None), (Some(1), None), (None, Some("v1.ixfr.test.")), (Some(3), None), (None, Some("v3.ixfr.test.")), (Some(3), None)];
    let check = |answer: &[String], what: &str| {
        assert_eq!(answer.len(), expected_since_1.len(), "{what}: {answer:#?}");
        for (line, (serial, owner)) in answer.iter().zip(expected_since_1) {
            match serial {
                Some(serial) => assert_eq!(soa_serial(line), Some(serial), "{what}: {line}"),
                None => assert!(line.starts_with(owner.unwrap_or_default()) && line.contains(" TXT "), "{what}: {line}"),
            }
        }
    };
    // Condensed (RFC 1995 §4): serial 2 came and went, only v1 out and v3 in.
    check(&dig_ixfr(&tools[0], addr, 1, "+tcp"), "IXFR=1 over TCP");
    check(&dig_ixfr(&tools[0], addr, 1, "+notcp"), "IXFR=1 over UDP (it fits)");
    let since_2 = dig_ixfr(&tools[0], addr, 2, "+tcp");
    assert_eq!((since_2.len(), since_2.get(2).map(|l| l.starts_with("v2.ixfr.test."))), (6, Some(true)), "{since_2:#?}");
    // A serial the journal does not reach: the whole zone (AXFR form), 200 hosts and more.
    assert!(dig_ixfr(&tools[0], addr, 0, "+tcp").len() > 200);
    // SIGKILL, and a restart: the history is read back from the journal.
    signal(&server, "-KILL");
    drop(server);
    let restarted = primary(&file, None, addr);
    check(&dig_ixfr(&tools[0], addr, 1, "+tcp"), "IXFR=1 after SIGKILL and restart");
    assert!(restarted.logs().contains("up to date with its journal"), "{}", restarted.logs());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn rfc1995_knot_as_a_secondary_gets_a_reload_s_change_by_ixfr() {
    let test = "rfc1995_knot_as_a_secondary_gets_a_reload_s_change_by_ixfr";
    let Some(tools) = require(test, &["dig", "knotd"]) else { return };
    let dir = temp_dir("ixfr-knot-secondary");
    let file = dir.join("ixfr.test.zone");
    fs::write(&file, zone_text(1)).unwrap_or_else(|e| panic!("{e}"));
    let (ours, knot_port) = (SocketAddr::from(([127, 0, 0, 1], free_port())), free_port());
    let knot_addr = SocketAddr::from(([127, 0, 0, 1], knot_port));
    let server = primary(&file, Some(knot_addr), ours);
    let knot_dir = temp_dir("knot-secondary");
    let (name, algorithm, secret) = KEY;
    let remote = format!(
        "key:\n  - id: {name}\n    algorithm: {algorithm}\n    secret: {secret}\nremote:\n  - id: primary\n    address: {}@{}\n    key: {name}\n",
        ours.ip(),
        ours.port()
    );
    let conf =
        peers::knot_conf(&knot_dir, knot_port, &remote).replace("any: warning", "any: info").replace("journal-content: none", "journal-content: changes");
    // Our NOTIFY is signed: Knot wants an ACL naming the key for it.
    let conf = conf.replacen("template:\n", &format!("  - id: signed_notify\n    key: {name}\n    action: notify\ntemplate:\n"), 1);
    let conf = format!("{conf}  - domain: ixfr.test.\n    master: primary\n    acl: [transfer, notify, signed_notify]\n");
    let knot = peers::start_knot(&tools[1], knot_dir, knot_port, &conf, "ixfr.test.").unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
    reload_to(&tools[0], &server, &file, 2);
    wait_for_version(&tools[0], &knot, 2, &[&server]);
    let logs = knot.logs();
    let ixfr = logs.lines().find(|line| line.contains("IXFR, incoming") && line.contains("finished")).unwrap_or_else(|| panic!("Knot logged no IXFR\n{logs}"));
    assert!(!logs.contains("AXFR-style IXFR"), "a real IXFR, not the whole zone: {ixfr}\n{logs}");
    println!("Knot: {ixfr}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_portcullis_secondary_follows_by_ixfr_and_serves_its_copy_at_once_after_sigkill_without_its_primary() {
    let test = "a_portcullis_secondary_follows_by_ixfr_and_serves_its_copy_at_once_after_sigkill_without_its_primary";
    let Some(tools) = require(test, &["dig"]) else { return };
    let dir = temp_dir("ixfr-secondary");
    let file = dir.join("ixfr.test.zone");
    fs::write(&file, zone_text(1)).unwrap_or_else(|e| panic!("{e}"));
    let (ours, secondary_addr) = (SocketAddr::from(([127, 0, 0, 1], free_port())), SocketAddr::from(([127, 0, 0, 1], free_port())));
    let primary_server = primary(&file, Some(secondary_addr), ours);
    let body = format!(
        "[acl]\nnotify = [\"127.0.0.1\"]\ntransfer = [\"127.0.0.1\"]\n\n[[key]]\nname = \"{name}\"\nsecret = \"{secret}\"\n\n[[zone]]\norigin = \"ixfr.test.\"\nprimaries = [\"{ours}\"]\nkey = \"{name}\"\n",
        name = KEY.0,
        secret = KEY.2
    );
    let secondary = portcullis_at(secondary_addr, &body, "ixfr.test.");
    reload_to(&tools[0], &primary_server, &file, 2);
    wait_for_version(&tools[0], &secondary, 2, &[&primary_server]);
    let logs = secondary.logs();
    assert!(logs.lines().any(|line| line.contains("secondary zone transferred") && line.contains("method=\"IXFR\"") && line.contains("serial=2")), "{logs}");
    // Its copy and journal are in the state directory beside its configuration.
    let state = secondary.dir().join("state");
    assert!(state.join("ixfr.test.zone").exists() && state.join("ixfr.test.jnl").exists(), "{:?}", fs::read_dir(&state).map(|d| d.count()));
    reload_to(&tools[0], &primary_server, &file, 3);
    wait_for_version(&tools[0], &secondary, 3, &[&primary_server]);
    // SIGKILL the secondary, stop the primary: restarted, the secondary serves serial 3 at once
    // (its copy plus its journal), before any primary answers.
    signal(&secondary, "-KILL");
    drop(primary_server);
    let kept = secondary.dir().to_path_buf();
    let copy_dir = temp_dir("ixfr-secondary-kept");
    copy_tree(&kept, &copy_dir);
    drop(secondary);
    let config = copy_dir.join("portcullis.toml");
    let mut command = Command::new(crate::portcullis::BINARY);
    command.arg("serve").arg("--config").arg(&config);
    let restarted = ServerProcess::start("portcullis", command, copy_dir, secondary_addr, "ixfr.test.").unwrap_or_else(|e| panic!("{e}"));
    wait_for_version(&tools[0], &restarted, 3, &[]);
    let logs = restarted.logs();
    assert!(logs.contains("serving the kept copy"), "{logs}");
    // The copy was written after the first AXFR (serial 1); serials 2 and 3 came by IXFR and
    // are replayed from the journal.
    assert!(logs.contains("changes the zone file does not hold yet replayed") && logs.contains("from=1 to=3"), "{logs}");
    let _ = fs::remove_dir_all(&dir);
}

/// Copies the files of `from` (and of its subdirectories, one level) to `to`.
fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("{e}")).flatten() {
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap_or_else(|e| panic!("{e}"));
        if !kind.is_dir() && !kind.is_file() {
            continue;
        }
        if kind.is_dir() {
            fs::create_dir_all(&target).unwrap_or_else(|e| panic!("{e}"));
            for inner in fs::read_dir(entry.path()).unwrap_or_else(|e| panic!("{e}")).flatten() {
                fs::copy(inner.path(), target.join(inner.file_name())).unwrap_or_else(|e| panic!("{e}"));
            }
        } else {
            fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
