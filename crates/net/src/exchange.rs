//! One query, one reply: what DoH and DoQ do with each message they take out of a request or a
//! stream. The engine answers ([`Engine::handle`](portcullis_engine::Engine::handle)), and a
//! question it hands on waits for the resolver pool's reply, bounded per connection.

use crate::resolver_pool::{ReplyTo, Waiter};
use crate::tcp::Services;
use crate::EngineHandle;
use portcullis_engine::{DropReason, Outcome, Request, Transport};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a query waits for its resolution (and for a place to resolve).
const RESOLVE_WAIT: Duration = Duration::from_secs(15);

/// A client connection, as its queries are answered.
pub(crate) struct Client {
    /// The listener's index (per-listener ACLs).
    pub listener: u16,
    /// The client's address.
    pub peer: SocketAddr,
    /// HTTPS or QUIC.
    pub transport: Transport,
    /// The current engine.
    pub engine: EngineHandle,
    /// Clock, resolver pool, counters.
    pub services: Services,
    /// Questions of this connection resolving at once (`in-flight`).
    pub resolving: Arc<Semaphore>,
}

/// What became of one query.
pub(crate) enum Answer {
    /// The reply to send.
    Reply(Vec<u8>),
    /// A zone transfer the engine allowed: [`Engine::transfer`](portcullis_engine::Engine::transfer) streams it.
    Transfer,
    /// The engine dropped the query (an ACL set to drop).
    Dropped(DropReason),
    /// No resolver, too many resolving, or no reply in time.
    Unavailable,
}

impl Client {
    /// Answers `query`, waiting for the resolver pool when the engine hands the question on.
    pub async fn answer(&self, query: &[u8]) -> Answer {
        let (now, unix_secs) = self.services.clock.now();
        let request =
            Request { bytes: query, peer: self.peer, transport: self.transport, now, unix_secs, listener: self.listener, worker: crate::OTHER_THREADS };
        let engine = self.engine.load();
        let mut out = vec![0u8; 65_535];
        match engine.handle(&request, &mut out) {
            Outcome::Reply(n) => Answer::Reply(out[..n].to_vec()),
            Outcome::ReplyAndPrefetch(n) => {
                if let Some(pool) = &self.services.pool {
                    pool.prefetch(query);
                }
                Answer::Reply(out[..n].to_vec())
            }
            Outcome::Drop(reason) => Answer::Dropped(reason),
            Outcome::Transfer => Answer::Transfer,
            Outcome::Resolve => self.resolve(query, &engine).await,
            Outcome::Update => self.update(query).await,
        }
    }

    /// Hands `query` (an UPDATE the engine let through) to the update service and waits for its
    /// reply.
    async fn update(&self, query: &[u8]) -> Answer {
        let Some(updates) = &self.services.updates else { return Answer::Unavailable };
        let Ok(Ok(permit)) = tokio::time::timeout(RESOLVE_WAIT, self.resolving.clone().acquire_owned()).await else {
            return Answer::Unavailable;
        };
        let (sender, mut receiver) = tokio::sync::mpsc::channel(1);
        updates.submit(Waiter {
            query: query.to_vec(),
            peer: self.peer,
            transport: self.transport,
            listener: self.listener,
            reply: ReplyTo::Tcp(sender, permit),
        });
        match tokio::time::timeout(RESOLVE_WAIT, receiver.recv()).await {
            Ok(Some(reply)) => Answer::Reply(reply),
            _ => Answer::Unavailable,
        }
    }

    /// Hands `query` to the resolver pool and waits for its reply.
    async fn resolve(&self, query: &[u8], engine: &portcullis_engine::Engine) -> Answer {
        let Some(pool) = &self.services.pool else { return Answer::Unavailable };
        let Ok(Ok(permit)) = tokio::time::timeout(RESOLVE_WAIT, self.resolving.clone().acquire_owned()).await else {
            return Answer::Unavailable;
        };
        let (sender, mut receiver) = tokio::sync::mpsc::channel(1);
        let waiter = Waiter { query: query.to_vec(), peer: self.peer, transport: self.transport, listener: self.listener, reply: ReplyTo::Tcp(sender, permit) };
        if let Err(reason) = pool.submit(waiter) {
            engine.counters().dropped(reason);
            return Answer::Unavailable;
        }
        match tokio::time::timeout(RESOLVE_WAIT, receiver.recv()).await {
            Ok(Some(reply)) => Answer::Reply(reply),
            _ => Answer::Unavailable,
        }
    }
}
