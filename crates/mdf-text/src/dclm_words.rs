//! Word count of DCLM's `baselines/` rules, with Python semantics. **ft-words**:
//! fastText's tokenizer (`fasttext.FastText.tokenize`), which splits on the seven
//! bytes ' ', '\n', '\r', '\t', '\v', '\f' and '\0' (and emits `</s>` at each '\n', which never
//! counts), keeping the tokens whose first character is alphanumeric (`w[0].isalnum()`), as in
//! DCLM's `split_words(model="fasttext", ignore_punctuation=True)`.
//!
//! ws-words (`str.split()`) are counted with the other per-line statistics of the RW rules.

use crate::pystr;

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
            if pystr::is_alnum(c) {
                count += 1;
            }
        }
    }
    count
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
}
