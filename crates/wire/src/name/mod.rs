//! Domain names: the owned, inline [`NameBuf`] and decompression from a message (RFC 1035 §3.1,
//! §4.1.4; RFC 9267).
//!
//! A `NameBuf` holds an uncompressed wire-format name (length-prefixed labels ending in the root
//! label) in a fixed 255-byte array: no heap, `Copy`-cheap to move, usable as a key. Case is kept
//! as received; comparisons are ASCII case-insensitive (RFC 4343).

use crate::error::{ParseError, ParseErrorKind};
use core::cmp::Ordering;
use core::fmt;
use core::hash::{Hash, Hasher};

/// Maximum wire length of a name (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Maximum length of one label.
pub const MAX_LABEL_LEN: usize = 63;
/// Maximum number of compression pointers followed in one name (SECURITY-REFERENCE §7).
pub const MAX_POINTER_HOPS: usize = 128;

/// An uncompressed name in an inline buffer: owned, no heap.
#[derive(Clone, Copy)]
pub struct NameBuf {
    len: u8,
    bytes: [u8; MAX_NAME_LEN],
}

/// Why a name in presentation format was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameTextError {
    /// An empty label (`a..b`), or an empty name.
    EmptyLabel,
    /// A label longer than 63 octets.
    LabelTooLong,
    /// A name longer than 255 octets.
    NameTooLong,
    /// A bad `\` escape.
    BadEscape,
    /// A relative name with no origin to complete it.
    Relative,
}

impl fmt::Display for NameTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EmptyLabel => "empty label in name",
            Self::LabelTooLong => "label longer than 63 octets",
            Self::NameTooLong => "name longer than 255 octets",
            Self::BadEscape => "bad escape in name",
            Self::Relative => "relative name without an origin",
        })
    }
}

impl NameBuf {
    /// The root name `.`.
    pub const ROOT: Self = {
        let bytes = [0u8; MAX_NAME_LEN];
        Self { len: 1, bytes }
    };

    /// [`NameBuf::ROOT`] built in place: a slot to read a name into costs a few stores rather
    /// than a copy of the constant's 256 bytes.
    #[inline(always)]
    pub fn root() -> Self {
        Self { len: 1, bytes: [0; MAX_NAME_LEN] }
    }

    /// Builds a name from uncompressed wire bytes, checking them.
    pub fn from_wire(wire: &[u8]) -> Result<Self, ParseError> {
        let (name, used) = Self::parse_uncompressed(wire, 0)?;
        if used != wire.len() {
            return Err(ParseError::new(used, ParseErrorKind::TrailingData));
        }
        Ok(name)
    }

    /// Reads an uncompressed name at `start` of `data`; returns it and the offset after it.
    pub fn parse_uncompressed(data: &[u8], start: usize) -> Result<(Self, usize), ParseError> {
        if let Some(name) = Self::copy_uncompressed(data, start) {
            return Ok(name);
        }
        let mut name = Self { len: 0, bytes: [0; MAX_NAME_LEN] };
        let mut pos = start;
        loop {
            let &len = data.get(pos).ok_or(ParseError::new(pos, ParseErrorKind::ShortInput))?;
            if len & 0xC0 != 0 {
                return Err(ParseError::new(pos, ParseErrorKind::BadLabel));
            }
            let label = data.get(pos + 1..pos + 1 + len as usize).ok_or(ParseError::new(pos, ParseErrorKind::ShortInput))?;
            name.push_label(label).map_err(|_| ParseError::new(pos, ParseErrorKind::NameTooLong))?;
            pos += 1 + len as usize;
            if len == 0 {
                return Ok((name, pos));
            }
        }
    }

    /// Reads a possibly compressed name at `start` of `message`; returns it and the offset after
    /// the name's bytes at `start`. Pointers must point strictly backwards and past the header.
    #[inline(always)]
    pub fn parse_compressed(message: &[u8], start: usize) -> Result<(Self, usize), ParseError> {
        if let Some(name) = Self::copy_uncompressed(message, start) {
            return Ok(name);
        }
        let mut name = Self { len: 0, bytes: [0; MAX_NAME_LEN] };
        let end = walk_compressed(message, start, |label| name.push_label(label).map_err(|()| ParseErrorKind::NameTooLong))?;
        Ok((name, end))
    }

    /// [`Self::parse_compressed`] into `self` (its old contents replaced), so that a caller
    /// reading into a slot it holds copies the name once: a name without pointers goes straight
    /// from the message into the buffer. On error `self` is unspecified.
    #[inline(always)]
    pub fn parse_compressed_into(&mut self, message: &[u8], start: usize) -> Result<usize, ParseError> {
        if let Some(end) = uncompressed_end(message, start) {
            let wire = &message[start..end];
            self.bytes[..wire.len()].copy_from_slice(wire);
            self.len = wire.len() as u8;
            return Ok(end);
        }
        let (name, end) = Self::parse_compressed(message, start)?;
        *self = name;
        Ok(end)
    }

