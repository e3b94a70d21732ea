//! [`ZoneRates`]: upstream queries per second to the servers of each zone (SECURITY-REFERENCE
//! §3.10 and §6 row 63; Unbound's `ratelimit` and `ratelimit-factor`).
//!
//! In a random-subdomain flood ("water torture") every client question names a new subdomain of
//! the victim zone, misses the cache and asks that zone's servers. Past `rate` queries to one zone
//! within a second, only one query in `factor` may still go; the resolution of every other one
//! ends at once with SERVFAIL. Names of other zones, and names already cached, are not touched.

use crate::policy::Instant;
use portcullis_wire::NameBuf;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Zones counted in one second before the table is emptied of older seconds.
const MAX_ZONES: usize = 65_536;

/// Queries to one zone in the current second.
#[derive(Clone, Copy, Debug)]
struct Window {
    second: u64,
    count: u32,
}

/// The shared per-zone counters; all methods take `&self`.
#[derive(Debug, Default)]
pub struct ZoneRates {
    /// Keyed by a hash of the lowercased zone name, with a per-process random key.
    table: Mutex<HashMap<u64, Window>>,
    hasher: RandomState,
    /// Queries not sent because their zone was over its rate.
    pub limited: AtomicU64,
}

impl ZoneRates {
    /// Counts one query to the servers of `zone` at `now`; false when it must not be sent: more
    /// than `rate` this second and not the one in `factor` let through (`rate` 0: no limit;
    /// `factor` 0: none let through).
    pub fn allow(&self, zone: &NameBuf, rate: u32, factor: u32, now: Instant) -> bool {
        if rate == 0 {
            return true;
        }
        let key = self.hasher.hash_one(zone.to_lowercase().as_wire());
        let second = now.as_millis() / 1000;
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if table.len() >= MAX_ZONES && !table.contains_key(&key) {
            table.retain(|_, window| window.second == second);
            if table.len() >= MAX_ZONES {
                table.clear();
            }
        }
        let window = table.entry(key).or_insert(Window { second, count: 0 });
        if window.second != second {
            *window = Window { second, count: 0 };
        }
        window.count = window.count.saturating_add(1);
        let over = window.count.saturating_sub(rate);
        let allowed = over == 0 || (factor > 0 && over.is_multiple_of(factor));
        if !allowed {
            self.limited.fetch_add(1, Ordering::Relaxed);
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap()
    }

    #[test]
    fn past_the_rate_one_query_in_factor_goes_and_the_next_second_starts_again() {
        let rates = ZoneRates::default();
        let now = Instant::from_secs(100);
        let allowed: Vec<bool> = (0..25).map(|_| rates.allow(&zone("victim.test."), 5, 10, now)).collect();
        // 5 within the rate, then the 10th and 20th over it.
        let expected: Vec<bool> = (1..=25).map(|n| n <= 5 || (n - 5) % 10 == 0).collect();
        assert_eq!(allowed, expected);
        assert_eq!(rates.limited.load(Ordering::Relaxed), 18);
        // Another zone, the same zone in other case, and the next second.
        assert!(rates.allow(&zone("other.test."), 5, 10, now));
        assert!(!rates.allow(&zone("VICTIM.test."), 5, 10, now));
        assert!(rates.allow(&zone("victim.test."), 5, 10, now.plus_millis(1000)));
    }

    #[test]
    fn rate_zero_is_no_limit_and_factor_zero_lets_none_through() {
        let rates = ZoneRates::default();
        let now = Instant::from_secs(100);
        assert!((0..1000).all(|_| rates.allow(&zone("a.test."), 0, 0, now)));
        let allowed = (0..100).filter(|_| rates.allow(&zone("b.test."), 3, 0, now)).count();
        assert_eq!(allowed, 3);
    }

    #[test]
    fn the_table_stays_bounded() {
        let rates = ZoneRates::default();
        let now = Instant::from_secs(100);
        for n in 0..MAX_ZONES + 10 {
            rates.allow(&zone(&format!("z{n}.test.")), 1, 1, now);
        }
        assert!(rates.table.lock().unwrap().len() <= MAX_ZONES);
    }
}
