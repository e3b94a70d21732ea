use super::*;
use arc_swap::ArcSwap;
use portcullis_dnssec::rrsig::Rrsig;
use portcullis_engine::Engine;
use portcullis_wire::Rtype;
use std::sync::atomic::{AtomicU64, Ordering};

/// The fake clock of this test module.
static NOW: AtomicU64 = AtomicU64::new(0);

fn fake_now() -> u64 {
    NOW.load(Ordering::Relaxed)
}

const T0: u64 = 1_800_000_000;

/// The earliest RRSIG expiration of the served zone.
fn earliest_expiration(engine: &EngineHandle, origin: &NameBuf) -> u32 {
    let served = engine.load_full();
    let zone = served.zones().get(origin).unwrap().clone();
    zone_signer::zone_records(&zone).iter().filter(|r| r.rtype == Rtype::RRSIG).map(|r| Rrsig::parse(&r.rdata).unwrap().0.expiration).min().unwrap()
}

#[test]
fn the_refresh_signs_again_when_due_by_the_clock_and_not_before() {
    let dir = std::env::temp_dir().join(format!("portcullis-refresh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("z.zone"), "$TTL 300\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n").unwrap();
    let text = "[[zone]]\norigin = \"example.\"\nfile = \"z.zone\"\ndnssec-policy = \"quick\"\n[[dnssec-policy]]\nname = \"quick\"\n\
                signature-validity = 3600\nsignature-refresh = 600\nsignature-jitter = 0\n";
    let (raw, _) = crate::config::parse_file(text).unwrap();
    let settings = crate::config::validate(&raw, Some(&dir)).unwrap();
    let zone = &settings.zones[0];
    NOW.store(T0, Ordering::Relaxed);
    let signing = Signing::new(&settings).with_clock(fake_now);
    let built = signing.load(zone, zone.signing.as_ref().unwrap(), None, signing.now()).unwrap();
    let engine: EngineHandle = Arc::new(ArcSwap::from_pointee(Engine::new(ZoneSet::new(vec![built]), settings.engine.clone(), Arc::default())));
    // Due at T0 + validity - refresh (no jitter).
    assert_eq!(signing.next_due(), Some(Duration::from_secs(3000)));
    assert_eq!(earliest_expiration(&engine, &zone.origin), (T0 + 3600) as u32);
    NOW.store(T0 + 2999, Ordering::Relaxed);
    let before = engine.load_full();
    signing.refresh(&engine, &Mutex::new(()));
    assert!(Arc::ptr_eq(&before, &engine.load_full()), "not due: nothing swapped");
    NOW.store(T0 + 3000, Ordering::Relaxed);
    assert_eq!(signing.next_due(), Some(Duration::ZERO));
    signing.refresh(&engine, &Mutex::new(()));
    let served = engine.load_full();
    assert_eq!(served.zones().get(&zone.origin).unwrap().serial(), Some(2), "refreshed signatures: a new serial");
    assert_eq!(earliest_expiration(&engine, &zone.origin), (T0 + 3000 + 3600) as u32);
    // The first key's CDS/CDNSKEY come at T0 + max(Ipub, Isig) = T0 + 3900 (the default
    // propagation delay, 3600 s, and the zone's TTLs, 300 s): a key event before the refresh.
    assert_eq!(signing.next_due(), Some(Duration::from_secs(900)));
    let apex_has = |engine: &EngineHandle, rtype: Rtype| {
        let served = engine.load_full();
        zone_signer::zone_records(served.zones().get(&zone.origin).unwrap()).iter().any(|r| r.rtype == rtype && r.owner == zone.origin)
    };
    assert!(!apex_has(&engine, Rtype::CDS));
    NOW.store(T0 + 3900, Ordering::Relaxed);
    signing.refresh(&engine, &Mutex::new(()));
    assert!(apex_has(&engine, Rtype::CDS) && apex_has(&engine, Rtype::CDNSKEY), "CDS and CDNSKEY published when due");
    assert_eq!(engine.load_full().zones().get(&zone.origin).unwrap().serial(), Some(3));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_key_clock_test_hook_reads_its_file_and_leaves_signatures_on_the_clock() {
    let dir = std::env::temp_dir().join(format!("portcullis-key-clock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (raw, _) = crate::config::parse_file("").unwrap();
    let settings = crate::config::validate(&raw, Some(&dir)).unwrap();
    let file = dir.join("key-clock");
    // A clock of its own: the other test moves `NOW`.
    let signing = Signing { key_clock_file: Some(file.clone()), ..Signing::new(&settings).with_clock(|| T0) };
    assert_eq!(signing.now(), Now::at(T0), "no file yet: the clock, with timed key events");
    std::fs::write(&file, format!("{}\n", T0 + 86_400)).unwrap();
    assert_eq!(signing.now(), Now { keys: T0 + 86_400, signatures: T0, timed_key_events: false });
    std::fs::write(&file, "tomorrow").unwrap();
    assert_eq!(signing.now(), Now::at(T0), "unreadable: the clock");
    let _ = std::fs::remove_dir_all(&dir);
}
