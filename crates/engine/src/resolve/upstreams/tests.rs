//! Selection and health of [`UpstreamGroup`] with a fake clock and a seeded random source. Each
//! policy's distribution is checked against its definition; the tolerance is stated per test.

use super::*;
use crate::resolve::SeededRandom;

fn addrs(count: usize, base: u16) -> Vec<SocketAddr> {
    (0..count).map(|index| SocketAddr::from(([192, 0, 2, 1 + index as u8], base))).collect()
}

fn group(policy: Policy, primaries: usize, backups: usize) -> UpstreamGroup {
    UpstreamGroup::new(GroupSettings { policy, primaries: addrs(primaries, 53), backups: addrs(backups, 5353), ..GroupSettings::default() })
}

/// Picks `rounds` times, each query answered at once after `rtt(index)` ms; returns the counts.
fn distribution(group: &mut UpstreamGroup, rounds: usize, seed: u64, rtt: impl Fn(usize) -> u64) -> Vec<usize> {
    let mut random = SeededRandom::new(seed);
    let mut counts = vec![0; group.len()];
    for _ in 0..rounds {
        let index = group.pick(&[], &mut random).unwrap();
        counts[index] += 1;
        group.on_success(index, rtt(index), Instant::ZERO);
    }
    counts
}

#[test]
fn round_robin_is_exactly_even() {
    // Definition: each healthy primary in turn. Tolerance: none.
    let mut group = group(Policy::RoundRobin, 3, 1);
    assert_eq!(distribution(&mut group, 3000, 1, |_| 1), [1000, 1000, 1000, 0]);
}

#[test]
fn weighted_random_follows_the_weights() {
    // Definition: P(i) = w_i / sum(w). Weights 1:2:7 over 20000 picks; tolerance 1.5 percentage
    // points (more than 7 standard deviations of the largest share).
    let settings = GroupSettings { policy: Policy::WeightedRandom, primaries: addrs(3, 53), weights: vec![1, 2, 7], ..GroupSettings::default() };
    let mut group = UpstreamGroup::new(settings);
    let counts = distribution(&mut group, 20_000, 7, |_| 1);
    for (count, expected) in counts.iter().zip([0.1, 0.2, 0.7]) {
        let share = *count as f64 / 20_000.0;
        assert!((share - expected).abs() < 0.015, "{counts:?}");
    }
}

#[test]
fn lowest_latency_prefers_the_fastest_by_power_of_two_choices() {
    // Definition: with probability 1/20 a uniform pick; otherwise the better of two distinct
    // uniform candidates. RTTs 5, 10, 100 ms: expected shares 0.95*2/3 + 0.05/3 = 0.650,
    // 0.95/3 + 0.05/3 = 0.333, 0.05/3 = 0.017. Tolerance 2 percentage points over 20000 picks.
    let mut group = group(Policy::LowestLatency, 3, 0);
    let rtts = [5, 10, 100];
    for (index, rtt) in rtts.iter().enumerate() {
        group.on_success(index, *rtt, Instant::ZERO);
    }
    let counts = distribution(&mut group, 20_000, 11, |index| rtts[index]);
    for (count, expected) in counts.iter().zip([0.650, 0.333, 0.017]) {
        let share = *count as f64 / 20_000.0;
        assert!((share - expected).abs() < 0.02, "{counts:?}");
    }
}

#[test]
fn lowest_latency_weighs_queries_in_flight() {
    // Equal RTTs; upstream 0 has 5 queries outstanding: 0 wins only when it is drawn twice,
    // which P2C on distinct candidates never does, or by exploration (1/20 x 1/2).
    let mut group = group(Policy::LowestLatency, 2, 0);
    let mut random = SeededRandom::new(3);
    for _ in 0..WARM_UP_SAMPLES {
        group.on_success(0, 10, Instant::ZERO);
        group.on_success(1, 10, Instant::ZERO);
    }
    for _ in 0..5 {
        group.upstreams[0].in_flight += 1;
    }
    let to_busy = (0..2000).filter(|_| {
        let index = group.pick(&[], &mut random).unwrap();
        group.release(index);
        index == 0
    });
    assert!(to_busy.count() < 2000 / 20, "busy upstream still chosen too often");
}

#[test]
fn ordered_sends_everything_to_the_first_healthy() {
    let mut group = group(Policy::Ordered, 3, 0);
    assert_eq!(distribution(&mut group, 100, 1, |index| [50, 1, 1][index]), [100, 0, 0], "order wins over latency");
    for _ in 0..3 {
        group.on_failure(0, FailureKind::Timeout, Instant::ZERO);
    }
    assert_eq!(distribution(&mut group, 100, 1, |_| 1), [0, 100, 0]);
}

#[test]
fn fall_marks_down_and_rise_brings_back_with_reasons() {
    let mut group = group(Policy::RoundRobin, 2, 0);
    let now = Instant::from_secs(10);
    group.on_failure(0, FailureKind::Timeout, now);
    group.on_failure(0, FailureKind::ServFail, now);
    assert!(group.snapshot()[0].up, "2 failures < fall 3");
    group.on_success(0, 3, now);
    group.on_failure(0, FailureKind::Timeout, now);
    group.on_failure(0, FailureKind::Timeout, now);
    assert!(group.snapshot()[0].up, "a success resets the count");
    group.on_failure(0, FailureKind::Refused, now);
    assert!(!group.snapshot()[0].up);
    let events = group.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason, Reason::Failures { count: 3, last: FailureKind::Refused });
    assert_eq!(events[0].reason.to_string(), "3 consecutive failures, the last: REFUSED");
    assert!(group.take_events().is_empty(), "drained");
    // Probes: due one interval after going down, then every interval.
    assert!(group.probes_due(now.plus_millis(999)).is_empty());
    assert_eq!(group.probes_due(now.plus_millis(1000)), [0]);
    assert!(group.probes_due(now.plus_millis(1500)).is_empty());
    group.probe_sent(0);
    group.on_success(0, 2, now.plus_millis(1001));
    assert!(!group.snapshot()[0].up, "1 success < rise 2");
    assert_eq!(group.probes_due(now.plus_millis(2000)), [0]);
    group.probe_sent(0);
    group.on_success(0, 2, now.plus_millis(2001));
    assert!(group.snapshot()[0].up);
    let events = group.take_events();
    assert_eq!((events.len(), events[0].up, events[0].reason), (1, true, Reason::Successes { count: 2 }));
    assert_eq!(group.snapshot()[0].in_flight, 0, "probes release their slot");
}

