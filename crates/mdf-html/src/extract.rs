//! Main-content extraction: the part of `html_extractor` that decides quality. It is ours, and
//! every rule below is a general rule about web pages (see `docs/extraction.md`):
//!
//! 1. **Never text**: scripts, styles, forms controls, media, `<head>`, template contents, and
//!    anything hidden (`hidden`, `aria-hidden="true"`, `display:none`).
//! 2. **Boilerplate by name**: `class`/`id`/`role` words mark comment sections, boilerplate
//!    (sharing, related links, ads, cookie and sign-up boxes, bylines, captions) and page
//!    furniture (`nav`, `footer`, `sidebar`, `<nav>`, `<aside>`, `<footer>`, `<header>`); see
//!    [`crate::patterns`]. Furniture and boilerplate that hold most of the page's text are kept:
//!    they are wrappers that happen to be named so.
//! 3. **The main block** is found by readability.js's scoring: every paragraph-like block with at
//!    least 25 characters of its own text scores `1 + commas + min(chars/100, 3)`, given in full to
//!    its parent, half to the grandparent and `1/(3·level)` further up (5 levels); a candidate
//!    starts from a tag prior and a class-name prior (±25) and its total is scaled by
//!    `1 - link density`. The best candidate climbs to an ancestor whose score holds up, and its
//!    siblings that score well (or are link-free sentences) join it.
//! 4. **Cleaning inside the main block** (readability's `cleanConditionally`, with trafilatura's
//!    link-density tests): link lists, blocks of headings, forms, image galleries and boilerplate
//!    labels ("Advertisement", "Read more", in several languages) go.
//! 5. **Text**: one line per block (paragraph, heading, list item `- `, table row with ` | `
//!    between cells), whitespace collapsed except in `<pre>`, line breaks kept, exact duplicate
//!    blocks dropped, the headline (`<h1>` matching the title) left to the `title` column.
//!
//! If the result is shorter than [`RETRY_BELOW_CHARS`], extraction runs again without the
//! name-based removals and conditional cleaning, and the longer text wins (readability's retry).
//! `favor_precision` tightens the link-density and sibling thresholds and drops short trailing
//! blocks after the last real paragraph.

use std::collections::HashSet;

use html5ever::{local_name, LocalName};

use crate::dom::{Dom, NodeData, NodeId, NONE};
use crate::patterns::{self, Mark, NameFlags};

/// Extraction options (the recipe switches of trafilatura that change the text).
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    pub favor_precision: bool,
    pub include_comments: bool,
    pub include_tables: bool,
    /// Line breaks between blocks (1: one block per line, as trafilatura's text output).
    pub newlines_between_blocks: usize,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            favor_precision: false,
            include_comments: false,
            include_tables: true,
            newlines_between_blocks: 1,
        }
    }
}

/// What one page gives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extraction {
    pub text: String,
    pub title: Option<String>,
    pub author: Option<String>,
    pub date: Option<String>,
    pub lang: Option<String>,
}

/// Below this many characters of main text (Latin-script equivalent: see
/// [`latin_equivalent_chars`]), try again with fewer removals.
pub const RETRY_BELOW_CHARS: usize = 250;

/// Characters of `text`, with those of scripts that say more per character weighted so that a
/// complete short article in Chinese or Japanese is not taken for a failed extraction: a Han
/// ideograph counts 3 (a Chinese word is 1.5-2 of them, an English word 5-6 letters and a
/// space), kana and Hangul syllables 2.
fn latin_equivalent_chars(text: &str) -> usize {
    text.chars()
        .map(|c| match u32::from(c) {
            0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F => 3,
            0x3040..=0x30FF | 0xAC00..=0xD7AF => 2,
            _ => 1,
        })
        .sum()
}

/// A paragraph needs this many characters of its own to score (readability's 25).
const MIN_PARAGRAPH_CHARS: u32 = 25;

/// Extracts the main text and metadata of a parsed page.
pub fn extract(dom: &Dom, opts: &ExtractOptions) -> Extraction {
    let meta = metadata(dom);
    let base = Base::new(dom);
    let strict = Pass::new(dom, &base, opts, true).run();
    let text = if latin_equivalent_chars(&strict) < RETRY_BELOW_CHARS {
        let lax = Pass::new(dom, &base, opts, false).run();
        if lax.chars().count() > strict.chars().count() {
            lax
        } else {
            strict
        }
    } else {
        strict
    };
    Extraction { text, ..meta }
}

/// Per-node figures, summed over the kept subtree.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    /// Characters, whitespace runs counted once.
    text: u32,
    link: u32,
    commas: u32,
    p: u32,
    img: u32,
    li: u32,
    input: u32,
    embed: u32,
    heading: u32,
    list_text: u32,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.text += o.text;
        self.link += o.link;
        self.commas += o.commas;
        self.p += o.p;
        self.img += o.img;
        self.li += o.li;
        self.input += o.input;
        self.embed += o.embed;
        self.heading += o.heading;
        self.list_text += o.list_text;
    }

    fn link_density(&self) -> f32 {
        if self.text == 0 {
            0.0
        } else {
            self.link as f32 / self.text as f32
        }
    }
}

/// What both passes share: document order, the never-text elements, each element's mark, each
/// text node's measure (characters, commas) and each node's nearest block (itself or an
/// ancestor), which every statistics round reads.
struct Base {
    order: Vec<NodeId>,
    removed: Vec<bool>,
    marks: Vec<Mark>,
    measures: Vec<(u32, u32)>,
    blocks: Vec<NodeId>,
}

