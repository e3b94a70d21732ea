//! [`History`]: the recent differences of a zone, oldest first, ending at the version they are
//! attached to ([`super::super::Zone::with_history`]). Kept encoded ([`super::codec`]), so that
//! they take what the journal takes, and decoded only for an IXFR answer.

use super::codec::{decode, encode};
use super::{condense, ApplyError, ZoneDiff};
use std::sync::Arc;

/// One difference, encoded, with its serials.
#[derive(Clone, Debug)]
struct Step {
    old_serial: u32,
    new_serial: u32,
    body: Arc<[u8]>,
}

/// The differences that led to a zone version, oldest first; each starts where the one before
/// ended. Cloning is cheap (the encoded differences are shared).
#[derive(Clone, Debug, Default)]
pub struct History {
    steps: Vec<Step>,
    bytes: usize,
}

impl History {
    /// No differences.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `diff`. An error (and nothing appended) when it does not start where the last
    /// one ended.
    pub fn push(&mut self, diff: &ZoneDiff) -> Result<(), ApplyError> {
        self.push_encoded(diff.old_serial(), diff.new_serial(), encode(diff).into())
    }

    /// Appends a difference already encoded by [`super::codec::encode`] (the journal's).
    pub fn push_encoded(&mut self, old_serial: u32, new_serial: u32, body: Arc<[u8]>) -> Result<(), ApplyError> {
        if let Some(last) = self.last_serial() {
            if last != old_serial {
                return Err(ApplyError(format!("a difference from serial {old_serial} does not follow the history, which ends at {last}")));
            }
        }
        self.bytes += body.len();
        self.steps.push(Step { old_serial, new_serial, body });
        Ok(())
    }

    /// Drops the oldest difference.
    pub fn drop_oldest(&mut self) {
        if !self.steps.is_empty() {
            let step = self.steps.remove(0);
            self.bytes -= step.body.len();
        }
    }

    /// The (old, new) serials of every difference, oldest first.
    pub fn serials(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.steps.iter().map(|step| (step.old_serial, step.new_serial))
    }

    /// The encoded differences, oldest first (what the journal writes).
    pub fn bodies(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.steps.iter().map(|step| &step.body[..])
    }

    /// Octets of the oldest encoded difference.
    pub fn oldest_bytes(&self) -> Option<usize> {
        self.steps.first().map(|step| step.body.len())
    }

    /// The serial the oldest difference starts from.
    pub fn first_serial(&self) -> Option<u32> {
        self.steps.first().map(|step| step.old_serial)
    }

    /// The serial the newest difference ends at.
    pub fn last_serial(&self) -> Option<u32> {
        self.steps.last().map(|step| step.new_serial)
    }

    /// Number of differences.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Octets of the encoded differences.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The differences from `serial` to the end, decoded; `None` when the history does not
    /// reach back to `serial` (then only a whole zone will do).
    pub fn since(&self, serial: u32) -> Option<Result<Vec<ZoneDiff>, ApplyError>> {
        let start = self.steps.iter().position(|step| step.old_serial == serial)?;
        Some(self.steps[start..].iter().map(|step| decode(&step.body).map_err(|e| ApplyError(format!("a journal entry: {e}")))).collect())
    }

    /// The condensed difference from `serial` to the end (RFC 1995 §4), `None` as for
    /// [`History::since`].
    pub fn condensed_since(&self, serial: u32) -> Option<Result<ZoneDiff, ApplyError>> {
        self.since(serial).map(|diffs| condense(&diffs?))
    }
}
