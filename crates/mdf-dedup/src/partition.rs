//! On-disk formats of the global phases, and the pure functions between them. Everything is
//! little-endian and written whole by the caller (atomically, under `_mdf/`).
//!
//! - **Key file** (one per shard): the records of every partition, partition after partition:
//!   `key u128 · doc u64 · payload length u32 · payload`; then a footer of `partitions + 1`
//!   section offsets (u64), the partition count (u32) and the magic `MDFK`. A group task seeks
//!   to its section in every shard's file. 28 bytes per record plus the payload.
//! - **Groups file** (one per partition, [`Grouping::Connected`] only): `n u32 · n × doc u64`
//!   per group.
//! - **Cluster file**: one 20-byte entry per cluster member, sorted by document:
//!   `doc u64 · keeper u64 · cluster size u32`; then a footer of `shards + 1` offsets (u64), the
//!   shard count (u32) and the magic `MDFC`, so a filter task reads only its shard's entries.
//! - **Edits file** (one per shard, [`Grouping::Sequential`] only): per edited document, sorted
//!   by document: `doc u64 · edit length u32 · edit`.
//! - **Set file** (one per shard, only for an operator that verifies candidate pairs,
//!   `GlobalOperator::jaccard_threshold`): per document with a set, sorted by document:
//!   `doc u64 · n u32 · n × hash u64` (sorted, unique). 12 bytes plus 8 per hash; the merge
//!   phase streams it and keeps only the candidates' sets ([`CandidateSets`]).
//!
//! The files live in the run directory, a local path or an object store (`mdf_io::storage`);
//! only the pieces of a partition split to fit a memory budget are local scratch files.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use hashbrown::HashMap;
use mdf_core::global::{DocId, FitSample, GlobalOperator, KeyRecord};
use mdf_core::{MdfError, Result};
use mdf_io::storage::InputFile;
use xxhash_rust::xxh3::xxh3_64_with_seed;

const KEY_MAGIC: &[u8; 4] = b"MDFK";
const CLUSTER_MAGIC: &[u8; 4] = b"MDFC";
/// Bytes of one key record without its payload.
pub const KEY_RECORD_BYTES: usize = 16 + 8 + 4;
/// Bytes of one cluster-file entry.
pub const CLUSTER_ENTRY_BYTES: usize = 8 + 8 + 4;

/// The partition of a key: a multiply-shift of its high 64 bits (keys are uniform hashes).
pub fn partition_of(key: u128, partitions: usize) -> usize {
    (((key >> 64) as u64 as u128 * partitions as u128) >> 64) as usize
}

/// The piece of a key inside its partition when a group task splits the partition to stay in
/// its memory budget: a multiply-shift of a mix of both halves, independent of [`partition_of`]
/// (and spread even for small keys such as cluster numbers).
pub fn piece_of(key: u128, pieces: usize) -> usize {
    let mut x = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
    // splitmix64's finaliser.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    ((x as u128 * pieces as u128) >> 64) as usize
}

