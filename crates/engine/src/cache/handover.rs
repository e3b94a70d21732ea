//! The cache handed from one process to the next on an upgrade without downtime (issue 17
//! item 5): a versioned, checked byte stream of every live entry with the TTL it has left, written
//! by [`Export`] and read by [`Import`]. Sans-IO: the caller moves the bytes and gives `now`.
//!
//! ```text
//! stream := MAGIC (16 bytes) | version u16 | frame* | end frame
//! frame  := tag u8 | len u32 | payload | check u64
//! ```
//! `check` is SipHash-1-3 (a fixed key: it detects damage, not forgery; the stream runs over a
//! private socket between two processes of the same user) over tag, len and payload. Tag 1 is one
//! entry (`handover_record.rs`), tag 3 one NSEC/NSEC3 RRset of the RFC 8198 index (after every
//! entry), tag 2 the end (payload: the entry count, u64). Each frame is loaded as soon as it is
//! complete and checked, so a stream cut short, damaged, of another [`FORMAT_VERSION`] or
//! malformed stops the import with an [`ImportError`] and leaves the cache with what was loaded
//! so far — never a panic, never a guess.
//!
//! What is kept: positive RRsets with their RRSIGs and a wildcard expansion's proofs; NXDOMAIN
//! and NODATA entries with their SOA, its RRSIGs and the NSEC/NSEC3 proofs; each with its
//! credibility ([`Trust`]), validation status ([`Security`]: a bogus entry stays bogus, at most
//! [`BOGUS_TTL`]) and EDE code; the proven NSEC/NSEC3 ranges of the RFC 8198 index, with their
//! zone's SOA. What is not: expired entries (serve-stale data), the RFC 9520 failure
//! hold-downs, the validator's key cache and the failed-signature fingerprints.
//!
//! Bounds: the importer honours its own cache's settings: TTLs are cut to its `max_ttl`
//! (`max_negative_ttl` for negative entries), RRsets over `max_rrs_per_rrset` are refused, and an
//! entry whose shard is full is skipped (no eviction: the import never pushes out what it
//! loaded). The exporter locks one shard at a time for at most [`EXPORT_BATCH`] slots, so
//! answering goes on while it runs.

use super::entry::{Entry, EntryKind};
use super::handover_record::{self as record, Record};
use super::key::Owner;
use super::{lock, Cache, InsertOutcome, Rrset, Security, BOGUS_TTL, NXDOMAIN_TYPE};
use crate::base::Instant;
use portcullis_wire::{NameBuf, Rtype};
use std::hash::Hasher;

/// The stream's first bytes.
pub const MAGIC: [u8; 16] = *b"portcullis-cache";
/// The format written and the only one read; another version is refused as a whole.
pub const FORMAT_VERSION: u16 = 1;
/// Largest frame payload (an entry too large is not exported).
pub const MAX_FRAME: usize = 1 << 20;
/// Slots read per shard lock by [`Export::next_chunk`].
pub const EXPORT_BATCH: usize = 512;

const TAG_ENTRY: u8 = 1;
const TAG_END: u8 = 2;
/// A kept NSEC/NSEC3 RRset of the RFC 8198 index (after every entry).
const TAG_NSEC: u8 = 3;
const HEADER_LEN: usize = MAGIC.len() + 2;

/// Why an import stopped before the end of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportError {
    /// The stream does not start with [`MAGIC`].
    NotACacheStream,
    /// Written in another format version (an upgrade across a format change).
    Version(u16),
    /// A frame's check does not match its bytes.
    Checksum,
    /// A frame or entry is not well formed.
    Malformed(&'static str),
    /// The stream ended before its end frame.
    Truncated,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotACacheStream => write!(f, "not a cache handover stream"),
            Self::Version(version) => write!(f, "cache handover format {version}, this binary reads {FORMAT_VERSION}"),
            Self::Checksum => write!(f, "a damaged frame (checksum mismatch)"),
            Self::Malformed(why) => write!(f, "malformed: {why}"),
            Self::Truncated => write!(f, "the stream ended before its end"),
        }
    }
}

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportStats {
    /// Entries stored.
    pub loaded: u64,
    /// Entries whose TTL ran out meanwhile.
    pub expired: u64,
    /// Entries skipped because their shard was full.
    pub full: u64,
    /// Entries refused by this cache's limits or kept data.
    pub refused: u64,
    /// NSEC/NSEC3 RRsets put in the RFC 8198 index.
    pub nsec: u64,
    /// The entry count the end frame announced, once read.
    pub announced: Option<u64>,
}

