//! The journal of one zone: every change (a reload that changed a primary zone, a dynamic
//! update, an IXFR received) appended as a [`ZoneDiff`] to a file, so that IXFR can answer from
//! it (RFC 1995) and a restart can replay changes the zone file does not hold yet.
//!
//! The file is [`codec::MAGIC`] and entries framed by [`codec::frame`] (length, body, check).
//!
//! - **Crash safety.** [`Journal::append`] returns only after the entry is written and
//!   `fsync`ed (the file created, its directory `fsync`ed too): a caller serves or acknowledges
//!   a change only after that. [`Journal::open`] reads every entry, and cuts the file at the
//!   first one that is not whole and good (a torn tail, from a crash during an append) or that
//!   does not follow the one before (serials out of sequence), logging what it cut.
//! - **Size.** Over its [`JournalLimits::max_bytes`] (`[[zone]] max-journal-size`), the oldest
//!   entries are dropped (the file rewritten through [`crate::durable::write_file`]), while more
//!   than [`JournalLimits::min_changes`] remain, and only entries the zone's file (or kept copy)
//!   already holds: [`Journal::set_durable`] says up to which serial that is. A change the file
//!   does not hold is never dropped.
//!
//! The engine never sees this file: [`Journal::history`] is what a zone snapshot carries
//! (`Zone::with_history`) for IXFR answers.

pub mod zones;

use crate::durable;
use portcullis_engine::auth::diff::codec::{self, decode, encode, read_entry, Entry, MAGIC};
use portcullis_engine::auth::diff::{History, ZoneDiff};
use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How large a journal may grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalLimits {
    /// Octets of the file before the oldest entries are dropped (`max-journal-size`).
    pub max_bytes: u64,
    /// Entries kept whatever their size.
    pub min_changes: usize,
}

impl JournalLimits {
    /// 16 MiB, and at least the last 100 changes: the bound when `max-journal-size` is not set.
    pub const DEFAULT: Self = Self { max_bytes: 16 << 20, min_changes: 100 };

    /// A configured `max-journal-size`: a bound on the file, except for the newest change and
    /// changes the zone's file does not hold yet.
    pub fn sized(max_bytes: u64) -> Self {
        Self { max_bytes, min_changes: 1 }
    }
}

impl Default for JournalLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A zone's journal file, and its entries (encoded) in memory.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    limits: JournalLimits,
    history: History,
    /// The newest serial the zone's file (or kept copy) holds: entries up to it may be dropped.
    durable: Option<u32>,
    /// Octets of the file (0 while it does not exist).
    size: u64,
}

impl Journal {
    /// Opens the journal at `path` (none there yet is an empty journal; the file is made by the
    /// first append) and returns its differences, oldest first. A torn or damaged tail, or
    /// entries out of sequence, are cut off the file (and logged). An error when the file
    /// cannot be read, or is not a journal.
    pub fn open(path: &Path, limits: JournalLimits) -> io::Result<(Self, Vec<ZoneDiff>)> {
        let mut journal = Self { path: path.to_path_buf(), limits, history: History::new(), durable: None, size: 0 };
        let mut bytes = Vec::new();
        match File::open(path) {
            Ok(mut file) => file.read_to_end(&mut bytes)?,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok((journal, Vec::new())),
            Err(error) => return Err(error),
        };
        if bytes.len() < MAGIC.len() {
            // A crash while the file was made: nothing was ever appended.
            std::fs::remove_file(path)?;
            return Ok((journal, Vec::new()));
        }
        if bytes[..MAGIC.len()] != MAGIC[..] {
            return Err(io::Error::new(ErrorKind::InvalidData, format!("{} is not a portcullis journal", path.display())));
        }
        let body = &bytes[MAGIC.len()..];
        let (diffs, good, cut) = journal.read_entries(body);
        journal.size = (MAGIC.len() + good) as u64;
        if let Some(reason) = cut {
            tracing::warn!(journal = %path.display(), kept = diffs.len(), cut_bytes = body.len() - good, %reason, "journal: cutting a torn or damaged tail");
            let file = OpenOptions::new().write(true).open(path)?;
            file.set_len(journal.size)?;
            file.sync_all()?;
        }
        Ok((journal, diffs))
    }