fn encode_record(out: &mut Vec<u8>, key: u128, doc: DocId, payload: &[u8]) {
    out.extend_from_slice(&key.to_le_bytes());
    out.extend_from_slice(&doc.0.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Accumulates one shard's key records, per partition.
#[derive(Debug)]
pub struct KeyFileWriter {
    sections: Vec<Vec<u8>>,
    records: u64,
}

impl KeyFileWriter {
    pub fn new(partitions: usize) -> Self {
        KeyFileWriter {
            sections: vec![Vec::new(); partitions.max(1)],
            records: 0,
        }
    }

    pub fn push(&mut self, key: u128, doc: DocId, payload: &[u8]) {
        let p = partition_of(key, self.sections.len());
        encode_record(&mut self.sections[p], key, doc, payload);
        self.records += 1;
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    /// The file's bytes.
    pub fn finish(self) -> Vec<u8> {
        let total: usize = self.sections.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(total + 8 * (self.sections.len() + 1) + 8);
        let mut offsets = vec![0u64];
        for section in &self.sections {
            out.extend_from_slice(section);
            offsets.push(out.len() as u64);
        }
        for offset in &offsets {
            out.extend_from_slice(&offset.to_le_bytes());
        }
        out.extend_from_slice(&(self.sections.len() as u32).to_le_bytes());
        out.extend_from_slice(KEY_MAGIC);
        out
    }
}

/// The byte range `[offsets[i], offsets[i+1])` of a file that ends with
/// `offsets · count u32 · magic` (reads the footer only).
fn indexed_section_range(
    file: &mut InputFile,
    path: &Path,
    magic: &[u8; 4],
    index: usize,
) -> Result<(u64, u64)> {
    let io = |e| MdfError::io(path, e);
    let corrupt = |what: &str| {
        MdfError::internal(format!(
            "{}: {what}; delete the run's _mdf/global folder to recompute it",
            path.display()
        ))
    };
    let len = file.len();
    if len < 8 {
        return Err(corrupt("file too short"));
    }
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8)).map_err(io)?;
    file.read_exact(&mut tail).map_err(io)?;
    if &tail[4..] != magic {
        return Err(corrupt("bad magic"));
    }
    let count = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize;
    if index >= count {
        return Err(corrupt(&format!("section {index} of {count}")));
    }
    let footer = 8 * (count as u64 + 1) + 8;
    if len < footer {
        return Err(corrupt("footer too short"));
    }
    let mut pair = [0u8; 16];
    file.seek(SeekFrom::Start(len - footer + 8 * index as u64))
        .map_err(io)?;
    file.read_exact(&mut pair).map_err(io)?;
    let start = u64::from_le_bytes(pair[..8].try_into().unwrap_or_default());
    let end = u64::from_le_bytes(pair[8..].try_into().unwrap_or_default());
    if start > end || end > len - footer {
        return Err(corrupt("bad section offsets"));
    }
    Ok((start, end))
}

/// Reads the byte range `[offsets[i], offsets[i+1])` of `file` (at `path`), which ends with
/// `offsets · count u32 · magic`.
fn read_indexed_section(
    mut file: InputFile,
    path: &Path,
    magic: &[u8; 4],
    index: usize,
) -> Result<Vec<u8>> {
    let io = |e| MdfError::io(path, e);
    let (start, end) = indexed_section_range(&mut file, path, magic, index)?;
    let mut bytes = vec![0u8; (end - start) as usize];
    file.seek(SeekFrom::Start(start)).map_err(io)?;
    file.read_exact(&mut bytes).map_err(io)?;
    Ok(bytes)
}

/// The bytes of partition `partition` over the key files in `paths` (footers only; missing
/// files hold nothing): what a group task reads.
pub fn partition_bytes(paths: &[PathBuf], partition: usize) -> Result<u64> {
    let mut total = 0;
    for path in paths {
        if let Some(mut file) = open_opt(path)? {
            let (start, end) = indexed_section_range(&mut file, path, KEY_MAGIC, partition)?;
            total += end - start;
        }
    }
    Ok(total)
}

/// Opens a file of the run directory (local or an object) for reading; `None` when it does not
/// exist (a shard without rows writes no key or set file).
fn open_opt(path: &Path) -> Result<Option<InputFile>> {
    InputFile::open_opt(&path.to_string_lossy())
}

/// Partition `partition` of one shard's key file, `None` when the shard wrote none.
fn key_file_section(path: &Path, partition: usize) -> Result<Option<Vec<u8>>> {
    open_opt(path)?
        .map(|file| read_indexed_section(file, path, KEY_MAGIC, partition))
        .transpose()
}

/// Memory a group task needs for `bytes` of key records: the bytes plus one parsed
/// [`KeyRecord`] per record (at most one per [`KEY_RECORD_BYTES`]).
pub fn group_memory(bytes: u64) -> u64 {
    bytes + bytes / KEY_RECORD_BYTES as u64 * std::mem::size_of::<KeyRecord<'_>>() as u64
}

/// Splits partition `partition` of the key files in `paths` into `pieces` key-disjoint files
/// `dir/piece-NNNNNN` (by [`piece_of`]), reading one shard's section at a time. Records keep
/// their order within each piece. Returns the pieces' paths (a piece may be empty).
pub fn split_partition(
    paths: &[PathBuf],
    partition: usize,
    pieces: usize,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| MdfError::io(dir, e))?;
    let piece_paths: Vec<PathBuf> = (0..pieces)
        .map(|i| dir.join(format!("piece-{i:06}")))
        .collect();
    let mut writers = piece_paths
        .iter()
        .map(|p| {
            File::create(p)
                .map(std::io::BufWriter::new)
                .map_err(|e| MdfError::io(p, e))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut scratch = Vec::new();
    for path in paths {
        let Some(section) = key_file_section(path, partition)? else {
            continue;
        };
        let mut records = Vec::new();
        parse_records(&section, &mut records)?;
        for r in &records {
            let i = piece_of(r.key, pieces);
            scratch.clear();
            encode_record(&mut scratch, r.key, r.doc, r.payload);
            writers[i]
                .write_all(&scratch)
                .map_err(|e| MdfError::io(&piece_paths[i], e))?;
        }
    }
    for (w, p) in writers.iter_mut().zip(&piece_paths) {
        w.flush().map_err(|e| MdfError::io(p, e))?;
    }
    Ok(piece_paths)
}

/// One partition's records, read from every shard's key file.
#[derive(Debug, Default)]
pub struct PartitionData {
    bytes: Vec<Vec<u8>>,
}

impl PartitionData {
    /// The records of a piece written by [`split_partition`].
    pub fn read_piece(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| MdfError::io(path, e))?;
        Ok(PartitionData { bytes: vec![bytes] })
    }

    /// Reads partition `partition` of each key file in `paths` (missing files: shards without
    /// rows, which write none).
    pub fn read(paths: &[PathBuf], partition: usize) -> Result<Self> {
        let mut bytes = Vec::with_capacity(paths.len());
        for path in paths {
            bytes.extend(key_file_section(path, partition)?);
        }
        Ok(PartitionData { bytes })
    }

    /// The records, sorted by (key, doc).
    pub fn records(&self) -> Result<Vec<KeyRecord<'_>>> {
        let mut out = self.records_in_document_order()?;
        out.sort_unstable_by_key(|r| (r.key, r.doc));
        Ok(out)
    }

    /// The records sorted by document, each document's records in the order they were
    /// written (the order of the sequential scan).
    pub fn records_in_document_order(&self) -> Result<Vec<KeyRecord<'_>>> {
        let mut out = Vec::new();
        for section in &self.bytes {
            parse_records(section, &mut out)?;
        }
        // Stable: a document's records keep their written order.
        out.sort_by_key(|r| r.doc);
        Ok(out)
    }
}

