//! A byte-scanning HTML tokenizer that feeds html5ever's tree builder.
//!
//! It follows the WHATWG tokenization rules (the states html5ever's own tokenizer implements:
//! tags and attributes, character references, comments, DOCTYPE, RCDATA/RAWTEXT/script data with
//! its escaped and double-escaped states, PLAINTEXT, CDATA in foreign content) and hands the same
//! tokens to the same tree builder, so the tree is the one html5ever builds (the tests compare
//! the two trees on real pages and on generated tag soup). What differs is the method: the whole
//! page is in memory, so instead of pulling one character at a time through a buffer queue it
//! jumps with `memchr` to the next byte that matters (`<`, `&`, a quote, ...) and hands text
//! and attribute values over as slices of one shared buffer, without copying them. Every byte
//! the rules look at is ASCII, so scanning bytes of UTF-8 never splits a character.

use std::cell::{Cell, RefCell};

use hashbrown::{HashMap, HashSet};

use html5ever::data::{C1_REPLACEMENTS, NAMED_ENTITIES};
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{Doctype, Tag, TagKind, Token, TokenSink, TokenSinkResult};
use html5ever::{local_name, ns, Attribute, LocalName, QualName};
use memchr::{memchr, memchr2, memchr3, memmem};

/// Which attributes a parse puts on the elements of the tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeptAttributes {
    /// Every attribute, as the page has it.
    #[default]
    All,
    /// Only what main-content extraction reads (`EXTRACTION_ATTRIBUTES`), what steers the tree
    /// builder (`TREE_BUILDER_ATTRIBUTES`) and every attribute of a formatting element (the
    /// tree builder compares those whole). The tree is the same; the rest (`href`, `src`,
    /// `data-*`, ...: most of a page's attributes) is never decoded, interned or allocated.
    ForExtraction,
}

/// The attributes the extractor reads: boilerplate hints, hidden markers, metadata.
const EXTRACTION_ATTRIBUTES: &[&str] = &[
    "class",
    "id",
    "style",
    "hidden",
    "aria-hidden",
    "role",
    "itemprop",
    "lang",
    "property",
    "name",
    "content",
];

/// The attributes html5ever's tree builder looks at (`<input type=hidden>` in tables, form
/// association, declarative shadow roots, MathML integration points, `<meta>` encodings).
const TREE_BUILDER_ATTRIBUTES: &[&str] = &[
    "type",
    "form",
    "shadowrootmode",
    "encoding",
    "charset",
    "http-equiv",
];

impl KeptAttributes {
    /// Whether an attribute named `name` (as written, any ASCII case) is kept on `element`.
    pub fn keeps(self, element: &LocalName, name: &[u8]) -> bool {
        match self {
            KeptAttributes::All => true,
            KeptAttributes::ForExtraction => {
                is_formatting_element(element)
                    || EXTRACTION_ATTRIBUTES
                        .iter()
                        .chain(TREE_BUILDER_ATTRIBUTES)
                        .any(|kept| kept.as_bytes().eq_ignore_ascii_case(name))
            }
        }
    }
}

/// The spec's formatting elements: the tree builder clones them and compares their attributes
/// (the "Noah's Ark" limit of three identical ones), so they keep all of theirs.
fn is_formatting_element(name: &LocalName) -> bool {
    matches!(
        *name,
        local_name!("a")
            | local_name!("b")
            | local_name!("big")
            | local_name!("code")
            | local_name!("em")
            | local_name!("font")
            | local_name!("i")
            | local_name!("nobr")
            | local_name!("s")
            | local_name!("small")
            | local_name!("strike")
            | local_name!("strong")
            | local_name!("tt")
            | local_name!("u")
    )
}

/// What the next input bytes are, as far as the tokenizer's outer state goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Data,
    Rcdata,
    Rawtext,
    ScriptData,
    Plaintext,
}

/// Tokenizes a whole document into `sink` (normally html5ever's `TreeBuilder`).
pub struct Tokenizer<'a, S: TokenSink> {
    sink: &'a S,
    /// The document, newlines normalised (`\r\n` and `\r` are `\n`, as the spec's input stream
    /// preprocessing asks). `src` is the same text as `shared`, which text tokens are cut from.
    src: &'a str,
    shared: &'a StrTendril,
    pos: usize,
    mode: Mode,
    last_start_tag: Option<LocalName>,
    /// Text not yet sent to the sink.
    pending_text: Cell<Option<StrTendril>>,
    names: RefCell<HashMap<&'a str, LocalName>>,
    short_names: RefCell<Box<ShortNames>>,
    kept_attributes: KeptAttributes,
}

