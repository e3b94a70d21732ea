//! Authoritative serving: zone snapshots ([`zone`]), the descent ([`lookup`]), the answer
//! ([`answer`]) and the set of zones a server holds ([`zones`]).

pub mod answer;
pub mod catalog;
pub mod diff;
pub mod lookup;
mod names;
pub mod notify;
mod proof;
pub mod receive;
pub mod receive_ixfr;
pub mod signed;
pub mod transfer;
pub mod update;
pub mod warm;
pub mod zone;
pub mod zone_text;
pub mod zonemd;
pub mod zones;

pub use answer::{write_answer, write_answer_traced, AnswerKind, AnswerOptions};
pub use zone::Zone;
pub use zones::ZoneSet;
