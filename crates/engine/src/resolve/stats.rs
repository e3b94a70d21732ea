//! [`ServerStats`]: what the resolver knows about each upstream address, shared by every
//! resolution and owned by the caller (the network driver).
//!
//! - Smoothed RTT (RFC 6298-style, gain 1/8); unknown servers count as 376 ms (Unbound's
//!   `UNKNOWN_SERVER_NICENESS`), so fast known servers win and slow ones are still explored.
//! - Retransmission timeout from the SRTT, doubled by every consecutive timeout (exponential
//!   back-off), at most 12 s.
//! - Hold-down (RFC 9520 §3.2): after 3 consecutive timeouts a server is skipped for 5 s, doubling
//!   up to 5 minutes, until it answers again.
//! - Unwanted near-miss replies (RFC 5452 §9.1) per server; at the threshold the server is only
//!   asked over TCP (PowerDNS `spoof-nearmiss-max`).
//! - Remembered capabilities: no 0x20 case echo (draft-vixie-dnsext-dns0x20 fallback), no EDNS
//!   (RFC 6891 §7 fallback). These fallbacks, and TCP-only, last [`FALLBACK_SECS`] from the last
//!   time one was set (Unbound's `infra-host-ttl`): a server that was fixed, or an attacker's
//!   forgeries that made us give up 0x20, do not weaken the queries for ever.

use super::Random;
use crate::base::hash::KeyedState;
use crate::base::Instant;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// SRTT assumed for a server never measured, in milliseconds.
pub const UNKNOWN_RTT_MS: u32 = 376;
/// Largest retransmission timeout, in milliseconds.
pub const MAX_TIMEOUT_MS: u64 = 12_000;
/// Consecutive timeouts after which a server is held down.
pub const HOLD_DOWN_AFTER: u32 = 3;
/// Longest hold-down (RFC 9520: 5 minutes).
pub const MAX_HOLD_DOWN_SECS: u64 = 300;
/// One pick in this many explores a random server instead of the fastest.
pub const EXPLORE_ONE_IN: u8 = 16;
/// How long a fallback (no 0x20, no EDNS, TCP only) lasts, in seconds.
pub const FALLBACK_SECS: u64 = 900;
/// Servers remembered before the table is pruned.
const MAX_SERVERS: usize = 65_536;

/// What is known about one server address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerState {
    /// Smoothed RTT in milliseconds, once measured.
    pub srtt_ms: Option<u32>,
    /// Timeouts since the last reply.
    pub consecutive_timeouts: u32,
    /// Not asked before this instant (hold-down).
    pub held_until: Instant,
    /// Near-miss replies received (wrong ID or question from this address).
    pub unwanted: u32,
    /// Only asked over TCP (after too many unwanted replies).
    pub tcp_only: bool,
    /// Does not echo the question's case: ask without 0x20.
    pub no_0x20: bool,
    /// Fails queries with OPT: ask without EDNS.
    pub no_edns: bool,
    /// When the fallbacks above end.
    pub fallback_until: Instant,
}

impl ServerState {
    /// The retransmission timeout for the next query, in milliseconds.
    pub fn timeout_ms(&self) -> u64 {
        let base = self.srtt_ms.map_or(1000, |srtt| (u64::from(srtt) * 4).clamp(200, 3000));
        base.saturating_mul(1 << self.consecutive_timeouts.min(6)).min(MAX_TIMEOUT_MS)
    }
}

/// The shared table; all methods take `&self`.
#[derive(Debug, Default)]
pub struct ServerStats {
    servers: Mutex<HashMap<SocketAddr, ServerState, KeyedState>>,
    /// Replies that matched no outstanding query at all (wrong source address or port).
    pub unwanted_total: AtomicU64,
    /// Queries per second to each zone's servers (random-subdomain floods).
    pub zone_rates: super::zone_rate::ZoneRates,
}