impl Base {
    fn new(dom: &Dom) -> Self {
        let n = dom.nodes.len();
        let order: Vec<NodeId> = dom.descendants(Dom::DOCUMENT).collect();
        let mut removed = vec![false; n];
        let mut marks = vec![Mark::Neutral; n];
        let mut measures = vec![(0, 0); n];
        let mut blocks = vec![NONE; n];
        let mut names = NameFlags::default();
        for &id in &order {
            let node = dom.node(id);
            // Document order visits a parent before its children.
            blocks[id as usize] = if node.is_element() && is_block(node.tag()) {
                id
            } else if node.parent != NONE {
                blocks[node.parent as usize]
            } else {
                NONE
            };
            let parent_removed = node.parent != NONE && removed[node.parent as usize];
            if parent_removed {
                removed[id as usize] = true;
            } else if node.is_element() {
                removed[id as usize] = is_dropped(node.tag()) || is_hidden(dom, id);
                if !removed[id as usize] {
                    marks[id as usize] = mark_of(dom, id, &mut names);
                }
            } else if let NodeData::Text(t) = &node.data {
                measures[id as usize] = measure(t);
            } else if matches!(node.data, NodeData::Other) {
                removed[id as usize] = true;
            }
        }
        Base {
            order,
            removed,
            marks,
            measures,
            blocks,
        }
    }
}

struct Pass<'a> {
    dom: &'a Dom,
    opts: &'a ExtractOptions,
    /// Apply name-based removal and conditional cleaning.
    strict: bool,
    /// Document order of every node reachable from the document.
    order: &'a [NodeId],
    removed: Vec<bool>,
    marks: &'a [Mark],
    measures: &'a [(u32, u32)],
    blocks: &'a [NodeId],
    stats: Vec<Stats>,
    /// Characters of text owned directly by a block (its text nodes and inline descendants).
    own: Vec<u32>,
    own_commas: Vec<u32>,
    score: Vec<f32>,
    scored: Vec<bool>,
    /// Outermost comment sections, collected when `include_comments` is set.
    comment_roots: Vec<NodeId>,
}

fn is_block(tag: &LocalName) -> bool {
    matches!(
        *tag,
        local_name!("address")
            | local_name!("article")
            | local_name!("aside")
            | local_name!("blockquote")
            | local_name!("body")
            | local_name!("caption")
            | local_name!("center")
            | local_name!("dd")
            | local_name!("details")
            | local_name!("dialog")
            | local_name!("div")
            | local_name!("dl")
            | local_name!("dt")
            | local_name!("fieldset")
            | local_name!("figcaption")
            | local_name!("figure")
            | local_name!("footer")
            | local_name!("form")
            | local_name!("h1")
            | local_name!("h2")
            | local_name!("h3")
            | local_name!("h4")
            | local_name!("h5")
            | local_name!("h6")
            | local_name!("header")
            | local_name!("hgroup")
            | local_name!("hr")
            | local_name!("html")
            | local_name!("li")
            | local_name!("main")
            | local_name!("nav")
            | local_name!("ol")
            | local_name!("p")
            | local_name!("pre")
            | local_name!("section")
            | local_name!("summary")
            | local_name!("table")
            | local_name!("tbody")
            | local_name!("td")
            | local_name!("tfoot")
            | local_name!("th")
            | local_name!("thead")
            | local_name!("tr")
            | local_name!("ul")
    )
}

/// Elements whose content is never text.
fn is_dropped(tag: &LocalName) -> bool {
    matches!(
        *tag,
        local_name!("script")
            | local_name!("style")
            | local_name!("noscript")
            | local_name!("template")
            | local_name!("head")
            | local_name!("svg")
            | local_name!("math")
            | local_name!("iframe")
            | local_name!("object")
            | local_name!("embed")
            | local_name!("applet")
            | local_name!("canvas")
            | local_name!("video")
            | local_name!("audio")
            | local_name!("picture")
            | local_name!("select")
            | local_name!("option")
            | local_name!("optgroup")
            | local_name!("datalist")
            | local_name!("button")
            | local_name!("input")
            | local_name!("textarea")
            | local_name!("label")
            | local_name!("map")
            | local_name!("dialog")
            | local_name!("frameset")
            | local_name!("frame")
            | local_name!("meter")
            | local_name!("progress")
            | local_name!("output")
            | local_name!("figure")
            | local_name!("figcaption")
            | local_name!("rp")
            | local_name!("rt")
    )
}

fn is_heading(tag: &LocalName) -> bool {
    matches!(
        *tag,
        local_name!("h1")
            | local_name!("h2")
            | local_name!("h3")
            | local_name!("h4")
            | local_name!("h5")
            | local_name!("h6")
    )
}

/// Hidden by the page itself.
fn is_hidden(dom: &Dom, id: NodeId) -> bool {
    let n = dom.node(id);
    if n.attr(&local_name!("hidden")).is_some() {
        return true;
    }
    if n.attr(&local_name!("aria-hidden"))
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return true;
    }
    n.attr(&local_name!("style")).is_some_and(|s| {
        // Most styles say neither `none` nor `hidden` (a CSS keyword has no spaces inside): no
        // need to normalise those.
        let mentions = |word: &[u8]| {
            s.as_bytes()
                .windows(word.len())
                .any(|w| w.eq_ignore_ascii_case(word))
        };
        if !mentions(b"none") && !mentions(b"hidden") {
            return false;
        }
        let s: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect();
        s.contains("display:none") || s.contains("visibility:hidden")
    })
}

fn mark_of<'a>(dom: &'a Dom, id: NodeId, names: &mut NameFlags<'a>) -> Mark {
    let n = dom.node(id);
    let by_name = patterns::mark(
        n.attr(&local_name!("class")),
        n.attr(&local_name!("id")),
        n.attr(&local_name!("role")),
        n.attr(&local_name!("itemprop")),
        names,
    );
    match by_name {
        Mark::Neutral | Mark::Content if is_furniture_tag(n.tag()) => Mark::Furniture,
        m => m,
    }
}

fn is_furniture_tag(tag: &LocalName) -> bool {
    matches!(
        *tag,
        local_name!("nav")
            | local_name!("aside")
            | local_name!("footer")
            | local_name!("menu")
            | local_name!("header")
    )
}