/// The document with its newlines normalised, in the buffer the tokens are sliced from.
pub fn prepare_input(html: &str) -> StrTendril {
    let html = html.strip_prefix('\u{feff}').unwrap_or(html);
    let b = html.as_bytes();
    let Some(first_cr) = memchr(b'\r', b) else {
        return StrTendril::from_slice(html);
    };
    // One pass from one CR to the next (`str::replace` twice cost two searches and two copies).
    let mut out = StrTendril::with_capacity(u32::try_from(html.len()).unwrap_or(u32::MAX));
    let mut start = 0;
    let mut cr = Some(first_cr);
    while let Some(k) = cr {
        out.push_slice(&html[start..k]);
        out.push_char('\n');
        start = if b.get(k + 1) == Some(&b'\n') {
            k + 2
        } else {
            k + 1
        };
        cr = memchr(b'\r', &b[start..]).map(|off| start + off);
    }
    out.push_slice(&html[start..]);
    out
}

/// Slots of the table of short names (a power of two).
const SHORT_NAME_SLOTS: usize = 256;

/// Direct-mapped: each slot holds the last name whose key maps to it.
type ShortNames = [Option<(u64, LocalName)>; SHORT_NAME_SLOTS];

/// A name of up to 7 bytes as a number: its bytes, and its length in the top byte.
fn short_name_key(name: &[u8]) -> Option<u64> {
    if name.len() > 7 {
        return None;
    }
    // Assembled in a register: copying the bytes into an array and reading it back as one
    // word stalled on store forwarding (a third of this function's time).
    let bytes = name
        .iter()
        .enumerate()
        .fold(0u64, |key, (i, &c)| key | u64::from(c) << (8 * i));
    Some(bytes | (name.len() as u64) << 56)
}

fn short_name_slot(key: u64) -> usize {
    // Fibonacci hashing: the top bits of the product mix every byte of the key.
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % SHORT_NAME_SLOTS
}

fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0C | b' ')
}

/// The first position from `k` that is not a space.
fn skip_space(b: &[u8], mut k: usize) -> usize {
    while k < b.len() && is_space(b[k]) {
        k += 1;
    }
    k
}

/// Ends a tag name or an attribute name.
fn ends_name(b: u8) -> bool {
    is_space(b) || b == b'/' || b == b'>'
}

impl<'a, S: TokenSink> Tokenizer<'a, S> {
    pub fn new(sink: &'a S, input: &'a StrTendril, kept_attributes: KeptAttributes) -> Self {
        Tokenizer {
            sink,
            src: input,
            shared: input,
            pos: 0,
            mode: Mode::Data,
            last_start_tag: None,
            pending_text: Cell::new(None),
            names: RefCell::default(),
            short_names: RefCell::new(Box::new(std::array::from_fn(|_| None))),
            kept_attributes,
        }
    }

    /// Tokenizes everything, calling `checkpoint` each time about `every` more bytes were
    /// consumed (where a budget can stop the parse) and once after end-of-file.
    pub fn run<E>(
        &mut self,
        every: usize,
        mut checkpoint: impl FnMut(&S) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut next_check = every;
        while self.pos < self.src.len() {
            match self.mode {
                Mode::Data => self.data(),
                Mode::Rcdata => self.raw_text(true),
                Mode::Rawtext => self.raw_text(false),
                Mode::ScriptData => self.script_data(),
                Mode::Plaintext => {
                    self.text_replacing_nul(self.pos, self.src.len());
                    self.pos = self.src.len();
                }
            }
            if self.pos >= next_check {
                checkpoint(self.sink)?;
                next_check = self.pos + every;
            }
        }
        let _ = self.emit(Token::EOFToken);
        self.sink.end();
        // And once at the end: a page shorter than `every` is checked too.
        checkpoint(self.sink)
    }

    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    /// Sends `token`, after the text gathered so far.
    fn emit(&self, token: Token) -> TokenSinkResult<S::Handle> {
        self.flush_text();
        self.sink.process_token(token, 0)
    }

    /// Sends the gathered text as one token: a run of text split by character references is
    /// one token, not one per piece, which saves the tree builder work.
    fn flush_text(&self) {
        if let Some(text) = self.pending_text.take() {
            let _ = self.sink.process_token(Token::CharacterTokens(text), 0);
        }
    }

    fn push_text(&self, piece: StrTendril) {
        let text = match self.pending_text.take() {
            None => piece,
            Some(mut text) => {
                text.push_tendril(&piece);
                text
            }
        };
        self.pending_text.set(Some(text));
    }

    /// `src[a..b]` without copying: a slice of the shared buffer.
    #[allow(unsafe_code)]
    fn sub(&self, a: usize, b: usize) -> StrTendril {
        debug_assert!(self.src.is_char_boundary(a) && self.src.is_char_boundary(b));
        // SAFETY: every cut the tokenizer makes is at an ASCII byte it matched or at the end of
        // the input, so `a` and `b` are character boundaries of the UTF-8 buffer `shared`
        // (which `try_subtendril` would check again, at a cost seen in profiles).
        unsafe { self.shared.unsafe_subtendril(a as u32, (b - a) as u32) }
    }

    /// Gathers `src[a..b]` (no NUL in it) as text.
    fn text(&self, a: usize, b: usize) {
        if b > a {
            self.push_text(self.sub(a, b));
        }
    }

