//! The life of one managed key in a zone, as timestamps: what a policy-driven signer (and its
//! rollovers, RFC 6781 and RFC 7583) decides, and what the signer reads to know which keys are
//! in the DNSKEY RRset, which keys sign, and which keys have CDS/CDNSKEY records (RFC 7344).
//!
//! Times are seconds since the epoch. An event is "reached" at `now` when its time is set and
//! not after `now`. The text form ([`KeyState::to_text`], [`KeyState::parse`]) is one
//! `Name: value` line per field, times as `YYYYMMDDHHMMSS` in UTC as BIND's key metadata writes
//! them; unset times are left out.

use crate::zone::KeyRole;
use crate::{Algorithm, Error};
use std::fmt::Write as _;

/// One key's role, identity and timeline.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KeyState {
    /// The key's algorithm.
    pub algorithm: Algorithm,
    /// The key tag of its DNSKEY (RFC 4034 Appendix B).
    pub tag: u16,
    /// KSK, ZSK or CSK.
    pub role: KeyRole,
    /// When the key was made.
    pub created: u64,
    /// The DNSKEY is in the zone from here.
    pub publish: Option<u64>,
    /// The key signs (RRsets for a ZSK, the DNSKEY RRset for a KSK, both for a CSK) from here;
    /// may be before `publish` (an algorithm rollover signs first, RFC 6781 §4.1.4).
    pub active: Option<u64>,
    /// The key stops signing here; a CSK stops signing data here but signs the DNSKEY RRset
    /// until `remove`; may be after `remove` (an algorithm rollover's signatures outlive the
    /// old DNSKEYs by the DNSKEY TTL).
    pub retire: Option<u64>,
    /// The DNSKEY leaves the zone here.
    pub remove: Option<u64>,
    /// KSK or CSK: CDS and CDNSKEY for it are published from here (the parent is asked to add
    /// its DS).
    pub ds_publish: Option<u64>,
    /// KSK or CSK: the parent's DS for it was seen here (a query or `dnssec ds-seen`).
    pub ds_seen: Option<u64>,
    /// KSK or CSK: CDS and CDNSKEY for it are withdrawn here (the parent is asked to drop its DS).
    pub ds_withdraw: Option<u64>,
    /// KSK or CSK: the parent's DS for it was seen gone here.
    pub ds_gone: Option<u64>,
}

/// True when `time` is set and not after `now`.
fn reached(time: Option<u64>, now: u64) -> bool {
    time.is_some_and(|time| time <= now)
}

impl KeyState {
    /// A key made at `now` with no event set yet.
    pub const fn new(algorithm: Algorithm, tag: u16, role: KeyRole, now: u64) -> Self {
        Self {
            algorithm,
            tag,
            role,
            created: now,
            publish: None,
            active: None,
            retire: None,
            remove: None,
            ds_publish: None,
            ds_seen: None,
            ds_withdraw: None,
            ds_gone: None,
        }
    }

    /// True when the DNSKEY is in the zone at `now`.
    pub fn is_published(&self, now: u64) -> bool {
        reached(self.publish, now) && !reached(self.remove, now)
    }

    /// True when the key signs anything at `now`: [`KeyState::signs_keys`] or
    /// [`KeyState::signs_data`]. A key may sign while its DNSKEY is not in the zone (an algorithm
    /// rollover signs with the new algorithm before publishing it and keeps the old algorithm's
    /// signatures after its DNSKEYs left, RFC 6781 §4.1.4), so this does not imply
    /// [`KeyState::is_published`].
    pub fn is_signing(&self, now: u64) -> bool {
        self.signs_keys(now) || self.signs_data(now)
    }

    /// True when the key signs the DNSKEY RRset (and CDS/CDNSKEY) at `now`: a KSK from Active
    /// to Retire, a CSK from Active to Remove (a CSK's Retire ends only its signing of zone data;
    /// its key-signing half stays until the old DS is gone from every cache, RFC 7583 §3.3).
    pub fn signs_keys(&self, now: u64) -> bool {
        let until_retire = self.role == KeyRole::Ksk && reached(self.retire, now);
        self.role != KeyRole::Zsk && reached(self.active, now) && !reached(self.remove, now) && !until_retire
    }

