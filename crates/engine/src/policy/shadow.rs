//! The domain shadowing detector, resolver side (issue 16 item 2; SECURITY-REFERENCE §4.2):
//! attackers holding a domain's DNS account add subdomains under it pointing at their own
//! servers, leaving the domain's records alone. Per registered domain (Public Suffix List, as
//! the tunnelling detector) it keeps the names seen (a bitmap of keyed hashes) and the networks
//! its answers point to (IPv4 /24, IPv6 /48, a few fingerprints). A name seen for the first time
//! whose addresses are all outside the domain's networks counts towards a burst; a burst
//! window ([`ShadowSettings::burst_window`]) later the burst's networks are learned if it stayed
//! below the threshold (ordinary growth), or an event is made (a burst of new names in new
//! networks: shadowing suspected). A domain is watched once established: seen for
//! [`ShadowSettings::establish`] seconds with at least one network.
//!
//! Log only: answers are never changed. Sans-IO and bounded: a fixed table of accounts (the
//! least recently used of a set gives way), times are arguments. The authoritative side (a
//! zone change adding names in bulk under one parent) is [`super::shadow_zone`].

use super::tunnel::name::SplitName;
use crate::base::hash::keyed_hash;
use crate::base::{Instant, Limit};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

/// Networks remembered per domain.
const NETWORKS: usize = 16;
/// Bitmap words of the names seen per domain.
const NAME_WORDS: usize = 32;
/// Accounts per set.
const WAYS: usize = 4;
/// Events kept between two drains.
const EVENTS_KEPT: usize = 64;

/// The detector's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShadowSettings {
    /// Off (false) or log (true).
    pub enabled: bool,
    /// New names in new networks within a burst window that make an event.
    pub burst: u32,
    /// Registered domains kept.
    pub accounts: u32,
    /// Seconds a burst is counted over.
    pub burst_window: u32,
    /// Seconds a domain is known before its new names are judged.
    pub establish: u32,
    /// New names under one parent in one change of a served zone that make an event (the
    /// authoritative side, [`super::shadow_zone`]).
    pub zone_names: u32,
}

impl ShadowSettings {
    /// `shadowing-burst`.
    pub const BURST: Limit<u32> = Limit { default: 20, min: 2, max: 100_000 };
    /// `shadowing-accounts`.
    pub const ACCOUNTS: Limit<u32> = Limit { default: 8192, min: 64, max: 1 << 20 };
    /// `shadowing-burst-window`: ten minutes, from one second to a day.
    pub const BURST_WINDOW: Limit<u32> = Limit { default: 600, min: 1, max: 86_400 };
    /// `shadowing-establish`: an hour, from one second to thirty days.
    pub const ESTABLISH: Limit<u32> = Limit { default: 3600, min: 1, max: 30 * 86_400 };
    /// `shadowing-zone-names`.
    pub const ZONE_NAMES: Limit<u32> = Limit { default: 50, min: 2, max: 1_000_000 };

    /// True when `other` builds the same resolver-side detector (the zone side's threshold
    /// aside): a reload that changes only that keeps the detector and what it learned.
    pub fn same_detector(&self, other: &Self) -> bool {
        Self { zone_names: 0, ..self.clone() } == Self { zone_names: 0, ..other.clone() }
    }

    /// The settings with every value brought within its bounds.
    pub fn clamped(&self) -> Self {
        let clamp = |value: u32, limit: Limit<u32>| value.clamp(limit.min, limit.max);
        Self {
            enabled: self.enabled,
            burst: clamp(self.burst, Self::BURST),
            accounts: clamp(self.accounts, Self::ACCOUNTS),
            burst_window: clamp(self.burst_window, Self::BURST_WINDOW),
            establish: clamp(self.establish, Self::ESTABLISH),
            zone_names: clamp(self.zone_names, Self::ZONE_NAMES),
        }
    }
}

impl Default for ShadowSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            burst: Self::BURST.default,
            accounts: Self::ACCOUNTS.default,
            burst_window: Self::BURST_WINDOW.default,
            establish: Self::ESTABLISH.default,
            zone_names: Self::ZONE_NAMES.default,
        }
    }
}

/// A burst of new names in new networks under an established domain.
#[derive(Clone, Debug, PartialEq)]
pub struct ShadowEvent {
    /// The registered domain, text with its final dot.
    pub domain: String,
    /// New names counted in the burst.
    pub names: u32,
    /// One of the new networks, as text (`198.51.100.0/24`).
    pub network: String,
}

#[derive(Clone, Copy)]
struct Account {
    tag: u64,
    first: u64,
    last: u64,
    names: [u64; NAME_WORDS],
    networks: [u32; NETWORKS],
    /// The burst under way: when it started, its count, its networks.
    burst_start: u64,
    burst_names: u32,
    burst_networks: [u32; 4],
    reported: bool,
}

impl Account {
    const EMPTY: Self = Self {
        tag: 0,
        first: 0,
        last: 0,
        names: [0; NAME_WORDS],
        networks: [0; NETWORKS],
        burst_start: 0,
        burst_names: 0,
        burst_networks: [0; 4],
        reported: false,
    };
}