    fn text_str(&self, s: &str) {
        if !s.is_empty() {
            self.push_text(StrTendril::from_slice(s));
        }
    }

    /// Gathers `src[a..b]` with each NUL replaced by U+FFFD (raw text, PLAINTEXT).
    fn text_replacing_nul(&self, a: usize, b: usize) {
        if b > a {
            self.push_text(self.slice(a, b));
        }
    }

    /// Gathers `src[a..b]` as text with each NUL sent as a null-character token (CDATA: the
    /// tree builder decides, e.g. drops it inside an SVG `<title>` and replaces it elsewhere in
    /// foreign content).
    fn text_with_nul_tokens(&self, a: usize, b: usize) {
        let mut k = a;
        while let Some(off) = memchr(0, &self.bytes()[k..b]) {
            self.text(k, k + off);
            let _ = self.emit(Token::NullCharacterToken);
            k += off + 1;
        }
        self.text(k, b);
    }

    /// `src[a..b]` as a tendril: a slice of the shared buffer, or a copy with NUL replaced.
    fn slice(&self, a: usize, b: usize) -> StrTendril {
        if memchr(0, &self.bytes()[a..b]).is_none() {
            self.sub(a, b)
        } else {
            StrTendril::from_slice(&self.src[a..b].replace('\0', "\u{fffd}"))
        }
    }

    // ---- data state -------------------------------------------------------------------------

    fn data(&mut self) {
        let b = self.bytes();
        let start = self.pos;
        let Some(off) = memchr3(b'<', b'&', 0, &b[start..]) else {
            self.text(start, b.len());
            self.pos = b.len();
            return;
        };
        let i = start + off;
        self.text(start, i);
        match b[i] {
            b'<' => self.tag_open(i),
            b'&' => self.pos = self.char_ref_in_text(i),
            _ => {
                let _ = self.emit(Token::NullCharacterToken);
                self.pos = i + 1;
            }
        }
    }

    /// A character reference at `i` (`&`) in text: emits it, returns where the text goes on.
    fn char_ref_in_text(&self, i: usize) -> usize {
        match char_ref(self.src, i, false) {
            Some((chars, end)) => {
                let mut buf = [0u8; 8];
                let n1 = chars[0].encode_utf8(&mut buf).len();
                let n2 = match chars[1] {
                    '\0' => 0,
                    c => c.encode_utf8(&mut buf[n1..]).len(),
                };
                self.text_str(std::str::from_utf8(&buf[..n1 + n2]).unwrap_or("\u{fffd}"));
                end
            }
            None => {
                self.text(i, i + 1);
                i + 1
            }
        }
    }

    /// At `i` is `<` in the data state.
    fn tag_open(&mut self, i: usize) {
        let b = self.bytes();
        let j = i + 1;
        match b.get(j) {
            Some(b'!') => self.markup_declaration(j + 1),
            Some(b'/') => match b.get(j + 1) {
                Some(c) if c.is_ascii_alphabetic() => self.tag(TagKind::EndTag, j + 1),
                Some(b'>') => {
                    // `</>` is dropped. html5ever reports it as a parse-error token, which
                    // counts as the token after `<pre>` (whose first newline is dropped).
                    let _ = self.emit(Token::ParseError("empty end tag".into()));
                    self.pos = j + 2;
                }
                Some(_) => self.bogus_comment(j + 1),
                None => {
                    self.text(i, j + 1);
                    self.pos = j + 1;
                }
            },
            Some(c) if c.is_ascii_alphabetic() => self.tag(TagKind::StartTag, j),
            Some(b'?') => self.bogus_comment(j),
            _ => {
                self.text(i, j);
                self.pos = j;
            }
        }
    }

    // ---- tags -------------------------------------------------------------------------------

    /// A tag whose name starts at `j`.
    fn tag(&mut self, kind: TagKind, j: usize) {
        let b = self.bytes();
        let mut k = j;
        while k < b.len() && !ends_name(b[k]) {
            k += 1;
        }
        if k == b.len() {
            self.pos = k; // EOF in a tag: the tag is dropped
            return;
        }
        let name = self.name_atom(j, k);
        self.attributes_and_emit(kind, name, k);
    }

    /// A lower-cased name (tag or attribute) from `src[a..b]`, NUL replaced. Names are
    /// remembered by their spelling: a page repeats a few dozen names thousands of times, and
    /// looking one up here is cheaper than interning it again. Names of up to 7 bytes (most of
    /// them) are looked up in a small direct-mapped table keyed by their bytes, without hashing
    /// the string.
    fn name_atom(&self, a: usize, b: usize) -> LocalName {
        let s: &'a str = &self.src[a..b];
        let short = short_name_key(s.as_bytes());
        if let Some(key) = short {
            if let Some((k, atom)) = &self.short_names.borrow()[short_name_slot(key)] {
                if *k == key {
                    return atom.clone();
                }
            }
        } else if let Some(atom) = self.names.borrow().get(s) {
            return atom.clone();
        }
        let atom = if s.bytes().any(|c| c.is_ascii_uppercase() || c == 0) {
            LocalName::from(s.to_ascii_lowercase().replace('\0', "\u{fffd}"))
        } else {
            LocalName::from(s)
        };
        match short {
            Some(key) => {
                self.short_names.borrow_mut()[short_name_slot(key)] = Some((key, atom.clone()));
            }
            None => {
                self.names.borrow_mut().insert(s, atom.clone());
            }
        }
        atom
    }

