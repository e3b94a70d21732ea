//! Catalog zones at run time (RFC 9432; the content is `portcullis_engine::auth::catalog`).
//!
//! Producer: each load or reload of a `catalog = "producer"` zone replaces what its file has under
//! `zones.` by one entry per `catalog-member` zone ([`Catalogs::produce`]); the serial stays the
//! same while the content does, and goes up by one when it changes (members added or removed),
//! remembered across restarts in `FILE.serial` beside the zone file, so that the NOTIFY sent for a
//! new serial reaches the secondaries.
//!
//! Consumer: the configuration as read is the *base*; the *effective* zone list is the base plus,
//! for each `catalog = "consumer"` zone, one secondary zone per member, with the catalog's
//! primaries, key and transfer bounds, its copy kept in the catalog's members directory
//! ([`Catalogs::effective`]). The members come from the catalog's kept copy at start
//! ([`Catalogs::load_kept`]), then from each copy of the catalog installed
//! ([`Catalogs::update`]); a member no longer listed loses its kept copy.

use crate::catalog_config::{CatalogRole, ZoneCatalog};
use crate::config::{Settings, ZoneSettings};
use crate::durable;
use portcullis_engine::auth::catalog::{self, Member, Produced};
use portcullis_engine::auth::zone_text::zone_text;
use portcullis_engine::auth::{Zone, ZoneSet};
use portcullis_wire::NameBuf;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Notices of one catalog logged at most (the rest are counted).
const NOTICES_LOGGED: usize = 20;

/// The catalogs' state, kept across reloads (in `Shared`).
#[derive(Default)]
pub struct Catalogs {
    /// The configuration as read, without members: what members are added to.
    base: Mutex<Option<Settings>>,
    /// The origins of its consumer catalog zones (asked at every copy installed).
    consumers: Mutex<HashSet<NameBuf>>,
    /// Per consumer catalog zone: the members in effect.
    members: Mutex<Vec<(NameBuf, Vec<Member>)>>,
    /// Per producer catalog zone: what was served last.
    produced: Mutex<Vec<(NameBuf, Produced)>>,
    /// Woken when a consumer catalog zone's copy may have changed, and after a reload.
    pub changed: tokio::sync::Notify,
    /// A reload set new base settings: the next wake applies the effective list even if no
    /// member changed (the reload may have raced with a change and applied an older list).
    reloaded: AtomicBool,
}

impl Catalogs {
    /// Keeps `settings` as the base and returns the effective settings (members added).
    pub fn set_base(&self, settings: Settings) -> Settings {
        let effective = self.effective(&settings);
        *lock(&self.consumers) = consumers(&settings).map(|zone| zone.origin).collect();
        *lock(&self.base) = Some(settings);
        self.reloaded.store(true, Ordering::Relaxed);
        effective
    }

    /// True once after each [`Catalogs::set_base`].
    pub fn take_reloaded(&self) -> bool {
        self.reloaded.swap(false, Ordering::Relaxed)
    }

    /// The base settings, once set.
    pub fn base(&self) -> Option<Settings> {
        lock(&self.base).clone()
    }

    /// True when `origin` is a consumer catalog zone of the base settings.
    pub fn is_consumer(&self, origin: &NameBuf) -> bool {
        lock(&self.consumers).contains(origin)
    }

    /// `base` with every consumer catalog's members added as secondary zones; a member whose
    /// name is already a zone (configured, or of another catalog) is left out (RFC 9432 §5.4).
    pub fn effective(&self, base: &Settings) -> Settings {
        let mut effective = base.clone();
        let mut origins: HashSet<NameBuf> = base.zones.iter().map(|zone| zone.origin).collect();
        let members = lock(&self.members);
        for catalog in consumers(base) {
            let Some((_, list)) = members.iter().find(|(origin, _)| *origin == catalog.origin) else { continue };
            for member in list {
                if !origins.insert(member.zone) {
                    tracing::warn!(catalog = %catalog.origin, member = %member.zone, "catalog member is already a zone of this server: ignored (RFC 9432 §5.4)");
                    continue;
                }
                effective.zones.push(member_zone(catalog, &member.zone));
            }
        }
        effective
    }

