//! Host, registered domain and FQDN of a URL, decided exactly as `tldextract` 5.4 does it with its
//! bundled Public Suffix List snapshot and `include_psl_private_domains=False` (the configuration
//! datatrove's `URLFilter` uses). The PSL is compiled in (`assets/public_suffix_list.dat`, pinned
//! version and hash in `assets/README.md`); only its ICANN section is used.
//!
//! Reproduced quirks: the host keeps its case and its punycode (only the suffix lookup lower-cases
//! and decodes labels); userinfo, port and trailing root dots are removed; the ideographic dots
//! `。．｡` separate labels; a URL without `scheme://` is parsed as if it started with the host. One
//! knowing difference: an `xn--` label is punycode-decoded without IDNA 2008 validation (idna's
//! `check_label` and canonical re-encoding). It only matters when an invalid A-label decodes to a
//! PSL label, which valid PSL labels make unlikely.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

const PSL: &str = include_str!("../assets/public_suffix_list.dat");

#[derive(Default)]
struct Node {
    children: HashMap<String, Node>,
    end: bool,
}

/// The ICANN part of the PSL as a trie of reversed labels (tldextract's `Trie`).
struct SuffixTrie {
    root: Node,
}

fn trie() -> &'static SuffixTrie {
    static TRIE: OnceLock<SuffixTrie> = OnceLock::new();
    TRIE.get_or_init(|| {
        let icann = PSL
            .split("// ===BEGIN PRIVATE DOMAINS===")
            .next()
            .unwrap_or_default();
        let mut root = Node::default();
        for line in icann.lines() {
            // tldextract's regex `^[.*!]*\w\S*`: a rule is the first word of a line that does not
            // start with a comment or a blank.
            let rule = line.split(char::is_whitespace).next().unwrap_or_default();
            let first_word = rule.trim_start_matches(['.', '*', '!']).chars().next();
            if !first_word.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let mut node = &mut root;
            for label in rule.rsplit('.') {
                node = node.children.entry(label.to_owned()).or_default();
            }
            node.end = true;
        }
        SuffixTrie { root }
    })
}

/// tldextract's `_decode_punycode`: lower-case, then decode an `xn--` label when it decodes.
fn decode_label(label: &str) -> Cow<'_, str> {
    let lowered: Cow<'_, str> = if label.chars().any(|c| c.to_lowercase().ne(Some(c))) {
        Cow::Owned(label.to_lowercase())
    } else {
        Cow::Borrowed(label)
    };
    if let Some(rest) = lowered.strip_prefix("xn--") {
        if !rest.is_empty() && !rest.ends_with('-') {
            if let Some(decoded) = crate::punycode::decode(rest) {
                return Cow::Owned(decoded);
            }
        }
    }
    lowered
}

impl SuffixTrie {
    /// Index of the first label of the public suffix, `None` when there is none.
    fn suffix_index(&self, labels: &[&str]) -> Option<usize> {
        let n = labels.len();
        let (mut node, mut suffix_idx, mut label_idx) = (&self.root, n, n);
        for label in labels.iter().rev() {
            let decoded = decode_label(label);
            if let Some(child) = node.children.get(decoded.as_ref()) {
                label_idx -= 1;
                node = child;
                if node.end {
                    suffix_idx = label_idx;
                }
                continue;
            }
            if node.children.contains_key("*") {
                let exception = node.children.contains_key(&format!("!{decoded}"));
                return Some(if exception { label_idx } else { label_idx - 1 });
            }
            break;
        }
        (suffix_idx != n).then_some(suffix_idx)
    }
}

/// Python's `str.isspace` (Rust's `char::is_whitespace` lacks U+001C..U+001F).
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn is_scheme_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
}

/// tldextract's `_schemeless_url`.
fn schemeless(url: &str) -> &str {
    match url.find("//") {
        None => url,
        Some(0) => &url[2..],
        Some(i) => {
            let b = url.as_bytes();
            if i < 2 || b[i - 1] != b':' || !b[..i - 1].iter().copied().all(is_scheme_byte) {
                url
            } else {
                &url[i + 2..]
            }
        }
    }
}

/// tldextract's `lenient_netloc`: the host of a URL-like string, case preserved.
pub fn lenient_netloc(url: &str) -> &str {
    let rest = schemeless(url);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let after_userinfo = match authority.rfind('@') {
        Some(p) => &authority[p + 1..],
        None => authority,
    };
    if after_userinfo.starts_with('[') {
        if let Some(p) = after_userinfo.find(']') {
            return &after_userinfo[..=p];
        }
    }
    let host = after_userinfo.split(':').next().unwrap_or_default();
    host.trim_matches(py_space)
        .trim_end_matches(['.', '\u{3002}', '\u{ff0e}', '\u{ff61}'])
}