    /// The attributes of a tag (from `k`, just after its name) up to `>`, then emits the tag.
    fn attributes_and_emit(&mut self, kind: TagKind, name: LocalName, mut k: usize) {
        let b = self.bytes();
        let mut attrs = AttrList::default();
        let mut self_closing = false;
        loop {
            k = skip_space(b, k);
            let Some(&c) = b.get(k) else {
                self.pos = b.len();
                return;
            };
            match c {
                b'>' => {
                    k += 1;
                    break;
                }
                b'/' => {
                    k += 1;
                    if b.get(k) == Some(&b'>') {
                        self_closing = true;
                        k += 1;
                        break;
                    }
                }
                _ => {
                    // The first character belongs to the name even when it is `=`.
                    let name_start = k;
                    k += 1;
                    while k < b.len() && !ends_name(b[k]) && b[k] != b'=' {
                        k += 1;
                    }
                    let name_end = k;
                    k = skip_space(b, k);
                    // Where the value is (an attribute without `=` has an empty one).
                    let mut value_range = None;
                    if b.get(k) == Some(&b'=') {
                        k += 1;
                        k = skip_space(b, k);
                        match b.get(k) {
                            None => {
                                self.pos = b.len();
                                return;
                            }
                            Some(&q @ (b'"' | b'\'')) => {
                                let Some(len) = memchr(q, &b[k + 1..]) else {
                                    self.pos = b.len();
                                    return;
                                };
                                value_range = Some((k + 1, k + 1 + len));
                                k += len + 2;
                            }
                            Some(b'>') => {}
                            Some(_) => {
                                let start = k;
                                while k < b.len() && !is_space(b[k]) && b[k] != b'>' {
                                    k += 1;
                                }
                                if k == b.len() {
                                    self.pos = k;
                                    return;
                                }
                                value_range = Some((start, k));
                            }
                        }
                    }
                    if self.kept_attributes.keeps(&name, &b[name_start..name_end]) {
                        let value = value_range
                            .map_or_else(StrTendril::new, |(a, z)| self.attr_value(a, z));
                        attrs.push(self.name_atom(name_start, name_end), value);
                    }
                }
            }
        }
        self.pos = k;
        self.emit_tag(kind, name, self_closing, attrs);
    }

    /// An attribute value: character references decoded, NUL replaced.
    fn attr_value(&self, a: usize, b: usize) -> StrTendril {
        let bytes = &self.bytes()[a..b];
        if memchr2(b'&', 0, bytes).is_none() {
            return self.sub(a, b);
        }
        let mut out = String::with_capacity(b - a);
        let mut k = a;
        while k < b {
            let Some(off) = memchr2(b'&', 0, &self.bytes()[k..b]) else {
                out.push_str(&self.src[k..b]);
                break;
            };
            let i = k + off;
            out.push_str(&self.src[k..i]);
            if self.bytes()[i] == 0 {
                out.push('\u{fffd}');
                k = i + 1;
                continue;
            }
            // A reference never runs past the value: the quote or space that ends it is not
            // part of any name, and a numeric one stops at the first non-digit.
            match char_ref(&self.src[..b], i, true) {
                Some((chars, end)) => {
                    out.push(chars[0]);
                    if chars[1] != '\0' {
                        out.push(chars[1]);
                    }
                    k = end;
                }
                None => {
                    out.push('&');
                    k = i + 1;
                }
            }
        }
        StrTendril::from_slice(&out)
    }

    fn emit_tag(&mut self, kind: TagKind, name: LocalName, self_closing: bool, attrs: AttrList) {
        if kind == TagKind::StartTag {
            self.last_start_tag = Some(name.clone());
        }
        let tag = Tag {
            kind,
            name,
            self_closing,
            attrs: attrs.list,
            had_duplicate_attributes: attrs.had_duplicate,
        };
        self.mode = match self.emit(Token::TagToken(tag)) {
            TokenSinkResult::Plaintext => Mode::Plaintext,
            TokenSinkResult::RawData(RawKind::Rcdata) => Mode::Rcdata,
            TokenSinkResult::RawData(RawKind::Rawtext) => Mode::Rawtext,
            TokenSinkResult::RawData(_) => Mode::ScriptData,
            _ => Mode::Data,
        };
    }

