//! Response rate limiting under real floods (SECURITY-REFERENCE §3.1, §6.6 rows 62 and 63).
//!
//! The limiter has BIND 9's semantics: an account starts with one second of credit (`rate`),
//! earns `rate` per second, and may fall `window × rate` into debt. A flood faster than the rate
//! therefore gets its first second's worth of answers — between `rate` and `2 × rate` depending
//! on where the flood starts within the server's clock second — and then nothing more while it
//! lasts (each second's credit only pays off debt). Every limited response alternates slip and
//! drop with `slip = 2`: half of them come back TC=1 (BADCOOKIE when the query carried a client
//! cookie), half are not answered.
//!
//! 127.0.0.1 and 127.0.0.2 are in the same /24, the default IPv4 aggregation; the tests that need
//! them to be separate clients set `ipv4-prefix-length = 32`, and one test shows the shared /24.
//!
//! RRL is on by default but spares the clients of the recursion ACL (localhost by default, so
//! every loopback source): the tests of the limiter's behaviour set `recursion = ["none"]`, and
//! the first test shows the defaults themselves.

use std::sync::mpsc;
use std::time::Duration;

use portcullis_wire::{Rcode, Rtype};

use crate::peers::require;
use crate::support::{self, flood, hex, tcp_from, trickle, udp_exchange, udp_from, Flood, Q, SRC1, SRC2, ZONE};

/// `responses-per-second` of the flood tests.
const RATE: usize = 50;

/// RRL with a rate of 50, slip 2, a 5 s window, no all-per-second account, /32 clients.
fn rrl_config(extra: &str) -> String {
    format!(
        "[acl]\nrecursion = [\"none\"]\n\n[rrl]\nresponses-per-second = {RATE}\nnxdomains-per-second = 10\nslip = 2\nwindow = 5\nall-per-second = 0\n\
         ipv4-prefix-length = 32\n{extra}\n"
    )
}

fn flood_name() -> String {
    format!("flood.{ZONE}")
}

/// A flood's wire: `flood.defence.test. A` with id `i` (EDNS 1232, no cookie).
fn flood_query(i: u16) -> Vec<u8> {
    Q::new(&format!("flood.{ZONE}"), Rtype::A).id(i).wire()
}

/// Asserts BIND's accounting for a flood of one name faster than `rate` with slip 2.
fn assert_limited(result: &Flood, rate: usize, what: &str) {
    let answered = result.answered();
    assert!(result.sent > 4 * rate, "{what}: the flood must exceed the rate: {result:?}");
    assert!((rate..2 * rate).contains(&answered), "{what}: answers must be within [rate, 2 × rate) = [{rate}, {}): {result:?}", 2 * rate);
    let limited = result.sent - answered;
    let slipped = result.truncated + result.badcookie;
    // Alternate slip and drop: ceil(limited / 2) slips; allow 2 % for datagrams lost on loopback.
    let tolerance = 2 + limited / 50;
    assert!(slipped.abs_diff(limited.div_ceil(2)) <= tolerance, "{what}: about half of the {limited} limited responses must slip: {result:?}");
    assert!(result.lost.abs_diff(limited / 2) <= tolerance, "{what}: about half of the {limited} limited responses must be dropped: {result:?}");
    assert_eq!(result.odd_slips, 0, "{what}: a slip carries only the question: {result:?}");
    assert!(result.last_full_at < 2.5, "{what}: no full answer after the first two seconds of the flood: {result:?}");
}

/// RRL is on by default (NSD's 200 a second, slip 2) for clients outside the recursion ACL:
/// with `recursion = ["127.0.0.1/32"]`, a flood of one name from 127.0.0.2 is limited, one from
/// 127.0.0.1 (same /24, already in debt) is answered in full; `enabled = false` turns it off.
#[test]
fn default_rrl_limits_clients_outside_the_recursion_acl() {
    let acl = "[acl]\nrecursion = [\"127.0.0.1/32\"]\n";
    let server = support::start(acl);
    let outside = flood(SRC2, server.addr, 1000, 1000, flood_query);
    eprintln!("default RRL, 127.0.0.2 outside the recursion ACL: {outside:?}");
    assert_limited(&outside, 200, "127.0.0.2 with the default [rrl]");
    let inside = flood(SRC1, server.addr, 1000, 1000, flood_query);
    assert_eq!((inside.answered(), inside.truncated, inside.lost), (inside.sent, 0, 0), "127.0.0.1 is in the recursion ACL: {inside:?}");
    let off = support::start(&format!("{acl}\n[rrl]\nenabled = false\n"));
    let unlimited = flood(SRC2, off.addr, 1000, 1000, flood_query);
    assert_eq!((unlimited.answered(), unlimited.truncated, unlimited.lost), (unlimited.sent, 0, 0), "enabled = false: {unlimited:?}");
}

