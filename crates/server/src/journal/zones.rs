//! [`Journals`]: the open journal of every zone that has one, and the three things done with
//! them: a zone loaded at start gets its journal replayed over it ([`Journals::replay`]), a zone
//! that changed gets the change appended before it is served ([`Journals::record`]), and the
//! zone served carries the journal's history for IXFR. Every recorded change also passes the
//! shadowing detector's watch ([`crate::shadow_zones`]), when there is one.

use super::Journal;
use crate::config::ZoneSettings;
use crate::shadow_zones::ZoneWatch;
use portcullis_engine::auth::diff::{apply, diff, ZoneDiff};
use portcullis_engine::auth::transfer::serial_greater;
use portcullis_engine::auth::Zone;
use portcullis_wire::NameBuf;
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

/// A change the journal could not record: why, and the new version (without history).
#[derive(Debug)]
pub struct Unrecorded {
    /// The journal's error.
    pub error: io::Error,
    /// The new version, which the caller must not acknowledge as a recorded change.
    pub zone: Box<Zone>,
}

/// The journals of the zones, opened on first use.
#[derive(Debug, Default)]
pub struct Journals {
    open: Mutex<HashMap<NameBuf, Journal>>,
    /// The watch every recorded change passes (names added in bulk).
    watch: Option<Arc<ZoneWatch>>,
}

impl Journals {
    /// Journals whose recorded changes pass `watch` first.
    pub fn watched(watch: Arc<ZoneWatch>) -> Self {
        Self { open: Mutex::default(), watch: Some(watch) }
    }

    /// The watch, if any.
    pub fn watch(&self) -> Option<&ZoneWatch> {
        self.watch.as_deref()
    }

    /// Runs `f` on `zone`'s journal, opened (at its `journal` path, with its limits) on first
    /// use; `None` for a zone without a journal (the embedded zone). An error when the journal
    /// cannot be opened.
    pub fn with<R>(&self, zone: &ZoneSettings, f: impl FnOnce(&mut Journal) -> R) -> io::Result<Option<R>> {
        if zone.journal.as_os_str().is_empty() {
            return Ok(None);
        }
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.get(&zone.origin).is_none_or(|journal| journal.path() != zone.journal) {
            let (journal, _) = Journal::open(&zone.journal, zone.journal_limits)?;
            open.insert(zone.origin, journal);
        }
        let Some(journal) = open.get_mut(&zone.origin) else { return Ok(None) };
        Ok(Some(f(journal)))
    }

