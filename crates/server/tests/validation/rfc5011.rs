//! RFC 5011 end to end: the root of the hierarchy publishes a standby KSK; portcullis keeps the
//! trust anchor state in its key directory (`trust-anchors.state`), the standby key pending.
//! With its first sighting moved back past the 30-day hold-down, the next start makes it valid;
//! then the root rolls to it (the first KSK, the one the anchor file names, gone) and portcullis,
//! its anchor file unchanged, still validates, while one without the state cannot (SERVFAIL).

use super::hierarchy::resolvers::Process;
use super::hierarchy::start_nsd;
use super::peers::{require, temp_dir};
use super::{dig, serve, DO, RESOLVER, ROOT};
use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Starts portcullis resolving the hierarchy with `anchor` and the key directory `keys`, and
/// waits until it answers.
fn start(dir: &Path, listen: SocketAddr, anchor: &Path, keys: &Path) -> Process {
    let mut process = spawn(dir, listen, anchor, keys, None);
    process.wait_ready(listen, "secure.test.");
    process
}

/// Starts portcullis as [`start`] does, without asking it anything; `refresh_secs` sets the
/// trust anchor refresh test hook (`PORTCULLIS_TRUST_REFRESH_SECS`).
fn spawn(dir: &Path, listen: SocketAddr, anchor: &Path, keys: &Path, refresh_secs: Option<u64>) -> Process {
    let run_dir = temp_dir("validation-5011-portcullis");
    let config = run_dir.join("portcullis.toml");
    let text = format!(
        "[server]\nlisten = [\"{listen}\"]\nthreads = 1\nkey-directory = \"{}\"\n\n[resolver]\nrecursion = true\nroot-hints = \"{}\"\n\
         do-not-query-localhost = false\nallow-recursion = [\"127.0.0.1/32\"]\nuse-ipv6 = false\ntrust-anchor-file = \"{}\"\n",
        keys.display(),
        dir.join("root.hints").display(),
        anchor.display()
    );
    fs::write(&config, text).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command.arg("serve").arg("--config").arg(&config).env("RUST_LOG", "info");
    if let Some(secs) = refresh_secs {
        command.env("PORTCULLIS_TRUST_REFRESH_SECS", secs.to_string());
    }
    Process::spawn("portcullis", command, run_dir)
}

/// Waits (at most 10 s) until the state file says what `done` wants.
fn wait_state(path: &Path, process: &Process, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if done(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "state file {}:\n{text}\n{}", path.display(), process.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `text` with every pending key's first sighting moved back 31 days.
fn backdated(text: &str) -> String {
    let lines = text.lines().map(|line| match line.split_once("; ADDPEND ") {
        Some((record, rest)) => {
            let (since, anchor) = rest.split_once(' ').unwrap_or((rest, ""));
            format!("{record}; ADDPEND {} {anchor}", since.trim().parse::<u64>().unwrap() - 31 * 86_400)
        }
        None => line.to_string(),
    });
    lines.collect::<Vec<_>>().join("\n") + "\n"
}

#[test]
fn a_root_key_rollover_is_followed_through_the_state_in_the_key_directory() {
    let dir = temp_dir("validation-5011");
    let _cleanup = super::peers::RemoveOnDrop(dir.clone());
    let Some((net, mut servers, dig_path, signed)) = serve("validation-5011", &dir) else { return };
    let Some(tools) = require("validation-5011", &["nsd"]) else { return };
    let anchor = dir.join("anchor.ds");
    fs::write(&anchor, &signed.anchor).unwrap();
    let keys = dir.join("resolver-keys");
    fs::create_dir_all(&keys).unwrap();
    let state = keys.join("trust-anchors.state");
    let listen = net.addr(RESOLVER);
    let secure = |what: &str| {
        let got = dig(&dig_path, listen, "www.secure.test.", "A", DO);
        assert!(got.status == "NOERROR" && got.ad, "{what}: expected a secure answer\n{}", got.text);
    };

    // First start: the anchored KSK is valid, the standby pending.
    let resolver = start(&dir, listen, &anchor, &keys);
    secure("first start");
    let text = wait_state(&state, &resolver, |text| text.matches("; VALID").count() == 1 && text.matches("; ADDPEND").count() == 1);
    drop(resolver);

    // 31 days later (the first sighting moved back): seen again, the standby becomes valid.
    fs::write(&state, backdated(&text)).unwrap();
    let resolver = start(&dir, listen, &anchor, &keys);
    secure("after the hold-down");
    wait_state(&state, &resolver, |text| text.matches("; VALID").count() == 2 && !text.contains("ADDPEND"));
    drop(resolver);

    // The root rolls to the standby KSK; the anchor file still names the old one.
    drop(servers.remove(0));
    servers.insert(0, start_nsd(&tools[0], net.addr(ROOT), &[(".", &signed.root_rolled)]).unwrap());
    let resolver = start(&dir, listen, &anchor, &keys);
    secure("after the rollover, with the state");
    wait_state(&state, &resolver, |text| text.contains("; MISSING") && text.contains("; VALID"));
    drop(resolver);

    // Without the state, the stale anchor cannot validate the rolled root.
    let empty = dir.join("no-state");
    fs::create_dir_all(&empty).unwrap();
    let resolver = start(&dir, listen, &anchor, &empty);
    let got = dig(&dig_path, listen, "www.secure.test.", "A", DO);
    assert!(got.status == "SERVFAIL" && got.ede.is_some(), "without the state: expected SERVFAIL with an EDE\n{}\n{}", got.text, resolver.logs());
}

/// RFC 5011 §2.3: a resolver nobody asks anything still refreshes its anchors on a timer (here
/// every second, through the test hook, instead of at least hourly): started idle with a key
/// directory that does not exist yet, it creates it (mode 0700) and writes the state (the
/// anchored KSK valid, the standby pending); restarted idle 31 days later (the state
/// backdated), its refresh makes the standby valid; and the refreshes repeat.
#[test]
fn an_idle_resolver_refreshes_its_anchors_on_a_timer_and_creates_its_key_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("validation-5011-idle");
    let _cleanup = super::peers::RemoveOnDrop(dir.clone());
    let Some((net, _servers, _dig, signed)) = serve("validation-5011-idle", &dir) else { return };
    let anchor = dir.join("anchor.ds");
    fs::write(&anchor, &signed.anchor).unwrap();
    let keys = dir.join("not-yet").join("resolver-keys");
    let state = keys.join("trust-anchors.state");
    let listen = net.addr(RESOLVER);

    let resolver = spawn(&dir, listen, &anchor, &keys, Some(1));
    let text = wait_state(&state, &resolver, |text| text.matches("; VALID").count() == 1 && text.matches("; ADDPEND").count() == 1);
    let mode = fs::metadata(&keys).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the key directory's mode");
    drop(resolver);

    fs::write(&state, backdated(&text)).unwrap();
    let resolver = spawn(&dir, listen, &anchor, &keys, Some(1));
    wait_state(&state, &resolver, |text| text.matches("; VALID").count() == 2 && !text.contains("ADDPEND"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while resolver.logs().matches("trust anchor refreshed").count() < 3 {
        assert!(Instant::now() < deadline, "the refresh did not repeat\n{}", resolver.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}
