//! A parser for the testbound replay format (`.rpl`) used by CZ.NIC Deckard scenarios, written
//! from the format itself: a CONFIG part (`key: value` lines up to `CONFIG_END`), then
//! `SCENARIO_BEGIN`, `RANGE_BEGIN a b` … `RANGE_END` blocks (ADDRESS lines and entries), and
//! `STEP n KIND` lines, each followed by one entry when the kind needs it. An entry is
//! `ENTRY_BEGIN` … `ENTRY_END` with MATCH, ADJUST and REPLY keyword lines and SECTION blocks of
//! records in presentation format (or RAW hex).

use portcullis_engine::zonefile::{parse_zone_text, NoIncludes};
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};
use std::net::IpAddr;

/// One resource record of an entry.
#[derive(Clone, Debug)]
pub struct Rec {
    pub owner: NameBuf,
    pub rtype: Rtype,
    pub class: Class,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

/// A question line: `name [class] type`.
#[derive(Clone, Copy, Debug)]
pub struct RQuestion {
    pub qname: NameBuf,
    pub qtype: Rtype,
    pub qclass: Class,
}

/// An `ENTRY_BEGIN` … `ENTRY_END` block.
#[derive(Clone, Debug, Default)]
pub struct Entry {
    /// Line of `ENTRY_BEGIN` (for messages).
    pub line: usize,
    /// MATCH keywords, lower-cased.
    pub matches: Vec<String>,
    /// ADJUST keywords, lower-cased.
    pub adjust: Vec<String>,
    /// REPLY keywords, upper-cased (flags, rcode, opcode).
    pub reply: Vec<String>,
    pub question: Vec<RQuestion>,
    /// Answer, authority, additional.
    pub sections: [Vec<Rec>; 3],
    /// RAW hex bytes, when the entry gives a whole packet.
    pub raw: Option<Vec<u8>>,
}

impl Entry {
    pub fn has_match(&self, word: &str) -> bool {
        self.matches.iter().any(|m| m == word)
    }
    pub fn has_adjust(&self, word: &str) -> bool {
        self.adjust.iter().any(|m| m == word)
    }
    pub fn has_flag(&self, word: &str) -> bool {
        self.reply.iter().any(|m| m == word)
    }
    /// The rcode named in REPLY (NOERROR when none).
    pub fn rcode(&self) -> Rcode {
        for word in &self.reply {
            if let Some(rcode) = rcode_from_text(word) {
                return rcode;
            }
        }
        Rcode::NOERROR
    }
    /// The opcode named in REPLY (QUERY when none).
    pub fn opcode(&self) -> u8 {
        for word in &self.reply {
            match word.as_str() {
                "QUERY" => return 0,
                "IQUERY" => return 1,
                "STATUS" => return 2,
                "NOTIFY" => return 4,
                "UPDATE" => return 5,
                _ => {}
            }
        }
        0
    }
}

pub fn rcode_from_text(word: &str) -> Option<Rcode> {
    Some(Rcode(match word {
        "NOERROR" => 0,
        "FORMERR" => 1,
        "SERVFAIL" => 2,
        "NXDOMAIN" => 3,
        "NOTIMP" | "NOTIMPL" => 4,
        "REFUSED" => 5,
        "YXDOMAIN" => 6,
        "YXRRSET" => 7,
        "NXRRSET" => 8,
        "NOTAUTH" => 9,
        "NOTZONE" => 10,
        "BADVERS" => 16,
        _ => return None,
    }))
}

/// A `RANGE_BEGIN a b` block: answers given to queries sent while the current step is in
/// `[begin, end]`, by servers in `addresses` (every server when empty).
#[derive(Clone, Debug)]
pub struct Range {
    pub begin: u64,
    pub end: u64,
    pub addresses: Vec<IpAddr>,
    pub entries: Vec<Entry>,
}

#[derive(Clone, Debug)]
pub enum StepKind {
    Query(Entry),
    CheckAnswer(Entry),
    CheckOutQuery(Entry),
    Reply(Entry),
    TimePasses(u64),
    Other(String),
}

#[derive(Clone, Debug)]
pub struct Step {
    pub number: u64,
    pub kind: StepKind,
}

#[derive(Clone, Debug, Default)]
pub struct Config {
    /// `key: value` pairs in file order (keys lower-cased, values without quotes/comments).
    pub options: Vec<(String, String)>,
}

impl Config {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.options.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub title: String,
    pub config: Config,
    pub ranges: Vec<Range>,
    pub steps: Vec<Step>,
}

/// Removes a `;` comment outside double quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

fn parse_record(text: &str) -> Result<Rec, String> {
    let zone = format!("$ORIGIN .\n$TTL 3600\n{}\n", text.trim_start());
    let records = parse_zone_text(&NameBuf::ROOT, &zone, "rpl", &NoIncludes).map_err(|e| format!("record {text:?}: {e}"))?;
    let record = records.into_iter().next().ok_or_else(|| format!("record {text:?}: nothing parsed"))?;
    Ok(Rec { owner: record.owner, rtype: record.rtype, class: record.class, ttl: record.ttl, rdata: record.rdata })
}

fn parse_question(text: &str) -> Result<RQuestion, String> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let Some(first) = tokens.first() else { return Err("empty question".into()) };
    let qname = NameBuf::from_text(first, Some(&NameBuf::ROOT)).map_err(|e| format!("question name {first:?}: {e:?}"))?;
    let mut qclass = Class::IN;
    let mut qtype = None;
    for token in &tokens[1..] {
        if let Some(class) = Class::from_text(token) {
            qclass = class;
        } else if let Some(rtype) = Rtype::from_text(token) {
            qtype = Some(rtype);
        }
    }
    let qtype = qtype.ok_or_else(|| format!("question {text:?}: no type"))?;
    Ok(RQuestion { qname, qtype, qclass })
}

