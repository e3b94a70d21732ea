//! [`UpstreamGroup`]: the servers a forward zone sends its queries to, with selection, health
//! and failover (DESIGN §4.5 "Forwarder and load balancing"). Pure: time and randomness are
//! arguments, nothing here reads a clock or a socket.
//!
//! - **Tiers**: primaries are used while at least one of them is healthy; backups only while no
//!   primary is; traffic goes back to the primaries as soon as one recovers. A query that failed
//!   on an upstream is retried on another one (same tier first, then the next tier). When every
//!   upstream is down the group fails open: untried upstreams are still asked, primaries first
//!   (CoreDNS `forward` does the same), so a wrong health verdict never blackholes a zone.
//! - **Policies** ([`Policy`]): `round-robin` (each healthy upstream of the tier in turn),
//!   `weighted-random` (probability weight / sum of weights), `lowest-latency` (power of two
//!   choices on smoothed RTT x (in-flight + 1), and one pick in [`EXPLORE_ONE_IN`] uniformly at
//!   random so slow upstreams keep being measured), `ordered` (the first healthy in configured
//!   order).
//! - **Health**: passive (timeouts, SERVFAIL/REFUSED, malformed or lame replies, unreachable
//!   servers): `fall` consecutive failures mark an upstream down; `rise` consecutive successes
//!   (from probes, or from fail-open queries) mark it up. While an upstream is down the driver
//!   sends it the group's probe query every `probe_interval_ms` ([`UpstreamGroup::probes_due`]).
//!   Every change is an [`UpstreamEvent`] with its reason, drained by the driver and logged.
//! - **Counters** per upstream ([`UpstreamSnapshot`]): queries, failures, smoothed RTT, state.
//! - **Hedging**: [`UpstreamGroup::hedge_delay_ms`] says when a second upstream should be asked
//!   for a query still unanswered: the configured delay, or the group's p95 latency.

use super::Random;
use crate::base::Instant;
use std::fmt;
use std::net::SocketAddr;

/// One pick in this many, `lowest-latency` explores a random candidate.
pub const EXPLORE_ONE_IN: u32 = 20;
/// RTT samples kept per group for the p95 hedging delay.
const RTT_SAMPLES: usize = 128;
/// Replies an upstream needs before `lowest-latency` trusts its smoothed RTT: until then it
/// counts as idle (so it is measured early) and its RTT is the plain mean of its samples (so one
/// slow first reply does not exile it).
pub const WARM_UP_SAMPLES: u32 = 3;
/// Shortest per-query timeout, in milliseconds.
pub const MIN_TIMEOUT_MS: u64 = 200;

/// How a group chooses among its healthy upstreams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// Each in turn.
    RoundRobin,
    /// At random, in proportion to the weights.
    WeightedRandom,
    /// Lowest smoothed RTT x (in-flight + 1), power of two choices, occasional exploration.
    #[default]
    LowestLatency,
    /// The first healthy one in configured order.
    Ordered,
}

impl Policy {
    /// The policy named as in the configuration (`round-robin`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "round-robin" => Self::RoundRobin,
            "weighted-random" => Self::WeightedRandom,
            "lowest-latency" => Self::LowestLatency,
            "ordered" => Self::Ordered,
            _ => return None,
        })
    }
}

/// When a second upstream is asked for a query still unanswered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Hedge {
    /// Never.
    #[default]
    Off,
    /// After this many milliseconds.
    After(u64),
    /// After the group's p95 latency (once measured).
    P95,
}

/// Validated settings of one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSettings {
    /// Selection policy.
    pub policy: Policy,
    /// Primary upstreams, in configured order.
    pub primaries: Vec<SocketAddr>,
    /// Backups, used only while no primary is healthy.
    pub backups: Vec<SocketAddr>,
    /// Weights for `weighted-random`, one per upstream (primaries then backups); default 1.
    pub weights: Vec<u32>,
    /// Consecutive failures that mark an upstream down.
    pub fall: u32,
    /// Consecutive successes that mark a down upstream up.
    pub rise: u32,
    /// Interval of probe queries to a down upstream, in milliseconds.
    pub probe_interval_ms: u64,
    /// Timeout of a query to an upstream not yet measured, and the longest timeout.
    pub timeout_ms: u64,
    /// Hedging.
    pub hedge: Hedge,
    /// How queries go out: UDP (TCP when truncated) or TCP (connections reused, pipelined).
    pub transport: crate::Transport,
}

impl Default for GroupSettings {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            primaries: Vec::new(),
            backups: Vec::new(),
            weights: Vec::new(),
            fall: 3,
            rise: 2,
            probe_interval_ms: 1000,
            timeout_ms: 1000,
            hedge: Hedge::Off,
            transport: crate::Transport::Udp,
        }
    }
}