/// Row 62: a reflection flood for one name is limited; a second client (its own /32 account)
/// gets every answer meanwhile; after the flood the flooded account is still in debt over UDP
/// but TCP from the same source is exempt.
#[test]
fn flood_is_limited_slipped_and_dropped_while_another_client_is_answered() {
    let server = support::start(&rrl_config(""));
    let (stop_tx, stop_rx) = mpsc::channel();
    let addr = server.addr;
    let name = flood_name();
    let bystander = std::thread::spawn(move || trickle(SRC2, addr, &name, Duration::from_millis(50), 200, stop_rx));
    let result = flood(SRC1, server.addr, 1200, 400, flood_query);
    let _ = stop_tx.send(());
    let (sent, answered, other) = bystander.join().unwrap_or_else(|_| panic!("bystander panicked"));
    eprintln!("flood from 127.0.0.1: {result:?}; 127.0.0.2: {answered}/{sent} answered");
    assert_limited(&result, RATE, "flood from 127.0.0.1 at 400 q/s");
    assert_eq!(result.full.keys().copied().collect::<Vec<_>>(), [Rcode::NOERROR.0], "{result:?}");
    assert_eq!(result.badcookie, 0, "no cookie was sent, so slips are TC=1: {result:?}");
    assert!(sent >= 10 && other.is_empty() && answered == sent, "127.0.0.2 (own /32 account, 20 q/s) must get every answer: {answered}/{sent}, {other:?}");

    // Still in debt (window 5 s): UDP is limited, TCP from the same source is exempt.
    let udp: Vec<Option<support::R>> = (0..4)
        .map(|_| udp_exchange(SRC1, server.addr, &Q::new(&flood_name(), Rtype::A), Duration::from_millis(300)).ok().flatten().map(|b| support::R::parse(&b)))
        .collect();
    assert!(
        udp.iter().all(|r| match r {
            Some(r) => r.tc && r.answers == 0,
            None => true,
        }),
        "UDP right after the flood must be limited: {udp:?}"
    );
    assert!(udp.iter().any(Option::is_some) && udp.iter().any(Option::is_none), "slip 2: one TC, one dropped: {udp:?}");
    let tcp = tcp_from(SRC1, server.addr, &Q::new(&flood_name(), Rtype::A));
    assert_eq!((tcp.rcode, tcp.tc, tcp.answers), (Rcode::NOERROR, false, 1), "TCP is exempt from RRL");
}

/// The same flood with a client cookie but no server cookie: slips are BADCOOKIE with a fresh
/// server cookie instead of TC (SECURITY-REFERENCE §3.1, RFC 7873 §5.2.3).
#[test]
fn flood_with_client_cookie_slips_as_badcookie() {
    let server = support::start(&rrl_config(""));
    let result = flood(SRC1, server.addr, 600, 400, |i| Q::new(&format!("flood.{ZONE}"), Rtype::A).id(i).cookie(&[7, 7, 7, 7, 7, 7, 7, 7]).wire());
    eprintln!("flood with client cookie: {result:?}");
    assert_limited(&result, RATE, "flood with a client cookie");
    assert_eq!(result.truncated, 0, "slips are BADCOOKIE when a client cookie was sent: {result:?}");
    assert_eq!(result.with_cookie, result.answered() + result.badcookie, "every reply carries a server cookie: {result:?}");
}

/// A client that presents a valid server cookie (learned first, then reused) has proven its
/// address and is exempt: a flood with it is answered in full.
#[test]
fn flood_with_valid_server_cookie_is_exempt() {
    let server = support::start(&rrl_config(""));
    let client = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
    let first = udp_from(SRC1, server.addr, &Q::new(&format!("www.{ZONE}"), Rtype::A).cookie(&client));
    let full = first.cookie.clone().unwrap_or_else(|| panic!("no cookie in {first:?}"));
    assert_eq!((full.len(), &full[..8]), (24, &client[..]), "client cookie echoed plus a 16-byte server cookie");
    let result = flood(SRC1, server.addr, 600, 400, move |i| Q::new(&format!("flood.{ZONE}"), Rtype::A).id(i).cookie(&full).wire());
    eprintln!("flood with a valid cookie {}: {result:?}", hex(first.cookie.as_deref().unwrap_or_default()));
    assert_eq!((result.answered(), result.truncated, result.badcookie, result.lost), (result.sent, 0, 0, 0), "{result:?}");
}

