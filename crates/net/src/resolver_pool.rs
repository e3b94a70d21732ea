//! The resolver pool (DESIGN §4.4 "Recursion and forwarding", §5.10): tokio tasks that drive
//! sans-IO [`Resolution`]s with [`upstream`](crate::upstream) and answer the waiting clients.
//!
//! - **Coalescing**: clients asking the same question (lower-cased name, type, class, DO bit) while
//!   it is being resolved wait on the one resolution; its result answers every one of them, each
//!   with its own ID, flags, OPT and cookie ([`Engine::respond_resolved`]).
//! - **Bounds**: at most [`PoolLimits::max_resolutions`] questions in flight and
//!   [`PoolLimits::max_waiters`] clients per question; beyond that a query is dropped with
//!   [`DropReason::ResolverOverload`] (counted; the client retries).
//! - **Replies**: UDP clients are answered on the worker's socket (a clone of it); TCP clients
//!   through their connection's reply channel, in completion order (RFC 7766 §6.2.1.1).
//! - **Time**: the shared [`Clock`]; the cache, the workers and the pool read the same one.

use crate::upstream::{Event, Exchange};
use crate::{Clock, EngineHandle};
use arc_swap::ArcSwap;
use portcullis_engine::cache::Cache;
use portcullis_engine::resolve::{Random, Resolution, Resolved, ResolverSettings, ServerStats, Step};
use portcullis_engine::{recursion_key, DropReason, Outcome, RecursionKey, Request, Transport};
use portcullis_wire::message::Question;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;

/// Bounds of the pool.
#[derive(Clone, Copy, Debug)]
pub struct PoolLimits {
    /// Distinct questions being resolved at once.
    pub max_resolutions: usize,
    /// Clients waiting on one question.
    pub max_waiters: usize,
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self { max_resolutions: 1000, max_waiters: 256 }
    }
}

/// Where a client's reply goes.
#[derive(Clone, Debug)]
pub enum ReplyTo {
    /// A UDP worker's socket (a clone of it).
    Udp(Arc<UdpSocket>),
    /// A TCP connection's reply channel.
    Tcp(mpsc::Sender<Vec<u8>>),
}

/// A client waiting for a resolution.
#[derive(Debug)]
pub struct Waiter {
    /// The query as received.
    pub query: Vec<u8>,
    /// The client.
    pub peer: SocketAddr,
    /// The transport it asked over.
    pub transport: Transport,
    /// The listener index (per-listener ACLs).
    pub listener: u16,
    /// Where the reply goes.
    pub reply: ReplyTo,
}

/// Makes the random source of each resolution (production: the operating system's CSPRNG).
pub type RandomSource = Arc<dyn Fn() -> Box<dyn Random + Send> + Send + Sync>;

/// Counters of the pool.
#[derive(Debug, Default)]
pub struct PoolCounters {
    /// Resolutions started.
    pub started: AtomicU64,
    /// Clients that joined a resolution already in flight.
    pub coalesced: AtomicU64,
    /// Queries dropped because the pool was full.
    pub overloaded: AtomicU64,
    /// Upstream queries sent.
    pub upstream_queries: AtomicU64,
    /// Resolutions that ended in SERVFAIL.
    pub failed: AtomicU64,
}

/// The pool; shared by the UDP workers and TCP connections.
pub struct ResolverPool {
    engine: EngineHandle,
    settings: ArcSwap<ResolverSettings>,
    cache: Arc<Cache>,
    stats: Arc<ServerStats>,
    clock: Clock,
    random: RandomSource,
    limits: PoolLimits,
    runtime: tokio::runtime::Handle,
    in_flight: Mutex<HashMap<RecursionKey, Vec<Waiter>>>,
    /// Counters.
    pub counters: PoolCounters,
}

impl std::fmt::Debug for ResolverPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolverPool").field("limits", &self.limits).field("counters", &self.counters).finish_non_exhaustive()
    }
}

/// Everything [`ResolverPool::new`] needs.
pub struct PoolParts {
    /// The engine (answers are written by the current one).
    pub engine: EngineHandle,
    /// Resolver settings (replaced on reload with [`ResolverPool::set_settings`]).
    pub settings: Arc<ResolverSettings>,
    /// The cache (the same one the engine answers from).
    pub cache: Arc<Cache>,
    /// The shared clock.
    pub clock: Clock,
    /// Randomness for IDs, ports' companion 0x20 bits and server exploration.
    pub random: RandomSource,
    /// Bounds.
    pub limits: PoolLimits,
    /// The runtime the resolution tasks run on.
    pub runtime: tokio::runtime::Handle,
}