/// Appends the records of a run of key records (a section, or a whole key file's body).
fn parse_records<'a>(mut rest: &'a [u8], out: &mut Vec<KeyRecord<'a>>) -> Result<()> {
    while !rest.is_empty() {
        if rest.len() < KEY_RECORD_BYTES {
            return Err(MdfError::internal("truncated key record"));
        }
        let key = u128::from_le_bytes(rest[..16].try_into().unwrap_or_default());
        let doc = u64::from_le_bytes(rest[16..24].try_into().unwrap_or_default());
        let len = u32::from_le_bytes(rest[24..28].try_into().unwrap_or_default()) as usize;
        let end = KEY_RECORD_BYTES + len;
        if rest.len() < end {
            return Err(MdfError::internal("truncated key payload"));
        }
        out.push(KeyRecord {
            key,
            doc: DocId(doc),
            payload: &rest[KEY_RECORD_BYTES..end],
        });
        rest = &rest[end..];
    }
    Ok(())
}

/// Every record of a whole key file's bytes (all partitions), in file order.
pub fn key_file_records(bytes: &[u8]) -> Result<Vec<KeyRecord<'_>>> {
    let corrupt = |what: &str| MdfError::internal(format!("key file: {what}"));
    let len = bytes.len();
    if len < 8 || &bytes[len - 4..] != KEY_MAGIC {
        return Err(corrupt("bad magic"));
    }
    let count = u32::from_le_bytes(bytes[len - 8..len - 4].try_into().unwrap_or_default()) as usize;
    let footer = 8 * (count + 1) + 8;
    if len < footer {
        return Err(corrupt("footer too short"));
    }
    // The last section offset is the end of the records.
    let at = len - 16;
    let end = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default()) as usize;
    if end > len - footer {
        return Err(corrupt("bad section offsets"));
    }
    let mut out = Vec::new();
    parse_records(&bytes[..end], &mut out)?;
    Ok(out)
}

/// The rank of a document in a [`FitSample`]: lower ranks are sampled first.
pub fn sample_rank(sample: FitSample, doc: DocId) -> u64 {
    xxh3_64_with_seed(&doc.0.to_le_bytes(), sample.seed)
}

/// The `sample.size` records of `records` with the lowest [`sample_rank`] (ties by document),
/// sorted by document. The sample of a union of shards is the sample of their samples, so each
/// shard keeps its own and the fit phase samples those.
pub fn fit_sample_of(mut records: Vec<KeyRecord<'_>>, sample: FitSample) -> Vec<KeyRecord<'_>> {
    let rank = |r: &KeyRecord<'_>| (sample_rank(sample, r.doc), r.doc);
    if records.len() > sample.size {
        if sample.size == 0 {
            return Vec::new();
        }
        records.select_nth_unstable_by_key(sample.size - 1, rank);
        records.truncate(sample.size);
    }
    records.sort_unstable_by_key(|r| r.doc);
    records
}

/// [`fit_sample_of`] `records`, encoded as a key file of one partition (a shard's sample file,
/// or the fit phase's running sample).
pub fn encode_fit_sample(records: Vec<KeyRecord<'_>>, sample: FitSample) -> Vec<u8> {
    let mut out = KeyFileWriter::new(1);
    for r in fit_sample_of(records, sample) {
        out.push(r.key, r.doc, r.payload);
    }
    out.finish()
}

/// One document's edit, decided by a sequential scan.
pub type Edit = (DocId, Vec<u8>);

/// Encodes one shard's edits (sorted by document).
pub fn encode_edits(edits: &[Edit]) -> Vec<u8> {
    let total: usize = edits.iter().map(|(_, e)| 12 + e.len()).sum();
    let mut out = Vec::with_capacity(total);
    for (doc, edit) in edits {
        out.extend_from_slice(&doc.0.to_le_bytes());
        out.extend_from_slice(&(edit.len() as u32).to_le_bytes());
        out.extend_from_slice(edit);
    }
    out
}

/// Decodes an edits file.
pub fn decode_edits(mut bytes: &[u8]) -> Result<Vec<Edit>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 12 {
            return Err(MdfError::internal("truncated edits file"));
        }
        let doc = u64::from_le_bytes(bytes[..8].try_into().unwrap_or_default());
        let len = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default()) as usize;
        if bytes.len() < 12 + len {
            return Err(MdfError::internal("truncated edit"));
        }
        out.push((DocId(doc), bytes[12..12 + len].to_vec()));
        bytes = &bytes[12 + len..];
    }
    Ok(out)
}

