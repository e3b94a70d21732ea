//! Dynamic update (RFC 2136), pure: the UPDATE message read into owned sections
//! ([`parse`]: the zone section, the prerequisites and the updates, checked as §3.1.1, §3.2 and
//! §3.4.1 ask, FORMERR or NOTZONE otherwise), the prerequisites evaluated against a zone
//! snapshot ([`prerequisite::check`], §3.2.5's rcodes), the per-zone update policy
//! ([`policy::UpdatePolicy`]: which TSIG key may change which names and types, as BIND's
//! `update-policy`), and the updates applied to a snapshot ([`apply::apply`], §3.4.2) giving
//! the difference (the journal's [`ZoneDiff`] of [`ZoneRecord`]s: old SOA, deleted records, new
//! SOA, added records).
//!
//! The pipeline (`engine/update.rs`) checks TSIG, the `update` ACL and the policy, then hands
//! the message to the server ([`crate::Outcome::Update`]): the server serialises the updates of
//! a zone, evaluates prerequisites and applies against its newest snapshot, makes the change
//! durable and only then answers ([`crate::Engine::update_reply`]).

pub mod apply;
pub mod parse;
pub mod policy;
pub mod prerequisite;

#[cfg(test)]
mod tests;

use portcullis_wire::{Class, NameBuf, Rtype};

pub use crate::auth::diff::ZoneDiff;
pub use crate::zonefile::ZoneRecord;
pub use apply::{apply, rebuild, Applied};
pub use parse::{parse, parse_bytes};
pub use policy::{Grant, GrantMatch, UpdatePolicy};

/// One prerequisite (RFC 2136 §2.4, §3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prerequisite {
    /// §2.4.4: at least one RR owned by the name (class ANY, type ANY).
    NameInUse(NameBuf),
    /// §2.4.5: no RR owned by the name (class NONE, type ANY).
    NameNotInUse(NameBuf),
    /// §2.4.1: an RRset of the type exists (class ANY).
    RrsetExists(NameBuf, Rtype),
    /// §2.4.3: no RRset of the type (class NONE).
    RrsetDoesNotExist(NameBuf, Rtype),
    /// §2.4.2: the RRset is exactly these rdatas (class of the zone; grouped by name and type).
    RrsetEquals(NameBuf, Rtype, Vec<Vec<u8>>),
}

/// One update record (RFC 2136 §2.5, §3.4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// §2.5.1: add the record (class of the zone).
    Add(ZoneRecord),
    /// §2.5.2: delete the RRset (class ANY, a type).
    DeleteRrset(NameBuf, Rtype),
    /// §2.5.3: delete every RRset of the name (class ANY, type ANY).
    DeleteName(NameBuf),
    /// §2.5.4: delete the record with this rdata (class NONE).
    DeleteRr(NameBuf, Rtype, Vec<u8>),
}

impl Change {
    /// The owner name the change is about.
    pub fn owner(&self) -> &NameBuf {
        match self {
            Self::Add(rr) => &rr.owner,
            Self::DeleteRrset(name, _) | Self::DeleteName(name) | Self::DeleteRr(name, _, _) => name,
        }
    }

    /// The type it changes (`ANY` for [`Change::DeleteName`]).
    pub fn rtype(&self) -> Rtype {
        match self {
            Self::Add(rr) => rr.rtype,
            Self::DeleteRrset(_, rtype) | Self::DeleteRr(_, rtype, _) => *rtype,
            Self::DeleteName(_) => Rtype::ANY,
        }
    }
}

/// An UPDATE message read into owned sections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateMessage {
    /// The zone section's name (the zone to update).
    pub zone: NameBuf,
    /// The zone section's class.
    pub class: Class,
    /// The prerequisite section, in order.
    pub prerequisites: Vec<Prerequisite>,
    /// The update section, in order.
    pub changes: Vec<Change>,
}
