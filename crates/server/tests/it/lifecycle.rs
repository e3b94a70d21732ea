//! The server's life as an operator sees it: SIGHUP reload under load (no query lost, new data
//! served, a broken zone keeps the old version and the log says why), SIGTERM (exit 0, TCP
//! connections closed cleanly), bind errors, configuration errors, and a broken `--zone` at
//! start-up. Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a panic with context

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_wire::message::{Message, Section};
use portcullis_wire::{Rcode, Rtype};

use crate::client::{self, Query};
use crate::harness::{self, example_zone, Server, Tcp, POLL};
use crate::peers::{free_port, temp_dir, RemoveOnDrop};
use crate::portcullis::BINARY;

/// Queries the reload loop sends at least.
const LOOP_QUERIES: usize = 3000;
/// And at most (the loop runs until both reloads are done).
const LOOP_MAX: usize = 200_000;
/// How long one loop query waits for its reply (single attempt: a loss is counted, not retried).
const LOOP_TIMEOUT: Duration = Duration::from_secs(2);

fn zone_text(serial: u32, extra: &str) -> String {
    format!(
        "$ORIGIN reload.test.\n$TTL 60\n@ IN SOA ns1 hostmaster {serial} 7200 900 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.1\nwww IN A 192.0.2.80\n{extra}"
    )
}

/// The SOA serial of a reply's first answer record.
fn soa_serial(reply: &[u8]) -> Option<u32> {
    let message = Message::parse(reply).ok()?;
    let record = message.records(Section::Answer).find(|r| r.rtype == Rtype::SOA)?;
    let rdata = record.rdata;
    let at = rdata.len().checked_sub(20)?;
    Some(u32::from_be_bytes([rdata[at], rdata[at + 1], rdata[at + 2], rdata[at + 3]]))
}

/// What the query loop saw.
#[derive(Debug, Default)]
struct LoopReport {
    sent: usize,
    answered: usize,
    lost: Vec<String>,
    serial_went_back: Vec<(u32, u32)>,
    serials: Vec<u32>,
}

/// Sequential SOA queries on one UDP socket, one attempt each: until `stop` (and at least
/// [`LOOP_QUERIES`]), at most [`LOOP_MAX`].
fn query_loop(addr: SocketAddr, stop: &AtomicBool, progress: &AtomicUsize) -> LoopReport {
    let mut report = LoopReport::default();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(addr).expect("connect");
    socket.set_read_timeout(Some(LOOP_TIMEOUT)).expect("timeout");
    let query = Query::new("reload.test.", Rtype::SOA);
    let mut buf = vec![0u8; 65_535];
    let mut last_serial = 0;
    for n in 0..LOOP_MAX {
        if n >= LOOP_QUERIES && stop.load(Ordering::Acquire) {
            break;
        }
        let id = (n % 65_536) as u16;
        let wire = query.to_wire(id).expect("query");
        report.sent += 1;
        if let Err(e) = socket.send(&wire) {
            report.lost.push(format!("#{n}: send: {e}"));
            continue;
        }
        let deadline = Instant::now() + LOOP_TIMEOUT;
        let answered = loop {
            if Instant::now() >= deadline {
                break Err("timed out".to_string());
            }
            match socket.recv(&mut buf) {
                Ok(len) => {
                    let reply = &buf[..len];
                    let Ok(message) = Message::parse(reply) else { continue };
                    if message.header().id() != id {
                        continue; // a late reply to an earlier query
                    }
                    if message.rcode() != Rcode::NOERROR {
                        break Err(format!("rcode {}", message.rcode()));
                    }
                    break soa_serial(reply).ok_or_else(|| "no SOA in the answer".to_string());
                }
                Err(e) => break Err(e.to_string()),
            }
        };
        match answered {
            Ok(serial) => {
                report.answered += 1;
                if serial < last_serial {
                    report.serial_went_back.push((last_serial, serial));
                }
                if serial != last_serial {
                    report.serials.push(serial);
                }
                last_serial = serial;
            }
            Err(e) => report.lost.push(format!("#{n}: {e}")),
        }
        progress.store(n + 1, Ordering::Release);
    }
    report
}

/// Polls (bounded) until `pred` holds.
fn wait_until(within: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if pred() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Writes `text` into `path` atomically (write a sibling, rename), as an operator's editor does.
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).expect("write zone");
    fs::rename(&tmp, path).expect("rename zone");
}