/// One member of a duplicate cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClusterEntry {
    pub doc: DocId,
    /// The member kept: the lowest `DocId` of the cluster.
    pub keeper: DocId,
    pub size: u32,
}

/// Runs the operator's grouping over one partition and calls `emit` per group.
pub fn group_partition(
    op: &mut dyn GlobalOperator,
    data: &PartitionData,
    emit: &mut dyn FnMut(&[DocId], &[u8]),
) -> Result<()> {
    let records = data.records()?;
    op.group(&records, emit)
}

/// The cluster entries of disjoint groups (each group is a whole cluster).
pub fn clusters_of_groups(groups: impl IntoIterator<Item = Vec<DocId>>) -> Vec<ClusterEntry> {
    let mut entries = Vec::new();
    for mut group in groups {
        group.sort_unstable();
        group.dedup();
        if group.len() < 2 {
            continue;
        }
        let keeper = group[0];
        let size = group.len() as u32;
        entries.extend(
            group
                .into_iter()
                .map(|doc| ClusterEntry { doc, keeper, size }),
        );
    }
    entries.sort_unstable();
    entries
}

/// The cluster entries of groups whose every document is dropped (a selecting operator, see
/// `GlobalOperator::drops_groups`): keeper [`DocId::DROPPED`], size = the number dropped.
pub fn dropped_entries(groups: impl IntoIterator<Item = Vec<DocId>>) -> Vec<ClusterEntry> {
    let mut docs: Vec<DocId> = groups.into_iter().flatten().collect();
    docs.sort_unstable();
    docs.dedup();
    let size = u32::try_from(docs.len()).unwrap_or(u32::MAX);
    docs.into_iter()
        .map(|doc| ClusterEntry {
            doc,
            keeper: DocId::DROPPED,
            size,
        })
        .collect()
}

/// A group of duplicates and its sort key.
pub type Group = (Vec<DocId>, Vec<u8>);

/// Encodes groups for the merge phase.
pub fn encode_groups(groups: &[Group]) -> Vec<u8> {
    let mut out = Vec::new();
    for (group, key) in groups {
        out.extend_from_slice(&(group.len() as u32).to_le_bytes());
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key);
        for doc in group {
            out.extend_from_slice(&doc.0.to_le_bytes());
        }
    }
    out
}

/// Decodes a groups file.
pub fn decode_groups(mut bytes: &[u8]) -> Result<Vec<Group>> {
    let truncated = || MdfError::internal("truncated groups file");
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 8 {
            return Err(truncated());
        }
        let n = u32::from_le_bytes(bytes[..4].try_into().unwrap_or_default()) as usize;
        let k = u32::from_le_bytes(bytes[4..8].try_into().unwrap_or_default()) as usize;
        let end = 8 + k + 8 * n;
        if bytes.len() < end {
            return Err(truncated());
        }
        let key = bytes[8..8 + k].to_vec();
        let docs = bytes[8 + k..end]
            .chunks_exact(8)
            .map(|c| DocId(u64::from_le_bytes(c.try_into().unwrap_or_default())))
            .collect();
        out.push((docs, key));
        bytes = &bytes[end..];
    }
    Ok(out)
}

/// Union–find over documents met in groups. Memory: about 24 bytes per document that has at
/// least one candidate duplicate (documents in no group are never stored).
#[derive(Debug, Default)]
pub struct DocUnion {
    index: HashMap<u64, u32>,
    docs: Vec<DocId>,
    parent: Vec<u32>,
    /// Set sizes by root (only for `union_by_size`).
    size: Vec<u32>,
}

impl DocUnion {
    fn node(&mut self, doc: DocId) -> u32 {
        if let Some(&i) = self.index.get(&doc.0) {
            return i;
        }
        let i = self.docs.len() as u32;
        self.index.insert(doc.0, i);
        self.docs.push(doc);
        self.parent.push(i);
        i
    }

    fn root(&mut self, mut i: u32) -> u32 {
        while self.parent[i as usize] != i {
            let grand = self.parent[self.parent[i as usize] as usize];
            self.parent[i as usize] = grand;
            i = grand;
        }
        i
    }