/// Length in characters (whitespace runs count once) and comma count of a text.
///
/// ASCII runs go through the vectorised [`measure_ascii`] and only the other characters are
/// decoded one by one: a page in a Latin-script language is mostly ASCII with a few accents.
fn measure(s: &str) -> (u32, u32) {
    let b = s.as_bytes();
    if s.is_ascii() {
        return measure_ascii(b);
    }
    let (mut len, mut commas) = (0u32, 0u32);
    // Whether the character before `i` was whitespace (at the start: leading spaces are free).
    let mut after_space = true;
    let mut i = 0;
    while i < b.len() {
        let run = b[i..]
            .iter()
            .position(|&c| !c.is_ascii())
            .unwrap_or(b.len() - i);
        if run > 0 {
            let ascii = &b[i..i + run];
            let (run_len, run_commas) = measure_ascii(ascii);
            // measure_ascii does not count a leading space; it starts a run after a word.
            len += run_len + u32::from(!after_space && is_ascii_space(ascii[0]));
            commas += run_commas;
            after_space = is_ascii_space(ascii[run - 1]);
            i += run;
        }
        let Some(c) = s[i..].chars().next() else {
            break;
        };
        if c.is_whitespace() {
            len += u32::from(!after_space);
            after_space = true;
        } else {
            len += 1;
            commas += u32::from(matches!(c, '，' | '、' | '،'));
            after_space = false;
        }
        i += c.len_utf8();
    }
    (len, commas)
}

/// ASCII whitespace as `char::is_whitespace` has it (tab, newline, vertical tab, form feed,
/// carriage return, space).
fn is_ascii_space(c: u8) -> bool {
    c == b' ' || c.wrapping_sub(b'\t') < 5
}

/// [`measure`] of ASCII text, written without branches so that it vectorises: every non-space
/// counts, and so does every space that follows a non-space.
fn measure_ascii(b: &[u8]) -> (u32, u32) {
    let space = |c: u8| u32::from(is_ascii_space(c));
    let non_space: u32 = b.iter().map(|&c| 1 - space(c)).sum();
    let run_starts: u32 = b
        .iter()
        .zip(b.iter().skip(1))
        .map(|(&prev, &c)| space(c) & (1 - space(prev)))
        .sum();
    let commas: u32 = b.iter().map(|&c| u32::from(c == b',')).sum();
    (non_space + run_starts, commas)
}

impl<'a> Pass<'a> {
    fn new(dom: &'a Dom, base: &'a Base, opts: &'a ExtractOptions, strict: bool) -> Self {
        let n = dom.nodes.len();
        Pass {
            dom,
            opts,
            strict,
            order: &base.order,
            removed: base.removed.clone(),
            marks: &base.marks,
            measures: &base.measures,
            blocks: &base.blocks,
            stats: vec![Stats::default(); n],
            own: vec![0; n],
            own_commas: vec![0; n],
            score: vec![0.0; n],
            scored: vec![false; n],
            comment_roots: Vec::new(),
        }
    }

    fn run(mut self) -> String {
        let dom = self.dom;
        let body = dom
            .find_first(Dom::DOCUMENT, &local_name!("body"))
            .unwrap_or(Dom::DOCUMENT);

        // 1. Never-text elements and hidden ones: `removed` starts from `Base`.
        // 2. Boilerplate by name, except wrappers that hold most of the text.
        self.compute_stats();
        let total = self.stats[body as usize].text.max(1);
        for i in 0..self.order.len() {
            let id = self.order[i];
            let node = dom.node(id);
            if self.removed[id as usize] {
                continue;
            }
            if node.parent != NONE && self.removed[node.parent as usize] {
                self.removed[id as usize] = true;
                continue;
            }
            if !node.is_element()
                || matches!(*node.tag(), local_name!("body") | local_name!("html"))
            {
                continue;
            }
            let holds_most = self.stats[id as usize].text as f32 >= 0.6 * total as f32;
            let remove = match self.marks[id as usize] {
                Mark::Comments => {
                    if self.opts.include_comments {
                        self.comment_roots.push(id);
                    }
                    true
                }
                // <nav>, <aside>, <footer>, <menu> are furniture by definition; what is only
                // named so (or a <header>) may be a wrapper, so the lax pass keeps it.
                Mark::Furniture
                    if is_furniture_tag(node.tag()) && *node.tag() != local_name!("header") =>
                {
                    true
                }
                Mark::Boilerplate | Mark::Furniture => self.strict && !holds_most,
                Mark::Neutral | Mark::Content => false,
            };
            if remove {
                self.removed[id as usize] = true;
            }
        }
        self.compute_stats();

        // 3. Score paragraphs into their ancestors.
        self.score_paragraphs(body);
        let top = self.top_candidate(body);
        let roots = self.gather(top);

        // 4. Clean inside, 5. write the text.
        let mut writer = TextWriter::new(self.opts.newlines_between_blocks);
        for root in roots {
            self.clean(root);
            self.write(root, &mut writer);
            writer.end_block();
        }
        let mut text = writer.finish(self.opts.favor_precision);
        // Comment sections were taken out of the tree so they cannot win the scoring; with
        // `include_comments` their text follows the main text, as in trafilatura.
        let comment_roots = std::mem::take(&mut self.comment_roots);
        if !comment_roots.is_empty() {
            let mut writer = TextWriter::new(self.opts.newlines_between_blocks);
            for root in comment_roots {
                self.removed[root as usize] = false;
                for id in dom.descendants(root) {
                    self.removed[id as usize] = self.removed[dom.node(id).parent as usize]
                        || matches!(dom.node(id).data, NodeData::Other)
                        || dom.node(id).is_element()
                            && (is_dropped(dom.node(id).tag()) || is_hidden(dom, id));
                }
                self.write(root, &mut writer);
                writer.end_block();
            }
            let comments = writer.finish(false);
            if !comments.is_empty() {
                if !text.is_empty() {
                    text.push_str(&"\n".repeat(self.opts.newlines_between_blocks));
                }
                text.push_str(&comments);
            }
        }
        text
    }

