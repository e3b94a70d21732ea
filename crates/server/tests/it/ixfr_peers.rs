//! IXFR (RFC 1995) with BIND 9.18 and Knot, both ways, TSIG-signed, NOTIFY-triggered:
//!
//! - BIND as a secondary of portcullis gets a reload's one-record change by IXFR (our log says
//!   the transfer it asked for was sent as IXFR);
//! - portcullis as a secondary of Knot (`zonefile-load: difference`, a journal) and of BIND
//!   (`ixfr-from-differences`) gets the change by IXFR after their NOTIFY (our log says so).
//!
//! Knot and portcullis come from `crate::ixfr`'s zone (`ixfr.test.`) and key.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use crate::ixfr::{primary, reload_to, signal, wait_for_version, zone_text, KEY};
use crate::peers::{self, free_port, require, temp_dir, ServerProcess};
use crate::secondary::portcullis_at;

/// named (BIND 9) with `zones` (its `zone` statements), listening on `port`, logging to
/// stderr; ready once it answers `ixfr.test. SOA`.
fn named(binary: &Path, dir: &Path, port: u16, zones: &str) -> Result<ServerProcess, String> {
    let run = dir.display();
    let conf = format!(
        "options {{\n  directory \"{run}\";\n  pid-file \"{run}/named.pid\";\n  session-keyfile \"{run}/session.key\";\n  managed-keys-directory \"{run}\";\n  \
         listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  recursion no;\n  dnssec-validation no;\n  notify explicit;\n}};\n\
         controls {{ }};\nkey \"{name}\" {{ algorithm {algorithm}; secret \"{secret}\"; }};\n{zones}",
        name = KEY.0,
        algorithm = KEY.1,
        secret = KEY.2
    );
    let path = dir.join("named.conf");
    fs::write(&path, conf).map_err(|e| e.to_string())?;
    let mut command = Command::new(binary);
    command.arg("-g").arg("-n").arg("1").arg("-c").arg(&path);
    ServerProcess::start("named", command, dir.to_path_buf(), SocketAddr::from(([127, 0, 0, 1], port)), "ixfr.test.")
}

/// The last "zone transfer sent" line of `server`'s log.
fn transfer_sent(server: &ServerProcess) -> String {
    server.logs().lines().rfind(|line| line.contains("zone transfer sent")).unwrap_or_default().to_owned()
}

/// A portcullis secondary of `ixfr.test.` from `primary` at `addr`, NOTIFY accepted from
/// loopback, TSIG with [`KEY`].
fn secondary_of(primary: SocketAddr, addr: SocketAddr) -> ServerProcess {
    let body = format!(
        "[acl]\nnotify = [\"127.0.0.1\"]\n\n[[key]]\nname = \"{name}\"\nsecret = \"{secret}\"\n\n[[zone]]\norigin = \"ixfr.test.\"\nprimaries = [\"{primary}\"]\nkey = \"{name}\"\n",
        name = KEY.0,
        secret = KEY.2
    );
    portcullis_at(addr, &body, "ixfr.test.")
}

/// True when `server` logged a transfer in of `serial` by IXFR.
fn got_by_ixfr(server: &ServerProcess, serial: u32) -> bool {
    server
        .logs()
        .lines()
        .any(|line| line.contains("secondary zone transferred") && line.contains("method=\"IXFR\"") && line.contains(&format!("serial={serial}")))
}

