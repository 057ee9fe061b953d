//! Python `str` semantics the reference filters rely on (spec §0): the whitespace set of
//! `str.split()` / `str.strip()` / `str.isspace()`, and the line breaks of `str.splitlines()`.
//! Rust's `char::is_whitespace` lacks U+001C..U+001F, which Python counts as whitespace.

/// `c.isspace()` in Python: Unicode `White_Space` plus the separators U+001C..U+001F.
#[inline]
pub fn is_py_space(c: char) -> bool {
    if c.is_ascii() {
        matches!(
            c,
            '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f' | ' '
        )
    } else {
        c.is_whitespace()
    }
}

/// `s.strip()`.
#[inline]
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// `s.split()`: runs of Python whitespace separate words; no empty words.
#[inline]
pub fn py_split_whitespace(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_py_space).filter(|w| !w.is_empty())
}

/// `s.splitlines()` (without `keepends`): splits on `\n`, `\r`, `\r\n`, `\v`, `\f`, `\x1c`,
/// `\x1d`, `\x1e`, `\x85`, `\u2028`, `\u2029`; a break at the very end adds no empty line.
pub fn py_splitlines(s: &str) -> SplitLines<'_> {
    SplitLines { rest: s }
}

#[derive(Debug, Clone)]
pub struct SplitLines<'a> {
    rest: &'a str,
}

#[inline]
fn is_line_break(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\x0b'
            | '\x0c'
            | '\x1c'
            | '\x1d'
            | '\x1e'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

impl<'a> Iterator for SplitLines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        match self.rest.char_indices().find(|&(_, c)| is_line_break(c)) {
            Some((i, c)) => {
                let line = &self.rest[..i];
                let mut end = i + c.len_utf8();
                if c == '\r' && self.rest.as_bytes().get(end) == Some(&b'\n') {
                    end += 1;
                }
                self.rest = &self.rest[end..];
                Some(line)
            }
            None => {
                let line = self.rest;
                self.rest = "";
                Some(line)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitlines_matches_python() {
        let v: Vec<&str> = py_splitlines("a\nb\r\nc\rd\x0be\x1cf\u{2028}g\n").collect();
        assert_eq!(v, ["a", "b", "c", "d", "e", "f", "g"]);
        let v: Vec<&str> = py_splitlines("\n\nx").collect();
        assert_eq!(v, ["", "", "x"]);
        assert_eq!(py_splitlines("").count(), 0);
        // "\x1f" is whitespace but not a line break.
        let v: Vec<&str> = py_splitlines("a\x1fb").collect();
        assert_eq!(v, ["a\x1fb"]);
    }

    #[test]
    fn whitespace_matches_python() {
        assert!(is_py_space('\x1f') && is_py_space('\u{3000}') && is_py_space('\u{85}'));
        assert!(!is_py_space('\u{200b}'));
        assert_eq!(py_strip("\x1c a b \u{a0}"), "a b");
        let v: Vec<&str> = py_split_whitespace(" a\x1db\tc  ").collect();
        assert_eq!(v, ["a", "b", "c"]);
    }
}