#[test]
fn backups_only_while_no_primary_is_healthy() {
    let mut group = group(Policy::RoundRobin, 2, 2);
    assert_eq!(distribution(&mut group, 100, 1, |_| 1), [50, 50, 0, 0]);
    for _ in 0..3 {
        group.on_failure(0, FailureKind::Timeout, Instant::ZERO);
    }
    assert_eq!(distribution(&mut group, 100, 1, |_| 1), [0, 100, 0, 0], "one primary left: backups stay idle");
    for _ in 0..3 {
        group.on_failure(1, FailureKind::Unreachable, Instant::ZERO);
    }
    assert_eq!(distribution(&mut group, 100, 1, |_| 1), [0, 0, 50, 50], "no primary: the backups share");
    // Primary 1 recovers (rise 2): traffic goes back to it alone.
    group.on_success(1, 1, Instant::ZERO);
    group.on_success(1, 1, Instant::ZERO);
    assert_eq!(distribution(&mut group, 100, 1, |_| 1), [0, 100, 0, 0]);
}

#[test]
fn retries_go_to_untried_upstreams_then_fail_open() {
    let mut group = group(Policy::Ordered, 2, 1);
    let mut random = SeededRandom::new(1);
    assert_eq!(group.pick(&[], &mut random), Some(0));
    assert_eq!(group.pick(&[0], &mut random), Some(1), "same tier first");
    assert_eq!(group.pick(&[0, 1], &mut random), Some(2), "then the backups");
    assert_eq!(group.pick(&[0, 1, 2], &mut random), None);
    // Everything down: the group still asks (primaries first), it never blackholes.
    for index in 0..3 {
        for _ in 0..3 {
            group.on_failure(index, FailureKind::Timeout, Instant::ZERO);
        }
    }
    assert_eq!(group.pick(&[], &mut random), Some(0));
    assert_eq!(group.pick(&[0, 1], &mut random), Some(2));
}

#[test]
fn timeouts_follow_the_smoothed_rtt() {
    let mut group = group(Policy::Ordered, 1, 0);
    assert_eq!(group.timeout_ms(0), 1000, "unmeasured: the configured timeout");
    group.on_success(0, 100, Instant::ZERO);
    assert_eq!(group.timeout_ms(0), 400);
    group.on_success(0, 1, Instant::ZERO);
    assert_eq!(group.timeout_ms(0), 202, "warming up: the mean, 50.5, x4");
    group.on_success(0, 1, Instant::ZERO);
    group.on_success(0, 1, Instant::ZERO);
    assert_eq!(group.timeout_ms(0), MIN_TIMEOUT_MS, "then gain 1/8: 34 + (1 - 34)/8 = 29.9, x4 = 119.5, at least the minimum");
    group.on_failure(0, FailureKind::Timeout, Instant::ZERO);
    assert_eq!(group.timeout_ms(0), 239, "a timeout doubles the srtt (59.8), x4");
    for _ in 0..4 {
        group.on_failure(0, FailureKind::Timeout, Instant::ZERO);
    }
    assert_eq!(group.timeout_ms(0), 1000, "at most the configured timeout");
}

#[test]
fn hedge_delay_is_configured_or_the_p95() {
    let mut group = UpstreamGroup::new(GroupSettings { primaries: addrs(2, 53), hedge: Hedge::P95, ..GroupSettings::default() });
    assert_eq!(group.hedge_delay_ms(), None, "not measured yet");
    for rtt in 1..=100 {
        group.pick(&[], &mut SeededRandom::new(rtt));
        group.on_success(0, rtt, Instant::ZERO);
    }
    assert_eq!(group.hedge_delay_ms(), Some(95));
    let fixed = UpstreamGroup::new(GroupSettings { primaries: addrs(2, 53), hedge: Hedge::After(30), ..GroupSettings::default() });
    assert_eq!(fixed.hedge_delay_ms(), Some(30));
    assert_eq!(UpstreamGroup::new(GroupSettings::default()).hedge_delay_ms(), None);
}

#[test]
fn counters_account_for_every_query() {
    let mut group = group(Policy::RoundRobin, 2, 0);
    let mut random = SeededRandom::new(5);
    for round in 0..10 {
        let index = group.pick(&[], &mut random).unwrap();
        if round % 5 == 0 {
            group.on_failure(index, FailureKind::Malformed, Instant::ZERO);
        } else {
            group.on_success(index, 4, Instant::ZERO);
        }
    }
    let snapshot = group.snapshot();
    assert_eq!(snapshot.iter().map(|upstream| upstream.queries).sum::<u64>(), 10);
    assert_eq!(snapshot.iter().map(|upstream| upstream.failures).sum::<u64>(), 2);
    assert!(snapshot.iter().all(|upstream| upstream.in_flight == 0));
    assert_eq!(Policy::from_name("weighted-random"), Some(Policy::WeightedRandom));
    assert_eq!(Policy::from_name("fastest"), None);
}
