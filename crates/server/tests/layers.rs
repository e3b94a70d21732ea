//! The layer rule of ARCHITECTURE.md, checked on every test run: each crate depends only on the
//! crates its layer allows (`wire <- dnssec <- engine <- net <- server`), so that no I/O, runtime or
//! configuration crate creeps into the codec or the engine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

/// Per crate directory: the dependencies it may have (normal dependencies; dev-dependencies
/// are the tests' own business).
const ALLOWED: &[(&str, &[&str])] = &[
    ("wire", &[]),
    ("dnssec", &["portcullis-wire", "ring"]),
    ("engine", &["portcullis-wire", "portcullis-dnssec", "siphasher", "smallvec", "ring", "subtle", "psl"]),
    (
        "net",
        &[
            "portcullis-wire",
            "portcullis-engine",
            "tokio",
            "socket2",
            "nix",
            "arc-swap",
            "tracing",
            "smallvec",
            // Encrypted DNS (issue 15): TLS through rustls on ring, DoH on hyper 1, DoQ on quinn.
            "rustls",
            "rustls-pki-types",
            "webpki",
            "tokio-rustls",
            "ring",
            "hyper",
            "hyper-util",
            "http-body-util",
            "bytes",
            "quinn",
            // The AF_XDP path's mechanics (issue 19).
            "portcullis-xdp",
        ],
    ),
    // AF_XDP sockets and the XDP program; no DNS, no engine.
    ("xdp", &["xdpilone", "aya", "nix", "tracing"]),
    (
        "server",
        &[
            "portcullis-wire",
            "portcullis-engine",
            "portcullis-net",
            "portcullis-dnssec",
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
            // The HTTP listener (metrics, stats API, dashboard): server/src/http/.
            "hyper",
            "hyper-util",
            "http-body-util",
            "bytes",
            "prometheus-client",
            "clap_mangen",
            "rustix",
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

/// `unsafe` lives in one module of one crate: every crate but `crates/xdp` takes the workspace's
/// lints (`unsafe_code = "forbid"`), and in `crates/xdp` the only `allow(unsafe_code)` is the one
/// on `mod umem` in its `lib.rs`.
#[test]
fn unsafe_is_allowed_only_in_the_xdp_memory_module() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut problems = Vec::new();
    for (dir, _) in ALLOWED.iter().filter(|(dir, _)| *dir != "xdp") {
        let manifest: toml::Table = toml::from_str(&std::fs::read_to_string(crates.join(dir).join("Cargo.toml")).unwrap()).unwrap();
        if manifest.get("lints").and_then(|lints| lints.get("workspace")).and_then(toml::Value::as_bool) != Some(true) {
            problems.push(format!("crates/{dir}/Cargo.toml: [lints] workspace = true is missing"));
        }
    }
    let mut files = vec![crates.join("xdp/src")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|entry| entry.unwrap().path()));
        } else if std::fs::read_to_string(&path).unwrap().contains("allow(unsafe_code)") && !path.ends_with("xdp/src/lib.rs") {
            problems.push(format!("{} allows unsafe code", path.display()));
        }
    }
    let lib = std::fs::read_to_string(crates.join("xdp/src/lib.rs")).unwrap();
    if lib.matches("allow(unsafe_code)").count() != 1 || !lib.contains("#[allow(unsafe_code)]\nmod umem;") {
        problems.push("crates/xdp/src/lib.rs: allow(unsafe_code) only on `mod umem;`".into());
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
    // std's default hasher seeds itself from the OS random source.
    "RandomState",
    "HashMap::new(",
    "HashSet::new(",
];

/// The lines of `source` that are code: comments and `#[cfg(test)]` items (skipped by counting
/// braces) left out, as (line number, text).
fn code_lines(source: &str) -> Vec<(usize, &str)> {
    let mut code = Vec::new();
    let mut lines = source.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        let text = line.trim_start();
        if text.starts_with("#[cfg(test)]") {
            skip_item(&mut lines);
        } else if !text.starts_with("//") {
            code.push((number + 1, text));
        }
    }
    code
}