    /// Bottom-up sums over the kept tree, and the text each block owns directly.
    ///
    /// Each kept node's figures are written whole when it is visited, from its children's
    /// (visited before it in reverse document order), so nothing is zeroed first.
    fn compute_stats(&mut self) {
        let dom = self.dom;
        self.own.iter_mut().for_each(|x| *x = 0);
        self.own_commas.iter_mut().for_each(|x| *x = 0);
        for i in (0..self.order.len()).rev() {
            let id = self.order[i];
            if self.removed[id as usize] {
                self.stats[id as usize] = Stats::default();
                continue;
            }
            let node = dom.node(id);
            let mut s = Stats::default();
            match &node.data {
                NodeData::Text(_) => {
                    let (len, commas) = self.measures[id as usize];
                    s.text = len;
                    s.commas = commas;
                    let owner = self.blocks[node.parent as usize];
                    if owner != NONE {
                        self.own[owner as usize] += len;
                        self.own_commas[owner as usize] += commas;
                    }
                }
                NodeData::Element { .. } => {
                    self.sum_children(id, &mut s);
                    match *node.tag() {
                        local_name!("a") => s.link = s.text,
                        local_name!("p") => s.p += 1,
                        local_name!("img") => s.img += 1,
                        local_name!("li") => s.li += 1,
                        local_name!("ul") | local_name!("ol") => s.list_text = s.text,
                        ref t if is_heading(t) => s.heading = s.text,
                        _ => {}
                    }
                }
                _ => self.sum_children(id, &mut s),
            }
            self.stats[id as usize] = s;
        }
        // The document node is not in `order`; a page without <body> (a frameset) is scored
        // from it.
        let mut document = Stats::default();
        self.sum_children(Dom::DOCUMENT, &mut document);
        self.stats[Dom::DOCUMENT as usize] = document;
    }

    /// Adds the figures of `id`'s kept children to `s`.
    fn sum_children(&self, id: NodeId, s: &mut Stats) {
        let dom = self.dom;
        for child in dom.children(id) {
            if !self.removed[child as usize] {
                s.add(&self.stats[child as usize]);
                continue;
            }
            // Form controls and embeds are not text, but readability counts them.
            let node = dom.node(child);
            if node.is_element() {
                match *node.tag() {
                    local_name!("input") | local_name!("textarea") | local_name!("select") => {
                        s.input += 1
                    }
                    local_name!("iframe") | local_name!("object") | local_name!("embed") => {
                        s.embed += 1
                    }
                    _ => {}
                }
            }
        }
    }

    /// The nearest block element at or above `id`.
    fn init_candidate(&mut self, id: NodeId) {
        if self.scored[id as usize] {
            return;
        }
        self.scored[id as usize] = true;
        let tag_prior = match *self.dom.node(id).tag() {
            local_name!("div") | local_name!("article") | local_name!("main") => 5.0,
            local_name!("pre") | local_name!("td") | local_name!("blockquote") => 3.0,
            local_name!("address")
            | local_name!("ol")
            | local_name!("ul")
            | local_name!("dl")
            | local_name!("dd")
            | local_name!("dt")
            | local_name!("li")
            | local_name!("form") => -3.0,
            ref t if is_heading(t) => -5.0,
            local_name!("th") => -5.0,
            _ => 0.0,
        };
        let mut prior = tag_prior + patterns::class_weight(self.marks[id as usize]);
        if self
            .dom
            .node(id)
            .attr(&local_name!("itemprop"))
            .is_some_and(|p| p.eq_ignore_ascii_case("articleBody"))
        {
            prior += 25.0;
        }
        self.score[id as usize] = prior;
    }

    fn score_paragraphs(&mut self, body: NodeId) {
        let dom = self.dom;
        for i in 0..self.order.len() {
            let id = self.order[i];
            if self.removed[id as usize] || id == body {
                continue;
            }
            let node = dom.node(id);
            if !node.is_element() || !is_block(node.tag()) {
                continue;
            }
            let scorable = !matches!(
                *node.tag(),
                local_name!("li")
                    | local_name!("dt")
                    | local_name!("dd")
                    | local_name!("th")
                    | local_name!("ul")
                    | local_name!("ol")
                    | local_name!("table")
                    | local_name!("tr")
                    | local_name!("h1")
                    | local_name!("html")
            );
            let own = self.own[id as usize];
            if !scorable || own < MIN_PARAGRAPH_CHARS {
                continue;
            }
            let content = 1.0 + self.own_commas[id as usize] as f32 + (own / 100).min(3) as f32;
            // A block that also holds other blocks is a paragraph of its own (readability wraps
            // its loose text in a <p>); a pure text block scores into its parent.
            let mixed = self.stats[id as usize].text > own;
            let paragraph_like = matches!(
                *node.tag(),
                local_name!("div")
                    | local_name!("section")
                    | local_name!("article")
                    | local_name!("main")
            );
            let mut anc = if mixed && paragraph_like {
                id
            } else {
                node.parent
            };
            for level in 0..5 {
                if anc == NONE || anc == Dom::DOCUMENT {
                    break;
                }
                if dom.node(anc).is_element() {
                    self.init_candidate(anc);
                    let div = match level {
                        0 => 1.0,
                        1 => 2.0,
                        l => l as f32 * 3.0,
                    };
                    self.score[anc as usize] += content / div;
                }
                anc = dom.node(anc).parent;
            }
        }
        for i in 0..self.order.len() {
            let id = self.order[i] as usize;
            if self.scored[id] {
                self.score[id] *= 1.0 - self.stats[id].link_density();
            }
        }
    }

