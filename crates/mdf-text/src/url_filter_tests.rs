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
