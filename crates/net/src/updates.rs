//! Dynamic updates (RFC 2136) handed on: the engine decides that an UPDATE may be applied
//! ([`portcullis_engine::Outcome::Update`]) but cannot apply it (that needs the journal's
//! fsync and the zone swap), so every listener hands the request and where its reply goes to
//! the server's [`UpdateService`], which answers later with
//! [`portcullis_engine::Engine::update_reply`] through [`deliver`].

use crate::resolver_pool::{ReplyTo, Waiter};
use std::sync::Arc;

/// The server's side of dynamic update: takes each UPDATE the engine let through. It must not
/// block (the caller may be a UDP worker): queue and return.
pub trait UpdateService: Send + Sync + std::fmt::Debug {
    /// Takes one update; its reply goes to `waiter.reply`.
    fn submit(&self, waiter: Waiter);
}

/// The update service as the listeners hold it.
pub type Updates = Arc<dyn UpdateService>;

/// Sends `reply` to the waiting client (UDP: from the socket the update came in on; TCP: into
/// the connection's reply queue). False when it could not be sent.
pub async fn deliver(waiter: &Waiter, reply: &[u8]) -> bool {
    match &waiter.reply {
        ReplyTo::Udp(socket) => socket.send_to(reply, waiter.peer).is_ok(),
        ReplyTo::Tcp(sender, _permit) => sender.send(reply.to_vec()).await.is_ok(),
    }
}
