//! A reload (SIGHUP, `ctl reload`) keeps what it should: the resolver's cache (names answered
//! before it are still answered from the cache after it: no new resolution), the forward
//! groups' health and RTT, and RRL's accounts while the RRL settings stay the same (a client in
//! debt stays limited; new settings start a fresh table, and so does `ctl rrl --clear`).

use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use portcullis_wire::Rtype;

use crate::client::Query;
use crate::ops::OpsServer;
use crate::queries::testdata;

fn stats(ops: &OpsServer) -> serde_json::Value {
    let (status, body) = ops.get("/api/stats", None);
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Asks every name once with RD=1 and waits for each reply.
pub fn ask_all(server: SocketAddr, names: &[String]) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap_or_default();
    for (id, name) in names.iter().enumerate() {
        let mut query = Query::new(name, Rtype::A).to_wire(id as u16).unwrap_or_default();
        query[2] |= 0x01;
        socket.send_to(&query, server).unwrap_or_default();
        let mut reply = [0u8; 2048];
        let len = socket.recv(&mut reply).unwrap_or_else(|e| panic!("{name}: no reply: {e}"));
        assert!(len >= 12 && matches!(reply[3] & 0x0F, 0 | 3), "{name}: rcode {}", reply[3] & 0x0F);
    }
}

/// One query for `name` A with RD=1 over TCP; panics without a NOERROR reply.
pub fn tcp_recursive(server: SocketAddr, name: &str) {
    use std::io::{Read, Write};
    let mut query = Query::new(name, Rtype::A).to_wire(0x7777).unwrap_or_default();
    query[2] |= 0x01;
    let mut stream = std::net::TcpStream::connect(server).unwrap_or_else(|e| panic!("{e}"));
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap_or_default();
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    stream.write_all(&framed).unwrap_or_else(|e| panic!("{e}"));
    let mut reply = [0u8; 2048];
    let len = stream.read(&mut reply).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(len > 14 && matches!(reply[5] & 0x0F, 0 | 3), "{name} over TCP: rcode {}", reply[5] & 0x0F);
}

/// SIGHUP, then waits for the `reloaded` line number `count`.
fn hangup(ops: &OpsServer, count: usize) {
    ops.server.signal("HUP");
    let reloaded = ops.server.wait_log(Duration::from_secs(10), |log| log.matches(" reloaded ").count() >= count);
    assert!(reloaded.is_ok(), "no reload in the log:\n{}", ops.server.stderr());
}

#[test]
fn a_reload_keeps_the_cache_and_the_upstreams_health() {
    let upstream = OpsServer::with_zone("", "other.test.", &testdata().join("zones/other.test.zone"));
    let forward = format!("\n[[forward]]\nzone = \"other.test.\"\ndnssec-validation = false\nprimaries = [\"{}\"]\n", upstream.server.addr);
    let front = OpsServer::start(&forward);
    front.server.settle_signals();
    let mut names: Vec<String> = (0..30).map(|i| format!("n{i}.other.test.")).collect();
    names.extend(["www.other.test.".to_string(), "ns.other.test.".to_string()]);
    ask_all(front.server.addr, &names);
    let cold = stats(&front);
    let resolutions = cold["resolver"]["resolutions"].as_u64().unwrap_or(0);
    assert!(resolutions >= names.len() as u64, "every name missed the cache once: {cold}");
    let answered = |s: &serde_json::Value| s["cache"]["answered_on_worker"].as_u64().unwrap_or(0);
    ask_all(front.server.addr, &names);
    let warm = stats(&front);
    assert_eq!(warm["resolver"]["resolutions"].as_u64(), Some(resolutions), "second pass: all from the cache");
    assert_eq!(answered(&warm) - answered(&cold), names.len() as u64, "hit ratio before the reload: 100 %");
    let upstream_before = warm["upstreams"][0].clone();
    assert_eq!(upstream_before["up"], true);

    hangup(&front, 1);
    // A reload that changes the configuration (a comment and a setting outside the cache).
    let text = fs::read_to_string(&front.config).unwrap_or_default();
    fs::write(&front.config, format!("{text}\n# changed\n[log]\nlevel = \"info\"\n")).unwrap_or_default();
    hangup(&front, 2);

    ask_all(front.server.addr, &names);
    let after = stats(&front);
    assert_eq!(after["resolver"]["resolutions"].as_u64(), Some(resolutions), "after the reloads: still all from the cache");
    assert_eq!(answered(&after) - answered(&warm), names.len() as u64, "hit ratio after the reload: 100 %");
    assert!(after["cache"]["entries"].as_u64() >= warm["cache"]["entries"].as_u64());
    let upstream_after = &after["upstreams"][0];
    assert_eq!(upstream_after["address"], upstream_before["address"]);
    assert_eq!(upstream_after["up"], true);
    assert_eq!(upstream_after["queries"], upstream_before["queries"], "the group and its counts were kept");
    assert!(upstream_after["srtt_ms"].is_number(), "the measured RTT was kept: {upstream_after}");

    // A TCP client's question goes through the resolver pool: its duration is in the histogram.
    tcp_recursive(front.server.addr, "tcp-only.other.test.");
    let scrape = front.metrics();
    let resolved = crate::ops::samples(&scrape, "portcullis_resolution_duration_seconds_count");
    assert!(resolved.get("").is_some_and(|&n| n >= 1.0), "resolution_duration_seconds_count: {resolved:?}");
    // The two warm passes were answered from the cache by the UDP workers: in the cache-hit
    // latency histogram.
    let answered_fast = crate::ops::samples(&scrape, "portcullis_answer_duration_seconds_count");
    let hits = answered_fast.get("{source=\"cache\"}").copied().unwrap_or(0.0);
    assert!(hits >= 2.0 * names.len() as f64, "answer_duration_seconds_count: {answered_fast:?}");
}

