//! An outside suite: CZ.NIC Deckard's resolver scenarios (testbound replay format) run against
//! the sans-IO resolver with scripted upstream answers and a fake clock (our own runner; see
//! `deckard/runner.rs`). Every `iter_*`, `fwd_*` and `world_*` scenario of
//! `../shared/conformance/deckard-sets/resolver/` runs twice, QNAME minimisation on and off (a
//! scenario's `query-minimization` option forces one setting for both runs); so does every
//! `val_*` scenario, validating with its `trust-anchor` at its `val-override-date` (the client
//! sees AD, RRSIGs and SERVFAIL for bogus answers as the engine writes them), and so do `nsec*`
//! and `black_*` (`val-override-timestamp` too). Unscripted upstream
//! queries are tolerated (counted, then timed out).
//!
//! `testdata/deckard/pass-list.txt` lists every run as `scenario mode pass` or
//! `scenario mode fail reason`. The test fails when a run listed as passing fails (regression
//! guard) and prints runs that pass but are not listed as passing. `DECKARD_UPDATE=1` rewrites
//! the list from the current results (keeping hand-written reasons of runs still failing).
//! `DECKARD_DIR` overrides the scenario directory; `DECKARD_ONLY` runs the scenarios whose name
//! contains it and `DECKARD_MODE=on|off` one mode (both without the regression check);
//! `DECKARD_TRACE=1` prints every upstream query.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "deckard/rpl.rs"]
mod rpl;
#[path = "deckard/runner.rs"]
mod runner;
#[path = "deckard/upstream.rs"]
mod upstream;

use runner::{Mode, Outcome};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn scenario_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("DECKARD_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/deckard-sets/resolver")
}

fn pass_list_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/deckard/pass-list.txt")
}

/// (scenario, mode) → Some(reason) for expected failures, None for expected passes.
fn read_pass_list() -> BTreeMap<(String, String), Option<String>> {
    let mut list = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(pass_list_path()) else { return list };
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.splitn(4, char::is_whitespace);
        let (Some(name), Some(mode), Some(status)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let reason = parts.next().unwrap_or("").trim().to_string();
        list.insert((name.to_string(), mode.to_string()), if status == "pass" { None } else { Some(reason) });
    }
    list
}

fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

struct Row {
    name: String,
    mode: Mode,
    outcome: Outcome,
}

fn one_line(text: &str) -> String {
    let line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if line.chars().count() > 160 {
        format!("{}…", line.chars().take(160).collect::<String>())
    } else {
        line
    }
}