    /// True when the key signs the zone's other RRsets at `now`: a ZSK or CSK from Active to
    /// Retire.
    pub fn signs_data(&self, now: u64) -> bool {
        self.role != KeyRole::Ksk && reached(self.active, now) && !reached(self.retire, now)
    }

    /// The role to give the zone signer for this key at `now` (`crate::ZoneKey::role`): `Csk`
    /// when it signs the DNSKEY RRset and the data, `Ksk` when only the DNSKEY RRset, `Zsk`
    /// when only the data, `None` when it signs nothing. A CSK in the middle of its rollover is
    /// `Ksk` (same DNSKEY flags, 257).
    pub fn signing_role(&self, now: u64) -> Option<KeyRole> {
        match (self.signs_keys(now), self.signs_data(now)) {
            (true, true) => Some(KeyRole::Csk),
            (true, false) => Some(KeyRole::Ksk),
            (false, true) => Some(KeyRole::Zsk),
            (false, false) => None,
        }
    }

    /// True when the zone carries CDS and CDNSKEY records for the key at `now`.
    pub fn has_cds(&self, now: u64) -> bool {
        self.role != KeyRole::Zsk && reached(self.ds_publish, now) && !reached(self.ds_withdraw, now) && self.is_published(now)
    }

    /// True once the key has left the zone for good and signs nothing (its files may be
    /// deleted).
    pub fn is_removed(&self, now: u64) -> bool {
        reached(self.remove, now) && !self.signs_data(now)
    }

    /// The text form: one `Name: value` line per set field.
    pub fn to_text(&self) -> String {
        let role = match self.role {
            KeyRole::Ksk => "KSK",
            KeyRole::Zsk => "ZSK",
            KeyRole::Csk => "CSK",
        };
        let mut text = format!("Algorithm: {}\nKeyTag: {}\nRole: {role}\n", self.algorithm.0, self.tag);
        for (name, time) in self.times() {
            if let Some(time) = time {
                let _ = writeln!(text, "{name}: {}", format_time(time));
            }
        }
        text
    }

    /// Reads the text form; unknown lines and `;` comments are ignored, so that a newer server's
    /// file still reads.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut state = Self::new(Algorithm(0), 0, KeyRole::Csk, 0);
        let (mut algorithm, mut tag, mut role, mut created) = (None, None, None, None);
        for line in text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with(';')) {
            let Some((name, value)) = line.split_once(':') else { return Err(Error::Malformed("key state line")) };
            let value = value.trim();
            match name.trim() {
                "Algorithm" => algorithm = Some(value.parse::<u8>().map_err(|_| Error::Malformed("key state algorithm"))?),
                "KeyTag" => tag = Some(value.parse::<u16>().map_err(|_| Error::Malformed("key state tag"))?),
                "Role" => role = Some(parse_role(value)?),
                "Created" => created = Some(parse_time(value)?),
                other => {
                    if let Some(slot) = state.time_mut(other) {
                        *slot = Some(parse_time(value)?);
                    }
                }
            }
        }
        state.algorithm = Algorithm(algorithm.ok_or(Error::Malformed("key state without Algorithm"))?);
        state.tag = tag.ok_or(Error::Malformed("key state without KeyTag"))?;
        state.role = role.ok_or(Error::Malformed("key state without Role"))?;
        state.created = created.ok_or(Error::Malformed("key state without Created"))?;
        Ok(state)
    }

    fn times(&self) -> [(&'static str, Option<u64>); 9] {
        [
            ("Created", Some(self.created)),
            ("Publish", self.publish),
            ("Active", self.active),
            ("Retire", self.retire),
            ("Remove", self.remove),
            ("DSPublish", self.ds_publish),
            ("DSSeen", self.ds_seen),
            ("DSWithdraw", self.ds_withdraw),
            ("DSGone", self.ds_gone),
        ]
    }

    fn time_mut(&mut self, name: &str) -> Option<&mut Option<u64>> {
        Some(match name {
            "Publish" => &mut self.publish,
            "Active" => &mut self.active,
            "Retire" => &mut self.retire,
            "Remove" => &mut self.remove,
            "DSPublish" => &mut self.ds_publish,
            "DSSeen" => &mut self.ds_seen,
            "DSWithdraw" => &mut self.ds_withdraw,
            "DSGone" => &mut self.ds_gone,
            _ => return None,
        })
    }
}

