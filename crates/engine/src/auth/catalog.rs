//! Catalog zones (RFC 9432, schema version "2"), sans-IO: what a consumer reads from a catalog
//! zone ([`parse`]) and what a producer adds to one ([`produce`]).
//!
//! A catalog lists its member zones as `<unique-id>.zones.CATALOG. PTR member.` (§4.2), under a
//! `version.CATALOG. TXT "2"` record (§4.1). A consumer processes a catalog only when that record
//! says "2" and nothing makes it broken (§4.1: more than one version record; §4.2, §4.3.1: more
//! than one PTR at a member or its `coo`); then every other record it does not know is ignored,
//! with a [`Notice`] for the log (§4.4: `group` and `ext` properties included). A member listed
//! twice keeps one entry, the one already in use if any (§5.4: a clash keeps the existing zone).
//! The number of members is bounded ([`CatalogLimits`]): a catalog past it is not processed,
//! rather than cut at an arbitrary member.
//!
//! A producer's unique id is a hash of the member's name, as Knot's (SipHash-2-4 with a zero key
//! over the lower-cased wire name, 16 hex digits) without Knot's membership time: the same
//! member always gets the same id, across restarts and reloads, with no state to keep.

use super::transfer::serial_greater;
use super::zone::{RecordData, Zone};
use portcullis_wire::{NameBuf, Rtype};
use siphasher::sip::SipHasher24;
use std::fmt;
use std::hash::Hasher;

/// The one schema version understood (RFC 9432 §4.1).
pub const VERSION: &[u8] = b"2";
/// TTL of the records a producer adds (RFC 9432 §4: TTLs of a catalog carry no meaning).
const MEMBER_TTL: u32 = 0;

/// Bounds on what a consumer accepts from a catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogLimits {
    /// Most member zones; a catalog with more is not processed.
    pub max_members: usize,
}

impl CatalogLimits {
    /// 10 000 members.
    pub const DEFAULT: Self = Self { max_members: 10_000 };
}

impl Default for CatalogLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One member zone of a catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// The member zone's name (the PTR's target).
    pub zone: NameBuf,
    /// Its entry's owner, `<unique-id>.zones.CATALOG.` (RFC 9432 §4.2).
    pub entry: NameBuf,
}

/// Why a catalog is not processed (RFC 9432 §4.1, §4.2, §4.3.1): the consumer keeps what it had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogError {
    /// No `version` TXT record.
    NoVersion,
    /// A `version` other than "2" (or more than one record, or more than one string).
    UnsupportedVersion(String),
    /// More than one PTR record at a member's entry or its `coo` property.
    Broken(Box<NameBuf>),
    /// More members than [`CatalogLimits::max_members`].
    TooManyMembers(usize),
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoVersion => f.write_str("no version TXT record (RFC 9432 §4.1): not a catalog zone, not processed"),
            Self::UnsupportedVersion(found) => write!(f, "catalog schema version {found} is not supported (only \"2\"): not processed"),
            Self::Broken(owner) => write!(f, "broken catalog: more than one PTR record at {owner} (RFC 9432 §4.2): not processed"),
            Self::TooManyMembers(limit) => write!(f, "more than {limit} member zones (catalog-max-members): not processed"),
        }
    }
}

impl std::error::Error for CatalogError {}

/// A record of a processed catalog that was ignored, and why: for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Its owner.
    pub owner: NameBuf,
    /// What was ignored.
    pub what: &'static str,
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.owner, self.what)
    }
}

/// A processed catalog: its members in canonical order of their entries, and what was ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    /// The member zones.
    pub members: Vec<Member>,
    /// Records ignored.
    pub notices: Vec<Notice>,
}

/// Reads the members of the catalog zone `zone`. `previous` are the members in use: when a
/// zone is listed twice, its entry among them is kept (RFC 9432 §5.4).
pub fn parse(zone: &Zone, limits: CatalogLimits, previous: &[Member]) -> Result<Catalog, CatalogError> {
    let origin = zone.origin().to_lowercase();
    let zones = child(&origin, b"zones");
    let version = child(&origin, b"version");
    check_version(zone, &origin)?;
    let mut catalog = Catalog::default();
    let mut candidates = Vec::new();
    for node in zone.nodes() {
        let owner = zone.node_name(node);
        let rrsets = zone.rrsets(node);
        if rrsets.is_empty() || owner == origin || Some(owner) == version {
            continue;
        }
        let depth = zones.as_ref().and_then(|zones| owner.is_subdomain_of(zones).then(|| owner.label_count() - zones.label_count()));
        match depth {
            Some(1) => {
                for rrset in rrsets {
                    if rrset.rtype != Rtype::PTR {
                        catalog.notices.push(Notice { owner, what: "not a PTR record at a member entry: ignored" });
                    } else if rrset.len() > 1 {
                        return Err(CatalogError::Broken(Box::new(owner)));
                    } else {
                        candidates.push((owner, zone.first_rdata(&rrset)));
                    }
                }
            }
            Some(depth) if depth > 1 => property(zone, node, owner, depth, &mut catalog.notices)?,
            _ => catalog.notices.push(Notice { owner, what: "outside version and zones: ignored" }),
        }
    }
    catalog.members = members(&origin, candidates, limits, previous, &mut catalog.notices)?;
    Ok(catalog)
}

