//! Admission of TCP connections (SECURITY-REFERENCE §6.5 rows 54-55, §7): a listener's open
//! connections, in all and per client, and the eviction of an idle one when the listener is full.
//!
//! - **Per client** means per /32 for IPv4 and per /64 for IPv6 ([`ClientKey`]): one host on
//!   IPv6 holds a whole /64 and could otherwise open `per-client` connections from each of its
//!   addresses. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) counts as its IPv4 address.
//! - **Never above `max-connections`**: a connection evicted to make room keeps its place in the
//!   count until it is gone (its socket closed); only then is the newcomer admitted
//!   ([`Admission::Full`] tells the accept loop to wait for [`Connections::released`]).

use crate::metrics::CloseReason;
use crate::tcp::TcpLimits;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;
use tokio::sync::Notify;

/// The unit a per-client limit counts: an IPv4 address (/32) or an IPv6 /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An IPv4 address, also when it came IPv4-mapped.
    V4(u32),
    /// The first 64 bits of an IPv6 address.
    V6(u64),
}

impl ClientKey {
    /// The key `ip` is counted under.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(u32::from(v4)),
                None => Self::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// What the registry says to a new connection.
#[derive(Debug)]
pub enum Admission {
    /// Admitted: it holds a place until [`Connections::release`].
    Admitted(Ticket),
    /// The listener is full and a connection is being evicted to make room: ask again once
    /// [`Connections::released`] fires.
    Full,
    /// Refused for this reason.
    Refused(CloseReason),
}

/// A connection's handle on its registry entry.
#[derive(Debug)]
pub struct Ticket {
    /// Its entry.
    pub id: u64,
    /// Fires when the connection must close to make room for another.
    pub evict: Arc<Notify>,
}

/// Open connections of one listener, in all and per client, with what is needed to evict an
/// idle one when it is full.
#[derive(Debug, Default)]
pub struct Connections {
    table: Mutex<Table>,
    /// Notified (one stored permit) each time a connection leaves the table.
    pub released: Notify,
}

#[derive(Debug, Default)]
struct Table {
    per_client: HashMap<ClientKey, usize>,
    open: HashMap<u64, Slot>,
    next_id: u64,
    /// The most connections ever open at once.
    peak: usize,
}

/// One open connection as the registry sees it.
#[derive(Debug)]
struct Slot {
    client: ClientKey,
    idle_since: Option<Instant>,
    /// Told to close; still counted until it is released.
    evicting: bool,
    evict: Arc<Notify>,
}

impl Connections {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a connection from `ip` when the per-client limit allows it and a place is free.
    /// When every place is taken, the connection idle the longest is told to close
    /// ([`Admission::Full`]: its place frees up once it is gone); with none idle, the
    /// newcomer is refused.
    pub fn admit(&self, ip: IpAddr, limits: &TcpLimits) -> Admission {
        let client = ClientKey::of(ip);
        let mut table = self.table();
        if table.per_client.get(&client).copied().unwrap_or(0) >= limits.per_client {
            return Admission::Refused(CloseReason::PerClientLimit);
        }
        if table.open.len() >= limits.max_connections {
            return table.evict_oldest_idle();
        }
        *table.per_client.entry(client).or_insert(0) += 1;
        table.next_id += 1;
        let id = table.next_id;
        let evict = Arc::new(Notify::new());
        table.open.insert(id, Slot { client, idle_since: None, evicting: false, evict: evict.clone() });
        table.peak = table.peak.max(table.open.len());
        Admission::Admitted(Ticket { id, evict })
    }

    /// Marks a connection idle (waiting for a query): it may be evicted from now on.
    pub fn set_idle(&self, id: u64) {
        if let Some(slot) = self.table().open.get_mut(&id) {
            slot.idle_since = Some(slot.idle_since.unwrap_or_else(Instant::now));
        }
    }

    /// Marks a connection busy (a query has come): it is not evicted while busy. False when it
    /// was told to close before this (it then closes rather than answer, as its place is
    /// promised to a newcomer).
    pub fn set_busy(&self, id: u64) -> bool {
        self.table().open.get_mut(&id).is_some_and(|slot| {
            slot.idle_since = None;
            !slot.evicting
        })
    }

    /// The share of `max-connections` in use, in percent.
    pub fn load_percent(&self, limits: &TcpLimits) -> usize {
        self.table().open.len() * 100 / limits.max_connections.max(1)
    }

    /// The most connections that were ever open at once.
    pub fn peak(&self) -> usize {
        self.table().peak
    }

    /// Tells every open connection to close (shutdown): an idle one closes at once, a busy one
    /// after its answer.
    pub fn close_all(&self) {
        for slot in self.table().open.values() {
            slot.evict.notify_one();
        }
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.table().open.is_empty()
    }

    /// Removes a connection whose socket is closed, and wakes an accept loop waiting for room.
    pub fn release(&self, id: u64) {
        let mut table = self.table();
        if let Some(slot) = table.open.remove(&id) {
            if let Some(count) = table.per_client.get_mut(&slot.client) {
                *count -= 1;
                if *count == 0 {
                    table.per_client.remove(&slot.client);
                }
            }
        }
        drop(table);
        self.released.notify_one();
    }
}

impl Table {
    /// Tells the connection idle the longest to close, unless one already is (one eviction
    /// makes room for one newcomer). `Full` while one is closing; `Refused` when none is idle.
    fn evict_oldest_idle(&mut self) -> Admission {
        if self.open.values().any(|slot| slot.evicting) {
            return Admission::Full;
        }
        let oldest = self.open.values_mut().filter(|slot| slot.idle_since.is_some()).min_by_key(|slot| slot.idle_since);
        let Some(slot) = oldest else { return Admission::Refused(CloseReason::MaxConnections) };
        slot.evicting = true;
        slot.evict.notify_one();
        Admission::Full
    }
}

#[cfg(test)]
mod tests {
    use super::{Admission, ClientKey, Connections, Ticket};
    use crate::metrics::CloseReason;
    use crate::tcp::TcpLimits;
    use std::net::IpAddr;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn admitted(admission: Admission) -> Ticket {
        match admission {
            Admission::Admitted(ticket) => ticket,
            other => panic!("not admitted: {other:?}"),
        }
    }

