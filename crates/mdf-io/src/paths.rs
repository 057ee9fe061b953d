//! Input path expansion shared by the loaders: a config names files, directories or glob
//! patterns, and every worker must see the same file list in the same order, so the result is
//! sorted and deduplicated and a pattern that matches nothing is a config error (a typo should
//! stop the run, not produce an empty dataset).

use std::fmt;
use std::fs;
use std::path::Path;

use mdf_core::{MdfError, Result};
use schemars::JsonSchema;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::storage;

/// One path or a list of paths, as written in the config (`paths: data/` or `paths: [a, b]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum PathList {
    One(String),
    Many(Vec<String>),
}

impl PathList {
    pub fn as_slice(&self) -> &[String] {
        match self {
            PathList::One(p) => std::slice::from_ref(p),
            PathList::Many(v) => v,
        }
    }

    /// The cross-field rule shared by the loaders' `check()`.
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        if self.as_slice().is_empty() {
            return Err("`paths` must name at least one file, directory or glob".into());
        }
        if self.as_slice().iter().any(|p| p.trim().is_empty()) {
            return Err("`paths` contains an empty path".into());
        }
        Ok(())
    }
}

// Hand-written so a wrong value says "expected a path or a list of paths" instead of serde's
// "data did not match any variant of untagged enum".
impl<'de> Deserialize<'de> for PathList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct PathListVisitor;
        impl<'de> Visitor<'de> for PathListVisitor {
            type Value = PathList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path or a list of paths")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<PathList, E> {
                Ok(PathList::One(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<PathList, E> {
                Ok(PathList::One(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<PathList, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(p) = seq.next_element::<String>()? {
                    out.push(p);
                }
                Ok(PathList::Many(out))
            }
        }
        deserializer.deserialize_any(PathListVisitor)
    }
}

/// Expands files, directories and glob patterns into a sorted, deduplicated file list.
///
/// - A file named explicitly (or matched by a glob) is kept whatever its extension.
/// - A directory (named, or matched by a glob) is walked recursively for files whose name ends
///   with `.` + one of `extensions` (case-insensitive, e.g. `"jsonl.gz"`); entries whose name
///   starts with `.` or `_` are skipped (writers' temporary files, `_mdf/`, `_SUCCESS`).
/// - A pattern that matches no file is a [`MdfError::Config`].
pub fn expand_paths(patterns: &[String], extensions: &[&str]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for pattern in patterns {
        let before = out.len();
        let glob = is_glob(pattern);
        if storage::is_remote(pattern) {
            expand_remote(pattern, extensions, &mut out)?;
        } else if glob {
            let matches = glob::glob(pattern)
                .map_err(|e| MdfError::config(format!("invalid glob pattern `{pattern}`: {e}")))?;
            for entry in matches {
                let path = entry.map_err(|e| {
                    let path = e.path().to_path_buf();
                    MdfError::io(path, e.into())
                })?;
                add_path(&path, extensions, &mut out)?;
            }
        } else {
            let path = Path::new(pattern);
            if !path.exists() {
                return Err(MdfError::config(format!(
                    "input path `{pattern}` matches nothing: no such file or directory"
                )));
            }
            add_path(path, extensions, &mut out)?;
        }
        if out.len() == before {
            let what = if glob { "glob" } else { "directory" };
            let exts: Vec<String> = extensions.iter().map(|e| format!(".{e}")).collect();
            return Err(MdfError::config(format!(
                "input {what} `{pattern}` matches nothing (directories are searched for files \
                 ending in {})",
                exts.join(", ")
            )));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A URL: an object named exactly, or every object under a prefix (a "directory", walked like
/// a local one) or matching a glob (`*`, `?` and `[..]` stay within one `/`-separated part).
/// Listing errors (no bucket, bad credentials) are config errors: they happen while planning.
fn expand_remote(pattern: &str, extensions: &[&str], out: &mut Vec<String>) -> Result<()> {
    let access = |e: MdfError| match e {
        MdfError::Io { source, .. } => {
            let inner = source
                .into_inner()
                .map_or_else(|| "unknown error".to_owned(), |e| e.to_string());
            MdfError::config(format!(
                "cannot access `{pattern}`: {inner}; check the bucket or host name and the                  credentials in the environment (docs/connectors.md)"
            ))
        }
        other => other,
    };
    if is_glob(pattern) {
        let literal_end = pattern.find(['*', '?', '[']).unwrap_or(pattern.len());
        let prefix = pattern[..literal_end]
            .rfind('/')
            .map_or(pattern, |i| &pattern[..i]);
        let matcher = glob::Pattern::new(pattern)
            .map_err(|e| MdfError::config(format!("invalid glob pattern `{pattern}`: {e}")))?;
        let options = glob::MatchOptions {
            require_literal_separator: true,
            ..Default::default()
        };
        for (url, _) in storage::list_recursive(prefix).map_err(access)? {
            if matcher.matches_with(&url, options) {
                out.push(url);
            }
        }
        return Ok(());
    }
    if storage::size_of(pattern).map_err(access)?.is_some() {
        out.push(pattern.to_owned());
        return Ok(());
    }
    let dir = pattern.trim_end_matches('/');
    for (url, _) in storage::list_recursive(dir).map_err(access)? {
        let rel = url.get(dir.len() + 1..).unwrap_or("");
        let hidden = rel
            .split('/')
            .any(|part| part.starts_with('.') || part.starts_with('_'));
        if !hidden && has_extension(rel.rsplit('/').next().unwrap_or(""), extensions) {
            out.push(url);
        }
    }
    Ok(())
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

fn add_path(path: &Path, extensions: &[&str], out: &mut Vec<String>) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| MdfError::io(path, e))?;
    if meta.is_dir() {
        walk_dir(path, extensions, out)
    } else {
        out.push(path_string(path)?);
        Ok(())
    }
}

fn walk_dir(dir: &Path, extensions: &[&str], out: &mut Vec<String>) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| MdfError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| MdfError::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let path = entry.path();
        let meta = fs::metadata(&path).map_err(|e| MdfError::io(&path, e))?;
        if meta.is_dir() {
            walk_dir(&path, extensions, out)?;
        } else if has_extension(&name, extensions) {
            out.push(path_string(&path)?);
        }
    }
    Ok(())
}

fn has_extension(name: &str, extensions: &[&str]) -> bool {
    let lower = name.to_ascii_lowercase();
    extensions.iter().any(|ext| {
        lower.len() > ext.len() + 1
            && lower.ends_with(ext)
            && lower.as_bytes()[lower.len() - ext.len() - 1] == b'.'
    })
}

fn path_string(path: &Path) -> Result<String> {
    path.to_str().map(str::to_owned).ok_or_else(|| {
        MdfError::config(format!(
            "input path `{}` is not valid UTF-8",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, rel: &str) -> String {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, b"x").unwrap();
        p.to_str().unwrap().to_owned()
    }

    #[test]
    fn expands_files_dirs_and_globs_sorted_and_deduped() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let b = touch(d, "b.jsonl");
        let a = touch(d, "sub/a.jsonl.gz");
        let c = touch(d, "sub/deeper/c.JSONL");
        touch(d, "sub/skip.txt");
        touch(d, "sub/.hidden.jsonl");
        touch(d, "_mdf/state.jsonl");
        let exts = ["jsonl", "jsonl.gz"];

        let got = expand_paths(&[d.to_str().unwrap().to_owned(), b.clone()], &exts).unwrap();
        let mut want = vec![a.clone(), b.clone(), c];
        want.sort();
        assert_eq!(got, want);

        let pattern = format!("{}/sub/*.gz", d.display());
        assert_eq!(expand_paths(&[pattern], &exts).unwrap(), vec![a]);

        // An explicitly named file is kept whatever its extension.
        let txt = d.join("sub/skip.txt").to_str().unwrap().to_owned();
        assert_eq!(
            expand_paths(std::slice::from_ref(&txt), &exts).unwrap(),
            vec![txt]
        );
    }

    #[test]
    fn a_pattern_that_matches_nothing_is_a_config_error() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        touch(d, "only.txt");
        for pattern in [
            d.join("missing.jsonl").to_str().unwrap().to_owned(),
            format!("{}/*.jsonl", d.display()),
            d.to_str().unwrap().to_owned(),
        ] {
            let err = expand_paths(std::slice::from_ref(&pattern), &["jsonl"]).unwrap_err();
            assert!(matches!(err, MdfError::Config(_)), "{pattern}: {err}");
            assert!(err.to_string().contains("matches nothing"), "{err}");
        }
    }

    #[test]
    fn path_list_accepts_one_or_many() {
        let one: PathList = serde_json::from_str(r#""a.jsonl""#).unwrap();
        assert_eq!(one.as_slice(), ["a.jsonl"]);
        let many: PathList = serde_json::from_str(r#"["a", "b"]"#).unwrap();
        assert_eq!(many.as_slice(), ["a", "b"]);
        let err = serde_json::from_str::<PathList>("3").unwrap_err();
        assert!(err.to_string().contains("a path or a list of paths"));
        assert!(PathList::Many(vec![]).check().is_err());
    }
}
