use super::*;

fn filter() -> DclmHeuristicsFilter {
    DclmHeuristicsFilter::new(DclmHeuristicsFilterParams::default())
}

/// Only the named steps on (everything else off).
fn only(f: impl FnOnce(&mut DclmHeuristicsFilterParams)) -> DclmHeuristicsFilter {
    let mut p = DclmHeuristicsFilterParams {
        newlines: false,
        page_length: false,
        word_length: false,
        max_symbol_ratio: None,
        max_bullet_lines_ratio: None,
        max_ellipsis_lines_ratio: None,
        max_non_alpha_words_ratio: None,
        min_stop_words: None,
        dup_line_frac: None,
        dup_para_frac: None,
        dup_line_char_frac: None,
        dup_para_char_frac: None,
        top_n_grams: vec![],
        dup_n_grams: vec![],
        ..DclmHeuristicsFilterParams::default()
    };
    f(&mut p);
    DclmHeuristicsFilter::new(p)
}

fn reason(f: &DclmHeuristicsFilter, text: &str) -> Option<&'static str> {
    match f.judge(text) {
        Judgement::Keep(_) => None,
        Judgement::Drop(r) => Some(r),
    }
}

/// A plain English text that passes every rule.
const GOOD: &str = "The river that runs past our village has changed a great deal over the last \
century. Old maps show it winding through marshes, with small islands where fishermen built \
their huts.\nToday the banks are lined with stone, and the water moves faster than it used to. \
Farmers say that the spring floods have become rarer, but that summer droughts hurt the crops \
more often.\n\nHistorians disagree about when the first bridge was built. Some point to a \
charter from 1420; others believe a wooden crossing existed long before that date.";

#[test]
fn good_text_is_kept_unchanged() {
    assert_eq!(filter().judge(GOOD), Judgement::Keep(GOOD.into()));
    let three = GOOD.replace("\n\n", "\n\n\n\n");
    assert_eq!(filter().judge(&three), Judgement::Keep(GOOD.into()));
}

#[test]
fn newline_runs_collapse() {
    let f = only(|p| p.newlines = true);
    assert_eq!(
        f.judge("a\n\n\n\nb\nc\n\nd\n\n\n"),
        Judgement::Keep("a\n\nb\nc\n\nd\n\n".into())
    );
    assert_eq!(
        f.judge("a\r\n\r\n\r\nb"),
        Judgement::Keep("a\r\n\r\n\r\nb".into())
    );
}

#[test]
fn page_length_counts_ft_words() {
    let f = only(|p| p.page_length = true);
    let words = |n: usize| vec!["w"; n].join(" ");
    assert_eq!(reason(&f, &words(49)), Some(PAGE_LENGTH));
    assert_eq!(reason(&f, &words(50)), None);
    // punctuation-first tokens are not ft-words
    assert_eq!(
        reason(&f, &format!("{} -- -- ..", words(49))),
        Some(PAGE_LENGTH)
    );
    let f = only(|p| {
        p.page_length = true;
        p.max_words = 60;
    });
    assert_eq!(reason(&f, &words(61)), Some(PAGE_LENGTH));
}

#[test]
fn mean_word_length_is_inclusive() {
    let f = only(|p| p.word_length = true);
    assert_eq!(reason(&f, "abc abc"), None);
    assert_eq!(reason(&f, "ab abc"), Some(WORD_LENGTH));
    assert_eq!(reason(&f, "abcdefghij"), None);
    assert_eq!(reason(&f, "abcdefghijk"), Some(WORD_LENGTH));
    assert_eq!(reason(&f, " \n "), Some(WORD_LENGTH));
    // code points, not bytes
    assert_eq!(reason(&f, "日本語"), None);
}