/// The detector.
pub struct ShadowDetector {
    settings: ShadowSettings,
    key: [u8; 16],
    sets: Box<[Mutex<[Account; WAYS]>]>,
    events: Mutex<Vec<ShadowEvent>>,
}

impl std::fmt::Debug for ShadowDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShadowDetector").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl ShadowDetector {
    /// A detector with `settings` (clamped) hashing under the secret `key`.
    pub fn new(settings: ShadowSettings, key: [u8; 16]) -> Self {
        let settings = settings.clamped();
        let sets = (settings.accounts as usize).div_ceil(WAYS).max(1);
        let sets = (0..sets).map(|_| Mutex::new([Account::EMPTY; WAYS])).collect();
        Self { settings, key, sets, events: Mutex::new(Vec::new()) }
    }

    /// The settings in force.
    pub fn settings(&self) -> &ShadowSettings {
        &self.settings
    }

    /// Looks at an answer: `qname` (uncompressed wire form) resolved to `addresses`.
    pub fn answer(&self, now: Instant, qname: &[u8], addresses: &[IpAddr]) {
        if !self.settings.enabled || addresses.is_empty() {
            return;
        }
        let Some(name) = SplitName::new(qname) else { return };
        let now = now.as_secs();
        let tag = keyed_hash(&self.key, name.registered_wire()) | 1;
        let name_hash = keyed_hash(&self.key, name.subdomain_wire());
        let event = {
            let mut set = self.sets[(tag as usize) % self.sets.len()].lock().unwrap_or_else(PoisonError::into_inner);
            let account = claim(&mut set, tag, now);
            self.update(account, name_hash, addresses, now)
        };
        if let Some((names, network)) = event {
            let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
            if events.len() < EVENTS_KEPT {
                events.push(ShadowEvent { domain: name.registered_text(), names, network: network_text(network, addresses) });
            }
        }
    }

    /// The events made since the last call.
    pub fn drain_events(&self) -> Vec<ShadowEvent> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn update(&self, account: &mut Account, name_hash: u64, addresses: &[IpAddr], now: u64) -> Option<(u32, u32)> {
        let (word, bit) = ((name_hash as usize >> 6) % NAME_WORDS, 1u64 << (name_hash & 63));
        let new_name = account.names[word] & bit == 0;
        account.names[word] |= bit;
        let networks: Vec<u32> = addresses.iter().map(|address| self.network(*address)).collect();
        if account.burst_names > 0 && now >= account.burst_start + u64::from(self.settings.burst_window) {
            // The burst ended below the threshold (or was reported): its networks are learned.
            let learned = account.burst_networks;
            learned.iter().filter(|&&n| n != 0).for_each(|&n| learn(account, n));
            (account.burst_names, account.burst_networks, account.reported) = (0, [0; 4], false);
        }
        let established = now >= account.first + u64::from(self.settings.establish) && account.networks.iter().any(|&n| n != 0);
        let outside = networks.iter().all(|n| !account.networks.contains(n));
        if !established {
            networks.iter().for_each(|&n| learn(account, n));
            return None;
        }
        if !new_name || !outside {
            return None;
        }
        if account.burst_names == 0 {
            account.burst_start = now;
        }
        account.burst_names += 1;
        if let Some(slot) = account.burst_networks.iter_mut().find(|slot| **slot == 0 || networks.contains(slot)) {
            *slot = networks[0];
        }
        if account.burst_names >= self.settings.burst && !account.reported {
            account.reported = true;
            return Some((account.burst_names, networks[0]));
        }
        None
    }

    /// The fingerprint of `address`'s network (IPv4 /24, IPv6 /48), never 0.
    fn network(&self, address: IpAddr) -> u32 {
        let bytes: &[u8] = match &address {
            IpAddr::V4(v4) => &v4.octets()[..3],
            IpAddr::V6(v6) => &v6.octets()[..6],
        };
        (keyed_hash(&self.key, bytes) as u32) | 1
    }
}

fn claim(set: &mut [Account; WAYS], tag: u64, now: u64) -> &mut Account {
    let index = match set.iter().position(|account| account.tag == tag) {
        Some(index) => index,
        None => {
            let index = set.iter().enumerate().min_by_key(|(_, account)| (account.tag != 0, account.last)).map_or(0, |(index, _)| index);
            set[index] = Account { tag, first: now, ..Account::EMPTY };
            index
        }
    };
    set[index].last = now;
    &mut set[index]
}

/// Adds `network` to the account's known networks (the oldest slot reused when full).
fn learn(account: &mut Account, network: u32) {
    if account.networks.contains(&network) {
        return;
    }
    match account.networks.iter_mut().find(|slot| **slot == 0) {
        Some(slot) => *slot = network,
        None => {
            account.networks.rotate_left(1);
            account.networks[NETWORKS - 1] = network;
        }
    }
}

