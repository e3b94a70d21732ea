//! Access control: which clients may ask for what ([`Acl::check`]), in the manner of BIND 9's
//! address match lists (`lib/dns/acl.c`, ARM "Address Match Lists").
//!
//! Settings name lists of [`MatchElement`]s and attach lists to an [`Action`] globally, per
//! listener and per zone. For one request the most specific list configured for the action is
//! consulted (zone, then listener, then global, then the built-in default); it *replaces* the less
//! specific ones. Elements are tried in order and the first match wins: a plain element allows, a
//! negated one (`!`) denies. A list in which nothing matches denies.
//!
//! Built-in defaults when no list is configured for an action (SECURITY-REFERENCE §7, "open
//! resolver"): `query` allows everyone (the engine answers only for served zones and asks
//! `recursion` separately for the rest); `recursion` allows only `localhost` (127.0.0.0/8 and ::1);
//! `transfer`, `notify` and `update` deny everyone. A configured list replaces the default, so
//! `recursion = ["10.0.0.0/8"]` no longer admits localhost unless listed.
//!
//! Element semantics follow BIND: `any` matches every address; `none` is `!any` (so it denies and
//! stops); `localhost` and named lists are *nested* lists: the element matches only when the
//! nested list matches positively. A negative match inside a nested list counts as "no match", so
//! a negated nested list never turns into a surprise positive through double negation (BIND's
//! `dns_aclelement_match`). IPv4-mapped IPv6 clients are matched as IPv4 (see [`Prefix`]).
//!
//! Named lists are flattened when the [`Acl`] is built: each compiled list is a bounded array
//! (at most [`MAX_LIST_ENTRIES`]) of (prefix, step) entries, so [`Acl::check`] is a linear scan
//! that never allocates. A later version will add TSIG key elements; [`MatchElement`] is
//! `#[non_exhaustive]` for that reason.

use super::Verdict;
use crate::base::Prefix;
use portcullis_wire::NameBuf;
use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Most entries in one compiled list (named lists expanded); bounds the cost of a check.
pub const MAX_LIST_ENTRIES: usize = 4096;
/// Deepest nesting of named lists.
pub const MAX_NESTING: usize = 16;

/// What a request asks the server to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Answer a query from served zones (BIND `allow-query`).
    Query,
    /// Resolve or forward a name the server does not serve (`allow-recursion`).
    Recursion,
    /// Zone transfer, AXFR/IXFR (`allow-transfer`).
    Transfer,
    /// Accept a NOTIFY, RFC 1996 (`allow-notify`).
    Notify,
    /// Dynamic update, RFC 2136 (`allow-update`).
    Update,
}

impl Action {
    /// Every action, in index order.
    pub const ALL: [Self; 5] = [Self::Query, Self::Recursion, Self::Transfer, Self::Notify, Self::Update];

    /// The configuration key and metrics label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Recursion => "recursion",
            Self::Transfer => "transfer",
            Self::Notify => "notify",
            Self::Update => "update",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// The answer to a denied request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DenyResponse {
    /// REFUSED (the default, as BIND and Unbound answer).
    #[default]
    Refuse,
    /// No answer at all (UDP) or a closed connection (TCP).
    Drop,
}

/// One element of an address match list, optionally negated with `!`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatchElement {
    /// A network; matches addresses inside it.
    Prefix {
        /// `!`: a match denies.
        negated: bool,
        /// The network.
        prefix: Prefix,
    },
    /// `any` (`!any` denies everyone); `none` is `Any { negated: true }`.
    Any {
        /// `!`: a match denies.
        negated: bool,
    },
    /// `localhost`: 127.0.0.0/8 and ::1, as a nested list.
    Localhost {
        /// `!`: a positive match of the nested list denies.
        negated: bool,
    },
    /// A reference to a named list, nested.
    List {
        /// `!`: a positive match of the nested list denies.
        negated: bool,
        /// The list's name.
        name: String,
    },
    /// `key NAME`: requests signed with this TSIG key (verified), from any address.
    Key {
        /// `!`: a match denies.
        negated: bool,
        /// The key's name (boxed: names are large and keys rare).
        name: Box<NameBuf>,
    },
}