/// The parts of a host that the URL filters compare with their lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostParts<'a> {
    /// Registered domain (`domain.suffix`), empty when the host has no public suffix or no label
    /// before it (IP addresses, `localhost`, a bare suffix).
    pub registered_domain: Cow<'a, str>,
    /// Full host (`subdomain.domain.suffix`), empty exactly when `registered_domain` is.
    pub fqdn: Cow<'a, str>,
}

/// Splits a host (as returned by [`lenient_netloc`]) like tldextract's `_extract_netloc`.
pub fn split_host(netloc: &str) -> HostParts<'_> {
    let host: Cow<'_, str> = if netloc.contains(['\u{3002}', '\u{ff0e}', '\u{ff61}']) {
        Cow::Owned(netloc.replace(['\u{3002}', '\u{ff0e}', '\u{ff61}'], "."))
    } else {
        Cow::Borrowed(netloc)
    };
    let empty = HostParts {
        registered_domain: Cow::Borrowed(""),
        fqdn: Cow::Borrowed(""),
    };
    let labels: Vec<&str> = host.split('.').collect();
    let Some(psi) = trie().suffix_index(&labels) else {
        return empty;
    };
    if psi == 0 || labels[psi - 1].is_empty() {
        return empty;
    }
    // Byte offset where label `psi - 1` starts: the registered domain runs from there.
    let start: usize = labels[..psi - 1].iter().map(|l| l.len() + 1).sum();
    let subdomain_empty = psi == 1 || (psi == 2 && labels[0].is_empty());
    let fqdn_start = if subdomain_empty { start } else { 0 };
    match host {
        Cow::Borrowed(h) => HostParts {
            registered_domain: Cow::Borrowed(&h[start..]),
            fqdn: Cow::Borrowed(&h[fqdn_start..]),
        },
        Cow::Owned(h) => HostParts {
            registered_domain: Cow::Owned(h[start..].to_owned()),
            fqdn: Cow::Owned(h[fqdn_start..].to_owned()),
        },
    }
}

/// Characters whose NFKC form holds one of `/?#@:` (Unicode 14, CPython 3.11): a netloc with one
/// of them makes `urlsplit` raise (`_checknetloc`).
const NFKC_UNSAFE: &[char] = &[
    '\u{2047}', '\u{2048}', '\u{2049}', '\u{2100}', '\u{2101}', '\u{2105}', '\u{2106}', '\u{2a74}',
    '\u{fe13}', '\u{fe16}', '\u{fe55}', '\u{fe56}', '\u{fe5f}', '\u{fe6b}', '\u{ff03}', '\u{ff0f}',
    '\u{ff1a}', '\u{ff1f}', '\u{ff20}',
];