    /// Reads the kept copy of every consumer catalog zone of `base`, so that its members are
    /// served from the start (their copies are read by their own tasks).
    pub fn load_kept(&self, base: &Settings) {
        for zone in consumers(base).filter(|zone| zone.file.is_file()) {
            match crate::app::load_one(zone) {
                Ok(copy) => {
                    self.update(zone, &copy);
                }
                Err(error) => tracing::warn!(zone = %zone.origin, file = %zone.file.display(), %error, "catalog zone: the kept copy does not load"),
            }
        }
    }

    /// Takes the members of `copy`, the catalog zone `zone`'s copy now served: what changed. A
    /// catalog that is not processed (wrong version, broken, too many members) changes nothing,
    /// and says why in the log. Members dropped lose their kept copies, and so do members whose
    /// entry (unique id) changed: RFC 9432 §5.6 asks for their state to be reset. The catalog's
    /// copy is written first, so that a crash brings no removed member back.
    pub fn update(&self, zone: &ZoneSettings, copy: &Zone) -> Update {
        let mut members = lock(&self.members);
        let index = members.iter().position(|(origin, _)| *origin == zone.origin).unwrap_or_else(|| {
            members.push((zone.origin, Vec::new()));
            members.len() - 1
        });
        let previous = &members[index].1;
        let parsed = match catalog::parse(copy, zone.catalog.limits, previous) {
            Ok(parsed) => parsed,
            Err(error) => {
                tracing::error!(catalog = %zone.origin, serial = copy.serial().unwrap_or_default(), %error, "catalog zone not processed; its members stay as they were");
                return Update::default();
            }
        };
        for notice in parsed.notices.iter().take(NOTICES_LOGGED) {
            tracing::info!(catalog = %zone.origin, %notice, "catalog zone: record ignored");
        }
        if parsed.notices.len() > NOTICES_LOGGED {
            tracing::info!(catalog = %zone.origin, more = parsed.notices.len() - NOTICES_LOGGED, "catalog zone: more records ignored");
        }
        let pairs = |list: &[Member]| -> HashSet<(NameBuf, NameBuf)> { list.iter().map(|member| (member.zone, member.entry)).collect() };
        let (before, after) = (pairs(previous), pairs(&parsed.members));
        let zones_before: HashSet<NameBuf> = previous.iter().map(|member| member.zone).collect();
        let removed: Vec<Member> = previous.iter().filter(|old| !after.contains(&(old.zone, old.entry))).copied().collect();
        let added = parsed.members.iter().filter(|new| !before.contains(&(new.zone, new.entry))).count();
        let zones_after: HashSet<NameBuf> = parsed.members.iter().map(|member| member.zone).collect();
        if removed.is_empty() && added == 0 {
            return Update::default();
        }
        let mut update = Update { changed: true, reset: Vec::new() };
        if !removed.is_empty() {
            keep_copy(zone, copy);
        }
        for member in &removed {
            forget(zone, &member.zone);
            if zones_after.contains(&member.zone) {
                tracing::info!(catalog = %zone.origin, member = %member.zone, entry = %member.entry, "catalog member has a new unique id: its copy is dropped and transferred again (RFC 9432 §5.6)");
                update.reset.push(member.zone);
            } else {
                tracing::info!(catalog = %zone.origin, member = %member.zone, "catalog member removed: no longer served, its copy deleted");
            }
        }
        for member in parsed.members.iter().filter(|new| !zones_before.contains(&new.zone)) {
            tracing::info!(catalog = %zone.origin, member = %member.zone, "catalog member added");
        }
        tracing::info!(catalog = %zone.origin, serial = copy.serial().unwrap_or_default(), members = parsed.members.len(), added, removed = removed.len(), "catalog zone processed");
        members[index].1 = parsed.members;
        update
    }

