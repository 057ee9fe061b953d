//! Word count and string helpers of DCLM's `baselines/` rules, with Python semantics. **ft-words**:
//! fastText's tokenizer (`fasttext.FastText.tokenize`), which splits on the seven
//! bytes ' ', '\n', '\r', '\t', '\v', '\f' and '\0' (and emits `</s>` at each '\n', which never
//! counts), keeping the tokens whose first character is alphanumeric (`w[0].isalnum()`), as in
//! DCLM's `split_words(model="fasttext", ignore_punctuation=True)`.
//!
//! ws-words (`str.split()`) are counted with the other per-line statistics of the RW rules.

use crate::pychars;

/// fastText's token separators (`Dictionary::readWord`).
#[inline]
fn is_ft_separator(c: char) -> bool {
    matches!(c, ' ' | '\n' | '\r' | '\t' | '\u{0b}' | '\u{0c}' | '\0')
}

/// Number of fastText tokens whose first character is Python-alphanumeric.
pub fn count_ft_words(text: &str) -> usize {
    let mut count = 0;
    let mut at_start = true;
    for c in text.chars() {
        if is_ft_separator(c) {
            at_start = true;
        } else if at_start {
            at_start = false;
            if pychars::is_alnum(c) {
                count += 1;
            }
        }
    }
    count
}

/// `s.isspace()` (false for the empty string).
pub fn py_isspace(s: &str) -> bool {
    !s.is_empty() && s.chars().all(pychars::is_space)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ft_words_split_on_fasttext_separators_and_keep_alnum_first() {
        assert_eq!(count_ft_words(""), 0);
        assert_eq!(count_ft_words("Hello, world! -- ok"), 3);
        // "--" and "!x" start with punctuation; "²x" starts with a digit per isalnum.
        assert_eq!(count_ft_words("-- !x ²x"), 1);
        // NUL and vertical tab separate; U+00A0 and U+3000 do not (fastText is byte-based).
        assert_eq!(count_ft_words("a\0b\u{0b}c\u{0c}d"), 4);
        assert_eq!(count_ft_words("a\u{a0}b c\u{3000}d"), 2);
        assert_eq!(count_ft_words("日本語 テキスト"), 2);
    }

    #[test]
    fn python_char_predicates() {
        use crate::pychars::*;
        // isupper: Greek, circled and Roman-numeral capitals; not titlecase `ǅ`.
        assert!(
            is_upper('Σ') && is_upper('Ⓐ') && is_upper('Ⅰ') && !is_upper('ǅ') && !is_upper('a')
        );
        // isdigit: superscripts and circled digits, not fractions or CJK numerals.
        assert!(
            is_digit('²') && is_digit('①') && is_digit('٣') && !is_digit('½') && !is_digit('三')
        );
        // isdecimal (re `\d`): Arabic-Indic yes, superscript no.
        assert!(is_decimal('٣') && !is_decimal('²'));
        // isalnum: letters, all numerics (`½`, `三`), not combining marks or `_`.
        assert!(is_alnum('é') && is_alnum('½') && is_alnum('三') && !is_alnum('\u{301}'));
        assert!(!is_alnum('_') && is_word('_'));
        assert!(is_space('\u{1c}') && is_space('\u{85}') && !is_space('\u{200b}'));
    }

    #[test]
    fn isspace_is_python_isspace() {
        assert!(py_isspace("\u{1c} "));
        assert!(!py_isspace(""));
    }
}