/// A named address match list (BIND `acl "name" { … };`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamedList {
    /// The name other lists and rules refer to; not `any`, `none` or `localhost`.
    pub name: String,
    /// The elements, in evaluation order.
    pub elements: Vec<MatchElement>,
}

/// A list per action; `None` leaves the action to the less specific level.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActionRules {
    /// `query`.
    pub query: Option<Vec<MatchElement>>,
    /// `recursion`.
    pub recursion: Option<Vec<MatchElement>>,
    /// `transfer`.
    pub transfer: Option<Vec<MatchElement>>,
    /// `notify`.
    pub notify: Option<Vec<MatchElement>>,
    /// `update`.
    pub update: Option<Vec<MatchElement>>,
}

/// Rules of one listener (named as in the `[[listen]]` configuration).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenerRules {
    /// The listener's name.
    pub listener: String,
    /// Its lists.
    pub rules: ActionRules,
}

/// Rules of one served zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneRules {
    /// The zone's apex.
    pub zone: NameBuf,
    /// Its lists.
    pub rules: ActionRules,
}

/// Validated ACL settings (DESIGN §4.3 rule 3): built by the server's config layer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclSettings {
    /// Named lists, referable from any rule and from each other (no cycles).
    pub lists: Vec<NamedList>,
    /// Server-wide rules.
    pub global: ActionRules,
    /// Per-listener rules, overriding `global` action by action.
    pub listeners: Vec<ListenerRules>,
    /// Per-zone rules, overriding listener and global rules action by action.
    pub zones: Vec<ZoneRules>,
    /// What a denied request gets.
    pub denied: DenyResponse,
}

/// Why ACL settings were rejected; each names the offending list or zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclError {
    /// An element's text is neither a keyword, a prefix nor a list name.
    BadElement(String),
    /// A rule refers to a list that is not defined.
    UnknownList(String),
    /// Two lists share a name, or a list uses a reserved name.
    DuplicateList(String),
    /// Lists refer to each other in a cycle (or nest deeper than [`MAX_NESTING`]).
    Cycle(String),
    /// A compiled list exceeds [`MAX_LIST_ENTRIES`].
    TooLarge(String),
    /// Two rule sets for the same zone.
    DuplicateZone(String),
}

impl fmt::Display for AclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadElement(text) => write!(f, "bad address match element {text:?}"),
            Self::UnknownList(name) => write!(f, "unknown address match list {name:?}"),
            Self::DuplicateList(name) => write!(f, "address match list {name:?} defined twice or reserved"),
            Self::Cycle(name) => write!(f, "address match list {name:?} refers to itself"),
            Self::TooLarge(name) => write!(f, "address match list {name:?} has more than {MAX_LIST_ENTRIES} entries"),
            Self::DuplicateZone(zone) => write!(f, "zone {zone} has two sets of access rules"),
        }
    }
}

impl std::error::Error for AclError {}

/// The compiled access lists of one listener: immutable, shared by all workers.
#[derive(Clone, Debug)]
pub struct Acl {
    entries: Vec<Entry>,
    base: [Span; 5],
    /// Per action: the base list allows every address (it starts with `any`), so a request
    /// without zone rules needs no scan.
    open: [bool; 5],
    zones: Vec<ZoneSpans>,
    denied: DenyResponse,
    /// The TSIG key names of `key` elements.
    keys: Vec<NameBuf>,
}

impl Acl {
    /// Compiles `settings` for `listener` (`None`, or a name without rules: global rules only).
    pub fn new(settings: &AclSettings, listener: Option<&str>) -> Result<Self, AclError> {
        let mut compiler = Compiler::new(&settings.lists)?;
        let listener_rules = settings.listeners.iter().find(|l| Some(l.listener.as_str()) == listener).map(|l| &l.rules);
        let mut base = [Span::EMPTY; 5];
        for action in Action::ALL {
            let chosen = listener_rules.and_then(|rules| rules.list(action)).or_else(|| settings.global.list(action));
            base[action.index()] = match chosen {
                Some(elements) => compiler.place(elements, action.as_str())?,
                None => compiler.place_default(action),
            };
        }
        let zones = compiler.place_zones(&settings.zones)?;
        let open = base.map(|span| opens_with_any(&compiler.entries[span.start..span.end]));
        let keys = compiler.keys.into_inner();
        Ok(Self { entries: compiler.entries, base, open, zones, denied: settings.denied, keys })
    }