#[test]
fn sighup_reload_under_load_loses_no_query_and_a_broken_zone_keeps_the_old_version() {
    let dir = temp_dir("reload");
    let zone = dir.join("reload.test.zone");
    fs::write(&zone, zone_text(1, "")).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let zone_flag = format!("reload.test.={}", zone.display());
    let args = ["serve", "--listen", &addr.to_string(), "--zone", &zone_flag, "--threads", "1"];
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_ref()).collect();
    let server = Server::start(dir.clone(), addr, &args, "reload.test.").unwrap_or_else(|e| panic!("{e}"));
    server.settle_signals();
    assert_eq!(harness::udp_rcode(addr, "new.reload.test.", Rtype::A).unwrap().0, Rcode::NXDOMAIN);

    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let looper = {
        let (stop, progress) = (stop.clone(), progress.clone());
        std::thread::spawn(move || query_loop(addr, &stop, &progress))
    };
    // Make sure the reloads happen while queries flow.
    assert!(wait_until(Duration::from_secs(10), || progress.load(Ordering::Acquire) >= 200), "query loop did not start");

    // Reload 1: new serial, new record.
    replace_file(&zone, &zone_text(2, "new IN A 192.0.2.99\n"));
    server.signal("HUP");
    let served = wait_until(Duration::from_secs(10), || {
        harness::udp_rcode(addr, "new.reload.test.", Rtype::A).is_ok_and(|(rcode, an)| rcode == Rcode::NOERROR && an == 1)
    });
    assert!(served, "new record not served 10 s after SIGHUP\n{}", server.stderr());
    let reloaded_at = progress.load(Ordering::Acquire);

    // Reload 2: a broken zone file (line 8: bad address); the old version stays.
    replace_file(&zone, &zone_text(3, "new IN A 192.0.2.99\nbroken IN A 192.0.2.256\n"));
    server.signal("HUP");
    let log = server
        .wait_log(Duration::from_secs(10), |log| log.contains("keeping the previous version"))
        .unwrap_or_else(|log| panic!("no 'keeping the previous version' in the log 10 s after SIGHUP:\n{log}"));
    let line = log.lines().find(|l| l.contains("keeping the previous version")).unwrap();
    let file_line = format!("{}:8", zone.display());
    assert!(line.contains(&file_line), "the reload error does not name {file_line}: {line}");
    assert!(line.contains("reload.test"), "the reload error does not name the zone: {line}");
    // Let the loop run past the failed reload before stopping it.
    let after_broken = progress.load(Ordering::Acquire);
    assert!(wait_until(Duration::from_secs(10), || progress.load(Ordering::Acquire) >= after_broken + 200), "query loop stalled after the broken reload");
    stop.store(true, Ordering::Release);
    let report = looper.join().expect("query loop panicked");

    assert!(report.lost.is_empty(), "{} of {} queries lost during reload: {:?}", report.lost.len(), report.sent, &report.lost[..report.lost.len().min(10)]);
    assert_eq!(report.answered, report.sent);
    assert!(report.sent >= LOOP_QUERIES, "{report:?}");
    assert!(report.serial_went_back.is_empty(), "an older zone version was served after a newer one: {:?}", report.serial_went_back);
    assert_eq!(report.serials, vec![1, 2], "serials seen in order (the broken serial 3 must never be served); reload 1 seen at query {reloaded_at}");
    // The old (serial 2) version is still what is served.
    assert_eq!(harness::udp_rcode(addr, "new.reload.test.", Rtype::A).unwrap(), (Rcode::NOERROR, 1));
    assert_eq!(harness::udp_rcode(addr, "broken.reload.test.", Rtype::A).unwrap().0, Rcode::NXDOMAIN);
    let reply = client::udp(addr, &Query::new("reload.test.", Rtype::SOA)).unwrap();
    assert_eq!(soa_serial(&reply), Some(2));
}