/// Writes the cache as a handover stream, one chunk per call.
pub struct Export<'a> {
    cache: &'a Cache,
    started: bool,
    shard: usize,
    slot: usize,
    written: u64,
    /// The NSEC index's copy, once every shard is written.
    nsec: Option<std::vec::IntoIter<(NameBuf, Rrset, Rrset, Instant)>>,
    finished: bool,
}

impl Cache {
    /// An exporter of this cache ([`Export::next_chunk`]).
    pub fn export(&self) -> Export<'_> {
        Export { cache: self, started: false, shard: 0, slot: 0, written: 0, nsec: None, finished: false }
    }
}

impl Export<'_> {
    /// Appends the next chunk to `out` (the header first, then the live entries of up to
    /// [`EXPORT_BATCH`] slots of one shard, at last the end frame), with the TTLs left at `now`.
    /// False once everything was written.
    pub fn next_chunk(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        if self.finished {
            return false;
        }
        if !self.started {
            self.started = true;
            out.extend_from_slice(&MAGIC);
            out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
            return true;
        }
        let Some(shard) = self.cache.shards.get(self.shard) else {
            return self.next_nsec_chunk(now, out);
        };
        let shard = lock(shard);
        let end = (self.slot + EXPORT_BATCH).min(shard.slots());
        for slot in self.slot..end {
            let Some(entry) = shard.entry(slot as u32) else { continue };
            if frame(out, TAG_ENTRY, |payload| record::write(entry, now, payload)) {
                self.written += 1;
            }
        }
        (self.shard, self.slot) = if end >= shard.slots() { (self.shard + 1, 0) } else { (self.shard, end) };
        true
    }

    /// Entries written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Up to [`EXPORT_BATCH`] kept NSEC/NSEC3 RRsets (the index copied once, under its lock),
    /// then the end frame.
    fn next_nsec_chunk(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        let nsec = self.nsec.get_or_insert_with(|| self.cache.nsec.snapshot().into_iter());
        let mut batch = nsec.by_ref().take(EXPORT_BATCH).peekable();
        if batch.peek().is_none() {
            let written = self.written.to_be_bytes();
            frame(out, TAG_END, |payload| {
                payload.extend_from_slice(&written);
                true
            });
            self.finished = true;
            return true;
        }
        for kept in batch {
            frame(out, TAG_NSEC, |payload| record::write_nsec(&kept, now, payload));
        }
        true
    }
}