impl ServerStats {
    /// An empty table (hashed under the all-zero key: for tests; the server uses
    /// [`ServerStats::with_key`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table whose maps hash under the secret `key` (from the I/O layer's random
    /// source): the servers a delegation names cannot be chosen to collide.
    pub fn with_key(key: [u8; 16]) -> Self {
        let state = KeyedState { key };
        Self { servers: Mutex::new(HashMap::with_hasher(state)), zone_rates: super::zone_rate::ZoneRates::new(key), ..Self::default() }
    }

    /// The state of `addr` (the default for an unknown server).
    pub fn get(&self, addr: SocketAddr) -> ServerState {
        self.lock().get(&addr).copied().unwrap_or_default()
    }

    /// The state of `addr` at `now`: fallbacks that have run their time are ended first.
    pub fn get_at(&self, addr: SocketAddr, now: Instant) -> ServerState {
        let mut table = self.lock();
        let Some(state) = table.get_mut(&addr) else { return ServerState::default() };
        if state.fallback_until <= now && (state.tcp_only || state.no_0x20 || state.no_edns) {
            (state.tcp_only, state.no_0x20, state.no_edns, state.unwanted) = (false, false, false, 0);
        }
        *state
    }

    /// Records a reply after `rtt_ms`: updates the SRTT and ends any back-off.
    pub fn record_rtt(&self, addr: SocketAddr, rtt_ms: u64) {
        let rtt = u32::try_from(rtt_ms).unwrap_or(u32::MAX).max(1);
        self.update(addr, |state| {
            state.srtt_ms = Some(state.srtt_ms.map_or(rtt, |srtt| srtt - srtt / 8 + rtt / 8));
            state.consecutive_timeouts = 0;
            state.held_until = Instant::ZERO;
        });
    }

    /// Records a timeout: the next timeout doubles and, after [`HOLD_DOWN_AFTER`], the server is
    /// held down for 5 s doubling up to 5 minutes.
    pub fn record_timeout(&self, addr: SocketAddr, now: Instant) {
        self.update(addr, |state| {
            state.consecutive_timeouts = state.consecutive_timeouts.saturating_add(1);
            if let Some(extra) = state.consecutive_timeouts.checked_sub(HOLD_DOWN_AFTER) {
                let secs = (5u64 << extra.min(8)).min(MAX_HOLD_DOWN_SECS);
                state.held_until = now.plus_secs(secs);
            }
        });
    }

    /// Counts a near-miss reply from `addr`; returns true when the server is now TCP-only.
    pub fn record_unwanted(&self, addr: SocketAddr, threshold: u32, now: Instant) -> bool {
        self.unwanted_total.fetch_add(1, Ordering::Relaxed);
        let mut tcp_only = false;
        self.update(addr, |state| {
            state.unwanted = state.unwanted.saturating_add(1);
            if threshold > 0 && state.unwanted >= threshold && !state.tcp_only {
                state.tcp_only = true;
                state.fallback_until = now.plus_secs(FALLBACK_SECS);
            }
            tcp_only = state.tcp_only;
        });
        tcp_only
    }

    /// Counts a reply that matched no query at all.
    pub fn record_stray(&self) {
        self.unwanted_total.fetch_add(1, Ordering::Relaxed);
    }

    /// Remembers that `addr` does not echo the question's case.
    pub fn set_no_0x20(&self, addr: SocketAddr, now: Instant) {
        self.update(addr, |state| {
            state.no_0x20 = true;
            state.fallback_until = now.plus_secs(FALLBACK_SECS);
        });
    }

    /// Remembers that `addr` fails queries carrying OPT.
    pub fn set_no_edns(&self, addr: SocketAddr, now: Instant) {
        self.update(addr, |state| {
            state.no_edns = true;
            state.fallback_until = now.plus_secs(FALLBACK_SECS);
        });
    }

    /// Picks among `candidates` the server to ask: held-down servers are skipped; otherwise the
    /// lowest SRTT, except one time in [`EXPLORE_ONE_IN`] a random one. `None` when all are held.
    pub fn pick(&self, candidates: &[SocketAddr], now: Instant, random: &mut dyn Random) -> Option<usize> {
        let table = self.lock();
        let state = |addr: &SocketAddr| table.get(addr).copied().unwrap_or_default();
        let usable: Vec<usize> = (0..candidates.len()).filter(|&index| state(&candidates[index]).held_until <= now).collect();
        let mut bytes = [0u8; 2];
        random.fill(&mut bytes);
        if usable.len() > 1 && bytes[0] % EXPLORE_ONE_IN == 0 {
            return usable.get(usize::from(bytes[1]) % usable.len()).copied();
        }
        usable.into_iter().min_by_key(|&index| state(&candidates[index]).srtt_ms.unwrap_or(UNKNOWN_RTT_MS))
    }

