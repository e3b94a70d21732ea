//! Packaging (issue 17 item 6): the systemd unit (`systemd-analyze verify`, the capability,
//! `Type=notify`, hardening), readiness told to a fake `$NOTIFY_SOCKET` (READY=1, RELOADING=1 and
//! READY=1 around a reload, STOPPING=1), the packaged configuration (`check-config`), `--help`
//! of every command naming its options, and the man page generated from the same definitions.

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::harness::{example_zone, write_config, Server, Tcp};
use crate::peers::{free_port, require, temp_dir};
use crate::portcullis::BINARY;

/// The repository's `packaging/` directory.
fn packaging() -> PathBuf {
    crate::queries::testdata().join("../packaging")
}

/// `portcullis ARGS`: (exit code, stdout, stderr).
fn portcullis(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(BINARY).args(args).output().unwrap_or_else(|e| panic!("portcullis {args:?}: {e}"));
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn the_packaged_configuration_passes_check_config() {
    let file = packaging().join("portcullis.toml");
    let (code, stdout, stderr) = portcullis(&["check-config", &file.to_string_lossy()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let text = fs::read_to_string(&file).unwrap_or_default();
    assert!(text.contains("socket = \"/run/portcullis/portcullis.ctl\""), "the control socket lies in the unit's RuntimeDirectory");
}

#[test]
fn the_systemd_unit_verifies_and_asks_for_what_the_server_needs() {
    let unit = fs::read_to_string(packaging().join("portcullis.service")).unwrap_or_else(|e| panic!("packaging/portcullis.service: {e}"));
    for line in [
        "Type=notify",
        "NotifyAccess=all",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "RuntimeDirectory=portcullis",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ExecStart=/usr/bin/portcullis serve --config /etc/portcullis/portcullis.toml",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit lacks {line}");
    }
    let Some(tools) = require("the_systemd_unit_verifies (Debian package systemd)", &["systemd-analyze"]) else { return };
    // verify checks that ExecStart's binary exists: the one built for this test stands in.
    let dir = temp_dir("unit");
    let path = dir.join("portcullis.service");
    fs::write(&path, unit.replace("/usr/bin/portcullis", BINARY)).unwrap_or_default();
    let output = Command::new(&tools[0]).args(["verify", "--man=no"]).arg(&path).output().unwrap_or_else(|e| panic!("systemd-analyze: {e}"));
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && said.trim().is_empty(), "systemd-analyze verify: {said}");
    let _ = fs::remove_dir_all(&dir);
}

/// The next datagram on `socket` (5 s at most).
fn next_state(socket: &UnixDatagram, log: impl Fn() -> String) -> String {
    let mut buffer = [0u8; 1024];
    let len = socket.recv(&mut buffer).unwrap_or_else(|e| panic!("no notification ({e}); server log:\n{}", log()));
    String::from_utf8_lossy(&buffer[..len]).into_owned()
}

#[test]
fn serve_tells_systemd_ready_reloading_and_stopping() {
    let dir = temp_dir("notify");
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap_or_else(|e| panic!("bind {}: {e}", socket_path.display()));
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap_or_default();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = write_config(&dir, addr, &Tcp::default(), &[("example.test.", &example_zone())]);
    let args = ["serve".as_ref(), "--config".as_ref(), config.as_os_str()];
    let mut server = Server::spawn_from(BINARY.as_ref(), &[("NOTIFY_SOCKET", socket_path.as_os_str())], dir, addr, &args).unwrap_or_else(|e| panic!("{e}"));
    let ready = next_state(&socket, || server.stderr());
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");
    assert!(ready.contains(&format!("MAINPID={}", server.pid())), "{ready}");
    // READY=1 comes once the server answers.
    crate::harness::assert_answers(addr, "after READY=1");

    server.signal("HUP");
    let reloading = next_state(&socket, || server.stderr());
    assert!(reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{reloading}");
    assert!(next_state(&socket, || server.stderr()).starts_with("READY=1"), "READY=1 again after the reload");

    server.signal("TERM");
    assert_eq!(next_state(&socket, || server.stderr()), "STOPPING=1");
    let status = server.wait_exit(Duration::from_secs(10)).unwrap_or_else(|| panic!("no exit after SIGTERM"));
    assert!(status.success(), "{status}");
}

/// Every command and the long options its `--help` must name.
const COMMANDS: &[(&[&str], &[&str])] = &[
    (&[], &["serve", "query", "check-zone", "check-config", "keygen", "sign-zone", "dnssec", "ctl", "--version"]),
    (
        &["serve"],
        &[
            "--config",
            "--listen",
            "--zone",
            "--threads",
            "--log-level",
            "--recursive",
            "--root-hints",
            "--trust-anchor",
            "--allow-recursion",
            "--forward",
            "--http",
            "--control",
        ],
    ),
    (
        &["query"],
        &["--tcp", "--edns-size", "--dnssec", "--norecurse", "--cd", "--nsid", "--cookie", "--timeout", "--attempts", "--port", "--json", "--resolv-conf"],
    ),
    (&["check-zone"], &["<ORIGIN>", "<FILE>"]),
    (&["check-config"], &["<FILE>"]),
    (&["keygen"], &["--algorithm", "--ksk", "--directory", "<ORIGIN>"]),
    (&["sign-zone"], &["--key", "--nsec3", "--opt-out", "--output", "--validity-days"]),
    (&["dnssec"], &["ds"]),
    (&["dnssec", "ds"], &["--key", "--zone", "--config"]),
    (&["ctl"], &["--socket", "--config", "status", "reload", "reload-zone", "flush", "zone-status", "upstreams", "stats", "rrl", "alerts", "upgrade"]),
    (&["ctl", "status"], &[]),
    (&["ctl", "reload"], &[]),
    (&["ctl", "reload-zone"], &["<ZONE>"]),
    (&["ctl", "flush"], &["--below", "[NAME]"]),
    (&["ctl", "zone-status"], &["[ZONE]"]),
    (&["ctl", "upstreams"], &[]),
    (&["ctl", "stats"], &["--json"]),
    (&["ctl", "rrl"], &["--clear"]),
    (&["ctl", "alerts"], &["--json", "--clear"]),
    (&["ctl", "upgrade"], &[]),
];

#[test]
fn every_command_has_help_naming_its_options() {
    for (path, names) in COMMANDS {
        let mut args = path.to_vec();
        args.push("--help");
        let (code, stdout, stderr) = portcullis(&args);
        assert_eq!(code, 0, "portcullis {args:?}: {stderr}");
        assert!(stdout.contains("Usage: portcullis"), "portcullis {args:?}:\n{stdout}");
        assert!(stdout.contains("--help"), "portcullis {args:?}:\n{stdout}");
        for name in *names {
            assert!(stdout.contains(name), "portcullis {args:?} does not name {name}:\n{stdout}");
        }
    }
}

#[test]
fn the_man_page_describes_every_command() {
    let (code, page, stderr) = portcullis(&["man"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH portcullis 1"), "a roff page:\n{page}");
    assert!(page.contains(".TH portcullis 1"), "{page}");
    for (path, names) in COMMANDS.iter().filter(|(path, _)| !path.is_empty()) {
        let heading = format!("COMMAND: PORTCULLIS {}", path.join(" ").to_uppercase());
        assert!(page.contains(&heading), "no section {heading}");
        for name in names.iter().filter(|n| n.starts_with("--")) {
            // roff escapes the dashes of options.
            assert!(page.contains(&name.replace('-', "\\-")), "{name} of {path:?} is not in the page");
        }
    }
    let dir = temp_dir("man");
    let (code, _, stderr) = portcullis(&["man", "--dir", &dir.to_string_lossy()]);
    assert_eq!(code, 0, "{stderr}");
    for name in ["portcullis.1", "portcullis-serve.1", "portcullis-ctl.1", "portcullis-dnssec.1"] {
        assert!(dir.join(name).is_file(), "{name} not written");
    }
    let _ = fs::remove_dir_all(&dir);
}
