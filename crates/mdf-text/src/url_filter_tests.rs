//! Fixture tests of `url_filter` (both modes).

use super::*;
use arrow::array::StringArray;
use std::sync::Arc;

fn fineweb() -> UrlFilterParams {
    UrlFilterParams {
        mode: UrlFilterMode::Fineweb,
        url_field: "url".into(),
        use_default_quality_sources: true,
        ..Default::default()
    }
}

fn weighted() -> UrlFilterParams {
    UrlFilterParams {
        url_field: "url".into(),
        use_default_quality_sources: true,
        ..Default::default()
    }
}

fn run(p: UrlFilterParams, urls: &[Option<&str>]) -> Vec<Option<String>> {
    p.check().expect("valid params");
    let mut op = UrlFilter::build(p).expect("build");
    let batch =
        RecordBatch::try_from_iter([("url", Arc::new(StringArray::from(urls.to_vec())) as _)])
            .expect("batch");
    let mut v = Verdicts::default();
    op.process(batch, &mut v).expect("process");
    let mut out = vec![None; urls.len()];
    for (row, reason) in v.dropped() {
        out[*row as usize] = Some(reason.to_string());
    }
    for (row, msg) in v.rejected() {
        out[*row as usize] = Some(format!("REJECT {msg}"));
    }
    out
}

fn reasons(p: UrlFilterParams, urls: &[&str]) -> Vec<Option<String>> {
    let urls: Vec<Option<&str>> = urls.iter().map(|u| Some(*u)).collect();
    run(p, &urls)
}

fn r(s: &str) -> Option<String> {
    Some(s.to_owned())
}

#[test]
fn fineweb_rules_fire_in_datatrove_order() {
    let mut p = fineweb();
    p.blocklist_domains = vec!["bad.com".into(), "www.evil.org".into()];
    p.blocklist_urls = vec!["http://ok.com/blocked".into()];
    let got = reasons(
        p,
        &[
            "http://sub.bad.com/x",
            "https://www.evil.org/",
            "https://evil.org/",
            "http://ok.com/blocked",
            "http://ok.com/page/bdsm",
            "http://ok.com/page/BDSM",
            "http://ok.com/sexy-lingerie",
            "http://ok.com/sexy",
            "http://ok.com/mypornhubvideos",
            "http://ok.com/essex-news",
            "http://BAD.com/",
        ],
    );
    assert_eq!(
        got,
        vec![
            r("domain"),
            r("subdomain"),
            None,
            r("url"),
            r("hard_blacklisted"),
            None, // tokens are not lower-cased (datatrove quirk)
            r("soft_blacklisted"),
            None,
            r("blacklisted_subword"),
            None,
            None, // hosts are compared as written
        ]
    );
}

#[test]
fn fineweb_rejects_records_without_url_and_can_keep_them() {
    let got = run(fineweb(), &[None, Some(""), Some("http://a.com/")]);
    assert!(got[0]
        .as_deref()
        .is_some_and(|m| m.starts_with("REJECT missing_field")));
    assert!(got[1]
        .as_deref()
        .is_some_and(|m| m.starts_with("REJECT missing_field")));
    assert_eq!(got[2], None);
    let mut p = fineweb();
    p.missing_url = Some(MissingUrl::Drop);
    assert_eq!(run(p, &[None]), vec![r("missing_url")]);
    assert_eq!(run(weighted(), &[None, Some("")]), vec![None, None]);
}

#[test]
fn fineweb_soft_threshold_and_integrated_lists() {
    let mut p = fineweb();
    p.soft_word_threshold = Some(1);
    assert_eq!(
        reasons(p, &["http://a.com/sexy"]),
        vec![r("soft_blacklisted")]
    );
    let mut p = fineweb();
    p.use_integrated_lists = Some(false);
    p.banned_subwords = vec!["Foo-Bar".into()];
    assert_eq!(
        reasons(p, &["http://a.com/bdsm", "http://a.com/x/FOO_bar"]),
        vec![None, r("blacklisted_subword")]
    );
}