fn hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err("odd hex".into());
    }
    digits.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap_or("zz"), 16).map_err(|e| format!("hex: {e}"))).collect()
}

/// Parses the entry starting after `ENTRY_BEGIN` at `lines[*at]`; leaves `*at` after `ENTRY_END`.
fn parse_entry(lines: &[&str], at: &mut usize) -> Result<Entry, String> {
    let mut entry = Entry { line: *at, ..Entry::default() };
    *at += 1;
    // 0 question, 1..=3 record sections, 4 raw
    let mut section: Option<usize> = None;
    let mut raw = String::new();
    let mut pending = String::new();
    let mut depth = 0i32;
    while *at < lines.len() {
        let original = lines[*at];
        let line = strip_comment(original);
        *at += 1;
        let trimmed = line.trim();
        if depth > 0 {
            pending.push(' ');
            pending.push_str(trimmed);
            depth += paren_balance(trimmed);
            if depth <= 0 {
                depth = 0;
                let text = std::mem::take(&mut pending);
                add_line(&mut entry, section, &text)?;
            }
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        let mut words = trimmed.split_whitespace();
        let keyword = words.next().unwrap_or("");
        match keyword {
            "ENTRY_END" => {
                if !raw.is_empty() {
                    entry.raw = Some(hex(&raw)?);
                }
                return Ok(entry);
            }
            "MATCH" => entry.matches.extend(words.map(|w| w.to_ascii_lowercase())),
            "ADJUST" => entry.adjust.extend(words.map(|w| w.to_ascii_lowercase())),
            "REPLY" | "FLAGS" => entry.reply.extend(words.map(|w| w.to_ascii_uppercase())),
            "SECTION" => {
                section = Some(match words.next().unwrap_or("").to_ascii_uppercase().as_str() {
                    "QUESTION" => 0,
                    "ANSWER" => 1,
                    "AUTHORITY" => 2,
                    "ADDITIONAL" => 3,
                    other => return Err(format!("line {}: unknown section {other}", *at)),
                });
            }
            "RAW" => section = Some(4),
            "EDNS_DATA" | "HEX_EDNSDATA_BEGIN" | "HEX_EDNSDATA_END" | "HEX_ANSWER_BEGIN" | "HEX_ANSWER_END" => {
                return Err(format!("line {}: {keyword} not supported", *at));
            }
            _ => {
                if section == Some(4) {
                    raw.push_str(trimmed);
                    continue;
                }
                let balance = paren_balance(trimmed);
                if balance > 0 {
                    depth = balance;
                    pending = trimmed.to_string();
                    continue;
                }
                add_line(&mut entry, section, trimmed)?;
            }
        }
    }
    Err(format!("entry at line {} not closed", entry.line + 1))
}

fn paren_balance(text: &str) -> i32 {
    let mut quoted = false;
    let mut balance = 0;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => balance += 1,
            ')' if !quoted => balance -= 1,
            _ => {}
        }
    }
    balance
}

fn add_line(entry: &mut Entry, section: Option<usize>, text: &str) -> Result<(), String> {
    match section {
        Some(0) => entry.question.push(parse_question(text)?),
        Some(n @ 1..=3) => entry.sections[n - 1].push(parse_record(text)?),
        _ => return Err(format!("text outside a section: {text:?}")),
    }
    Ok(())
}