/// Primary or backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// Used while healthy.
    Primary,
    /// Used only while no primary is healthy.
    Backup,
}

/// Why an exchange with an upstream failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// No reply in time.
    Timeout,
    /// Could not be reached (ICMP unreachable, connection refused or reset).
    Unreachable,
    /// Answered SERVFAIL.
    ServFail,
    /// Answered REFUSED.
    Refused,
    /// The reply did not parse, or answered with another error code.
    Malformed,
    /// The reply was a referral or empty: the upstream does not recurse for this name.
    Lame,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
            Self::ServFail => "SERVFAIL",
            Self::Refused => "REFUSED",
            Self::Malformed => "malformed reply",
            Self::Lame => "lame reply",
        })
    }
}

/// A health change of one upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamEvent {
    /// The upstream.
    pub upstream: SocketAddr,
    /// Its tier.
    pub tier: Tier,
    /// Its new state: true = up.
    pub up: bool,
    /// When.
    pub at: Instant,
    /// Why.
    pub reason: Reason,
}

/// Why an upstream changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// `count` consecutive failures, the last of this kind.
    Failures {
        /// Consecutive failures.
        count: u32,
        /// The last one.
        last: FailureKind,
    },
    /// `count` consecutive successes.
    Successes {
        /// Consecutive successes.
        count: u32,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failures { count, last } => write!(f, "{count} consecutive failures, the last: {last}"),
            Self::Successes { count } => write!(f, "{count} consecutive successful replies"),
        }
    }
}

/// Counters and state of one upstream, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpstreamSnapshot {
    /// Its address.
    pub addr: SocketAddr,
    /// Its tier.
    pub tier: Tier,
    /// Healthy.
    pub up: bool,
    /// Queries sent (probes included).
    pub queries: u64,
    /// Failed exchanges.
    pub failures: u64,
    /// Smoothed RTT in milliseconds, once measured.
    pub srtt_ms: Option<f64>,
    /// Queries in flight.
    pub in_flight: u32,
}

#[derive(Clone, Debug)]
struct Upstream {
    addr: SocketAddr,
    tier: Tier,
    weight: u32,
    up: bool,
    consecutive_failures: u32,
    consecutive_successes: u32,
    srtt_ms: Option<f64>,
    samples: u32,
    in_flight: u32,
    queries: u64,
    failures: u64,
    next_probe: Instant,
}

/// The group's state; owned by the driver (behind a lock), every method takes the time.
#[derive(Clone, Debug)]
pub struct UpstreamGroup {
    settings: GroupSettings,
    upstreams: Vec<Upstream>,
    turn: usize,
    samples: Vec<u32>,
    next_sample: usize,
    events: Vec<UpstreamEvent>,
}

impl UpstreamGroup {
    /// A group with every upstream up and unmeasured.
    pub fn new(settings: GroupSettings) -> Self {
        let tiers = settings.primaries.iter().map(|addr| (*addr, Tier::Primary)).chain(settings.backups.iter().map(|addr| (*addr, Tier::Backup)));
        let upstreams = tiers
            .enumerate()
            .map(|(index, (addr, tier))| Upstream {
                addr,
                tier,
                weight: settings.weights.get(index).copied().unwrap_or(1),
                up: true,
                consecutive_failures: 0,
                consecutive_successes: 0,
                srtt_ms: None,
                samples: 0,
                in_flight: 0,
                queries: 0,
                failures: 0,
                next_probe: Instant::ZERO,
            })
            .collect();
        Self { settings, upstreams, turn: 0, samples: Vec::new(), next_sample: 0, events: Vec::new() }
    }

    /// The settings.
    pub fn settings(&self) -> &GroupSettings {
        &self.settings
    }

    /// Number of upstreams (both tiers).
    pub fn len(&self) -> usize {
        self.upstreams.len()
    }

    /// True when the group has no upstream.
    pub fn is_empty(&self) -> bool {
        self.upstreams.is_empty()
    }

    /// True when upstream `index` is healthy.
    pub fn is_up(&self, index: usize) -> bool {
        self.upstreams.get(index).is_some_and(|upstream| upstream.up)
    }

    /// True when a healthy upstream is left that a query which tried `tried` could go to.
    pub fn has_healthy(&self, tried: &[usize]) -> bool {
        (0..self.upstreams.len()).any(|index| !tried.contains(&index) && self.upstreams[index].up)
    }

    /// The address of upstream `index`.
    pub fn addr(&self, index: usize) -> Option<SocketAddr> {
        self.upstreams.get(index).map(|upstream| upstream.addr)
    }