/// The forbidden calls in `source` outside comments and `#[cfg(test)]` items, as (line number,
/// what).
fn forbidden_io(source: &str) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    for (number, code) in code_lines(source) {
        found.extend(FORBIDDEN_IO.iter().filter(|what| code.contains(*what)).map(|what| (number, *what)));
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

/// Where the non-test sources of `crates/<dir>` call forbidden I/O (`what` names the crate in
/// the message); asserts at least `min_files` sources were read, so an empty scan cannot pass.
fn sans_io_problems(dir: &str, what: &str, min_files: usize) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join(dir).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    for path in files.iter().filter(|path| !path.to_string_lossy().ends_with("tests.rs")) {
        for (line, call) in forbidden_io(&std::fs::read_to_string(path).unwrap()) {
            problems.push(format!("{}:{line} uses {call}: {what} is sans-IO (ARCHITECTURE.md)", path.display()));
        }
    }
    assert!(files.len() > min_files, "found only {} {dir} sources", files.len());
    problems
}

#[test]
fn the_engine_reads_no_file_no_random_source_and_no_clock() {
    let problems = sans_io_problems("engine", "the engine", 20);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_dnssec_crate_reads_no_file_no_random_source_and_no_clock() {
    let problems = sans_io_problems("dnssec", "the dnssec crate", 5);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_io_check_finds_a_forbidden_call_outside_tests_only() {
    let source = "use std::fs;\n// std::fs in a comment\nfn f() {\n    let r = ring::rand::SystemRandom::new();\n}\n\
                  #[cfg(test)]\n#[path = \"x_tests.rs\"]\nmod tests;\nfn g() { std::thread::sleep(d); }\n\
                  #[cfg(test)]\nmod more {\n    fn h() {\n        let f = File::open(p);\n    }\n}\nfn k() { Instant::now() }\n";
    assert_eq!(forbidden_io(source), [(1, "std::fs"), (4, "SystemRandom"), (9, "thread::sleep"), (16, "Instant::now")]);
}

/// The engine's module groups (ARCHITECTURE.md, "Engine modules"), lowest first: a module may
/// use its own group and those before it, never one after it (base <- zones <- resolver <-
/// pipeline).
const GROUPS: &[(&str, &[&str])] = &[
    ("base", &["base"]),
    ("zones", &["zonefile", "load", "auth"]),
    ("resolver", &["cache", "resolve"]),
    ("pipeline", &["engine", "reply", "request", "settings", "policy", "metrics", "fuzz"]),
];

fn group_of(module: &str) -> Option<usize> {
    GROUPS.iter().position(|(_, modules)| modules.contains(&module))
}

/// The first two path segments after each `crate::` in `line` (each item of `crate::{..}`).
fn crate_paths(line: &str) -> Vec<(String, Option<String>)> {
    let mut paths = Vec::new();
    for (at, _) in line.match_indices("crate::") {
        if line[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &line[at + "crate::".len()..];
        let items: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
            None => vec![rest],
        };
        for item in items {
            let mut segments = item.trim().split("::").map(|segment| segment.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or(""));
            let first = segments.next().unwrap_or("").to_string();
            let second = segments.next().filter(|s| !s.is_empty()).map(str::to_string);
            if !first.is_empty() {
                paths.push((first, second));
            }
        }
    }
    paths
}

/// Re-exports: (module, or "" for the crate root; name) -> the module the name comes from.
fn re_exports(files: &[(String, String)]) -> std::collections::BTreeMap<(String, String), String> {
    let mut aliases = std::collections::BTreeMap::new();
    for (path, source) in files {
        let module = match path.as_str() {
            "lib.rs" => String::new(),
            _ if path.ends_with("/mod.rs") || !path.contains('/') => path.split(['/', '.']).next().unwrap_or("").to_string(),
            _ => continue,
        };
        for (_, line) in code_lines(source) {
            let Some(used) = line.strip_prefix("pub use ").map(|rest| rest.trim_end_matches(';')) else { continue };
            // A module's own `pub use sub::..` names its submodules: only `crate::` paths leave it.
            let used = match used.strip_prefix("crate::") {
                Some(used) => used,
                None if module.is_empty() => used,
                None => continue,
            };
            let Some((from, names)) = used.split_once("::") else { continue };
            let names = match names.split_once('{') {
                Some((_, braced)) => braced.trim_end_matches('}'),
                None => names.rsplit("::").next().unwrap_or(names),
            };
            for name in names.split(',').map(|name| name.rsplit([' ', ':']).next().unwrap_or("").trim()) {
                aliases.insert((module.clone(), name.to_string()), from.to_string());
            }
        }
    }
    aliases
}

/// Every use of a module of a later group, in `files` (paths relative to the engine's `src`).
fn group_violations(files: &[(String, String)]) -> Vec<String> {
    let aliases = re_exports(files);
    let mut problems = Vec::new();
    for (path, source) in files.iter().filter(|(path, _)| path != "lib.rs" && !path.ends_with("tests.rs")) {
        let module = path.split(['/', '.']).next().unwrap_or("");
        let Some(group) = group_of(module) else {
            problems.push(format!("{path}: module {module} has no group in this test's GROUPS (ARCHITECTURE.md)"));
            continue;
        };
        for (line, code) in code_lines(source) {
            for (first, second) in crate_paths(code) {
                let alias = |owner: &str, name: &str| aliases.get(&(owner.to_string(), name.to_string())).cloned();
                let target = match (group_of(&first), &second) {
                    (Some(_), Some(second)) => alias(&first, second).unwrap_or(first),
                    (Some(_), None) => first,
                    (None, _) => alias("", &first).unwrap_or(first),
                };
                match group_of(&target) {
                    Some(used) if used > group => problems.push(format!(
                        "{path}:{line}: {module} ({}) uses crate::{target} ({}); the rule is base <- zones <- resolver <- pipeline (ARCHITECTURE.md)",
                        GROUPS[group].0, GROUPS[used].0
                    )),
                    Some(_) => {}
                    None => problems.push(format!("{path}:{line}: crate::{target} is no module this check can place")),
                }
            }
        }
    }
    problems
}

#[test]
fn engine_modules_use_only_their_own_group_and_those_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("engine/src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: Vec<(String, String)> =
        paths.iter().map(|path| (path.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/"), std::fs::read_to_string(path).unwrap())).collect();
    let problems = group_violations(&files);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_group_check_finds_a_forbidden_edge() {
    let file = |path: &str, source: &str| (path.to_string(), source.to_string());
    let files = [
        file("lib.rs", "pub mod auth;\npub use request::{Outcome, Transport};\n"),
        file("policy/mod.rs", "pub use crate::base::{prefix, Instant};\n"),
        file("auth/transfer.rs", "use crate::base::Instant;\nuse crate::policy::tsig::Signer;\n"),
        file("cache/mod.rs", "use crate::policy::Instant;\n/// See [`crate::engine::Engine`].\nfn f() { crate::policy::prefix::canonical(a) }\n"),
        file("zonefile/check.rs", "fn f() {}\n#[cfg(test)]\nmod tests {\n    use crate::engine::Engine;\n}\n"),
        file("base/mod.rs", "use crate::{Transport, auth::Zone};\n"),
        file("resolve/hints.rs", "use crate::zonefile::parse;\nuse crate::Outcome;\n"),
        file("signing/mod.rs", "use crate::base::Instant;\n"),
    ];
    let problems = group_violations(&files);
    let lines: Vec<&str> = problems.iter().map(|problem| problem.split(' ').next().unwrap()).collect();
    assert_eq!(lines, ["auth/transfer.rs:2:", "base/mod.rs:1:", "base/mod.rs:1:", "resolve/hints.rs:2:", "signing/mod.rs:"], "{problems:#?}");
}