/// Appends one frame whose payload `fill` writes; false (nothing appended) when `fill` says
/// so or the payload is over [`MAX_FRAME`].
fn frame(out: &mut Vec<u8>, tag: u8, fill: impl FnOnce(&mut Vec<u8>) -> bool) -> bool {
    let start = out.len();
    out.push(tag);
    out.extend_from_slice(&[0; 4]);
    if !fill(out) || out.len() - start - 5 > MAX_FRAME {
        out.truncate(start);
        return false;
    }
    let len = (out.len() - start - 5) as u32;
    out[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
    let check = checksum(&out[start..]);
    out.extend_from_slice(&check.to_be_bytes());
    true
}

fn checksum(bytes: &[u8]) -> u64 {
    let mut hasher = siphasher::sip::SipHasher13::new_with_keys(0x7063_6163_6865_0001, 0x6861_6e64_6f76_6572);
    hasher.write(bytes);
    hasher.finish()
}

/// Reads a handover stream into a cache as its bytes arrive ([`Import::feed`]).
#[derive(Debug, Default)]
pub struct Import {
    pending: Vec<u8>,
    header_read: bool,
    stats: ImportStats,
    error: Option<ImportError>,
}

impl Import {
    /// A new import.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes in `bytes` (any split of the stream), storing into `cache` each entry completed,
    /// with its TTL counted from `now`. After an error nothing more is read and the error is
    /// returned again.
    pub fn feed(&mut self, cache: &Cache, bytes: &[u8], now: Instant) -> Result<(), ImportError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        if self.is_done() {
            return Err(ImportError::Malformed("bytes after the end frame"));
        }
        self.pending.extend_from_slice(bytes);
        let result = self.drain(cache, now);
        if let Err(error) = &result {
            self.error = Some(error.clone());
            self.pending = Vec::new();
        }
        result
    }

    /// True once the end frame was read.
    pub fn is_done(&self) -> bool {
        self.stats.announced.is_some()
    }

    /// What was done so far.
    pub fn stats(&self) -> ImportStats {
        self.stats
    }

    /// The outcome at the end of the input: the stats, or why the stream was incomplete.
    pub fn finish(&self) -> Result<ImportStats, ImportError> {
        match (&self.error, self.is_done()) {
            (Some(error), _) => Err(error.clone()),
            (None, true) => Ok(self.stats),
            (None, false) => Err(ImportError::Truncated),
        }
    }

    fn drain(&mut self, cache: &Cache, now: Instant) -> Result<(), ImportError> {
        let mut at = 0;
        if !self.header_read {
            if self.pending.len() < HEADER_LEN {
                return check_magic_prefix(&self.pending);
            }
            check_magic_prefix(&self.pending)?;
            let version = u16::from_be_bytes([self.pending[MAGIC.len()], self.pending[MAGIC.len() + 1]]);
            if version != FORMAT_VERSION {
                return Err(ImportError::Version(version));
            }
            (self.header_read, at) = (true, HEADER_LEN);
        }
        while let Some((tag, payload, next)) = next_frame(&self.pending, at)? {
            match tag {
                TAG_ENTRY => {
                    let record = record::read(payload).map_err(ImportError::Malformed)?;
                    cache.import_record(record, now, &mut self.stats);
                }
                TAG_NSEC => {
                    let record = record::read_nsec(payload).map_err(ImportError::Malformed)?;
                    cache.import_nsec(record, now, &mut self.stats);
                }
                TAG_END => {
                    let count = <[u8; 8]>::try_from(payload).map_err(|_| ImportError::Malformed("an end frame of the wrong size"))?;
                    self.stats.announced = Some(u64::from_be_bytes(count));
                    if next != self.pending.len() {
                        return Err(ImportError::Malformed("bytes after the end frame"));
                    }
                }
                _ => return Err(ImportError::Malformed("an unknown frame tag")),
            }
            at = next;
        }
        self.pending.drain(..at);
        Ok(())
    }
}

/// An error when `bytes` cannot be the start of [`MAGIC`].
fn check_magic_prefix(bytes: &[u8]) -> Result<(), ImportError> {
    let len = bytes.len().min(MAGIC.len());
    if bytes[..len] != MAGIC[..len] {
        return Err(ImportError::NotACacheStream);
    }
    Ok(())
}

/// One checked frame: its tag, its payload, and the offset after it.
type Frame<'a> = (u8, &'a [u8], usize);

/// The complete frame at `at` of `bytes`, checked; `None` when it is not all there yet.
fn next_frame(bytes: &[u8], at: usize) -> Result<Option<Frame<'_>>, ImportError> {
    let Some(head) = bytes.get(at..at + 5) else { return Ok(None) };
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        return Err(ImportError::Malformed("a frame over the size limit"));
    }
    let end = at + 5 + len;
    let Some(check) = bytes.get(end..end + 8) else { return Ok(None) };
    let check = u64::from_be_bytes([check[0], check[1], check[2], check[3], check[4], check[5], check[6], check[7]]);
    if checksum(&bytes[at..end]) != check {
        return Err(ImportError::Checksum);
    }
    Ok(Some((head[0], &bytes[at + 5..end], end + 8)))
}

/// Reads a whole stream into `cache`: the stats, or the error with the stats up to it.
pub fn import_all(cache: &Cache, bytes: &[u8], now: Instant) -> Result<ImportStats, (ImportStats, ImportError)> {
    let mut import = Import::new();
    let _ = import.feed(cache, bytes, now);
    import.finish().map_err(|error| (import.stats(), error))
}

