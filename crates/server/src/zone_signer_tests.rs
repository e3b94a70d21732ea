use super::*;
use crate::dnssec_config::DnssecPolicy;
use portcullis_dnssec::rrsig::Rrsig;
use portcullis_engine::zonefile::{parse_zone_text, NoIncludes};

const ZONE: &str = "$TTL 300\n@ SOA ns1 hostmaster 7 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n";
const NOW: u64 = 1_800_000_000;

fn origin() -> NameBuf {
    NameBuf::from_text("example.", None).unwrap()
}

fn records(text: &str) -> Vec<ZoneRecord> {
    parse_zone_text(&origin(), text, "test", &NoIncludes).unwrap()
}

fn scratch(test: &str) -> ZoneSigning {
    let dir = std::env::temp_dir().join(format!("portcullis-signer-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    ZoneSigning { policy: DnssecPolicy::builtin(), key_directory: dir }
}

/// Signs, and keeps what the server keeps (records and the kept part).
fn sign_now(text: &str, signing: &ZoneSigning, previous: Option<&(Vec<Record>, SignedZone)>, now: u64) -> (Vec<Record>, SignedZone) {
    let previous = previous.map(|(records, kept)| Previous { kept: *kept, records });
    sign(&origin(), &records(text), signing, previous.as_ref(), Now::at(now)).unwrap()
}

/// When the zone's first key gets its CDS/CDNSKEY, as its stored state says.
fn cds_time(signing: &ZoneSigning) -> u64 {
    let keys = key_store::read_keys(&signing.key_directory, &origin(), signing.policy.split, NOW, &ring::rand::SystemRandom::new()).unwrap();
    keys.iter().find_map(|key| key.state.ds_publish).unwrap()
}

fn apex_types(zone: &(Vec<Record>, SignedZone)) -> Vec<Rtype> {
    zone.0.iter().filter(|r| r.owner == origin()).map(|r| r.rtype).collect()
}

fn tags(zone: &(Vec<Record>, SignedZone)) -> Vec<u16> {
    let mut tags: Vec<u16> = zone.0.iter().filter(|r| r.rtype == Rtype::DNSKEY).map(|r| portcullis_dnssec::key_tag(&r.rdata)).collect();
    tags.sort_unstable();
    tags
}

fn rrsigs(zone: &(Vec<Record>, SignedZone)) -> Vec<(NameBuf, Rtype, Vec<u8>)> {
    zone.0.iter().filter(|r| r.rtype == Rtype::RRSIG).map(|r| (r.owner, Rrsig::parse(&r.rdata).unwrap().0.type_covered, r.rdata.clone())).collect()
}

#[test]
fn keys_are_made_once_and_reused_with_cds_at_the_apex() {
    let signing = scratch("reuse");
    let first = sign_now(ZONE, &signing, None, NOW);
    assert_eq!(tags(&first).len(), 1, "one CSK");
    assert_eq!(first.1.serial, 7);
    for rtype in [Rtype::DNSKEY, Rtype::NSEC] {
        assert!(apex_types(&first).contains(&rtype), "{rtype} at the apex: {:?}", apex_types(&first));
    }
    // The first key's CDS/CDNSKEY wait max(Ipub, Isig): no cache holds the unsigned zone then.
    let ipub = signing.policy.zone_propagation_delay + u64::from(signing.policy.dnskey_ttl);
    let isig = signing.policy.zone_propagation_delay + 300;
    assert_eq!(cds_time(&signing), NOW + ipub.max(isig));
    assert!(!apex_types(&first).contains(&Rtype::CDS) && !apex_types(&first).contains(&Rtype::CDNSKEY), "no CDS yet");
    assert_eq!(first.1.next_signing, NOW + ipub.max(isig), "signed again when the CDS is due");
    let with_cds = sign_now(ZONE, &signing, Some(&first), NOW + ipub.max(isig));
    for rtype in [Rtype::CDS, Rtype::CDNSKEY, Rtype::DNSKEY] {
        assert!(apex_types(&with_cds).contains(&rtype), "{rtype} at the apex: {:?}", apex_types(&with_cds));
    }
    assert_eq!(tags(&with_cds), tags(&first));
    let private =
        std::fs::read_dir(&signing.key_directory).unwrap().filter_map(Result::ok).find(|e| e.file_name().to_string_lossy().ends_with(".private")).unwrap();
    assert!(key_store::is_private(&private.path()) && key_store::is_private(&signing.key_directory));
    // A restart: same keys, and the serial goes on from the stored one.
    let again = sign_now(ZONE, &signing, None, NOW + ipub.max(isig) + 10);
    assert_eq!(tags(&again), tags(&first));
    assert_eq!(again.1.serial, 9);
    assert!(apex_types(&again).contains(&Rtype::CDS), "the CDS stays after a restart");
    let _ = std::fs::remove_dir_all(&signing.key_directory);
}

#[test]
fn a_changed_record_is_signed_again_with_the_soa_and_nothing_else() {
    let signing = scratch("incremental");
    let first = sign_now(ZONE, &signing, None, NOW);
    let changed = sign_now(&ZONE.replace("192.0.2.2", "192.0.2.3"), &signing, Some(&first), NOW + 100);
    assert_eq!(changed.1.serial, 8);
    let (before, after) = (rrsigs(&first), rrsigs(&changed));
    assert_eq!(before.len(), after.len());
    let differing: Vec<(String, Rtype)> = before.iter().zip(&after).filter(|(a, b)| a != b).map(|(_, b)| (b.0.to_string(), b.1)).collect();
    assert_eq!(differing, [("example.".to_string(), Rtype::SOA), ("www.example.".to_string(), Rtype::A)]);
    // A file serial ahead of the served one wins.
    let ahead = sign_now(&ZONE.replace(" 7 7200", " 100 7200"), &signing, Some(&changed), NOW + 200);
    assert_eq!(ahead.1.serial, 100);
    // Read back from a built zone (owners lower-cased, as the engine keeps them), the previous
    // version still gives its signatures.
    let as_zone: Vec<ZoneRecord> =
        ahead.0.iter().map(|r| ZoneRecord { owner: r.owner, rtype: r.rtype, class: r.class, ttl: r.ttl, rdata: r.rdata.clone() }).collect();
    let built = portcullis_engine::load::build_checked(&origin(), &as_zone).unwrap();
    let read_back = zone_records(&built);
    let from_zone = sign_now(&ZONE.replace(" 7 7200", " 101 7200"), &signing, Some(&(read_back, ahead.1)), NOW + 300);
    assert_eq!(from_zone.1.serial, 101);
    let kept_signatures = rrsigs(&from_zone).into_iter().filter(|sig| rrsigs(&ahead).contains(sig)).count();
    assert_eq!(kept_signatures, rrsigs(&ahead).len() - 1, "all but the SOA's kept");
    let _ = std::fs::remove_dir_all(&signing.key_directory);
}

#[test]
fn serials_and_signing_times_follow_the_policy() {
    assert_eq!(next_serial(5, 9), 10);
    assert_eq!(next_serial(12, 9), 12);
    assert_eq!(next_serial(9, 9), 10);
    assert_eq!(next_serial(3, u32::MAX), 3, "RFC 1982: 3 is after 2^32-1");
    let signing = scratch("times");
    let policy = &signing.policy;
    let first = sign_now(ZONE, &signing, None, NOW);
    let cds = cds_time(&signing);
    assert_eq!(first.1.next_signing, cds, "the key event (CDS) comes before the refresh");
    // Signed afresh once the CDS is out: the policy's lifetimes (none by default) leave only the refresh.
    let (signed, kept) = sign_now(ZONE, &signing, None, cds);
    let (validity, refresh, jitter) = (policy.signature_validity, policy.signature_refresh, policy.signature_jitter);
    // The earliest expiration is within the jitter of the nominal one; the refresh comes before it.
    let nominal = cds + validity - refresh;
    assert!((nominal - jitter..=nominal).contains(&kept.next_signing), "{} not in {}..={nominal}", kept.next_signing, nominal - jitter);
    assert_eq!(next_signing(&signed, cds, refresh, Some(cds + 50)), cds + 50, "a key event comes first");
    assert_eq!(next_signing(&[], NOW, refresh, None), u64::MAX);
    let _ = std::fs::remove_dir_all(&signing.key_directory);
}

#[test]
fn an_unwritable_key_directory_is_a_clear_error() {
    let signing = scratch("unwritable");
    std::fs::write(&signing.key_directory, "a file, not a directory").unwrap();
    let blocked = ZoneSigning { key_directory: signing.key_directory.join("keys"), ..signing.clone() };
    let error = sign(&origin(), &records(ZONE), &blocked, None, Now::at(NOW)).unwrap_err();
    assert!(error.contains("key directory") && error.contains(&blocked.key_directory.display().to_string()), "{error}");
    let _ = std::fs::remove_file(&signing.key_directory);
}

#[test]
fn a_reload_with_nothing_changed_and_nothing_due_is_recognised() {
    let signing = scratch("unchanged");
    let (_, kept) = sign_now(ZONE, &signing, None, NOW);
    let unchanged = |text: &str, signing: &ZoneSigning, now: u64| is_unchanged(&origin(), &records(text), signing, &kept, Now::at(now)).unwrap();
    assert!(unchanged(ZONE, &signing, NOW + 100));
    assert!(!unchanged(&ZONE.replace("192.0.2.2", "192.0.2.3"), &signing, NOW + 100), "the file changed");
    assert!(!unchanged(ZONE, &signing, kept.next_signing), "signatures due");
    let other = ZoneSigning { policy: DnssecPolicy { signature_validity: 30 * 86_400, ..signing.policy.clone() }, ..signing.clone() };
    assert!(!unchanged(ZONE, &other, NOW + 100), "the policy changed");
    let _ = std::fs::remove_dir_all(&signing.key_directory);
}