#[test]
fn symbol_ratio_counts_hash_and_ellipses() {
    let f = only(|p| p.max_symbol_ratio = Some(0.1));
    let base = vec!["word"; 20].join(" ");
    assert_eq!(reason(&f, &format!("{base} # ...")), None); // 2 / 22
    assert_eq!(reason(&f, &format!("{base} # ... …")), Some(SYMBOL_RATIO)); // 3 / 23
    assert_eq!(
        reason(&f, &format!("{base} . . . ## x")),
        Some(SYMBOL_RATIO)
    );
    // "......" holds two non-overlapping "..."
    assert_eq!(reason(&f, &format!("{base} a......")), None);
    assert_eq!(reason(&f, &format!("{base} a......#")), Some(SYMBOL_RATIO));
}

#[test]
fn bullet_and_ellipsis_lines() {
    let f = only(|p| p.max_bullet_lines_ratio = Some(0.9));
    let lines = |k: usize, n: usize, b: &str| {
        (0..n)
            .map(|i| {
                if i < k {
                    format!("  {b} item {i}")
                } else {
                    format!("text {i}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    assert_eq!(reason(&f, &lines(9, 10, "•")), None);
    assert_eq!(reason(&f, &lines(10, 10, "*")), Some(BULLET_LINES));
    assert_eq!(reason(&f, &lines(10, 10, "●")), Some(BULLET_LINES));
    assert_eq!(reason(&f, &lines(10, 10, "+")), None);
    let f = only(|p| p.max_ellipsis_lines_ratio = Some(0.3));
    let ell = |k: usize, e: &str| {
        (0..10)
            .map(|i| {
                if i < k {
                    format!("more{e}  ")
                } else {
                    format!("line {i}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(reason(&f, &ell(3, "...")), None);
    assert_eq!(reason(&f, &ell(4, "…")), Some(ELLIPSIS_LINES));
    assert_eq!(reason(&f, &ell(4, ". . .")), Some(ELLIPSIS_LINES));
    assert_eq!(reason(&f, &ell(4, "..")), None);
}

#[test]
fn alpha_words_and_stop_words() {
    let f = only(|p| p.max_non_alpha_words_ratio = Some(0.2));
    assert_eq!(reason(&f, "a b c d 12"), None);
    assert_eq!(reason(&f, "a b c 12 --"), Some(ALPHA_WORDS));
    assert_eq!(reason(&f, "a1 b2 c3 é4 -x"), None);
    let f = only(|p| p.min_stop_words = Some(2));
    assert_eq!(reason(&f, "The cat and dog"), None);
    assert_eq!(reason(&f, "THE THE"), None);
    // attached punctuation is kept, so "the," is no stop word
    assert_eq!(reason(&f, "the, cat and"), Some(STOP_WORDS));
    assert_eq!(reason(&f, "nothing here"), Some(STOP_WORDS));
}

#[test]
fn line_and_paragraph_duplicates_count_every_occurrence() {
    let f = only(|p| p.dup_line_frac = Some(0.3));
    // 2 of 7 lines are copies of one line: 2/7 = 0.286 <= 0.3 (datatrove would count 1)
    assert_eq!(reason(&f, "a\nb\nc\nd\ne\nf\na"), None);
    assert_eq!(reason(&f, "a\nb\nc\nd\ne\na"), Some(DUP_LINE_FRAC)); // 2/6
                                                                     // one segment passes, none drops; stripping makes "a " equal "a"
    assert_eq!(reason(&f, "  only  \n\n"), None);
    assert_eq!(reason(&f, " \n \n"), Some(DUP_LINE_FRAC));
    assert_eq!(reason(&f, "a \nb\n a"), Some(DUP_LINE_FRAC));
    let f = only(|p| p.dup_para_frac = Some(0.3));
    assert_eq!(
        reason(&f, "p one\nx\n\np two\n\np one\nx"),
        Some(DUP_PARA_FRAC)
    );
    let f = only(|p| p.dup_line_char_frac = Some(0.2));
    let t = format!("{}\nshort\nshort", "x".repeat(39));
    assert_eq!(reason(&f, &t), Some(DUP_LINE_CHAR_FRAC)); // 10 / 49
    let t = format!("{}\nshort\nshort", "x".repeat(40));
    assert_eq!(reason(&f, &t), None); // 10 / 50
    let f = only(|p| p.dup_para_char_frac = Some(0.2));
    assert_eq!(reason(&f, "aaaa\n\nbbbb\n\naaaa"), Some(DUP_PARA_CHAR_FRAC));
}

#[test]
fn uniseg_words_keep_alnum_first_tokens() {
    assert_eq!(
        uniseg_words("Hello, world! It's 3.14 e-mail 日本 a_b"),
        vec!["Hello", "world", "It's", "3.14", "e", "mail", "日", "本", "a_b"]
    );
}

#[test]
fn top_n_gram_uses_word_chars_and_needs_two_occurrences() {
    let f = only(|p| p.top_n_grams = vec![(2, 0.2)]);
    // every 2-gram is unique
    assert_eq!(reason(&f, "a b c d e f"), None);
    // "ab cd" twice: 4 chars × 2 / 20 chars = 0.4
    assert_eq!(
        reason(&f, "ab cd, ef gh ij kl, ab cd!"),
        Some(intern_reason("dclm_top_2_gram"))
    );
    // ties on count: the longest 2-gram wins
    let t = "a b a b xxxxxxxx y xxxxxxxx y zzzzzzzz";
    // counts: "a b" 2 (2 chars, 4 / 30), "xxxxxxxx y" 2 (9 chars, 18 / 30 = 0.6)
    assert_eq!(reason(&f, t), Some(intern_reason("dclm_top_2_gram")));
    let f = only(|p| p.top_n_grams = vec![(2, 0.6)]);
    assert_eq!(reason(&f, t), None);
}

#[test]
fn duplicated_n_grams_mark_covered_words() {
    let f = only(|p| p.dup_n_grams = vec![(5, 0.15)]);
    let t = "one two three four five six seven eight nine ten eleven twelve";
    assert_eq!(reason(&f, t), None);
    let t = "a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e";
    // "a b c d e" twice: 10 marked chars / 31 = 0.32
    assert_eq!(
        reason(&f, t),
        Some(intern_reason("dclm_duplicated_5_n_grams"))
    );
    // fewer words than n: no n-grams
    assert_eq!(reason(&f, "a a a a"), None);
}

#[test]
fn params_are_checked() {
    let p = DclmHeuristicsFilterParams {
        min_words: 10,
        max_words: 5,
        ..Default::default()
    };
    assert!(p.check().is_err());
    let p = DclmHeuristicsFilterParams {
        top_n_grams: vec![(0, 0.1)],
        ..Default::default()
    };
    assert!(p.check().is_err());
    assert!(DclmHeuristicsFilterParams::default().check().is_ok());
    let p: std::result::Result<DclmHeuristicsFilterParams, _> =
        serde_json::from_str(r#"{"bogus": 1}"#);
    assert!(p.is_err());
}

#[test]
fn uniseg_words_match_python_uniseg_golden_set() {
    // Expected lists from Python `uniseg` 0.10.1: `[w for w in words(s) if w and w[0].isalnum()]`.
    let cases: [(&str, &[&str]); 7] = [
        (
            "can't stop 3,000.50 U.S.A. a.b",
            &["can't", "stop", "3,000.50", "U.S.A", "a.b"],
        ),
        (
            "e-mail_x @home #tag 12:30",
            &["e", "mail_x", "home", "tag", "12", "30"],
        ),
        ("👍🏽👍 🇫🇷🇩🇪 a\u{200d}b", &["a\u{200d}b"]),
        (
            "ｶﾀｶﾅ カタカナー ひらがな 漢字",
            &["ｶﾀｶﾅ", "カタカナー", "ひ", "ら", "が", "な", "漢", "字"],
        ),
        ("שָׁלוֹם \"quoted\" עִבְרִית", &["שָׁלוֹם", "quoted", "עִבְרִית"]),
        ("x\u{301}y \u{a0}z\u{2060}w", &["x\u{301}y", "z\u{2060}w"]),
        (
            "Ελληνικά, русский; ﷺ ٣٤٥",
            &["Ελληνικά", "русский", "ﷺ", "٣٤٥"],
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(uniseg_words(text), expected, "{text:?}");
    }
}