#[test]
fn sigterm_exits_zero_and_closes_tcp_connections_cleanly() {
    let mut server = Server::with_tcp(&Tcp { idle_ms: Some(60_000), first_message_ms: Some(60_000), ..Tcp::default() });
    server.settle_signals();
    // An established connection that has been answered once and is now idle (in-flight).
    let mut idle = TcpStream::connect(server.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let wire = Query::new("example.test.", Rtype::SOA).to_wire(7).unwrap();
    let mut framed = (wire.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&wire);
    idle.write_all(&framed).unwrap();
    let reply = client::read_framed(&mut idle).unwrap();
    assert_eq!(Message::parse(&reply).unwrap().rcode(), Rcode::NOERROR);
    // A fresh connection that has sent nothing yet.
    let mut fresh = TcpStream::connect(server.addr).unwrap();
    fresh.set_read_timeout(Some(Duration::from_secs(8))).unwrap();

    let signalled = Instant::now();
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(8));
    let took = signalled.elapsed();
    let status = status.unwrap_or_else(|| panic!("still running 8 s after SIGTERM\n{}", server.stderr()));
    assert!(status.success(), "exit status {status} after SIGTERM\n{}", server.stderr());
    assert!(took < Duration::from_secs(6), "took {took:?} to exit");
    for (what, stream) in [("answered idle connection", &mut idle), ("fresh connection", &mut fresh)] {
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("{what}: {n} unexpected bytes after SIGTERM"),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => panic!("{what}: still open after the server exited"),
            Err(e) => panic!("{what}: not closed cleanly (FIN) but {e}"),
        }
    }
    assert!(server.stderr().contains("stopped"), "no 'stopped' in the log:\n{}", server.stderr());
}

fn run(args: &[&str]) -> Output {
    Command::new(BINARY).args(args).env_remove("RUST_LOG").output().expect("run portcullis")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// `serve` that is expected to fail at start-up: its output, after it exited (bounded).
fn serve_fails(args: &[&str]) -> (Option<i32>, String) {
    let dir = temp_dir("fails");
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_ref()).collect();
    let mut server = Server::spawn(dir, "127.0.0.1:9".parse().unwrap(), &args).unwrap();
    let status = server.wait_exit(Duration::from_secs(10)).unwrap_or_else(|| panic!("still running 10 s after a start-up error:\n{}", server.stderr()));
    let log = format!("{}{}", fs::read_to_string(server.dir.join("stdout.log")).unwrap_or_default(), server.stderr());
    (status.code(), log)
}

#[test]
fn bind_error_on_a_taken_port_names_listen() {
    // Both UDP and TCP taken.
    let (udp, tcp) = (0..50)
        .find_map(|_| {
            let udp = UdpSocket::bind("127.0.0.1:0").ok()?;
            let tcp = TcpListener::bind(udp.local_addr().ok()?).ok()?;
            Some((udp, tcp))
        })
        .expect("no port free for both UDP and TCP");
    let addr = udp.local_addr().unwrap();
    let zone = format!("example.test={}", example_zone().display());
    let (code, log) = serve_fails(&["serve", "--listen", &addr.to_string(), "--zone", &zone]);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}\n{log}");
    assert!(log.contains("--listen"), "message does not name --listen:\n{log}");
    assert!(log.contains(&addr.to_string()), "message does not name the address:\n{log}");
    drop(tcp);

    // Only UDP taken (the TCP port is free).
    let (code, log) = serve_fails(&["serve", "--listen", &addr.to_string(), "--zone", &zone]);
    assert!(code.is_some_and(|c| c != 0), "UDP taken: exit {code:?}\n{log}");
    assert!(log.contains("--listen") && log.contains("UDP"), "UDP taken: message does not name UDP and --listen:\n{log}");
    drop(udp);
}

/// The effective user id, from /proc (no libc).
fn euid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
}

#[test]
fn privileged_port_message_names_the_capability() {
    let unprivileged_start: u32 = fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").ok().and_then(|t| t.trim().parse().ok()).unwrap_or(1024);
    if unprivileged_start <= 53 {
        println!(
            "SKIPPED privileged_port_message_names_the_capability: net.ipv4.ip_unprivileged_port_start = {unprivileged_start}, port 53 is not privileged here"
        );
        return;
    }
    let zone = format!("example.test={}", example_zone().display());
    let serve = [BINARY, "serve", "--listen", "127.0.0.1:53", "--zone", &zone];
    let output = if euid() == Some(0) {
        // As root, drop to nobody without any capability (util-linux setpriv), if available.
        let Some(setpriv) = crate::peers::find_binary("setpriv") else {
            println!("SKIPPED privileged_port_message_names_the_capability: running as root and setpriv is missing, port 53 can be bound");
            return;
        };
        println!("NOTE privileged_port_message_names_the_capability: running as root; the server runs as nobody via setpriv without capabilities");
        Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
            .args(serve)
            .env_remove("RUST_LOG")
            .output()
    } else {
        Command::new(BINARY).args(&serve[1..]).env_remove("RUST_LOG").output()
    };
    let output = output.expect("run portcullis");
    let log = text(&output);
    assert!(output.status.code().is_some_and(|c| c != 0), "exit {:?}\n{log}", output.status.code());
    assert!(log.contains("CAP_NET_BIND_SERVICE") && log.contains("--listen"), "message does not name CAP_NET_BIND_SERVICE and --listen:\n{log}");
    assert!(log.contains("127.0.0.1:53"), "message does not name the address:\n{log}");
}

