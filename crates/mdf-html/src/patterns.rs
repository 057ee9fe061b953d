//! What a page's markup says about a block: the tag, `class`/`id` words, ARIA roles and
//! `itemprop`. The word lists generalise the published heuristics of readability.js
//! (`unlikelyCandidates`, `positive`/`negative`) and trafilatura (`OVERALL_DISCARD_XPATH`,
//! `BODY_XPATH`, comment XPaths), with their equivalents in the main European languages and a few
//! others. They are general rules about how sites name their boilerplate, never about one site.

use hashbrown::HashMap;
use std::sync::OnceLock;

/// How a `class`/`id`/`role` marks an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mark {
    /// No opinion.
    Neutral,
    /// Likely the main content (`article-body`, `post-content`, `itemprop=articleBody`...).
    Content,
    /// Page furniture (`nav`, `footer`, `sidebar`, `menu`): removed unless it also looks like
    /// content or holds most of the page's text (a wrapper that happens to be named so).
    Furniture,
    /// Boilerplate that is never main content (`share`, `related`, `cookie`, `newsletter`, ads).
    Boilerplate,
    /// The comment section (kept only with `include_comments`).
    Comments,
}

/// Words (whole tokens of `class`/`id`) that mark comment sections.
const COMMENT_WORDS: &[&str] = &[
    "comment",
    "comments",
    "commentlist",
    "discussion",
    "disqus",
    "replies",
    "respond",
    "reply",
    "kommentar",
    "kommentare",
    "commentaire",
    "commentaires",
    "comentario",
    "comentarios",
    "commenti",
    "commento",
    "reacties",
    "kommentarer",
    "komentarze",
    "kommentit",
    "yorumlar",
    "comentarii",
    "komentare",
    "hozzaszolasok",
];
/// Prefixes of compound class names for comment sections (`commentform`, `comment-list`).
const COMMENT_PREFIXES: &[&str] = &["comment", "disqus", "kommentar"];

/// Boilerplate words (whole tokens).
const BOILERPLATE_WORDS: &[&str] = &[
    // sharing and social
    "share",
    "shares",
    "sharing",
    "sharebar",
    "social",
    "socials",
    "sociable",
    "addthis",
    "sharethis",
    "teilen",
    "partage",
    "partager",
    "compartir",
    "condividi",
    "delen",
    "dela",
    "udostepnij",
    "paylas",
    // related / recommended / trending
    "related",
    "recommended",
    "recommendations",
    "recirc",
    "trending",
    "popular",
    "mostread",
    "outbrain",
    "taboola",
    "zergnet",
    "verwandt",
    "similaires",
    "relacionados",
    "correlati",
    // ads
    "ad",
    "ads",
    "adv",
    "advert",
    "adverts",
    "advertisement",
    "advertising",
    "adsense",
    "adslot",
    "adunit",
    "dfp",
    "gpt",
    "sponsor",
    "sponsored",
    "promo",
    "promoted",
    "promotion",
    "werbung",
    "anzeige",
    "publicite",
    "publicidad",
    "pubblicita",
    "reclame",
    "reklama",
    "reklam",
    "annons",
    "mainos",
    // consent, sign-up (not "paywall": paywall wrappers hold the article text itself)
    "cookie",
    "cookies",
    "consent",
    "gdpr",
    "newsletter",
    "subscribe",
    "subscription",
    "signup",
    "login",
    "signin",
    "register",
    "registration",
    // bits around the article
    "breadcrumb",
    "breadcrumbs",
    "byline",
    "dateline",
    "author",
    "authors",
    "bio",
    "caption",
    "credit",
    "credits",
    "tags",
    "tag",
    "taglist",
    "tagcloud",
    "keywords",
    "categories",
    "popup",
    "modal",
    "overlay",
    "lightbox",
    "tooltip",
    "print",
    "skip",
    "rating",
    "ratings",
    "rss",
    "toc",
    "disclaimer",
    "copyright",
    "noprint",
    "hidden",
    "hide",
    "invisible",
    "sronly",
    "visuallyhidden",
];
/// Prefixes of compound boilerplate class names (`relatedposts`, `sharebuttons`, `adslot`).
const BOILERPLATE_PREFIXES: &[&str] = &[
    "share",
    "social",
    "related",
    "newsletter",
    "cookie",
    "breadcrumb",
    "advert",
    "sponsor",
    "promo",
    "popup",
    "outbrain",
    "taboola",
    "recommend",
    "trending",
    "subscribe",
    "signup",
    "byline",
    "caption",
];

