//! `portcullis dnssec ds-seen|ds-gone` tell a running server to plan again: over its control
//! socket when one answers (that of `--socket`, else of `--config`), by SIGHUP with `--pid`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::ops::socket_of;
use crate::peers::temp_dir;
use crate::portcullis::BINARY;

/// `portcullis dnssec ARGS`: (success, stdout and stderr).
fn dnssec(args: &[&str]) -> (bool, String) {
    let output = Command::new(BINARY).arg("dnssec").args(args).output().unwrap_or_else(|e| panic!("portcullis dnssec: {e}"));
    (output.status.success(), format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

/// The tags of the keys in `dir` (`K<zone>+<alg>+<tag>.keystate`).
fn tags(dir: &Path) -> Vec<String> {
    let names = std::fs::read_dir(dir).map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<_>>());
    let names = names.unwrap_or_default();
    names.iter().filter_map(|name| name.strip_suffix(".keystate")?.rsplit('+').next().map(str::to_owned)).collect()
}

fn reloads(log: &str) -> usize {
    log.matches("reloaded").count()
}

#[test]
fn ds_seen_asks_the_server_to_reload_over_its_control_socket() {
    let keys = temp_dir("ds-reload-keys");
    let server = crate::signed::start("ds-reload", "optout", crate::signed::ED25519_NSEC3, &keys);
    let config = server.dir.join("portcullis.toml");
    let config = config.to_string_lossy();
    let all = tags(&keys);
    assert_eq!(all.len(), 2, "a KSK and a ZSK in {}", keys.display());
    // The KSK is the tag ds-seen accepts (a ZSK has no DS).
    let ksk = all.iter().find(|tag| !dnssec(&["ds-seen", "example.", tag, "--config", &config, "--socket", "/nonexistent/x.ctl"]).1.contains("is a ZSK"));
    let ksk = ksk.unwrap_or_else(|| panic!("no KSK among {all:?}"));
    assert!(server.wait_log(Duration::from_secs(5), |log| reloads(log) == 0).is_ok(), "no reload yet: an unreachable --socket only says so");

    let (ok, out) = dnssec(&["ds-seen", "example.", ksk, "--config", &config]);
    assert!(ok, "{out}");
    assert!(out.contains("reload over"), "told over the socket of --config: {out}");
    let log = server.wait_log(Duration::from_secs(10), |log| reloads(log) >= 1);
    assert!(log.is_ok(), "the server reloaded:\n{}", server.stderr());

    let socket = socket_of(Path::new(config.as_ref()));
    let (ok, out) = dnssec(&["ds-seen", "example.", ksk, "--config", &config, "--socket", &socket.to_string_lossy()]);
    assert!(ok && out.contains("reload over"), "{out}");
    assert!(server.wait_log(Duration::from_secs(10), |log| reloads(log) >= 2).is_ok(), "second reload:\n{}", server.stderr());

    let (ok, out) = dnssec(&["ds-seen", "example.", ksk, "--config", &config, "--pid", &server.pid().to_string()]);
    assert!(ok && out.contains("(SIGHUP)"), "--pid still signals: {out}");
    assert!(server.wait_log(Duration::from_secs(10), |log| reloads(log) >= 3).is_ok(), "SIGHUP reload:\n{}", server.stderr());
}