#[test]
fn weighted_mode_matches_tokens_not_substrings() {
    let got = reasons(
        weighted(),
        &[
            "https://www.essex.ac.uk/news",
            "https://www.sussex.ac.uk/",
            "https://news.ycombinator.com/hackernews",
            "https://example.org/adulthood-studies",
            "https://example.org/time-slots",
            "https://example.org/sex-education",
            "https://porn.example.com/",
            "https://example.org/Free-Money-now",
            "https://example.org/buy-now",
        ],
    );
    assert_eq!(
        got,
        vec![
            None,
            None,
            None,
            None,
            None,
            r("word_score"),
            r("word_score"),
            r("word_score"),
            None, // buy-now alone: 0.8·0.4 + min(0.4/3, 0.2) = 0.453 < 0.5
        ]
    );
}

#[test]
fn weighted_domains_are_public_suffix_aware_and_name_the_rule() {
    let mut p = weighted();
    p.blocklist_domains = vec!["Bad.com".into(), "co.uk".into(), "shop.evil.net".into()];
    p.word_weights = Some([("casino".to_owned(), 0.0)].into_iter().collect());
    let got = reasons(
        p,
        &[
            "https://bad.com/",
            "http://user@www.BAD.com:8080/",
            "https://bbc.co.uk/",
            "https://a.shop.evil.net/",
            "https://shop.evil.net/",
            "https://evil.net/",
            "https://casino.org/",
        ],
    );
    assert_eq!(
        got,
        vec![
            r("domain"),
            r("domain"),
            None, // a public suffix never matches by walking up
            r("subdomain"),
            r("subdomain"),
            None,
            None, // user weight 0 overrides the default
        ]
    );
    let mut p = weighted();
    p.blocklist_domains = vec!["bad.com".into()];
    p.check_subdomains = Some(false);
    assert_eq!(
        reasons(p, &["https://bad.com/", "https://www.bad.com/"]),
        vec![r("domain"), None]
    );
}

#[test]
fn quality_sources_are_dropped_when_asked() {
    let mut p = weighted();
    p.exclude_quality_sources = true;
    p.quality_source_domains = Some(vec!["Example.ORG".into()]);
    let got = reasons(
        p,
        &[
            "https://en.wikipedia.org/wiki/X",
            "https://www.example.org/",
            "https://notwikipedia.org/",
        ],
    );
    assert_eq!(got, vec![r("quality_source"), r("quality_source"), None]);
    let mut p = fineweb();
    p.exclude_quality_sources = true;
    assert_eq!(
        reasons(p, &["https://github.com/x"]),
        vec![r("quality_source")]
    );
}

#[test]
fn params_of_the_other_mode_are_config_errors() {
    let mut p = weighted();
    p.soft_word_threshold = Some(3);
    assert!(p.check().unwrap_err().contains("soft_word_threshold"));
    let mut p = fineweb();
    p.score_threshold = Some(0.3);
    assert!(p.check().unwrap_err().contains("score_threshold"));
    let mut p = weighted();
    p.word_weights = Some([("--".to_owned(), 0.5)].into_iter().collect());
    assert!(p.check().is_err());
}

fn dclm() -> UrlFilterParams {
    UrlFilterParams {
        mode: UrlFilterMode::Dclm,
        url_field: "url".into(),
        use_default_quality_sources: true,
        ..Default::default()
    }
}

#[test]
fn dclm_domain_step_deletes_every_www_and_keeps_port_and_userinfo() {
    let mut p = dclm();
    p.blocklist_domains = vec![
        "Bad.com".into(),
        "bad.com:8080".into(),
        "user@bad.org".into(),
        ".evil.net".into(),
        "www.never.com".into(),
    ];
    let got = reasons(
        p,
        &[
            "http://BAD.com/x",      // lower-cased netloc
            "https://www.bad.com/",  // ".bad.com": no match
            "http://wwwbad.com/",    // "bad.com"
            "http://bawwwd.com/",    // every occurrence deleted
            "http://bad.com:8080/",  // port kept
            "http://bad.com:80/",    // other port: no match
            "http://user@bad.org/",  // userinfo kept
            "http://www.evil.net/",  // ".evil.net"
            "http://www.never.com/", // list entries keep their www
            "http://sub.bad.com/",   // exact match only
            "bad.com/no-scheme",     // netloc is empty without `//`
            "//bad.com/relative",    // scheme-relative: netloc found
            "  http://bad.com/",     // leading spaces stripped
            "ht\ttp://b\nad.com/",   // tabs and newlines deleted
        ],
    );
    let d = r(DCLM_DOMAIN);
    assert_eq!(
        got,
        vec![
            d.clone(),
            None,
            d.clone(),
            d.clone(),
            d.clone(),
            None,
            d.clone(),
            d.clone(),
            None,
            None,
            None,
            d.clone(),
            d.clone(),
            d
        ]
    );
}