/// Page furniture words (whole tokens).
const FURNITURE_WORDS: &[&str] = &[
    "nav",
    "navbar",
    "navigation",
    "menu",
    "menus",
    "menubar",
    "footer",
    "header",
    "masthead",
    "sidebar",
    "aside",
    "widget",
    "widgets",
    "pagination",
    "pager",
    "toolbar",
    "banner",
    "meta",
    "links",
    "topbar",
    "bottombar",
    "sitemap",
    "search",
    "utility",
    "extra",
    "supplemental",
    "rail",
    "column2",
    "secondary",
    "fusszeile",
    "kopfzeile",
    "pied",
    "entete",
    "piedepagina",
    "cabecera",
    "piepagina",
    "intestazione",
];
const FURNITURE_PREFIXES: &[&str] = &["nav", "menu", "footer", "sidebar", "widget", "pagination"];

/// Words that mark the main content (whole tokens): readability's "positive" names. They give
/// a block a bonus; on a furniture-named block (`main-nav`, `page-footer`) they do not count.
const CONTENT_WORDS: &[&str] = &[
    "article",
    "content",
    "main",
    "post",
    "entry",
    "story",
    "body",
    "text",
    "blog",
    "prose",
    "markdown",
    "richtext",
    "rte",
    "hentry",
    "artikel",
    "inhalt",
    "contenu",
    "contenido",
    "contenuto",
    "tresc",
    "cuerpo",
    "texto",
    "testo",
];
/// Compound names that say "this is the article text" and protect a block even when another
/// of its names sounds like furniture.
const STRONG_CONTENT_WORDS: &[&str] = &[
    "articlebody",
    "articletext",
    "articlecontent",
    "postbody",
    "postcontent",
    "posttext",
    "entrycontent",
    "entrybody",
    "storybody",
    "storytext",
    "storycontent",
    "bodytext",
    "maincontent",
    "contentbody",
    "textbody",
    "articlebodytext",
    "postentry",
];

const COMMENT: u8 = 1;
const BOILERPLATE: u8 = 2;
const FURNITURE: u8 = 4;
const CONTENT: u8 = 8;
const STRONG_CONTENT: u8 = 16;

/// The listed words with the classes they belong to, and a filter on their first two bytes.
struct WordTable {
    flags: HashMap<&'static str, u8>,
    /// Bit `(b0 << 8) | b1` is set when a listed word or prefix starts with bytes b0, b1: most
    /// class/id words start with no listed pair and need no lookup at all.
    first_pairs: Box<[u64; 1024]>,
}

const WORD_LISTS: [(&[&str], u8); 5] = [
    (COMMENT_WORDS, COMMENT),
    (BOILERPLATE_WORDS, BOILERPLATE),
    (FURNITURE_WORDS, FURNITURE),
    (CONTENT_WORDS, CONTENT),
    (STRONG_CONTENT_WORDS, STRONG_CONTENT),
];

fn pair_bit(token: &str) -> Option<usize> {
    match token.as_bytes() {
        [b0, b1, ..] => Some(usize::from(*b0) << 8 | usize::from(*b1)),
        _ => None,
    }
}

/// Built once.
fn word_table() -> &'static WordTable {
    static TABLE: OnceLock<WordTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut flags = HashMap::new();
        let mut first_pairs = Box::new([0u64; 1024]);
        let mut note_pair = |w: &str| {
            if let Some(bit) = pair_bit(w) {
                first_pairs[bit / 64] |= 1 << (bit % 64);
            }
        };
        for (words, flag) in WORD_LISTS {
            for w in words {
                *flags.entry(*w).or_insert(0) |= flag;
                note_pair(w);
            }
        }
        for (prefixes, _) in PREFIXES {
            prefixes.iter().for_each(|p| note_pair(p));
        }
        WordTable { flags, first_pairs }
    })
}

