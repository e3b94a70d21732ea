//! The RFC 1034 §4.3.2 descent through one zone: where a name lands, as a value.
//!
//! Walks from the apex towards the name one label at a time, stopping at the first zone cut
//! (RFC 1034 §4.3.2 step 3b), DNAME (RFC 6672 §3.2) or missing label, where a wildcard may match
//! (RFC 4592 §3.3.1: the source of synthesis is `*.` + the closest encloser). Nothing allocates.

use super::zone::{Node, Zone};
use portcullis_wire::{NameBuf, Rtype};

/// Where a name lands in a zone. None of these is an error.
#[derive(Clone, Copy, Debug)]
pub enum Found<'z> {
    /// The name exists (possibly as an empty non-terminal).
    Node(&'z Node),
    /// The name does not exist; this wildcard node synthesises it.
    Wildcard(&'z Node),
    /// The name is at or below a zone cut; the node holds the delegation's NS.
    Delegation(&'z Node),
    /// A proper ancestor owns a DNAME.
    Dname(&'z Node),
    /// The name does not exist and no wildcard applies; the node is its closest encloser (RFC
    /// 5155 §7.2.1, for the denial proofs), `None` only for a name outside the zone.
    NxDomain(Option<&'z Node>),
}

/// Descends `zone` towards `qname` (any case; it must be at or below the apex).
pub fn find<'z>(zone: &'z Zone, qname: &NameBuf, qtype: Rtype) -> Found<'z> {
    let wire = qname.as_wire();
    // Fast path: an existing name with no cut or DNAME above it is settled by one lookup.
    if let Some(node) = zone.node_wire(wire) {
        if !node.below_cut_or_dname() {
            let is_apex = wire.len() == zone.origin().len();
            if !is_apex && zone.rrset(node, Rtype::NS).is_some() && qtype != Rtype::DS {
                return Found::Delegation(node);
            }
            return Found::Node(node);
        }
    }
    let total = qname.label_count();
    let apex_labels = zone.origin().label_count();
    let mut encloser = None;
    for depth in apex_labels..=total {
        let Some(offset) = qname.suffix_offset(total - depth) else { return Found::NxDomain(encloser) };
        // The apex is the first node; only the names below it need the table.
        let found = if depth == apex_labels { zone.apex() } else { zone.node_wire(&wire[offset..]) };
        let Some(node) = found else {
            return encloser.map_or(Found::NxDomain(None), |ce| wildcard_at(zone, ce));
        };
        let is_apex = depth == apex_labels;
        let is_target = depth == total;
        if !is_apex && zone.rrset(node, Rtype::NS).is_some() && !(is_target && qtype == Rtype::DS) {
            return Found::Delegation(node);
        }
        if !is_target && zone.rrset(node, Rtype::DNAME).is_some() {
            return Found::Dname(node);
        }
        if is_target {
            return Found::Node(node);
        }
        encloser = Some(node);
    }
    Found::NxDomain(encloser)
}

/// The wildcard below the closest encloser `encloser`, if any (RFC 4592 §3.3.1).
fn wildcard_at<'z>(zone: &'z Zone, encloser: &'z Node) -> Found<'z> {
    if !encloser.has_wildcard_child() {
        return Found::NxDomain(Some(encloser));
    }
    let name = zone.node_name(encloser);
    match name.wildcard_child().and_then(|wildcard| zone.node(&wildcard)) {
        Some(node) => Found::Wildcard(node),
        None => Found::NxDomain(Some(encloser)),
    }
}
