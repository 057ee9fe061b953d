//! `Dom::parse` (our byte-scanning tokenizer feeding html5ever's tree builder) must build exactly
//! the tree that html5ever's own tokenizer builds: same elements, attributes (names, namespaces,
//! values), text and comments, in the same places. Checked on every page of the shared article
//! set (when it is beside the repo), on mutated real pages, and on generated tag soup made of
//! the constructs where tokenizers disagree: character references with and without `;`, in text
//! and attributes, comments and their odd endings, DOCTYPEs, raw-text elements and script's
//! escaped states, CDATA in SVG, NUL and carriage returns, truncation anywhere.
//! The parse the extractor uses (`KeptAttributes::ForExtraction`) must build that tree too, less
//! the attributes it leaves out.
//! `MDF_TOKENIZER_CASES=N` sets the number of generated and mutated cases (default 6000 each).

mod common;

use common::{mutate, seeds_with, XorShift};
use mdf_html::decode::decode;
use mdf_html::dom::{Dom, KeptAttributes, ParseBudget};
use mdf_html::extract::{extract, ExtractOptions};

fn budget() -> ParseBudget {
    ParseBudget {
        max_nodes: 5_000_000,
        max_depth: 1_000_000,
        timeout: None,
    }
}

fn assert_same_tree(html: &str, what: &str) {
    let reference = Dom::parse_with_html5ever_tokenizer(html, &budget());
    let ours = Dom::parse(html, &budget()).map(|d| d.outline());
    assert_same_outline(
        ours,
        reference.as_ref().map(Dom::outline).map_err(Clone::clone),
        html,
        what,
    );
    // The extractor's parse keeps fewer attributes and must build the same tree otherwise.
    let filtered = Dom::parse_keeping(html, &budget(), KeptAttributes::ForExtraction);
    let reference_filtered = reference.map(|mut d| {
        d.retain_attributes(KeptAttributes::ForExtraction);
        d.outline()
    });
    let what = format!("{what} (attributes kept for extraction)");
    assert_same_outline(
        filtered.map(|d| d.outline()),
        reference_filtered,
        html,
        &what,
    );
}