#[test]
fn rfc1995_bind_as_a_secondary_gets_a_reload_s_change_by_ixfr() {
    let test = "rfc1995_bind_as_a_secondary_gets_a_reload_s_change_by_ixfr";
    let Some(tools) = require(test, &["dig", "named"]) else { return };
    let dir = temp_dir("ixfr-bind-secondary");
    let file = dir.join("ixfr.test.zone");
    fs::write(&file, zone_text(1)).unwrap_or_else(|e| panic!("{e}"));
    let (ours, bind_port) = (SocketAddr::from(([127, 0, 0, 1], free_port())), free_port());
    let server = primary(&file, Some(SocketAddr::from(([127, 0, 0, 1], bind_port))), ours);
    let bind_dir = temp_dir("named-secondary");
    let zone = format!(
        "zone \"ixfr.test\" {{ type secondary; file \"{}/ixfr.test.bk\"; primaries {{ {} port {} key \"{}\"; }}; allow-notify {{ 127.0.0.1; }}; }};\n",
        bind_dir.display(),
        ours.ip(),
        ours.port(),
        KEY.0
    );
    let bind = named(&tools[1], &bind_dir, bind_port, &zone).unwrap_or_else(|e| panic!("{e}\n{}", server.logs()));
    assert!(transfer_sent(&server).contains("kind=\"AXFR\""), "the first copy is whole\n{}", server.logs());
    reload_to(&tools[0], &server, &file, 2);
    wait_for_version(&tools[0], &bind, 2, &[&server]);
    let sent = transfer_sent(&server);
    assert!(sent.contains("kind=\"IXFR\""), "BIND asked for IXFR and got the difference: {sent}\n{}\n{}", server.logs(), bind.logs());
    println!("portcullis to BIND: {sent}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn rfc1995_portcullis_secondary_of_knot_gets_its_change_by_ixfr_after_notify() {
    let test = "rfc1995_portcullis_secondary_of_knot_gets_its_change_by_ixfr_after_notify";
    let Some(tools) = require(test, &["dig", "knotd"]) else { return };
    let (knot_port, ours) = (free_port(), SocketAddr::from(([127, 0, 0, 1], free_port())));
    let knot_dir = temp_dir("knot-primary");
    let (name, algorithm, secret) = KEY;
    let remote = format!(
        "key:\n  - id: {name}\n    algorithm: {algorithm}\n    secret: {secret}\nremote:\n  - id: secondary\n    address: {}@{}\n    key: {name}\n",
        ours.ip(),
        ours.port()
    );
    let conf = peers::knot_conf(&knot_dir, knot_port, &remote)
        .replace("any: warning", "any: info")
        .replace("journal-content: none", "journal-content: changes\n    zonefile-load: difference");
    let conf = conf.replacen("template:\n", &format!("  - id: signed\n    key: {name}\n    action: transfer\ntemplate:\n"), 1);
    let file = knot_dir.join("ixfr.test.zone");
    fs::write(&file, zone_text(1)).unwrap_or_else(|e| panic!("{e}"));
    let conf = format!("{conf}  - domain: ixfr.test.\n    file: \"{}\"\n    acl: signed\n    notify: secondary\n", file.display());
    let knot = peers::start_knot(&tools[1], knot_dir, knot_port, &conf, "ixfr.test.").unwrap_or_else(|e| panic!("{e}"));
    let secondary = secondary_of(knot.addr, ours);
    wait_for_version(&tools[0], &secondary, 1, &[&knot]);
    fs::write(&file, zone_text(2)).unwrap_or_else(|e| panic!("{e}"));
    signal(&knot, "-HUP");
    wait_for_version(&tools[0], &secondary, 2, &[&knot]);
    assert!(got_by_ixfr(&secondary, 2), "{}\n{}", secondary.logs(), knot.logs());
    assert!(secondary.logs().contains("NOTIFY received"), "NOTIFY-triggered\n{}", secondary.logs());
}

#[test]
fn rfc1995_portcullis_secondary_of_bind_gets_its_change_by_ixfr_after_notify() {
    let test = "rfc1995_portcullis_secondary_of_bind_gets_its_change_by_ixfr_after_notify";
    let Some(tools) = require(test, &["dig", "named"]) else { return };
    let (bind_port, ours) = (free_port(), SocketAddr::from(([127, 0, 0, 1], free_port())));
    let bind_dir = temp_dir("named-primary");
    let file = bind_dir.join("ixfr.test.zone");
    fs::write(&file, zone_text(1)).unwrap_or_else(|e| panic!("{e}"));
    let zone = format!(
        "zone \"ixfr.test\" {{ type primary; file \"{}\"; ixfr-from-differences yes; allow-transfer {{ key \"{name}\"; }}; also-notify {{ {} port {} key \"{name}\"; }}; }};\n",
        file.display(),
        ours.ip(),
        ours.port(),
        name = KEY.0
    );
    let bind = named(&tools[1], &bind_dir, bind_port, &zone).unwrap_or_else(|e| panic!("{e}"));
    let secondary = secondary_of(bind.addr, ours);
    wait_for_version(&tools[0], &secondary, 1, &[&bind]);
    fs::write(&file, zone_text(2)).unwrap_or_else(|e| panic!("{e}"));
    signal(&bind, "-HUP");
    wait_for_version(&tools[0], &secondary, 2, &[&bind]);
    assert!(got_by_ixfr(&secondary, 2), "{}\n{}", secondary.logs(), bind.logs());
    assert!(secondary.logs().contains("NOTIFY received"), "NOTIFY-triggered\n{}", secondary.logs());
}
