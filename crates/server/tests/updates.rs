//! Dynamic update (RFC 2136, issue 18 item 4) against a running `portcullis serve`: BIND's
//! `nsupdate` and Knot's `knsupdate` with TSIG (adds, deletes, each prerequisite rcode, bad key,
//! bad signature, a denied address, the update policy, serials, answers at once, the response's
//! TSIG checked by the tool), nothing lost across SIGKILLs (our own signed updates, a seeded
//! random kill moment, every acknowledged change present after each restart and the zone file
//! passing `portcullis check-zone`), a zone signed by policy signed again, and secondaries
//! (portcullis, Knot) that follow by NOTIFY.
//!
//! Helpers of the `it` binary are reused through `#[path]` (not edited). Every wait is bounded.

#![allow(dead_code)]

#[path = "it/client.rs"]
mod client;
#[path = "it/harness.rs"]
mod harness;
#[path = "it/peers.rs"]
mod peers;
#[path = "it/portcullis.rs"]
mod portcullis;
#[path = "it/queries.rs"]
mod queries;

#[path = "updates/support.rs"]
mod support;

#[path = "updates/durability.rs"]
mod durability;
#[path = "updates/secondary.rs"]
mod secondary;
#[path = "updates/signed.rs"]
mod signed;
#[path = "updates/tools.rs"]
mod tools;
