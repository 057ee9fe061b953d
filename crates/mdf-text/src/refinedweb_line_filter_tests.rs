//! Fixtures for `refinedweb_line_filter`; expected values come from the Python reference in
//! `tests/parity/test_refinedweb_line_filter.py` (DCLM semantics re-stated with `re`/`str`).

use super::*;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};

fn op(p: RefinedwebLineFilterParams) -> RefinedwebLineFilter {
    RefinedwebLineFilter::new(p).expect("build")
}

/// Corrections only (no word-removal ratio), to see the rewritten text of each step.
fn text_only() -> RefinedwebLineFilter {
    op(RefinedwebLineFilterParams {
        word_removal_ratio: false,
        ..Default::default()
    })
}

fn keep(s: &str) -> Correction {
    Correction::Keep(s.to_owned())
}

#[test]
fn uppercase_lines_are_removed_then_text_stripped() {
    let f = text_only();
    assert_eq!(
        f.correct("Hello there my friend\nBREAKING NEWS TODAY\nanother line of text"),
        keep("Hello there my friend\nanother line of text")
    );
    // The strip after the step changes the first line seen by later steps.
    assert_eq!(
        f.correct("  HEADER LINE\n  indented text here"),
        keep("indented text here")
    );
    // Exactly half upper-case is kept (> 0.5 removes); Greek and circled letters count.
    assert_eq!(f.correct("ABC def\nok then"), keep("ABC def\nok then"));
    assert_eq!(f.correct("ΑΘΗΝΑ\nok then"), keep("ok then"));
    assert_eq!(f.correct("ⒶⒷⒸ a\nok then"), keep("ok then"));
    assert_eq!(
        f.correct("WORDS ONLY UPPER"),
        Correction::Drop(EMPTY_AFTER_CORRECTIONS)
    );
}

#[test]
fn line_stats_follow_python() {
    let st = LineStats::of("  Ab  Ⅰ\u{3000}²c\u{1c}d\n");
    assert_eq!((st.len, st.upper, st.digits, st.ws_words), (13, 2, 1, 4));
    assert_eq!(LineStats::of(" \t ").ws_words, 0);
}

#[test]
fn numeric_lines_use_isdigit() {
    assert_eq!(
        text_only().correct("Some words here ok\n12345\n1 2 3 four\n²³\n①②\n١٢٣"),
        keep("Some words here ok\n1 2 3 four")
    );
}

#[test]
fn counter_lines_follow_dclm_regex() {
    assert_eq!(
        text_only().correct(
            "Some words here ok\n1.2k likes\n★ 7 comments ★\n3 likesx\n12,345 Views\n1 like\n5\u{212a} followers"
        ),
        keep("Some words here ok\n3 likesx\n1 like")
    );
    assert!(is_counter_line("  12,345 views  "));
    assert!(is_counter_line("7\u{a0}retweets"));
    assert!(is_counter_line("1,0.0k bookmarks"));
    assert!(!is_counter_line("x 3 likes"));
    assert!(!is_counter_line("10 shares and more"));
    assert!(!is_counter_line("3 likes_"));
}

#[test]
fn short_lines_keep_empty_lines_and_do_not_strip() {
    assert_eq!(
        text_only().correct("Some words here ok\nShare\n\n   \nlast words"),
        keep("Some words here ok\n\nlast words")
    );
    assert_eq!(text_only().correct("x\nHello world"), keep("Hello world"));
    assert_eq!(
        text_only().correct("Hello world\n\nok\n\nthen more"),
        keep("Hello world\n\n\nthen more")
    );
}

#[test]
fn boilerplate_substrings_in_short_lines() {
    let f = text_only();
    assert_eq!(
        f.correct(
            "a b c d e f g h i j k l m n o p q r s t Read more...\nClick here. Read more...\n\
             Sign-in to comment now\n3 items in cart today ok"
        ),
        keep(
            "a b c d e f g h i j k l m n o p q r s t Read more...\nClick here.\nto comment now\n\
             3 today ok"
        )
    );
}