pub fn parse(text: &str) -> Result<Scenario, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut scenario = Scenario { title: String::new(), config: Config::default(), ranges: Vec::new(), steps: Vec::new() };
    let mut at = 0;
    let mut in_config = true;
    let mut range: Option<Range> = None;
    while at < lines.len() {
        let line = lines[at];
        let trimmed = strip_comment(line).trim();
        if in_config {
            at += 1;
            if trimmed == "CONFIG_END" {
                in_config = false;
            } else if let Some((key, value)) = trimmed.split_once(':') {
                let value = value.split('#').next().unwrap_or("").trim().trim_matches('"').to_string();
                scenario.config.options.push((key.trim().to_ascii_lowercase(), value));
            }
            continue;
        }
        let mut words = trimmed.split_whitespace();
        let keyword = words.next().unwrap_or("");
        match keyword {
            "" => at += 1,
            "SCENARIO_BEGIN" => {
                scenario.title = words.collect::<Vec<_>>().join(" ");
                at += 1;
            }
            "SCENARIO_END" => break,
            "RANGE_BEGIN" => {
                let begin = words.next().and_then(|w| w.parse().ok()).ok_or(format!("line {}: RANGE_BEGIN", at + 1))?;
                let end = words.next().and_then(|w| w.parse().ok()).ok_or(format!("line {}: RANGE_BEGIN", at + 1))?;
                // Addresses may follow on the same line.
                let addresses = words
                    .map(|w| w.split('@').next().unwrap_or("").parse().map_err(|_| format!("line {}: RANGE_BEGIN address {w}", at + 1)))
                    .collect::<Result<Vec<IpAddr>, String>>()?;
                range = Some(Range { begin, end, addresses, entries: Vec::new() });
                at += 1;
            }
            "ADDRESS" => {
                let text = words.next().unwrap_or("");
                let addr = text.split('@').next().unwrap_or("").parse().map_err(|_| format!("line {}: ADDRESS {text}", at + 1))?;
                range.as_mut().ok_or(format!("line {}: ADDRESS outside a range", at + 1))?.addresses.push(addr);
                at += 1;
            }
            "RANGE_END" => {
                scenario.ranges.push(range.take().ok_or(format!("line {}: RANGE_END without RANGE_BEGIN", at + 1))?);
                at += 1;
            }
            "ENTRY_BEGIN" => {
                let entry = parse_entry(&lines, &mut at)?;
                range.as_mut().ok_or(format!("line {}: entry outside a range or step", entry.line + 1))?.entries.push(entry);
            }
            "STEP" => {
                let number = words.next().and_then(|w| w.parse().ok()).ok_or(format!("line {}: STEP", at + 1))?;
                let kind_word = words.next().unwrap_or("").to_ascii_uppercase();
                let rest: Vec<&str> = words.collect();
                at += 1;
                let needs_entry = matches!(kind_word.as_str(), "QUERY" | "CHECK_ANSWER" | "CHECK_OUT_QUERY" | "REPLY");
                let entry = if needs_entry {
                    while at < lines.len() && strip_comment(lines[at]).trim().is_empty() {
                        at += 1;
                    }
                    if at >= lines.len() || strip_comment(lines[at]).trim() != "ENTRY_BEGIN" {
                        return Err(format!("line {}: STEP {number} {kind_word} without entry", at + 1));
                    }
                    Some(parse_entry(&lines, &mut at)?)
                } else {
                    None
                };
                let kind = match (kind_word.as_str(), entry) {
                    ("QUERY", Some(entry)) => StepKind::Query(entry),
                    ("CHECK_ANSWER", Some(entry)) => StepKind::CheckAnswer(entry),
                    ("CHECK_OUT_QUERY", Some(entry)) => StepKind::CheckOutQuery(entry),
                    ("REPLY", Some(entry)) => StepKind::Reply(entry),
                    ("TIME_PASSES", _) => {
                        let secs = rest.iter().position(|w| w.eq_ignore_ascii_case("ELAPSE")).and_then(|i| rest.get(i + 1)).and_then(|w| w.parse::<f64>().ok());
                        StepKind::TimePasses(secs.map(|s| s as u64).unwrap_or(0))
                    }
                    (other, _) => StepKind::Other(other.to_string()),
                };
                scenario.steps.push(Step { number, kind });
            }
            other => return Err(format!("line {}: unexpected {other:?}", at + 1)),
        }
    }
    Ok(scenario)
}