/// The `version` record: exactly one TXT with exactly one string, "2".
fn check_version(zone: &Zone, origin: &NameBuf) -> Result<(), CatalogError> {
    let version = child(origin, b"version").and_then(|name| zone.node(&name)).and_then(|node| zone.rrset(node, Rtype::TXT));
    let Some(version) = version else { return Err(CatalogError::NoVersion) };
    let rdata = zone.first_rdata(&version);
    let single = rdata.first().is_some_and(|&len| usize::from(len) + 1 == rdata.len());
    if version.len() == 1 && single && &rdata[1..] == VERSION {
        return Ok(());
    }
    let shown =
        if version.len() > 1 { format!("({} records)", version.len()) } else { format!("{:?}", String::from_utf8_lossy(rdata.get(1..).unwrap_or_default())) };
    Err(CatalogError::UnsupportedVersion(shown))
}

/// A name below a member entry: a property (RFC 9432 §4.3). `coo` is checked (one PTR) and
/// otherwise ignored, like `group` and custom (`ext`) properties; deeper names are ignored.
fn property(zone: &Zone, node: &super::zone::Node, owner: NameBuf, depth: usize, notices: &mut Vec<Notice>) -> Result<(), CatalogError> {
    let label = owner.labels().next().unwrap_or_default().to_ascii_lowercase();
    let what = match (depth, label.as_slice()) {
        (2, b"coo") => {
            if zone.rrset(node, Rtype::PTR).is_some_and(|ptr| ptr.len() > 1) {
                return Err(CatalogError::Broken(Box::new(owner)));
            }
            "change-of-ownership property: ignored (no migration between catalogs)"
        }
        (2, b"group") => "group property: ignored (every member is served the same way)",
        (_, _) if owner.labels().any(|label| label.eq_ignore_ascii_case(b"ext")) => "custom property: ignored",
        _ => "unknown property: ignored",
    };
    notices.push(Notice { owner, what });
    Ok(())
}

/// The member entries found, checked: a PTR rdata that is a name, not the catalog or below it,
/// each zone once (the entry in `previous`, else the first in canonical order), at most
/// `limits.max_members`. Sorting, not hashing, finds the duplicates: a hostile catalog cannot
/// make it slower than O(n log n).
fn members(
    origin: &NameBuf,
    found: Vec<(NameBuf, &[u8])>,
    limits: CatalogLimits,
    previous: &[Member],
    notices: &mut Vec<Notice>,
) -> Result<Vec<Member>, CatalogError> {
    let mut listed: Vec<Member> = Vec::with_capacity(found.len());
    for (entry, rdata) in found {
        match NameBuf::from_wire(rdata) {
            Err(_) => notices.push(Notice { owner: entry, what: "member PTR rdata is not a name: ignored" }),
            Ok(zone) if zone.is_subdomain_of(origin) => notices.push(Notice { owner: entry, what: "member zone at or below the catalog zone itself: ignored" }),
            Ok(zone) => listed.push(Member { zone: zone.to_lowercase(), entry }),
        }
    }
    let by_zone = |a: &Member, b: &Member| a.zone.canonical_cmp(&b.zone).then_with(|| a.entry.canonical_cmp(&b.entry));
    listed.sort_by(by_zone);
    let mut in_use: Vec<Member> = previous.to_vec();
    in_use.sort_by(by_zone);
    let mut members: Vec<Member> = Vec::new();
    for group in listed.chunk_by(|a, b| a.zone == b.zone) {
        let kept = group.iter().position(|member| in_use.binary_search_by(|old| by_zone(old, member)).is_ok()).unwrap_or(0);
        for (_, member) in group.iter().enumerate().filter(|(index, _)| *index != kept) {
            notices.push(Notice { owner: member.entry, what: "member zone listed twice: this entry ignored (RFC 9432 §5.4)" });
        }
        if members.len() == limits.max_members {
            return Err(CatalogError::TooManyMembers(limits.max_members));
        }
        members.push(group[kept]);
    }
    members.sort_by(|a, b| a.entry.canonical_cmp(&b.entry));
    Ok(members)
}

/// `label.parent`, or `None` when too long.
fn child(parent: &NameBuf, label: &[u8]) -> Option<NameBuf> {
    let mut wire = Vec::with_capacity(1 + label.len() + parent.len());
    wire.push(label.len() as u8);
    wire.extend_from_slice(label);
    wire.extend_from_slice(parent.as_wire());
    NameBuf::from_wire(&wire).ok()
}

