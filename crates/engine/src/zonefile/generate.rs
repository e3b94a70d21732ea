//! BIND's `$GENERATE start-stop[/step] lhs [ttl] [class] type rhs…`: the range and the templates.
//!
//! In a template, `$` is the current value in decimal, `$$` a literal `$`, and
//! `${offset[,width[,base]]}` the value plus `offset`, zero-padded to `width`, in `base` `d`
//! (decimal), `o` (octal), `x`/`X` (hex) or `n`/`N` (reversed nibbles joined by dots, as for
//! `ip6.arpa`; `width` then counts the dots too, as BIND does). A backslash and the character after
//! it are copied as they are, so `\$` reaches the name or rdata parser, which reads it as `$`.

use std::fmt::Write;

/// The widest `${…}` field accepted; a name or a string cannot use more.
const MAX_WIDTH: usize = 255;

/// The values `start`, `start + step`, … up to `stop`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Range {
    start: u32,
    stop: u32,
    step: u32,
}

impl Range {
    /// Parses `start-stop[/step]`; `start <= stop`, `step >= 1`, at most `max_count` values.
    pub fn parse(text: &str, max_count: u32) -> Result<Self, String> {
        let bad = || format!("bad $GENERATE range '{text}': expected start-stop[/step] with start <= stop");
        let (span, step) = match text.split_once('/') {
            Some((span, step)) => (span, decimal(step).filter(|&s| s > 0).ok_or_else(bad)?),
            None => (text, 1),
        };
        let (start, stop) = span.split_once('-').ok_or_else(bad)?;
        let (Some(start), Some(stop)) = (decimal(start), decimal(stop)) else {
            return Err(bad());
        };
        if start > stop {
            return Err(bad());
        }
        let range = Self { start, stop, step };
        if range.count() > u64::from(max_count) {
            return Err(format!("$GENERATE range '{text}' makes {} records, more than {max_count}", range.count()));
        }
        Ok(range)
    }

    /// The number of values.
    pub fn count(self) -> u64 {
        u64::from(self.stop - self.start) / u64::from(self.step) + 1
    }

    /// The values in order.
    pub fn values(self) -> impl Iterator<Item = u32> {
        (u64::from(self.start)..=u64::from(self.stop)).step_by(self.step as usize).filter_map(|v| u32::try_from(v).ok())
    }
}

/// Expands `template` for `value`.
pub(super) fn expand(template: &str, value: u32) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 8);
    let mut chars = template.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some((_, next)) = chars.next() {
                    out.push(next);
                }
            }
            '$' => match chars.peek().map(|&(_, next)| next) {
                Some('$') => {
                    chars.next();
                    out.push('$');
                }
                Some('{') => {
                    let body_start = index + 2;
                    let close = template[body_start..].find('}').ok_or_else(|| format!("unterminated '${{' in $GENERATE template '{template}'"))?;
                    let body = &template[body_start..body_start + close];
                    modifier(body, value, &mut out)?;
                    while chars.peek().is_some_and(|&(i, _)| i <= body_start + close) {
                        chars.next();
                    }
                }
                _ => {
                    let _ = write!(out, "{value}");
                }
            },
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// Writes `value` as `${body}` asks.
fn modifier(body: &str, value: u32, out: &mut String) -> Result<(), String> {
    let bad = || format!("bad $GENERATE modifier '${{{body}}}': expected ${{offset[,width[,base]]}}");
    let mut parts = body.split(',');
    let offset: i64 = parts.next().map(str::trim).filter(|p| p.len() <= 11).and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let width = match parts.next() {
        Some(text) => text.trim().parse::<usize>().ok().filter(|&w| w <= MAX_WIDTH).ok_or_else(bad)?,
        None => 0,
    };
    let base = match parts.next().map(str::trim) {
        Some(text) if text.len() == 1 => text.as_bytes()[0],
        Some(_) => return Err(bad()),
        None => b'd',
    };
    if parts.next().is_some() {
        return Err(bad());
    }
    let shifted = i64::from(value) + offset;
    let shifted = u32::try_from(shifted).map_err(|_| format!("$GENERATE value {value} with offset {offset} is out of range"))?;
    let _ = match base {
        b'd' => write!(out, "{shifted:0width$}"),
        b'o' => write!(out, "{shifted:0width$o}"),
        b'x' => write!(out, "{shifted:0width$x}"),
        b'X' => write!(out, "{shifted:0width$X}"),
        b'n' | b'N' => {
            nibbles(shifted, width, base == b'N', out);
            Ok(())
        }
        _ => return Err(bad()),
    };
    Ok(())
}

