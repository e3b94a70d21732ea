use super::*;
use portcullis_engine::auth::diff::diff;
use portcullis_engine::load::load_zone_text;
use portcullis_engine::zonefile::NoIncludes;
use portcullis_wire::NameBuf;

fn zone(serial: u32, body: &str) -> portcullis_engine::auth::Zone {
    let origin = NameBuf::from_text("example.", None).unwrap();
    let text = format!("$ORIGIN example.\n$TTL 300\n@ SOA ns host {serial} 3600 900 604800 60\n@ NS ns\nns A 192.0.2.53\n{body}");
    load_zone_text(&origin, &text, "test", &NoIncludes).unwrap()
}

/// Differences 1->2, 2->3, ... each adding one TXT record of `size` octets.
fn changes(count: u32, size: usize) -> Vec<ZoneDiff> {
    // TXT strings of at most 250 octets each, `size` octets in all.
    let text = |serial: u32| format!("v{serial} TXT {}\n", vec![format!("\"{}\"", "x".repeat(250)); size.div_ceil(250)].join(" "));
    let versions: Vec<_> = (1..=count + 1).map(|serial| zone(serial, &text(serial))).collect();
    versions.windows(2).map(|pair| diff(&pair[0], &pair[1]).unwrap()).collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-journal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("sub").join("example.jnl")
}

#[test]
fn appended_changes_are_there_after_a_reopen() {
    let path = scratch("reopen");
    let (mut journal, none) = Journal::open(&path, JournalLimits::DEFAULT).unwrap();
    assert!(none.is_empty() && !path.exists(), "no file before the first change");
    let all = changes(3, 10);
    for change in &all {
        journal.append(change).unwrap();
    }
    assert_eq!(journal.since(2).unwrap(), all[1..].to_vec());
    assert!(journal.since(9).is_none());
    let (again, read) = Journal::open(&path, JournalLimits::DEFAULT).unwrap();
    assert_eq!(read, all);
    assert_eq!(again.last_serial(), Some(4));
    assert!(journal.append(&all[0]).is_err(), "a change that does not follow is refused");
}

#[test]
fn a_torn_tail_is_cut_at_open_and_appending_goes_on_after_it() {
    let path = scratch("torn");
    let (mut journal, _) = Journal::open(&path, JournalLimits::DEFAULT).unwrap();
    let all = changes(3, 10);
    journal.append(&all[0]).unwrap();
    journal.append(&all[1]).unwrap();
    let good = std::fs::metadata(&path).unwrap().len();
    // A crash in the middle of the third append: half of it on disk.
    let framed = portcullis_engine::auth::diff::codec::frame(&portcullis_engine::auth::diff::codec::encode(&all[2]));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&framed[..framed.len() / 2]);
    std::fs::write(&path, &bytes).unwrap();
    let (mut journal, read) = Journal::open(&path, JournalLimits::DEFAULT).unwrap();
    assert_eq!(read, all[..2].to_vec());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good, "the torn tail is cut off the file");
    journal.append(&all[2]).unwrap();
    assert_eq!(Journal::open(&path, JournalLimits::DEFAULT).unwrap().1, all);
    std::fs::write(&path, b"not a journal at all").unwrap();
    assert!(Journal::open(&path, JournalLimits::DEFAULT).is_err(), "another file is never cut");
}

#[test]
fn over_its_size_the_oldest_changes_the_file_holds_are_dropped() {
    let path = scratch("size");
    let limits = JournalLimits { max_bytes: 4000, min_changes: 2 };
    let (mut journal, _) = Journal::open(&path, limits).unwrap();
    let all = changes(20, 500);
    for change in &all {
        journal.append(change).unwrap();
    }
    assert_eq!(journal.history().len(), 20, "nothing dropped while the zone file holds none of it");
    assert!(journal.wants_flush());
    journal.set_durable(15).unwrap();
    let kept = journal.history();
    assert!(kept.len() < 20 && kept.first_serial() <= Some(15), "only what the file holds is dropped: {:?}", kept.first_serial());
    journal.set_durable(21).unwrap();
    assert!(journal.size() <= 4000 && journal.history().len() >= 2, "{} octets, {} changes", journal.size(), journal.history().len());
    let (_, read) = Journal::open(&path, limits).unwrap();
    assert_eq!(read.len(), journal.history().len());
    assert_eq!(read.last(), all.last());
}

#[test]
fn a_restart_replays_what_the_file_lacks_and_clears_a_journal_the_file_does_not_lead_into() {
    let path = scratch("replay");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = path.with_file_name("example.zone");
    let settings = crate::zone_config::zone_settings("example.", &file.display().to_string(), None).unwrap();
    assert_eq!(settings.journal, path.with_file_name("example.zone.jnl"));
    let (one, two) = (zone(1, "a A 192.0.2.1\n"), zone(2, "a A 192.0.2.2\n"));
    let journals = zones::Journals::default();
    assert_eq!(journals.replay(&settings, one.clone()).serial(), Some(1), "no journal: the file as it is");
    let recorded = journals.record(&settings, &one, two.clone(), false).unwrap();
    assert_eq!(recorded.history().len(), 1);
    // The file still at serial 1 (a change it does not hold): replayed to 2, with history.
    let replayed = zones::Journals::default().replay(&settings, one.clone());
    assert_eq!((replayed.serial(), replayed.history().len()), (Some(2), 1));
    // A file edited to serial 5 while the server was down: served as it is, the journal cleared.
    let edited = zones::Journals::default().replay(&settings, zone(5, ""));
    assert_eq!((edited.serial(), edited.history().len()), (Some(5), 0));
    assert!(!settings.journal.exists(), "the journal that no longer leads to the zone is removed");
}
