//! Unit tests of the detector: one account's detection, block and hold; allow-lists.

use super::{TunnelDetector, TunnelMode, TunnelSettings, TunnelVerdict};
use crate::base::{Instant, Prefix};
use portcullis_wire::NameBuf;
use std::net::IpAddr;

fn wire(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).expect("name")
}

fn hex_label(seed: u64) -> String {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..60)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b"0123456789abcdef"[(state % 16) as usize] as char
        })
        .collect()
}

fn run(detector: &TunnelDetector, client: &str, domain: &str, seconds: u64) -> Vec<TunnelVerdict> {
    let client: IpAddr = client.parse().expect("address");
    (0..seconds * 10)
        .map(|i| {
            let name = wire(&format!("{}.{domain}", hex_label(i)));
            detector.observe(Instant::from_millis(1_000_000_000 + i * 100), client, name.as_wire(), 16)
        })
        .collect()
}

#[test]
fn a_hex_txt_stream_is_blocked_for_its_account_only() {
    let detector = TunnelDetector::new(TunnelSettings::new(TunnelMode::Block), [3; 16]);
    let verdicts = run(&detector, "192.0.2.1", "tunnel.example.", 20);
    let first = verdicts.iter().position(|v| *v == TunnelVerdict::Block).expect("blocked");
    assert!(first < 50, "blocked after {first} queries");
    let events = detector.drain_events();
    assert_eq!(events[0].domain, "tunnel.example.");
    assert_eq!(events[0].client.to_string(), "192.0.2.1/32");
    // Another client, and the same client towards another domain, pass.
    let other = wire("www.tunnel.example.");
    let now = Instant::from_secs(1_000_010);
    assert_eq!(detector.observe(now, "192.0.2.2".parse().expect("address"), other.as_wire(), 1), TunnelVerdict::Pass);
    let elsewhere = wire("www.example.org.");
    assert_eq!(detector.observe(now, "192.0.2.1".parse().expect("address"), elsewhere.as_wire(), 1), TunnelVerdict::Pass);
    // The same client's repeat of a cached name is held too, until the hold ends.
    assert_eq!(detector.observe(now, "192.0.2.1".parse().expect("address"), other.as_wire(), 1), TunnelVerdict::Block);
    let later = Instant::from_secs(1_000_020 + 301);
    assert_eq!(detector.observe(later, "192.0.2.1".parse().expect("address"), other.as_wire(), 1), TunnelVerdict::Pass);
}

#[test]
fn log_mode_passes_and_allow_lists_skip() {
    let detector = TunnelDetector::new(TunnelSettings::new(TunnelMode::Log), [3; 16]);
    assert!(run(&detector, "2001:db8::1", "tunnel.example.", 20).iter().all(|v| *v == TunnelVerdict::Pass));
    let events = detector.drain_events();
    assert!(!events.is_empty() && !events[0].blocked);
    assert_eq!(events[0].client.to_string(), "2001:db8::/64");
    let mut settings = TunnelSettings::new(TunnelMode::Block);
    settings.allow_domains.push(wire("example.").as_wire().to_vec());
    settings.allow_clients.push(Prefix::covering("198.51.100.0".parse().expect("address"), 24));
    let detector = TunnelDetector::new(settings, [3; 16]);
    assert!(run(&detector, "192.0.2.1", "tunnel.example.", 20).iter().all(|v| *v == TunnelVerdict::Pass));
    assert!(run(&detector, "198.51.100.7", "tunnel.test.", 20).iter().all(|v| *v == TunnelVerdict::Pass));
    assert!(run(&detector, "192.0.2.1", "tunnel.test.", 20).contains(&TunnelVerdict::Block));
    assert!(detector.counters.allowed.load(std::sync::atomic::Ordering::Relaxed) > 0);
}

