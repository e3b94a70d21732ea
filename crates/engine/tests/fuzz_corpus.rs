//! Replays the fuzz seed corpora (`fuzz/corpus/*`) through the fuzz target bodies, so CI runs them
//! without a fuzzer.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect();
    files.sort();
    assert!(files.len() >= 10, "corpus {} has only {} seeds", dir.display(), files.len());
    files
}

#[test]
fn message_corpus_replays_without_panic() {
    for (path, data) in corpus("message") {
        let outcome = std::panic::catch_unwind(|| portcullis_engine::fuzz::message(&data));
        assert!(outcome.is_ok(), "{} panicked", path.display());
    }
}

#[test]
fn zone_file_corpus_replays_without_panic() {
    for (path, data) in corpus("zone_file") {
        let outcome = std::panic::catch_unwind(|| portcullis_engine::fuzz::zone_file(&data));
        assert!(outcome.is_ok(), "{} panicked", path.display());
    }
}

#[test]
fn rpz_corpus_replays_without_panic() {
    for (path, data) in corpus("rpz") {
        let outcome = std::panic::catch_unwind(|| portcullis_engine::policy::rpz::fuzz::policy(&data));
        assert!(outcome.is_ok(), "{} panicked", path.display());
    }
}

#[test]
fn journal_corpus_replays_without_panic() {
    for (path, data) in corpus("journal") {
        let outcome = std::panic::catch_unwind(|| portcullis_engine::fuzz::journal(&data));
        assert!(outcome.is_ok(), "{} panicked", path.display());
    }
}

#[test]
fn update_corpus_replays_without_panic() {
    for (path, data) in corpus("update") {
        let outcome = std::panic::catch_unwind(|| portcullis_engine::fuzz::update(&data));
        assert!(outcome.is_ok(), "{} panicked", path.display());
    }
}

#[test]
fn cache_import_corpus_replays_without_panic() {
    for (path, data) in corpus("cache_import") {
        let outcome = std::panic::catch_unwind(|| portcullis_engine::fuzz::cache_import(&data));
        assert!(outcome.is_ok(), "{} panicked", path.display());
    }
}
