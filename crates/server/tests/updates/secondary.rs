//! A secondary follows a dynamic update by NOTIFY (RFC 1996): the primary notifies it after the
//! update, and it serves the new record within seconds (its SOA refresh is an hour, so only the
//! NOTIFY can explain it).

use crate::harness::Server;
use crate::peers::{free_port, temp_dir};
use crate::support::{lookup, send_tcp, serial, signed_add, start_primary, ORIGIN};
use portcullis_wire::Rtype;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[test]
fn a_portcullis_secondary_follows_an_update_by_notify() {
    let secondary_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let (primary, _state) = start_primary(&format!("notify = [\"{secondary_addr}\"]\n"));
    let dir = temp_dir("update-secondary");
    let config = dir.join("portcullis.toml");
    let text = format!(
        "[server]\nlisten = [\"{secondary_addr}\"]\nthreads = 1\n\n[acl]\nnotify = [\"127.0.0.0/8\"]\n\n[[zone]]\norigin = \"{ORIGIN}\"\nprimaries = [\"{}\"]\n",
        primary.addr
    );
    std::fs::write(&config, text).unwrap_or_else(|e| panic!("{e}"));
    let secondary = Server::start(dir, secondary_addr, &["serve".as_ref(), "--config".as_ref(), config.as_os_str()], ORIGIN).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(serial(secondary_addr), serial(primary.addr));
    assert_eq!(send_tcp(primary.addr, &signed_add(1, "pushed.dyn.test.", 33)), Some(0), "{}", primary.stderr());
    let deadline = Instant::now() + Duration::from_secs(5);
    while lookup(secondary_addr, "pushed.dyn.test.", Rtype::A).1.is_empty() {
        assert!(Instant::now() < deadline, "the secondary did not follow within 5 s\nprimary:\n{}\nsecondary:\n{}", primary.stderr(), secondary.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(serial(secondary_addr), serial(primary.addr));
    assert!(secondary.stderr().contains("NOTIFY received"), "{}", secondary.stderr());
}

/// Knot as the secondary: told by NOTIFY after an update, it transfers the new version.
#[test]
fn a_knot_secondary_follows_an_update_by_notify() {
    let Some(tools) = crate::peers::require("a_knot_secondary_follows_an_update_by_notify", &["knotd"]) else { return };
    let (primary, state) = start_primary("");
    let knot = crate::peers::knot_secondary(&tools[0], ORIGIN, primary.addr, None).unwrap_or_else(|e| panic!("{e}"));
    // The primary learns where to send NOTIFY by a reload.
    crate::support::primary_config(&state.0, primary.addr, &format!("notify = [\"{}\"]\n", knot.addr));
    primary.settle_signals();
    primary.signal("HUP");
    primary.wait_log(Duration::from_secs(20), |log| log.contains("reloaded")).unwrap_or_else(|log| panic!("no reload:\n{log}"));
    assert_eq!(send_tcp(primary.addr, &signed_add(2, "to-knot.dyn.test.", 44)), Some(0), "{}", primary.stderr());
    let deadline = Instant::now() + Duration::from_secs(5);
    while lookup(knot.addr, "to-knot.dyn.test.", Rtype::A).1.is_empty() {
        assert!(Instant::now() < deadline, "Knot did not follow within 5 s\nprimary:\n{}\nknot:\n{}", primary.stderr(), knot.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(serial(knot.addr), serial(primary.addr));
}