/// Names under top-level domains the Public Suffix List does not hold (`lan.`, `internal.`):
/// the list's default rule makes the top-level domain the suffix, so each registered domain
/// below it is an account like any other.
#[test]
fn a_tunnel_under_a_tld_outside_the_public_suffix_list_is_caught_per_registered_domain() {
    let detector = TunnelDetector::new(TunnelSettings::new(TunnelMode::Block), [5; 16]);
    let verdicts = run(&detector, "192.0.2.1", "t.tunnel.lan.", 20);
    let first = verdicts.iter().position(|v| *v == TunnelVerdict::Block).expect("blocked");
    assert!(first < 50, "blocked after {first} queries");
    let events = detector.drain_events();
    assert_eq!((events[0].domain.as_str(), events[0].client.to_string().as_str()), ("tunnel.lan.", "192.0.2.1/32"));
    let now = Instant::from_secs(1_000_010);
    let client: IpAddr = "192.0.2.1".parse().expect("address");
    // The same client's other names under the tunnel's domain are held; another domain under
    // the same top-level domain, and another client, are not.
    assert_eq!(detector.observe(now, client, wire("www.tunnel.lan.").as_wire(), 1), TunnelVerdict::Block);
    assert_eq!(detector.observe(now, client, wire("www.printer.lan.").as_wire(), 1), TunnelVerdict::Pass);
    assert_eq!(detector.observe(now, "192.0.2.2".parse().expect("address"), wire("www.tunnel.lan.").as_wire(), 1), TunnelVerdict::Pass);
    // Deeper private names: the tunnel's registered domain is `corp.internal.`.
    let detector = TunnelDetector::new(TunnelSettings::new(TunnelMode::Block), [5; 16]);
    assert!(run(&detector, "2001:db8::7", "x.corp.internal.", 20).contains(&TunnelVerdict::Block));
    assert_eq!(detector.drain_events()[0].domain, "corp.internal.");
}

#[test]
fn benign_names_under_a_tld_outside_the_public_suffix_list_pass() {
    let detector = TunnelDetector::new(TunnelSettings::new(TunnelMode::Block), [5; 16]);
    let client: IpAddr = "192.0.2.3".parse().expect("address");
    let words = ["printer", "nas", "router", "laptop", "phone", "tv", "camera", "build", "wiki", "git"];
    // Two minutes of an office network's busiest client: sixty hosts, A and AAAA, SRV for
    // services, ten queries a second.
    for i in 0..1200u64 {
        let host = format!("{}-{}.{}.corp.internal.", words[(i % 10) as usize], i % 60, ["eng", "ops", "hr"][(i % 3) as usize]);
        let qtype = [1, 28, 33][(i % 3) as usize];
        let verdict = detector.observe(Instant::from_millis(1_000_000_000 + i * 100), client, wire(&host).as_wire(), qtype);
        assert_eq!(verdict, TunnelVerdict::Pass, "{host} blocked");
        let lan = format!("{}{}.lan.", words[(i % 10) as usize], i % 50);
        assert_eq!(detector.observe(Instant::from_millis(1_000_000_000 + i * 100), client, wire(&lan).as_wire(), 1), TunnelVerdict::Pass, "{lan}");
    }
    assert!(detector.drain_events().is_empty());
}

/// A tunnel under a private suffix's customer domain (`x.github.io`): every name after the
/// first takes its account from the parent memo; the account is the same as the full split's
/// (the event names the registered domain), and a neighbour under the same suffix is untouched.
#[test]
fn accounts_from_the_parent_memo_are_the_split_s() {
    let detector = TunnelDetector::new(TunnelSettings::new(TunnelMode::Block), [5; 16]);
    let verdicts = run(&detector, "192.0.2.1", "t.x.github.io.", 20);
    let first = verdicts.iter().position(|v| *v == TunnelVerdict::Block).expect("blocked");
    assert!(first < 50, "blocked after {first} queries");
    assert_eq!(detector.drain_events()[0].domain, "x.github.io.");
    let client: IpAddr = "192.0.2.1".parse().expect("address");
    let now = Instant::from_secs(1_000_010);
    assert_eq!(detector.observe(now, client, wire("www.t.x.github.io.").as_wire(), 1), TunnelVerdict::Block);
    assert_eq!(detector.observe(now, client, wire("www.x.github.io.").as_wire(), 1), TunnelVerdict::Block);
    assert_eq!(detector.observe(now, client, wire("www.y.github.io.").as_wire(), 1), TunnelVerdict::Pass);
    assert_eq!(detector.observe(now, client, wire("t.y.github.io.").as_wire(), 1), TunnelVerdict::Pass);
    let prefix: Prefix = "192.0.2.1/32".parse().expect("prefix");
    assert!(detector.hold_until(&prefix, wire("x.github.io.").as_wire(), now).is_some());
}
