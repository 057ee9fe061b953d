//! Lists for `url_filter`: blocklist files in UT1 format (one entry per line, a line whose first
//! character is `#` is a comment, entries are stripped; plain or gzip), loaded once per process
//! and shared by every worker's operator instance; the built-in word lists from datatrove; and the
//! seed's default word weights and quality-source domains.
//!
//! Large lists (UT1 has 4.6M domains) are kept as 128-bit xxh3 hashes of the entries: 16 bytes per
//! entry instead of a string each. The chance that some URL collides with some entry is below
//! 10^-25 per lookup.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use mdf_core::{MdfError, Result};

/// datatrove 0.10.1 `assets/banned_words.txt` (see `assets/README.md`).
pub const BANNED_WORDS: &str = include_str!("../assets/url_filter/banned_words.txt");
/// datatrove 0.10.1 `assets/soft_banned_words.txt`.
pub const SOFT_BANNED_WORDS: &str = include_str!("../assets/url_filter/soft_banned_words.txt");
/// datatrove 0.10.1 `assets/banned_subwords.txt`.
pub const BANNED_SUBWORDS: &str = include_str!("../assets/url_filter/banned_subwords.txt");

/// DCLM `baselines/mappers/banlists/refinedweb_banned_words_strict_reverse_engineered.txt` (117
/// words, from the RefinedWeb paper's appendix; see `assets/README.md`).
pub const DCLM_STRICT_WORDS: &str =
    include_str!("../assets/url_filter/dclm/refinedweb_banned_words_strict_reverse_engineered.txt");
/// DCLM `refinedweb_banned_words_hard_reverse_engineered.txt` (176 words).
pub const DCLM_HARD_WORDS: &str =
    include_str!("../assets/url_filter/dclm/refinedweb_banned_words_hard_reverse_engineered.txt");
/// DCLM `refinedweb_banned_words_soft_reverse_engineered.txt` (83 words).
pub const DCLM_SOFT_WORDS: &str =
    include_str!("../assets/url_filter/dclm/refinedweb_banned_words_soft_reverse_engineered.txt");

/// The 16 high-quality domains of DCLM's RefinedWeb reproduction (`refinedweb.yaml`, step 1b).
pub const DCLM_QUALITY_DOMAINS: &[&str] = &[
    "arxiv.org",
    "askubuntu.com",
    "stackoverflow.com",
    "stackapps.com",
    "stackexchange.com",
    "mathoverflow.net",
    "exporter.nih.gov",
    "ncbi.nlm.nih.gov",
    "github.com",
    "irclogs.ubuntu.com",
    "news.ycombinator.com",
    "courtlistener.com",
    "reddit.com",
    "statmt.org",
    "uspto.gov",
    "wikipedia.org",
];

/// The words of a DCLM word-list file: every line verbatim (Python `splitlines()` separators
/// `\n`, `\r\n`, `\r`; no comments, no stripping), empty lines skipped (DCLM would keep the empty
/// word, which matches every URL).
pub fn read_word_file(path: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    for_each_line(path, |line| {
        if !line.is_empty() {
            words.push(line.to_owned());
        }
    })?;
    Ok(words)
}

/// The key is already a uniform hash: use its low 64 bits.
#[derive(Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

/// A set of strings stored as 128-bit hashes.
#[derive(Default)]
pub struct HashedSet {
    set: HashSet<u128, BuildHasherDefault<PassThrough>>,
}

impl HashedSet {
    pub fn insert(&mut self, s: &str) {
        self.set.insert(xxhash_rust::xxh3::xxh3_128(s.as_bytes()));
    }
    pub fn contains(&self, s: &str) -> bool {
        !self.set.is_empty()
            && self
                .set
                .contains(&xxhash_rust::xxh3::xxh3_128(s.as_bytes()))
    }
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.set.len()
    }
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

pub use crate::pystr::strip;

