//! Python `str` semantics that the reference implementations (datatrove, DCLM, …) rely on and
//! that differ from Rust's defaults (spec §0): `isspace`/`strip`, `split()`, `splitlines`,
//! `isalpha`, `isupper`, `isdigit`, `isdecimal`, `isalnum`, `re`'s `\w`, and `len` in code
//! points. Rust's `char` methods follow other Unicode properties (for example `is_numeric` is not
//! `isdigit`, and `is_whitespace` lacks U+001C..U+001F). Unicode tables come from Python 3.11
//! (Unicode 14), generated with the tokenizer tables (`scripts/gen_spacy_en_tables.py`).

use crate::words::tables;

/// Binary search in a sorted table of inclusive code point ranges.
#[inline]
pub(crate) fn in_ranges(table: &[(u32, u32)], c: char) -> bool {
    let c = c as u32;
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// `ascii(c)` for an ASCII `c`, else whether `c` is in `table` (Python's predicate on the rest).
#[inline]
pub(crate) fn ascii_or_table(c: char, ascii: fn(&u8) -> bool, table: &[(u32, u32)]) -> bool {
    if c.is_ascii() {
        ascii(&(c as u8))
    } else {
        in_ranges(table, c)
    }
}

/// Python `str.isspace()` for one character (also `re`'s `\s` and what `split()`/`strip()` use):
/// Rust's `is_whitespace` plus the information separators U+001C..U+001F.
#[inline]
pub fn is_space(c: char) -> bool {
    if c.is_ascii() {
        matches!(
            c,
            '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f' | ' '
        )
    } else {
        c.is_whitespace()
    }
}

/// Python `str.isalpha()` for one character (general categories Lu, Ll, Lt, Lm, Lo).
#[inline]
pub fn is_alpha(c: char) -> bool {
    ascii_or_table(c, u8::is_ascii_alphabetic, tables::PY_ALPHA)
}

/// Python `str.isdecimal()` for one character (= `re`'s `\d` on `str`).
#[inline]
pub fn is_decimal(c: char) -> bool {
    ascii_or_table(c, u8::is_ascii_digit, tables::PY_DECIMAL)
}

/// Python `str.isupper()` for one character (Python's Uppercase flag: `Σ`, `Ⓐ`, `Ⅰ`).
#[inline]
pub fn is_upper(c: char) -> bool {
    ascii_or_table(c, u8::is_ascii_uppercase, tables::PY_UPPER)
}

/// Python `str.isdigit()` for one character (Numeric_Type Decimal or Digit: `²`, `①`, …).
#[inline]
pub fn is_digit(c: char) -> bool {
    ascii_or_table(c, u8::is_ascii_digit, tables::PY_DIGIT)
}

/// Python `str.isalnum()` for one character.
#[inline]
pub fn is_alnum(c: char) -> bool {
    ascii_or_table(c, u8::is_ascii_alphanumeric, tables::PY_ALNUM)
}

/// Python `s.isspace()` for a string (false for the empty string).
pub fn isspace(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_space)
}

/// Python `re`'s `\w` on `str`: `str.isalnum()` or `_`.
#[inline]
pub fn is_word_char(c: char) -> bool {
    c == '_' || is_alnum(c)
}

/// Python `len(s)`: the number of code points.
#[inline]
pub fn len(s: &str) -> usize {
    // Counting non-continuation bytes is what `chars().count()` does, minus the decoding.
    s.bytes().filter(|&b| (b as i8) >= -0x40).count()
}

/// Python `s.strip()`.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Python `s.lstrip()`.
pub fn lstrip(s: &str) -> &str {
    s.trim_start_matches(is_space)
}

/// Python `s.rstrip()`.
pub fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

/// Is `c` a line boundary for Python `str.splitlines()`?
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

/// `s.split()`: runs of Python whitespace separate words; no empty words.
#[inline]
pub fn split_whitespace(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_space).filter(|w| !w.is_empty())
}

/// Python `s.splitlines()`: splits on `\n`, `\r`, `\r\n`, `\v`, `\f`, `\x1c`-`\x1e`, `\x85`,
/// U+2028 and U+2029; no empty last piece after a final line break; `""` gives no lines.
pub fn splitlines(s: &str) -> SplitLines<'_> {
    SplitLines { rest: s }
}

/// Iterator of [`splitlines`].
#[derive(Debug, Clone)]
pub struct SplitLines<'a> {
    rest: &'a str,
}

impl<'a> Iterator for SplitLines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = self.rest;
        // Fast path for the common separators, then the rare ones.
        for (i, c) in rest.char_indices() {
            if is_line_break(c) {
                let mut end = i + c.len_utf8();
                if c == '\r' && rest.as_bytes().get(end) == Some(&b'\n') {
                    end += 1;
                }
                self.rest = &rest[end..];
                return Some(&rest[..i]);
            }
        }
        self.rest = "";
        Some(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_matches_python() {
        let py: Vec<u32> = vec![
            0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000,
            0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028,
            0x2029, 0x202f, 0x205f, 0x3000,
        ];
        let ours: Vec<u32> = (0..0x11_0000u32)
            .filter_map(char::from_u32)
            .filter(|&c| is_space(c))
            .map(|c| c as u32)
            .collect();
        assert_eq!(ours, py);
    }

    #[test]
    fn splitlines_matches_python() {
        let got: Vec<&str> = splitlines("a\nb\r\nc\rd\u{2028}e\x1cf\n\ng\n").collect();
        assert_eq!(got, ["a", "b", "c", "d", "e", "f", "", "g"]);
        assert_eq!(splitlines("").count(), 0);
        assert_eq!(splitlines("\n").collect::<Vec<_>>(), [""]);
        assert_eq!(splitlines("x\x1f").collect::<Vec<_>>(), ["x\x1f"]);
    }

    #[test]
    fn predicates() {
        assert!(is_alpha('é') && is_alpha('中') && !is_alpha('1') && !is_alpha('\u{301}'));
        assert!(is_decimal('٣') && !is_decimal('²'));
        assert!(is_word_char('_') && is_word_char('²') && !is_word_char('-'));
        assert_eq!(len("日本語"), 3);
        assert_eq!(strip("\x1c a \u{3000}"), "a");
        // isupper: Greek, circled and Roman-numeral capitals; not titlecase `ǅ`.
        assert!(
            is_upper('Σ') && is_upper('Ⓐ') && is_upper('Ⅰ') && !is_upper('ǅ') && !is_upper('a')
        );
        // isdigit: superscripts and circled digits, not fractions or CJK numerals.
        assert!(
            is_digit('²') && is_digit('①') && is_digit('٣') && !is_digit('½') && !is_digit('三')
        );
        // isalnum: letters, all numerics (`½`, `三`), not combining marks or `_`.
        assert!(is_alnum('é') && is_alnum('½') && is_alnum('三') && !is_alnum('\u{301}'));
        assert!(!is_alnum('_') && is_word_char('_'));
        assert!(is_space('\u{1c}') && is_space('\u{85}') && !is_space('\u{200b}'));
        assert!(isspace("\u{1c} ") && !isspace(""));
    }
}