    fn update(&self, addr: SocketAddr, change: impl FnOnce(&mut ServerState)) {
        let mut table = self.lock();
        if table.len() >= MAX_SERVERS && !table.contains_key(&addr) {
            table.retain(|_, state| state.tcp_only || state.no_edns || state.no_0x20);
            if table.len() >= MAX_SERVERS {
                table.clear();
            }
        }
        change(table.entry(addr).or_default());
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SocketAddr, ServerState, KeyedState>> {
        self.servers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::SeededRandom;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn srtt_smooths_and_picks_the_fastest() {
        let stats = ServerStats::new();
        let (fast, slow) = (addr("192.0.2.1:53"), addr("192.0.2.2:53"));
        stats.record_rtt(fast, 20);
        stats.record_rtt(slow, 200);
        stats.record_rtt(slow, 280);
        assert_eq!(stats.get(slow).srtt_ms, Some(210));
        let mut random = SeededRandom::new(7);
        let picks: Vec<_> = (0..200).filter_map(|_| stats.pick(&[slow, fast], Instant::ZERO, &mut random)).collect();
        let fast_share = picks.iter().filter(|&&index| index == 1).count();
        assert!(fast_share > 170 && fast_share < 200, "{fast_share}");
    }

    #[test]
    fn fallbacks_end_after_their_time() {
        let stats = ServerStats::new();
        let server = addr("192.0.2.1:53");
        stats.set_no_0x20(server, Instant::from_secs(10));
        stats.set_no_edns(server, Instant::from_secs(20));
        assert!(stats.record_unwanted(server, 1, Instant::from_secs(20)));
        let held = stats.get_at(server, Instant::from_secs(20 + FALLBACK_SECS - 1));
        assert!(held.no_0x20 && held.no_edns && held.tcp_only);
        let ended = stats.get_at(server, Instant::from_secs(20 + FALLBACK_SECS));
        assert!(!ended.no_0x20 && !ended.no_edns && !ended.tcp_only && ended.unwanted == 0);
        assert!(!stats.get(server).no_0x20, "ended in the table too");
    }

    #[test]
    fn timeouts_back_off_and_hold_down() {
        let stats = ServerStats::new();
        let server = addr("192.0.2.1:53");
        assert_eq!(stats.get(server).timeout_ms(), 1000);
        stats.record_timeout(server, Instant::ZERO);
        assert_eq!(stats.get(server).timeout_ms(), 2000);
        stats.record_timeout(server, Instant::ZERO);
        stats.record_timeout(server, Instant::ZERO);
        let mut random = SeededRandom::new(1);
        assert_eq!(stats.pick(&[server], Instant::from_secs(4), &mut random), None);
        assert_eq!(stats.pick(&[server], Instant::from_secs(5), &mut random), Some(0));
        for _ in 0..20 {
            stats.record_timeout(server, Instant::ZERO);
        }
        assert_eq!(stats.get(server).held_until, Instant::from_secs(300));
        assert_eq!(stats.get(server).timeout_ms(), MAX_TIMEOUT_MS);
        stats.record_rtt(server, 30);
        assert_eq!(stats.get(server).held_until, Instant::ZERO);
    }

    #[test]
    fn unwanted_replies_switch_to_tcp() {
        let stats = ServerStats::new();
        let server = addr("192.0.2.1:53");
        assert!(!stats.record_unwanted(server, 2, Instant::ZERO));
        assert!(stats.record_unwanted(server, 2, Instant::ZERO));
        assert!(stats.get(server).tcp_only);
        assert_eq!(stats.unwanted_total.load(Ordering::Relaxed), 2);
    }
}