    /// Joins every document of `group` into one cluster. The root is the lower index, so the
    /// result does not depend on the order of unions (the keeper is chosen afterwards anyway).
    pub fn union_group(&mut self, group: &[DocId]) {
        let Some((&first, rest)) = group.split_first() else {
            return;
        };
        let a = self.node(first);
        for &doc in rest {
            let b = self.node(doc);
            let (ra, rb) = (self.root(a), self.root(b));
            if ra != rb {
                let (lo, hi) = (ra.min(rb), ra.max(rb));
                self.parent[hi as usize] = lo;
            }
        }
    }

    /// Adds the groups of an encoded groups file.
    pub fn add_encoded(&mut self, bytes: &[u8]) -> Result<()> {
        for (group, _) in decode_groups(bytes)? {
            self.union_group(&group);
        }
        Ok(())
    }

    /// datatrove's union: the root of the smaller set joins the larger; on a tie `a`'s root
    /// stays the root.
    pub fn union_by_size(&mut self, a: DocId, b: DocId) {
        let (a, b) = (self.node(a), self.node(b));
        let (mut ra, mut rb) = (self.root(a), self.root(b));
        if ra == rb {
            return;
        }
        self.size.resize(self.docs.len(), 1);
        if self.size[ra as usize] < self.size[rb as usize] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb as usize] = ra;
        self.size[ra as usize] += self.size[rb as usize];
    }

    /// Every member of every cluster, sorted by document; the keeper is the union–find root
    /// (use with [`DocUnion::union_by_size`]).
    pub fn into_root_clusters(mut self) -> Vec<ClusterEntry> {
        let n = self.docs.len();
        let roots: Vec<u32> = (0..n as u32).map(|i| self.root(i)).collect();
        let mut size = vec![0u32; n];
        for &r in &roots {
            size[r as usize] += 1;
        }
        let mut entries: Vec<ClusterEntry> = roots
            .iter()
            .enumerate()
            .filter(|(_, &r)| size[r as usize] > 1)
            .map(|(i, &r)| ClusterEntry {
                doc: self.docs[i],
                keeper: self.docs[r as usize],
                size: size[r as usize],
            })
            .collect();
        entries.sort_unstable();
        entries
    }

    /// Every member of every cluster, sorted by document; the keeper is the cluster's lowest id.
    pub fn into_clusters(mut self) -> Vec<ClusterEntry> {
        let n = self.docs.len();
        let roots: Vec<u32> = (0..n as u32).map(|i| self.root(i)).collect();
        let mut keeper = vec![DocId(u64::MAX); n];
        let mut size = vec![0u32; n];
        for (i, &r) in roots.iter().enumerate() {
            keeper[r as usize] = keeper[r as usize].min(self.docs[i]);
            size[r as usize] += 1;
        }
        let mut entries: Vec<ClusterEntry> = roots
            .iter()
            .enumerate()
            .filter(|(_, &r)| size[r as usize] > 1)
            .map(|(i, &r)| ClusterEntry {
                doc: self.docs[i],
                keeper: keeper[r as usize],
                size: size[r as usize],
            })
            .collect();
        entries.sort_unstable();
        entries
    }
}

/// Bytes of one set-file record without its hashes.
pub const SET_RECORD_BYTES: usize = 8 + 4;

/// Appends one set-file record: document `doc`'s set (sorted, unique hashes).
pub fn encode_set_record(doc: DocId, set: &[u64], out: &mut Vec<u8>) {
    out.reserve(SET_RECORD_BYTES + 8 * set.len());
    out.extend_from_slice(&doc.0.to_le_bytes());
    out.extend_from_slice(&(set.len() as u32).to_le_bytes());
    for h in set {
        out.extend_from_slice(&h.to_le_bytes());
    }
}

/// The Jaccard similarity |a ∩ b| / |a ∪ b| of two sorted sets of unique hashes (1 when both
/// are empty).
pub fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - common;
    if union == 0 {
        1.0
    } else {
        common as f64 / union as f64
    }
}

/// Whether two sets are at least `threshold` similar. Jaccard ≤ min(|a|, |b|) / max(|a|, |b|),
/// so sets of very different sizes are rejected without comparing their hashes.
fn similar_sets(a: &[u64], b: &[u64], threshold: f64) -> bool {
    let (small, large) = (a.len().min(b.len()), a.len().max(b.len()));
    if large > 0 && (small as f64) < threshold * large as f64 {
        return false;
    }
    jaccard(a, b) >= threshold
}

/// The sets of the candidate documents (those in a group of two or more), read from the set
/// files. Memory: about 12 bytes per candidate plus its set (8 bytes per hash); documents that
/// are no candidate are skipped while streaming.
#[derive(Debug, Default)]
pub struct CandidateSets {
    /// The candidates, sorted and unique.
    docs: Vec<DocId>,
    /// Start of each candidate's set in `values`; `u64::MAX` until read.
    starts: Vec<u64>,
    lens: Vec<u32>,
    values: Vec<u64>,
}

impl CandidateSets {
    /// Prepares to read the sets of `docs` (any order, repeats allowed).
    pub fn new(mut docs: Vec<DocId>) -> Self {
        docs.sort_unstable();
        docs.dedup();
        let n = docs.len();
        CandidateSets {
            docs,
            starts: vec![u64::MAX; n],
            lens: vec![0; n],
            values: Vec::new(),
        }
    }