    /// The fast path of both parses: a valid name without pointers at `start` (labels of type
    /// 00 inside `data`, at most 255 octets, ending in the root label), copied in one piece;
    /// `None` for anything else, which the label-by-label walk then handles (or rejects).
    #[inline(always)]
    fn copy_uncompressed(data: &[u8], start: usize) -> Option<(Self, usize)> {
        let pos = uncompressed_end(data, start)?;
        let wire = data.get(start..pos)?;
        let mut name = Self { len: wire.len() as u8, bytes: [0; MAX_NAME_LEN] };
        name.bytes[..wire.len()].copy_from_slice(wire);
        Some((name, pos))
    }

    /// Checks a possibly compressed name at `start` by the rules of [`Self::parse_compressed`]
    /// without copying it; returns the offset after the name's bytes at `start` and whether the
    /// name is the root.
    pub fn skip_compressed(message: &[u8], start: usize) -> Result<(usize, bool), ParseError> {
        if let Some(end) = uncompressed_end(message, start) {
            return Ok((end, end - start == 1));
        }
        let mut total = 0usize;
        let end = walk_compressed(message, start, |label| {
            total += 1 + label.len();
            if total > MAX_NAME_LEN {
                Err(ParseErrorKind::NameTooLong)
            } else {
                Ok(())
            }
        })?;
        Ok((end, total == 1))
    }

    /// Parses presentation format (`www.example.org.`, `@`-free); a relative name is completed
    /// with `origin`. Handles `\X` and `\DDD` escapes (RFC 1035 §5.1).
    pub fn from_text(text: &str, origin: Option<&NameBuf>) -> Result<Self, NameTextError> {
        if text == "." {
            return Ok(Self::ROOT);
        }
        if text.is_empty() {
            return Err(NameTextError::EmptyLabel);
        }
        let mut name = Self { len: 0, bytes: [0; MAX_NAME_LEN] };
        let mut label = [0u8; MAX_LABEL_LEN + 1];
        let mut label_len = 0usize;
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut absolute = false;
        while i < bytes.len() {
            let byte = match bytes[i] {
                b'.' => {
                    if label_len == 0 {
                        return Err(NameTextError::EmptyLabel);
                    }
                    name.push_label(&label[..label_len]).map_err(|_| NameTextError::NameTooLong)?;
                    label_len = 0;
                    i += 1;
                    if i == bytes.len() {
                        absolute = true;
                    }
                    continue;
                }
                b'\\' => {
                    let (value, used) = unescape(&bytes[i + 1..]).ok_or(NameTextError::BadEscape)?;
                    i += used;
                    value
                }
                other => other,
            };
            i += 1;
            if label_len == MAX_LABEL_LEN {
                return Err(NameTextError::LabelTooLong);
            }
            label[label_len] = byte;
            label_len += 1;
        }
        if label_len > 0 {
            name.push_label(&label[..label_len]).map_err(|_| NameTextError::NameTooLong)?;
        }
        if absolute {
            name.push_label(&[]).map_err(|_| NameTextError::NameTooLong)?;
            return Ok(name);
        }
        let origin = origin.ok_or(NameTextError::Relative)?;
        name.append(origin).map_err(|_| NameTextError::NameTooLong)?;
        Ok(name)
    }

    /// The uncompressed wire form, root label included.
    pub fn as_wire(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Wire length in octets.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True for the root name only (a `NameBuf` is never empty of labels otherwise).
    pub fn is_root(&self) -> bool {
        self.len == 1
    }

    /// Never true: a name has at least the root label. Present for clippy's `len` convention.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Labels from the leftmost, the root label excluded.
    pub fn labels(&self) -> Labels<'_> {
        Labels { wire: self.as_wire() }
    }

    /// Number of labels, the root label excluded.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// The name without its leftmost label; `None` for the root.
    pub fn parent(&self) -> Option<Self> {
        self.suffix(1)
    }

    /// The name with its `skip` leftmost labels removed.
    pub fn suffix(&self, skip: usize) -> Option<Self> {
        let offset = self.suffix_offset(skip)?;
        let mut out = Self { len: 0, bytes: [0; MAX_NAME_LEN] };
        let tail = &self.as_wire()[offset..];
        out.bytes[..tail.len()].copy_from_slice(tail);
        out.len = tail.len() as u8;
        Some(out)
    }

    /// Byte offset in the wire form where the suffix after `skip` labels starts.
    pub fn suffix_offset(&self, skip: usize) -> Option<usize> {
        let wire = self.as_wire();
        let mut pos = 0;
        for _ in 0..skip {
            let len = usize::from(*wire.get(pos)?);
            if len == 0 {
                return None;
            }
            pos += 1 + len;
        }
        Some(pos)
    }