    /// Decides whether `peer` may perform `action`, within `zone` when the action concerns a
    /// served zone. Allocation-free; linear in the consulted list (≤ [`MAX_LIST_ENTRIES`]).
    pub fn check(&self, peer: IpAddr, action: Action, zone: Option<&NameBuf>) -> Verdict {
        self.check_signed(peer, None, action, zone)
    }

    /// [`Acl::check`] for a request signed with the TSIG key `key` (verified): `key NAME`
    /// elements match it.
    pub fn check_signed(&self, peer: IpAddr, key: Option<&NameBuf>, action: Action, zone: Option<&NameBuf>) -> Verdict {
        if self.allows_signed(peer, key, action, zone) {
            return Verdict::Allow;
        }
        match self.denied {
            DenyResponse::Refuse => Verdict::Refuse,
            DenyResponse::Drop => Verdict::Drop,
        }
    }

    /// True when [`Acl::check`] would allow.
    pub fn allows(&self, peer: IpAddr, action: Action, zone: Option<&NameBuf>) -> bool {
        self.allows_signed(peer, None, action, zone)
    }

    /// True when [`Acl::check_signed`] would allow.
    pub fn allows_signed(&self, peer: IpAddr, key: Option<&NameBuf>, action: Action, zone: Option<&NameBuf>) -> bool {
        let span = match zone.and_then(|zone| self.zone_span(zone, action)) {
            Some(span) => span,
            None if self.open[action.index()] => return true,
            None => self.base[action.index()],
        };
        // The entry `key` the request's key matches (0: unsigned, or a key no element names).
        let key = key.and_then(|key| self.keys.iter().position(|known| known.as_wire().eq_ignore_ascii_case(key.as_wire()))).map_or(0, |i| i + 1);
        self.run(span, peer, key)
    }

    /// The configured answer to denied requests.
    pub fn denied(&self) -> DenyResponse {
        self.denied
    }

    fn zone_span(&self, zone: &NameBuf, action: Action) -> Option<Span> {
        let index = self.zones.binary_search_by(|z| z.zone.canonical_cmp(zone)).ok()?;
        self.zones[index].spans[action.index()]
    }

    /// First match wins; no match denies.
    fn run(&self, span: Span, peer: IpAddr, key: usize) -> bool {
        let mut index = span.start;
        while index < span.end {
            let entry = &self.entries[index];
            if entry.prefix.contains(peer) && (entry.key == 0 || usize::from(entry.key) == key) {
                match entry.step {
                    Step::Allow => return true,
                    Step::Deny => return false,
                    Step::Jump(to) => {
                        index = to;
                        continue;
                    }
                }
            }
            index += 1;
        }
        false
    }
}

impl ActionRules {
    /// The list for `action`, if configured at this level.
    pub fn list(&self, action: Action) -> Option<&[MatchElement]> {
        let list = match action {
            Action::Query => &self.query,
            Action::Recursion => &self.recursion,
            Action::Transfer => &self.transfer,
            Action::Notify => &self.notify,
            Action::Update => &self.update,
        };
        list.as_deref()
    }
}

impl MatchElement {
    /// `prefix`, not negated.
    pub fn prefix(prefix: Prefix) -> Self {
        Self::Prefix { negated: false, prefix }
    }

    /// The same element with `!` toggled.
    pub fn negate(self) -> Self {
        match self {
            Self::Prefix { negated, prefix } => Self::Prefix { negated: !negated, prefix },
            Self::Any { negated } => Self::Any { negated: !negated },
            Self::Localhost { negated } => Self::Localhost { negated: !negated },
            Self::List { negated, name } => Self::List { negated: !negated, name },
            Self::Key { negated, name } => Self::Key { negated: !negated, name },
        }
    }
}

impl FromStr for MatchElement {
    type Err = AclError;

