//! [`Driven`]: the one interface through which the network layer drives both sans-IO machines,
//! [`Resolution`] (iteration from the root) and [`Forwarding`] (a question sent to an upstream
//! group), so that it needs one driver loop for both (DESIGN §5.10).
//!
//! ```text
//! loop {
//!     match machine.poll(now, context) {
//!         Step::Send(outbound) => send it; remember outbound.id while waits_for(id),
//!         Step::Wait(at) => wait for a reply (on_reply), a failure (on_timeout) or `at` (on_wake),
//!         Step::Done(resolved) => break resolved,
//!     }
//! }
//! ```
//!
//! Each call borrows a [`Driven::Context`] from the driver for that call only: the cache and
//! the server statistics ([`Shared`]), and for a forwarding its group's state, which the
//! driver locks around the one call (never across a wait).

use super::forward::Forwarding;
use super::resolution::Resolution;
use super::stats::ServerStats;
use super::upstreams::UpstreamGroup;
use super::{QueryId, Step};
use crate::base::Instant;
use crate::cache::Cache;
use std::net::SocketAddr;

/// What every machine reads and updates besides itself: the cache and what is known about
/// servers. Shared by all resolutions and forwardings of the server.
#[derive(Clone, Copy)]
pub struct Shared<'a> {
    /// The cache answers are read from and stored in.
    pub cache: &'a Cache,
    /// Per-server RTT, back-off and quirks, and the zones' flood defence.
    pub servers: &'a ServerStats,
}

/// What a [`Forwarding`] borrows for one call: [`Shared`] and its group's state (locked by the
/// driver for the call).
pub struct ForwardContext<'a> {
    /// The cache and server statistics.
    pub shared: Shared<'a>,
    /// The upstream group's state (health, in-flight counts, selection).
    pub group: &'a mut UpstreamGroup,
}

/// A sans-IO machine that a network driver runs to its [`Step::Done`].
pub trait Driven {
    /// What each call borrows from the driver.
    type Context<'a>;

