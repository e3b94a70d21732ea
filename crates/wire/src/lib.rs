//! The DNS wire codec of portcullis.
//!
//! - [`name`]: domain names ([`NameBuf`], inline, no heap) and decompression (RFC 1035, RFC 9267).
//! - [`types`]: record types, classes, rcodes, opcodes.
//! - [`rdata`]: record data in presentation format, both directions, for every type (RFC 3597
//!   generic form for the rest).
//!
//! Invariant: parsing never panics on any input, and the query path never allocates.
#![cfg_attr(not(test), warn(missing_docs))]

mod compress;
pub mod error;
pub mod name;
pub mod rdata;
pub mod tsig;
pub mod types;

pub use error::{ParseError, ParseErrorKind, WriteError};
pub use name::NameBuf;
pub use types::{Class, Opcode, Rcode, Rtype};
pub mod edns;
pub mod header;
pub mod message;
pub mod writer;