const PREFIXES: &[(&[&str], u8)] = &[
    (COMMENT_PREFIXES, COMMENT),
    (BOILERPLATE_PREFIXES, BOILERPLATE),
    (FURNITURE_PREFIXES, FURNITURE),
];

/// The classes of one token: whole-word matches, and prefixes of longer compounds.
fn flags_of(token: &str) -> u8 {
    let table = word_table();
    if let Some(bit) = pair_bit(token) {
        if table.first_pairs[bit / 64] & (1 << (bit % 64)) == 0 {
            return 0;
        }
    }
    let mut flags = table.flags.get(token).copied().unwrap_or(0);
    for (prefixes, flag) in PREFIXES {
        if prefixes
            .iter()
            .any(|p| token.len() > p.len() && token.starts_with(p))
        {
            flags |= flag;
        }
    }
    flags
}

/// The union of the classes of every token of `value`.
fn value_flags(value: &str, word: &mut String, joined: &mut String) -> u8 {
    let mut flags = 0;
    for_each_token(value, word, joined, |token| flags |= flags_of(token));
    flags
}

/// Calls `each` with the tokens of a `class`/`id` value: lower-case words split on every
/// non-alphanumeric character and at lower→upper camel-case changes (`relatedPosts` →
/// `related`, `posts`), then each hyphen/underscore compound joined up (`article-body` →
/// `articlebody`), since sites write the same name both ways.
fn for_each_token(value: &str, word: &mut String, joined: &mut String, each: impl FnMut(&str)) {
    if value.is_ascii() {
        ascii_tokens(value, word, joined, each);
    } else {
        unicode_tokens(value, word, joined, each);
    }
}

/// [`for_each_token`] of an ASCII value (nearly all of them), with words as slices of the
/// value: only a word with capitals is copied, to lower-case it.
fn ascii_tokens(value: &str, word: &mut String, joined: &mut String, mut each: impl FnMut(&str)) {
    for part in value.split(|c: char| matches!(c, '\t'..='\r' | ' ')) {
        joined.clear();
        let b = part.as_bytes();
        let mut words = 0;
        let mut i = 0;
        while i < b.len() {
            if !b[i].is_ascii_alphanumeric() {
                i += 1;
                continue;
            }
            let start = i;
            i += 1;
            // A word ends at a non-alphanumeric, or before a capital after a lower-case letter
            // or a digit (camel case).
            while i < b.len()
                && b[i].is_ascii_alphanumeric()
                && !(b[i].is_ascii_uppercase()
                    && (b[i - 1].is_ascii_lowercase() || b[i - 1].is_ascii_digit()))
            {
                i += 1;
            }
            let w = &part[start..i];
            let lower = if w.bytes().any(|c| c.is_ascii_uppercase()) {
                word.clear();
                word.push_str(w);
                word.make_ascii_lowercase();
                word.as_str()
            } else {
                w
            };
            each(lower);
            joined.push_str(lower);
            words += 1;
        }
        if words > 1 {
            each(joined);
        }
    }
}

fn unicode_tokens(value: &str, word: &mut String, joined: &mut String, mut each: impl FnMut(&str)) {
    for part in value.split(char::is_whitespace) {
        word.clear();
        joined.clear();
        let mut prev_lower = false;
        let mut words = 0;
        for c in part.chars() {
            if c.is_alphanumeric() {
                if c.is_uppercase() && prev_lower && !word.is_empty() {
                    each(word);
                    words += 1;
                    word.clear();
                }
                prev_lower = c.is_lowercase() || c.is_ascii_digit();
                for l in c.to_lowercase() {
                    word.push(l);
                    joined.push(l);
                }
            } else {
                prev_lower = false;
                if !word.is_empty() {
                    each(word);
                    words += 1;
                    word.clear();
                }
            }
        }
        if !word.is_empty() {
            each(word);
            words += 1;
        }
        if words > 1 {
            each(joined);
        }
    }
}

