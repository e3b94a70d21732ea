//! A bound on how many log lines of one kind are written per second, so that a hostile source
//! (a zone built to fail validation, asked under random names) cannot flood the log with one
//! line per question. The lines over the bound are counted and summed up in the next line that
//! passes ("N similar lines suppressed"); the counters that metrics export are never gated.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Lets at most `per_second` lines through per one-second period; counts the others.
#[derive(Debug)]
pub struct LogGate {
    per_second: u64,
    start: Instant,
    /// The current period (seconds since `start`) in the high 32 bits, lines let through in
    /// it in the low 32: one atomic word, so two threads never both take the last place.
    period: AtomicU64,
    suppressed: AtomicU64,
}

impl LogGate {
    /// A gate letting `per_second` lines through per second.
    pub fn new(per_second: u64) -> Self {
        Self::starting(per_second, Instant::now())
    }

    fn starting(per_second: u64, start: Instant) -> Self {
        Self { per_second, start, period: AtomicU64::new(0), suppressed: AtomicU64::new(0) }
    }

    /// `Some(suppressed)` when a line may be written now (with the number of lines suppressed
    /// since the last one written), `None` when it must be dropped.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        let second = now.saturating_duration_since(self.start).as_secs() & 0xffff_ffff;
        let mut current = self.period.load(Ordering::Relaxed);
        loop {
            let (period, used) = (current >> 32, current & 0xffff_ffff);
            let next = if period != second {
                (second << 32) | 1
            } else if used < self.per_second {
                current + 1
            } else {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            match self.period.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(self.suppressed.swap(0, Ordering::Relaxed)),
                Err(seen) => current = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lines_over_the_bound_are_dropped_and_counted_in_the_next_period() {
        let start = Instant::now();
        let gate = LogGate::starting(3, start);
        let first: Vec<Option<u64>> = (0..10).map(|_| gate.admit_at(start)).collect();
        assert_eq!(first, [Some(0), Some(0), Some(0), None, None, None, None, None, None, None]);
        let later = start + Duration::from_millis(1500);
        assert_eq!(gate.admit_at(later), Some(7), "the next period's first line says how many were dropped");
        assert_eq!(gate.admit_at(later), Some(0));
    }

    #[test]
    fn a_quiet_source_is_never_gated() {
        let start = Instant::now();
        let gate = LogGate::starting(1, start);
        for second in 0..5 {
            assert_eq!(gate.admit_at(start + Duration::from_secs(second)), Some(0));
        }
    }
}