#[test]
fn dclm_www_deletion_is_one_left_to_right_pass() {
    let mut p = dclm();
    // "wwww.x.com" → "w.x.com"; "wwwwww.x.com" → ".x.com".
    p.blocklist_domains = vec!["w.x.com".into(), ".x.com".into()];
    let got = reasons(
        p,
        &[
            "http://wwww.x.com/",
            "http://wwwwww.x.com/",
            "http://ww.x.com/",
        ],
    );
    assert_eq!(got, vec![r(DCLM_DOMAIN), r(DCLM_DOMAIN), None]);
}

#[test]
fn dclm_quality_domains_are_exact_and_off_by_default() {
    let urls = [
        "https://wikipedia.org/wiki/X",
        "https://en.wikipedia.org/wiki/X",
        "https://www.github.com/a", // ".github.com" after deleting www
        "https://GitHub.com/a",
        "https://github.com:443/a",
    ];
    assert_eq!(reasons(dclm(), &urls), vec![None; 5]);
    let mut p = dclm();
    p.exclude_quality_sources = true;
    let q = r(DCLM_QUALITY_DOMAIN);
    assert_eq!(reasons(p, &urls), vec![q.clone(), None, None, q, None]);
}

#[test]
fn dclm_strict_words_ignore_dashes_and_dots_and_match_inside_words() {
    let got = reasons(
        dclm(),
        &[
            "http://x.com/big-tits.html", // "bigtits" once - and . are gone
            "http://x.com/BLOW.JOB",      // lower-cased
            "http://x.com/myblowjobs",    // substring
            "http://x.com/g-spot",        // the list's "g-spot" keeps its dash: never matches
            "http://x.com/gspot",
            "http://x.com/ba_llsack", // `_` is not deleted
            "http://x.com/\u{1F595}", // the emoji entry
            "http://x.com/groupſex",  // IGNORECASE: ſ matches s
        ],
    );
    let s = r(DCLM_STRICT_WORD);
    assert_eq!(
        got,
        vec![
            s.clone(),
            s.clone(),
            s.clone(),
            None,
            None,
            None,
            s.clone(),
            s
        ]
    );
}

#[test]
fn dclm_hard_words_need_python_word_boundaries() {
    let got = reasons(
        dclm(),
        &[
            "http://x.com/porn",
            "http://x.com/PORN-videos",
            "http://x.com/pornstar", // no boundary after
            "http://x.com/porn_x",   // `_` is a word character
            "http://x.com/porn2",    // digits too
            "http://x.com/2porn",
            "http://x.com/pornévideo",  // unicode letters too
            "http://x.com/porn\u{300}", // a combining mark is not \w: boundary
            "http://x.com/p.o.r.n",     // hard words see the dots
            "http://x.com/xxx",
            "http://x.com/xxxx",
            "http://x.com/?q=tit",
            "http://x.com/tıt", // IGNORECASE: ı matches i
        ],
    );
    let h = r(DCLM_HARD_WORD);
    assert_eq!(
        got,
        vec![
            h.clone(),
            h.clone(),
            None,
            None,
            None,
            None,
            None,
            h.clone(),
            None,
            h.clone(),
            None,
            h.clone(),
            h
        ]
    );
}