    /// If `src[j..]` is the name of the last start tag (ASCII case-insensitive) followed by a
    /// space, `/` or `>`: that name and the position after it, the end tag of a raw-text element.
    fn appropriate_end_tag(&self, j: usize) -> Option<(LocalName, usize)> {
        let name = self.last_start_tag.as_ref()?;
        let end = j + name.len();
        let b = self.bytes();
        let candidate = b.get(j..end)?;
        (candidate.eq_ignore_ascii_case(name.as_bytes())
            && b.get(end).is_some_and(|&c| ends_name(c)))
        .then(|| (name.clone(), end))
    }

    // ---- RCDATA, RAWTEXT, script data ---------------------------------------------------------

    /// RCDATA (`<title>`, `<textarea>`: character references decoded) or RAWTEXT (`<style>`,
    /// `<xmp>`, `<iframe>`, `<noembed>`, `<noframes>`, `<noscript>`) up to the element's end tag.
    fn raw_text(&mut self, rcdata: bool) {
        let b = self.bytes();
        let mut k = self.pos;
        let start = self.pos;
        loop {
            let found = if rcdata {
                memchr2(b'<', b'&', &b[k..])
            } else {
                memchr(b'<', &b[k..])
            };
            let Some(off) = found else {
                self.text_replacing_nul(start, b.len());
                self.pos = b.len();
                return;
            };
            let i = k + off;
            if b[i] == b'&' {
                self.text_replacing_nul(start, i);
                self.pos = self.char_ref_in_text(i);
                return;
            }
            if b.get(i + 1) == Some(&b'/') {
                if let Some((name, name_end)) = self.appropriate_end_tag(i + 2) {
                    self.text_replacing_nul(start, i);
                    self.attributes_and_emit(TagKind::EndTag, name, name_end);
                    return;
                }
            }
            k = i + 1;
        }
    }

    /// Script data, with its escaped (`<!--`) and double-escaped (`<!--<script>`) states, up to
    /// the `</script>` that ends the element.
    fn script_data(&mut self) {
        #[derive(PartialEq)]
        enum Escape {
            None,
            Escaped,
            DoubleEscaped,
        }
        let b = self.bytes();
        let start = self.pos;
        let mut k = start;
        let mut escape = Escape::None;
        // Where the current escaped region began: a `-->` closes it only with both dashes inside.
        let mut region = start;
        let dashes_before = |i: usize, region: usize| i >= region + 2 && &b[i - 2..i] == b"--";
        loop {
            let found = if escape == Escape::None {
                memchr(b'<', &b[k..])
            } else {
                memchr2(b'<', b'>', &b[k..])
            };
            let Some(off) = found else {
                self.text_replacing_nul(start, b.len());
                self.pos = b.len();
                return;
            };
            let i = k + off;
            k = i + 1;
            if b[i] == b'>' {
                if dashes_before(i, region) {
                    escape = Escape::None;
                }
                continue;
            }
            match escape {
                Escape::None | Escape::Escaped => {
                    if b.get(i + 1) == Some(&b'/') {
                        if let Some((name, name_end)) = self.appropriate_end_tag(i + 2) {
                            self.text_replacing_nul(start, i);
                            self.attributes_and_emit(TagKind::EndTag, name, name_end);
                            return;
                        }
                    } else if escape == Escape::None {
                        if b[i..].starts_with(b"<!--") {
                            escape = Escape::Escaped;
                            region = i + 2;
                            k = i + 4;
                        }
                    } else if let Some(after) = script_word(b, i + 1) {
                        escape = Escape::DoubleEscaped;
                        region = after;
                        k = after;
                    }
                }
                Escape::DoubleEscaped => {
                    if b.get(i + 1) == Some(&b'/') {
                        if let Some(after) = script_word(b, i + 2) {
                            escape = Escape::Escaped;
                            region = after;
                            k = after;
                        }
                    }
                }
            }
        }
    }

    // ---- comments, DOCTYPE, CDATA ------------------------------------------------------------

    /// After `<!`.
    fn markup_declaration(&mut self, j: usize) {
        let b = self.bytes();
        let rest = &b[j..];
        if rest.starts_with(b"--") {
            self.comment(j + 2);
        } else if rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"doctype") {
            self.doctype(j + 7);
        } else if rest.starts_with(b"[CDATA[") && {
            // Text before it may change the current node (reconstructed formatting elements).
            self.flush_text();
            self.sink
                .adjusted_current_node_present_but_not_in_html_namespace()
        } {
            let content = j + 7;
            let end = memmem::find(&b[content..], b"]]>").map(|n| content + n);
            self.text_with_nul_tokens(content, end.unwrap_or(b.len()));
            self.pos = end.map_or(b.len(), |e| e + 3);
        } else {
            self.bogus_comment(j);
        }
    }

    /// A comment whose text starts at `j` (after `<!--`).
    fn comment(&mut self, j: usize) {
        let b = self.bytes();
        let (content_end, end) = if b.get(j) == Some(&b'>') {
            (j, j + 1)
        } else if b[j..].starts_with(b"->") {
            (j, j + 2)
        } else {
            comment_end(b, j)
        };
        self.emit_comment(j, content_end.max(j));
        self.pos = end;
    }

    fn bogus_comment(&mut self, j: usize) {
        let b = self.bytes();
        let end = memchr(b'>', &b[j..]).map_or(b.len(), |n| j + n);
        self.emit_comment(j, end);
        self.pos = (end + 1).min(b.len());
    }

    fn emit_comment(&self, a: usize, b: usize) {
        let _ = self.emit(Token::CommentToken(self.slice(a, b)));
    }

    /// A DOCTYPE whose text starts at `j` (after `<!DOCTYPE`).
    fn doctype(&mut self, j: usize) {
        let (doctype, end) = parse_doctype(self.src, j);
        let _ = self.emit(Token::DoctypeToken(doctype));
        self.pos = end;
    }
}

