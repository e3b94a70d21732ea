//! Reading and lifting the detector's holds (block mode), for the operator (`portcullis ctl
//! blocks`, `ctl unblock`, `ctl clear-blocks`). The account table keeps only each account's tag
//! (a keyed hash of the client prefix and the registered domain), so an account is named by its
//! prefix and domain (as the detection's alert gives them) and found by its tag; lifting a hold
//! forgets the account (its window too), so the client starts afresh rather than being held
//! again by its next new label. These run on the operator's request, never on the query path.

use super::{Account, TunnelDetector, WAYS};
use crate::base::{Instant, Prefix};
use std::sync::PoisonError;

impl TunnelDetector {
    /// Until when (detector seconds, as [`Instant::as_secs`]) `client`'s account for `domain`
    /// (wire form, lower-case, root label included) is held at `now`; `None` when it is not.
    pub fn hold_until(&self, client: &Prefix, domain: &[u8], now: Instant) -> Option<u64> {
        let tag = self.tag(client, domain);
        self.find(tag, |account| account.hold_until).filter(|&until| now.as_secs() < until)
    }

    /// How many accounts are held at `now`.
    pub fn held(&self, now: Instant) -> usize {
        let now = now.as_secs();
        let held_in = |table: &super::Table| {
            table.accounts.iter().enumerate().filter(|(index, a)| table.sets[index / WAYS].tags[index % WAYS] != 0 && now < a.hold_until).count()
        };
        self.shards.iter().map(|shard| held_in(&shard.lock().unwrap_or_else(PoisonError::into_inner))).sum()
    }

    /// Lifts the hold of `client`'s account for `domain` (forgets the account); true when it was
    /// held at `now`.
    pub fn release(&self, client: &Prefix, domain: &[u8], now: Instant) -> bool {
        let tag = self.tag(client, domain);
        self.forget(tag, now.as_secs())
    }

    /// Lifts every hold (forgets the held accounts); how many were held at `now`.
    pub fn release_all(&self, now: Instant) -> usize {
        let now = now.as_secs();
        let mut released = 0;
        for shard in self.shards.iter() {
            let mut table = shard.lock().unwrap_or_else(PoisonError::into_inner);
            let table = &mut *table;
            for (index, account) in table.accounts.iter_mut().enumerate() {
                let tag = &mut table.sets[index / WAYS].tags[index % WAYS];
                if *tag != 0 && now < account.hold_until {
                    (*tag, *account) = (0, Account::EMPTY);
                    released += 1;
                }
            }
        }
        released
    }

    /// Runs `f` on the account `tag` if the table has it (claiming nothing).
    fn find<R>(&self, tag: u64, f: impl FnOnce(&mut Account) -> R) -> Option<R> {
        let (shard, set) = self.place(tag);
        let mut table = self.shards[shard].lock().unwrap_or_else(PoisonError::into_inner);
        let way = table.sets[set].tags.iter().position(|&held| held == tag)?;
        Some(f(&mut table.accounts[set * WAYS + way]))
    }

    /// Forgets the account `tag`; true when it was held at `now`.
    fn forget(&self, tag: u64, now: u64) -> bool {
        let (shard, set) = self.place(tag);
        let mut table = self.shards[shard].lock().unwrap_or_else(PoisonError::into_inner);
        let Some(way) = table.sets[set].tags.iter().position(|&held| held == tag) else { return false };
        let held = now < table.accounts[set * WAYS + way].hold_until;
        table.sets[set].tags[way] = 0;
        table.accounts[set * WAYS + way] = Account::EMPTY;
        held
    }
}

#[cfg(test)]
mod tests {
    use crate::base::{Instant, Prefix};
    use crate::policy::tunnel::{TunnelDetector, TunnelMode, TunnelSettings, TunnelVerdict};

    /// Drives 192.0.2.9 to a hold on tunnel.example. with 60-digit hex labels, ten a second.
    fn held_detector() -> (TunnelDetector, Instant) {
        let detector = TunnelDetector::new(TunnelSettings::new(TunnelMode::Block), [7; 16]);
        let client = "192.0.2.9".parse().unwrap_or_else(|_| unreachable!());
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for index in 0..600u64 {
            let now = Instant::from_millis(1_000_000_000 + index * 100);
            let mut qname = vec![60u8];
            for _ in 0..60 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                qname.push(b"0123456789abcdef"[(state % 16) as usize]);
            }
            qname.extend_from_slice(b"\x06tunnel\x07example\x00");
            if detector.observe(now, client, &qname, 16) == TunnelVerdict::Block {
                return (detector, now);
            }
        }
        panic!("no hold after a minute of hex names");
    }

    #[test]
    fn a_hold_is_read_and_lifted_by_prefix_and_domain() {
        let (detector, now) = held_detector();
        let prefix: Prefix = "192.0.2.9/32".parse().unwrap_or_else(|_| unreachable!());
        let domain = b"\x06tunnel\x07example\x00";
        let until = detector.hold_until(&prefix, domain, now);
        assert_eq!(until, Some(now.as_secs() + u64::from(detector.settings().hold)));
        assert_eq!(detector.held(now), 1);
        assert_eq!(detector.hold_until(&prefix, b"\x05other\x07example\x00", now), None);
        assert!(detector.release(&prefix, domain, now));
        assert_eq!((detector.hold_until(&prefix, domain, now), detector.held(now)), (None, 0));
        assert!(!detector.release(&prefix, domain, now), "nothing left to lift");
    }

    #[test]
    fn release_all_lifts_every_hold() {
        let (detector, now) = held_detector();
        assert_eq!(detector.release_all(now), 1);
        assert_eq!(detector.held(now), 0);
    }
}
