//! The resolver cache handed over on an upgrade keeps what validation said (issue 17 item 5):
//! a validating resolver learns a secure and a bogus answer, every authoritative server of the
//! signed hierarchy is stopped, SIGUSR2 upgrades the resolver, and the new process — which can
//! only answer from the cache it was handed — answers the secure name with AD, the bogus one
//! SERVFAIL with EDE 6 as before, and gives the bogus data to CD=1 without AD: the entry went
//! over bogus and stayed bogus, never secure. The proven NSEC ranges go over too: a name never
//! asked, in the gap an earlier NXDOMAIN proved, is NXDOMAIN with AD (RFC 8198).

use super::hierarchy::resolvers::start_portcullis_with;
use super::peers::temp_dir;
use super::{dig, serve, DO, RESOLVER};
use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The new process's id, from the old one's "the new process serves ... pid=N" log line.
fn new_pid(log: &str) -> Option<u32> {
    log.lines().find(|l| l.contains("the new process serves")).and_then(|l| l.split_once("pid=")?.1.split_whitespace().next()?.parse().ok())
}

/// Stops process `pid` (SIGTERM, then SIGKILL after 5 s).
fn stop(pid: u32) {
    let pid = pid.to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).stderr(Stdio::null()).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z ")) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("kill").args(["-KILL", &pid]).stderr(Stdio::null()).status();
}

#[test]
fn an_upgrade_keeps_bogus_entries_bogus_and_secure_ones_secure() {
    let dir = temp_dir("validation-handover");
    let _cleanup = super::peers::RemoveOnDrop(dir.clone());
    let Some((net, servers, dig_path, signed)) = serve("validation-handover", &dir) else { return };
    let anchor = dir.join("anchor.ds");
    fs::write(&anchor, &signed.anchor).unwrap();
    let run_dir = temp_dir("validation-handover-portcullis");
    let listen = net.addr(RESOLVER);
    let mut portcullis =
        start_portcullis_with(&run_dir, &dir.join("root.hints"), listen, "secure.test.", &format!("trust-anchor-file = \"{}\"\n", anchor.display()));
    let secure = dig(&dig_path, listen, "www.secure.test.", "A", DO);
    let bogus = dig(&dig_path, listen, "www.bogus.test.", "A", DO);
    let cd = dig(&dig_path, listen, "www.bogus.test.", "A", &["+cd", "+dnssec"]);
    assert!(secure.status == "NOERROR" && secure.ad, "before: {}", secure.text);
    assert!(bogus.status == "SERVFAIL" && bogus.ede == Some(6), "before: {}", bogus.text);
    assert!(cd.status == "NOERROR" && !cd.ad && cd.answer.iter().any(|l| l.ends_with("A 192.0.2.66")), "before: {}", cd.text);
    let denied = dig(&dig_path, listen, "nx.secure.test.", "A", DO);
    assert!(denied.status == "NXDOMAIN" && denied.ad, "before: {}", denied.text);

    drop(servers);
    let status = Command::new("kill").args(["-USR2", &portcullis.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while portcullis.child.try_wait().ok().flatten().is_none() {
        assert!(Instant::now() < deadline, "the old resolver did not exit after SIGUSR2\n{}", portcullis.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = portcullis.logs();
    let pid = new_pid(&log).unwrap_or_else(|| panic!("no new process in the log\n{log}"));
    let answers = (dig(&dig_path, listen, "www.secure.test.", "A", DO), dig(&dig_path, listen, "www.bogus.test.", "A", DO));
    let cd_after = dig(&dig_path, listen, "www.bogus.test.", "A", &["+cd", "+dnssec"]);
    let aggressive = dig(&dig_path, listen, "nz.secure.test.", "A", DO);
    stop(pid);
    let (secure, bogus) = answers;
    let log = portcullis.logs();
    assert!(log.contains("upgrade: cache taken over from the old process"), "{log}");
    assert!(secure.status == "NOERROR" && secure.ad, "the secure answer after the upgrade, servers stopped: {}\n{log}", secure.text);
    assert!(bogus.status == "SERVFAIL" && bogus.ede == Some(6) && !bogus.ad, "the bogus answer after the upgrade: {}\n{log}", bogus.text);
    assert!(
        cd_after.status == "NOERROR" && !cd_after.ad && cd_after.answer.iter().any(|l| l.ends_with("A 192.0.2.66")),
        "CD=1 after the upgrade: the bogus data from the handed-over cache, without AD: {}\n{log}",
        cd_after.text
    );
    assert!(
        aggressive.status == "NXDOMAIN" && aggressive.ad,
        "nz.secure.test. after the upgrade, servers stopped: NXDOMAIN with AD from the handed-over NSEC ranges: {}\n{log}",
        aggressive.text
    );
}
