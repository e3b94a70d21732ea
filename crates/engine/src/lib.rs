//! DNS behaviour of portcullis: zones, authoritative answers, policy. Deterministic: no I/O, no clock.

pub mod zonefile;