    /// Forgets the journals of zones not in `zones` (their files stay).
    pub fn retain(&self, zones: &[ZoneSettings]) {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).retain(|origin, _| zones.iter().any(|zone| zone.origin == *origin));
    }

    /// The zone to serve at start from `loaded` (its file's, or a secondary's kept copy): the
    /// journal's changes the file does not hold yet applied over it, with the journal's history.
    /// A journal that does not lead on from the file (the file changed while the server was
    /// down, or is older than the journal reaches) is cleared, and the file served as it is.
    pub fn replay(&self, zone: &ZoneSettings, loaded: Zone) -> Zone {
        if zone.journal.as_os_str().is_empty() {
            return loaded;
        }
        let opened = Journal::open(&zone.journal, zone.journal_limits);
        let (mut journal, diffs) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                tracing::error!(zone = %zone.origin, journal = %zone.journal.display(), %error, "journal: cannot be read; the zone is served from its file, without a journal");
                return loaded;
            }
        };
        let served = replayed(zone, &mut journal, &diffs, loaded);
        self.open.lock().unwrap_or_else(PoisonError::into_inner).insert(zone.origin, journal);
        served
    }

    /// Records that `zone` went from `old` to `new` (a reload, a transfer in): the difference
    /// appended to its journal (`fsync`ed) and `new` returned with the journal's history, to be
    /// served only now. `durable` says the zone's file already holds `new` (a reload from it).
    /// A new version whose serial is not greater cannot be a step of the history: the journal
    /// is cleared (and logged). An error ([`Unrecorded`]) when the journal cannot be written,
    /// with `new` given back without history: the caller must not acknowledge it as a recorded
    /// change.
    pub fn record(&self, zone: &ZoneSettings, old: &Zone, new: Zone, durable: bool) -> Result<Zone, Unrecorded> {
        let (Some(old_serial), Some(new_serial)) = (old.serial(), new.serial()) else { return Ok(new) };
        if old_serial == new_serial {
            // Same version: the history still leads to it (unless its content changed without a
            // serial change, which no secondary could follow either).
            let history = old.history().clone();
            return Ok(new.with_history(history));
        }
        let Some(change) = diff(old, &new) else { return Ok(new) };
        self.record_diffs(zone, std::slice::from_ref(&change), new, durable)
    }

    /// [`Journals::record`] for differences already known (an IXFR received), in order.
    pub fn record_diffs(&self, zone: &ZoneSettings, diffs: &[ZoneDiff], new: Zone, durable: bool) -> Result<Zone, Unrecorded> {
        let origin = zone.origin;
        if let Some(watch) = &self.watch {
            watch.changed(zone, diffs, &new);
        }
        let recorded = self.with(zone, |journal| {
            for change in diffs {
                let follows = journal.last_serial().is_none_or(|last| last == change.old_serial());
                if !follows || !serial_greater(change.new_serial(), change.old_serial()) {
                    tracing::warn!(zone = %origin, journal = %journal.path().display(), from = change.old_serial(), to = change.new_serial(), last = ?journal.last_serial(), "journal: the new version does not follow the journal; it is cleared (secondaries get the whole zone)");
                    journal.clear()?;
                    if !serial_greater(change.new_serial(), change.old_serial()) {
                        return Ok(journal.history());
                    }
                }
                journal.append(change)?;
            }
            if let (true, Some(last)) = (durable, diffs.last()) {
                journal.set_durable(last.new_serial())?;
            }
            Ok::<_, io::Error>(journal.history())
        });
        match recorded {
            Ok(Some(Ok(history))) => Ok(new.with_history(history)),
            Ok(None) => Ok(new),
            Ok(Some(Err(error))) | Err(error) => Err(Unrecorded { error, zone: Box::new(new) }),
        }
    }

    /// Says that the zone's file (or kept copy) now holds `serial`.
    pub fn set_durable(&self, zone: &ZoneSettings, serial: u32) {
        if let Err(error) = self.with(zone, |journal| journal.set_durable(serial)).and_then(|done| done.transpose()) {
            tracing::warn!(zone = %zone.origin, %error, "journal: cannot drop old differences");
        }
    }

    /// True when the zone's journal is over its size with nothing it may drop: its file (or
    /// kept copy) should be written.
    pub fn wants_flush(&self, zone: &ZoneSettings) -> bool {
        self.with(zone, |journal| journal.wants_flush()).ok().flatten().unwrap_or(false)
    }
}

/// The replay of [`Journals::replay`].
fn replayed(zone: &ZoneSettings, journal: &mut Journal, diffs: &[ZoneDiff], loaded: Zone) -> Zone {
    let (origin, path) = (zone.origin, zone.journal.display());
    let (Some(file_serial), Some(last)) = (loaded.serial(), journal.last_serial()) else { return loaded };
    if file_serial == last {
        tracing::info!(zone = %origin, journal = %path, serial = last, changes = diffs.len(), "journal: the zone file is up to date with its journal");
        return loaded.with_history(journal.history());
    }
    let Some(start) = diffs.iter().position(|change| change.old_serial() == file_serial) else {
        tracing::warn!(zone = %origin, journal = %path, file_serial, journal_ends_at = last, "journal: the zone file's serial is not one the journal leads on from (the file was changed while the server was down?); the journal is cleared and the file served");
        clear(journal, zone);
        return loaded;
    };
    match apply(&loaded, &diffs[start..]) {
        Ok(replayed) => {
            tracing::info!(zone = %origin, journal = %path, from = file_serial, to = last, changes = diffs.len() - start, "journal: changes the zone file does not hold yet replayed over it");
            journal.set_durable(file_serial).ok();
            replayed.with_history(journal.history())
        }
        Err(error) => {
            tracing::error!(zone = %origin, journal = %path, %error, "journal: its changes do not apply to the zone file; the journal is cleared and the file served");
            clear(journal, zone);
            loaded
        }
    }
}

fn clear(journal: &mut Journal, zone: &ZoneSettings) {
    if let Err(error) = journal.clear() {
        tracing::error!(zone = %zone.origin, journal = %zone.journal.display(), %error, "journal: cannot be removed");
    }
}