/// If `b[j..]` is `script` (ASCII case-insensitive) followed by a space, `/` or `>`, the
/// position after that character (script data's double-escape start and end).
fn script_word(b: &[u8], j: usize) -> Option<usize> {
    let word = b.get(j..j + 6)?;
    (word.eq_ignore_ascii_case(b"script") && b.get(j + 6).is_some_and(|&c| ends_name(c)))
        .then_some(j + 7)
}

/// Where a comment starting at `j` ends: (end of its text, position after it). It ends at
/// `-->` (with any number of dashes) or `--!>`, else at the end of the input.
fn comment_end(b: &[u8], j: usize) -> (usize, usize) {
    let mut k = j;
    while let Some(off) = memmem::find(&b[k..], b"--") {
        let dashes = k + off;
        let mut e = dashes + 2;
        while b.get(e) == Some(&b'-') {
            e += 1;
        }
        if b.get(e) == Some(&b'>') {
            return (e - 2, e + 1);
        }
        if b[e..].starts_with(b"!>") {
            return (e - 2, e + 2);
        }
        if e == b.len() {
            return (e - 2, e);
        }
        k = e;
    }
    let text_end = if b.ends_with(b"-") && b.len() > j {
        b.len() - 1
    } else {
        b.len()
    };
    (text_end, b.len())
}

/// The attributes of one tag; a repeated name keeps its first value, as the spec asks.
#[derive(Default)]
struct AttrList {
    list: Vec<Attribute>,
    had_duplicate: bool,
    /// Names seen, once the tag has so many attributes that a linear search would be slow.
    seen: Option<HashSet<LocalName>>,
}

/// Above this many attributes the duplicate check uses a set (a tag with 10^5 attributes
/// must not cost 10^10 comparisons).
const LINEAR_DUPLICATE_CHECK: usize = 32;

impl AttrList {
    fn push(&mut self, name: LocalName, value: StrTendril) {
        let duplicate = match &mut self.seen {
            Some(seen) => !seen.insert(name.clone()),
            None => {
                let dup = self.list.iter().any(|a| a.name.local == name);
                if !dup && self.list.len() >= LINEAR_DUPLICATE_CHECK {
                    let mut seen: HashSet<LocalName> =
                        self.list.iter().map(|a| a.name.local.clone()).collect();
                    seen.insert(name.clone());
                    self.seen = Some(seen);
                }
                dup
            }
        };
        if duplicate {
            self.had_duplicate = true;
        } else {
            self.list.push(Attribute {
                name: QualName::new(None, ns!(), name),
                value,
            });
        }
    }
}

/// The character reference at `src[i]` (`&`): its one or two characters (the second `'\0'` when
/// there is one) and the position after it, or `None` when the `&` is just a character (no known name, no digits, or, in an attribute
/// value, a legacy name without `;` followed by `=` or an alphanumeric).
fn char_ref(src: &str, i: usize, in_attribute: bool) -> Option<([char; 2], usize)> {
    let b = src.as_bytes();
    match b.get(i + 1)? {
        b'#' => numeric_char_ref(b, i + 2),
        c if c.is_ascii_alphanumeric() => {
            // The longest name in the table: the table holds every prefix of every name (with
            // (0, 0) for prefixes that are not names themselves), so matching stops at the first
            // character that no name continues with.
            let mut best = None;
            let mut k = i + 1;
            while k < b.len() && b[k].is_ascii() {
                match NAMED_ENTITIES.get(&src[i + 1..=k]) {
                    Some(&(c1, c2)) => {
                        if c1 != 0 {
                            best = Some((c1, c2, k + 1));
                        }
                        k += 1;
                    }
                    None => break,
                }
            }
            let (c1, c2, end) = best?;
            if in_attribute
                && b[end - 1] != b';'
                && b.get(end)
                    .is_some_and(|&n| n == b'=' || n.is_ascii_alphanumeric())
            {
                return None;
            }
            let first = char::from_u32(c1)?;
            let second = if c2 == 0 { '\0' } else { char::from_u32(c2)? };
            Some(([first, second], end))
        }
        _ => None,
    }
}