    /// Number of candidate documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Reads the candidates' sets from one set file, skipping the other documents; a missing
    /// file (a shard without rows) has none. Returns the file's size (0 when missing).
    pub fn read_set_file(&mut self, path: &Path) -> Result<u64> {
        let Some(file) = open_opt(path)? else {
            return Ok(0);
        };
        let size = file.len();
        let corrupt = || {
            MdfError::internal(format!(
                "{}: truncated set file; delete the run's _mdf/global folder to recompute it",
                path.display()
            ))
        };
        let io = |e| MdfError::io(path, e);
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut header = [0u8; SET_RECORD_BYTES];
        loop {
            // End of file only at a record boundary.
            match reader.read(&mut header[..1]).map_err(io)? {
                0 => return Ok(size),
                _ => reader.read_exact(&mut header[1..]).map_err(|_| corrupt())?,
            }
            let doc = DocId(u64::from_le_bytes(
                header[..8].try_into().unwrap_or_default(),
            ));
            let n = u32::from_le_bytes(header[8..].try_into().unwrap_or_default());
            let bytes = 8 * u64::from(n);
            let Ok(i) = self.docs.binary_search(&doc) else {
                let skip = i64::try_from(bytes).map_err(|_| corrupt())?;
                reader.seek_relative(skip).map_err(io)?;
                continue;
            };
            let start = self.values.len();
            let mut raw = vec![0u8; bytes as usize];
            reader.read_exact(&mut raw).map_err(|_| corrupt())?;
            self.values.extend(
                raw.chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())),
            );
            self.starts[i] = start as u64;
            self.lens[i] = n;
        }
    }

    /// The set of candidate `doc`; an error when it was never read (a set file is missing a
    /// document that has keys).
    pub fn set(&self, doc: DocId) -> Result<&[u64]> {
        let missing = || {
            MdfError::internal(format!(
                "no shingle set for document {} (shard {}, row {}); delete the run's \
                 _mdf/global folder to recompute it",
                doc.0,
                doc.shard(),
                doc.row()
            ))
        };
        let i = self.docs.binary_search(&doc).map_err(|_| missing())?;
        let start = self.starts[i];
        if start == u64::MAX {
            return Err(missing());
        }
        let start = start as usize;
        Ok(&self.values[start..start + self.lens[i] as usize])
    }
}

/// What the verification of candidate pairs did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyCounts {
    /// Documents in a group of two or more (whose sets were loaded).
    pub candidate_docs: u64,
    /// Pairs whose sets were compared.
    pub pairs_checked: u64,
    /// Pairs compared and found below the threshold.
    pub pairs_rejected: u64,
    /// Bytes of the set files read (what verification cost on disk).
    pub set_file_bytes: u64,
}

/// Joins the members of one group (documents ascending) whose sets are similar: member i joins
/// the first earlier member (in document order) whose Jaccard with it is at least `threshold`,
/// the group's first member compared first, so exact duplicates cost one comparison. A member
/// similar to no earlier member is left out of this group's union. The joins depend only on the
/// group and the sets, so the clusters do not depend on the order groups are visited.
pub fn union_verified_group(
    group: &[DocId],
    sets: &CandidateSets,
    threshold: f64,
    union: &mut DocUnion,
    counts: &mut VerifyCounts,
) -> Result<()> {
    for (i, &doc) in group.iter().enumerate().skip(1) {
        let set = sets.set(doc)?;
        for &earlier in &group[..i] {
            counts.pairs_checked += 1;
            if similar_sets(set, sets.set(earlier)?, threshold) {
                union.union_group(&[earlier, doc]);
                break;
            }
            counts.pairs_rejected += 1;
        }
    }
    Ok(())
}

/// Encodes cluster entries (sorted by doc) with a per-shard index for `shards` shards.
pub fn encode_clusters(entries: &[ClusterEntry], shards: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * CLUSTER_ENTRY_BYTES + 8 * (shards + 2));
    let mut offsets = Vec::with_capacity(shards + 1);
    let mut next = 0;
    for shard in 0..=shards {
        while next < entries.len() && entries[next].doc.shard() < shard {
            next += 1;
        }
        offsets.push((next * CLUSTER_ENTRY_BYTES) as u64);
    }
    for e in entries {
        out.extend_from_slice(&e.doc.0.to_le_bytes());
        out.extend_from_slice(&e.keeper.0.to_le_bytes());
        out.extend_from_slice(&e.size.to_le_bytes());
    }
    for offset in offsets {
        out.extend_from_slice(&offset.to_le_bytes());
    }
    out.extend_from_slice(&(shards as u32).to_le_bytes());
    out.extend_from_slice(CLUSTER_MAGIC);
    out
}