    /// Parses `[!]any`, `[!]none`, `[!]localhost`, `[!]address[/length]`, `[!]key NAME` or
    /// `[!]list-name`.
    fn from_str(text: &str) -> Result<Self, AclError> {
        let bad = || AclError::BadElement(text.to_owned());
        let trimmed = text.trim();
        let (negated, body) = match trimmed.strip_prefix('!') {
            Some(rest) => (true, rest.trim_start()),
            None => (false, trimmed),
        };
        if let Some(name) = body.strip_prefix("key ").or_else(|| body.strip_prefix("KEY ")) {
            let name = name.trim();
            let absolute = if name.ends_with('.') { name.to_owned() } else { format!("{name}.") };
            let name = NameBuf::from_text(&absolute, None).map_err(|_| bad())?.to_lowercase();
            return Ok(Self::Key { negated, name: Box::new(name) });
        }
        let element = match body.to_ascii_lowercase().as_str() {
            "any" => Self::Any { negated: false },
            "none" => Self::Any { negated: true },
            "localhost" => Self::Localhost { negated: false },
            _ if body.parse::<IpAddr>().is_ok() || body.contains('/') => Self::prefix(body.parse().map_err(|_| bad())?),
            _ if is_list_name(body) => Self::List { negated: false, name: body.to_owned() },
            _ => return Err(bad()),
        };
        Ok(if negated { element.negate() } else { element })
    }
}

/// True when `entries` allow every address before anything else: `any` first (its IPv4 and IPv6
/// halves; IPv4-mapped clients match as IPv4).
fn opens_with_any(entries: &[Entry]) -> bool {
    let allows = |entry: Option<&Entry>, prefix: Prefix| entry.is_some_and(|e| e.step == Step::Allow && e.prefix == prefix && e.key == 0);
    let (first, second) = (entries.first(), entries.get(1));
    (allows(first, Prefix::ANY_V4) && allows(second, Prefix::ANY_V6)) || (allows(first, Prefix::ANY_V6) && allows(second, Prefix::ANY_V4))
}

/// What a matching entry does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Allow,
    Deny,
    /// A negative match inside a nested list: skip to the end of that list.
    Jump(usize),
}

/// One compiled element.
#[derive(Clone, Copy, Debug)]
struct Entry {
    prefix: Prefix,
    step: Step,
    /// 0: any request; n: only requests signed with `Acl::keys[n - 1]`.
    key: u16,
}

/// A compiled list: `entries[start..end]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    const EMPTY: Self = Self { start: 0, end: 0 };
}

/// The lists configured for one zone.
#[derive(Clone, Debug)]
struct ZoneSpans {
    zone: NameBuf,
    spans: [Option<Span>; 5],
}

/// Flattens lists into one entry array.
struct Compiler<'s> {
    lists: &'s [NamedList],
    entries: Vec<Entry>,
    /// The key names `key` elements refer to (an entry holds its index + 1).
    keys: std::cell::RefCell<Vec<NameBuf>>,
}

impl<'s> Compiler<'s> {
    fn new(lists: &'s [NamedList]) -> Result<Self, AclError> {
        for (index, list) in lists.iter().enumerate() {
            let reserved = ["any", "none", "localhost"].iter().any(|r| list.name.eq_ignore_ascii_case(r));
            if reserved || lists[..index].iter().any(|other| other.name == list.name) {
                return Err(AclError::DuplicateList(list.name.clone()));
            }
        }
        Ok(Self { lists, entries: Vec::new(), keys: std::cell::RefCell::new(Vec::new()) })
    }

    /// Compiles `elements` and appends them; `what` names the list in errors.
    fn place(&mut self, elements: &[MatchElement], what: &str) -> Result<Span, AclError> {
        let mut path = Vec::new();
        let compiled = self.compile(elements, what, &mut path)?;
        Ok(self.append(compiled))
    }

    /// The built-in list of an action no level configures.
    fn place_default(&mut self, action: Action) -> Span {
        let compiled = match action {
            Action::Query => vec![allow(Prefix::ANY_V4), allow(Prefix::ANY_V6)],
            Action::Recursion => vec![allow(Prefix::LOOPBACK_V4), allow(Prefix::LOOPBACK_V6)],
            Action::Transfer | Action::Notify | Action::Update => Vec::new(),
        };
        self.append(compiled)
    }

