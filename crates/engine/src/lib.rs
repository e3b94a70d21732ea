//! DNS behaviour of portcullis: zones, authoritative answers, policy. Deterministic: no I/O, no
//! clock, no global state.
//!
//! - [`base`]: the shared vocabulary ([`base::Instant`], [`Transport`], [`base::Random`],
//!   [`base::Prefix`], [`base::Limit`], the hashers); it depends on no other module.
//! - [`engine`]: the query pipeline ([`Engine::handle`]), with [`reply`], [`request`],
//!   [`settings`], [`policy`] and [`metrics`].
//! - [`auth`]: zone snapshots and the authoritative answer.
//! - [`zonefile`]: the master-file parser and zone checks.
//! - [`cache`], [`resolve`]: the resolver's cache and the sans-IO iterative resolver; the engine
//!   answers cache hits itself and hands misses to the I/O layer's pool ([`Outcome::Resolve`]).

pub mod auth;
pub mod base;
pub mod cache;
pub mod engine;
#[doc(hidden)]
pub mod fuzz;
pub mod load;
pub mod metrics;
pub mod policy;
pub mod reply;
pub mod request;
pub mod resolve;
pub mod settings;
pub mod zonefile;

pub use base::Transport;
pub use engine::{Engine, EngineSettings, Recursion};
pub use request::{recursion_key, DropReason, Outcome, RecursionKey, Request};
