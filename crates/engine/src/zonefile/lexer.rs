//! The tokenizer of the master-file format (RFC 1035 §5.1): text in, entries of tokens out.
//!
//! An entry is one line, or several joined by parentheses. Tokens keep their escapes raw (`\X`,
//! `\DDD`); the tokenizer only checks that each escape is well formed. A quoted string is one token
//! (its text without the quotes) and may not run past the end of its line. `;` starts a comment
//! outside quotes. Only ASCII bytes delimit tokens, so every token is a valid `&str` slice.

/// One token: its raw text, whether it was quoted, and its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tok<'t> {
    /// The text, escapes in place, quotes removed.
    pub text: &'t str,
    /// True for a quoted string.
    pub quoted: bool,
    /// The 1-based line the token is on.
    pub line: usize,
}

/// One logical entry: a directive or a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Entry<'t> {
    /// The line the entry starts on.
    pub line: usize,
    /// True when the entry's line starts with a blank (the owner is omitted).
    pub leading_blank: bool,
    /// The tokens, at least one.
    pub tokens: Vec<Tok<'t>>,
}

/// A syntax error of the tokenizer, at a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LexError {
    /// The 1-based line.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// Splits zone-file text into entries.
pub(super) struct Lexer<'t> {
    text: &'t str,
    pos: usize,
    line: usize,
    max_entry_bytes: usize,
}

impl<'t> Lexer<'t> {
    /// A lexer at the start of `text`; entries longer than `max_entry_bytes` are refused.
    pub fn new(text: &'t str, max_entry_bytes: usize) -> Self {
        Self { text, pos: 0, line: 1, max_entry_bytes }
    }