    /// Deletes the files in every consumer catalog's members directory that are no member's
    /// kept copy or journal (left by a member removed while its copy was being written, say).
    pub fn remove_strays(&self, settings: &Settings) {
        let members = lock(&self.members);
        for catalog in consumers(settings) {
            let Some(dir) = ZoneCatalog::members_dir(&catalog.file) else { continue };
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            let list = members.iter().find(|(origin, _)| *origin == catalog.origin).map(|(_, list)| list.as_slice()).unwrap_or_default();
            let wanted: HashSet<String> = list.iter().map(|member| file_name(&member.zone)).collect();
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let copy = name.strip_suffix(".jnl").unwrap_or(&name);
                if copy.ends_with(".zone") && !name.starts_with('.') && !wanted.contains(copy) {
                    tracing::info!(catalog = %catalog.origin, file = %entry.path().display(), "catalog zone: deleting a copy of no member");
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }

    /// `zones` with every producer catalog zone given its members (see the module doc). One
    /// whose file lacks the version record is left out (its names get SERVFAIL) and logged.
    pub fn produce(&self, settings: &[ZoneSettings], zones: ZoneSet) -> ZoneSet {
        let producers: Vec<&ZoneSettings> = settings.iter().filter(|zone| zone.catalog.role == Some(CatalogRole::Producer)).collect();
        if producers.is_empty() {
            return zones;
        }
        let mut out: Vec<Arc<Zone>> = zones.iter().filter(|zone| !producers.iter().any(|p| p.origin == *zone.origin())).cloned().collect();
        for producer in producers {
            let Some(base) = zones.get(&producer.origin) else { continue };
            match self.produce_one(settings, producer, base) {
                Ok(zone) => out.push(Arc::new(zone)),
                Err(error) => tracing::error!(zone = %producer.origin, file = %producer.file.display(), %error, "catalog zone not served"),
            }
        }
        ZoneSet::new(out)
    }

    /// The catalog zone `producer` from `base` (its file's content) and its members.
    pub fn produce_one(&self, settings: &[ZoneSettings], producer: &ZoneSettings, base: &Zone) -> Result<Zone, String> {
        let mut members: Vec<NameBuf> = settings.iter().filter(|zone| zone.catalog.member_of == Some(producer.origin)).map(|zone| zone.origin).collect();
        members.sort_by(NameBuf::canonical_cmp);
        let file_serial = base.serial().unwrap_or_default();
        let draft = catalog::produce(base, &members, file_serial).map_err(|error| error.to_string())?;
        let digest = catalog::digest(&draft);
        let mut produced = lock(&self.produced);
        let last = produced.iter().find(|(origin, _)| *origin == producer.origin).map(|(_, last)| *last).or_else(|| read_state(&producer.file));
        let serial = catalog::next_serial(file_serial, digest, last);
        let zone = catalog::produce(base, &members, serial).map_err(|error| error.to_string())?;
        let now = Produced { serial, digest };
        if last != Some(now) {
            tracing::info!(zone = %producer.origin, serial, members = members.len(), "catalog zone produced");
            write_state(&producer.file, now);
        }
        produced.retain(|(origin, _)| *origin != producer.origin);
        produced.push((producer.origin, now));
        Ok(zone)
    }
}

/// What [`Catalogs::update`] changed.
#[derive(Debug, Default)]
pub struct Update {
    /// The members changed.
    pub changed: bool,
    /// Members listed under a new entry: their state is to be dropped and made again.
    pub reset: Vec<NameBuf>,
}

/// The consumer catalog zones of `settings`.
fn consumers(settings: &Settings) -> impl Iterator<Item = &ZoneSettings> {
    settings.zones.iter().filter(|zone| zone.catalog.role == Some(CatalogRole::Consumer))
}

/// The secondary zone of a member of `catalog`: its primaries, key and bounds, its copy kept in
/// the catalog's members directory.
fn member_zone(catalog: &ZoneSettings, member: &NameBuf) -> ZoneSettings {
    let file = ZoneCatalog::members_dir(&catalog.file).map(|dir| dir.join(file_name(member))).unwrap_or_default();
    // Its journal beside its copy (`FILE.jnl`, as any zone's); none without a copy.
    let journal = if file.as_os_str().is_empty() {
        PathBuf::new()
    } else {
        let mut name = file.clone().into_os_string();
        name.push(".jnl");
        PathBuf::from(name)
    };
    ZoneSettings {
        origin: *member,
        file,
        notify: Vec::new(),
        primaries: catalog.primaries.clone(),
        key: catalog.key,
        transfer: catalog.transfer,
        signing: None,
        catalog: ZoneCatalog::default(),
        journal,
        journal_limits: catalog.journal_limits,
        update: crate::update_config::ZoneUpdate::DEFAULT,
    }
}

/// A member's file name: its lower-cased name with every octet but letters, digits, `-` and `_`
/// of a label escaped as `%XX` (a name from a catalog may hold `/`), then `zone`; a name too long
/// for a file name is its unique id instead.
pub fn file_name(member: &NameBuf) -> String {
    let mut out = String::new();
    for label in member.to_lowercase().labels() {
        for &byte in label {
            match byte {
                b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => out.push(byte as char),
                _ => out.push_str(&format!("%{byte:02x}")),
            }
        }
        out.push('.');
    }
    if member.is_root() {
        out.push_str("root.");
    }
    if out.len() > 200 {
        out = format!("{}.", catalog::unique_id(member));
    }
    out.push_str("zone");
    out
}

/// Writes the catalog `zone`'s `copy` to its file before its removed members' copies are
/// deleted (the secondary task writes it too, a moment later): a crash in between must not bring
/// a removed member back at the next start.
fn keep_copy(zone: &ZoneSettings, copy: &Zone) {
    if zone.file.as_os_str().is_empty() {
        return;
    }
    if let Err(error) = durable::write_file(&zone.file, zone_text(copy).as_bytes()) {
        tracing::warn!(zone = %zone.origin, file = %zone.file.display(), %error, "catalog zone: cannot keep the copy");
    }
}

/// Deletes the kept copy of `member` of the catalog `zone`, and its journal (a member added
/// again later starts from a fresh transfer, never from an old journal).
fn forget(zone: &ZoneSettings, member: &NameBuf) {
    let Some(dir) = ZoneCatalog::members_dir(&zone.file) else { return };
    let copy = dir.join(file_name(member));
    let journal = dir.join(format!("{}.jnl", file_name(member)));
    for path in [copy, journal] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(member = %member, file = %path.display(), %error, "catalog member: cannot delete its kept copy"),
        }
    }
}

