//! Handshakes per client and second on an encrypted listener (issue 15: "handshake rate"): a
//! TLS or QUIC handshake costs the server a key exchange and a signature, so one client
//! (an IPv4 address, an IPv6 /64, as [`ClientKey`] counts) gets at most `per_second` of them
//! in each second; a newcomer past that is refused before any cryptography, counted as
//! [`crate::metrics::CloseReason::HandshakeRate`].

use crate::tcp_admit::ClientKey;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Clients remembered at most; past this, those of earlier seconds are forgotten.
const MAX_CLIENTS: usize = 65_536;

/// The handshakes of the current second, per client.
#[derive(Debug)]
pub struct HandshakeRate {
    per_second: u32,
    start: Instant,
    table: Mutex<HashMap<ClientKey, (u64, u32)>>,
}

impl HandshakeRate {
    /// At most `per_second` handshakes per client and second (0: no limit).
    pub fn new(per_second: u32) -> Self {
        Self { per_second, start: Instant::now(), table: Mutex::default() }
    }

    /// True when `ip` may start a handshake now (and counts it).
    pub fn admit(&self, ip: IpAddr) -> bool {
        self.admit_at(ip, self.start.elapsed().as_secs())
    }

    fn admit_at(&self, ip: IpAddr, second: u64) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if table.len() >= MAX_CLIENTS {
            table.retain(|_, (at, _)| *at == second);
        }
        let entry = table.entry(ClientKey::of(ip)).or_insert((second, 0));
        if entry.0 != second {
            *entry = (second, 0);
        }
        entry.1 += 1;
        entry.1 <= self.per_second
    }
}

#[cfg(test)]
mod tests {
    use super::HandshakeRate;
    use std::net::IpAddr;

    #[test]
    fn each_client_gets_its_handshakes_per_second_and_no_more() {
        let rate = HandshakeRate::new(2);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
        let same_64: IpAddr = "2001:db8::2".parse().unwrap();
        assert!(rate.admit_at(a, 5) && rate.admit_at(a, 5));
        assert!(!rate.admit_at(a, 5), "a third in the same second");
        assert!(rate.admit_at(b, 5) && rate.admit_at(same_64, 5));
        assert!(!rate.admit_at(b, 5), "the /64 counts as one client");
        assert!(rate.admit_at(a, 6), "the next second starts afresh");
        assert!(HandshakeRate::new(0).admit_at(a, 5), "0: no limit");
    }
}
