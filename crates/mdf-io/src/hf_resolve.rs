//! Where a Hugging Face dataset's files are: a local directory, a `save_to_disk` folder, the
//! Hugging Face cache, or the hub. Resolution runs once, at plan time, so a dataset that does
//! not exist is one config error before any work.
//!
//! Split selection follows the `datasets` package's default data-file conventions, reduced to
//! one rule: a file belongs to split `s` when `s` appears in its path between separators
//! (`/`, `-`, `_`, `.`, space or a digit), as in `data/train-00000-of-00002.parquet`,
//! `train/0000.parquet` or `test.parquet`. When no file names any common split, every file is
//! `train` (also as in `datasets`).

use std::path::{Path, PathBuf};

use mdf_core::{MdfError, Result};

use crate::storage;

/// File kinds the loader reads.
pub(crate) const EXTENSIONS: &[&str] = &["parquet", "arrow"];

const KNOWN_SPLITS: &[&str] = &["train", "test", "validation", "valid", "dev", "eval"];

/// What to resolve.
pub(crate) struct DatasetRef<'a> {
    pub name: &'a str,
    pub split: &'a str,
    pub config: Option<&'a str>,
    pub revision: &'a str,
    pub data_files: Option<&'a [String]>,
}

/// The dataset's files for the split, sorted: local paths or `https://` URLs.
pub(crate) fn resolve_files(d: &DatasetRef<'_>) -> Result<Vec<String>> {
    let local = Path::new(d.name);
    if local.is_dir() {
        return local_files(local, d);
    }
    if let Some(snapshot) = cache_snapshot(d.name, d.revision) {
        return local_files(&snapshot, d);
    }
    if !is_hub_id(d.name) {
        return Err(MdfError::config(format!(
            "dataset_name `{}` is neither a local directory nor a hub dataset id (org/name)",
            d.name
        )));
    }
    hub_files(d)
}

fn is_hub_id(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
}

/// `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub(crate) fn hub_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(home) = std::env::var_os("HF_HOME") {
        return PathBuf::from(home).join("hub");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("huggingface").join("hub")
}

/// The cached snapshot of `name` at `revision` (a ref such as `main`, or a commit hash).
fn cache_snapshot(name: &str, revision: &str) -> Option<PathBuf> {
    if !is_hub_id(name) {
        return None;
    }
    let repo = hub_cache_dir().join(format!("datasets--{}", name.replace('/', "--")));
    let commit = std::fs::read_to_string(repo.join("refs").join(revision))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| revision.to_owned());
    let snapshot = repo.join("snapshots").join(commit);
    snapshot.is_dir().then_some(snapshot)
}

