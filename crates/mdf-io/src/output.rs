//! Atomic, deterministic output files for one shard, shared by the writers. A file is written as
//! `.{name}.tmp` next to its final name and renamed once complete, so a reader never sees a
//! partial file; names derive only from the shard index and a sequence number, so a rerun of
//! the shard replaces exactly what an earlier attempt left (stale files of the shard are removed
//! when it is opened again).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use mdf_core::io::shard_file_prefix;
use mdf_core::{MdfError, Result};

use crate::storage::{self, OutputFile};

/// The data directory: `output_path`, or `output_path/table_name` when a table name is set.
pub(crate) fn data_dir(output_path: &Path, table_name: Option<&str>) -> PathBuf {
    match table_name {
        Some(table) => output_path.join(table),
        None => output_path.to_path_buf(),
    }
}

/// Checks a `table_name` param: one plain directory name.
pub(crate) fn check_table_name(table_name: Option<&str>) -> std::result::Result<(), String> {
    match table_name {
        Some(t) if t.is_empty() || t.contains(['/', '\\']) || t.starts_with('.') || t == "_mdf" => {
            Err(format!(
                "`table_name` must be a plain directory name (no `/`, not starting with `.`, not `_mdf`), got `{t}`"
            ))
        }
        _ => Ok(()),
    }
}

/// Checks a writer's `exclude_columns` param: non-empty names, each once.
pub(crate) fn check_exclude_columns(names: &[String]) -> std::result::Result<(), String> {
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err("`exclude_columns` must not hold an empty name".into());
        }
        if names[..i].contains(name) {
            return Err(format!("`exclude_columns` names `{name}` twice"));
        }
    }
    Ok(())
}

/// `batch` without the columns of a writer's `exclude_columns` (a profiling run's annotations
/// without the image bytes, say). A name the records do not have is an error, naming the
/// columns they have: a misspelt name would otherwise write the column it meant to leave out.
pub(crate) fn without_columns(batch: &RecordBatch, exclude: &[String]) -> Result<RecordBatch> {
    if exclude.is_empty() {
        return Ok(batch.clone());
    }
    let schema = batch.schema_ref();
    if let Some(missing) = exclude.iter().find(|name| schema.index_of(name).is_err()) {
        let have: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        return Err(MdfError::config(format!(
            "`exclude_columns`: the records have no column `{missing}` (they have: {})",
            have.join(", ")
        )));
    }
    let keep: Vec<usize> = (0..batch.num_columns())
        .filter(|&i| !exclude.contains(schema.field(i).name()))
        .collect();
    batch
        .project(&keep)
        .map_err(|e| MdfError::internal(format!("leaving out `exclude_columns`: {e}")))
}

/// The files of one shard: `{prefix}{seq:04}{extension}`.
pub(crate) struct ShardFiles {
    dir: PathBuf,
    prefix: String,
    extension: String,
    next_seq: usize,
    /// Final path of the file being written, if any.
    current: Option<PathBuf>,
    published: Vec<String>,
}

impl ShardFiles {
    /// Creates `dir` if needed and removes files an earlier attempt at this shard left behind.
    /// `dir` may be a local directory or an object-store prefix (see [`crate::storage`]).
    pub fn open(dir: &Path, shard_index: usize, extension: &str) -> Result<ShardFiles> {
        storage::create_dir_all(dir)?;
        let prefix = shard_file_prefix(shard_index);
        let hidden = format!(".{prefix}");
        let tmp_ext = format!("{extension}.tmp");
        for name in storage::list_file_names_with_prefix(dir, &prefix)? {
            let stale = (name.starts_with(&prefix) && name.ends_with(extension))
                || (name.starts_with(&hidden) && name.ends_with(&tmp_ext));
            if stale {
                storage::remove_file_if_exists(&dir.join(&name))?;
            }
        }
        Ok(ShardFiles {
            dir: dir.to_path_buf(),
            prefix,
            extension: extension.to_owned(),
            next_seq: 0,
            current: None,
            published: Vec::new(),
        })
    }

    /// Starts the next file of the shard (invisible until [`Self::publish`]).
    pub fn create(&mut self) -> Result<OutputFile> {
        if self.current.is_some() {
            return Err(MdfError::internal("a shard file was started twice"));
        }
        let name = format!("{}{:04}{}", self.prefix, self.next_seq, self.extension);
        let path = self.dir.join(&name);
        let file = OutputFile::create(&path)?;
        self.next_seq += 1;
        self.current = Some(path);
        Ok(file)
    }

    /// Commits the finished file under its final name.
    pub fn publish(&mut self, file: OutputFile) -> Result<()> {
        let path = self
            .current
            .take()
            .ok_or_else(|| MdfError::internal("publishing a shard file that was not started"))?;
        file.commit()?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| MdfError::internal("shard file without a name"))?;
        self.published.push(name.to_owned());
        Ok(())
    }

    /// Path of the file being written (for error messages).
    pub fn current_path(&self) -> &Path {
        self.current.as_deref().unwrap_or(&self.dir)
    }

    /// The published file names, in order.
    pub fn finish(self) -> Vec<String> {
        self.published
    }
}

/// A writer that counts the bytes that reach it (for file size targets).
pub(crate) struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> CountingWriter<W> {
    pub fn new(inner: W) -> Self {
        CountingWriter { inner, count: 0 }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn publishes_atomically_and_cleans_stale_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let mut files = ShardFiles::open(&dir, 3, ".jsonl").unwrap();
        let mut f = files.create().unwrap();
        f.write_all(b"x").unwrap();
        assert!(dir.join(".part-000003-0000.jsonl.tmp").exists());
        files.publish(f).unwrap();
        let f = files.create().unwrap();
        files.publish(f).unwrap();
        assert_eq!(
            files.finish(),
            ["part-000003-0000.jsonl", "part-000003-0001.jsonl"]
        );
        fs::write(dir.join("part-000004-0000.jsonl"), b"other shard").unwrap();
        fs::write(dir.join(".part-000003-0007.jsonl.tmp"), b"crashed").unwrap();

        // Reopening the shard removes its old files only.
        let mut again = ShardFiles::open(&dir, 3, ".jsonl").unwrap();
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["part-000004-0000.jsonl"]);

        // Dropping an unfinished writer removes its temporary file.
        let f = again.create().unwrap();
        drop(f);
        drop(again);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn table_names_are_plain_directory_names() {
        assert!(check_table_name(None).is_ok());
        assert!(check_table_name(Some("docs")).is_ok());
        for bad in ["", "a/b", ".x", "_mdf"] {
            assert!(check_table_name(Some(bad)).is_err(), "{bad}");
        }
    }
}