/// A member's unique id: SipHash-2-4 (zero key) of its lower-cased wire name, as 16 hex digits.
pub fn unique_id(member: &NameBuf) -> String {
    let mut hasher = SipHasher24::new_with_keys(0, 0);
    hasher.write(member.to_lowercase().as_wire());
    hasher.finish().to_le_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A member's entry in `catalog`: `<unique-id>.zones.<catalog>`; `None` when that is too long.
pub fn entry(member: &NameBuf, catalog: &NameBuf) -> Option<NameBuf> {
    child(&child(catalog, b"zones")?, unique_id(member).as_bytes())
}

/// Why a producer's catalog cannot be built from its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProduceError {
    /// The file lacks the `version` TXT "2" record (or has another version).
    Version(CatalogError),
    /// A member's entry would be longer than a name may be.
    NameTooLong(Box<NameBuf>),
}

impl fmt::Display for ProduceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Version(error) => write!(f, "the catalog zone's file needs its version.CATALOG. TXT \"2\" record: {error}"),
            Self::NameTooLong(member) => write!(f, "member {member}: its entry <id>.zones.CATALOG. is longer than 255 octets"),
        }
    }
}

impl std::error::Error for ProduceError {}

/// The catalog zone of a producer: `base` (from its file: SOA, NS, `version`) with anything it
/// has under `zones.` replaced by one PTR per member of `members`, and the SOA serial `serial`.
pub fn produce(base: &Zone, members: &[NameBuf], serial: u32) -> Result<Zone, ProduceError> {
    let origin = base.origin().to_lowercase();
    check_version(base, &origin).map_err(ProduceError::Version)?;
    let zones = child(&origin, b"zones");
    let mut owned: Vec<(NameBuf, Rtype, u32, Vec<u8>)> = Vec::new();
    for node in base.nodes() {
        let owner = base.node_name(node);
        if zones.as_ref().is_some_and(|zones| owner.is_subdomain_of(zones)) {
            continue;
        }
        for rrset in base.rrsets(node) {
            for rdata in base.rdatas(&rrset) {
                let mut rdata = rdata.to_vec();
                if rrset.rtype == Rtype::SOA && rdata.len() >= 20 {
                    let at = rdata.len() - 20;
                    rdata[at..at + 4].copy_from_slice(&serial.to_be_bytes());
                }
                owned.push((owner, rrset.rtype, rrset.ttl, rdata));
            }
        }
    }
    for member in members {
        let entry = entry(member, &origin).ok_or_else(|| ProduceError::NameTooLong(Box::new(*member)))?;
        owned.push((entry, Rtype::PTR, MEMBER_TTL, member.to_lowercase().as_wire().to_vec()));
    }
    let records = owned.iter().map(|(owner, rtype, ttl, rdata)| RecordData { owner, rtype: *rtype, ttl: *ttl, rdata });
    Ok(Zone::build(base.origin(), base.class(), records))
}

/// What a producer remembers of the catalog it served last: its serial and a digest of its
/// content (every record but the SOA serial), so that a restart or reload serves the same serial
/// for the same content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Produced {
    /// The serial served.
    pub serial: u32,
    /// [`digest`] of the content.
    pub digest: u64,
}

/// The serial for a catalog whose file has `file_serial` and whose content digests to `digest`:
/// the last one when the content did not change (or the file's, when the operator raised it),
/// else one more than the last, or the file's when that is greater (RFC 1982 arithmetic).
pub fn next_serial(file_serial: u32, digest: u64, last: Option<Produced>) -> u32 {
    let Some(last) = last else { return file_serial };
    let next = if last.digest == digest { last.serial } else { last.serial.wrapping_add(1) };
    if serial_greater(file_serial, next) {
        file_serial
    } else {
        next
    }
}

/// A digest of a zone's content without its SOA serial, stable across runs and record order.
pub fn digest(zone: &Zone) -> u64 {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for node in zone.nodes() {
        let owner = zone.node_name(node).to_lowercase();
        for rrset in zone.rrsets(node) {
            for rdata in zone.rdatas(&rrset) {
                let mut line = owner.as_wire().to_vec();
                line.extend_from_slice(&rrset.rtype.0.to_be_bytes());
                line.extend_from_slice(&rrset.ttl.to_be_bytes());
                let keep = if rrset.rtype == Rtype::SOA && rdata.len() >= 20 { &rdata[..rdata.len() - 20] } else { rdata };
                line.extend_from_slice(keep);
                if rrset.rtype == Rtype::SOA && rdata.len() >= 20 {
                    line.extend_from_slice(&rdata[rdata.len() - 16..]);
                }
                lines.push(line);
            }
        }
    }
    lines.sort();
    let mut hasher = SipHasher24::new_with_keys(0, 0);
    for line in &lines {
        hasher.write(&(line.len() as u32).to_be_bytes());
        hasher.write(line);
    }
    hasher.finish()
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
