//! The journal's encoding of one [`ZoneDiff`], sans-IO (the server's journal does the file).
//!
//! A journal file is [`MAGIC`] followed by entries, each:
//!
//! ```text
//! length  u32, big-endian: octets of the body
//! body    version (1), old SOA, new SOA, deleted count (u32), records, added count (u32), records
//! check   the first 8 octets of SHA-256 over length and body
//! ```
//!
//! A record is its owner as an uncompressed wire name, then type, class, TTL, rdata length and
//! rdata as in a DNS message (RFC 1035 §4.1.3). The check finds an entry whose write was cut
//! short by a crash (a torn tail) or damaged since: [`read_entry`] says where the good part ends.

use super::ZoneDiff;
use crate::zonefile::ZoneRecord;
use portcullis_wire::{Class, NameBuf, Rtype};
use std::fmt;

/// The first octets of a journal file (its format's version in the last one).
pub const MAGIC: &[u8; 8] = b"PCJRNL\x00\x01";
/// Octets before and after an entry's body: its length and its check.
pub const FRAME_OVERHEAD: usize = 4 + CHECK_LEN;
/// The body's version.
const VERSION: u8 = 1;
const CHECK_LEN: usize = 8;

/// Why an entry could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The body of `diff` (without the frame).
pub fn encode(diff: &ZoneDiff) -> Vec<u8> {
    let size: usize = [&diff.old_soa, &diff.new_soa].into_iter().chain(&diff.deleted).chain(&diff.added).map(|r| r.owner.len() + 10 + r.rdata.len()).sum();
    let mut out = Vec::with_capacity(size + 9);
    out.push(VERSION);
    put_record(&mut out, &diff.old_soa);
    put_record(&mut out, &diff.new_soa);
    for list in [&diff.deleted, &diff.added] {
        out.extend_from_slice(&(list.len() as u32).to_be_bytes());
        for record in list {
            put_record(&mut out, record);
        }
    }
    out
}

/// The difference in `body` (as [`encode`] wrote it); an error for anything else, never a panic.
pub fn decode(body: &[u8]) -> Result<ZoneDiff, DecodeError> {
    let mut reader = Reader { bytes: body, pos: 0 };
    if reader.take(1)? != [VERSION] {
        return Err(DecodeError("unknown entry version".into()));
    }
    let old_soa = reader.record()?;
    let new_soa = reader.record()?;
    let deleted = reader.records()?;
    let added = reader.records()?;
    if reader.pos != body.len() {
        return Err(DecodeError(format!("{} octets after the difference", body.len() - reader.pos)));
    }
    if old_soa.rtype != Rtype::SOA || new_soa.rtype != Rtype::SOA {
        return Err(DecodeError("an entry's first two records must be SOA records".into()));
    }
    Ok(ZoneDiff { old_soa, new_soa, deleted, added })
}

/// `body` framed as a journal entry: length, body, check.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + FRAME_OVERHEAD);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&check(&out));
    out
}

/// What is at `pos` of a journal's bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry<'b> {
    /// The end of the journal.
    End,
    /// A whole entry with a good check: its body, and where the next entry starts.
    Good(&'b [u8], usize),
    /// Not a whole, good entry (a torn tail, or damage): the journal's good part ends at `pos`.
    Torn(String),
}

/// The entry at `pos` of `bytes` (a journal without its [`MAGIC`]).
pub fn read_entry(bytes: &[u8], pos: usize) -> Entry<'_> {
    let Some(rest) = bytes.get(pos..).filter(|rest| !rest.is_empty()) else { return Entry::End };
    let Some(length) = rest.first_chunk::<4>() else { return Entry::Torn(format!("{} octets where an entry's length belongs", rest.len())) };
    let length = u32::from_be_bytes(*length) as usize;
    let Some(framed) = rest.get(..4 + length + CHECK_LEN) else {
        return Entry::Torn(format!("an entry of {length} octets, with only {} left", rest.len().saturating_sub(FRAME_OVERHEAD)));
    };
    let (covered, stored) = framed.split_at(4 + length);
    if check(covered)[..] != stored[..] {
        return Entry::Torn("an entry whose check does not match".into());
    }
    Entry::Good(&covered[4..], pos + framed.len())
}

/// The first octets of SHA-256 over `covered` (ring's digest: nothing hand-made).
fn check(covered: &[u8]) -> [u8; CHECK_LEN] {
    let digest = ring::digest::digest(&ring::digest::SHA256, covered);
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&digest.as_ref()[..CHECK_LEN]);
    out
}

fn put_record(out: &mut Vec<u8>, record: &ZoneRecord) {
    out.extend_from_slice(record.owner.as_wire());
    out.extend_from_slice(&record.rtype.0.to_be_bytes());
    out.extend_from_slice(&record.class.0.to_be_bytes());
    out.extend_from_slice(&record.ttl.to_be_bytes());
    out.extend_from_slice(&(record.rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&record.rdata);
}

struct Reader<'b> {
    bytes: &'b [u8],
    pos: usize,
}

impl<'b> Reader<'b> {
    fn take(&mut self, len: usize) -> Result<&'b [u8], DecodeError> {
        let end = self.pos.checked_add(len).filter(|&end| end <= self.bytes.len()).ok_or_else(|| DecodeError("the entry ends inside a record".into()))?;
        let taken = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(taken)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn record(&mut self) -> Result<ZoneRecord, DecodeError> {
        let wire = portcullis_wire::name::uncompressed_at(self.bytes, self.pos).ok_or_else(|| DecodeError("a malformed owner name".into()))?;
        let owner = NameBuf::from_wire(wire).map_err(|e| DecodeError(format!("owner name: {e}")))?;
        self.pos += wire.len();
        let rtype = Rtype(self.u16()?);
        let class = Class(self.u16()?);
        let ttl = self.u32()?;
        let length = usize::from(self.u16()?);
        let rdata = self.take(length)?.to_vec();
        Ok(ZoneRecord { owner, rtype, class, ttl, rdata })
    }

    fn records(&mut self) -> Result<Vec<ZoneRecord>, DecodeError> {
        let count = self.u32()? as usize;
        // Every record takes at least 11 octets: a count beyond what is left is damage.
        if count > (self.bytes.len() - self.pos) / 11 {
            return Err(DecodeError(format!("{count} records announced, more than the entry holds")));
        }
        (0..count).map(|_| self.record()).collect()
    }
}
