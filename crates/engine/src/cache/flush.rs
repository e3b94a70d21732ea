//! The operator's flush (`portcullis ctl flush NAME [--below]`): every entry at a name, or at a
//! name and every name below it, whatever its type, class or rank. It visits every entry of every
//! shard, one shard locked at a time, so it is for commands, never for the query path.

use super::{lock, Cache};
use portcullis_wire::NameBuf;

impl Cache {
    /// Removes every entry owned by `name` (and, with `below`, by the names under it); returns
    /// how many. Names compare without case.
    pub fn remove_name(&self, name: &NameBuf, below: bool) -> usize {
        let target = name.to_lowercase();
        let target = target.as_wire();
        self.shards.iter().map(|shard| lock(shard).remove_owners(|owner| owns(owner, target, below))).sum()
    }
}

/// True when the lower-cased wire name `owner` is `target`, or with `below` a name under it
/// (`target` a suffix of `owner` starting at one of its labels).
fn owns(owner: &[u8], target: &[u8], below: bool) -> bool {
    if !below {
        return owner == target;
    }
    let mut at = 0;
    // A wire name has at most 128 labels (root included).
    for _ in 0..=128 {
        match owner.get(at..) {
            Some(rest) if rest == target => return true,
            Some([len, ..]) if *len != 0 => at += usize::from(*len) + 1,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::owns;
    use crate::base::Instant;
    use crate::cache::Rrset;
    use crate::cache::{Cache, CacheSettings, Trust};
    use portcullis_wire::{Class, NameBuf, Rtype};

    fn name(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap_or(NameBuf::ROOT)
    }

    #[test]
    fn a_name_or_its_subtree_is_matched_on_label_boundaries() {
        let wire = |text: &str| name(text).as_wire().to_vec();
        assert!(owns(&wire("example.com."), &wire("example.com."), false));
        assert!(!owns(&wire("www.example.com."), &wire("example.com."), false));
        assert!(owns(&wire("www.example.com."), &wire("example.com."), true));
        assert!(!owns(&wire("www.badexample.com."), &wire("example.com."), true));
        assert!(owns(&wire("anything.org."), &wire("."), true));
    }

    #[test]
    fn flush_removes_every_type_at_a_name_or_below_it_and_nothing_else() {
        let cache = Cache::new(CacheSettings::DEFAULT);
        let rrset = |owner: &str, rtype: Rtype, rdata: &[u8]| Rrset {
            owner: name(owner),
            rtype,
            class: Class::IN,
            ttl: 300,
            rdatas: vec![rdata.to_vec()],
            sigs: Vec::new(),
        };
        for owner in ["example.com.", "www.example.com.", "a.b.example.com.", "example.org."] {
            cache.insert_rrset(&rrset(owner, Rtype::A, &[192, 0, 2, 1]), Trust::Answer, Instant::ZERO);
            cache.insert_rrset(&rrset(owner, Rtype::AAAA, &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), Trust::Answer, Instant::ZERO);
        }
        assert_eq!(cache.len(), 8);
        assert_eq!(cache.remove_name(&name("WWW.Example.COM."), false), 2);
        assert_eq!(cache.len(), 6);
        assert_eq!(cache.remove_name(&name("example.com."), true), 4);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&name("example.org."), Rtype::A, Class::IN, Instant::ZERO, false).is_some());
        assert_eq!(cache.remove_name(&name("nothing.test."), true), 0);
    }
}