/// `exempt-clients`: a flood from 127.0.0.2 is answered in full while one from 127.0.0.1 is
/// limited.
#[test]
fn exempt_clients_are_never_limited() {
    let server = support::start(&rrl_config("exempt-clients = [\"127.0.0.2\"]"));
    let exempt = flood(SRC2, server.addr, 600, 400, flood_query);
    assert_eq!((exempt.answered(), exempt.truncated, exempt.lost), (exempt.sent, 0, 0), "exempt 127.0.0.2: {exempt:?}");
    let limited = flood(SRC1, server.addr, 600, 400, flood_query);
    assert_limited(&limited, RATE, "127.0.0.1, not exempt");
}

/// `log-only = true`: limited responses are only counted, every query is answered.
#[test]
fn log_only_drops_nothing() {
    let server = support::start(&rrl_config("log-only = true"));
    let result = flood(SRC1, server.addr, 800, 400, flood_query);
    assert_eq!((result.answered(), result.truncated, result.lost), (result.sent, 0, 0), "log-only: {result:?}");
}

/// With the default /24 aggregation, 127.0.0.1 and 127.0.0.2 are one client: after a flood from
/// 127.0.0.1, 127.0.0.2 is limited too.
#[test]
fn default_ipv4_prefix_aggregates_the_slash_24() {
    let server = support::start("[acl]\nrecursion = [\"none\"]\n\n[rrl]\nresponses-per-second = 5\nslip = 2\nwindow = 5\nall-per-second = 0\n");
    let result = flood(SRC1, server.addr, 100, 400, flood_query);
    assert_limited(&result, 5, "burst from 127.0.0.1");
    let replies: Vec<Option<support::R>> = (0..4)
        .map(|_| udp_exchange(SRC2, server.addr, &Q::new(&flood_name(), Rtype::A), Duration::from_millis(300)).ok().flatten().map(|b| support::R::parse(&b)))
        .collect();
    assert!(
        replies.iter().all(|r| match r {
            Some(r) => r.tc,
            None => true,
        }),
        "127.0.0.2 shares 127.0.0.0/24's account: {replies:?}"
    );
    assert!(replies.iter().any(Option::is_some), "slip 2: at least one TC among consecutive limited replies: {replies:?}");
}

/// Row 63: a random-subdomain flood against one zone. NXDOMAIN responses are accounted per zone,
/// so many different non-existent names share one account (10 per second); positive answers and
/// NXDOMAIN of another zone have accounts of their own.
#[test]
fn random_subdomain_nxdomain_flood_shares_the_zone_account() {
    let server = support::start(&rrl_config(""));
    let result = flood(SRC1, server.addr, 400, 400, |i| Q::new(&format!("r{i}x{:x}.{ZONE}", u32::from(i).wrapping_mul(2_654_435_761)), Rtype::A).id(i).wire());
    eprintln!("random-subdomain flood: {result:?}");
    assert_eq!(result.full.keys().copied().collect::<Vec<_>>(), [Rcode::NXDOMAIN.0], "{result:?}");
    assert_limited(&result, 10, "400 different non-existent names");
    let www = udp_from(SRC1, server.addr, &Q::new(&format!("www.{ZONE}"), Rtype::A));
    assert_eq!((www.rcode, www.tc, www.answers), (Rcode::NOERROR, false, 1), "a positive answer has its own account");
    let other = udp_from(SRC1, server.addr, &Q::new("nothere.private.test.", Rtype::A));
    assert_eq!((other.rcode, other.tc), (Rcode::NXDOMAIN, false), "another zone's NXDOMAIN has its own account");
    let same = (0..4)
        .filter_map(|i| udp_exchange(SRC1, server.addr, &Q::new(&format!("fresh{i}.{ZONE}"), Rtype::A), Duration::from_millis(300)).ok().flatten())
        .map(|b| support::R::parse(&b))
        .collect::<Vec<_>>();
    assert!(same.iter().all(|r| r.tc), "a new random name of the flooded zone is still limited: {same:?}");
}