/// The text of the network of the first address (the fingerprint names no address).
fn network_text(_network: u32, addresses: &[IpAddr]) -> String {
    match addresses.first() {
        Some(IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{ShadowDetector, ShadowSettings};
    const BURST_SECS: u64 = ShadowSettings::BURST_WINDOW.default as u64;
    const ESTABLISH_SECS: u64 = ShadowSettings::ESTABLISH.default as u64;
    use crate::base::Instant;
    use portcullis_wire::NameBuf;
    use std::net::IpAddr;

    fn ask(detector: &ShadowDetector, secs: u64, name: &str, address: &str) {
        let name = NameBuf::from_text(name, None).expect("name");
        let address: IpAddr = address.parse().expect("address");
        detector.answer(Instant::from_secs(secs), name.as_wire(), &[address]);
    }

    /// An established domain: its usual names in 192.0.2.0/24 for over an hour.
    fn established() -> ShadowDetector {
        let detector = ShadowDetector::new(ShadowSettings::default(), [4; 16]);
        for minute in 0..70u64 {
            ask(&detector, 1000 + minute * 60, &format!("host{}.bank.example.com.", minute % 10), "192.0.2.10");
        }
        detector
    }

    #[test]
    fn a_burst_of_new_names_in_a_new_network_is_an_event() {
        let detector = established();
        let start = 1000 + 70 * 60;
        for i in 0..50u64 {
            ask(&detector, start + i, &format!("login-{i}.bank.example.com."), "203.0.113.7");
        }
        let events = detector.drain_events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].domain, "example.com.");
        assert_eq!(events[0].network, "203.0.113.0/24");
        assert_eq!(events[0].names, 20);
    }

    #[test]
    fn the_same_growth_spread_over_time_or_in_known_networks_is_not() {
        let detector = established();
        let start = 1000 + 70 * 60;
        // 50 new names, one every 40 minutes, in a new network: learned after the first burst.
        for i in 0..50u64 {
            ask(&detector, start + i * (BURST_SECS * 4), &format!("new-{i}.bank.example.com."), "203.0.113.7");
        }
        // 50 new names at once in the domain's own network.
        for i in 0..50u64 {
            ask(&detector, start + 50 * BURST_SECS * 4 + i, &format!("own-{i}.bank.example.com."), "192.0.2.77");
        }
        assert!(detector.drain_events().is_empty());
        // A domain not yet established is only learned.
        let fresh = ShadowDetector::new(ShadowSettings::default(), [4; 16]);
        for i in 0..50u64 {
            ask(&fresh, 10 + i, &format!("n{i}.new.example.org."), "198.51.100.1");
        }
        assert!(ESTABLISH_SECS > 60 && fresh.drain_events().is_empty());
    }

    #[test]
    fn the_windows_are_settings_and_are_bounded() {
        let short = ShadowSettings { establish: 2, burst_window: 3, burst: 5, ..ShadowSettings::default() };
        let detector = ShadowDetector::new(short, [4; 16]);
        for (secs, host) in [(100, 0), (101, 1), (102, 2)] {
            ask(&detector, secs, &format!("host{host}.shop.example.net."), "192.0.2.1");
        }
        // Four new names in a new network within 3 s, then the window ends: learned, no event.
        for i in 0..4u64 {
            ask(&detector, 103 + i / 2, &format!("a{i}.shop.example.net."), "203.0.113.1");
        }
        for i in 0..10u64 {
            ask(&detector, 107 + i / 4, &format!("b{i}.shop.example.net."), "203.0.113.2");
        }
        assert!(detector.drain_events().is_empty(), "the burst's network was learned after its 3 s window");
        // Five new names in another new network within the window: an event.
        for i in 0..5u64 {
            ask(&detector, 120, &format!("c{i}.shop.example.net."), "198.51.100.9");
        }
        let events = detector.drain_events();
        assert_eq!((events.len(), events.first().map(|e| e.names)), (1, Some(5)), "{events:?}");
        // Before `establish` seconds a domain is only learned.
        let fresh = ShadowDetector::new(ShadowSettings { establish: 30, burst: 2, ..ShadowSettings::default() }, [4; 16]);
        ask(&fresh, 10, "www.late.example.org.", "192.0.2.1");
        for i in 0..10u64 {
            ask(&fresh, 20 + i, &format!("n{i}.late.example.org."), "203.0.113.5");
        }
        assert!(fresh.drain_events().is_empty());
        // Out-of-bounds values are clamped; the defaults are the old constants.
        let wild = ShadowSettings { burst_window: 0, establish: u32::MAX, zone_names: 1, ..ShadowSettings::default() };
        let settings = ShadowDetector::new(wild, [0; 16]).settings().clone();
        assert_eq!((settings.burst_window, settings.establish, settings.zone_names), (1, 30 * 86_400, 2));
        let defaults = ShadowSettings::default();
        assert_eq!((defaults.burst_window, defaults.establish, defaults.zone_names), (600, 3600, 50));
        assert!(defaults.same_detector(&ShadowSettings { zone_names: 7, ..defaults.clone() }));
        assert!(!defaults.same_detector(&ShadowSettings { establish: 7, ..defaults.clone() }));
    }
}