impl Cache {
    /// Stores one imported record under this cache's limits (module docs), counting the outcome.
    fn import_record(&self, record: Record, now: Instant, stats: &mut ImportStats) {
        let positive = record.kind == EntryKind::Positive;
        let max_ttl = if positive { self.settings.max_ttl } else { self.settings.max_negative_ttl };
        let mut max_ttl = max_ttl.max(self.settings.min_ttl);
        if record.security == Security::Bogus {
            max_ttl = max_ttl.min(BOGUS_TTL);
        }
        let remaining_ms = u64::from(record.remaining_ms).min(u64::from(max_ttl) * 1000);
        if remaining_ms == 0 {
            stats.expired += 1;
            return;
        }
        if record.rdatas.len() > self.settings.max_rrs_per_rrset {
            self.counters.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            stats.refused += 1;
            return;
        }
        let owner = Owner::new(&self.state, &record.owner);
        let mut entry = packed(&owner, &record, now);
        entry.expires_at = now.plus_millis(remaining_ms);
        entry.original_ttl = record.original_ttl.min(max_ttl);
        (entry.security, entry.ede) = (record.security, record.ede);
        let mut shard = self.shard(&owner);
        if !shard.has_room(entry.cost()) {
            stats.full += 1;
            return;
        }
        match self.store(&mut shard, &owner, entry, now) {
            InsertOutcome::Stored => stats.loaded += 1,
            _ => stats.refused += 1,
        }
    }
}

impl Cache {
    /// Puts one imported NSEC/NSEC3 RRset in the RFC 8198 index, its TTL cut to this cache's
    /// `max_negative_ttl`; skipped when the index is full (it would empty itself).
    fn import_nsec(&self, record: record::NsecRecord, now: Instant, stats: &mut ImportStats) {
        let secs = (record.remaining_ms / 1000).min(self.settings.max_negative_ttl.max(self.settings.min_ttl));
        if secs == 0 {
            stats.expired += 1;
        } else if self.nsec.len() + 1 >= super::aggressive::MAX_RECORDS {
            stats.full += 1;
        } else {
            self.nsec.insert(&record.zone, &record.soa, std::slice::from_ref(&record.set), secs, now);
            stats.nsec += 1;
        }
    }
}

/// The cache entry of `record`, its TTL still to set.
fn packed(owner: &Owner, record: &Record, now: Instant) -> Entry {
    let set =
        |owner, rtype, rdatas: &[Vec<u8>], sigs: &[Vec<u8>]| Rrset { owner, rtype, class: record.class, ttl: 0, rdatas: rdatas.to_vec(), sigs: sigs.to_vec() };
    match &record.soa {
        None => {
            let entry = Entry::positive(owner.wire(), &set(record.owner, record.rtype, &record.rdatas, &record.sigs), 0, record.trust, now);
            if record.proofs.is_empty() {
                entry
            } else {
                entry.with_proofs(&record.proofs)
            }
        }
        Some((soa_owner, rdata)) => {
            let (soa_sigs, proofs) = match record.proofs.split_first() {
                Some((first, rest)) if first.rtype == Rtype::SOA && first.rdatas.is_empty() => (first.sigs.as_slice(), rest),
                _ => (&[][..], record.proofs.as_slice()),
            };
            let soa = set(*soa_owner, Rtype::SOA, std::slice::from_ref(rdata), soa_sigs);
            let rtype = if record.kind == EntryKind::NxDomain { NXDOMAIN_TYPE } else { record.rtype };
            Entry::negative(owner.wire(), rtype, record.class, record.kind, &soa, proofs, 0, record.trust, now)
        }
    }
}

/// A well-formed stream around `data` for the fuzz target: `data` read as payloads, each after
/// a kind byte (odd: a kept NSEC RRset, even: an entry) and a 2-byte length, framed with
/// correct checks, then the end frame.
#[doc(hidden)]
pub fn fuzz_stream(data: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    let (mut rest, mut count) = (data, 0u64);
    while let Some(([kind, high, low], body)) = rest.split_first_chunk::<3>().map(|(head, body)| (*head, body)) {
        let len = usize::from(u16::from_be_bytes([high, low])).min(body.len());
        let (payload, tail) = body.split_at(len);
        let tag = if kind % 2 == 1 { TAG_NSEC } else { TAG_ENTRY };
        frame(&mut out, tag, |out| {
            out.extend_from_slice(payload);
            true
        });
        (rest, count) = (tail, count + u64::from(tag == TAG_ENTRY));
    }
    frame(&mut out, TAG_END, |out| {
        out.extend_from_slice(&count.to_be_bytes());
        true
    });
    out
}
