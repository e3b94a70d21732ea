//! A zone's update policy: which TSIG key may change which names and types, as BIND's
//! `update-policy` grant rules. Every record of the update section must be granted by the first
//! rule that matches its signer, name and type; a `deny` rule that matches first, or no rule at
//! all, refuses the whole update (REFUSED, nothing applied). A zone without a policy leaves the
//! decision to the `update` ACL alone (BIND's `allow-update`).

use super::Change;
use portcullis_wire::{NameBuf, Rtype};

/// How a rule's name matches the owner of an update record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantMatch {
    /// The owner is the rule's name.
    Name,
    /// The owner is the rule's name or below it.
    Subdomain,
    /// The rule's name is a wildcard `*.parent.`: the owner is strictly below `parent.`.
    Wildcard,
    /// The owner is anywhere in the zone (the rule's name is unused).
    Zonesub,
    /// The owner is the signing key's name.
    OwnKeyName,
}

/// One rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// True for a `grant` rule, false for `deny`.
    pub allow: bool,
    /// The TSIG key the rule is about.
    pub key: NameBuf,
    /// How `name` matches.
    pub matching: GrantMatch,
    /// The name matched against (the zone's origin for [`GrantMatch::Zonesub`]).
    pub name: NameBuf,
    /// The types the rule covers; empty: every type but SOA, NS, RRSIG, NSEC and NSEC3 (BIND).
    pub types: Vec<Rtype>,
}

/// The rules of one zone, first match wins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdatePolicy {
    /// The rules in order.
    pub grants: Vec<Grant>,
}

impl UpdatePolicy {
    /// True when a request signed with `key` (none: unsigned) may make every one of `changes`
    /// in `zone`.
    pub fn allows(&self, key: Option<&NameBuf>, zone: &NameBuf, changes: &[Change]) -> bool {
        let Some(key) = key else { return false };
        changes.iter().all(|change| self.allows_one(key, zone, change.owner(), change.rtype()))
    }

    /// The first rule for `key`, `owner` and `rtype` decides; none: denied.
    fn allows_one(&self, key: &NameBuf, zone: &NameBuf, owner: &NameBuf, rtype: Rtype) -> bool {
        self.grants.iter().find(|grant| grant.key == *key && grant.matches_name(key, zone, owner) && grant.covers(rtype)).is_some_and(|grant| grant.allow)
    }
}

impl Grant {
    fn matches_name(&self, key: &NameBuf, zone: &NameBuf, owner: &NameBuf) -> bool {
        match self.matching {
            GrantMatch::Name => owner == &self.name,
            GrantMatch::Subdomain => owner.is_subdomain_of(&self.name),
            GrantMatch::Wildcard => self.name.parent().is_some_and(|parent| owner != &parent && owner.is_subdomain_of(&parent)),
            GrantMatch::Zonesub => owner.is_subdomain_of(zone),
            GrantMatch::OwnKeyName => owner == key,
        }
    }

    /// `ANY` (a delete of a whole name) is covered only when every type is listed as `ANY`.
    fn covers(&self, rtype: Rtype) -> bool {
        if self.types.is_empty() {
            return !matches!(rtype, Rtype::SOA | Rtype::NS | Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3);
        }
        self.types.iter().any(|t| *t == rtype || *t == Rtype::ANY)
    }
}
