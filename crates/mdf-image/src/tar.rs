//! A streaming reader of tar archives (ustar, GNU long names, pax `path` records), enough for
//! WebDataset shards. Header checksums are verified; a damaged or truncated archive is an
//! error with the byte offset, so the loader can reject the rest of the shard and keep what
//! it read before.

use std::io::Read;

/// One regular-file member.
#[derive(Debug)]
pub struct Member {
    pub name: String,
    /// Byte offset of the member's header in the archive.
    pub offset: u64,
    pub data: Vec<u8>,
}

pub struct TarReader<R> {
    inner: R,
    pos: u64,
    /// Refuse members larger than this (a corrupt size field must not allocate gigabytes).
    max_member: u64,
}

fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // GNU base-256: big-endian binary in the remaining bytes.
        return field[1..].iter().try_fold(0u64, |acc, &b| {
            acc.checked_mul(256)?.checked_add(u64::from(b))
        });
    }
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

impl<R: Read> TarReader<R> {
    pub fn new(inner: R, max_member: u64) -> Self {
        TarReader {
            inner,
            pos: 0,
            max_member,
        }
    }

    /// Reads exactly `buf.len()` bytes; `Ok(false)` at a clean end of input before any byte.
    fn fill(&mut self, buf: &mut [u8]) -> Result<bool, String> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(false),
                Ok(0) => {
                    return Err(format!(
                        "truncated_file: archive ends at byte {}",
                        self.pos + got as u64
                    ))
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(format!(
                        "read_error: at byte {}: {e}",
                        self.pos + got as u64
                    ))
                }
            }
        }
        self.pos += buf.len() as u64;
        Ok(true)
    }

    fn read_data(&mut self, size: u64) -> Result<Vec<u8>, String> {
        if size > self.max_member {
            return Err(format!(
                "corrupt_file: member at byte {} claims {size} bytes (limit {})",
                self.pos, self.max_member
            ));
        }
        let mut data = vec![0u8; size as usize];
        if !self.fill(&mut data)? && size > 0 {
            return Err(format!("truncated_file: archive ends at byte {}", self.pos));
        }
        let pad = (512 - size % 512) % 512;
        let mut skip = vec![0u8; pad as usize];
        if pad > 0 && !self.fill(&mut skip)? {
            return Err(format!("truncated_file: archive ends at byte {}", self.pos));
        }
        Ok(data)
    }

    /// The next regular file, `Ok(None)` at the end of the archive.
    pub fn next_member(&mut self) -> Result<Option<Member>, String> {
        let mut long_name: Option<String> = None;
        loop {
            let offset = self.pos;
            let mut h = [0u8; 512];
            if !self.fill(&mut h)? {
                return Ok(None); // end of input without the two zero blocks: tolerated
            }
            if h.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            let stored = octal(&h[148..156]);
            let sum: u64 = h
                .iter()
                .enumerate()
                .map(|(i, &b)| {
                    if (148..156).contains(&i) {
                        32
                    } else {
                        u64::from(b)
                    }
                })
                .sum();
            if stored != Some(sum) {
                return Err(format!(
                    "corrupt_file: bad tar header checksum at byte {offset}"
                ));
            }
            let size = octal(&h[124..136])
                .ok_or_else(|| format!("corrupt_file: bad size field at byte {offset}"))?;
            let kind = h[156];
            match kind {
                b'L' => {
                    let data = self.read_data(size)?;
                    long_name = Some(cstr(&data));
                }
                b'x' => {
                    let data = self.read_data(size)?;
                    if let Some(p) = pax_path(&data) {
                        long_name = Some(p);
                    }
                }
                b'0' | 0 | b'7' => {
                    let name = long_name.take().unwrap_or_else(|| {
                        let name = cstr(&h[0..100]);
                        let prefix = if &h[257..262] == b"ustar" {
                            cstr(&h[345..500])
                        } else {
                            String::new()
                        };
                        if prefix.is_empty() {
                            name
                        } else {
                            format!("{prefix}/{name}")
                        }
                    });
                    let data = self.read_data(size)?;
                    return Ok(Some(Member { name, offset, data }));
                }
                _ => {
                    // Directories, links, global pax headers: skip their data.
                    self.read_data(size)?;
                    long_name = None;
                }
            }
        }
    }
}

/// The `path` record of a pax extended header (`"<len> path=<value>\n"` records).
fn pax_path(data: &[u8]) -> Option<String> {
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
        let record = rest.get(sp + 1..len)?;
        if let Some(v) = record.strip_prefix(b"path=") {
            let v = v.strip_suffix(b"\n").unwrap_or(v);
            return Some(String::from_utf8_lossy(v).into_owned());
        }
        rest = &rest[len..];
    }
    None
}

/// Writes a ustar archive (tests and example data generation).
#[cfg(test)]
pub fn write_tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in members {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_members_and_reports_damage() {
        let tar = write_tar(&[("a/1.jpg", b"xyz"), ("a/1.txt", b"hello")]);
        let mut r = TarReader::new(&tar[..], 1 << 20);
        let m = r.next_member().unwrap().unwrap();
        assert_eq!(
            (m.name.as_str(), m.offset, m.data.as_slice()),
            ("a/1.jpg", 0, &b"xyz"[..])
        );
        let m = r.next_member().unwrap().unwrap();
        assert_eq!((m.name.as_str(), m.offset), ("a/1.txt", 1024));
        assert!(r.next_member().unwrap().is_none());

        let mut r = TarReader::new(&tar[..1100], 1 << 20);
        r.next_member().unwrap();
        assert!(r.next_member().unwrap_err().starts_with("truncated_file"));

        let mut bad = tar.clone();
        bad[0] = b'b';
        let mut r = TarReader::new(&bad[..], 1 << 20);
        assert!(r.next_member().unwrap_err().starts_with("corrupt_file"));
    }

    #[test]
    fn pax_paths_override_the_header_name() {
        let rec = b"20 path=long/name.x\n";
        assert_eq!(pax_path(rec).as_deref(), Some("long/name.x"));
    }
}