    /// Appends `diff` and returns once it is on disk (`fsync`); then drops the oldest entries
    /// when the journal is over its size. An error leaves the journal as it was (the caller
    /// must not serve the change).
    pub fn append(&mut self, diff: &ZoneDiff) -> io::Result<()> {
        let body: Arc<[u8]> = encode(diff).into();
        let mut history = self.history.clone();
        history.push_encoded(diff.old_serial(), diff.new_serial(), body.clone()).map_err(|e| io::Error::new(ErrorKind::InvalidInput, e.0))?;
        let framed = codec::frame(&body);
        let created = self.size == 0;
        if let Some(parent) = self.path.parent().filter(|parent| created && !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        let mut bytes = if created { MAGIC.to_vec() } else { Vec::new() };
        bytes.extend_from_slice(&framed);
        if let Err(error) = file.write_all(&bytes).and_then(|()| file.sync_data()) {
            // Nothing half-written stays behind (and if this fails too, open cuts it).
            let _ = file.set_len(self.size);
            return Err(error);
        }
        if created {
            durable::sync_directory(&self.path)?;
        }
        self.size += bytes.len() as u64;
        self.history = history;
        self.compact()
    }

    /// The differences from `serial` to the newest, `None` when the journal does not reach back
    /// to `serial`.
    #[allow(dead_code)] // the API dynamic update reads its journal with
    pub fn since(&self, serial: u32) -> Option<Vec<ZoneDiff>> {
        self.history.since(serial).and_then(Result::ok)
    }

    /// The entries, as a zone snapshot carries them (`Zone::with_history`).
    pub fn history(&self) -> History {
        self.history.clone()
    }

    /// The serial the newest entry ends at.
    pub fn last_serial(&self) -> Option<u32> {
        self.history.last_serial()
    }

    /// Says that the zone's file (or kept copy) now holds version `serial`: entries up to it
    /// may be dropped when the journal is over its size.
    pub fn set_durable(&mut self, serial: u32) -> io::Result<()> {
        self.durable = Some(serial);
        self.compact()
    }

    /// Empties the journal (its file removed): the history no longer leads to the zone served
    /// (a zone file changed while the server was down, a serial that went back).
    pub fn clear(&mut self) -> io::Result<()> {
        self.history = History::new();
        self.size = 0;
        match std::fs::remove_file(&self.path) {
            Err(error) if error.kind() != ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Octets of the file.
    #[allow(dead_code)] // tests
    pub fn size(&self) -> u64 {
        self.size
    }

    /// True when over the size with nothing that may be dropped: the zone's file should be
    /// written (then [`Journal::set_durable`]).
    pub fn wants_flush(&self) -> bool {
        self.size > self.limits.max_bytes && self.droppable() == 0
    }

    /// Reads the entries of `body` (the file after [`MAGIC`]): the good differences, the octets
    /// they take, and why the rest was cut (when it was).
    fn read_entries(&mut self, body: &[u8]) -> (Vec<ZoneDiff>, usize, Option<String>) {
        let mut diffs = Vec::new();
        let mut pos = 0;
        loop {
            let (entry, next) = match read_entry(body, pos) {
                Entry::End => return (diffs, pos, None),
                Entry::Torn(reason) => return (diffs, pos, Some(reason)),
                Entry::Good(entry, next) => (entry, next),
            };
            let diff = match decode(entry) {
                Ok(diff) => diff,
                Err(error) => return (diffs, pos, Some(format!("an entry that does not decode: {error}"))),
            };
            if let Err(error) = self.history.push_encoded(diff.old_serial(), diff.new_serial(), entry.into()) {
                return (diffs, pos, Some(error.0));
            }
            diffs.push(diff);
            pos = next;
        }
    }

    /// How many of the oldest entries may be dropped: those the zone's file holds, leaving at
    /// least `min_changes`.
    fn droppable(&self) -> usize {
        let Some(durable) = self.durable else { return 0 };
        let Some(held) = self.history.serials().position(|(_, new)| new == durable) else { return 0 };
        (held + 1).min(self.history.len().saturating_sub(self.limits.min_changes))
    }

    /// Drops the oldest entries while over the size (the file rewritten durably).
    fn compact(&mut self) -> io::Result<()> {
        if self.size <= self.limits.max_bytes {
            return Ok(());
        }
        let mut history = self.history.clone();
        let mut size = self.size;
        for _ in 0..self.droppable() {
            if size <= self.limits.max_bytes {
                break;
            }
            size -= history.oldest_bytes().map_or(0, |bytes| (bytes + codec::FRAME_OVERHEAD) as u64);
            history.drop_oldest();
        }
        if history.len() == self.history.len() {
            return Ok(());
        }
        let mut bytes = MAGIC.to_vec();
        for body in history.bodies() {
            bytes.extend_from_slice(&codec::frame(body));
        }
        durable::write_file(&self.path, &bytes)?;
        tracing::info!(journal = %self.path.display(), dropped = self.history.len() - history.len(), kept = history.len(), bytes = bytes.len(), "journal: oldest differences dropped");
        self.size = bytes.len() as u64;
        self.history = history;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