#[test]
fn deckard_resolver_scenarios() {
    let dir = scenario_dir();
    let Ok(read) = std::fs::read_dir(&dir) else {
        println!("deckard: no scenarios at {} (skipped)", dir.display());
        return;
    };
    let only = std::env::var("DECKARD_ONLY").ok();
    let mut files: Vec<(String, PathBuf)> = read
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "rpl"))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_string(), p.clone())))
        .filter(|(name, _)| ["iter_", "fwd_", "world_", "val_", "nsec", "black_"].iter().any(|prefix| name.starts_with(prefix)))
        .filter(|(name, _)| only.as_ref().is_none_or(|o| name.contains(o.as_str())))
        .collect();
    files.sort();
    let started = std::time::Instant::now();
    let mode_only = std::env::var("DECKARD_MODE").ok();
    let jobs: Vec<(String, PathBuf, Mode)> = files
        .iter()
        .flat_map(|(n, p)| [Mode::On, Mode::Off].map(|m| (n.clone(), p.clone(), m)))
        .filter(|(_, _, m)| mode_only.as_ref().is_none_or(|o| o == m.label()))
        .collect();
    let run_job = |(name, path, mode): &(String, PathBuf, Mode)| -> Row {
        let outcome = match std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|text| rpl::parse(&text)) {
            Ok(scenario) => runner::run(&scenario, *mode, seed_of(name)),
            Err(e) => Outcome { pass: false, reason: format!("parse: {e}"), queries: 0, unscripted: 0, unused_replies: 0, qmin: *mode == Mode::On },
        };
        Row { name: name.clone(), mode: *mode, outcome }
    };
    // Two workers: the scenarios are independent.
    let mut rows: Vec<Row> = std::thread::scope(|scope| {
        let (left, right): (Vec<_>, Vec<_>) = jobs.iter().enumerate().partition(|(i, _)| i % 2 == 0);
        let a = scope.spawn(move || left.into_iter().map(|(i, j)| (i, run_job(j))).collect::<Vec<_>>());
        let b = scope.spawn(move || right.into_iter().map(|(i, j)| (i, run_job(j))).collect::<Vec<_>>());
        let mut all = a.join().unwrap();
        all.extend(b.join().unwrap());
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, row)| row).collect()
    });
    rows.sort_by(|a, b| (&a.name, a.mode.label()).cmp(&(&b.name, b.mode.label())));
    let elapsed = started.elapsed();

    let list = read_pass_list();
    println!("\n{:<40} {:<5} {:<4} {:>4} {:>5} reason", "scenario", "qmin", "res", "sent", "unscr");
    for row in &rows {
        let o = &row.outcome;
        let mode = if o.qmin == (row.mode == Mode::On) { row.mode.label().to_string() } else { format!("{}*", row.mode.label()) };
        println!("{:<40} {:<5} {:<4} {:>4} {:>5} {}", row.name, mode, if o.pass { "PASS" } else { "fail" }, o.queries, o.unscripted, one_line(&o.reason));
    }
    let count = |prefix: &str, mode: Option<Mode>| {
        let runs: Vec<&Row> = rows.iter().filter(|r| r.name.starts_with(prefix) && mode.is_none_or(|m| r.mode == m)).collect();
        (runs.iter().filter(|r| r.outcome.pass).count(), runs.len())
    };
    let strict = rows.iter().filter(|r| r.name.starts_with("iter_") && r.outcome.pass && r.outcome.unscripted == 0).count();
    println!("\n(* = the scenario's query-minimization option overrides the mode)");
    for (label, prefix, mode) in [
        ("iter_* qmin on", "iter_", Some(Mode::On)),
        ("iter_* qmin off", "iter_", Some(Mode::Off)),
        ("iter_* total", "iter_", None),
        ("fwd_*", "fwd_", None),
        ("world_*", "world_", None),
        ("val_*", "val_", None),
        ("nsec*", "nsec", None),
        ("black_*", "black_", None),
    ] {
        let (pass, total) = count(prefix, mode);
        println!("deckard {label:<16} {pass:>3} / {total:<3} pass");
    }
    println!("deckard iter_* passing with no unscripted query: {strict}");
    println!("deckard ran {} runs in {:.1} s", rows.len(), elapsed.as_secs_f64());

    if std::env::var("DECKARD_UPDATE").is_ok() {
        let mut text = String::from(
            "# Deckard resolver scenarios (../shared/conformance/deckard-sets/resolver), one run per line:\n\
             # `scenario qmin-mode pass` or `scenario qmin-mode fail reason`. Checked by\n\
             # crates/engine/tests/deckard.rs (a listed pass that fails is a regression).\n\
             # val_* scenarios run with their trust-anchor and val-override-date (issue 14).\n\
             # Reasons starting with `!` are hand-written and kept by DECKARD_UPDATE=1.\n",
        );
        for row in &rows {
            let key = (row.name.clone(), row.mode.label().to_string());
            if row.outcome.pass {
                text.push_str(&format!("{} {} pass\n", row.name, row.mode.label()));
            } else {
                let reason = match list.get(&key) {
                    Some(Some(reason)) if reason.starts_with('!') => reason.clone(),
                    _ => one_line(&row.outcome.reason),
                };
                text.push_str(&format!("{} {} fail {}\n", row.name, row.mode.label(), reason));
            }
        }
        std::fs::create_dir_all(pass_list_path().parent().unwrap()).unwrap();
        std::fs::write(pass_list_path(), text).unwrap();
        println!("deckard: pass list rewritten");
        return;
    }
    if only.is_some() || mode_only.is_some() {
        return;
    }
    let mut regressions = Vec::new();
    let mut newly = Vec::new();
    for row in &rows {
        let key = (row.name.clone(), row.mode.label().to_string());
        match (list.get(&key), row.outcome.pass) {
            (Some(None), false) => regressions.push(format!("{} {}: {}", row.name, row.mode.label(), one_line(&row.outcome.reason))),
            (Some(Some(_)) | None, true) => newly.push(format!("{} {}", row.name, row.mode.label())),
            _ => {}
        }
    }
    for run in &newly {
        println!("deckard: newly passing (add to the pass list): {run}");
    }
    assert!(regressions.is_empty(), "deckard regressions (listed as passing, now failing):\n{}", regressions.join("\n"));
}