    /// The next non-empty entry, `None` at the end of the text.
    pub fn next_entry(&mut self) -> Result<Option<Entry<'t>>, LexError> {
        loop {
            if self.pos >= self.text.len() {
                return Ok(None);
            }
            let entry = self.entry()?;
            if !entry.tokens.is_empty() {
                return Ok(Some(entry));
            }
        }
    }

    /// Reads one entry from the start of a line, possibly with no tokens.
    fn entry(&mut self) -> Result<Entry<'t>, LexError> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut entry = Entry { line: self.line, leading_blank: matches!(bytes.get(start), Some(b' ' | b'\t')), tokens: Vec::new() };
        let mut open_paren: Option<usize> = None;
        loop {
            if self.pos - start > self.max_entry_bytes {
                return Err(self.error(format!("entry longer than {} bytes", self.max_entry_bytes)));
            }
            let Some(&byte) = bytes.get(self.pos) else {
                return match open_paren {
                    Some(line) => Err(LexError { line, message: "unbalanced parentheses: '(' is never closed".into() }),
                    None => Ok(entry),
                };
            };
            match byte {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    if open_paren.is_none() {
                        return Ok(entry);
                    }
                }
                b';' => self.skip_comment(),
                b'(' if open_paren.is_some() => return Err(self.error("nested parentheses".into())),
                b'(' => {
                    open_paren = Some(self.line);
                    self.pos += 1;
                }
                b')' if open_paren.is_none() => return Err(self.error("unbalanced parentheses: ')' without '('".into())),
                b')' => {
                    open_paren = None;
                    self.pos += 1;
                }
                b'"' => entry.tokens.push(self.quoted()?),
                _ => entry.tokens.push(self.unquoted()?),
            }
        }
    }

    /// Skips to the end of the line, leaving the newline.
    fn skip_comment(&mut self) {
        let rest = &self.text.as_bytes()[self.pos..];
        self.pos += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    }

    /// A quoted string; `self.pos` is at the opening quote.
    fn quoted(&mut self) -> Result<Tok<'t>, LexError> {
        let bytes = self.text.as_bytes();
        let start = self.pos + 1;
        self.pos = start;
        loop {
            match bytes.get(self.pos) {
                None | Some(b'\n') => return Err(self.error("unterminated quoted string".into())),
                Some(b'"') => break,
                Some(b'\\') => self.escape()?,
                Some(_) => self.pos += 1,
            }
        }
        let text = self.slice(start, self.pos)?;
        self.pos += 1;
        Ok(Tok { text, quoted: true, line: self.line })
    }

    /// An unquoted token, up to a blank, a newline, `;`, or a parenthesis.
    fn unquoted(&mut self) -> Result<Tok<'t>, LexError> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        loop {
            match bytes.get(self.pos) {
                None | Some(b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')') => break,
                Some(b'\\') => self.escape()?,
                Some(_) => self.pos += 1,
            }
        }
        Ok(Tok { text: self.slice(start, self.pos)?, quoted: false, line: self.line })
    }

    /// Checks and skips an escape; `self.pos` is at the backslash.
    fn escape(&mut self) -> Result<(), LexError> {
        let after = &self.text.as_bytes()[self.pos + 1..];
        match after.first() {
            None | Some(b'\n' | b'\r') => Err(self.error("bad escape: '\\' at the end of a line".into())),
            Some(first) if first.is_ascii_digit() => {
                let digits = after.iter().take(3).take_while(|b| b.is_ascii_digit()).count();
                let value = after.iter().take(digits).fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
                if digits < 3 || value > 255 {
                    let shown = String::from_utf8_lossy(&after[..digits]).into_owned();
                    return Err(self.error(format!("bad escape '\\{shown}': expected three digits 000 to 255")));
                }
                self.pos += 4;
                Ok(())
            }
            Some(_) => {
                self.pos += 2;
                Ok(())
            }
        }
    }

    /// `text[start..end]`; the bounds are ASCII delimiters or the end, so always char boundaries.
    fn slice(&self, start: usize, end: usize) -> Result<&'t str, LexError> {
        // A backslash before a multi-byte character skips one byte only, but tokens end only at
        // ASCII delimiters, which never sit inside a UTF-8 sequence.
        self.text.get(start..end).ok_or_else(|| self.error("invalid UTF-8 boundary".into()))
    }

    fn error(&self, message: String) -> LexError {
        LexError { line: self.line, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Result<Vec<Entry<'_>>, LexError> {
        let mut lexer = Lexer::new(text, 1 << 20);
        let mut out = Vec::new();
        while let Some(entry) = lexer.next_entry()? {
            out.push(entry);
        }
        Ok(out)
    }

    fn texts<'t>(entry: &Entry<'t>) -> Vec<&'t str> {
        entry.tokens.iter().map(|t| t.text).collect()
    }

    #[test]
    fn rfc1035_5_1_parentheses_join_lines_and_comments_are_dropped() {
        let list = entries("@ IN SOA ns host ( 1 ; serial\n 2 3\n 4 5 )\nwww A 1.2.3.4 ; c\n\n  ; only a comment\n").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(texts(&list[0]), ["@", "IN", "SOA", "ns", "host", "1", "2", "3", "4", "5"]);
        assert_eq!(list[0].tokens[9].line, 3);
        assert_eq!(list[1].line, 4);
        assert!(!list[1].leading_blank);
    }

    #[test]
    fn quoted_strings_keep_escapes_and_semicolons() {
        let list = entries("t TXT \"a;b \\\" c\" x\\;y\n").unwrap();
        assert_eq!(list[0].tokens[2], Tok { text: "a;b \\\" c", quoted: true, line: 1 });
        assert_eq!(list[0].tokens[3].text, "x\\;y");
        assert!(!list[0].tokens[3].quoted);
    }

    #[test]
    fn leading_blank_means_omitted_owner() {
        let list = entries("\tA 1.2.3.4\n").unwrap();
        assert!(list[0].leading_blank);
    }

    #[test]
    fn syntax_errors_name_their_line() {
        assert_eq!(entries("a (\n b\n").unwrap_err(), LexError { line: 1, message: "unbalanced parentheses: '(' is never closed".into() });
        assert_eq!(entries("a\nb )\n").unwrap_err().line, 2);
        assert_eq!(entries("a \"b\nc\"\n").unwrap_err().message, "unterminated quoted string");
        assert!(entries("a ( ( b ) )\n").unwrap_err().message.contains("nested"));
        assert!(entries("a \\25\n").unwrap_err().message.starts_with("bad escape '\\25'"));
        assert!(entries("a \\256\n").unwrap_err().message.starts_with("bad escape"));
        assert!(entries("a b\\").unwrap_err().message.starts_with("bad escape"));
    }

    #[test]
    fn entry_length_is_bounded() {
        let text = format!("a ( {} )", "b ".repeat(100));
        assert!(Lexer::new(&text, 50).next_entry().unwrap_err().message.contains("longer than 50"));
    }

    #[test]
    fn multibyte_text_after_backslash_is_safe() {
        let list = entries("a \\é\u{10348} \"\\é\"\n").unwrap();
        assert_eq!(texts(&list[0]), ["a", "\\é\u{10348}", "\\é"]);
    }
}
