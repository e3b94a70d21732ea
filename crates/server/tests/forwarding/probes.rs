//! Issue 12 item 5: health probes notice a restarted upstream even when it REFUSES the probe
//! question. The group forwards everything (`.`, so the probe asks `. SOA`) to three
//! authoritative servers (NSD and Knot serving only `fwd.test.`, so `. SOA` gets REFUSED) behind
//! counting proxies; one is killed, marked down, and restarted behind the same address. A probe
//! reply that matches the query, REFUSED or not, proves it alive: it must carry client queries
//! again within five seconds of the restart.

use super::{ask, run, Portcullis, Proxy, Upstreams, CLIENT_TIMEOUT};
use std::time::{Duration, Instant};

/// Longest time from the restart to the first client query the restarted upstream receives.
const BACK_WITHIN: Duration = Duration::from_secs(5);

#[test]
fn a_restarted_upstream_that_refuses_the_probe_question_receives_queries_again() {
    let Some(upstreams) = Upstreams::new("a_restarted_upstream_that_refuses_the_probe_question_receives_queries_again") else { return };
    let mut backends: Vec<_> = (0..3).map(|index| Some(upstreams.start(index))).collect();
    let proxies: Vec<Proxy> = backends.iter().map(|backend| Proxy::start(backend.as_ref().unwrap().addr)).collect();
    let primaries: Vec<String> = proxies.iter().map(|proxy| format!("\"{}\"", proxy.addr)).collect();
    let server = Portcullis::start_config(&format!(
        "[resolver]\nallow-recursion = [\"127.0.0.1/32\"]\n\n[[forward]]\nzone = \".\"\npolicy = \"round-robin\"\nprimaries = [{}]\n\
         fall = 3\nrise = 2\nprobe-interval-ms = 100\ntimeout-ms = 500\ndnssec-validation = false\n",
        primaries.join(", ")
    ));
    let tally = run(server.addr, "before", 30);
    assert!(tally.failed.is_empty() && proxies[0].queries() > 0, "{tally:?}");

    // Killed: marked down after `fall` timeouts, its clients' queries retried on the others.
    backends[0] = None;
    let detection = run(server.addr, "detect", 30);
    assert!(detection.failed.is_empty(), "{:?}", detection.failed);
    server.wait_log(&["forward upstream down", &proxies[0].addr.to_string()], 1, Duration::from_secs(10));

    // Restarted behind the same address: probes get REFUSED for `. SOA`, which proves it alive.
    let restarted = upstreams.start(0);
    *proxies[0].target.lock().unwrap() = restarted.addr;
    backends[0] = Some(restarted);
    let (restart, before) = (Instant::now(), proxies[0].queries());
    let mut sent = 0;
    while proxies[0].queries() == before {
        assert!(restart.elapsed() < BACK_WITHIN, "no client query reached the restarted upstream within {BACK_WITHIN:?} ({sent} sent):\n{}", server.log());
        ask(server.addr, &format!("q{sent}.after.fwd.test."), CLIENT_TIMEOUT).unwrap();
        sent += 1;
    }
    println!("restarted upstream used again after {:?} ({sent} client queries)", restart.elapsed());
    assert!(server.log().contains("forward upstream up"), "{}", server.log());
}
