//! [`ZoneSet`]: every zone a server holds; finds the closest enclosing zone of a name.

use super::zone::Zone;
use portcullis_wire::NameBuf;
use std::sync::Arc;

/// The zones served, as one immutable set (swapped whole on reload).
#[derive(Debug, Default, Clone)]
pub struct ZoneSet {
    zones: Vec<Arc<Zone>>,
}

impl ZoneSet {
    /// A set of zones; later duplicates of an origin replace earlier ones.
    pub fn new(zones: Vec<Arc<Zone>>) -> Self {
        let mut set = Self { zones: Vec::new() };
        for zone in zones {
            set.zones.retain(|z| z.origin() != zone.origin());
            set.zones.push(zone);
        }
        set.zones.sort_by_key(|z| std::cmp::Reverse(z.origin().label_count()));
        set
    }

    /// The zone with the longest origin that encloses `qname`.
    pub fn closest(&self, qname: &NameBuf) -> Option<&Zone> {
        self.closest_wire(qname.as_wire())
    }

    /// The same for an uncompressed wire name in any case, not copied into a `NameBuf`.
    pub fn closest_wire(&self, wire: &[u8]) -> Option<&Zone> {
        self.zones.iter().find(|zone| portcullis_wire::name::is_subdomain_wire(wire, zone.origin().as_wire())).map(|z| z.as_ref())
    }

    /// The zone with exactly this origin.
    pub fn get(&self, origin: &NameBuf) -> Option<&Arc<Zone>> {
        self.zones.iter().find(|zone| zone.origin() == origin)
    }

    /// All zones.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.zones.iter()
    }

    /// Number of zones.
    pub fn len(&self) -> usize {
        self.zones.len()
    }

    /// True when no zone is served.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }
}
