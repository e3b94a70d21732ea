use super::*;

fn zone(text: &str) -> NameBuf {
    NameBuf::from_text(text, None).unwrap()
}

const LIMITS: ZoneLimits = ZoneLimits { failure_rate: 10, query_rate: 5, factor: 10 };

/// Holds `name` at `now` by `LIMITS.failure_rate` failures.
fn hold(rates: &ZoneRates, name: &str, now: Instant) {
    for _ in 0..LIMITS.failure_rate {
        rates.record(&zone(name), true, LIMITS, now);
    }
}

#[test]
fn honest_load_is_never_limited_however_many_queries_go() {
    let rates = ZoneRates::default();
    let now = Instant::from_secs(100);
    // Thousands of queries a second, each answered (a referral, an answer, NODATA).
    for _ in 0..10_000 {
        assert!(rates.allow(&zone("tld."), LIMITS, now));
        rates.record(&zone("tld."), false, LIMITS, now);
    }
    // Failures below the rate, second after second.
    for second in 0..5 {
        let now = now.plus_millis(1000 * second);
        for _ in 0..LIMITS.failure_rate - 1 {
            assert!(rates.allow(&zone("tld."), LIMITS, now));
            rates.record(&zone("tld."), true, LIMITS, now);
        }
    }
    assert_eq!(rates.limited.load(Ordering::Relaxed), 0);
    assert_eq!(rates.holds.load(Ordering::Relaxed), 0);
    assert!(rates.events(now).is_empty());
}

#[test]
fn failures_at_the_flood_rate_hold_the_zone_and_only_the_query_rate_goes() {
    let rates = ZoneRates::default();
    let now = Instant::from_secs(100);
    hold(&rates, "victim.test.", now);
    let events = rates.events(now);
    assert_eq!(events, vec![HoldEvent::Started { zone: zone("victim.test."), failures: 10 }]);
    // The rest of the second: 5 within the query rate, then the 10th and 20th past it.
    let allowed: Vec<bool> = (0..25).map(|_| rates.allow(&zone("VICTIM.test."), LIMITS, now)).collect();
    let expected: Vec<bool> = (1..=25).map(|n| n <= 5 || (n - 5) % 10 == 0).collect();
    assert_eq!(allowed, expected);
    assert_eq!(rates.limited.load(Ordering::Relaxed), 18);
    // Other zones are untouched, and the next second starts again.
    assert!((0..100).all(|_| rates.allow(&zone("other.test."), LIMITS, now)));
    // However many ask, at most twice the query rate goes: 5, then 5 of the one-in-ten.
    let next = now.plus_millis(1000);
    assert_eq!((0..1000).filter(|_| rates.allow(&zone("victim.test."), LIMITS, next)).count(), 5 + 5);
}

#[test]
fn the_hold_lasts_while_failures_go_on_and_ends_with_an_event() {
    let rates = ZoneRates::default();
    let start = Instant::from_secs(100);
    hold(&rates, "victim.test.", start);
    // Half the failure rate each second keeps it held.
    for second in 1..=8 {
        let now = start.plus_millis(1000 * second);
        for _ in 0..LIMITS.failure_rate / 2 {
            rates.record(&zone("victim.test."), true, LIMITS, now);
        }
        assert_eq!(rates.held_zones(now), 1, "second {second}");
        assert!(!(0..50).all(|_| rates.allow(&zone("victim.test."), LIMITS, now)));
    }
    rates.events(start);
    // Quiet: held for HOLD_SECONDS after the last extension, then released.
    let last = start.plus_millis(8000);
    assert_eq!(rates.held_zones(last.plus_millis(1000 * HOLD_SECONDS)), 1);
    let after = last.plus_millis(1000 * (HOLD_SECONDS + 1));
    assert_eq!(rates.held_zones(after), 0);
    assert!((0..100).all(|_| rates.allow(&zone("victim.test."), LIMITS, after)));
    match rates.events(after).as_slice() {
        [HoldEvent::Ended { zone: ended, seconds, held_back }] => {
            assert_eq!(ended, &zone("victim.test."));
            assert_eq!(*seconds, 8 + HOLD_SECONDS + 1);
            assert_eq!(*held_back, rates.limited.load(Ordering::Relaxed));
            assert!(*held_back > 0);
        }
        other => panic!("expected one end event, got {other:?}"),
    }
}

#[test]
fn zero_turns_the_limit_off_and_factor_zero_lets_none_through() {
    let rates = ZoneRates::default();
    let now = Instant::from_secs(100);
    let off = ZoneLimits { failure_rate: 0, ..LIMITS };
    for _ in 0..1000 {
        rates.record(&zone("a.test."), true, off, now);
    }
    assert!((0..1000).all(|_| rates.allow(&zone("a.test."), off, now)));
    let strict = ZoneLimits { factor: 0, ..LIMITS };
    for _ in 0..LIMITS.failure_rate {
        rates.record(&zone("b.test."), true, strict, now);
    }
    assert_eq!((0..100).filter(|_| rates.allow(&zone("b.test."), strict, now)).count(), 5);
}

#[test]
fn the_table_stays_bounded() {
    let rates = ZoneRates::default();
    let now = Instant::from_secs(100);
    for n in 0..MAX_ZONES + 10 {
        rates.record(&zone(&format!("z{n}.test.")), true, LIMITS, now);
    }
    assert!(rates.lock().windows.len() <= MAX_ZONES);
    let later = now.plus_millis(1000);
    for n in 0..MAX_ZONES + 10 {
        rates.record(&zone(&format!("y{n}.test.")), true, LIMITS, later);
    }
    assert!(rates.lock().windows.len() <= MAX_ZONES);
}