    fn top_candidate(&self, body: NodeId) -> NodeId {
        let dom = self.dom;
        let mut best = NONE;
        for &id in self.order {
            if self.scored[id as usize]
                && !self.removed[id as usize]
                && !matches!(*dom.node(id).tag(), local_name!("html"))
                && (best == NONE || self.score[id as usize] > self.score[best as usize])
            {
                best = id;
            }
        }
        if best == NONE {
            return body;
        }
        // If several near-best candidates share an ancestor with the best, the article is split
        // into blocks (one paragraph per card) and that ancestor is the article (readability.js).
        let mut top = best;
        let best_score = self.score[best as usize];
        let mut alternatives: Vec<NodeId> = self
            .order
            .iter()
            .copied()
            .filter(|&i| {
                i != best
                    && self.scored[i as usize]
                    && !self.removed[i as usize]
                    && self.score[i as usize] >= 0.75 * best_score
            })
            .collect();
        alternatives.sort_by(|a, b| self.score[*b as usize].total_cmp(&self.score[*a as usize]));
        alternatives.truncate(4);
        if alternatives.len() >= 3 {
            let mut parent = dom.node(best).parent;
            while parent != NONE && parent != body && parent != Dom::DOCUMENT {
                let inside = alternatives
                    .iter()
                    .filter(|&&a| self.is_ancestor(parent, a))
                    .count();
                if inside >= 3 {
                    top = parent;
                    break;
                }
                parent = dom.node(parent).parent;
            }
        }
        // Climb while the parent's score holds up (readability.js).
        let mut last = self.score[top as usize];
        let threshold = last / 3.0;
        let mut parent = dom.node(top).parent;
        while parent != NONE && parent != body && parent != Dom::DOCUMENT {
            if !self.scored[parent as usize] {
                parent = dom.node(parent).parent;
                continue;
            }
            let ps = self.score[parent as usize];
            if ps < threshold {
                break;
            }
            if ps > last {
                top = parent;
                break;
            }
            last = ps;
            parent = dom.node(parent).parent;
        }
        // An only child says nothing more than its parent.
        loop {
            let p = dom.node(top).parent;
            if p == NONE || p == body || p == Dom::DOCUMENT {
                break;
            }
            let kept_elements = dom
                .children(p)
                .filter(|&c| !self.removed[c as usize] && dom.node(c).is_element())
                .count();
            if kept_elements != 1 {
                break;
            }
            top = p;
        }
        top
    }

    fn is_ancestor(&self, ancestor: NodeId, mut id: NodeId) -> bool {
        while id != NONE {
            if id == ancestor {
                return true;
            }
            id = self.dom.node(id).parent;
        }
        false
    }

    /// The top candidate and the siblings that belong with it.
    fn gather(&self, top: NodeId) -> Vec<NodeId> {
        let dom = self.dom;
        let parent = dom.node(top).parent;
        if parent == NONE || !dom.node(top).is_element() {
            return vec![top];
        }
        let top_score = self.score[top as usize];
        let share = if self.opts.favor_precision { 0.3 } else { 0.2 };
        let threshold = (top_score * share).max(10.0);
        let top_class = dom.node(top).attr(&local_name!("class")).unwrap_or("");
        let mut roots = Vec::new();
        for sib in dom.children(parent) {
            if sib == top {
                roots.push(sib);
                continue;
            }
            if self.removed[sib as usize] || !dom.node(sib).is_element() {
                continue;
            }
            let bonus = match dom.node(sib).attr(&local_name!("class")) {
                Some(c) if !c.is_empty() && c == top_class => top_score * 0.2,
                _ => 0.0,
            };
            let s = &self.stats[sib as usize];
            let append =
                if self.scored[sib as usize] && self.score[sib as usize] + bonus >= threshold {
                    true
                } else if *dom.node(sib).tag() == local_name!("p") {
                    let ld = s.link_density();
                    if s.text > 80 {
                        ld < 0.25
                    } else {
                        s.text > 0 && ld == 0.0 && self.ends_sentence(sib)
                    }
                } else {
                    false
                };
            if append {
                roots.push(sib);
            }
        }
        roots
    }

    fn ends_sentence(&self, id: NodeId) -> bool {
        let mut w = TextWriter::new(1);
        self.write(id, &mut w);
        w.end_block();
        let t = w.blocks.join(" ");
        // Readability looks for a Latin full stop; CJK, Devanagari and Urdu text ends its
        // sentences with its own (and no space after it in CJK).
        t.contains(". ") || t.ends_with('.') || t.contains(['。', '．', '।', '۔'])
    }

    /// Conditional cleaning of the subtree at `root`, bottom-up so inner removals count first.
    fn clean(&mut self, root: NodeId) {
        let dom = self.dom;
        let sub: Vec<NodeId> = std::iter::once(root).chain(dom.descendants(root)).collect();
        for &id in sub.iter().rev() {
            if self.removed[id as usize] {
                continue;
            }
            let node = dom.node(id);
            if !node.is_element() || id == root {
                continue;
            }
            if self.should_remove(id) {
                self.removed[id as usize] = true;
                // Take it out of its ancestors' figures within the root.
                let s = self.stats[id as usize];
                let mut a = node.parent;
                while a != NONE {
                    let t = &mut self.stats[a as usize];
                    t.text = t.text.saturating_sub(s.text);
                    t.link = t.link.saturating_sub(s.link);
                    t.commas = t.commas.saturating_sub(s.commas);
                    t.p = t.p.saturating_sub(s.p);
                    t.img = t.img.saturating_sub(s.img);
                    t.li = t.li.saturating_sub(s.li);
                    t.heading = t.heading.saturating_sub(s.heading);
                    t.list_text = t.list_text.saturating_sub(s.list_text);
                    if a == root {
                        break;
                    }
                    a = dom.node(a).parent;
                }
            }
        }
    }

    fn should_remove(&self, id: NodeId) -> bool {
        let dom = self.dom;
        let node = dom.node(id);
        let tag = node.tag();
        let s = &self.stats[id as usize];
        if *tag == local_name!("table") && !self.opts.include_tables {
            return true;
        }
        if *tag == local_name!("h1") {
            return true;
        }
        if s.text > 0
            && s.text <= 40
            && is_block(tag)
            && patterns::is_boilerplate_line(&self.text_of(id))
        {
            return true;
        }
        if !self.strict {
            return false;
        }
        let ld = s.link_density();
        if self.opts.favor_precision
            && matches!(*tag, local_name!("p") | local_name!("li"))
            && ld > 0.5
        {
            return true;
        }
        if !matches!(
            *tag,
            local_name!("div")
                | local_name!("section")
                | local_name!("table")
                | local_name!("ul")
                | local_name!("ol")
                | local_name!("form")
                | local_name!("fieldset")
                | local_name!("dl")
        ) {
            return false;
        }
        let weight = patterns::class_weight(self.marks[id as usize]);
        if weight < 0.0 {
            return true;
        }
        if *tag == local_name!("table") {
            return ld > 0.5;
        }
        if s.commas >= 10 {
            return false;
        }
        let is_list = matches!(*tag, local_name!("ul") | local_name!("ol"))
            || (s.text > 0 && s.list_text as f32 / s.text as f32 > 0.9);
        let p = s.p as f32;
        let img = s.img as f32;
        let li = s.li as f32 - 100.0;
        let heading_density = if s.text == 0 {
            0.0
        } else {
            s.heading as f32 / s.text as f32
        };
        let ld_limit = if self.opts.favor_precision { 0.1 } else { 0.2 };
        (img > 1.0 && p / img < 0.5)
            || (!is_list && li > p)
            || (s.input as f32 > (p / 3.0).floor())
            || (!is_list
                && heading_density < 0.9
                && s.text < 25
                && (img == 0.0 || img > 2.0)
                && ld > 0.0)
            || (!is_list && weight < 25.0 && ld > ld_limit)
            || (weight >= 25.0 && ld > 0.5)
            || (is_list && ld > 0.5)
            || (s.embed == 1 && s.text < 75 || s.embed > 1)
            || (img == 0.0 && s.text == 0)
    }