/// The flood with dnsperf (a real load generator) from 127.0.0.1: about half of its queries come
/// back (TC slips plus the first second's answers), the other half are lost (dropped).
#[test]
fn dnsperf_flood_is_half_slipped_half_dropped() {
    let Some(found) = require("dnsperf_flood_is_half_slipped_half_dropped", &["dnsperf"]) else { return };
    let server = support::start(&rrl_config(""));
    let input = server.dir.join("dnsperf.txt");
    std::fs::write(&input, format!("flood.{ZONE} A\n")).unwrap_or_else(|e| panic!("{e}"));
    let args: Vec<String> = [
        "-s",
        "127.0.0.1",
        "-p",
        &server.addr.port().to_string(),
        "-d",
        &input.display().to_string(),
        "-l",
        "3",
        "-Q",
        "1000",
        "-c",
        "1",
        "-t",
        "1",
        "-n",
        "5000",
        "-q",
        "5000",
    ]
    .map(str::to_owned)
    .to_vec();
    let output = crate::peers::run_tool(&found[0], &args, support::TOOL_TIMEOUT);
    let number = |label: &str| -> usize {
        let line = output.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_else(|| panic!("no '{label}' in dnsperf output:\n{output}"));
        line[line.find(':').map_or(0, |i| i + 1)..].split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("bad line {line}"))
    };
    let (sent, completed, lost) = (number("Queries sent:"), number("Queries completed:"), number("Queries lost:"));
    eprintln!("dnsperf: sent {sent}, completed {completed}, lost {lost}\n{output}");
    assert!(sent >= 1000, "dnsperf must send a real flood:\n{output}");
    assert_eq!(completed + lost, sent, "{output}");
    // completed = answers (< 2 × 50) + ceil(limited / 2) slips; lost = floor(limited / 2).
    let limited_half = (sent - 2 * RATE) / 2;
    assert!(completed >= limited_half - sent / 20 && completed <= limited_half + 2 * RATE + sent / 20, "completed {completed} of {sent}:\n{output}");
    assert!(lost + sent / 20 >= limited_half - RATE && lost <= limited_half + sent / 20, "lost {lost} of {sent}:\n{output}");
}