    fn place_zones(&mut self, zones: &[ZoneRules]) -> Result<Vec<ZoneSpans>, AclError> {
        let mut out: Vec<ZoneSpans> = Vec::with_capacity(zones.len());
        for zone in zones {
            let mut spans = [None; 5];
            for action in Action::ALL {
                if let Some(elements) = zone.rules.list(action) {
                    spans[action.index()] = Some(self.place(elements, action.as_str())?);
                }
            }
            out.push(ZoneSpans { zone: zone.zone.to_lowercase(), spans });
        }
        out.sort_by(|a, b| a.zone.canonical_cmp(&b.zone));
        if let Some(pair) = out.windows(2).find(|pair| pair[0].zone.canonical_cmp(&pair[1].zone) == Ordering::Equal) {
            return Err(AclError::DuplicateZone(pair[0].zone.to_string()));
        }
        Ok(out)
    }

    /// Relocates a compiled list's jumps to its place in the entry array.
    fn append(&mut self, compiled: Vec<Entry>) -> Span {
        let start = self.entries.len();
        self.entries.extend(compiled.into_iter().map(|entry| match entry.step {
            Step::Jump(to) => Entry { step: Step::Jump(start + to), ..entry },
            _ => entry,
        }));
        Span { start, end: self.entries.len() }
    }

    /// Compiles one list with jumps relative to its start; `path` holds the enclosing lists.
    fn compile(&self, elements: &[MatchElement], what: &str, path: &mut Vec<&'s str>) -> Result<Vec<Entry>, AclError> {
        let mut out = Vec::new();
        for element in elements {
            match element {
                MatchElement::Prefix { negated, prefix } => out.push(Entry { prefix: *prefix, step: step(*negated), key: 0 }),
                MatchElement::Any { negated } => {
                    out.push(Entry { prefix: Prefix::ANY_V4, step: step(*negated), key: 0 });
                    out.push(Entry { prefix: Prefix::ANY_V6, step: step(*negated), key: 0 });
                }
                MatchElement::Key { negated, name } => {
                    let key = self.key_id(name);
                    out.push(Entry { prefix: Prefix::ANY_V4, step: step(*negated), key });
                    out.push(Entry { prefix: Prefix::ANY_V6, step: step(*negated), key });
                }
                MatchElement::Localhost { negated } => {
                    nest(&mut out, vec![allow(Prefix::LOOPBACK_V4), allow(Prefix::LOOPBACK_V6)], *negated);
                }
                MatchElement::List { negated, name } => {
                    let inner = self.compile_named(name, path)?;
                    nest(&mut out, inner, *negated);
                }
            }
            if out.len() > MAX_LIST_ENTRIES {
                return Err(AclError::TooLarge(what.to_owned()));
            }
        }
        Ok(out)
    }

    /// The entry's `key` for a key name: its index in the key table, plus one.
    fn key_id(&self, name: &NameBuf) -> u16 {
        let mut keys = self.keys.borrow_mut();
        let index = keys.iter().position(|known| known == name).unwrap_or_else(|| {
            keys.push(*name);
            keys.len() - 1
        });
        u16::try_from(index + 1).unwrap_or(u16::MAX)
    }

    fn compile_named(&self, name: &str, path: &mut Vec<&'s str>) -> Result<Vec<Entry>, AclError> {
        let Some(list) = self.lists.iter().find(|list| list.name == name) else {
            return Err(AclError::UnknownList(name.to_owned()));
        };
        if path.contains(&list.name.as_str()) || path.len() >= MAX_NESTING {
            return Err(AclError::Cycle(list.name.clone()));
        }
        path.push(&list.name);
        let inner = self.compile(&list.elements, &list.name, path);
        path.pop();
        inner
    }
}

/// Appends a nested list: its positive matches become the element's outcome, its negative
/// matches skip past it (BIND: "treat negative matches in indirect ACLs as no match").
fn nest(out: &mut Vec<Entry>, inner: Vec<Entry>, negated: bool) {
    let base = out.len();
    let end = base + inner.len();
    for entry in inner {
        let step = match entry.step {
            Step::Allow => step(negated),
            Step::Deny => Step::Jump(end),
            Step::Jump(to) => Step::Jump(base + to),
        };
        out.push(Entry { step, ..entry });
    }
}

fn step(negated: bool) -> Step {
    if negated {
        Step::Deny
    } else {
        Step::Allow
    }
}

fn allow(prefix: Prefix) -> Entry {
    Entry { prefix, step: Step::Allow, key: 0 }
}

/// Letters, digits, `-`, `_` and `.`, starting with a letter or `_`.
fn is_list_name(text: &str) -> bool {
    let mut bytes = text.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