/// The entries of shard `shard` in a cluster file, sorted by row.
pub fn read_shard_clusters(path: &Path, shard: usize) -> Result<Vec<ClusterEntry>> {
    // Offsets `shard` and `shard + 1` bound the shard's entries: section `shard`.
    let file = InputFile::open(&path.to_string_lossy())?;
    let bytes = read_indexed_section(file, path, CLUSTER_MAGIC, shard)?;
    Ok(bytes
        .chunks_exact(CLUSTER_ENTRY_BYTES)
        .map(|c| ClusterEntry {
            doc: DocId(u64::from_le_bytes(c[..8].try_into().unwrap_or_default())),
            keeper: DocId(u64::from_le_bytes(c[8..16].try_into().unwrap_or_default())),
            size: u32::from_le_bytes(c[16..20].try_into().unwrap_or_default()),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn d(shard: usize, row: u64) -> DocId {
        DocId::new(shard, row).unwrap()
    }

    #[test]
    fn partitions_cover_the_range() {
        assert_eq!(partition_of(0, 7), 0);
        assert_eq!(partition_of(u128::MAX, 7), 6);
    }

    #[test]
    fn key_file_sections_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = KeyFileWriter::new(4);
        for i in 0..100u64 {
            let key = u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834) ^ 77;
            w.push(key, d(3, i), &i.to_le_bytes()[..(i % 3) as usize]);
        }
        let path = tmp.path().join("k.bin");
        std::fs::write(&path, w.finish()).unwrap();
        let mut seen = 0;
        for p in 0..4 {
            let data = PartitionData::read(std::slice::from_ref(&path), p).unwrap();
            for r in data.records().unwrap() {
                assert_eq!(partition_of(r.key, 4), p);
                assert_eq!(r.payload.len() as u64, r.doc.row() % 3);
                seen += 1;
            }
        }
        assert_eq!(seen, 100);
    }

    #[test]
    fn a_split_partition_has_every_record_once_and_each_key_in_one_piece() {
        let tmp = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for shard in 0..3usize {
            let mut w = KeyFileWriter::new(2);
            for i in 0..200u64 {
                // Small keys (as cluster numbers are) repeat across shards.
                w.push(
                    u128::from(i % 50),
                    d(shard, i),
                    &i.to_le_bytes()[..(i % 4) as usize],
                );
            }
            let path = tmp.path().join(format!("k{shard}.bin"));
            std::fs::write(&path, w.finish()).unwrap();
            paths.push(path);
        }
        let whole = PartitionData::read(&paths, 0).unwrap();
        let mut expected: Vec<(u128, DocId, Vec<u8>)> = whole
            .records()
            .unwrap()
            .iter()
            .map(|r| (r.key, r.doc, r.payload.to_vec()))
            .collect();
        assert!(partition_bytes(&paths, 0).unwrap() > 0);
        let pieces = split_partition(&paths, 0, 4, &tmp.path().join("spill")).unwrap();
        let mut got = Vec::new();
        let mut key_piece = std::collections::HashMap::new();
        for (i, piece) in pieces.iter().enumerate() {
            let data = PartitionData::read_piece(piece).unwrap();
            let records = data.records().unwrap();
            assert!(
                !records.is_empty(),
                "piece {i} is empty: small keys not spread"
            );
            for r in records {
                assert_eq!(*key_piece.entry(r.key).or_insert(i), i, "key in two pieces");
                got.push((r.key, r.doc, r.payload.to_vec()));
            }
        }
        got.sort();
        expected.sort();
        assert_eq!(got, expected);
    }

    #[test]
    fn whole_key_files_parse_and_samples_merge() {
        let mut w = KeyFileWriter::new(5);
        for i in 0..200u64 {
            w.push(u128::from(i) << 70, d((i % 3) as usize, i), &[i as u8]);
        }
        let bytes = w.finish();
        let records = key_file_records(&bytes).unwrap();
        assert_eq!(records.len(), 200);
        assert!(records.iter().all(|r| r.payload == [r.doc.row() as u8]));
        let sample = FitSample { size: 20, seed: 7 };
        let all = fit_sample_of(records.clone(), sample);
        assert_eq!(all.len(), 20);
        assert!(all.windows(2).all(|w| w[0].doc < w[1].doc));
        // Sampling per shard, then the union, gives the sample of the whole.
        let mut union = Vec::new();
        for shard in 0..3 {
            let part: Vec<_> = records
                .iter()
                .copied()
                .filter(|r| r.doc.shard() == shard)
                .collect();
            union.extend(fit_sample_of(part, sample));
        }
        let merged = fit_sample_of(union, sample);
        let docs = |v: &[KeyRecord<'_>]| v.iter().map(|r| r.doc).collect::<Vec<_>>();
        assert_eq!(docs(&merged), docs(&all));
        assert!(key_file_records(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn union_keeps_the_lowest_doc_whatever_the_order() {
        let groups = [
            vec![d(2, 0), d(1, 5)],
            vec![d(1, 5), d(0, 9)],
            vec![d(4, 1), d(3, 3)],
        ];
        let mut a = DocUnion::default();
        for g in &groups {
            a.union_group(g);
        }
        let mut b = DocUnion::default();
        for g in groups.iter().rev() {
            b.union_group(g);
        }
        let (a, b) = (a.into_clusters(), b.into_clusters());
        assert_eq!(a, b);
        assert_eq!(a.len(), 5);
        let of = |doc| a.iter().find(|e| e.doc == doc).unwrap();
        assert_eq!(of(d(2, 0)).keeper, d(0, 9));
        assert_eq!(of(d(2, 0)).size, 3);
        assert_eq!(of(d(4, 1)).keeper, d(3, 3));
    }

    #[test]
    fn verification_joins_each_member_to_its_first_similar_predecessor() {
        let tmp = tempfile::tempdir().unwrap();
        // Jaccard: a~b = 1 (exact copy), a~c = 9/11, a~e = 5/15, c~e = 6/14, x~any = 0.
        let a: Vec<u64> = (0..10).collect();
        let c: Vec<u64> = (0..9).chain([100]).collect();
        let e: Vec<u64> = (0..5).chain([100]).chain(300..304).collect();
        let x: Vec<u64> = (200..210).collect();
        let docs = [d(0, 0), d(0, 3), d(1, 1), d(1, 7), d(2, 2)];
        let mut files = [Vec::new(), Vec::new(), Vec::new()];
        for (doc, set) in docs.iter().zip([&a, &a, &c, &e, &x]) {
            encode_set_record(*doc, set, &mut files[doc.shard()]);
        }
        // A document that is no candidate is skipped.
        encode_set_record(d(2, 9), &[1, 2, 3], &mut files[2]);
        let mut sets = CandidateSets::new(docs.to_vec());
        for (shard, bytes) in files.iter().enumerate() {
            let path = tmp.path().join(format!("{shard}.bin"));
            std::fs::write(&path, bytes).unwrap();
            sets.read_set_file(&path).unwrap();
        }
        sets.read_set_file(&tmp.path().join("missing.bin")).unwrap();
        assert_eq!(sets.len(), 5);
        assert_eq!(sets.set(d(1, 1)).unwrap(), c.as_slice());
        assert!(sets.set(d(2, 9)).is_err(), "not a candidate");
        assert!((jaccard(&a, &c) - 9.0 / 11.0).abs() < 1e-12);

        let mut union = DocUnion::default();
        let mut counts = VerifyCounts::default();
        union_verified_group(&docs, &sets, 0.7, &mut union, &mut counts).unwrap();
        // b: 1 check (a). c: 1 check (a). e: a, b, c all below 0.7 → out. x: 4 checks, all
        // rejected → out.
        assert_eq!(
            counts,
            VerifyCounts {
                pairs_checked: 1 + 1 + 3 + 4,
                pairs_rejected: 3 + 4,
                ..VerifyCounts::default()
            }
        );
        let clusters = union.into_clusters();
        let members: Vec<DocId> = clusters.iter().map(|e| e.doc).collect();
        assert_eq!(members, [d(0, 0), d(0, 3), d(1, 1)]);
        assert!(clusters.iter().all(|e| e.keeper == d(0, 0) && e.size == 3));

        // At 0.4, e is compared with a and b (rejected), then joins c.
        let mut union = DocUnion::default();
        let mut counts = VerifyCounts::default();
        union_verified_group(&docs, &sets, 0.4, &mut union, &mut counts).unwrap();
        assert_eq!(
            counts,
            VerifyCounts {
                pairs_checked: 9,
                pairs_rejected: 2 + 4,
                ..VerifyCounts::default()
            }
        );
        assert_eq!(union.into_clusters().len(), 4);

        // A truncated set file is an error, not a silent miss.
        let path = tmp.path().join("cut.bin");
        std::fs::write(&path, &files[0][..files[0].len() - 3]).unwrap();
        assert!(CandidateSets::new(docs.to_vec())
            .read_set_file(&path)
            .is_err());
    }

    #[test]
    fn cluster_files_are_read_per_shard() {
        let tmp = tempfile::tempdir().unwrap();
        let entries = clusters_of_groups([vec![d(0, 1), d(2, 7), d(2, 3)], vec![d(0, 4), d(0, 2)]]);
        let path = tmp.path().join("c.bin");
        std::fs::write(&path, encode_clusters(&entries, 3)).unwrap();
        let s0 = read_shard_clusters(&path, 0).unwrap();
        assert_eq!(
            s0.iter().map(|e| e.doc.row()).collect::<Vec<_>>(),
            [1, 2, 4]
        );
        assert!(read_shard_clusters(&path, 1).unwrap().is_empty());
        let s2 = read_shard_clusters(&path, 2).unwrap();
        assert_eq!(s2.len(), 2);
        assert!(s2.iter().all(|e| e.keeper == d(0, 1) && e.size == 3));
    }
}
