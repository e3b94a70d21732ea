//! The control socket's place: a reload that names another `[control] socket` moves it there
//! (the old file removed, the new one answering, mode 0600), and a clean stop removes its file.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::ctl::ctl;
use crate::ops::{socket_of, OpsServer};

/// Polls `ready` at most `within`.
fn eventually(within: Duration, ready: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ready()
}

#[test]
fn a_reload_that_moves_the_control_socket_removes_the_old_file_and_a_clean_stop_the_new_one() {
    let mut ops = OpsServer::start("");
    let old = socket_of(&ops.config);
    assert!(old.exists(), "default socket beside the config");
    let new = ops.server.dir.join("moved.ctl");
    let text = fs::read_to_string(&ops.config).unwrap_or_default();
    fs::write(&ops.config, format!("{text}\n[control]\nsocket = \"{}\"\n", new.display())).unwrap_or_default();

    // ctl reload over the old socket: the reply still comes back on it.
    let (code, stdout, stderr) = ctl(&["--socket", &old.to_string_lossy(), "reload"]);
    assert_eq!(code, 0, "reload over the old socket: {stdout} {stderr}");
    assert!(!old.exists(), "the old socket file is removed");
    assert!(new.exists(), "the new socket is bound");
    assert_eq!(fs::metadata(&new).map(|m| m.permissions().mode() & 0o777).ok(), Some(0o600));
    let (code, status, stderr) = ctl(&["--socket", &new.to_string_lossy(), "status"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(status.starts_with("portcullis "), "{status}");

    // SIGHUP moves it back (the configuration without [control]).
    fs::write(&ops.config, text).unwrap_or_default();
    ops.server.signal("HUP");
    assert!(eventually(Duration::from_secs(10), || old.exists() && !new.exists()), "SIGHUP moved it back:\n{}", ops.server.stderr());
    assert_eq!(ctl(&["--socket", &old.to_string_lossy(), "status"]).0, 0);

    ops.server.signal("TERM");
    assert!(ops.server.wait_exit(Duration::from_secs(20)).is_some(), "server did not stop");
    assert!(!old.exists(), "a clean stop removes the socket file");
}