    fn refused(admission: Admission) -> CloseReason {
        match admission {
            Admission::Refused(reason) => reason,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn clients_are_keyed_per_ipv4_address_and_per_ipv6_64() {
        assert_eq!(ClientKey::of(ip("192.0.2.1")), ClientKey::V4(0xc000_0201));
        assert_eq!(ClientKey::of(ip("::ffff:192.0.2.1")), ClientKey::of(ip("192.0.2.1")));
        assert_ne!(ClientKey::of(ip("192.0.2.1")), ClientKey::of(ip("192.0.2.2")));
        assert_eq!(ClientKey::of(ip("2001:db8:1:2::1")), ClientKey::V6(0x2001_0db8_0001_0002));
        assert_eq!(ClientKey::of(ip("2001:db8:1:2::1")), ClientKey::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert_ne!(ClientKey::of(ip("2001:db8:1:2::1")), ClientKey::of(ip("2001:db8:1:3::1")));
        // ::1 and ::2 share the /64 ::/64, which holds no IPv4-mapped address but ::ffff:0:0/96.
        assert_eq!(ClientKey::of(ip("::1")), ClientKey::of(ip("::2")));
    }

    #[test]
    fn addresses_of_one_ipv6_64_share_one_count() {
        let connections = Connections::default();
        let limits = TcpLimits { per_client: 2, ..TcpLimits::default() };
        let first = admitted(connections.admit(ip("2001:db8:1:2::1"), &limits));
        admitted(connections.admit(ip("2001:db8:1:2::2"), &limits));
        assert_eq!(refused(connections.admit(ip("2001:db8:1:2:a:b:c:d"), &limits)), CloseReason::PerClientLimit);
        admitted(connections.admit(ip("2001:db8:1:3::1"), &limits));
        // IPv4 and IPv4-mapped IPv6 share theirs too; the next address is another client.
        admitted(connections.admit(ip("192.0.2.1"), &limits));
        admitted(connections.admit(ip("::ffff:192.0.2.1"), &limits));
        assert_eq!(refused(connections.admit(ip("192.0.2.1"), &limits)), CloseReason::PerClientLimit);
        admitted(connections.admit(ip("192.0.2.2"), &limits));
        // A connection of the /64 leaves: the /64 has room again, for any of its addresses.
        connections.release(first.id);
        admitted(connections.admit(ip("2001:db8:1:2::99"), &limits));
    }

    /// True when `ticket`'s connection has been told to close (consumes the notification).
    async fn told(ticket: &Ticket) -> bool {
        tokio::time::timeout(std::time::Duration::ZERO, ticket.evict.notified()).await.is_ok()
    }

    #[tokio::test]
    async fn a_full_listener_counts_the_evicted_connection_until_it_is_gone() {
        let connections = Connections::default();
        let limits = TcpLimits { max_connections: 2, ..TcpLimits::default() };
        let busy = admitted(connections.admit(ip("192.0.2.1"), &limits));
        let idle = admitted(connections.admit(ip("192.0.2.2"), &limits));
        assert_eq!(refused(connections.admit(ip("192.0.2.3"), &limits)), CloseReason::MaxConnections, "none idle");
        connections.set_idle(idle.id);
        assert!(matches!(connections.admit(ip("192.0.2.3"), &limits), Admission::Full));
        assert!(told(&idle).await && !told(&busy).await);
        // The idle one is told to close; until it has, the newcomer waits and nobody else is
        // told, even when another connection is idle by then.
        connections.set_idle(busy.id);
        assert!(matches!(connections.admit(ip("192.0.2.3"), &limits), Admission::Full));
        assert!(matches!(connections.admit(ip("192.0.2.3"), &limits), Admission::Full));
        assert!(!told(&busy).await);
        connections.release(idle.id);
        let newcomer = admitted(connections.admit(ip("192.0.2.3"), &limits));
        assert_eq!(connections.peak(), 2);
        // The next newcomer makes `busy` (idle the longest) close, not the newcomer.
        connections.set_idle(newcomer.id);
        assert!(matches!(connections.admit(ip("192.0.2.4"), &limits), Admission::Full));
        assert!(told(&busy).await && !told(&newcomer).await);
        connections.release(busy.id);
        admitted(connections.admit(ip("192.0.2.4"), &limits));
        assert_eq!(connections.peak(), 2);
    }

    #[test]
    fn a_connection_told_to_close_while_its_query_arrives_closes_rather_than_answer() {
        let connections = Connections::default();
        let limits = TcpLimits { max_connections: 1, ..TcpLimits::default() };
        let first = admitted(connections.admit(ip("192.0.2.1"), &limits));
        assert!(connections.set_busy(first.id), "busy, not told to close");
        connections.set_idle(first.id);
        assert!(matches!(connections.admit(ip("192.0.2.2"), &limits), Admission::Full));
        assert!(!connections.set_busy(first.id), "its query came too late: it closes");
        // Busy now, but told already: still counted until released, and nobody else is told.
        assert!(matches!(connections.admit(ip("192.0.2.2"), &limits), Admission::Full));
        connections.release(first.id);
        admitted(connections.admit(ip("192.0.2.2"), &limits));
    }
}
