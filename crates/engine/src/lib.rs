//! DNS behaviour of portcullis: zones, authoritative answers, policy. Deterministic: no I/O, no
//! clock, no global state.
//!
//! Four groups of modules, each using only itself and the ones before it (ARCHITECTURE.md,
//! "Engine modules"; checked by `server/tests/layers.rs`):
//!
//! - base: [`base`], the shared vocabulary ([`base::Instant`], [`Transport`], [`base::Random`],
//!   [`base::Prefix`], [`base::Limit`], the hashers).
//! - zones: [`zonefile`] (the master-file parser and zone checks), [`load`], [`auth`] (zone
//!   snapshots, the authoritative answer, transfers).
//! - resolver: [`cache`], [`resolve`] (the sans-IO iterative resolver and forwarder); the engine
//!   answers cache hits itself and hands misses to the I/O layer's pool ([`Outcome::Resolve`]).
//! - pipeline: [`engine`] (the query pipeline, [`Engine::handle`]), [`reply`], [`request`],
//!   [`settings`], [`policy`], [`metrics`].

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
pub use engine::{Engine, EngineSettings, Recursion, ReplyCache};
pub use request::{recursion_key, DropReason, Outcome, RecursionKey, Request};
