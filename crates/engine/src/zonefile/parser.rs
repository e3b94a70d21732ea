//! The reader of entries: directives, records, `$INCLUDE` nesting, defaults for TTL and class.
//!
//! State that is per file (origin, previous owner) lives in a [`Cursor`] on the stack of the file
//! being read; state that is per zone (TTL defaults, class, records, limits) lives in [`Parser`].

use super::generate::{expand, Range};
use super::lexer::{Entry, Lexer, Tok};
use super::rdata::{rdata, shown, soa_minimum};
use super::ttl::{parse_ttl, TtlError, MAX_TTL};
use super::{normalize_path, IncludeResolver, Limits, ZoneFileError, ZoneRecord};
use portcullis_wire::{Class, NameBuf, Rtype};
use std::path::{Path, PathBuf};

/// Reads one zone: the top file and everything it includes.
pub(super) struct Parser<'r> {
    includes: &'r dyn IncludeResolver,
    limits: &'r Limits,
    records: Vec<ZoneRecord>,
    /// The `$TTL` value, once given.
    default_ttl: Option<u32>,
    /// The last TTL given explicitly (or taken from the SOA MINIMUM), used when there is no `$TTL`.
    last_ttl: Option<u32>,
    /// The class of the first record.
    zone_class: Option<Class>,
    /// The files being read, outermost first, for loop detection.
    open_files: Vec<PathBuf>,
    includes_followed: usize,
    input_bytes: usize,
}

/// Where the reading of one file stands.
struct Cursor {
    origin: NameBuf,
    previous_owner: Option<NameBuf>,
}

/// The TTL, class and type that come before the rdata.
struct Header {
    ttl: Option<u32>,
    class: Option<Class>,
    rtype: Rtype,
}

/// A failure: at a line of the file being read, or already complete from an included file.
enum Fail {
    At(usize, String),
    Nested(ZoneFileError),
}

impl<'r> Parser<'r> {
    /// A parser that reads includes through `includes`, within `limits`.
    pub fn new(includes: &'r dyn IncludeResolver, limits: &'r Limits) -> Self {
        Self {
            includes,
            limits,
            records: Vec::new(),
            default_ttl: None,
            last_ttl: None,
            zone_class: None,
            open_files: Vec::new(),
            includes_followed: 0,
            input_bytes: 0,
        }
    }

    /// Reads the zone whose top file is `text`, named `label`.
    pub fn run(mut self, origin: &NameBuf, text: &str, label: &str) -> Result<Vec<ZoneRecord>, ZoneFileError> {
        self.count_input(text.len()).map_err(|message| ZoneFileError { file: label.to_owned(), line: 0, message })?;
        self.open_files.push(normalize_path(Path::new(label)));
        self.read_text(text, label, *origin)?;
        Ok(self.records)
    }

    /// Reads the entries of one file.
    fn read_text(&mut self, text: &str, label: &str, origin: NameBuf) -> Result<(), ZoneFileError> {
        let at = |line, message| ZoneFileError { file: label.to_owned(), line, message };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lexer = Lexer::new(text, self.limits.max_entry_bytes);
        let mut cursor = Cursor { origin, previous_owner: None };
        loop {
            let entry = match lexer.next_entry() {
                Ok(Some(entry)) => entry,
                Ok(None) => return Ok(()),
                Err(error) => return Err(at(error.line, error.message)),
            };
            match self.entry(&entry, &mut cursor, label) {
                Ok(()) => {}
                Err(Fail::At(line, message)) => return Err(at(line, message)),
                Err(Fail::Nested(error)) => return Err(error),
            }
        }
    }

    /// Dispatches one entry: a `$` directive or a record.
    fn entry(&mut self, entry: &Entry<'_>, cursor: &mut Cursor, label: &str) -> Result<(), Fail> {
        let Some((first, args)) = entry.tokens.split_first() else {
            return Ok(());
        };
        if first.quoted || !first.text.starts_with('$') {
            return self.record(entry, cursor);
        }
        let directive = first.text.to_ascii_uppercase();
        match directive.as_str() {
            "$ORIGIN" => {
                let [name_tok] = args else {
                    return Err(Fail::At(entry.line, "$ORIGIN needs exactly one domain name".into()));
                };
                cursor.origin = name(name_tok, &cursor.origin, "$ORIGIN name")?;
                Ok(())
            }
            "$TTL" => {
                let [ttl_tok] = args else {
                    return Err(Fail::At(entry.line, "$TTL needs exactly one TTL".into()));
                };
                self.default_ttl = Some(ttl(ttl_tok)?);
                Ok(())
            }
            "$INCLUDE" => self.include(args, cursor, label, entry.line),
            "$GENERATE" => self.generate(args, cursor, entry.line),
            _ => Err(Fail::At(entry.line, format!("unknown directive '{}'", shown(first.text)))),
        }
    }