/// `&#...`: digits from `j` (after `#`), hexadecimal after `x`/`X`, an optional `;`.
fn numeric_char_ref(b: &[u8], j: usize) -> Option<([char; 2], usize)> {
    let (base, mut k) = match b.get(j) {
        Some(b'x' | b'X') => (16, j + 1),
        _ => (10, j),
    };
    let digits = k;
    let mut num: u32 = 0;
    let mut too_big = false;
    while let Some(d) = b.get(k).and_then(|&c| (c as char).to_digit(base)) {
        num = num.wrapping_mul(base).wrapping_add(d);
        too_big |= num > 0x10FFFF;
        k += 1;
    }
    if k == digits {
        return None;
    }
    if b.get(k) == Some(&b';') {
        k += 1;
    }
    let c = match num {
        _ if too_big || num > 0x10FFFF => '\u{fffd}',
        0 | 0xD800..=0xDFFF => '\u{fffd}',
        0x80..=0x9F => C1_REPLACEMENTS[(num - 0x80) as usize]
            .or_else(|| char::from_u32(num))
            .unwrap_or('\u{fffd}'),
        n => char::from_u32(n).unwrap_or('\u{fffd}'),
    };
    Some(([c, '\0'], k))
}

/// A DOCTYPE from `j` (after the keyword): the token and the position after it.
fn parse_doctype(src: &str, j: usize) -> (Doctype, usize) {
    let b = src.as_bytes();
    let mut d = Doctype::default();
    let quirks_at = |mut d: Doctype, k: usize| {
        d.force_quirks = true;
        (d, k)
    };
    let bogus = |d: Doctype, k: usize| {
        let end = memchr(b'>', &b[k..]).map_or(b.len(), |n| k + n + 1);
        (d, end)
    };
    let mut k = skip_space(b, j);
    match b.get(k) {
        None => return quirks_at(d, k),
        Some(b'>') => return quirks_at(d, k + 1),
        Some(_) => {}
    }
    let name_start = k;
    while k < b.len() && !is_space(b[k]) && b[k] != b'>' {
        k += 1;
    }
    d.name = Some(StrTendril::from_slice(
        &src[name_start..k]
            .to_ascii_lowercase()
            .replace('\0', "\u{fffd}"),
    ));
    k = skip_space(b, k);
    match b.get(k) {
        None => return quirks_at(d, k),
        Some(b'>') => return (d, k + 1),
        Some(_) => {}
    }
    let keyword = b.get(k..k + 6);
    let public = keyword.is_some_and(|w| w.eq_ignore_ascii_case(b"public"));
    if !public && !keyword.is_some_and(|w| w.eq_ignore_ascii_case(b"system")) {
        d.force_quirks = true;
        return bogus(d, k);
    }
    let set_id = |d: &mut Doctype, public: bool, id: Option<StrTendril>| {
        if public {
            d.public_id = id;
        } else {
            d.system_id = id;
        }
    };
    k = skip_space(b, k + 6);
    match quoted_id(src, k) {
        QuotedId::Closed(id, after) => {
            set_id(&mut d, public, Some(id));
            k = after;
        }
        QuotedId::Cut(id, end) => {
            set_id(&mut d, public, id);
            return quirks_at(d, end);
        }
        QuotedId::Missing => {
            return match b.get(k) {
                None => quirks_at(d, k),
                Some(b'>') => quirks_at(d, k + 1),
                Some(_) => {
                    d.force_quirks = true;
                    bogus(d, k)
                }
            }
        }
    }
    if public {
        // An optional system identifier after the public one.
        k = skip_space(b, k);
        match quoted_id(src, k) {
            QuotedId::Closed(id, after) => {
                d.system_id = Some(id);
                k = after;
            }
            QuotedId::Cut(id, end) => {
                d.system_id = id;
                return quirks_at(d, end);
            }
            QuotedId::Missing => {
                return match b.get(k) {
                    None => quirks_at(d, k),
                    Some(b'>') => (d, k + 1),
                    Some(_) => {
                        d.force_quirks = true;
                        bogus(d, k)
                    }
                }
            }
        }
    }
    // After the system identifier: spaces then `>`; anything else is a bogus tail (no quirks).
    k = skip_space(b, k);
    match b.get(k) {
        None => quirks_at(d, k),
        Some(b'>') => (d, k + 1),
        Some(_) => bogus(d, k),
    }
}

/// A DOCTYPE's public or system identifier at `k`.
enum QuotedId {
    /// Closed by its quote; the position after the quote.
    Closed(StrTendril, usize),
    /// Cut short by `>` or the end of input (the DOCTYPE ends there, in quirks mode).
    Cut(Option<StrTendril>, usize),
    /// No quote at `k`.
    Missing,
}