/// BIND's nibble form: low nibble first, dot-separated; `width` counts digits and dots.
fn nibbles(mut value: u32, mut width: usize, upper: bool, out: &mut String) {
    loop {
        let digit = char::from_digit(value & 0xF, 16).unwrap_or('0');
        out.push(if upper { digit.to_ascii_uppercase() } else { digit });
        value >>= 4;
        width = width.saturating_sub(1);
        if width == 0 && value == 0 {
            return;
        }
        out.push('.');
        width = width.saturating_sub(1);
        if width == 0 && value == 0 {
            return;
        }
    }
}

/// A plain decimal `u32` (no sign, no blanks).
fn decimal(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let values: Vec<u32> = Range::parse("1-10/3", 100).unwrap().values().collect();
        assert_eq!(values, [1, 4, 7, 10]);
        assert_eq!(Range::parse("5-5", 100).unwrap().count(), 1);
        assert_eq!(Range::parse("0-4294967295/4294967295", 100).unwrap().count(), 2);
        for bad in ["10-1", "1-", "-5", "a-b", "1-5/0", "1-5/x", "1", "+1-5", "1-5/2/3"] {
            assert!(Range::parse(bad, 100).unwrap_err().starts_with("bad $GENERATE range"), "{bad}");
        }
        assert!(Range::parse("1-101", 100).unwrap_err().contains("makes 101 records, more than 100"));
    }

    #[test]
    fn plain_and_escaped_dollars() {
        assert_eq!(expand("host-$", 7).unwrap(), "host-7");
        assert_eq!(expand("$.$", 7).unwrap(), "7.7");
        assert_eq!(expand("a$$b", 7).unwrap(), "a$b");
        assert_eq!(expand("a\\$b", 7).unwrap(), "a\\$b");
    }

    #[test]
    fn modifiers() {
        assert_eq!(expand("${0,3,d}", 7).unwrap(), "007");
        assert_eq!(expand("${10}", 7).unwrap(), "17");
        assert_eq!(expand("${-7,2}", 7).unwrap(), "00");
        assert_eq!(expand("${0,0,o}", 8).unwrap(), "10");
        assert_eq!(expand("${0,4,x}", 255).unwrap(), "00ff");
        assert_eq!(expand("${0,0,X}x", 255).unwrap(), "FFx");
        assert_eq!(expand("${0,0,n}", 0x1a).unwrap(), "a.1");
        assert_eq!(expand("${0,0,N}", 0x1a).unwrap(), "A.1");
        assert_eq!(expand("${0,7,n}", 0x1a).unwrap(), "a.1.0.0");
        assert_eq!(expand("${0,8,n}", 0x1a).unwrap(), "a.1.0.0.");
        assert_eq!(expand("${0,0,n}", 0).unwrap(), "0");
    }

    #[test]
    fn bad_modifiers() {
        assert!(expand("${-8}", 7).unwrap_err().contains("out of range"));
        assert!(expand("${0,3", 7).unwrap_err().contains("unterminated"));
        for bad in ["${a}", "${0,x}", "${0,3,q}", "${0,3,d,1}", "${0,256}", "${}"] {
            assert!(expand(bad, 1).unwrap_err().starts_with("bad $GENERATE modifier"), "{bad}");
        }
    }
}