fn local_files(root: &Path, d: &DatasetRef<'_>) -> Result<Vec<String>> {
    // `DatasetDict.save_to_disk`: one `save_to_disk` folder per split.
    let dict = root.join("dataset_dict.json");
    if dict.is_file() && d.data_files.is_none() {
        let split_dir = root.join(d.split);
        if !split_dir.join("state.json").is_file() {
            let splits = read_json(&dict)?.get("splits").cloned().unwrap_or_default();
            return Err(MdfError::config(format!(
                "split `{}` not found in {} (it has {splits})",
                d.split,
                root.display()
            )));
        }
        return saved_files(&split_dir);
    }
    // `Dataset.save_to_disk`: Arrow IPC stream files listed in `state.json`.
    if root.join("state.json").is_file() && root.join("dataset_info.json").is_file() {
        return saved_files(root);
    }
    let mut rel = Vec::new();
    walk(root, "", &mut rel)?;
    let chosen =
        select(&rel, d).map_err(|e| MdfError::config(format!("{e} in {}", root.display())))?;
    Ok(chosen
        .into_iter()
        .map(|r| root.join(r).to_string_lossy().into_owned())
        .collect())
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let bytes = std::fs::read(path).map_err(|e| MdfError::io(path, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| MdfError::config(format!("{} is not valid JSON: {e}", path.display())))
}

fn saved_files(dir: &Path) -> Result<Vec<String>> {
    let state = read_json(&dir.join("state.json"))?;
    let files: Vec<String> = state
        .get("_data_files")
        .and_then(|f| f.as_array())
        .map(|files| {
            files
                .iter()
                .filter_map(|f| f.get("filename").and_then(|n| n.as_str()))
                .map(|n| dir.join(n).to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if files.is_empty() {
        return Err(MdfError::config(format!(
            "{} lists no data files (`_data_files`)",
            dir.join("state.json").display()
        )));
    }
    Ok(files)
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| MdfError::io(dir, e))? {
        let entry = entry.map_err(|e| MdfError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        // Follows links: the hub cache's snapshot files are links into `blobs/`.
        let path = entry.path();
        if path.is_dir() {
            walk(&path, &child, out)?;
        } else {
            out.push(child);
        }
    }
    Ok(())
}

/// Picks the split's data files (or the `data_files` matches) among relative paths.
fn select(rel: &[String], d: &DatasetRef<'_>) -> std::result::Result<Vec<String>, String> {
    let readable = |p: &&String| {
        let lower = p.to_ascii_lowercase();
        EXTENSIONS
            .iter()
            .any(|ext| lower.ends_with(&format!(".{ext}")))
    };
    let mut files: Vec<String> = rel.iter().filter(readable).cloned().collect();
    if let Some(config) = d.config.filter(|c| *c != "default") {
        files.retain(|p| p.split('/').any(|part| part == config));
    }
    files.sort();
    if let Some(patterns) = d.data_files {
        let mut out = Vec::new();
        for pattern in patterns {
            let matcher = glob::Pattern::new(pattern)
                .map_err(|e| format!("invalid `data_files` pattern `{pattern}`: {e}"))?;
            let before = out.len();
            out.extend(files.iter().filter(|f| matcher.matches(f)).cloned());
            if out.len() == before {
                return Err(format!(
                    "`data_files` pattern `{pattern}` matches no .parquet or .arrow file"
                ));
            }
        }
        out.sort();
        out.dedup();
        return Ok(out);
    }
    let of_split: Vec<String> = files
        .iter()
        .filter(|f| names_split(f, d.split))
        .cloned()
        .collect();
    if !of_split.is_empty() {
        return Ok(of_split);
    }
    let any_split = files
        .iter()
        .any(|f| KNOWN_SPLITS.iter().any(|s| names_split(f, s)));
    if d.split == "train" && !any_split && !files.is_empty() {
        return Ok(files);
    }
    Err(format!(
        "no .parquet or .arrow file of split `{}`{}",
        d.split,
        if files.is_empty() {
            ""
        } else {
            " (use `data_files` to pick files)"
        }
    ))
}

/// True when `split` appears in `path` between separators.
pub(crate) fn names_split(path: &str, split: &str) -> bool {
    let sep = |c: Option<char>| c.is_none_or(|c| "/-_. ".contains(c) || c.is_ascii_digit());
    let lower = path.to_ascii_lowercase();
    let split = split.to_ascii_lowercase();
    lower.match_indices(&split).any(|(i, m)| {
        sep(lower[..i].chars().next_back()) && sep(lower[i + m.len()..].chars().next())
    })
}

/// `refs/convert/parquet` → `refs%2Fconvert%2Fparquet`, as the hub expects in URLs.
fn encode_revision(revision: &str) -> String {
    revision.replace('/', "%2F")
}

fn hub_files(d: &DatasetRef<'_>) -> Result<Vec<String>> {
    let endpoint = storage::hf_endpoint();
    let unreachable = |e: MdfError| {
        MdfError::config(format!(
            "dataset `{}`: not a local directory, not in the Hugging Face cache ({}), and the hub \
             at {endpoint} cannot be reached: {e}",
            d.name,
            hub_cache_dir().display()
        ))
    };
    // The hub's own Parquet conversion of the split (the `refs/convert/parquet` branch).
    if d.data_files.is_none() && d.revision == "main" {
        let config = d.config.unwrap_or("default");
        let url = format!(
            "{endpoint}/api/datasets/{}/parquet/{config}/{}",
            d.name, d.split
        );
        if let Some(bytes) = storage::read_opt(Path::new(&url)).map_err(unreachable)? {
            let urls: Vec<String> = serde_json::from_slice(&bytes).map_err(|e| {
                MdfError::config(format!("{url} did not return a list of URLs: {e}"))
            })?;
            if !urls.is_empty() {
                return Ok(urls);
            }
        }
    }
    // The repository's files at `revision`.
    let mut rel = Vec::new();
    let found = list_tree(&endpoint, d, "", &mut rel).map_err(unreachable)?;
    if !found {
        return Err(MdfError::config(format!(
            "dataset `{}` (revision `{}`) not found on {endpoint}, nor as a local directory or \
             in the Hugging Face cache ({}); check the name, or set HF_TOKEN for a private or \
             gated dataset",
            d.name,
            d.revision,
            hub_cache_dir().display()
        )));
    }
    let chosen = select(&rel, d)
        .map_err(|e| MdfError::config(format!("dataset `{}` on {endpoint}: {e}", d.name)))?;
    let revision = encode_revision(d.revision);
    Ok(chosen
        .into_iter()
        .map(|p| format!("{endpoint}/datasets/{}/resolve/{revision}/{p}", d.name))
        .collect())
}

/// Lists the repository tree under `dir` recursively (one request per directory, so no query
/// strings or paging are needed). Returns false when the dataset or revision does not exist.
fn list_tree(endpoint: &str, d: &DatasetRef<'_>, dir: &str, out: &mut Vec<String>) -> Result<bool> {
    let mut url = format!(
        "{endpoint}/api/datasets/{}/tree/{}",
        d.name,
        encode_revision(d.revision)
    );
    if !dir.is_empty() {
        url = format!("{url}/{dir}");
    }
    let Some(bytes) = storage::read_opt(Path::new(&url))? else {
        return Ok(false);
    };
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&bytes)
        .map_err(|e| MdfError::config(format!("{url} did not return a file list: {e}")))?;
    for entry in entries {
        let (Some(kind), Some(path)) = (
            entry.get("type").and_then(|t| t.as_str()),
            entry.get("path").and_then(|p| p.as_str()),
        ) else {
            continue;
        };
        let hidden = path
            .rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with('.') || n.starts_with('_'));
        if hidden {
            continue;
        }
        match kind {
            "directory" => {
                list_tree(endpoint, d, path, out)?;
            }
            "file" => out.push(path.to_owned()),
            _ => {}
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d<'a>(split: &'a str, data_files: Option<&'a [String]>) -> DatasetRef<'a> {
        DatasetRef {
            name: "x",
            split,
            config: None,
            revision: "main",
            data_files,
        }
    }

    #[test]
    fn split_names_need_separators() {
        assert!(names_split("data/train-00000-of-00002.parquet", "train"));
        assert!(names_split("train/0000.parquet", "train"));
        assert!(names_split("default/test/0.parquet", "test"));
        assert!(names_split("test.parquet", "test"));
        assert!(!names_split("data/contest-0.parquet", "test"));
        assert!(!names_split("trainer.parquet", "train"));
    }

    #[test]
    fn selects_the_split_or_everything_as_train() {
        let files: Vec<String> = [
            "README.md",
            "data/train-00001-of-00002.parquet",
            "data/train-00000-of-00002.parquet",
            "data/test-00000-of-00001.parquet",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            select(&files, &d("train", None)).unwrap(),
            [
                "data/train-00000-of-00002.parquet",
                "data/train-00001-of-00002.parquet"
            ]
        );
        assert_eq!(
            select(&files, &d("test", None)).unwrap(),
            ["data/test-00000-of-00001.parquet"]
        );
        assert!(select(&files, &d("validation", None))
            .unwrap_err()
            .contains("split `validation`"));
        let plain = vec!["a.parquet".to_owned(), "b/c.arrow".to_owned()];
        assert_eq!(select(&plain, &d("train", None)).unwrap(), plain);
        let patterns = vec!["data/*-00000-*.parquet".to_owned()];
        assert_eq!(
            select(&files, &d("train", Some(&patterns))).unwrap().len(),
            2
        );
        let none = vec!["nothing/*.parquet".to_owned()];
        assert!(select(&files, &d("train", Some(&none))).is_err());
    }

    #[test]
    fn hub_ids_and_revisions() {
        assert!(is_hub_id("org/name") && is_hub_id("squad") && is_hub_id("a.b/c-d_e"));
        assert!(!is_hub_id("/abs/path") && !is_hub_id("a/b/c") && !is_hub_id("../x"));
        assert_eq!(
            encode_revision("refs/convert/parquet"),
            "refs%2Fconvert%2Fparquet"
        );
    }
}
