//! The Knot-style per-prefix UDP query limiter (`[query-limit]`, SECURITY-REFERENCE §3.3, §7):
//! off by default; when on, a source sending faster than its limits gets `instant-limit`
//! answers at once, then `rate-limit` a second, and the rest TC=1 (slip 1) so that a real client
//! retries over TCP, which is not limited. RRL is turned off here so that only the limiter acts,
//! and `recursion = ["none"]` makes the loopback sources count as outside clients.

use portcullis_wire::{Rcode, Rtype};

use crate::support::{self, flood, tcp_from, Q, SRC1, SRC2, ZONE};

const OUTSIDE: &str = "[acl]\nrecursion = [\"none\"]\n\n[rrl]\nenabled = false\n";

fn www(i: u16) -> Vec<u8> {
    Q::new(&format!("www.{ZONE}"), Rtype::A).id(i).wire()
}

#[test]
fn query_limiter_is_off_by_default_and_when_on_truncates_past_the_limits() {
    let unlimited = support::start(OUTSIDE);
    let result = flood(SRC1, unlimited.addr, 600, 400, www);
    assert_eq!((result.answered(), result.truncated, result.lost), (result.sent, 0, 0), "off by default: {result:?}");

    let server = support::start(&format!("{OUTSIDE}\n[query-limit]\nrate-limit = 50\ninstant-limit = 100\n"));
    let result = flood(SRC1, server.addr, 600, 400, www);
    eprintln!("query limiter, 127.0.0.1 at 400 q/s: {result:?}");
    let answered = result.answered();
    // 100 at once, then 50 a second over the flood's 1.5 s (whole milliseconds: a little slack).
    let most = 100 + (50.0 * (result.elapsed + 0.5)) as usize;
    assert!((100..=most).contains(&answered), "answers within [100, {most}]: {result:?}");
    assert_eq!(result.truncated + answered + result.lost, result.sent, "{result:?}");
    assert!(result.lost <= result.sent / 50, "slip 1: restricted queries are answered TC=1, not dropped: {result:?}");
    assert_eq!(result.odd_slips, 0, "a slip carries only the question: {result:?}");
    // Another address has its own counter; TCP is never limited.
    let other = flood(SRC2, server.addr, 100, 400, www);
    assert_eq!(other.answered(), other.sent, "127.0.0.2 (own /32, the /24 far from 32 x 100): {other:?}");
    let tcp = tcp_from(SRC1, server.addr, &Q::new(&format!("www.{ZONE}"), Rtype::A));
    assert_eq!((tcp.rcode, tcp.tc, tcp.answers), (Rcode::NOERROR, false, 1), "TCP is not limited");
}