#[test]
fn serve_with_a_bad_config_exits_2_and_reports_every_error_with_its_path() {
    let dir = temp_dir("badcfg");
    let _scratch = RemoveOnDrop(dir.clone());
    // Each error alone.
    let unknown = dir.join("unknown.toml");
    fs::write(&unknown, "[server]\nlisten = [\"127.0.0.1:5353\"]\n\n[tcp]\nper-client = 4\nbogus-key = 1\n").unwrap();
    let (code, log) = serve_fails(&["serve", "--config", unknown.to_str().unwrap()]);
    assert_eq!(code, Some(2), "unknown key: {log}");
    assert!(log.contains("bogus-key"), "unknown key not named:\n{log}");
    assert!(log.contains("unknown.toml"), "file not named:\n{log}");

    let range = dir.join("range.toml");
    fs::write(&range, "[server]\nlisten = [\"127.0.0.1:5353\"]\n\n[tcp]\nin-flight = 5000\n").unwrap();
    let (code, log) = serve_fails(&["serve", "--config", range.to_str().unwrap()]);
    assert_eq!(code, Some(2), "out of range: {log}");
    assert!(log.contains("tcp.in-flight: 5000 is outside 1..=1024"), "out-of-range value not reported with its path:\n{log}");
}

#[test]
fn serve_with_an_unknown_key_and_an_out_of_range_value_reports_both_with_their_paths() {
    let dir = temp_dir("badcfg2");
    let _scratch = RemoveOnDrop(dir.clone());
    let bad = dir.join("bad.toml");
    fs::write(&bad, "[server]\nlisten = [\"127.0.0.1:5353\"]\n\n[tcp]\nin-flight = 5000\nbogus-key = 1\n").unwrap();
    let (code, log) = serve_fails(&["serve", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("tcp.bogus-key"), "the unknown key is not reported with its TOML path tcp.bogus-key:\n{log}");
    assert!(log.contains("tcp.in-flight"), "the out-of-range value is not reported (tcp.in-flight):\n{log}");
}

#[test]
fn check_config_exits_0_on_a_good_config_and_1_on_a_bad_one() {
    let dir = temp_dir("checkcfg");
    let _scratch = RemoveOnDrop(dir.clone());
    let zone = example_zone();
    let good = harness::write_config(&dir, "127.0.0.1:5353".parse().unwrap(), &Tcp { per_client: Some(8), ..Tcp::default() }, &[("example.test.", &zone)]);
    let output = run(&["check-config", good.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("example.test."), "zone not mentioned: {}", text(&output));

    // Bad value.
    let bad = dir.join("bad.toml");
    fs::write(&bad, "[server]\nudp-payload = 100\n").unwrap();
    let output = run(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("server.udp-payload"), "{}", text(&output));

    // Unknown key.
    fs::write(&bad, "[server]\nlisten-on = []\n").unwrap();
    let output = run(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("listen-on"), "{}", text(&output));

    // A good file naming a broken zone (relative path: relative to the config file).
    let broken_zone = crate::queries::testdata().join("zones/broken/bad-a-address.zone");
    fs::copy(&broken_zone, dir.join("broken.zone")).unwrap();
    fs::write(&bad, "[[zone]]\norigin = \"broken.test.\"\nfile = \"broken.zone\"\n").unwrap();
    let output = run(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let expected = format!("{}:5", dir.join("broken.zone").display());
    assert!(text(&output).contains(&expected), "broken zone error does not name {expected}: {}", text(&output));
    assert!(text(&output).contains("SERVFAIL"), "check-config does not say what serve would answer: {}", text(&output));
}

#[test]
fn serve_with_a_broken_zone_logs_file_and_line_and_serves_the_others() {
    let dir = temp_dir("brokenzone");
    let broken = crate::queries::testdata().join("zones/broken/bad-a-address.zone");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let good = format!("example.test={}", example_zone().display());
    let bad = format!("broken.test={}", broken.display());
    let args = ["serve", "--listen", &addr.to_string(), "--threads", "1", "--zone", &bad, "--zone", &good];
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_ref()).collect();
    let server = Server::start(dir, addr, &args, "example.test.").unwrap_or_else(|e| panic!("{e}"));
    let log = server
        .wait_log(Duration::from_secs(5), |log| log.contains("bad-a-address.zone:5"))
        .unwrap_or_else(|log| panic!("no error naming bad-a-address.zone:5 in the log:\n{log}"));
    let line = log.lines().find(|l| l.contains("bad-a-address.zone:5")).unwrap();
    assert!(line.contains("ERROR"), "not logged as an error: {line}");
    assert!(line.contains("broken.test"), "zone not named: {line}");
    assert_eq!(harness::udp_rcode(addr, "www.example.test.", Rtype::A).unwrap(), (Rcode::NOERROR, 2));
    assert!(line.contains("SERVFAIL"), "the log does not say what its names get: {line}");
    assert_eq!(harness::udp_rcode(addr, "www.broken.test.", Rtype::A).unwrap().0, Rcode::SERVFAIL, "a configured zone without a copy");
    harness::assert_answers(addr, "beside a broken zone");
}

/// A primary zone that does not load is still the server's: with recursion on, its names get
/// SERVFAIL at once and nothing is asked upstream (here a root server the test holds, which
/// never answers), as for a secondary zone without a copy.
#[test]
fn a_zone_that_fails_to_load_gets_servfail_not_recursion() {
    let dir = temp_dir("unloaded");
    let root = UdpSocket::bind("127.0.0.1:0").unwrap();
    let hints = dir.join("root.hints");
    fs::write(&hints, ".  3600000 NS a.rootns.\na.rootns. 3600000 A 127.0.0.1\n").unwrap();
    let broken = dir.join("broken.zone");
    fs::copy(crate::queries::testdata().join("zones/broken/bad-a-address.zone"), &broken).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = harness::write_config(&dir, addr, &Tcp::default(), &[("example.test.", &example_zone()), ("broken.test.", &broken)]);
    let resolver = format!(
        "\n[resolver]\nrecursion = true\nroot-hints = \"{}\"\nupstream-port = {}\ndo-not-query-localhost = false\nuse-ipv6 = false\n",
        hints.display(),
        root.local_addr().unwrap().port()
    );
    fs::write(&config, fs::read_to_string(&config).unwrap() + &resolver).unwrap();
    let args: Vec<&std::ffi::OsStr> = vec!["serve".as_ref(), "--config".as_ref(), config.as_os_str()];
    let server = Server::start(dir, addr, &args, "example.test.").unwrap_or_else(|e| panic!("{e}"));

    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut query = Query::new("www.broken.test.", Rtype::A).to_wire(0x5151).unwrap();
    query[2] |= 0x01; // RD: a client that may recurse asks for recursion
    client.send_to(&query, addr).unwrap();
    let mut buf = [0u8; 512];
    let len = client.recv(&mut buf).unwrap_or_else(|e| panic!("no answer for a name of the broken zone ({e})\n{}", server.stderr()));
    let reply = Message::parse(&buf[..len]).unwrap();
    assert_eq!(reply.rcode(), Rcode::SERVFAIL, "{}", server.stderr());
    // The answer came without asking upstream: nothing ever reached the root server.
    root.set_nonblocking(true).unwrap();
    let asked = root.recv(&mut buf);
    assert!(asked.is_err_and(|e| e.kind() == ErrorKind::WouldBlock), "the name of a configured zone went to recursion");
    let log = server.stderr();
    let line = log.lines().find(|l| l.contains("failed to load") && l.contains("broken.test")).unwrap_or_else(|| panic!("no error for broken.test:\n{log}"));
    assert!(line.contains("ERROR") && line.contains("SERVFAIL"), "{line}");
    assert_eq!(harness::udp_rcode(addr, "www.example.test.", Rtype::A).unwrap(), (Rcode::NOERROR, 2));
}

#[test]
fn sighup_rereads_the_config_file_and_a_broken_one_keeps_the_running_configuration() {
    let dir = temp_dir("cfgreload");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let example = example_zone();
    let config = harness::write_config(&dir, addr, &Tcp::default(), &[("example.test.", &example)]);
    let args: Vec<&std::ffi::OsStr> = vec!["serve".as_ref(), "--config".as_ref(), config.as_os_str()];
    let server = Server::start(dir.clone(), addr, &args, "example.test.").unwrap_or_else(|e| panic!("{e}"));
    server.settle_signals();
    assert_eq!(harness::udp_rcode(addr, "www.reload.test.", Rtype::A).unwrap().0, Rcode::REFUSED);

    // A zone added to the file is served after SIGHUP.
    let zone = dir.join("reload.test.zone");
    fs::write(&zone, zone_text(1, "")).unwrap();
    harness::write_config(&dir, addr, &Tcp::default(), &[("example.test.", &example), ("reload.test.", &zone)]);
    server.signal("HUP");
    let served = wait_until(Duration::from_secs(10), || harness::udp_rcode(addr, "www.reload.test.", Rtype::A).is_ok_and(|r| r == (Rcode::NOERROR, 1)));
    assert!(served, "zone added to the config not served after SIGHUP\n{}", server.stderr());

    // A broken file: the running configuration (both zones) stays, the log says why.
    fs::write(&config, format!("[server]\nlisten = [\"{addr}\"]\nudp-payload = 99999\n")).unwrap();
    server.signal("HUP");
    let log = server
        .wait_log(Duration::from_secs(10), |log| log.contains("keeping the running configuration"))
        .unwrap_or_else(|log| panic!("no 'keeping the running configuration' after a broken config:\n{log}"));
    assert!(log.contains("server.udp-payload"), "the reload error does not name server.udp-payload:\n{log}");
    assert_eq!(harness::udp_rcode(addr, "www.reload.test.", Rtype::A).unwrap(), (Rcode::NOERROR, 1));
    assert_eq!(harness::udp_rcode(addr, "www.example.test.", Rtype::A).unwrap(), (Rcode::NOERROR, 2));
}

/// A signal sent the moment the server first answers must be handled (SIGHUP: reload, SIGTERM:
/// exit 0), not kill the process by the default action. A `sh` waiting on a pipe sends it, so
/// the delay after the first answer is a pipe wake-up, not a fork+exec. The window is small:
/// this test finds it only some of the time, so it tries a number of starts.
#[test]
fn a_signal_right_after_the_first_answer_is_handled() {
    use std::process::Stdio;
    let zone = format!("example.test={}", example_zone().display());
    let probe = Query::new("example.test.", Rtype::SOA);
    for attempt in 0..80 {
        let dir = temp_dir("earlysig");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let args = ["serve", "--listen", &addr.to_string(), "--zone", &zone, "--threads", "1"];
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_ref()).collect();
        let mut server = Server::spawn(dir, addr, &args).unwrap();
        let mut killer = Command::new("sh").arg("-c").arg(format!("read x; kill -HUP {}", server.pid())).stdin(Stdio::piped()).spawn().unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(addr).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(2))).unwrap();
        let wire = probe.to_wire(1).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 4096];
        loop {
            assert!(Instant::now() < deadline, "never answered\n{}", server.stderr());
            let _ = socket.send(&wire);
            if socket.recv(&mut buf).is_ok() {
                break;
            }
        }
        killer.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let _ = killer.wait();
        let answered = wait_until(Duration::from_secs(5), || server.try_status().is_some() || server.stderr().contains("reloaded"));
        assert!(answered, "attempt {attempt}: neither reloaded nor exited 5 s after SIGHUP\n{}", server.stderr());
        if let Some(status) = server.try_status() {
            panic!("attempt {attempt}: SIGHUP right after the first answer killed the server ({status})\n{}", server.stderr());
        }
    }
}

/// Logs go to stderr, which is a file or a pipe under systemd or a supervisor: no terminal colour
/// codes there (they break `grep 'zone=example.test.'` and fill journald with escapes).
#[test]
fn log_on_a_non_terminal_has_no_colour_codes() {
    let server = Server::with_tcp(&Tcp::default());
    let log = server.wait_log(Duration::from_secs(5), |log| log.contains("portcullis ready")).unwrap_or_else(|log| panic!("not ready:\n{log}"));
    assert!(!log.contains('\u{1b}'), "ANSI escapes in the log file:\n{log:?}");
    assert!(log.contains("zone=example.test."), "structured field not greppable as zone=example.test.:\n{log:?}");
}