    /// A record: `[owner] [ttl] [class] type rdata…`, TTL and class in either order.
    fn record(&mut self, entry: &Entry<'_>, cursor: &mut Cursor) -> Result<(), Fail> {
        let (owner, rest) = match entry.tokens.split_first() {
            Some((first, rest)) if !entry.leading_blank => (name(first, &cursor.origin, "owner name")?, rest),
            _ => {
                let owner = cursor
                    .previous_owner
                    .ok_or_else(|| Fail::At(entry.line, "no owner name: the line starts with a blank, but no record comes before it in this file".into()))?;
                (owner, &entry.tokens[..])
            }
        };
        let (header, rdata_tokens) = header(rest, entry.line)?;
        let rdata = rdata(header.rtype, rdata_tokens, &cursor.origin).map_err(|message| Fail::At(entry.line, message))?;
        self.add(owner, &header, rdata, entry.line)?;
        cursor.previous_owner = Some(owner);
        Ok(())
    }

    /// `$INCLUDE file [origin]`: reads the file relative to the including file's directory.
    fn include(&mut self, args: &[Tok<'_>], cursor: &Cursor, label: &str, line: usize) -> Result<(), Fail> {
        let (file_tok, origin) = match args {
            [file_tok] => (file_tok, cursor.origin),
            [file_tok, origin_tok] => (file_tok, name(origin_tok, &cursor.origin, "$INCLUDE origin")?),
            _ => return Err(Fail::At(line, "$INCLUDE needs a file name and optionally an origin".into())),
        };
        let file_name = unescape_file_name(file_tok.text).ok_or_else(|| Fail::At(line, format!("bad $INCLUDE file name '{}'", shown(file_tok.text))))?;
        let base = Path::new(label).parent().unwrap_or(Path::new(""));
        let path = normalize_path(&base.join(file_name));
        let shown_path = path.display().to_string();
        if self.open_files.contains(&path) {
            return Err(Fail::At(line, format!("$INCLUDE loop: '{shown_path}' is already being read")));
        }
        if self.open_files.len() > self.limits.max_include_depth {
            return Err(Fail::At(line, format!("$INCLUDE nested more than {} deep", self.limits.max_include_depth)));
        }
        self.includes_followed += 1;
        if self.includes_followed > self.limits.max_includes {
            return Err(Fail::At(line, format!("more than {} $INCLUDE directives", self.limits.max_includes)));
        }
        let text = self.includes.read(&path).map_err(|error| Fail::At(line, format!("cannot read $INCLUDE file '{shown_path}': {error}")))?;
        self.count_input(text.len()).map_err(|message| Fail::At(line, message))?;
        self.open_files.push(path);
        let result = self.read_text(&text, &shown_path, origin);
        self.open_files.pop();
        result.map_err(Fail::Nested)
    }

    /// `$GENERATE range lhs [ttl] [class] type rhs…`.
    fn generate(&mut self, args: &[Tok<'_>], cursor: &Cursor, line: usize) -> Result<(), Fail> {
        let [range_tok, lhs, rest @ ..] = args else {
            return Err(Fail::At(line, "$GENERATE needs a range, an owner, a type and rdata".into()));
        };
        let range = Range::parse(range_tok.text, self.limits.max_generate_records).map_err(|message| Fail::At(range_tok.line, message))?;
        let (header, rhs) = header(rest, line)?;
        if rhs.is_empty() {
            return Err(Fail::At(line, "$GENERATE needs rdata after the type".into()));
        }
        let mut budget = self.limits.max_generate_bytes;
        for value in range.values() {
            let in_value = |message: String| Fail::At(line, format!("$GENERATE at {value}: {message}"));
            let owner_text = expand(lhs.text, value).map_err(in_value)?;
            let texts = rhs.iter().map(|tok| expand(tok.text, value)).collect::<Result<Vec<String>, String>>().map_err(in_value)?;
            let used = owner_text.len() + texts.iter().map(String::len).sum::<usize>();
            budget =
                budget.checked_sub(used).ok_or_else(|| Fail::At(line, format!("$GENERATE expands to more than {} bytes", self.limits.max_generate_bytes)))?;
            let owner_tok = Tok { text: &owner_text, quoted: lhs.quoted, line };
            let owner = name(&owner_tok, &cursor.origin, "owner name").map_err(|fail| prefix(fail, value))?;
            let tokens: Vec<Tok<'_>> = rhs.iter().zip(&texts).map(|(tok, text)| Tok { text, quoted: tok.quoted, line: tok.line }).collect();
            let rdata = rdata(header.rtype, &tokens, &cursor.origin).map_err(in_value)?;
            self.add(owner, &header, rdata, line)?;
        }
        Ok(())
    }

    /// Applies the class and TTL defaults and stores a record.
    fn add(&mut self, owner: NameBuf, header: &Header, rdata: Vec<u8>, line: usize) -> Result<(), Fail> {
        if let Some(class @ (Class::NONE | Class::ANY)) = header.class {
            return Err(Fail::At(line, format!("class {class} cannot be zone data")));
        }
        let zone_class = *self.zone_class.get_or_insert(header.class.unwrap_or(Class::IN));
        let class = header.class.unwrap_or(zone_class);
        if class != zone_class {
            return Err(Fail::At(line, format!("class {class} differs from the zone's class {zone_class}")));
        }
        let ttl = self.ttl_for(header, &rdata, line)?;
        if self.records.len() >= self.limits.max_records {
            return Err(Fail::At(line, format!("more than {} records", self.limits.max_records)));
        }
        self.records.push(ZoneRecord { owner, rtype: header.rtype, class, ttl, rdata });
        Ok(())
    }

    /// The record's TTL: explicit, else `$TTL`, else the last explicit one, else (SOA) MINIMUM.
    fn ttl_for(&mut self, header: &Header, rdata: &[u8], line: usize) -> Result<u32, Fail> {
        if let Some(ttl) = header.ttl {
            self.last_ttl = Some(ttl);
            return Ok(ttl);
        }
        if let Some(ttl) = self.default_ttl.or(self.last_ttl) {
            return Ok(ttl);
        }
        if let Some(minimum) = soa_minimum(rdata).filter(|_| header.rtype == Rtype::SOA) {
            let ttl = minimum.min(MAX_TTL);
            self.last_ttl = Some(ttl);
            return Ok(ttl);
        }
        Err(Fail::At(line, "no TTL: give one on the record or a $TTL before it".into()))
    }

    fn count_input(&mut self, bytes: usize) -> Result<(), String> {
        self.input_bytes = self.input_bytes.saturating_add(bytes);
        if self.input_bytes > self.limits.max_input_bytes {
            return Err(format!("zone text larger than {} bytes in all", self.limits.max_input_bytes));
        }
        Ok(())
    }
}

/// Splits `[ttl] [class] type` (TTL and class each optional, in either order) off the rdata.
fn header<'a, 't>(tokens: &'a [Tok<'t>], line: usize) -> Result<(Header, &'a [Tok<'t>]), Fail> {
    let mut ttl_value = None;
    let mut class = None;
    for (index, tok) in tokens.iter().enumerate() {
        if tok.quoted {
            return Err(Fail::At(tok.line, format!("expected a TTL, class or type, found the quoted string \"{}\"", shown(tok.text))));
        }
        if class.is_none() {
            if let Some(found) = Class::from_text(tok.text) {
                class = Some(found);
                continue;
            }
        }
        if ttl_value.is_none() && tok.text.starts_with(|c: char| c.is_ascii_digit()) {
            ttl_value = Some(ttl(tok)?);
            continue;
        }
        let rtype = rtype(tok)?;
        let header = Header { ttl: ttl_value, class, rtype };
        return Ok((header, &tokens[index + 1..]));
    }
    Err(Fail::At(line, "missing record type".into()))
}