#[test]
fn dclm_soft_words_need_two_distinct_whole_words() {
    let got = reasons(
        dclm(),
        &[
            "http://x.com/sex",
            "http://x.com/sex/sex", // one distinct word
            "http://x.com/sex/nude",
            "http://x.com/sexy-nude",
            "http://x.com/sexnude",    // no boundaries
            "http://x.com/s&m/escort", // "s&m" holds a non-word character
            "http://x.com/sex/ſex",    // distinct as matched text (findall)
            "http://essex.ac.uk/sussex",
        ],
    );
    let s = r(DCLM_SOFT_WORDS);
    assert_eq!(
        got,
        vec![None, None, s.clone(), s.clone(), None, s.clone(), s, None]
    );
    let mut p = dclm();
    p.soft_word_threshold = Some(1);
    assert_eq!(reasons(p, &["http://x.com/sex"]), vec![r(DCLM_SOFT_WORDS)]);
}

#[test]
fn dclm_steps_run_in_order_and_missing_urls() {
    let mut p = dclm();
    p.blocklist_domains = vec!["porn.com".into()];
    p.exclude_quality_sources = true;
    let got = run(
        p,
        &[
            Some("http://porn.com/bigtits/sex/nude"),
            Some("http://reddit.com/bigtits"),
            Some("http://x.com/bigtits/porn"),
            Some("http://x.com/porn/sex/nude"),
            Some(""),
            None,
            Some("http://[::1/"),
            Some("http://[1.2.3.4]/"),
            Some("http://a\u{2100}b.com/"),
            Some("http://[::1]:80/"),
        ],
    );
    assert_eq!(got[0], r(DCLM_DOMAIN));
    assert_eq!(got[1], r(DCLM_QUALITY_DOMAIN));
    assert_eq!(got[2], r(DCLM_STRICT_WORD));
    assert_eq!(got[3], r(DCLM_HARD_WORD));
    assert_eq!(got[4], None, "an empty URL is judged, and passes");
    assert!(got[5]
        .as_deref()
        .is_some_and(|m| m.starts_with("REJECT missing_field")));
    for g in &got[6..9] {
        assert!(
            g.as_deref()
                .is_some_and(|m| m.starts_with("REJECT invalid_url")),
            "{g:?}"
        );
    }
    assert_eq!(got[9], None);
    // Without a netloc step, a URL urlparse refuses still goes through the word steps.
    assert_eq!(
        reasons(dclm(), &["http://[::1/porn"]),
        vec![r(DCLM_HARD_WORD)]
    );
}

#[test]
fn dclm_word_files_replace_builtins_and_params_of_other_modes_are_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("hard.txt");
    std::fs::write(&f, "Foo\n\n# bar\r\n").expect("write");
    let mut p = dclm();
    p.hard_words_path = Some(f.display().to_string());
    let got = reasons(
        p,
        &[
            "http://x.com/foo",
            "http://x.com/porn",
            "http://x.com/#%20bar",
        ],
    );
    assert_eq!(got, vec![r(DCLM_HARD_WORD), None, None]);

    let mut p = dclm();
    p.banned_words = vec!["x".into()];
    assert!(p.check().unwrap_err().contains("mode: fineweb"));
    let mut p = dclm();
    p.score_threshold = Some(0.3);
    assert!(p.check().unwrap_err().contains("mode: weighted"));
    let mut p = fineweb();
    p.soft_words_path = Some("x".into());
    assert!(p.check().unwrap_err().contains("mode: dclm"));
    let mut p = weighted();
    p.soft_word_threshold = Some(3);
    assert!(p.check().unwrap_err().contains("mode: fineweb"));
    let mut p = dclm();
    p.soft_word_threshold = Some(3);
    assert!(p.check().is_ok());
}

#[test]
fn dclm_builtin_lists_have_dclm_sizes() {
    for (text, n) in [
        (url_lists::DCLM_STRICT_WORDS, 117),
        (url_lists::DCLM_HARD_WORDS, 176),
        (url_lists::DCLM_SOFT_WORDS, 83),
    ] {
        let set: HashSet<&str> = text.lines().collect();
        assert_eq!(set.len(), n);
    }
}