#[test]
fn boilerplate_quirks_unescaped_dots_and_python_ignorecase() {
    let f = text_only();
    // `...` matches any three characters; the suffix must end the line.
    assert_eq!(
        f.correct("Some words in line\nnews read more!!!\nRead moreXYZ is here"),
        keep("Some words in line\nnews\nRead moreXYZ is here")
    );
    // re.IGNORECASE matches `ı` and `İ` with `i`; a line that becomes empty is removed.
    assert_eq!(
        f.correct("Some words in line\nSign-in\nSıgn-in please here\nİtems in cart now"),
        keep("Some words in line\nplease here\n now")
    );
    // U+001C is whitespace for Python but not `^`-adjacent text: no prefix match.
    assert_eq!(
        f.correct("Hello world\n\u{1c}Sign-in\u{1c} ok"),
        keep("Hello world\n\u{1c}Sign-in\u{1c} ok")
    );
    assert_eq!(translate("Read more..."), "read more...");
    assert_eq!(translate(r"a\sb[i]"), "a[\\s\\x1C-\\x1F]b[i\u{130}\u{131}]");
    assert_eq!(
        translate("Sign-in"),
        "s[i\u{130}\u{131}]gn-[i\u{130}\u{131}]n"
    );
}

#[test]
fn word_removal_ratio_and_reasons() {
    let f = op(RefinedwebLineFilterParams::default());
    assert_eq!(
        f.correct("Hello there my friend\nBREAKING NEWS TODAY\nanother line of text"),
        Correction::Drop(WORD_REMOVAL_RATIO)
    );
    assert_eq!(f.correct("-- --"), Correction::Drop(NO_WORDS));
    assert_eq!(f.correct(""), Correction::Drop(EMPTY_AFTER_CORRECTIONS));
    let long = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron \
                pi rho sigma tau upsilon phi chi psi omega and more words to make the count large";
    assert_eq!(f.correct(&format!("{long}\nShare")), keep(long));
    // 11 ws-words: boilerplate rules do not apply.
    let eleven = "one two three four five six seven eight nine ten eleven Read more...";
    assert_eq!(f.correct(eleven), keep(eleven));
}

#[test]
fn each_step_can_be_switched_off() {
    let off = RefinedwebLineFilterParams {
        uppercase_lines: false,
        numeric_lines: false,
        counter_lines: false,
        short_lines: false,
        boilerplate_lines: false,
        word_removal_ratio: false,
        ..Default::default()
    };
    let text = "  UPPER\n123\n3 likes\nx\nSign-in now  ";
    assert_eq!(op(off.clone()).correct(text), keep(text));
    let only_numeric = RefinedwebLineFilterParams {
        numeric_lines: true,
        ..off
    };
    assert_eq!(
        op(only_numeric).correct(text),
        keep("UPPER\n3 likes\nx\nSign-in now")
    );
}

#[test]
fn params_are_checked() {
    let mut p = RefinedwebLineFilterParams::default();
    assert!(p.check().is_ok());
    p.max_removed_ratio = f64::NAN;
    assert!(p.check().is_err());
    let mut p = RefinedwebLineFilterParams::default();
    p.boilerplate_rules.push(BoilerplateRule {
        pattern: "(".into(),
        location: BoilerplateLocation::Any,
    });
    assert!(p.check().is_err());
    let json = serde_json::json!({"max_uppercase_ratio": 0.4, "nope": 1});
    assert!(serde_json::from_value::<RefinedwebLineFilterParams>(json).is_err());
}

const LONG: &str = "one two three four five six seven eight nine ten eleven twelve thirteen \
                    fourteen fifteen sixteen seventeen eighteen nineteen twenty twenty-one";
const LONG_OK: &str = "one two three four five six seven eight nine ten eleven twelve thirteen \
                       fourteen fifteen sixteen seventeen eighteen nineteen twenty twenty-one\nok";

#[test]
fn operator_rewrites_text_and_drops_with_reasons() {
    let batch = RecordBatch::try_from_iter([(
        "text",
        Arc::new(StringArray::from(vec![
            Some(LONG_OK),
            Some("Hello there my friend\nBREAKING NEWS TODAY\nanother line of text"),
            None,
            Some("plain text that stays exactly the same"),
        ])) as ArrayRef,
    )])
    .expect("batch");
    let mut f = op(RefinedwebLineFilterParams::default());
    let mut v = Verdicts::default();
    let out = f.process(batch, &mut v).expect("process");
    assert_eq!(out.num_rows(), 4);
    assert_eq!(v.dropped(), &[(1, WORD_REMOVAL_RATIO)]);
    assert_eq!(v.rejected().len(), 1);
    let col = out.column(0).as_string::<i32>();
    assert_eq!(col.value(0), LONG);
    assert_eq!(col.value(3), "plain text that stays exactly the same");
    assert!(col.is_null(2));
}
