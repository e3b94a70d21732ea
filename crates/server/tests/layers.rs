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