/// A record type that may be stored in a zone.
fn rtype(tok: &Tok<'_>) -> Result<Rtype, Fail> {
    let Some(rtype) = Rtype::from_text(tok.text) else {
        let looks_like_class = tok.text.get(..5).is_some_and(|head| head.eq_ignore_ascii_case("CLASS"));
        let what = if looks_like_class { "bad class" } else { "unknown record type" };
        return Err(Fail::At(tok.line, format!("{what} '{}'", shown(tok.text))));
    };
    if rtype.is_meta() {
        return Err(Fail::At(tok.line, format!("record type {rtype} cannot be zone data")));
    }
    Ok(rtype)
}

/// A TTL token.
fn ttl(tok: &Tok<'_>) -> Result<u32, Fail> {
    parse_ttl(tok.text).map_err(|error| {
        let message = match error {
            TtlError::Syntax => format!("bad TTL '{}'", shown(tok.text)),
            TtlError::TooLarge => format!("TTL '{}' is above {MAX_TTL} (RFC 2181 §8)", shown(tok.text)),
        };
        Fail::At(tok.line, message)
    })
}

/// A domain name token: `@` is the origin, a relative name is completed with it.
fn name(tok: &Tok<'_>, origin: &NameBuf, what: &str) -> Result<NameBuf, Fail> {
    if tok.quoted {
        return Err(Fail::At(tok.line, format!("{what} cannot be a quoted string")));
    }
    if tok.text == "@" {
        return Ok(*origin);
    }
    NameBuf::from_text(tok.text, Some(origin)).map_err(|error| Fail::At(tok.line, format!("bad {what} '{}': {error}", shown(tok.text))))
}

/// Puts the `$GENERATE` value in front of a failure's message.
fn prefix(fail: Fail, value: u32) -> Fail {
    match fail {
        Fail::At(line, message) => Fail::At(line, format!("$GENERATE at {value}: {message}")),
        nested => nested,
    }
}

/// Decodes `\X` and `\DDD` in a file name; `None` when the result is not UTF-8.
fn unescape_file_name(text: &str) -> Option<String> {
    if !text.contains('\\') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte != b'\\' {
            out.push(byte);
            index += 1;
            continue;
        }
        let (value, used) = portcullis_wire::name::unescape(bytes.get(index + 1..)?)?;
        out.push(value);
        index += 1 + used;
    }
    String::from_utf8(out).ok()
}
