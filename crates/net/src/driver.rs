//! The resolver pool's one driver loop (DESIGN §5.10): [`drive`] runs any sans-IO machine of the
//! engine's [`Driven`] interface, an iterative [`Resolution`] or a [`Forwarding`], to its end.
//!
//! - **Exchanges**: every query the machine sends runs in a task of its own ([`run_exchange`]),
//!   which reports each message it receives (and a failure) into the driver's one channel, so
//!   that several queries can be in flight (a forwarding's hedged query beside the first). UDP:
//!   a fresh connected socket per query ([`Exchange`]). TCP (after TC=1, or to a TCP-only
//!   server): a forwarding's queries go over the upstream's shared, pipelined connection
//!   ([`TcpConnections`]), a resolution's over a fresh connection to the authoritative server.
//! - **Time**: the driver waits for the next event until the instant of [`Step::Wait`]; when
//!   that passes with nothing received, the machine is told ([`Driven::on_wake`]).
//! - **Clean-up**: an exchange whose query the machine no longer waits for
//!   ([`Driven::waits_for`]) is aborted before the next wait, and every exchange still running
//!   is aborted when the machine is done (or the driver is dropped): no socket outlives its use.
//! - **Context**: each call borrows what the machine needs through a [`Lend`]: the cache and
//!   server statistics for a resolution ([`Shared`]), plus the group's state for a forwarding,
//!   locked around the one call only ([`Grouped`]), never across a wait.

use crate::forwarders::ForwardGroup;
use crate::upstream::{Event, Exchange};
use crate::upstream_tcp::TcpConnections;
use crate::Clock;
use portcullis_engine::policy::Instant;
use portcullis_engine::resolve::{Driven, ForwardContext, Forwarding, Outbound, QueryId, Resolution, Resolved, Shared, Step};
use portcullis_engine::Transport;
use smallvec::SmallVec;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Events buffered between the exchanges and the driver.
const EVENTS: usize = 16;

/// Lends a machine of type `D` its context for one call.
pub trait Lend<D: Driven> {
    /// Calls `call` with the context, then releases it.
    fn lend<R>(&self, call: impl FnOnce(D::Context<'_>) -> R) -> R;
}

impl Lend<Resolution> for Shared<'_> {
    fn lend<R>(&self, call: impl FnOnce(Shared<'_>) -> R) -> R {
        call(*self)
    }
}

/// A forwarding's context: the cache and statistics, and its group's state, locked for each call
/// and its health changes logged after it.
pub struct Grouped<'a> {
    /// The forward zone's group.
    pub group: &'a ForwardGroup,
    /// The cache and server statistics.
    pub shared: Shared<'a>,
}

impl Lend<Forwarding> for Grouped<'_> {
    fn lend<R>(&self, call: impl FnOnce(ForwardContext<'_>) -> R) -> R {
        let mut state = self.group.lock();
        let result = call(ForwardContext { shared: self.shared, group: &mut state });
        self.group.log_events(&mut state);
        result
    }
}

/// How a driver's queries go out.
pub struct Wire<'a> {
    /// Where the exchanges' tasks run.
    pub runtime: &'a tokio::runtime::Handle,
    /// The shared clock.
    pub clock: Clock,
    /// TCP over shared, pipelined connections (forwarding upstreams); `None`: a fresh
    /// connection per query (authoritative servers).
    pub tcp: Option<&'a Arc<TcpConnections>>,
    /// Counts the queries sent.
    pub sent: &'a AtomicU64,
}

/// Runs `machine` to its end and returns its result (see the module documentation).
pub async fn drive<D: Driven>(machine: &mut D, lend: &impl Lend<D>, wire: &Wire<'_>) -> Resolved {
    let (sender, mut events) = mpsc::channel::<(QueryId, Event)>(EVENTS);
    let mut exchanges = Exchanges::default();
    loop {
        let (now, _) = wire.clock.now();
        match lend.lend(|context| machine.poll(now, context)) {
            Step::Send(outbound) => {
                wire.sent.fetch_add(1, Ordering::Relaxed);
                let tcp = wire.tcp.filter(|_| outbound.transport == Transport::Tcp).cloned();
                let id = outbound.id;
                exchanges.0.push((id, wire.runtime.spawn(run_exchange(outbound, now, sender.clone(), tcp))));
            }
            Step::Wait(at) => {
                exchanges.keep(|id| machine.waits_for(id));
                let event = tokio::time::timeout_at(wire.clock.tokio_instant(at), events.recv()).await;
                let (now, _) = wire.clock.now();
                match event {
                    Ok(Some((id, Event::Message(from, bytes)))) => lend.lend(|context| machine.on_reply(id, from, &bytes, now, context)),
                    Ok(Some((id, Event::Failed))) => lend.lend(|context| machine.on_timeout(id, now, context)),
                    // The driver holds a sender, so the channel never closes: the instant passed.
                    Ok(None) | Err(_) => lend.lend(|context| machine.on_wake(now, context)),
                }
            }
            Step::Done(resolved) => return resolved,
        }
    }
}

/// The exchanges started, by query; each one still running is aborted when dropped.
#[derive(Default)]
struct Exchanges(SmallVec<[(QueryId, JoinHandle<()>); 2]>);

impl Exchanges {
    /// Aborts and forgets the exchanges whose query `wanted` says is over.
    fn keep(&mut self, mut wanted: impl FnMut(QueryId) -> bool) {
        self.0.retain(|(id, task)| {
            let keep = wanted(*id);
            if !keep {
                task.abort();
            }
            keep
        });
    }
}

impl Drop for Exchanges {
    fn drop(&mut self) {
        for (_, task) in &self.0 {
            task.abort();
        }
    }
}

/// Runs one exchange and reports every message (and a failure) until the receiver is gone or
/// the task is aborted. `tcp`: the shared connections a TCP query goes over.
async fn run_exchange(outbound: Outbound, now: Instant, sender: mpsc::Sender<(QueryId, Event)>, tcp: Option<Arc<TcpConnections>>) {
    let budget = Duration::from_millis(outbound.deadline.as_millis().saturating_sub(now.as_millis()).max(1));
    if let Some(tcp) = tcp {
        let event = tcp.query(outbound.server, outbound.bytes, budget).await;
        let _ = sender.send((outbound.id, event)).await;
        return;
    }
    let mut exchange = Exchange::start(&outbound, budget).await;
    loop {
        let event = exchange.next().await;
        let failed = matches!(event, Event::Failed);
        if sender.send((outbound.id, event)).await.is_err() || failed {
            return;
        }
    }
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
