//! The dashboard in headless Chromium (Debian's `chromium`): under load and after an RRL flood,
//! the page, once its script has run, shows a queries-per-second number above zero and the total
//! beside their names, and the alert; the script logs no error. The test keeps a screenshot
//! (`CARGO_TARGET_TMPDIR/dashboard.png`).

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_wire::Rtype;

use crate::client::Query;
use crate::ops::OpsServer;
use crate::peers::require;

/// Sends about 200 queries a second until `stop` (at most `limit`).
fn load(server: SocketAddr, stop: Arc<AtomicBool>, limit: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let query = Query::new("www.example.test.", Rtype::A).to_wire(11).unwrap_or_default();
        let started = Instant::now();
        while !stop.load(Ordering::Relaxed) && started.elapsed() < limit {
            for _ in 0..10 {
                socket.send_to(&query, server).unwrap_or_default();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// The text of the element with `id` in a dumped DOM.
fn text_of(dom: &str, id: &str) -> Option<String> {
    let start = dom.find(&format!("id=\"{id}\""))?;
    let rest = &dom[start..];
    let open = rest.find('>')? + 1;
    let close = rest[open..].find('<')?;
    Some(rest[open..open + close].to_string())
}

#[test]
fn the_dashboard_shows_live_numbers_and_alerts_in_headless_chromium() {
    let Some(tools) = require("the_dashboard_shows_live_numbers_and_alerts_in_headless_chromium (Debian package chromium)", &["chromium"]) else { return };
    // localhost outside the recursion ACL: RRL accounts it, so a burst is an alert.
    let ops = OpsServer::start("\n[resolver]\nallow-recursion = [\"192.0.2.0/24\"]\n\n[rrl]\nresponses-per-second = 20\n");
    let stop = Arc::new(AtomicBool::new(false));
    let sender = load(ops.server.addr, stop.clone(), Duration::from_secs(60));
    // Two samples of the load, so queries per second is above zero when the page asks.
    std::thread::sleep(Duration::from_millis(2500));
    let url = format!("http://{}/", ops.http);
    let browse = |extra: &[String]| {
        let output = Command::new(&tools[0])
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=4000",
                "--window-size=1280,1000",
            ])
            .args(extra)
            .arg(&url)
            .output()
            .unwrap_or_else(|e| panic!("chromium: {e}"));
        (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (dom, log) = browse(&["--dump-dom".to_string()]);
    let screenshot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = browse(&[format!("--screenshot={}", screenshot.display())]);
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();

    let number = |id: &str| text_of(&dom, id).map(|t| t.replace(',', "")).and_then(|t| t.parse::<f64>().ok());
    assert!(dom.contains("Queries per second</span> <span id=\"qps\""), "the rate beside its name:\n{dom}");
    assert!(number("qps").is_some_and(|qps| qps > 0.0), "queries per second under load: {:?}\n{dom}", text_of(&dom, "qps"));
    assert!(number("total").is_some_and(|total| total > 100.0), "total queries: {:?}", text_of(&dom, "total"));
    assert!(number("limited").is_some_and(|n| n > 0.0), "rate-limited: {:?}", text_of(&dom, "limited"));
    assert!(dom.contains("<td>rrl</td>"), "the RRL alert in the alerts table:\n{dom}");
    assert!(dom.contains("<td>www.example.test.</td>") && dom.contains("<td>127.0.0.1</td>"), "top name and client:\n{dom}");
    assert!(dom.contains("class=\"status\">live"), "the page reached the APIs:\n{dom}");
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE") || l.contains("Uncaught")).collect();
    assert!(errors.is_empty(), "console messages:\n{}", errors.join("\n"));
    assert!(screenshot.exists(), "no screenshot at {}", screenshot.display());
    println!("dashboard screenshot: {}", screenshot.display());
}