    fn text_of(&self, id: NodeId) -> String {
        let mut w = TextWriter::new(1);
        self.write(id, &mut w);
        w.end_block();
        w.blocks.join(" ")
    }

    /// Writes the kept text of `id` (recursion depth is bounded by the parse budget's depth).
    fn write(&self, id: NodeId, w: &mut TextWriter) {
        if self.removed[id as usize] {
            return;
        }
        let node = self.dom.node(id);
        match &node.data {
            NodeData::Text(t) => w.text(t),
            NodeData::Element { .. } => {
                let tag = node.tag();
                match *tag {
                    local_name!("br") => {
                        w.line_break();
                        return;
                    }
                    local_name!("hr") => {
                        w.end_block();
                        return;
                    }
                    local_name!("pre") => w.pre += 1,
                    local_name!("td") | local_name!("th") => w.cell(),
                    _ => {}
                }
                let block = is_block(tag) && !matches!(*tag, local_name!("td") | local_name!("th"));
                if block {
                    w.end_block();
                }
                if *tag == local_name!("li") {
                    w.list_item();
                }
                for c in self.dom.children(id) {
                    self.write(c, w);
                }
                if *tag == local_name!("pre") {
                    w.pre -= 1;
                }
                if block {
                    w.end_block();
                }
            }
            _ => {}
        }
    }
}

/// Assembles blocks of text: whitespace collapsed (kept inside `<pre>`), one line per block.
struct TextWriter {
    blocks: Vec<String>,
    cur: String,
    pending_space: bool,
    pre: u32,
    newlines: usize,
    /// The current block is a table row that already has a cell.
    row_has_cell: bool,
}

impl TextWriter {
    fn new(newlines: usize) -> Self {
        TextWriter {
            blocks: Vec::new(),
            cur: String::new(),
            pending_space: false,
            pre: 0,
            newlines: newlines.max(1),
            row_has_cell: false,
        }
    }

    fn text(&mut self, t: &str) {
        if self.pre > 0 {
            self.cur.push_str(t);
            return;
        }
        // Word by word: a whitespace run becomes one pending space, each word is copied whole.
        let mut rest = t;
        while !rest.is_empty() {
            let word_start = rest
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(rest.len());
            if word_start > 0 {
                self.pending_space = true;
                rest = &rest[word_start..];
            }
            let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if word_end == 0 {
                continue;
            }
            if self.pending_space && !self.cur.is_empty() && !self.cur.ends_with(['\n', ' ']) {
                self.cur.push(' ');
            }
            self.pending_space = false;
            self.cur.push_str(&rest[..word_end]);
            rest = &rest[word_end..];
        }
    }

    fn line_break(&mut self) {
        let trimmed = self.cur.trim_end_matches(' ').len();
        self.cur.truncate(trimmed);
        if !self.cur.is_empty() && !self.cur.ends_with("\n\n") {
            self.cur.push('\n');
        }
        self.pending_space = false;
    }

    fn cell(&mut self) {
        if self.row_has_cell && !self.cur.is_empty() {
            self.cur.push_str(" | ");
            self.pending_space = false;
        }
        self.row_has_cell = true;
    }

    fn list_item(&mut self) {
        self.cur.push_str("- ");
    }

    fn end_block(&mut self) {
        let t = self.cur.trim();
        if !t.is_empty() && t != "-" && t != "|" {
            self.blocks.push(t.to_owned());
        }
        self.cur.clear();
        self.pending_space = false;
        self.row_has_cell = false;
    }

    fn finish(mut self, favor_precision: bool) -> String {
        self.end_block();
        let mut seen = HashSet::new();
        let mut blocks: Vec<&str> = Vec::with_capacity(self.blocks.len());
        for b in &self.blocks {
            if seen.insert(b.as_str()) {
                blocks.push(b);
            }
        }
        let is_label = |b: &str, max: u32| {
            let (len, _) = measure(b);
            len < max && !b.ends_with(['.', '!', '?', '。', '！', '？', '"', '”', '»', ':'])
        };
        if favor_precision {
            // Short lines after the last real paragraph are credits, bylines and calls to action.
            while blocks.len() > 1 && is_label(blocks[blocks.len() - 1], 60) {
                blocks.pop();
            }
        }
        if favor_precision {
            // And before the first one: bylines, datelines, kickers.
            let keep_from = blocks.iter().position(|b| !is_label(b, 60)).unwrap_or(0);
            blocks.drain(..keep_from);
        }
        blocks.join(&"\n".repeat(self.newlines))
    }
}

