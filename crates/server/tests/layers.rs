//! The layer rule of ARCHITECTURE.md, checked on every test run: each crate depends only on the
//! crates its layer allows (`wire <- engine <- net <- server`), so that no I/O, runtime or
//! configuration crate creeps into the codec or the engine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

/// Per crate directory: the dependencies it may have (normal dependencies; dev-dependencies
/// are the tests' own business).
const ALLOWED: &[(&str, &[&str])] = &[
    ("wire", &[]),
    ("engine", &["portcullis-wire", "siphasher", "smallvec", "ring", "subtle"]),
    ("net", &["portcullis-wire", "portcullis-engine", "tokio", "socket2", "nix", "arc-swap", "tracing", "smallvec"]),
    (
        "server",
        &[
            "portcullis-wire",
            "portcullis-engine",
            "portcullis-net",
            "tokio",
            "clap",
            "serde",
            "toml",
            "serde_ignored",
            "arc-swap",
            "tracing",
            "tracing-subscriber",
            "serde_json",
            "socket2",
            "getrandom",
            "ring",
            "libc",
            "nix",
        ],
    ),
];

fn dependencies(crate_dir: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    let mut names = BTreeSet::new();
    let mut tables = vec![manifest.get("dependencies")];
    if let Some(targets) = manifest.get("target").and_then(toml::Value::as_table) {
        tables.extend(targets.values().map(|target| target.get("dependencies")));
    }
    for table in tables.into_iter().flatten().filter_map(toml::Value::as_table) {
        names.extend(table.keys().cloned());
    }
    names
}

#[test]
fn every_crate_depends_only_on_what_its_layer_allows() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut problems = Vec::new();
    for (dir, allowed) in ALLOWED {
        for dependency in dependencies(&crates.join(dir)) {
            if !allowed.contains(&dependency.as_str()) {
                problems.push(format!("crates/{dir} depends on {dependency}, which its layer does not allow (ARCHITECTURE.md)"));
            }
        }
    }
    let listed: BTreeSet<&str> = ALLOWED.iter().map(|(dir, _)| *dir).collect();
    for entry in std::fs::read_dir(crates).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if !listed.contains(name.as_str()) {
            problems.push(format!("crates/{name} has no layer in this test's ALLOWED list"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_finds_a_forbidden_dependency() {
    let dir = std::env::temp_dir().join(format!("portcullis-layers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"x\"\n[dependencies]\ntokio = \"1\"\n[target.'cfg(unix)'.dependencies]\nnix = \"0.29\"\n")
        .unwrap();
    let found = dependencies(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.into_iter().collect::<Vec<_>>(), ["nix", "tokio"]);
}

/// What the engine must not call: it reads no file, no random source, no clock and no socket
/// (ARCHITECTURE.md: the engine is sans-IO; the server hands it time, keys and zone text).
const FORBIDDEN_IO: &[&str] = &[
    "std::fs",
    "File::open",
    "SystemRandom",
    "getrandom",
    "Instant::now",
    "SystemTime::now",
    "std::net::UdpSocket",
    "TcpStream",
    "std::env::var",
    "thread::sleep",
];

/// The forbidden calls in `source` outside comments and `#[cfg(test)]` items (skipped by
/// counting braces), as (line number, what).
fn forbidden_io(source: &str) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    let mut lines = source.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        let code = line.trim_start();
        if code.starts_with("#[cfg(test)]") {
            skip_item(&mut lines);
            continue;
        }
        if code.starts_with("//") {
            continue;
        }
        found.extend(FORBIDDEN_IO.iter().filter(|what| code.contains(*what)).map(|what| (number + 1, *what)));
    }
    found
}

/// Skips the item after an attribute: further attributes, then one line ending in `;` or the
/// lines up to the brace that closes the item's first one.
fn skip_item<'a>(lines: &mut impl Iterator<Item = (usize, &'a str)>) {
    let mut depth = 0i64;
    let mut opened = false;
    for (_, line) in lines.by_ref() {
        let code = line.trim();
        if !opened && code.starts_with("#[") {
            continue;
        }
        depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
        opened |= code.contains('{');
        if (opened && depth <= 0) || (!opened && code.ends_with(';')) {
            return;
        }
    }
}

fn rust_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn the_engine_reads_no_file_no_random_source_and_no_clock() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("engine/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    for path in files.iter().filter(|path| !path.to_string_lossy().ends_with("tests.rs")) {
        for (line, what) in forbidden_io(&std::fs::read_to_string(path).unwrap()) {
            problems.push(format!("{}:{line} uses {what}: the engine is sans-IO (ARCHITECTURE.md)", path.display()));
        }
    }
    assert!(files.len() > 20, "found only {} engine sources", files.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_io_check_finds_a_forbidden_call_outside_tests_only() {
    let source = "use std::fs;\n// std::fs in a comment\nfn f() {\n    let r = ring::rand::SystemRandom::new();\n}\n\
                  #[cfg(test)]\n#[path = \"x_tests.rs\"]\nmod tests;\nfn g() { std::thread::sleep(d); }\n\
                  #[cfg(test)]\nmod more {\n    fn h() {\n        let f = File::open(p);\n    }\n}\nfn k() { Instant::now() }\n";
    assert_eq!(forbidden_io(source), [(1, "std::fs"), (4, "SystemRandom"), (9, "thread::sleep"), (16, "Instant::now")]);
}