/// The classes of `class`/`id` values, remembered per distinct value for one document: a page
/// repeats the same few class names on hundreds of elements.
#[derive(Default)]
pub struct NameFlags<'a> {
    seen: HashMap<&'a str, u8>,
    word: String,
    joined: String,
}

impl<'a> NameFlags<'a> {
    fn of(&mut self, value: &'a str) -> u8 {
        if let Some(&flags) = self.seen.get(value) {
            return flags;
        }
        let flags = value_flags(value, &mut self.word, &mut self.joined);
        self.seen.insert(value, flags);
        flags
    }
}

/// Classifies an element from its `class`, `id`, `role` and `itemprop` attributes.
pub fn mark<'a>(
    class: Option<&'a str>,
    id: Option<&'a str>,
    role: Option<&str>,
    itemprop: Option<&str>,
    names: &mut NameFlags<'a>,
) -> Mark {
    if let Some(p) = itemprop {
        if p.eq_ignore_ascii_case("articleBody") || p.eq_ignore_ascii_case("text") {
            return Mark::Content;
        }
        if p.eq_ignore_ascii_case("comment") {
            return Mark::Comments;
        }
    }
    if let Some(r) = role {
        match r.trim().to_ascii_lowercase().as_str() {
            "navigation" | "menu" | "menubar" | "banner" | "contentinfo" | "complementary"
            | "search" | "toolbar" | "tablist" => return Mark::Furniture,
            "dialog" | "alertdialog" | "alert" | "tooltip" => return Mark::Boilerplate,
            "main" | "article" => return Mark::Content,
            _ => {}
        }
    }
    if class.is_none() && id.is_none() {
        return Mark::Neutral;
    }
    let mut flags = 0;
    for v in [class, id].into_iter().flatten() {
        flags |= names.of(v);
    }
    if flags & COMMENT != 0 {
        return Mark::Comments;
    }
    if flags & BOILERPLATE != 0 {
        return Mark::Boilerplate;
    }
    let strong = flags & STRONG_CONTENT != 0;
    let furniture = flags & FURNITURE != 0;
    match (strong, furniture) {
        (true, true) => Mark::Neutral,
        (true, false) => Mark::Content,
        (false, true) => Mark::Furniture,
        (false, false) if flags & CONTENT != 0 => Mark::Content,
        (false, false) => Mark::Neutral,
    }
}

/// Whole-block texts that are boilerplate wherever they appear ("Advertisement", "Read more").
/// Compared after lower-casing and trimming punctuation.
const BOILERPLATE_LINES: &[&str] = &[
    "advertisement",
    "advertising",
    "ad",
    "ads",
    "sponsored",
    "sponsored content",
    "anzeige",
    "werbung",
    "publicité",
    "publicidad",
    "pubblicità",
    "reclame",
    "reklama",
    "реклама",
    "广告",
    "read more",
    "continue reading",
    "read the full story",
    "weiterlesen",
    "mehr lesen",
    "lire la suite",
    "leer más",
    "seguir leyendo",
    "leggi anche",
    "leggi tutto",
    "lees meer",
    "share",
    "share this",
    "share this article",
    "share this story",
    "share on facebook",
    "share on twitter",
    "tweet",
    "email",
    "print",
    "facebook",
    "twitter",
    "linkedin",
    "pinterest",
    "whatsapp",
    "reddit",
    "teilen",
    "partager",
    "compartir",
    "condividi",
    "loading",
    "loading...",
    "cargando",
    "chargement",
    "wird geladen",
    "загрузка",
    "skip to content",
    "skip to main content",
    "back to top",
    "top",
    "menu",
    "close",
    "related",
    "related articles",
    "related stories",
    "related posts",
    "more stories",
    "you may also like",
    "recommended",
    "most popular",
    "most read",
    "trending",
    "sign up",
    "subscribe",
    "log in",
    "sign in",
    "comments",
    "leave a comment",
    "add comment",
];