fn parse_role(value: &str) -> Result<KeyRole, Error> {
    match value {
        "KSK" => Ok(KeyRole::Ksk),
        "ZSK" => Ok(KeyRole::Zsk),
        "CSK" => Ok(KeyRole::Csk),
        _ => Err(Error::Malformed("key state role")),
    }
}

/// Seconds since the epoch as `YYYYMMDDHHMMSS` (UTC, proleptic Gregorian).
pub fn format_time(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}{month:02}{day:02}{:02}{:02}{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// `YYYYMMDDHHMMSS` (UTC) as seconds since the epoch.
pub fn parse_time(text: &str) -> Result<u64, Error> {
    let bad = Error::Malformed("time (YYYYMMDDHHMMSS)");
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    let field = |range: core::ops::Range<usize>| text[range].parse::<u64>().map_err(|_| bad);
    let (year, month, day) = (field(0..4)?, field(4..6)?, field(6..8)?);
    let (hour, minute, second) = (field(8..10)?, field(10..12)?, field(12..14)?);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return Err(bad);
    }
    let days = days_from_civil(year as i64, month as u32, day as u32);
    Ok(days as u64 * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_index + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_match_known_dates() {
        assert_eq!(format_time(0), "19700101000000");
        assert_eq!(format_time(951_782_400), "20000229000000");
        assert_eq!(parse_time("20261207131500").unwrap(), 1_796_649_300);
        for secs in [0u64, 59, 86_399, 951_782_400, 1_796_649_300, 4_102_444_800] {
            assert_eq!(parse_time(&format_time(secs)).unwrap(), secs);
        }
        for bad in ["2026120713150", "2026130713150x", "20261307131500", "19691231235959"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn state_round_trips_and_predicates_follow_the_times() {
        let mut state = KeyState::new(Algorithm::ECDSAP256SHA256, 12_345, KeyRole::Ksk, 1000);
        state.publish = Some(1000);
        state.active = Some(2000);
        state.ds_publish = Some(2000);
        state.retire = Some(5000);
        state.remove = Some(6000);
        assert_eq!(KeyState::parse(&state.to_text()).unwrap(), state);
        assert!(!state.is_published(999) && state.is_published(1000) && !state.is_signing(1999));
        assert!(state.is_signing(2000) && state.has_cds(2000) && !state.is_signing(5000) && state.is_published(5999));
        assert!(!state.is_published(6000) && state.is_removed(6000) && !state.has_cds(6000));
        let zsk = KeyState { role: KeyRole::Zsk, ..state };
        assert!(!zsk.has_cds(3000));
        assert_eq!((state.signing_role(2000), zsk.signing_role(2000), zsk.signing_role(5000)), (Some(KeyRole::Ksk), Some(KeyRole::Zsk), None));
        assert!(KeyState::parse("Algorithm: 13\nRole: KSK\n").is_err());
        // A rolling CSK signs the DNSKEY RRset from Retire to Remove; an old algorithm's key
        // signs data after its DNSKEY left and is removed only when it stops.
        let csk = KeyState { role: KeyRole::Csk, ..state };
        assert_eq!((csk.signing_role(4999), csk.signing_role(5000), csk.signing_role(6000)), (Some(KeyRole::Csk), Some(KeyRole::Ksk), None));
        let old = KeyState { role: KeyRole::Zsk, retire: Some(7000), ..state };
        assert!(!old.is_published(6000) && old.signs_data(6000) && old.is_signing(6000) && !old.is_removed(6000) && old.is_removed(7000));
        let early = KeyState { role: KeyRole::Zsk, publish: Some(3000), ..state };
        assert!(early.is_signing(2000) && !early.is_published(2000));
        assert!(KeyState::parse(&format!("{}; comment\nFuture: x\n", state.to_text())).is_ok());
    }
}