/// `urllib.parse.urlsplit(url).netloc` as CPython 3.11 computes it (same as `urlparse`): leading
/// C0 controls and spaces stripped, every tab, CR and LF deleted, an optional `scheme:` (ASCII
/// letter first, then letters, digits, `+-.`), and the netloc after `//` up to the first `/`, `?`
/// or `#`, userinfo and port included, case kept. `Err` where Python raises `ValueError`:
/// unbalanced brackets, a bracketed host that is not IPv6 (or `v<hex>.<x>`), or a character whose
/// NFKC form holds `/?#@:`. IPv6 is checked with Rust's parser (scope id `%x` allowed, as Python).
pub fn py_netloc(url: &str) -> std::result::Result<String, &'static str> {
    let url = url.trim_start_matches(|c: char| c <= ' ');
    let cleaned: Cow<'_, str> = if url.contains(['\t', '\r', '\n']) {
        Cow::Owned(url.replace(['\t', '\r', '\n'], ""))
    } else {
        Cow::Borrowed(url)
    };
    let mut rest: &str = &cleaned;
    if let Some(i) = rest.find(':') {
        let scheme = &rest[..i];
        if i > 0
            && scheme.as_bytes()[0].is_ascii_alphabetic()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            rest = &rest[i + 1..];
        }
    }
    let Some(after) = rest.strip_prefix("//") else {
        return Ok(String::new());
    };
    let netloc = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
    let (open, close) = (netloc.contains('['), netloc.contains(']'));
    if open != close {
        return Err("Invalid IPv6 URL");
    }
    if open {
        let inside = netloc.split_once('[').map_or("", |(_, r)| r);
        let host = inside.split_once(']').map_or(inside, |(h, _)| h);
        if let Some(future) = host.strip_prefix('v') {
            // `\Av[a-fA-F0-9]+\..+\Z`
            let hex = future.bytes().take_while(u8::is_ascii_hexdigit).count();
            let tail = &future[hex..];
            if hex == 0 || !tail.starts_with('.') || tail.len() < 2 {
                return Err("IPvFuture address is invalid");
            }
        } else {
            let (addr, scope) = match host.split_once('%') {
                Some((a, s)) => (a, Some(s)),
                None => (host, None),
            };
            let scope_ok = scope.is_none_or(|s| !s.is_empty() && !s.contains('%'));
            if !scope_ok || addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err("Invalid IPv6 URL");
            }
        }
    }
    if !netloc.is_ascii() && netloc.contains(NFKC_UNSAFE) {
        return Err("netloc contains invalid characters under NFKC normalization");
    }
    Ok(netloc.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (String, String) {
        let p = split_host(lenient_netloc(url));
        (p.registered_domain.into_owned(), p.fqdn.into_owned())
    }

    #[test]
    fn registered_domain_and_fqdn_follow_the_psl() {
        let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(
            parts("http://forums.bbc.co.uk/x"),
            s("bbc.co.uk", "forums.bbc.co.uk")
        );
        assert_eq!(
            parts("https://a.b.Example.COM:8080/"),
            s("Example.COM", "a.b.Example.COM")
        );
        assert_eq!(
            parts("user:pw@www.test.com?q"),
            s("test.com", "www.test.com")
        );
        assert_eq!(parts("http://127.0.0.1:80/"), s("", ""));
        assert_eq!(parts("http://localhost/"), s("", ""));
        assert_eq!(parts("http://co.uk/"), s("", ""));
        assert_eq!(
            parts("http://x.blogspot.com/"),
            s("blogspot.com", "x.blogspot.com")
        );
        // wildcard `*.ck` with the exception `!www.ck`
        assert_eq!(parts("http://a.b.ck/"), s("a.b.ck", "a.b.ck"));
        assert_eq!(parts("http://www.ck/"), s("www.ck", "www.ck"));
        // punycode and unicode suffixes, ideographic dots, trailing root dot
        assert_eq!(
            parts("http://x.xn--55qx5d.cn/"),
            s("x.xn--55qx5d.cn", "x.xn--55qx5d.cn")
        );
        assert_eq!(parts("http://a.例子。中国/"), s("例子.中国", "a.例子.中国"));
        assert_eq!(
            parts("http://www.example.com./"),
            s("example.com", "www.example.com")
        );
        assert_eq!(parts("//.foo.com/"), s("foo.com", "foo.com"));
    }

    #[test]
    fn py_netloc_follows_cpython_urlsplit() {
        let ok = |u: &str| py_netloc(u).expect("parses");
        assert_eq!(
            ok("http://User:Pw@WWW.X.com:8080/a?b#c"),
            "User:Pw@WWW.X.com:8080"
        );
        assert_eq!(ok("x.com/path"), "");
        assert_eq!(ok("//x.com?q"), "x.com");
        assert_eq!(ok(" \u{1}http://x.com#f"), "x.com");
        assert_eq!(ok("ht\ttp://x\n.com/"), "x.com");
        assert_eq!(ok("1http://x.com/"), "", "a scheme starts with a letter");
        assert_eq!(ok("a_b://x.com/"), "", "`_` is not a scheme character");
        assert_eq!(ok("mailto://x.com/"), "x.com");
        assert_eq!(ok("http://[::1]:80/"), "[::1]:80");
        assert_eq!(ok("http://[fe80::1%eth0]/"), "[fe80::1%eth0]");
        assert_eq!(ok("http://[v1.x]/"), "[v1.x]");
        assert_eq!(ok("http://bücher.de/"), "bücher.de");
        for bad in [
            "http://[::1/",
            "http://::1]/",
            "http://[1.2.3.4]/",
            "http://[v1.]/",
            "http://[vz.x]/",
            "http://[::1%]/",
            "http://a\u{2100}b/",
            "http://a\u{ff0f}b/",
        ] {
            assert!(py_netloc(bad).is_err(), "{bad}");
        }
    }
}