/// A UT1 entry: `None` for comments (first character `#`) and blank lines. datatrove keeps a
/// blank line as the empty entry, which would block every URL without a registered domain; we
/// skip it (documented in docs/parity.md).
pub fn ut1_entry(line: &str) -> Option<&str> {
    if line.starts_with('#') {
        return None;
    }
    let entry = strip(line);
    (!entry.is_empty()).then_some(entry)
}

/// Reads a text file (gzip when it ends in `.gz`) line by line and calls `f` on each line. Lines
/// end at `\n`, `\r\n` or `\r` (Python's universal newlines); invalid UTF-8 is replaced.
pub fn for_each_line(path: &str, mut f: impl FnMut(&str)) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| {
        MdfError::config(format!("url_filter: cannot open list file `{path}`: {e}"))
    })?;
    let mut reader: Box<dyn BufRead> = if path.ends_with(".gz") {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| MdfError::io(Path::new(path), e))?;
        if n == 0 {
            return Ok(());
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.strip_suffix('\n').unwrap_or(&line);
        for piece in line.strip_suffix('\r').unwrap_or(line).split('\r') {
            f(piece);
        }
    }
}

/// Loads the UT1 files at `paths` into one hashed set, lower-casing entries when asked; the set
/// is shared between all operator instances that ask for the same files while any is alive.
pub fn shared_blocklist(paths: &[String], lowercase: bool) -> Result<Arc<HashedSet>> {
    type Cache = Mutex<HashMap<String, Weak<HashedSet>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let mut key = format!("lower={lowercase}");
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| {
            MdfError::config(format!("url_filter: cannot read list file `{p}`: {e}"))
        })?;
        let mtime = meta.modified().ok().map(|t| format!("{t:?}"));
        key.push_str(&format!("\n{p}\t{}\t{mtime:?}", meta.len()));
    }
    let cache = CACHE.get_or_init(Default::default);
    let mut guard = match cache.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(set) = guard.get(&key).and_then(Weak::upgrade) {
        return Ok(set);
    }
    let mut set = HashedSet::default();
    for p in paths {
        for_each_line(p, |line| {
            if let Some(entry) = ut1_entry(line) {
                if lowercase {
                    set.insert(&entry.to_lowercase());
                } else {
                    set.insert(entry);
                }
            }
        })?;
    }
    let set = Arc::new(set);
    guard.retain(|_, w| w.strong_count() > 0);
    guard.insert(key, Arc::downgrade(&set));
    Ok(set)
}

/// datatrove's `normalize`: drop every character outside `[a-zA-Z0-9]`, lower-case the rest.
pub fn normalize_into(text: &str, out: &mut String) {
    out.clear();
    out.extend(
        text.bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| char::from(b.to_ascii_lowercase())),
    );
}

/// datatrove's `parse_list` over word lines: comments skipped, entries normalised. Entries that
/// normalise to nothing are skipped (datatrove would keep the empty word).
pub fn parse_words<'a>(lines: impl IntoIterator<Item = &'a str>, out: &mut HashSet<String>) {
    let mut buf = String::new();
    for line in lines {
        if line.starts_with('#') {
            continue;
        }
        normalize_into(line, &mut buf);
        if !buf.is_empty() {
            out.insert(buf.clone());
        }
    }
}

/// The seed's default word weights (seed-system.md §5).
pub const DEFAULT_WORD_WEIGHTS: &[(&str, f64)] = &[
    ("porn", 1.0),
    ("xxx", 1.0),
    ("nsfw", 1.0),
    ("hentai", 1.0),
    ("nude", 0.9),
    ("naked", 0.9),
    ("erotic", 0.9),
    ("fetish", 0.9),
    ("casino", 0.9),
    ("gambling", 0.9),
    ("gore", 0.9),
    ("warez", 0.9),
    ("sex", 0.8),
    ("escort", 0.8),
    ("betting", 0.8),
    ("free-money", 0.8),
    ("get-rich", 0.8),
    ("poker", 0.7),
    ("jackpot", 0.7),
    ("adult", 0.6),
    ("slot", 0.6),
    ("torrent", 0.6),
    ("pirate", 0.6),
    ("webcam", 0.5),
    ("hack", 0.5),
    ("crack", 0.5),
    ("click-here", 0.5),
    ("limited-offer", 0.5),
    ("buy-now", 0.4),
];