/// Sends `count` queries one after the other; returns how many got a full answer (not TC=1,
/// not dropped).
fn full_answers(server: SocketAddr, count: usize) -> usize {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap_or_default();
    let query = Query::new("www.example.test.", Rtype::A).to_wire(3).unwrap_or_default();
    let mut full = 0;
    for _ in 0..count {
        socket.send_to(&query, server).unwrap_or_default();
        let mut reply = [0u8; 2048];
        if let Ok(len) = socket.recv(&mut reply) {
            let truncated = reply[2] & 0x02 != 0;
            if len > 12 && !truncated {
                full += 1;
            }
        }
    }
    full
}

#[test]
fn a_reload_keeps_rrl_accounts_unless_the_rrl_settings_change() {
    // localhost outside the recursion ACL, so RRL accounts it: 5 answers a second, a 15 s window.
    let rrl = "\n[resolver]\nallow-recursion = [\"192.0.2.0/24\"]\n\n[rrl]\nresponses-per-second = 5\n";
    let ops = OpsServer::start(rrl);
    ops.server.settle_signals();
    let flood = ops.server.addr;
    let burst = || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let query = Query::new("www.example.test.", Rtype::A).to_wire(4).unwrap_or_default();
        let before = stats(&ops)["queries_total"].as_u64().unwrap_or(0);
        for _ in 0..100 {
            socket.send_to(&query, flood).unwrap_or_default();
        }
        // Until the server has taken the burst (another worker could answer the next query first).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut last = 0;
        loop {
            let seen = stats(&ops)["queries_total"].as_u64().unwrap_or(0);
            if seen >= before + 100 || (seen == last && seen >= before + 50) || std::time::Instant::now() > deadline {
                break;
            }
            last = seen;
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    burst();
    // The /24's account is deep in debt: nothing but slips.
    assert_eq!(full_answers(flood, 6), 0, "limited before the reload");
    hangup(&ops, 1);
    assert_eq!(full_answers(flood, 6), 0, "still limited after a reload with the same RRL settings");
    // `ctl rrl` shows what was limited; `ctl rrl --clear` forgets the accounts.
    let ctl = |args: &[&str]| {
        let output = std::process::Command::new(crate::portcullis::BINARY)
            .arg("ctl")
            .arg("--config")
            .arg(&ops.config)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(output.status.success(), "ctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let shown = ctl(&["rrl"]);
    assert!(shown.lines().any(|l| l == "responses_per_second 5"), "{shown}");
    let dropped = shown.lines().find_map(|l| l.strip_prefix("limited.answer ")).unwrap_or_default().to_string();
    let dropped: serde_json::Value = serde_json::from_str(&dropped).unwrap_or_default();
    assert!(dropped["dropped"].as_u64().is_some_and(|n| n > 10), "{shown}");
    ctl(&["rrl", "--clear"]);
    assert!(full_answers(flood, 6) >= 5, "answered again once the accounts are cleared");
    burst();
    assert_eq!(full_answers(flood, 6), 0, "limited again");
    // New RRL settings: a new table, the debt forgotten.
    let text = fs::read_to_string(&ops.config).unwrap_or_default().replace("responses-per-second = 5", "responses-per-second = 6");
    fs::write(&ops.config, text).unwrap_or_default();
    hangup(&ops, 3);
    assert!(full_answers(flood, 6) >= 5, "a fresh table answers again");
}