    /// True when `self` equals `ancestor` or lies below it (case-insensitive).
    pub fn is_subdomain_of(&self, ancestor: &NameBuf) -> bool {
        is_subdomain_wire(self.as_wire(), ancestor.as_wire())
    }

    /// `*.` + `self`, the wildcard name at this node (RFC 4592).
    pub fn wildcard_child(&self) -> Option<Self> {
        let mut out = Self { len: 0, bytes: [0; MAX_NAME_LEN] };
        out.push_label(b"*").ok()?;
        out.append(self).ok()?;
        Some(out)
    }

    /// True when the leftmost label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.as_wire().starts_with(&[1, b'*'])
    }

    /// Replaces the suffix `old` (which must be a suffix) with `new` (DNAME substitution).
    pub fn replace_suffix(&self, old: &NameBuf, new: &NameBuf) -> Option<Self> {
        let keep = self.len().checked_sub(old.len())?;
        let mut out = Self { len: 0, bytes: [0; MAX_NAME_LEN] };
        if keep + new.len() > MAX_NAME_LEN {
            return None;
        }
        out.bytes[..keep].copy_from_slice(&self.as_wire()[..keep]);
        out.bytes[keep..keep + new.len()].copy_from_slice(new.as_wire());
        out.len = (keep + new.len()) as u8;
        Some(out)
    }

    /// The same name with each ASCII letter upper-cased when `upper` (called once per letter, in
    /// order) says so, else lower-cased (0x20 randomisation). Label lengths (at most 63) are below
    /// `A`, so they are never taken for letters.
    pub fn with_case(&self, mut upper: impl FnMut() -> bool) -> Self {
        let mut out = *self;
        let len = out.len();
        for byte in &mut out.bytes[..len] {
            if byte.is_ascii_alphabetic() {
                *byte = if upper() { byte.to_ascii_uppercase() } else { byte.to_ascii_lowercase() };
            }
        }
        out
    }

    /// A copy with ASCII letters lower-cased.
    pub fn to_lowercase(&self) -> Self {
        let mut out = *self;
        let len = out.len();
        out.bytes[..len].make_ascii_lowercase();
        out
    }

    /// Canonical DNS order (RFC 4034 §6.1): by labels from the right, each compared as lower-case
    /// octet strings.
    pub fn canonical_cmp(&self, other: &NameBuf) -> Ordering {
        let mut left = [&[][..]; 128];
        let mut right = [&[][..]; 128];
        let left_count = collect_labels(self, &mut left);
        let right_count = collect_labels(other, &mut right);
        let (mut i, mut j) = (left_count, right_count);
        while i > 0 && j > 0 {
            i -= 1;
            j -= 1;
            let ordering = cmp_label_lowercase(left[i], right[j]);
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        left_count.cmp(&right_count)
    }

    /// Appends a label; the root label (empty) terminates the name.
    fn push_label(&mut self, label: &[u8]) -> Result<(), ()> {
        let len = self.len();
        if label.len() > MAX_LABEL_LEN || len + 1 + label.len() > MAX_NAME_LEN {
            return Err(());
        }
        self.bytes[len] = label.len() as u8;
        self.bytes[len + 1..len + 1 + label.len()].copy_from_slice(label);
        self.len = (len + 1 + label.len()) as u8;
        Ok(())
    }

    /// Appends the whole of `other` (which ends in the root label).
    fn append(&mut self, other: &NameBuf) -> Result<(), ()> {
        let len = self.len();
        if len + other.len() > MAX_NAME_LEN {
            return Err(());
        }
        self.bytes[len..len + other.len()].copy_from_slice(other.as_wire());
        self.len = (len + other.len()) as u8;
        Ok(())
    }
}

impl PartialEq for NameBuf {
    fn eq(&self, other: &Self) -> bool {
        self.as_wire() == other.as_wire() || self.as_wire().eq_ignore_ascii_case(other.as_wire())
    }
}

impl Eq for NameBuf {}

impl Hash for NameBuf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for byte in self.as_wire() {
            state.write_u8(byte.to_ascii_lowercase());
        }
    }
}

impl fmt::Debug for NameBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NameBuf({self})")
    }
}

impl fmt::Display for NameBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for label in self.labels() {
            write_label(label, f)?;
            f.write_str(".")?;
        }
        Ok(())
    }
}

/// Writes one label in presentation format, escaping as RFC 1035 §5.1 and RFC 4343 require.
pub fn write_label(label: &[u8], f: &mut dyn fmt::Write) -> fmt::Result {
    for &byte in label {
        match byte {
            b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => write!(f, "\\{}", byte as char)?,
            0x21..=0x7E => f.write_char(byte as char)?,
            _ => write!(f, "\\{byte:03}")?,
        }
    }
    Ok(())
}

