//! The AF_XDP path for UDP (`[server] xdp = ["eth0"]`): queries to the UDP listeners' ports
//! arriving on those interfaces skip the kernel's socket layer (`portcullis_xdp`), one thread per
//! receive queue, each answer from [`portcullis_engine::Engine::handle`] written straight into
//! the interface's transmit ring. An interface where the program or a socket cannot be set up
//! is logged once and left to the sockets, which answer it as before.
//!
//! Only answers the engine writes at once go out this way; a query to resolve is handed to the
//! resolver pool with a clone of its listener's socket, so that answer leaves through the kernel
//! from the same address and port. dnstap and the query log do not see the XDP path's queries.

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use portcullis_engine::{DropReason, Outcome, Request, Transport};
use portcullis_xdp::{Attachment, QueueSocket};

use crate::resolver_pool::{ReplyTo, ResolverPool, Waiter};
use crate::{Clock, EngineHandle, Shutdown};

/// A UDP listener the XDP path answers for: its index, address and one of its sockets (for the
/// replies of resolved queries).
pub type Listener = (u16, SocketAddr, Arc<UdpSocket>);

/// What the queue threads share.
#[derive(Clone)]
pub struct Services {
    /// The engine, swapped on reload.
    pub engine: EngineHandle,
    /// The server's clock.
    pub clock: Clock,
    /// Queries to resolve go here (none: recursion never starts).
    pub pool: Option<Arc<ResolverPool>>,
    /// Stops the threads.
    pub shutdown: Shutdown,
    /// The UDP listeners.
    pub listeners: Arc<[Listener]>,
}

/// Attaches the AF_XDP path to each interface and starts its queue threads; an interface that
/// cannot be attached is logged (warning) and answered by the sockets. `first_worker` numbers
/// the threads' counter shards after the UDP workers'.
pub fn spawn(interfaces: &[String], services: &Services, first_worker: u16) -> Vec<JoinHandle<()>> {
    let mut ports: Vec<u16> = services.listeners.iter().map(|(_, address, _)| address.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    let mut threads = Vec::new();
    for interface in interfaces {
        match portcullis_xdp::attach(interface, &ports) {
            Ok((attachment, sockets)) => {
                tracing::info!(interface = %interface, queues = sockets.len(), ?ports, "AF_XDP path attached");
                let worker = first_worker.saturating_add(u16::try_from(threads.len()).unwrap_or(u16::MAX));
                threads.extend(spawn_queues(attachment, sockets, services, worker));
            }
            // A kernel without (permitted) XDP is a property of the host, anything else a fault.
            Err(error) if error.kernel_refused() => {
                tracing::warn!(interface = %interface, %error, "AF_XDP path not attached; UDP on this interface is answered by the sockets")
            }
            Err(error) => tracing::error!(interface = %interface, %error, "AF_XDP path not attached; UDP on this interface is answered by the sockets"),
        }
    }
    threads
}

/// One thread per queue; the attachment is dropped (the program detached) by the last to stop.
fn spawn_queues(attachment: Attachment, sockets: Vec<QueueSocket>, services: &Services, first_worker: u16) -> Vec<JoinHandle<()>> {
    let attachment = Arc::new(Mutex::new(attachment));
    let mut threads = Vec::new();
    for (index, mut socket) in sockets.into_iter().enumerate() {
        let (services, attachment) = (services.clone(), Arc::clone(&attachment));
        let worker = first_worker.saturating_add(u16::try_from(index).unwrap_or(u16::MAX));
        let name = format!("portcullis-xdp-{}", socket.queue());
        let spawned = std::thread::Builder::new().name(name).spawn(move || {
            let shutdown = services.shutdown.clone();
            let answerer = Answerer { engine: services.engine.load_full(), now: services.clock.now(), services, worker };
            let result = socket.serve(shutdown.flag(), answerer);
            match result {
                Ok(stats) => tracing::info!(queue = socket.queue(), ?stats, "AF_XDP queue stopped"),
                Err(error) => tracing::error!(%error, "AF_XDP queue stopped"),
            }
            drop(socket);
            drop(attachment);
        });
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(error) => tracing::error!(%error, "cannot start an AF_XDP queue thread"),
        }
    }
    threads
}

/// Answers the queries of one queue: the engine snapshot and the clock are read once per batch,
/// as the UDP workers do.
struct Answerer {
    services: Services,
    worker: u16,
    engine: Arc<portcullis_engine::Engine>,
    now: (portcullis_engine::policy::Instant, u64),
}

impl portcullis_xdp::Handler for Answerer {
    fn batch(&mut self) {
        self.engine = self.services.engine.load_full();
        self.now = self.services.clock.now();
    }

    /// The engine's reply length, or `None` (dropped, or handed to the resolver pool, which
    /// answers through the listener's socket).
    fn answer(&mut self, query: &[u8], peer: SocketAddr, local: SocketAddr, out: &mut [u8]) -> Option<usize> {
        let Some((listener, _, socket)) = listener_for(&self.services.listeners, local) else {
            tracing::trace!(%peer, %local, "AF_XDP query to an address no listener has");
            return None;
        };
        let (now, unix_secs) = self.now;
        let request = Request { bytes: query, peer, transport: Transport::Udp, now, unix_secs, listener: *listener, worker: self.worker };
        match self.engine.handle(&request, out) {
            Outcome::Reply(len) => Some(len),
            Outcome::ReplyAndPrefetch(len) => {
                if let Some(pool) = &self.services.pool {
                    pool.prefetch(query);
                }
                Some(len)
            }
            Outcome::Resolve => {
                let submitted = self.services.pool.as_ref().map(|pool| {
                    let waiter =
                        Waiter { query: query.to_vec(), peer, transport: Transport::Udp, listener: *listener, reply: ReplyTo::Udp(Arc::clone(socket)) };
                    pool.submit(waiter)
                });
                if let Err(reason) = submitted.unwrap_or(Err(DropReason::ResolverOverload)) {
                    self.engine.counters().dropped(reason);
                }
                None
            }
            // Dynamic updates are not taken on the AF_XDP path (README: over TCP they are).
            Outcome::Drop(_) | Outcome::Transfer | Outcome::Update => None,
        }
    }
}

/// The listener bound to `local`, or to the unspecified address of its family and port.
fn listener_for(listeners: &[Listener], local: SocketAddr) -> Option<&Listener> {
    let exact = listeners.iter().find(|(_, address, _)| *address == local);
    exact.or_else(|| {
        listeners.iter().find(|(_, address, _)| address.ip().is_unspecified() && address.port() == local.port() && address.is_ipv4() == local.is_ipv4())
    })
}