/// The seed's default quality-source domains (seed-system.md §5).
pub const DEFAULT_QUALITY_SOURCES: &[&str] = &[
    "wikipedia.org",
    "wikimedia.org",
    "wikidata.org",
    "wikisource.org",
    "wikibooks.org",
    "wikiquote.org",
    "wikinews.org",
    "wikivoyage.org",
    "wiktionary.org",
    "arxiv.org",
    "pubmed.gov",
    "ncbi.nlm.nih.gov",
    "scholar.google.com",
    "semanticscholar.org",
    "acm.org",
    "ieee.org",
    "springer.com",
    "sciencedirect.com",
    "nature.com",
    "plos.org",
    "github.com",
    "gitlab.com",
    "bitbucket.org",
    "sourceforge.net",
    "stackoverflow.com",
    "stackexchange.com",
    "superuser.com",
    "serverfault.com",
    "askubuntu.com",
    "mathoverflow.net",
    "gutenberg.org",
    "archive.org",
    "openlibrary.org",
    "britannica.com",
    "encyclopedia.com",
];

/// A domain list: a shared (file) part and an inline part.
pub struct DomainList {
    files: Option<Arc<HashedSet>>,
    inline: HashSet<String>,
}

impl DomainList {
    pub fn build(paths: &[String], inline: &[String], lowercase: bool) -> Result<Self> {
        let files = if paths.is_empty() {
            None
        } else {
            Some(shared_blocklist(paths, lowercase)?)
        };
        let inline = inline
            .iter()
            .filter_map(|d| ut1_entry(d))
            .map(|d| {
                if lowercase {
                    d.to_lowercase()
                } else {
                    d.to_owned()
                }
            })
            .collect();
        Ok(DomainList { files, inline })
    }

    pub fn contains(&self, s: &str) -> bool {
        !s.is_empty()
            && (self.inline.contains(s) || self.files.as_ref().is_some_and(|f| f.contains(s)))
    }

    pub fn is_empty(&self) -> bool {
        self.inline.is_empty() && self.files.as_ref().is_none_or(|f| f.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lists_have_the_datatrove_sizes() {
        let count = |text: &str| {
            let mut s = HashSet::new();
            parse_words(text.lines(), &mut s);
            s.len()
        };
        // The set sizes datatrove 0.10.1 builds from the same files (spec §1.3).
        assert_eq!(count(BANNED_WORDS), 203);
        assert_eq!(count(SOFT_BANNED_WORDS), 87);
        assert_eq!(count(BANNED_SUBWORDS), 134);
    }

    #[test]
    fn ut1_files_plain_and_gzip_are_shared() {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("tmp");
        let plain = dir.path().join("d.txt");
        std::fs::write(&plain, "# c\nA.com \r\n\n  b.org\r c.net").expect("write");
        let gz = dir.path().join("d.txt.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"x.io\n#y.io\n").expect("gz");
        std::fs::write(&gz, enc.finish().expect("gz")).expect("write");
        let paths = vec![plain.display().to_string(), gz.display().to_string()];
        let a = shared_blocklist(&paths, false).expect("load");
        assert_eq!(a.len(), 4);
        assert!(a.contains("A.com") && !a.contains("a.com") && a.contains("b.org"));
        assert!(a.contains("c.net") && a.contains("x.io") && !a.contains("#y.io"));
        let b = shared_blocklist(&paths, false).expect("load");
        assert!(Arc::ptr_eq(&a, &b));
        let lower = shared_blocklist(&paths, true).expect("load");
        assert!(lower.contains("a.com"));
        assert!(shared_blocklist(&["/nonexistent/x".into()], false).is_err());
    }
}