/// Debt is bounded by `window`: after a flood stops, the account earns its rate back and the
/// client is answered again within about `window` seconds (here 2); a client staying under the
/// rate is then never limited.
#[test]
fn limited_client_recovers_within_the_window() {
    let server = support::start(
        "[acl]\nrecursion = [\"none\"]\n\n[rrl]\nresponses-per-second = 50\nslip = 2\nwindow = 2\nall-per-second = 0\nipv4-prefix-length = 32\n",
    );
    let result = flood(SRC1, server.addr, 400, 400, flood_query);
    assert_limited(&result, RATE, "one-second flood");
    // Debt is at most window × rate = 100: +50 per second, one debit per probe, so at most three
    // seconds (probes every 250 ms), bounded by a 6 s deadline.
    let stopped = std::time::Instant::now();
    let mut recovered = None;
    for _ in 0..24 {
        let probe = Q::new(&flood_name(), Rtype::A);
        if let Ok(Some(bytes)) = udp_exchange(SRC1, server.addr, &probe, Duration::from_millis(250)) {
            let reply = support::R::parse(&bytes);
            if !reply.tc && reply.answers == 1 {
                recovered = Some(stopped.elapsed());
                break;
            }
            // A TC reply comes back at once: pace the probes (not an awaitable event).
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    let after = recovered.unwrap_or_else(|| panic!("not answered again within 6 s of the flood"));
    assert!(
        after >= Duration::from_millis(500) && after <= Duration::from_millis(4000),
        "recovered after {after:?}; expected within the 2 s window (+1 s of whole-second accounting)"
    );
    let steady = flood(SRC1, server.addr, 25, 25, flood_query);
    assert_eq!((steady.answered(), steady.truncated, steady.lost), (25, 0, 0), "25 q/s under a rate of 50: {steady:?}");
}

/// Error responses (here REFUSED for a name outside every zone) have their own account
/// (`errors-per-second`) and are never slipped: a limited error is dropped (as BIND's
/// `ns_client_error` does, its system test expecting "2 SERVFAIL, 8 dropped").
#[test]
fn error_flood_is_limited_and_never_slipped() {
    let server = support::start(&rrl_config("errors-per-second = 5"));
    let result = flood(SRC1, server.addr, 200, 400, |i| Q::new("www.outside.invalid.", Rtype::A).id(i).wire());
    eprintln!("REFUSED flood: {result:?}");
    assert_eq!(result.full.keys().copied().collect::<Vec<_>>(), [Rcode::REFUSED.0], "{result:?}");
    let answered = result.answered();
    assert!((5..10).contains(&answered), "REFUSED answers within [5, 10): {result:?}");
    assert_eq!((result.truncated, result.badcookie), (0, 0), "errors are never slipped: {result:?}");
    assert_eq!(result.lost, result.sent - answered, "{result:?}");
    let www = udp_from(SRC1, server.addr, &Q::new(&format!("www.{ZONE}"), Rtype::A));
    assert_eq!((www.rcode, www.answers), (Rcode::NOERROR, 1), "answers have their own account");
}

/// `all-per-second`: one account per client prefix for every response; many different names
/// (each within its own rate) are limited together, and such limits always drop, never slip
/// (BIND's system test: 60 unique names at all-per-second 50 → 50 answered, 10 dropped, no TC).
#[test]
fn all_per_second_drops_without_slipping() {
    // The readiness probe comes from 127.0.0.2, so 127.0.0.1's all-per-second account is fresh.
    let config = "[acl]\nrecursion = [\"none\"]\n\n[rrl]\nresponses-per-second = 0\nnxdomains-per-second = 0\nall-per-second = 50\nslip = 2\nwindow = 5\nipv4-prefix-length = 32\n";
    let server = support::start_with(support::Setup { probe_from: SRC2, ..support::Setup::new(config) });
    let names = ["www", "mail", "ns1", "ns2", "flood", "other"];
    let result = flood(SRC1, server.addr, 400, 400, move |i| Q::new(&format!("{}.{ZONE}", names[usize::from(i) % names.len()]), Rtype::A).id(i).wire());
    eprintln!("all-per-second flood: {result:?}");
    let answered = result.answered();
    assert!((50..100).contains(&answered), "answers within [50, 100): {result:?}");
    assert_eq!((result.truncated, result.badcookie), (0, 0), "all-per-second never slips: {result:?}");
    let other = udp_from(SRC2, server.addr, &Q::new(&format!("www.{ZONE}"), Rtype::A));
    assert_eq!((other.rcode, other.answers), (Rcode::NOERROR, 1), "127.0.0.2 (own /32) unaffected");
}

/// NODATA responses are accounted by qname whatever the qtype (BIND: "NODATA shares one account
/// across qtypes"): a flood cycling through empty types of one name is limited as one.
#[test]
fn nodata_flood_shares_one_account_across_qtypes() {
    let server = support::start(&rrl_config("nodata-per-second = 10"));
    let types = [Rtype::AAAA, Rtype::MX, Rtype::TXT, Rtype::SRV, Rtype::CAA];
    let result = flood(SRC1, server.addr, 400, 400, move |i| Q::new(&format!("www.{ZONE}"), types[usize::from(i) % types.len()]).id(i).wire());
    eprintln!("NODATA flood: {result:?}");
    assert_eq!(result.full.keys().copied().collect::<Vec<_>>(), [Rcode::NOERROR.0], "{result:?}");
    assert_limited(&result, 10, "NODATA for five qtypes of one name");
}

/// Answers synthesised from a wildcard share the account of `*.<zone>` (SECURITY-REFERENCE §3.1;
/// BIND's system test: 30 different names under one wildcard → 2 answered, 10 TC, 18 dropped),
/// so a random-subdomain flood against a wildcard is limited like one name.
#[test]
fn wildcard_answers_share_one_account() {
    let server = support::start(&rrl_config(""));
    let result = flood(SRC1, server.addr, 400, 400, |i| Q::new(&format!("r{i}.wild.{ZONE}"), Rtype::A).id(i).wire());
    eprintln!("wildcard flood: {result:?}");
    assert_eq!(result.full.keys().copied().collect::<Vec<_>>(), [Rcode::NOERROR.0], "{result:?}");
    assert_limited(&result, RATE, "400 different names under one wildcard");
}

/// `slip = 1`: every limited response comes back TC=1; `slip = 0`: every one is dropped.
#[test]
fn slip_one_truncates_all_and_slip_zero_drops_all() {
    let always = support::start("[acl]\nrecursion = [\"none\"]\n\n[rrl]\nresponses-per-second = 50\nslip = 1\nwindow = 5\nall-per-second = 0\n");
    let result = flood(SRC1, always.addr, 400, 400, flood_query);
    let answered = result.answered();
    assert!((RATE..2 * RATE).contains(&answered) && result.truncated + answered == result.sent && result.lost == 0, "slip 1: {result:?}");
    let never = support::start("[acl]\nrecursion = [\"none\"]\n\n[rrl]\nresponses-per-second = 50\nslip = 0\nwindow = 5\nall-per-second = 0\n");
    let result = flood(SRC1, never.addr, 400, 400, flood_query);
    let answered = result.answered();
    assert!((RATE..2 * RATE).contains(&answered) && result.truncated == 0 && result.lost + answered == result.sent, "slip 0: {result:?}");
}
