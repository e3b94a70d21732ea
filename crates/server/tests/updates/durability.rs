//! Nothing lost (issue 18): TSIG-signed updates sent one after another over TCP while the
//! server is killed with SIGKILL at a random moment (seeded, so a failure can be replayed),
//! at least 20 times. An update counts as acknowledged when its NOERROR answer arrived. After
//! each restart every acknowledged update must be served, the serial must have gone up by at
//! least as many, and the zone file (rewritten atomically, the journal replayed over it) must
//! pass `portcullis check-zone`.

use crate::peers::{free_port, temp_dir, RemoveOnDrop};
use crate::portcullis::BINARY;
use crate::support::{lookup, send_tcp, serial, signed_add, start_primary_in, SERIAL};
use portcullis_wire::Rtype;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const KILLS: usize = 22;
/// Updates sent at most between two kills.
const PER_ROUND: usize = 60;
const SEED: u64 = 0x5eed_0018;

/// xorshift64: a seeded source of kill moments.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn no_acknowledged_update_is_lost_across_sigkills() {
    let state = temp_dir("nothing-lost");
    let _remove = RemoveOnDrop(state.clone());
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut random = Random(SEED);
    let mut acknowledged: Vec<(String, u8)> = Vec::new();
    let started = Instant::now();
    let mut sent = 0usize;
    for round in 0..KILLS {
        let mut server = start_primary_in(&state, addr, "");
        check_all(addr, &acknowledged, round);
        let pid = server.pid();
        // The kill comes 0-30 ms into the round's updates, from another thread.
        let delay = Duration::from_micros(random.below(30_000));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        });
        for _ in 0..PER_ROUND {
            sent += 1;
            let (owner, last) = (format!("n{sent}.dyn.test."), (sent % 250) as u8 + 1);
            match send_tcp(addr, &signed_add(sent as u16, &owner, last)) {
                Some(0) => acknowledged.push((owner, last)),
                Some(rcode) => panic!("update {sent} answered rcode {rcode}\n{}", server.stderr()),
                None => break,
            }
        }
        let _ = killer.join();
        assert!(server.wait_exit(Duration::from_secs(5)).is_some(), "round {round}: the server did not die");
        check_zone_file(&state, round);
    }
    let server = start_primary_in(&state, addr, "");
    check_all(addr, &acknowledged, KILLS);
    assert!(acknowledged.len() >= KILLS, "too few updates acknowledged to prove anything: {}", acknowledged.len());
    assert!(serial(addr) >= SERIAL + acknowledged.len() as u32, "the serial went up with every acknowledged update");
    drop(server);
    println!("{} kills, {sent} updates sent, {} acknowledged, {:?}", KILLS, acknowledged.len(), started.elapsed());
}

/// Every acknowledged update is served.
fn check_all(addr: SocketAddr, acknowledged: &[(String, u8)], round: usize) {
    for (owner, last) in acknowledged {
        let (rcode, rdatas) = lookup(addr, owner, Rtype::A);
        assert_eq!((rcode, rdatas), (0, vec![vec![192, 0, 2, *last]]), "after kill {round}: acknowledged {owner} lost");
    }
}

/// `portcullis check-zone` passes on the zone file as the killed server left it.
fn check_zone_file(state: &std::path::Path, round: usize) {
    let output = std::process::Command::new(BINARY).args(["check-zone", "dyn.test."]).arg(state.join("dyn.test.zone")).output();
    let output = output.unwrap_or_else(|e| panic!("check-zone: {e}"));
    assert!(
        output.status.success(),
        "after kill {round}: check-zone failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