    /// Picks the upstream for a query that already tried `tried` (indices), counts the query and
    /// its in-flight slot. `None` when every upstream was tried.
    pub fn pick(&mut self, tried: &[usize], random: &mut dyn Random) -> Option<usize> {
        let candidates = self.candidates(tried);
        let chosen = match candidates.len() {
            0 => return None,
            1 => candidates[0],
            _ => self.choose(&candidates, random),
        };
        let upstream = &mut self.upstreams[chosen];
        upstream.queries += 1;
        upstream.in_flight += 1;
        Some(chosen)
    }

    /// The timeout of a query to upstream `index`: 4 x its smoothed RTT, within
    /// [`MIN_TIMEOUT_MS`]..=`timeout_ms`; `timeout_ms` while unmeasured.
    pub fn timeout_ms(&self, index: usize) -> u64 {
        let ceiling = self.settings.timeout_ms.max(MIN_TIMEOUT_MS);
        match self.upstreams.get(index).and_then(|upstream| upstream.srtt_ms) {
            Some(srtt) => ((srtt * 4.0) as u64).clamp(MIN_TIMEOUT_MS, ceiling),
            None => ceiling,
        }
    }

    /// Upstream `index` answered usefully after `rtt_ms`.
    pub fn on_success(&mut self, index: usize, rtt_ms: u64, now: Instant) {
        let rise = self.settings.rise.max(1);
        let rtt = rtt_ms as f64;
        self.sample(u32::try_from(rtt_ms).unwrap_or(u32::MAX));
        let Some(upstream) = self.upstreams.get_mut(index) else { return };
        upstream.in_flight = upstream.in_flight.saturating_sub(1);
        upstream.samples = upstream.samples.saturating_add(1);
        let gain = if upstream.samples <= WARM_UP_SAMPLES { f64::from(upstream.samples) } else { 8.0 };
        upstream.srtt_ms = Some(upstream.srtt_ms.map_or(rtt, |srtt| srtt + (rtt - srtt) / gain));
        upstream.consecutive_failures = 0;
        if !upstream.up {
            upstream.consecutive_successes += 1;
            if upstream.consecutive_successes >= rise {
                upstream.up = true;
                upstream.consecutive_successes = 0;
                let event = UpstreamEvent { upstream: upstream.addr, tier: upstream.tier, up: true, at: now, reason: Reason::Successes { count: rise } };
                self.events.push(event);
            }
        }
    }

    /// An exchange with upstream `index` failed.
    pub fn on_failure(&mut self, index: usize, kind: FailureKind, now: Instant) {
        let fall = self.settings.fall.max(1);
        let (timeout, probe_interval) = (self.timeout_ms(index), self.settings.probe_interval_ms);
        let Some(upstream) = self.upstreams.get_mut(index) else { return };
        upstream.in_flight = upstream.in_flight.saturating_sub(1);
        upstream.failures += 1;
        upstream.consecutive_successes = 0;
        upstream.consecutive_failures = upstream.consecutive_failures.saturating_add(1);
        if kind == FailureKind::Timeout {
            // A timeout doubles the smoothed RTT (at most to the timeout): a repeatedly silent
            // upstream drifts out of `lowest-latency`'s favour, one lost datagram does not.
            let ceiling = timeout as f64;
            upstream.srtt_ms = Some(upstream.srtt_ms.map_or(ceiling, |srtt| (srtt * 2.0).min(ceiling)));
        }
        if upstream.up && upstream.consecutive_failures >= fall {
            upstream.up = false;
            upstream.next_probe = now.plus_millis(probe_interval);
            let event = UpstreamEvent {
                upstream: upstream.addr,
                tier: upstream.tier,
                up: false,
                at: now,
                reason: Reason::Failures { count: upstream.consecutive_failures, last: kind },
            };
            self.events.push(event);
        }
    }

    /// A query to upstream `index` was abandoned (another upstream answered first).
    pub fn release(&mut self, index: usize) {
        if let Some(upstream) = self.upstreams.get_mut(index) {
            upstream.in_flight = upstream.in_flight.saturating_sub(1);
        }
    }

    /// The down upstreams due for a probe query now; each is due again after the interval. The
    /// driver sends the probe, counts it with [`UpstreamGroup::probe_sent`] and reports the
    /// outcome with [`UpstreamGroup::on_success`] / [`UpstreamGroup::on_failure`].
    pub fn probes_due(&mut self, now: Instant) -> Vec<usize> {
        let interval = self.settings.probe_interval_ms;
        let mut due = Vec::new();
        for (index, upstream) in self.upstreams.iter_mut().enumerate() {
            if !upstream.up && upstream.next_probe <= now {
                upstream.next_probe = now.plus_millis(interval);
                due.push(index);
            }
        }
        due
    }

