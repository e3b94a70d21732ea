//! `portcullis ctl blocks`, `ctl unblock` and `ctl clear-blocks` against a server whose
//! tunnelling detector blocks: a client that sends a stream of long random hex labels under one
//! domain is held; `blocks` lists the hold (client prefix, domain, until) and RRL's limits, and
//! each of `unblock` and `clear-blocks` lifts it, after which the client is answered again.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use portcullis_wire::Rtype;

use crate::ctl::{ctl, ctl_ok};
use crate::ops::OpsServer;

const DETECTION: &str = "\n[resolver]\nrecursion = true\nallow-recursion = [\"127.0.0.0/8\"]\n\n[detection]\ntunnelling = \"block\"\ntunnelling-hold = 600\n";

/// True when the reply is the detector's refusal (EDE 15 naming it).
fn blocked(reply: &[u8]) -> bool {
    let text = b"tunnelling detector";
    reply.windows(text.len()).any(|w| w == text)
}

/// One TXT query (RD=0: nothing is resolved) for `name`; the reply.
fn ask(socket: &UdpSocket, server: SocketAddr, name: &str) -> Vec<u8> {
    let query = crate::client::Query::new(name, Rtype::TXT).to_wire(0x7a7a).unwrap_or_else(|e| panic!("{e}"));
    socket.send_to(&query, server).unwrap_or_else(|e| panic!("send: {e}"));
    let mut reply = [0u8; 4096];
    let len = socket.recv(&mut reply).unwrap_or_else(|e| panic!("no reply to {name}: {e}"));
    reply[..len].to_vec()
}

/// Sends hex-label names under tunnel.example. until one is refused by the detector (at most
/// 600 queries).
fn tunnel_until_held(socket: &UdpSocket, server: SocketAddr, state: &mut u64) {
    for _ in 0..600 {
        let label: String = (0..60)
            .map(|_| {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                b"0123456789abcdef"[(*state % 16) as usize] as char
            })
            .collect();
        if blocked(&ask(socket, server, &format!("{label}.tunnel.example."))) {
            return;
        }
    }
    panic!("not held after 600 tunnelling queries");
}

/// `ctl blocks --json` until its tunnelling list has `count` entries (alerts are drained once a
/// second), at most 10 s.
fn blocks_with(config: &std::path::Path, count: usize) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = ctl_ok(config, &["blocks", "--json"]);
        let blocks: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("blocks --json is not JSON alone ({e}): {out}"));
        if blocks["tunnelling"].as_array().map_or(0, Vec::len) == count || Instant::now() >= deadline {
            return blocks;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn blocks_lists_a_tunnelling_hold_and_unblock_and_clear_blocks_lift_it() {
    let ops = OpsServer::start(DETECTION);
    let config = ops.config.as_path();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap_or_default();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;

    tunnel_until_held(&socket, ops.server.addr, &mut state);
    let blocks = blocks_with(config, 1);
    let hold = &blocks["tunnelling"][0];
    assert_eq!((hold["client"].as_str(), hold["domain"].as_str()), (Some("127.0.0.1/32"), Some("tunnel.example.")), "{blocks}");
    assert!(hold["seconds_left"].as_u64().is_some_and(|left| left > 500 && left <= 600), "{blocks}");
    assert!(hold["until"].as_str().is_some_and(|t| t.ends_with('Z')), "{blocks}");
    assert_eq!(blocks["held"], 1, "{blocks}");
    assert!(blocks["rrl"]["limited"].is_object(), "RRL's part: {blocks}");
    let text = ctl_ok(config, &["blocks"]);
    assert!(text.lines().any(|l| l.starts_with("tunnelling 127.0.0.1/32 tunnel.example. until ")), "{text}");
    assert!(text.contains("tunnelling held accounts 1"), "{text}");

    let lifted = ctl_ok(config, &["unblock", "127.0.0.1", "tunnel.example"]);
    assert!(lifted.contains("hold lifted: 127.0.0.1/32 on tunnel.example."), "{lifted}");
    assert!(!blocked(&ask(&socket, ops.server.addr, "www.tunnel.example.")), "answered again after unblock");
    assert_eq!(blocks_with(config, 0)["held"], 0);
    let (code, _, stderr) = ctl(&["--config", &config.to_string_lossy(), "unblock", "127.0.0.1/32", "tunnel.example."]);
    assert_eq!(code, 1, "nothing left to lift: {stderr}");
    assert!(stderr.contains("no tunnelling hold"), "{stderr}");

    tunnel_until_held(&socket, ops.server.addr, &mut state);
    assert_eq!(blocks_with(config, 1)["held"], 1);
    let cleared = ctl_ok(config, &["clear-blocks", "--detector", "tunnelling"]);
    assert_eq!(cleared.trim(), "1 tunnelling holds lifted");
    assert!(!blocked(&ask(&socket, ops.server.addr, "www.tunnel.example.")), "answered again after clear-blocks");

    let all = ctl_ok(config, &["clear-blocks"]);
    assert!(all.contains("0 tunnelling holds lifted") && all.contains("RRL accounts cleared"), "{all}");
    let (code, _, stderr) = ctl(&["--config", &config.to_string_lossy(), "clear-blocks", "--detector", "acl"]);
    assert_ne!(code, 0, "an unknown detector is refused: {stderr}");
}
