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