    /// Advances: a query to send (poll again after sending it), an instant to wait for, or the
    /// result.
    fn poll(&mut self, now: Instant, context: Self::Context<'_>) -> Step;

    /// A message arrived from `from` for query `id` (a UDP datagram on the query's socket, or a
    /// TCP message); the machine decides whether it matches.
    fn on_reply(&mut self, id: QueryId, from: SocketAddr, bytes: &[u8], now: Instant, context: Self::Context<'_>);

    /// Query `id` failed at once (unreachable, connection closed) or timed out.
    fn on_timeout(&mut self, id: QueryId, now: Instant, context: Self::Context<'_>);

    /// The instant of the last [`Step::Wait`] came with nothing received. By default nothing
    /// happens here: the next poll deals with what is due.
    fn on_wake(&mut self, now: Instant, context: Self::Context<'_>) {
        let _ = (now, context);
    }

    /// True while query `id` may still be answered; the driver stops listening for the others.
    fn waits_for(&self, id: QueryId) -> bool;
}

impl Driven for Resolution {
    type Context<'a> = Shared<'a>;

    fn poll(&mut self, now: Instant, context: Shared<'_>) -> Step {
        Resolution::poll(self, now, context.cache, context.servers)
    }

    fn on_reply(&mut self, id: QueryId, from: SocketAddr, bytes: &[u8], now: Instant, context: Shared<'_>) {
        Resolution::on_reply(self, id, from, bytes, now, context.cache, context.servers);
    }

    fn on_timeout(&mut self, id: QueryId, now: Instant, context: Shared<'_>) {
        Resolution::on_timeout(self, id, now, context.servers);
    }

    /// The query in flight timed out, even when the wait ended at the resolution's own deadline
    /// before the query's: its server is charged with the timeout.
    fn on_wake(&mut self, now: Instant, context: Shared<'_>) {
        if let Some(id) = self.in_flight() {
            Resolution::on_timeout(self, id, now, context.servers);
        }
    }

    fn waits_for(&self, id: QueryId) -> bool {
        self.in_flight() == Some(id)
    }
}

impl Driven for Forwarding {
    type Context<'a> = ForwardContext<'a>;

    fn poll(&mut self, now: Instant, context: ForwardContext<'_>) -> Step {
        Forwarding::poll(self, now, context.shared.cache, context.group, context.shared.servers)
    }

    fn on_reply(&mut self, id: QueryId, from: SocketAddr, bytes: &[u8], now: Instant, context: ForwardContext<'_>) {
        Forwarding::on_reply(self, id, from, bytes, now, context.shared.cache, context.group, context.shared.servers);
    }

    fn on_timeout(&mut self, id: QueryId, now: Instant, context: ForwardContext<'_>) {
        Forwarding::on_timeout(self, id, now, context.group);
    }

    fn waits_for(&self, id: QueryId) -> bool {
        self.is_in_flight(id)
    }
}

#[cfg(test)]
mod tests {
    use super::{Driven, ForwardContext, Shared};
    use crate::base::Instant;
    use crate::cache::{Cache, CacheSettings};
    use crate::resolve::upstreams::{GroupSettings, UpstreamGroup};
    use crate::resolve::{Forwarding, Resolution, ResolverSettings, SeededRandom, ServerStats, Step};
    use portcullis_wire::message::Question;
    use portcullis_wire::{Class, NameBuf, Rtype};
    use std::net::SocketAddr;
    use std::sync::Arc;

    fn question() -> Question {
        Question { qname: NameBuf::from_text("www.example.", None).unwrap(), qtype: Rtype::A, qclass: Class::IN }
    }

    fn settings() -> Arc<ResolverSettings> {
        Arc::new(ResolverSettings { root_servers: vec!["127.0.0.1".parse().unwrap()], do_not_query_localhost: false, ..ResolverSettings::default() })
    }

    fn sent(step: Step) -> crate::resolve::Outbound {
        match step {
            Step::Send(outbound) => outbound,
            other => panic!("expected a query, got {other:?}"),
        }
    }

    #[test]
    fn a_resolution_woken_with_nothing_received_charges_its_server() {
        let (cache, servers) = (Cache::new(CacheSettings::DEFAULT), ServerStats::new());
        let shared = Shared { cache: &cache, servers: &servers };
        let now = Instant::from_millis(1_000);
        let mut resolution = Resolution::new(question(), settings(), now, Box::new(SeededRandom::new(1)));
        let outbound = sent(Driven::poll(&mut resolution, now, shared));
        assert!(resolution.waits_for(outbound.id));
        assert!(!resolution.waits_for(crate::resolve::QueryId(outbound.id.0 + 1)));
        resolution.on_wake(now.plus_millis(10), shared);
        assert!(!resolution.waits_for(outbound.id), "the query is over");
        assert_eq!(servers.get(outbound.server).consecutive_timeouts, 1);
    }

    #[test]
    fn a_forwarding_borrows_its_group_for_each_call() {
        let (cache, servers) = (Cache::new(CacheSettings::DEFAULT), ServerStats::new());
        let shared = Shared { cache: &cache, servers: &servers };
        let upstreams: Vec<SocketAddr> = vec!["127.0.0.1:5300".parse().unwrap(), "127.0.0.2:5300".parse().unwrap()];
        let mut group = UpstreamGroup::new(GroupSettings { primaries: upstreams.clone(), ..GroupSettings::default() });
        let now = Instant::from_millis(1_000);
        let mut forwarding = Forwarding::new(question(), settings(), now, Box::new(SeededRandom::new(1)));
        let first = sent(Driven::poll(&mut forwarding, now, ForwardContext { shared, group: &mut group }));
        assert!(forwarding.waits_for(first.id));
        forwarding.on_wake(now, ForwardContext { shared, group: &mut group });
        assert!(forwarding.waits_for(first.id), "waking does not end a query before its deadline");
        Driven::on_timeout(&mut forwarding, first.id, now, ForwardContext { shared, group: &mut group });
        assert!(!forwarding.waits_for(first.id));
        let second = sent(Driven::poll(&mut forwarding, now, ForwardContext { shared, group: &mut group }));
        assert_ne!(second.server, first.server, "the other upstream is asked next");
        assert!(upstreams.contains(&second.server));
    }
}