fn assert_same_outline<E: PartialEq>(
    ours: Result<String, E>,
    reference: Result<String, E>,
    html: &str,
    what: &str,
) {
    if ours != reference {
        let (a, b) = (ours.unwrap_or_default(), reference.unwrap_or_default());
        let line = a
            .lines()
            .zip(b.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(0);
        let context = |t: &str| {
            t.lines()
                .skip(line.saturating_sub(3))
                .take(6)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "{what}: trees differ at line {line}\nours:\n{}\nhtml5ever:\n{}\ninput: {:?}",
            context(&a),
            context(&b),
            html.chars().take(600).collect::<String>()
        );
    }
}

fn cases() -> usize {
    std::env::var("MDF_TOKENIZER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6000)
}

#[test]
fn nul_in_cdata_is_left_to_the_tree_builder() {
    // Inside an SVG <title> (an HTML integration point) the NUL is dropped; elsewhere in SVG it
    // becomes U+FFFD. The tokenizer must hand it over as is for either to happen (found by the
    // generated soup: it used to replace it itself).
    for html in [
        "<svg><title><![CDATA[a\0b]]></title></svg>",
        "<svg><![CDATA[a\0\0b]]></svg>",
        "<math><mi><![CDATA[\0]]>",
    ] {
        assert_same_tree(html, html);
    }
    let dom = Dom::parse("<svg><title><![CDATA[a\0b]]>", &budget()).expect("parses");
    assert!(dom.outline().contains("\"ab\""), "{}", dom.outline());
}

#[test]
fn same_tree_as_html5ever_on_real_pages() {
    let pages = seeds_with(usize::MAX, usize::MAX);
    for (i, page) in pages.iter().enumerate() {
        let decoded = decode(page, None, None).expect("decodes");
        assert_same_tree(&decoded.text, &format!("page {i}"));
    }
    eprintln!("{} pages", pages.len());
}

#[test]
fn same_tree_as_html5ever_on_mutated_pages() {
    let seeds = seeds_with(usize::MAX, 24 * 1024);
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    for i in 0..cases() {
        let mut page = seeds[i % seeds.len()].clone();
        mutate(&mut rng, &mut page);
        let text = String::from_utf8_lossy(&page);
        assert_same_tree(&text, &format!("mutation {i}"));
    }
}

/// A page whose text depends on every attribute the extractor reads.
const ATTRIBUTE_PAGE: &str = r#"<html lang="de"><head><title>Ein Titel</title>
<meta name="author" content="Jane Roe"><meta property="article:published_time" content="2024-05-01">
</head><body>
<div role="navigation"><p>Home, News, Sport, Weather, Contact, About us, Archive, Subscribe.</p></div>
<div class="share-buttons"><p>Share this on Facebook, Twitter, and by email to your friends.</p></div>
<div itemprop="articleBody">
<p>The council met on Tuesday to discuss the new budget, which includes funding for roads,
schools, and the library, and after a long debate the members agreed to postpone the vote.</p>
<p hidden>Hidden by its attribute, a sentence that must not appear in the text at all.</p>
<p aria-hidden="true">Hidden from screen readers, a sentence that must not appear either.</p>
<p style="display: none">Hidden by its style, a sentence that must not appear in the text.</p>
<p>Residents who spoke at the meeting, many of them parents, asked for more crossings near the
schools, and the mayor said that a plan would be presented in the spring, before the summer.</p>
</div>
<div id="comments"><p>Reader one wrote a comment, long enough to count as text, about the roads.</p></div>
</body></html>"#;

/// The extractor parses with `KeptAttributes::ForExtraction`: every attribute it reads must be
/// in that list, or its output would change without any tree test noticing. Same text, title,
/// author, date and language from the full parse and the filtered one, on real and mutated
/// pages, with comments on and off.
#[test]
fn extraction_reads_only_kept_attributes() {
    let mut seeds = seeds_with(usize::MAX, usize::MAX);
    seeds.push(ATTRIBUTE_PAGE.as_bytes().to_vec());
    let mut rng = XorShift(0x5851_F42D_4C95_7F2D);
    let mutated = (0..cases() / 20).map(|i| {
        let mut page = seeds[i % seeds.len()].clone();
        mutate(&mut rng, &mut page);
        page
    });
    for (i, page) in seeds.iter().cloned().chain(mutated).enumerate() {
        let html = String::from_utf8_lossy(&page);
        let full = Dom::parse(&html, &budget());
        let filtered = Dom::parse_keeping(&html, &budget(), KeptAttributes::ForExtraction);
        let (full, filtered) = match (full, filtered) {
            (Ok(full), Ok(filtered)) => (full, filtered),
            (Err(a), Err(b)) if a == b => continue,
            (a, b) => panic!(
                "page {i}: the parses disagree: {:?} / {:?}",
                a.err(),
                b.err()
            ),
        };
        for include_comments in [false, true] {
            let opts = ExtractOptions {
                include_comments,
                ..ExtractOptions::default()
            };
            assert_eq!(
                extract(&full, &opts),
                extract(&filtered, &opts),
                "page {i}, comments {include_comments}"
            );
        }
    }
}

/// Pieces where tokenizers go wrong.
const PIECES: &[&str] = &[
    "<",
    ">",
    "/",
    "=",
    "\"",
    "'",
    " ",
    "\n",
    "\r",
    "\r\n",
    "\t",
    "\0",
    "-",
    "--",
    "!",
    "?",
    "&",
    ";",
    "#",
    "x",
    "a",
    "A",
    "1",
    "é",
    "中",
    "text",
    "<p>",
    "</p>",
    "<div class=\"a b\">",
    "</div>",
    "<P CLASS=X ID='y' data-x=1>",
    "<a href=/x?a=1&b=2&amp;c=3&copy=4&notin;>",
    "</a>",
    "<img src=x alt=\"&lt;&gt;\"/>",
    "<br/>",
    "</br>",
    "<input type=hidden>",
    // Attributes the tree builder reads, on elements whose other attributes the extractor's
    // parse drops (formatting elements keep all theirs: the builder compares them).
    "<input TYPE=Hidden data-z=1>",
    "<input type=text>",
    "<b data-k=1>",
    "<b data-k=2 class=c>",
    "<font color=red>",
    "<font face=x data-y=1>",
    "<annotation-xml encoding='text/html' data-a=1>",
    "<form id=f>",
    "<input form=f name=n>",
    "<template shadowrootmode=open>",
    "<meta charset=utf-8 data-m=1>",
    "<path xml:lang=ko lang=ko xlink:href=x xmlns:xlink=y viewbox='0 0 1 1'>",
    "<b>",
    "</b>",
    "<i>",
    "</i>",
    "<table>",
    "<tr>",
    "<td>",
    "</table>",
    "<select>",
    "<option>",
    "<li>",
    "<ul>",
    "&amp;",
    "&amp",
    "&AMP;",
    "&lt",
    "&gt;",
    "&nbsp;",
    "&nbsp",
    "&copy",
    "&copyx",
    "&not",
    "&notit;",
    "&notin;",
    "&xyz;",
    "&#65;",
    "&#x41;",
    "&#X41",
    "&#;",
    "&#x;",
    "&#0;",
    "&#128;",
    "&#x9F;",
    "&#xD800;",
    "&#1114112;",
    "&#99999999999;",
    "&#x10FFFF;",
    "&#xFFFE;",
    "&#13;",
    "&;",
    "&&",
    "&acE;",
    "&NotEqualTilde;",
    "<!--",
    "-->",
    "--!>",
    "<!-->",
    "<!--->",
    "<!---->",
    "<!-- a -- b -->",
    "<!--<!-->",
    "--!",
    "<!",
    "<!x>",
    "<?php x ?>",
    "</ x>",
    "</>",
    "</3",
    "<!DOCTYPE html>",
    "<!doctype HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\">",
    "<!DOCTYPE html SYSTEM 'about:legacy-compat'>",
    "<!DOCTYPE html PUBLIC \"x\"'y'>",
    "<!DOCTYPE>",
    "<!DOCTYPEhtml>",
    "<!DOCTYPE html bogus>",
    "<!DOCTYPE html PUBLIC>",
    "<!DOCTYPE html PUBLIC \"a>",
    "<!DOCTYPE html SYSTEM \"x\" junk>",
    "<script>",
    "</script>",
    "</SCRIPT >",
    "</script/x>",
    "</scripts>",
    "<script type=x>",
    "<!--<script>",
    "<script ",
    "</script",
    "-->",
    "<style>",
    "</style>",
    "<title>",
    "</title>",
    "<textarea>",
    "</textarea>",
    "<xmp>",
    "</xmp>",
    "<iframe>",
    "</iframe>",
    "<noscript>",
    "</noscript>",
    "<noembed>",
    "<noframes>",
    "<plaintext>",
    "<svg>",
    "</svg>",
    "<math>",
    "<![CDATA[",
    "]]>",
    "]]",
    "<foreignObject>",
    "<desc>",
    "<pre>",
    "</pre>",
    "<listing>",
    "<template>",
    "</template>",
    "<frameset>",
    "<head>",
    "<body x=1>",
    "<html lang=en>",
    "<a x x=1 X=2 y = 3 z='4'",
    "/>",
    "<a b=\"c\"d>",
    "<a =x>",
    "<a \"b\"=c>",
    "<a b=c=d>",
    "<a b=`c`>",
    "<a b='c&amp;d'>",
];

#[test]
fn same_tree_as_html5ever_on_generated_tag_soup() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for i in 0..cases() {
        let mut html = String::new();
        for _ in 0..1 + rng.below(60) {
            html.push_str(PIECES[rng.below(PIECES.len())]);
        }
        assert_same_tree(&html, &format!("soup {i}"));
        // Every prefix matters too: a construct cut short by the end of the input.
        let cut = rng.below(html.len() + 1);
        if html.is_char_boundary(cut) {
            assert_same_tree(&html[..cut], &format!("soup {i} cut at {cut}"));
        }
    }
}