    /// Counts a probe query sent to `index` (a query and an in-flight slot).
    pub fn probe_sent(&mut self, index: usize) {
        if let Some(upstream) = self.upstreams.get_mut(index) {
            upstream.queries += 1;
            upstream.in_flight += 1;
        }
    }

    /// When a second upstream should be asked, in milliseconds after the first query; `None`
    /// when hedging is off or the p95 is not known yet.
    pub fn hedge_delay_ms(&self) -> Option<u64> {
        match self.settings.hedge {
            Hedge::Off => None,
            Hedge::After(ms) => Some(ms),
            Hedge::P95 if self.samples.len() < 20 => None,
            Hedge::P95 => {
                let mut sorted = self.samples.clone();
                sorted.sort_unstable();
                let rank = (sorted.len() * 95).div_ceil(100).saturating_sub(1);
                Some(u64::from(sorted[rank]).max(1))
            }
        }
    }

    /// Takes the health changes since the last call.
    pub fn take_events(&mut self) -> Vec<UpstreamEvent> {
        std::mem::take(&mut self.events)
    }

    /// Counters and state of every upstream, primaries first.
    pub fn snapshot(&self) -> Vec<UpstreamSnapshot> {
        self.upstreams
            .iter()
            .map(|upstream| UpstreamSnapshot {
                addr: upstream.addr,
                tier: upstream.tier,
                up: upstream.up,
                queries: upstream.queries,
                failures: upstream.failures,
                srtt_ms: upstream.srtt_ms,
                in_flight: upstream.in_flight,
            })
            .collect()
    }

    /// The upstreams a query may go to: healthy untried primaries, else healthy untried backups,
    /// else (fail open) untried primaries, else untried backups.
    fn candidates(&self, tried: &[usize]) -> Vec<usize> {
        let select = |tier: Tier, healthy_only: bool| -> Vec<usize> {
            (0..self.upstreams.len())
                .filter(|index| !tried.contains(index))
                .filter(|&index| self.upstreams[index].tier == tier && (self.upstreams[index].up || !healthy_only))
                .collect()
        };
        [(Tier::Primary, true), (Tier::Backup, true), (Tier::Primary, false), (Tier::Backup, false)]
            .into_iter()
            .map(|(tier, healthy_only)| select(tier, healthy_only))
            .find(|list| !list.is_empty())
            .unwrap_or_default()
    }

    fn choose(&mut self, candidates: &[usize], random: &mut dyn Random) -> usize {
        match self.settings.policy {
            Policy::Ordered => candidates[0],
            Policy::RoundRobin => {
                self.turn = self.turn.wrapping_add(1);
                candidates[self.turn % candidates.len()]
            }
            Policy::WeightedRandom => {
                let total: u64 = candidates.iter().map(|&index| u64::from(self.upstreams[index].weight)).sum();
                if total == 0 {
                    return candidates[random_below(random, candidates.len() as u64) as usize];
                }
                let mut point = random_below(random, total);
                for &index in candidates {
                    let weight = u64::from(self.upstreams[index].weight);
                    if point < weight {
                        return index;
                    }
                    point -= weight;
                }
                candidates[candidates.len() - 1]
            }
            Policy::LowestLatency => {
                let len = candidates.len() as u64;
                if random_below(random, u64::from(EXPLORE_ONE_IN)) == 0 {
                    return candidates[random_below(random, len) as usize];
                }
                let first = random_below(random, len);
                let second = (first + 1 + random_below(random, len - 1)) % len;
                let (a, b) = (candidates[first as usize], candidates[second as usize]);
                if self.load(b) < self.load(a) {
                    b
                } else {
                    a
                }
            }
        }
    }

    /// Expected wait at upstream `index`: smoothed RTT x (in-flight + 1); upstreams still
    /// warming up count as 0 so they are measured at once.
    fn load(&self, index: usize) -> f64 {
        let upstream = &self.upstreams[index];
        if upstream.samples < WARM_UP_SAMPLES {
            return 0.0;
        }
        upstream.srtt_ms.unwrap_or(0.0) * f64::from(upstream.in_flight + 1)
    }

    fn sample(&mut self, rtt_ms: u32) {
        if self.samples.len() < RTT_SAMPLES {
            self.samples.push(rtt_ms);
        } else {
            self.samples[self.next_sample] = rtt_ms;
        }
        self.next_sample = (self.next_sample + 1) % RTT_SAMPLES;
    }
}

/// A uniform random number in `0..bound` (`bound` > 0; the modulo bias of 64 bits is negligible).
fn random_below(random: &mut dyn Random, bound: u64) -> u64 {
    let mut bytes = [0u8; 8];
    random.fill(&mut bytes);
    u64::from_le_bytes(bytes) % bound.max(1)
}

#[cfg(test)]
mod tests;