/// Title, author, date and language from the page's head.
fn metadata(dom: &Dom) -> Extraction {
    let mut out = Extraction::default();
    let mut og_title = None;
    let mut title_tag = None;
    for id in dom.descendants(Dom::DOCUMENT) {
        let n = dom.node(id);
        if !n.is_element() {
            continue;
        }
        match *n.tag() {
            local_name!("html") => {
                if out.lang.is_none() {
                    out.lang = n
                        .attr(&local_name!("lang"))
                        .map(|l| l.trim().to_owned())
                        .filter(|l| !l.is_empty());
                }
            }
            local_name!("title") if title_tag.is_none() => {
                let mut t = String::new();
                for c in dom.children(id) {
                    if let NodeData::Text(s) = &dom.node(c).data {
                        t.push_str(s);
                    }
                }
                let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
                if !t.is_empty() {
                    title_tag = Some(t);
                }
            }
            local_name!("meta") => {
                let key = n
                    .attr(&local_name!("property"))
                    .or_else(|| n.attr(&local_name!("name")))
                    .or_else(|| n.attr(&local_name!("itemprop")))
                    .map(str::to_ascii_lowercase);
                let Some(key) = key else { continue };
                let Some(content) = n
                    .attr(&local_name!("content"))
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                else {
                    continue;
                };
                match key.as_str() {
                    "og:title" | "twitter:title" if og_title.is_none() => {
                        og_title = Some(content.to_owned());
                    }
                    "author" | "article:author" | "dc.creator" | "byl"
                        if out.author.is_none() && !content.starts_with("http") =>
                    {
                        out.author = Some(content.to_owned());
                    }
                    "article:published_time"
                    | "datepublished"
                    | "date"
                    | "pubdate"
                    | "publishdate"
                    | "dc.date"
                    | "dcterms.date"
                    | "og:published_time"
                        if out.date.is_none() =>
                    {
                        out.date = Some(content.to_owned());
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    out.title = og_title.or(title_tag).or_else(|| {
        let h1 = dom.find_first(Dom::DOCUMENT, &local_name!("h1"))?;
        let mut t = String::new();
        for d in dom.descendants(h1) {
            if let NodeData::Text(s) = &dom.node(d).data {
                t.push_str(s);
            }
        }
        let t = t.split_whitespace().collect::<Vec<_>>().join(" ");
        (!t.is_empty()).then_some(t)
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdf_core::xorshift::Xorshift64;

    #[test]
    fn measure_counts_the_same_on_ascii_and_on_characters() {
        // The ASCII fast path must agree with the character path: every ASCII byte, alone and
        // between words, and the same text with one non-ASCII character (the slow path).
        for b in 0u8..128 {
            let c = b as char;
            let s = format!("ab{c}{c}cd,{c}");
            let (expected, _) = measure_by_characters(&s);
            let commas = s.matches(',').count() as u32;
            assert_eq!(measure(&s), (expected, commas), "byte {b:#x}");
            let (slow_len, slow_commas) = measure(&format!("{s}é"));
            assert_eq!(
                (slow_len, slow_commas),
                (expected + 1, commas),
                "byte {b:#x}"
            );
        }
        assert_eq!(measure("  a，b、c  "), (6, 2));
        // Mixed text: ASCII runs and decoded characters meet at every kind of boundary.
        let pieces = [
            "a", " ", ",", "é", "\u{a0}", "，", "日本", "\u{3000}", "\n\t", "x y",
        ];
        let mut rng = Xorshift64::new(0x2545_f491_4f6c_dd1d);
        for _ in 0..2000 {
            let s: String = (0..rng.below(12))
                .map(|_| pieces[rng.below(pieces.len() as u64) as usize])
                .collect();
            assert_eq!(measure(&s), measure_by_characters(&s), "{s:?}");
        }
    }

    #[test]
    fn text_writer_collapses_whitespace_word_by_word() {
        // Reference: the character-by-character definition (a whitespace run is one space,
        // none at the start of a block or after a line break).
        fn by_characters(texts: &[&str]) -> String {
            let (mut cur, mut pending) = (String::new(), false);
            for c in texts.concat().chars() {
                if c.is_whitespace() {
                    pending = true;
                } else {
                    if pending && !cur.is_empty() && !cur.ends_with(['\n', ' ']) {
                        cur.push(' ');
                    }
                    pending = false;
                    cur.push(c);
                }
            }
            cur
        }
        let pieces = [
            "word", " ", "\n\t ", "é", "\u{a0}", "日本", "\u{3000}", ",", "",
        ];
        let mut rng = Xorshift64::new(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2000 {
            let texts: Vec<&str> = (0..rng.below(8))
                .map(|_| pieces[rng.below(pieces.len() as u64) as usize])
                .collect();
            let mut w = TextWriter::new(1);
            for t in &texts {
                w.text(t);
            }
            assert_eq!(w.cur, by_characters(&texts), "{texts:?}");
        }
    }

    #[test]
    fn a_page_without_body_is_counted_from_the_document() {
        let html =
            "<frameset><frame></frameset><noframes>Text for browsers without frames.</noframes>";
        let b = ParseBudget {
            max_nodes: 1_000,
            max_depth: 100,
            timeout: None,
        };
        let dom = Dom::parse(html, &b).expect("parse");
        assert!(dom
            .find_first(Dom::DOCUMENT, &local_name!("body"))
            .is_none());
        let base = Base::new(&dom);
        let opts = ExtractOptions::default();
        let mut pass = Pass::new(&dom, &base, &opts, true);
        pass.compute_stats();
        let children: u32 = dom
            .children(Dom::DOCUMENT)
            .map(|c| pass.stats[c as usize].text)
            .sum();
        assert!(children > 0, "the <noframes> text counts");
        assert_eq!(pass.stats[Dom::DOCUMENT as usize].text, children);
    }

    fn measure_by_characters(s: &str) -> (u32, u32) {
        let (mut len, mut commas, mut in_space) = (0, 0, true);
        for c in s.chars() {
            if c.is_whitespace() {
                len += u32::from(!in_space);
                in_space = true;
            } else {
                len += 1;
                commas += u32::from(matches!(c, ',' | '，' | '、' | '،'));
                in_space = false;
            }
        }
        (len, commas)
    }
    use crate::dom::ParseBudget;

    fn run(html: &str, opts: &ExtractOptions) -> Extraction {
        let b = ParseBudget {
            max_nodes: 1_000_000,
            max_depth: 1000,
            timeout: None,
        };
        extract(&Dom::parse(html, &b).expect("parse"), opts)
    }

    const PARA: &str = "The committee met on Tuesday to discuss the proposal, which had been \
        debated for months, and agreed, after a long session, to publish its findings next week.";

    fn page(article: &str) -> String {
        format!(
            "<html lang=en><head><title>Big news - Site</title>\
             <meta property='og:title' content='Big news'><meta name=author content='A. Writer'>\
             </head><body><nav><ul><li><a href=/>Home</a></li><li><a href=/w>World</a></li></ul></nav>\
             <div class=sidebar><h3>Popular</h3><ul><li><a href=/1>Other story one</a></li>\
             <li><a href=/2>Other story two</a></li></ul></div>\
             <div id=main><article><h1>Big news</h1>{article}\
             <div class=share-buttons>Share on Facebook</div></article>\
             <div id=comments><p>{PARA} (a comment)</p></div></div>\
             <footer><p>Copyright 2024 Example Corp, all rights reserved, and more text here.</p></footer>\
             </body></html>"
        )
    }

    #[test]
    fn keeps_the_article_and_drops_the_boilerplate() {
        let html = page(&format!("<p>{PARA}</p><p>{PARA} Again.</p><h2>Details</h2><ul><li>first point</li><li>second point</li></ul>"));
        let e = run(&html, &ExtractOptions::default());
        assert_eq!(
            e.text,
            format!("{PARA}\n{PARA} Again.\nDetails\n- first point\n- second point")
        );
        assert_eq!(e.title.as_deref(), Some("Big news"));
        assert_eq!(e.author.as_deref(), Some("A. Writer"));
        assert_eq!(e.lang.as_deref(), Some("en"));
    }

    /// A short news page in `lang` whose paragraphs are `paras`, with a menu, a related-links
    /// aside and a footer.
    fn short_page(lang: &str, paras: &[&str], menu: &[&str]) -> String {
        let links: String = menu
            .iter()
            .enumerate()
            .map(|(i, m)| format!("<li><a href=/{i}>{m}</a></li>"))
            .collect();
        let body: String = paras.iter().map(|p| format!("<p>{p}</p>")).collect();
        format!(
            "<html lang={lang}><head><title>{}</title></head><body>\
             <header><nav><ul>{links}</ul></nav></header>\
             <div class=main><article>{body}</article>\
             <aside class=related><h3>{}</h3><ul>{links}</ul></aside></div>\
             <footer><p>2024 News</p></footer></body></html>",
            menu[0], menu[0]
        )
    }

    #[test]
    fn a_short_cjk_article_is_complete_not_a_failed_extraction() {
        // 200 characters of Japanese say what about 600 of English do: no lax retry, so the
        // related-links aside stays out (it did when the retry took the longer text).
        let paras = [
            "東京都は二十七日、来年度から都内の公立小中学校で給食費を完全に無償化する方針を明らかにした。対象となる児童と生徒は約六十万人にのぼる見通しだ。",
            "知事は記者会見で「子育て世帯の負担を軽減し、安心して子どもを育てられる環境を整えたい」と述べた。必要な予算は年間およそ二百億円と見込まれている。",
            "一方で、財源の確保については議会から慎重な意見も出ており、今後の審議の行方が注目される。",
        ];
        let html = short_page("ja", &paras, &["ホーム", "ニュース", "経済", "スポーツ"]);
        assert!(paras.concat().chars().count() < RETRY_BELOW_CHARS);
        let e = run(&html, &ExtractOptions::default());
        assert_eq!(e.text, paras.join("\n"));
        assert_eq!(latin_equivalent_chars("abc, d"), 6);
        assert_eq!(
            latin_equivalent_chars("東京です한국"),
            3 + 3 + 2 + 2 + 2 + 2
        );
    }

    #[test]
    fn a_short_closing_paragraph_beside_the_article_counts_in_any_script() {
        let long = "国家统计局发布了最新的经济数据，显示今年前三个季度国内生产总值同比增长百分之五点二，高于市场此前的普遍预期，消费需求持续恢复。";
        let html = format!(
            "<html><body><div id=page><div class=story><p>{long}</p><p>{long}</p><p>{long}</p></div>\
             <p>记者：王明。</p><p>相关链接</p></div></body></html>"
        );
        let e = run(&html, &ExtractOptions::default());
        assert!(e.text.ends_with("记者：王明。"), "{}", e.text);
        assert!(!e.text.contains("相关链接"), "{}", e.text);
    }

    #[test]
    fn comments_only_on_request() {
        let html = page(&format!("<p>{PARA}</p><p>{PARA} Again.</p>"));
        let with = run(
            &html,
            &ExtractOptions {
                include_comments: true,
                ..Default::default()
            },
        );
        assert!(with.text.contains("(a comment)"), "{}", with.text);
        let without = run(&html, &ExtractOptions::default());
        assert!(!without.text.contains("(a comment)"));
    }

    #[test]
    fn line_breaks_pre_and_tables() {
        let html = page(&format!(
            "<p>{PARA}</p><p>Line one<br>line two</p><pre>a  b\n  c</pre>\
             <table><tr><th>Year</th><th>Value</th></tr><tr><td>2020</td><td>12, 13</td></tr></table>"
        ));
        let e = run(&html, &ExtractOptions::default());
        assert!(e.text.contains("Line one\nline two"), "{}", e.text);
        assert!(e.text.contains("a  b\n  c"), "{}", e.text);
        assert!(e.text.contains("Year | Value\n2020 | 12, 13"), "{}", e.text);
        let e = run(
            &html,
            &ExtractOptions {
                include_tables: false,
                ..Default::default()
            },
        );
        assert!(!e.text.contains("2020"), "{}", e.text);
    }

    #[test]
    fn hidden_and_script_text_never_appear() {
        let html = page(&format!(
            "<p>{PARA}</p><p style='display: none'>secret one</p><p hidden>secret two</p>\
             <script>var secret = 3;</script><p>{PARA} Two.</p>"
        ));
        let e = run(&html, &ExtractOptions::default());
        assert!(!e.text.contains("secret"), "{}", e.text);
    }

    #[test]
    fn a_page_of_loose_text_still_gives_its_text() {
        let e = run(
            "<body>Just a short note.</body>",
            &ExtractOptions::default(),
        );
        assert_eq!(e.text, "Just a short note.");
        assert_eq!(run("", &ExtractOptions::default()).text, "");
    }
}
