//! Query lists: the files in `testdata/queries/` and the generated zone's list.
//!
//! File format, one line each (`#` starts a comment):
//!
//! ```text
//! <qname> <TYPE[,TYPE...]> [edns=none|SIZE[,...]] [do]
//! ```
//!
//! A line expands to every type × EDNS setting. Without `edns=` a line is sent both without
//! EDNS and with 1232 (the DNS flag day 2020 default). The qname is sent exactly as written, so
//! mixed case and escapes reach the server unchanged.

use std::path::{Path, PathBuf};

use portcullis_wire::Rtype;

use crate::client::Query;

/// EDNS settings of a line without `edns=`.
const DEFAULT_EDNS: [Option<u16>; 2] = [None, Some(1232)];

/// `testdata/` of the workspace.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Reads and expands `testdata/queries/<name>`.
pub fn load(name: &str) -> Vec<Query> {
    let path = testdata().join("queries").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Expands a query list.
pub fn parse(text: &str) -> Result<Vec<Query>, String> {
    let mut queries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let expanded = parse_line(line).map_err(|e| format!("line {}: {e}: {line}", number + 1))?;
        queries.extend(expanded);
    }
    Ok(queries)
}

fn parse_line(line: &str) -> Result<Vec<Query>, String> {
    let mut words = line.split_whitespace();
    let qname = words.next().ok_or("no qname")?;
    let types = words.next().ok_or("no type")?;
    let types: Vec<Rtype> = types.split(',').map(|t| Rtype::from_text(t).ok_or(format!("unknown type {t}"))).collect::<Result<_, _>>()?;
    let mut edns = DEFAULT_EDNS.to_vec();
    let mut dnssec_ok = false;
    for word in words {
        if let Some(list) = word.strip_prefix("edns=") {
            edns = list.split(',').map(parse_edns).collect::<Result<_, _>>()?;
        } else if word == "do" {
            dnssec_ok = true;
        } else {
            return Err(format!("unknown option {word}"));
        }
    }
    let mut out = Vec::new();
    for rtype in &types {
        for size in &edns {
            let dnssec_ok = dnssec_ok && size.is_some();
            out.push(Query { qname: qname.to_owned(), qtype: *rtype, edns: *size, dnssec_ok });
        }
    }
    Ok(out)
}

fn parse_edns(word: &str) -> Result<Option<u16>, String> {
    if word == "none" {
        return Ok(None);
    }
    word.parse().map(Some).map_err(|_| format!("bad edns size {word}"))
}

#[test]
fn query_file_syntax_expands_types_and_edns() {
    let queries = parse("# c\nWww.Example.Test. A,AAAA edns=none,512,4096 do\nx.test. MX\n").expect("parses");
    assert_eq!(queries.len(), 3 * 2 + 2);
    assert_eq!(queries[0], Query { qname: "Www.Example.Test.".into(), qtype: Rtype::A, edns: None, dnssec_ok: false });
    assert_eq!(queries[2], Query { qname: "Www.Example.Test.".into(), qtype: Rtype::A, edns: Some(4096), dnssec_ok: true });
    assert_eq!(queries[6].edns, None);
    assert_eq!(queries[7].edns, Some(1232));
    assert!(parse("x.test. NOPE").is_err());
    assert!(parse("x.test. A edns=big").is_err());
}