fn quoted_id(src: &str, k: usize) -> QuotedId {
    let b = src.as_bytes();
    let Some(&q @ (b'"' | b'\'')) = b.get(k) else {
        return QuotedId::Missing;
    };
    let id = |a: usize, e: usize| StrTendril::from_slice(&src[a..e].replace('\0', "\u{fffd}"));
    match memchr2(q, b'>', &b[k + 1..]) {
        None => QuotedId::Cut(Some(id(k + 1, b.len())), b.len()),
        Some(n) if b[k + 1 + n] == b'>' => QuotedId::Cut(Some(id(k + 1, k + 1 + n)), k + 2 + n),
        Some(n) => QuotedId::Closed(id(k + 1, k + 1 + n), k + 2 + n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_ref(s: &str, in_attribute: bool) -> Option<(String, usize)> {
        char_ref(s, 0, in_attribute).map(|(c, end)| {
            let mut out = c[0].to_string();
            if c[1] != '\0' {
                out.push(c[1]);
            }
            (out, end)
        })
    }

    #[test]
    fn newlines_are_normalised_in_one_pass() {
        let cases = [
            ("no carriage return", "no carriage return"),
            ("a\r\nb\rc\r\r\nd\r", "a\nb\nc\n\nd\n"),
            ("\r\n\r\n", "\n\n"),
            ("\u{feff}\rx\n\r", "\nx\n\n"),
            ("é\r\nü", "é\nü"),
        ];
        for (input, expected) in cases {
            assert_eq!(&*prepare_input(input), expected, "{input:?}");
        }
    }

    #[test]
    fn character_references_follow_the_spec() {
        // Decoded text and where the reference ends.
        type Decoded = Option<(&'static str, usize)>;
        // (input, in an attribute, expected)
        let cases: &[(&str, bool, Decoded)] = &[
            ("&amp;x", false, Some(("&", 5))),
            // The longest legacy name without `;`, then the rest is text.
            ("&notit;", false, Some(("¬", 4))),
            ("&notin;", false, Some(("∉", 7))),
            // In an attribute a legacy name followed by `=` or an alphanumeric stays as written.
            ("&copy=1", true, None),
            ("&copyx", true, None),
            ("&copy;x", true, Some(("©", 6))),
            ("&copy x", true, Some(("©", 5))),
            ("&NotEqualTilde;", false, Some(("≂\u{338}", 15))),
            ("&xyz;", false, None),
            ("&#x41;", false, Some(("A", 6))),
            ("&#65", false, Some(("A", 4))),
            ("&#128;", false, Some(("€", 6))),
            ("&#0;", false, Some(("\u{fffd}", 4))),
            ("&#xD800;", false, Some(("\u{fffd}", 8))),
            ("&#99999999999;", false, Some(("\u{fffd}", 14))),
            ("&#x;", false, None),
            ("& ", false, None),
        ];
        for &(input, in_attribute, expected) in cases {
            let expected = expected.map(|(text, end)| (text.to_owned(), end));
            assert_eq!(text_ref(input, in_attribute), expected, "{input:?}");
        }
    }

    #[test]
    fn comments_end_where_the_spec_ends_them() {
        let end = |s: &str| comment_end(s.as_bytes(), 0);
        assert_eq!(end("a-->b"), (1, 4));
        assert_eq!(end("a--->b"), (2, 5));
        assert_eq!(end("a--!>b"), (1, 5));
        assert_eq!(end("a -- b -->"), (7, 10));
        assert_eq!(end("never closed"), (12, 12));
    }

    #[test]
    fn doctypes() {
        let parse = |s: &str| parse_doctype(s, 0);
        let (d, end) = parse(" html>rest");
        assert_eq!(
            (d.name.as_deref(), d.force_quirks, end),
            (Some("html"), false, 6)
        );
        let (d, _) = parse(" HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" 'x'>");
        assert_eq!(d.name.as_deref(), Some("html"));
        assert_eq!(d.public_id.as_deref(), Some("-//W3C//DTD HTML 4.01//EN"));
        assert_eq!(d.system_id.as_deref(), Some("x"));
        assert!(!d.force_quirks);
        assert!(parse(" html PUBLIC>").0.force_quirks);
        assert!(parse(">").0.force_quirks);
        let (d, end) = parse(" html SYSTEM \"a\" junk>z");
        assert_eq!((d.force_quirks, end), (false, 22));
    }

    #[test]
    fn a_tag_with_very_many_attributes_stays_linear() {
        use crate::dom::{Dom, NodeData, ParseBudget};
        let mut html = String::from("<div");
        for i in 0..100_000 {
            html.push_str(&format!(" a{}={i}", i % 50_000));
        }
        html.push_str(">x</div>");
        let budget = ParseBudget {
            max_nodes: 1000,
            max_depth: 100,
            timeout: None,
        };
        let start = std::time::Instant::now();
        let dom = Dom::parse(&html, &budget).expect("parses");
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        let div = dom
            .find_first(Dom::DOCUMENT, &html5ever::local_name!("div"))
            .expect("div");
        let NodeData::Element { attrs } = &dom.node(div).data else {
            panic!("element");
        };
        // A repeated name keeps its first value.
        assert_eq!(attrs.len(), 50_000);
        assert_eq!(dom.node(div).attr(&LocalName::from("a7")), Some("7"));
    }
}
