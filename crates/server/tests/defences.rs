//! The defences of issue 6, proven on loopback against a running `portcullis serve`: response
//! rate limiting under a real flood (our own paced UDP sender and dnsperf), access control from
//! several loopback source addresses (127.0.0.1, 127.0.0.2, 127.0.0.3 are all local on Linux),
//! DNS cookies with `dig` and `kdig` and raw wire, and the amplification limits
//! (`nocookie-udp-size`, reflection ports, QR=1, minimal ANY). SECURITY-REFERENCE §6.6 rows 62-65
//! are named where they are covered.
//!
//! Every server gets its own port and configuration file (harness `Server`), runs one UDP worker
//! (so datagrams are handled in arrival order: a dropped query is proven by the reply to a later
//! control query) and is stopped on drop. Every loop is bounded in count and time.
//!
//! Helpers of the `it` binary are reused through `#[path]` (not edited); what had to differ
//! (source-address binding, raw options, floods) lives in `defences/support.rs`.

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

#[path = "defences/support.rs"]
mod support;

#[path = "defences/acl.rs"]
mod acl;
#[path = "defences/amplification.rs"]
mod amplification;
#[path = "defences/cookies.rs"]
mod cookies;
#[path = "defences/query_limit.rs"]
mod query_limit;
#[path = "defences/rrl.rs"]
mod rrl;
