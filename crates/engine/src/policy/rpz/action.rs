//! What a policy zone's trigger says to do (BIND 9.18 ARM "Response Policy Zones"): a CNAME to
//! `.` is NXDOMAIN, to `*.` NODATA, to `rpz-passthru.` PASSTHRU, to `rpz-drop.` DROP, to
//! `rpz-tcp-only.` TCP-only; any other records are local data (a CNAME to another name rewrites
//! the answer to that name; a target `*.suffix` is the query name with `suffix` appended).

use crate::auth::zone::Node;
use crate::auth::Zone;
use portcullis_wire::{NameBuf, Rtype};

/// The action of a trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Answer NXDOMAIN (`CNAME .`).
    Nxdomain,
    /// Answer NOERROR with no data (`CNAME *.`).
    Nodata,
    /// Answer as if there were no policy, and stop looking at later zones (`CNAME rpz-passthru.`).
    Passthru,
    /// Send nothing (`CNAME rpz-drop.`).
    Drop,
    /// Over UDP, an empty answer with TC=1 so the client asks again over TCP; over TCP, PASSTHRU
    /// (`CNAME rpz-tcp-only.`).
    TcpOnly,
    /// Answer with the trigger's own records (owner rewritten to the query name).
    LocalData,
}

impl Action {
    /// Every action, in counter order.
    pub const ALL: [Self; 6] = [Self::Nxdomain, Self::Nodata, Self::Passthru, Self::Drop, Self::TcpOnly, Self::LocalData];

    /// The label of the counters and the log: `nxdomain`, `nodata`, `passthru`, `drop`,
    /// `tcp-only`, `local-data`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Nxdomain => "nxdomain",
            Self::Nodata => "nodata",
            Self::Passthru => "passthru",
            Self::Drop => "drop",
            Self::TcpOnly => "tcp-only",
            Self::LocalData => "local-data",
        }
    }
}

/// The special CNAME targets and their actions.
const SPECIAL: [(&[u8], Action); 5] = [
    (b"\x00", Action::Nxdomain),
    (b"\x01*\x00", Action::Nodata),
    (b"\x0crpz-passthru\x00", Action::Passthru),
    (b"\x08rpz-drop\x00", Action::Drop),
    (b"\x0crpz-tcp-only\x00", Action::TcpOnly),
];

/// The action of the trigger at `node`; an error when its records make no sense as a policy (a
/// CNAME beside other data).
pub fn of(zone: &Zone, node: &Node) -> Result<Action, &'static str> {
    let Some(cname) = zone.rrset(node, Rtype::CNAME) else { return Ok(Action::LocalData) };
    let others = zone.rrsets(node).filter(|rrset| !matches!(rrset.rtype, Rtype::CNAME | Rtype::RRSIG | Rtype::NSEC)).count();
    if others != 0 {
        return Err("a CNAME policy record must be alone at its name");
    }
    let target = zone.first_rdata(&cname);
    let special = SPECIAL.iter().find(|(wire, _)| wire.eq_ignore_ascii_case(target)).map(|&(_, action)| action);
    Ok(special.unwrap_or(Action::LocalData))
}

/// The target of a local-data CNAME for `qname`: `*.suffix` becomes `qname` + `suffix`;
/// `None` when that is longer than a name may be.
pub fn cname_target(target: &NameBuf, qname: &NameBuf) -> Option<NameBuf> {
    if !target.is_wildcard() {
        return Some(*target);
    }
    let suffix = target.parent()?;
    let head = qname.as_wire().get(..qname.len().checked_sub(1)?)?;
    let mut wire = head.to_vec();
    wire.extend_from_slice(suffix.as_wire());
    NameBuf::from_wire(&wire).ok()
}
