//! An upgrade (`portcullis ctl upgrade`) of a server with DoT, DoH and DoQ listeners, under a
//! bounded dnsperf load, with a DoT client connected throughout: dnsperf loses no query, the DoT
//! client is answered until the old process closes its connection cleanly and goes on with the
//! new one, and the new process serves on the very sockets the old one had (the listening
//! sockets' inodes, from /proc/net/tcp and /proc/net/udp, are the same: handed over, not bound
//! again); DoH and DoQ answer afterwards.

use crate::clients;
use crate::support::{curl_doh, padded_query, runtime, Encrypted, Method};
use portcullis_wire::Rtype;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The inodes of the sockets bound to `addr` in `/proc/net/FILE` (LISTEN only for TCP).
fn inodes(file: &str, addr: SocketAddr) -> Vec<String> {
    let local = format!("0100007F:{:04X}", addr.port());
    let text = std::fs::read_to_string(format!("/proc/net/{file}")).unwrap_or_default();
    text.lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| fields.get(1) == Some(&local.as_str()) && (file != "tcp" || fields.get(3) == Some(&"0A")))
        .filter_map(|fields| fields.get(9).map(|inode| (*inode).to_string()))
        .collect()
}

/// What the DoT client saw: answers, clean closes by the server, and other errors.
#[derive(Debug, Default)]
struct DotRun {
    answered: u64,
    closed_cleanly: u64,
    errors: Vec<String>,
}

/// Asks www.example.test. A over one DoT connection after the other until `stop` (at most 60 s).
async fn dot_client(server: SocketAddr, root: std::path::PathBuf, stop: Arc<AtomicBool>) -> DotRun {
    let mut run = DotRun::default();
    let query = padded_query("www.example.test.", Rtype::A, false);
    let deadline = Instant::now() + Duration::from_secs(60);
    'connections: while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let mut stream = match clients::tls_connect(server, &root, &[b"dot"]).await {
            Ok(stream) => stream,
            Err(error) => {
                run.errors.push(format!("connect after {} answers: {error}", run.answered));
                return run;
            }
        };
        while !stop.load(Ordering::Relaxed) {
            match clients::dot_pipeline(&mut stream, std::slice::from_ref(&query)).await {
                Ok(_) => run.answered += 1,
                Err(error) if error.contains("close_notify") || error.contains("early eof") || error.contains("Broken pipe") => {
                    run.closed_cleanly += 1;
                    continue 'connections;
                }
                Err(error) => {
                    run.errors.push(format!("after {} answers: {error}", run.answered));
                    return run;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    run
}

/// dnsperf's "LABEL N" number.
fn dnsperf_number(output: &str, label: &str) -> u64 {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no '{label}' in dnsperf's output:\n{output}"))
}

/// Stops the new process (SIGTERM) when the test ends.
struct Stop(String);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

#[test]
fn an_upgrade_hands_over_the_encrypted_listeners_and_loses_no_query() {
    let Some(tools) = crate::peers::require("an_upgrade_hands_over_the_encrypted_listeners", &["dnsperf"]) else { return };
    let Some(mut server) = Encrypted::start("upgrade-encrypted") else { return };
    let before = (inodes("tcp", server.tls), inodes("tcp", server.https), inodes("udp", server.quic));
    assert!(before.0.len() == 1 && before.1.len() == 1 && before.2.len() == 1, "one socket each: {before:?}");
    let queries = server.dir().join("queries.txt");
    std::fs::write(&queries, "www.example.test A\nnope.example.test A\nexample.test SOA\n").unwrap();
    let dnsperf = Command::new(&tools[0])
        .args(["-s", "127.0.0.1", "-p", &server.udp.port().to_string(), "-d"])
        .arg(&queries)
        .args(["-l", "5", "-Q", "2000", "-q", "50", "-t", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let dot = {
        let (tls, root, stop) = (server.tls, server.pki.root.clone(), stop.clone());
        std::thread::spawn(move || runtime().block_on(dot_client(tls, root, stop)))
    };
    std::thread::sleep(Duration::from_millis(1500));

    let config = server.dir().join("portcullis.toml");
    let output = Command::new(crate::portcullis::BINARY).args(["ctl", "--config"]).arg(&config).arg("upgrade").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "ctl upgrade: {stdout} {}\n{}", String::from_utf8_lossy(&output.stderr), server.server.stderr());
    let pid = stdout.split_once("upgraded: process ").and_then(|(_, rest)| rest.split_whitespace().next()).unwrap_or_default().to_string();
    let _stop = Stop(pid);
    let status = server.server.wait_exit(Duration::from_secs(20)).unwrap_or_else(|| panic!("the old process did not exit:\n{}", server.server.stderr()));
    assert!(status.success(), "{status}");

    let output = dnsperf.wait_with_output().unwrap();
    stop.store(true, Ordering::Relaxed);
    let dot = dot.join().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let sent = dnsperf_number(&text, "Queries sent:");
    assert!(sent > 2000, "dnsperf ran across the upgrade:\n{text}");
    assert_eq!(dnsperf_number(&text, "Queries lost:"), 0, "no query lost:\n{text}\n{}", server.server.stderr());
    assert!(dot.errors.is_empty(), "the DoT client: {dot:?}\n{}", server.server.stderr());
    assert!(dot.closed_cleanly >= 1 && dot.answered > 50, "the DoT client went on with the new process: {dot:?}");

    let after = (inodes("tcp", server.tls), inodes("tcp", server.https), inodes("udp", server.quic));
    assert_eq!(after, before, "the new process serves on the sockets handed over, not bound again");
    let query = padded_query("www.example.test.", Rtype::A, false);
    assert_eq!(curl_doh(&server, Method::Post, true, &query).status, 200, "DoH after the upgrade");
    let doq = runtime().block_on(async { clients::Doq::connect(server.quic, &server.pki.root, &[b"doq"]).await?.query(&query).await });
    assert!(doq.is_ok_and(|reply| reply.len() > 12), "DoQ after the upgrade");
}