/// True when a whole block's text is a boilerplate label.
pub fn is_boilerplate_line(text: &str) -> bool {
    let t = text.trim_matches(|c: char| !c.is_alphanumeric());
    if t.is_empty() || t.len() > 40 {
        return false;
    }
    let lower = t.to_lowercase();
    BOILERPLATE_LINES.contains(&lower.as_str())
}

/// readability.js class weight: +25 for content-like names, -25 for boilerplate-like names.
pub fn class_weight(mark: Mark) -> f32 {
    match mark {
        Mark::Content => 25.0,
        Mark::Neutral => 0.0,
        Mark::Furniture | Mark::Boilerplate | Mark::Comments => -25.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(class: &str) -> Mark {
        mark(Some(class), None, None, None, &mut NameFlags::default())
    }

    fn tokens(value: &str, out: &mut Vec<String>) {
        let (mut word, mut joined) = (String::new(), String::new());
        for_each_token(value, &mut word, &mut joined, |t| out.push(t.to_owned()));
    }

    #[test]
    fn ascii_tokens_are_the_unicode_tokens_of_ascii_values() {
        let values = [
            "relatedPosts article-body",
            "  nav__item--active  ",
            "XMLHttpRequest a1B2c3D CSS-1x2Y3z",
            "post_content\tentry\x0bcontent\x0cx\ry",
            "ABC abc Abc aBC a-B-c 9Lives v2Beta",
            "",
            "---",
            "sidebar widget_area",
        ];
        for v in values {
            let (mut w, mut j) = (String::new(), String::new());
            let mut ascii = Vec::new();
            ascii_tokens(v, &mut w, &mut j, |t| ascii.push(t.to_owned()));
            let mut unicode = Vec::new();
            unicode_tokens(v, &mut w, &mut j, |t| unicode.push(t.to_owned()));
            assert_eq!(ascii, unicode, "{v:?}");
        }
    }

    #[test]
    fn tokenizer_splits_camel_case_and_joins_compounds() {
        let mut t = Vec::new();
        tokens("relatedPosts article-body", &mut t);
        assert_eq!(
            t,
            [
                "related",
                "posts",
                "relatedposts",
                "article",
                "body",
                "articlebody"
            ]
        );
    }

    #[test]
    fn marks() {
        assert_eq!(m("entry-content clearfix"), Mark::Content);
        assert_eq!(m("sidebar"), Mark::Furniture);
        assert_eq!(
            m("main-nav"),
            Mark::Furniture,
            "a plain content word does not protect"
        );
        assert_eq!(
            m("article-body has-sidebar"),
            Mark::Neutral,
            "a strong one does"
        );
        assert_eq!(
            m("post-share-buttons"),
            Mark::Boilerplate,
            "boilerplate beats content"
        );
        assert_eq!(m("article-comments"), Mark::Comments);
        assert_eq!(m("commentlist"), Mark::Comments);
        assert_eq!(m("relatedArticles"), Mark::Boilerplate);
        assert_eq!(m("kommentare-liste"), Mark::Comments);
        assert_eq!(
            m("head"),
            Mark::Neutral,
            "no substring false positive (ad, header)"
        );
        assert_eq!(m("read-more-link"), Mark::Neutral);
        assert_eq!(m("shadow"), Mark::Neutral);
        assert_eq!(
            mark(
                None,
                None,
                Some("navigation"),
                None,
                &mut NameFlags::default()
            ),
            Mark::Furniture
        );
        assert_eq!(
            mark(
                Some("x"),
                None,
                None,
                Some("articleBody"),
                &mut NameFlags::default()
            ),
            Mark::Content
        );
    }

    #[test]
    fn boilerplate_lines() {
        assert!(is_boilerplate_line("  Advertisement "));
        assert!(is_boilerplate_line("Lire la suite »"));
        assert!(!is_boilerplate_line(
            "Advertisement campaigns rose by 3% last year."
        ));
    }
}