impl ResolverPool {
    /// A pool with nothing in flight.
    pub fn new(parts: PoolParts) -> Arc<Self> {
        Arc::new(Self {
            engine: parts.engine,
            settings: ArcSwap::new(parts.settings),
            cache: parts.cache,
            stats: Arc::new(ServerStats::new()),
            clock: parts.clock,
            random: parts.random,
            limits: parts.limits,
            runtime: parts.runtime,
            in_flight: Mutex::new(HashMap::new()),
            counters: PoolCounters::default(),
        })
    }

    /// Replaces the resolver settings for resolutions started from now on.
    pub fn set_settings(&self, settings: Arc<ResolverSettings>) {
        self.settings.store(settings);
    }

    /// What is known about upstream servers.
    pub fn server_stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Questions being resolved now.
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }

    /// Hands a query that [`portcullis_engine::Engine::handle`] answered with
    /// [`Outcome::Resolve`] to the pool: it joins the resolution of the same question in flight
    /// or starts one. `Err` when the pool is full (the query is dropped; the caller counts it).
    pub fn submit(self: &Arc<Self>, waiter: Waiter) -> Result<(), DropReason> {
        let Some(key) = recursion_key(&waiter.query) else { return Err(DropReason::Malformed) };
        {
            let mut table = self.lock();
            if let Some(waiting) = table.get_mut(&key) {
                if waiting.len() >= self.limits.max_waiters {
                    self.counters.overloaded.fetch_add(1, Ordering::Relaxed);
                    return Err(DropReason::ResolverOverload);
                }
                waiting.push(waiter);
                self.counters.coalesced.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            if table.len() >= self.limits.max_resolutions {
                self.counters.overloaded.fetch_add(1, Ordering::Relaxed);
                return Err(DropReason::ResolverOverload);
            }
            table.insert(key, vec![waiter]);
        }
        self.counters.started.fetch_add(1, Ordering::Relaxed);
        let pool = self.clone();
        self.runtime.spawn(async move {
            let resolved = pool.resolve(key.question).await;
            if resolved.failure.is_some() {
                pool.counters.failed.fetch_add(1, Ordering::Relaxed);
            }
            let waiters = pool.lock().remove(&key).unwrap_or_default();
            pool.answer(&resolved, waiters).await;
        });
        Ok(())
    }

    /// Drives one resolution to its end (DESIGN §5.10).
    pub async fn resolve(&self, question: Question) -> Resolved {
        let settings = self.settings.load_full();
        let (start, _) = self.clock.now();
        let mut resolution = Resolution::new(question, settings, start, (self.random)());
        let mut exchange: Option<(portcullis_engine::resolve::QueryId, Exchange)> = None;
        loop {
            let (now, _) = self.clock.now();
            match resolution.poll(now, &self.cache, &self.stats) {
                Step::Send(outbound) => {
                    self.counters.upstream_queries.fetch_add(1, Ordering::Relaxed);
                    let budget = Duration::from_millis(outbound.deadline.as_millis().saturating_sub(now.as_millis()).max(1));
                    let started = Exchange::start(&outbound, budget).await;
                    exchange = Some((outbound.id, started));
                }
                Step::Wait(deadline) => {
                    let until = self.clock.tokio_instant(deadline);
                    let Some((id, current)) = exchange.as_mut() else {
                        tokio::time::sleep_until(until).await;
                        continue;
                    };
                    let id = *id;
                    match tokio::time::timeout_at(until, current.next()).await {
                        Ok(Event::Message(from, bytes)) => {
                            let (now, _) = self.clock.now();
                            resolution.on_reply(id, from, &bytes, now, &self.cache, &self.stats);
                        }
                        Ok(Event::Failed) => {
                            exchange = None;
                            let (now, _) = self.clock.now();
                            resolution.on_timeout(id, now, &self.stats);
                        }
                        Err(_) => {
                            let (now, _) = self.clock.now();
                            if resolution.in_flight() == Some(id) {
                                resolution.on_timeout(id, now, &self.stats);
                            }
                        }
                    }
                }
                Step::Done(resolved) => return resolved,
            }
        }
    }

    /// Writes and sends each waiting client's reply.
    async fn answer(&self, resolved: &Resolved, waiters: Vec<Waiter>) {
        let engine = self.engine.load_full();
        let mut buf = vec![0u8; 65_535];
        for waiter in waiters {
            let (now, unix_secs) = self.clock.now();
            let request = Request { bytes: &waiter.query, peer: waiter.peer, transport: waiter.transport, now, unix_secs, listener: waiter.listener };
            let Outcome::Reply(len) = engine.respond_resolved(resolved, &request, &mut buf) else { continue };
            match &waiter.reply {
                ReplyTo::Udp(socket) => {
                    if let Err(error) = socket.send_to(&buf[..len], waiter.peer) {
                        tracing::debug!(peer = %waiter.peer, %error, "udp reply to a resolved query failed");
                    }
                }
                ReplyTo::Tcp(sender) => {
                    let _ = sender.send(buf[..len].to_vec()).await;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RecursionKey, Vec<Waiter>>> {
        self.in_flight.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