/// Creates the members directory of every consumer catalog of `settings`.
pub fn create_member_dirs(settings: &Settings) {
    for zone in consumers(settings) {
        if let Some(dir) = ZoneCatalog::members_dir(&zone.file) {
            if let Err(error) = std::fs::create_dir_all(&dir) {
                tracing::warn!(zone = %zone.origin, dir = %dir.display(), %error, "catalog zone: cannot create the members directory; members are kept in memory only");
            }
        }
    }
}

/// Where a producer keeps its last serial and digest: `FILE.serial`.
fn state_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".serial");
    PathBuf::from(name)
}

fn read_state(file: &Path) -> Option<Produced> {
    let text = std::fs::read_to_string(state_path(file)).ok()?;
    let mut words = text.split_whitespace();
    let serial = words.next()?.parse().ok()?;
    let digest = u64::from_str_radix(words.next()?, 16).ok()?;
    Some(Produced { serial, digest })
}

fn write_state(file: &Path, produced: Produced) {
    let path = state_path(file);
    if let Err(error) = durable::write_file(&path, format!("{} {:016x}\n", produced.serial, produced.digest).as_bytes()) {
        tracing::warn!(file = %path.display(), %error, "catalog zone: cannot keep its serial; a restart may serve an older one");
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_file_names_are_safe() {
        let name = |text: &str| NameBuf::from_text(text, None).unwrap();
        assert_eq!(file_name(&name("Example.COM.")), "example.com.zone");
        assert_eq!(file_name(&name("a\\/b.\\..x.")), "a%2fb.%2e.x.zone");
        assert_eq!(file_name(&NameBuf::ROOT), "root.zone");
        let long = format!("{}.", ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61)].join("."));
        let long = NameBuf::from_text(&long.replace('a', "/"), None).unwrap();
        assert_eq!(file_name(&long), format!("{}.zone", catalog::unique_id(&long)));
    }
}
