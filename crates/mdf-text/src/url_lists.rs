//! Lists for `url_filter`: blocklist files in UT1 format (one entry per line, a line whose first
//! character is `#` is a comment, entries are stripped; plain or gzip), loaded once per process
//! and shared by every worker's operator instance; and the built-in word lists from datatrove.
//!
//! Large lists (UT1 has 4.6M domains) are kept as 128-bit xxh3 hashes of the entries: 16 bytes per
//! entry instead of a string each. The chance that some URL collides with some entry is below
//! 10^-25 per lookup.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use mdf_core::{MdfError, Result};

/// datatrove 0.10.1 `assets/banned_words.txt` (see `assets/README.md`).
pub const BANNED_WORDS: &str = include_str!("../assets/url_filter/banned_words.txt");
/// datatrove 0.10.1 `assets/soft_banned_words.txt`.
pub const SOFT_BANNED_WORDS: &str = include_str!("../assets/url_filter/soft_banned_words.txt");
/// datatrove 0.10.1 `assets/banned_subwords.txt`.
pub const BANNED_SUBWORDS: &str = include_str!("../assets/url_filter/banned_subwords.txt");

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

/// Python's `str.strip()` whitespace.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// A UT1 entry: `None` for comments (first character `#`) and blank lines. datatrove keeps a
/// blank line as the empty entry, which would block every URL without a registered domain; we
/// skip it (documented in docs/parity.md).
pub fn ut1_entry(line: &str) -> Option<&str> {
    if line.starts_with('#') {
        return None;
    }
    let entry = py_strip(line);
    (!entry.is_empty()).then_some(entry)
}

/// Reads a text file (gzip when it ends in `.gz`) and calls `f` on each line. Lines end at `\n`,
/// `\r\n` or `\r` (Python's universal newlines); invalid UTF-8 is replaced.
pub fn for_each_line(path: &str, mut f: impl FnMut(&str)) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| {
        MdfError::config(format!("url_filter: cannot open list file `{path}`: {e}"))
    })?;
    let mut bytes = Vec::new();
    let read = if path.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file)).read_to_end(&mut bytes)
    } else {
        std::io::BufReader::new(file).read_to_end(&mut bytes)
    };
    read.map_err(|e| MdfError::io(Path::new(path), e))?;
    let text = String::from_utf8_lossy(&bytes);
    for line in text.split('\n') {
        for piece in line.strip_suffix('\r').unwrap_or(line).split('\r') {
            f(piece);
        }
    }
    Ok(())
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