/// Iterator over the labels of a name, leftmost first, root excluded.
#[derive(Clone)]
pub struct Labels<'a> {
    wire: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, rest) = self.wire.split_first()?;
        if len == 0 {
            return None;
        }
        let (label, rest) = rest.split_at(usize::from(len).min(rest.len()));
        self.wire = rest;
        Some(label)
    }
}

/// True when the uncompressed wire name `name` is `ancestor` or below it, in any case (the
/// wire form of [`NameBuf::is_subdomain_of`], for names not copied into a `NameBuf`).
pub fn is_subdomain_wire(name: &[u8], ancestor: &[u8]) -> bool {
    let Some(start) = name.len().checked_sub(ancestor.len()) else { return false };
    // Most names come in one case: an exact comparison settles them without folding.
    if name[start..] != *ancestor && !name[start..].eq_ignore_ascii_case(ancestor) {
        return false;
    }
    // The matching tail must begin at a label boundary.
    let mut pos = 0;
    while pos < start {
        pos += 1 + usize::from(name[pos]);
    }
    pos == start
}

/// The bytes of a valid name without pointers at `start` of `data`, without copying them: see
/// [`uncompressed_end`].
#[inline]
pub fn uncompressed_at(data: &[u8], start: usize) -> Option<&[u8]> {
    data.get(start..uncompressed_end(data, start)?)
}

/// The end of a valid name without pointers at `start` of `data` (labels of type 00 inside
/// `data`, at most 255 octets, ending in the root label); `None` for anything else.
#[inline]
fn uncompressed_end(data: &[u8], start: usize) -> Option<usize> {
    let mut pos = start;
    loop {
        let len = usize::from(*data.get(pos)?);
        if len & 0xC0 != 0 || pos + 1 + len - start > MAX_NAME_LEN {
            return None;
        }
        pos += 1 + len;
        if len == 0 {
            return Some(pos);
        }
    }
}

/// Walks the labels of a possibly compressed name at `start` (RFC 9267: pointers strictly
/// backwards and past the header, at most [`MAX_POINTER_HOPS`], label types 00 and 11 only),
/// handing each label (the root label last, empty) to `on_label`. Returns the offset after the
/// name's bytes at `start`.
fn walk_compressed(message: &[u8], start: usize, mut on_label: impl FnMut(&[u8]) -> Result<(), ParseErrorKind>) -> Result<usize, ParseError> {
    let mut pos = start;
    let mut end = None;
    let mut hops = 0;
    let mut lowest = start;
    loop {
        let &len = message.get(pos).ok_or(ParseError::new(pos, ParseErrorKind::ShortInput))?;
        match len & 0xC0 {
            0x00 => {
                let label = message.get(pos + 1..pos + 1 + len as usize).ok_or(ParseError::new(pos, ParseErrorKind::ShortInput))?;
                on_label(label).map_err(|kind| ParseError::new(pos, kind))?;
                pos += 1 + len as usize;
                if len == 0 {
                    return Ok(end.unwrap_or(pos));
                }
            }
            0xC0 => {
                let &low = message.get(pos + 1).ok_or(ParseError::new(pos, ParseErrorKind::ShortInput))?;
                let target = (usize::from(len & 0x3F) << 8) | usize::from(low);
                if target >= lowest || target < 12 {
                    return Err(ParseError::new(pos, ParseErrorKind::BadPointer));
                }
                hops += 1;
                if hops > MAX_POINTER_HOPS {
                    return Err(ParseError::new(pos, ParseErrorKind::TooManyPointers));
                }
                end.get_or_insert(pos + 2);
                lowest = target;
                pos = target;
            }
            _ => return Err(ParseError::new(pos, ParseErrorKind::BadLabel)),
        }
    }
}

/// Decodes the escape after a backslash: `\DDD` or `\X`. Returns the byte and the input used.
pub fn unescape(after: &[u8]) -> Option<(u8, usize)> {
    let first = *after.first()?;
    if first.is_ascii_digit() {
        let digits = after.get(..3)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let value = digits.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
        return u8::try_from(value).ok().map(|v| (v, 3));
    }
    Some((first, 1))
}

fn collect_labels<'n>(name: &'n NameBuf, out: &mut [&'n [u8]; 128]) -> usize {
    let mut count = 0;
    for label in name.labels() {
        out[count] = label;
        count += 1;
    }
    count
}

fn cmp_label_lowercase(left: &[u8], right: &[u8]) -> Ordering {
    let l = left.iter().map(u8::to_ascii_lowercase);
    let r = right.iter().map(u8::to_ascii_lowercase);
    l.cmp(r)
}

#[cfg(test)]
mod tests;
