//! Header-only reads: format, size, mode, animation, EXIF orientation and JPEG quantisation
//! tables, from the first bytes of the file and without decoding pixels. The format is sniffed
//! from magic bytes, never from a file extension. Mode names follow Pillow's (`L`, `RGB`, `P`,
//! ...) so that columns read the same as in Python pipelines.

/// Image container formats the crate decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Gif,
    Webp,
}

impl Format {
    /// Pillow's name of the format.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
            Format::Gif => "GIF",
            Format::Webp => "WEBP",
        }
    }

    /// Sniffs the format from magic bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Format::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Format::Png)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Format::Gif)
        } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Format::Webp)
        } else {
            None
        }
    }
}

/// What the header says.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub format: Format,
    pub width: u32,
    pub height: u32,
    /// Pillow's mode name for what the decoder yields (`L`, `RGB`, `RGBA`, `P`, `CMYK`, ...).
    pub mode: &'static str,
    pub animated: bool,
    /// EXIF orientation tag (1–8), when present.
    pub orientation: Option<u8>,
    /// JPEG quantisation tables by table id, in natural (row-major) order.
    pub quant_tables: Vec<(u8, [u16; 64])>,
    /// JPEG: the table id used by the first (luma) component.
    pub luma_table: Option<u8>,
}

impl Header {
    /// Width and height as displayed, after the EXIF orientation (5–8 swap the axes).
    pub fn oriented_size(&self) -> (u32, u32) {
        match self.orientation {
            Some(5..=8) => (self.height, self.width),
            _ => (self.width, self.height),
        }
    }

    /// The quantisation table of the luma component, in natural order.
    pub fn luma_quant_table(&self) -> Option<&[u16; 64]> {
        let id = self.luma_table?;
        self.quant_tables
            .iter()
            .find(|(t, _)| *t == id)
            .map(|(_, table)| table)
    }
}

/// Why a header could not be read; the text says where.
pub type HeaderError = String;

/// Reads the header of an encoded image.
pub fn read_header(bytes: &[u8]) -> Result<Header, HeaderError> {
    if bytes.is_empty() {
        return Err("empty: zero-byte image".into());
    }
    let format = Format::sniff(bytes).ok_or("unsupported_format: not JPEG, PNG, GIF or WebP")?;
    let header = match format {
        Format::Jpeg => jpeg(bytes),
        Format::Png => png(bytes),
        Format::Gif => gif(bytes),
        Format::Webp => webp(bytes),
    }?;
    if header.width == 0 || header.height == 0 {
        return Err(format!(
            "bad_header: {} says {}x{}",
            format.name(),
            header.width,
            header.height
        ));
    }
    Ok(header)
}

fn truncated(what: &str) -> HeaderError {
    format!("truncated: the header ends inside the {what}")
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        0,
    ]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Zig-zag scan position → natural (row-major) index, as in the JPEG standard (Figure A.6).
pub const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

fn jpeg(b: &[u8]) -> Result<Header, HeaderError> {
    let mut h = Header {
        format: Format::Jpeg,
        width: 0,
        height: 0,
        mode: "RGB",
        animated: false,
        orientation: None,
        quant_tables: Vec::new(),
        luma_table: None,
    };
    let mut pos = 2;
    let mut seen_frame = false;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while b.get(pos) == Some(&0xFF) && b.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        if b.get(pos) != Some(&0xFF) {
            return Err(if pos >= b.len() {
                truncated("JPEG marker segments")
            } else {
                format!("bad_header: no JPEG marker at byte {pos}")
            });
        }
        let marker = *b.get(pos + 1).ok_or_else(|| truncated("JPEG markers"))?;
        pos += 2;
        if marker == 0xD8 || (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            continue; // markers without a length
        }
        if marker == 0xD9 {
            return Err("bad_header: JPEG ends before its image data".into());
        }
        let len = usize::from(be16(b, pos).ok_or_else(|| truncated("JPEG segment length"))?);
        let seg = b
            .get(pos + 2..pos + len)
            .ok_or_else(|| truncated("JPEG segment"))?;
        match marker {
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                let (hgt, wid, n) = (
                    be16(seg, 1).ok_or_else(|| truncated("SOF"))?,
                    be16(seg, 3).ok_or_else(|| truncated("SOF"))?,
                    *seg.get(5).ok_or_else(|| truncated("SOF"))?,
                );
                h.width = u32::from(wid);
                h.height = u32::from(hgt);
                h.mode = match n {
                    1 => "L",
                    3 => "RGB",
                    4 => "CMYK",
                    _ => return Err(format!("bad_header: JPEG with {n} components")),
                };
                // First component spec: id, sampling, table id.
                h.luma_table = seg.get(8).copied();
                seen_frame = true;
            }
            0xDB => read_dqt(seg, &mut h.quant_tables)?,
            0xE1 if seg.starts_with(b"Exif\0\0") => {
                h.orientation = exif_orientation(&seg[6..]);
            }
            0xDA => {
                return if seen_frame {
                    Ok(h)
                } else {
                    Err("bad_header: JPEG scan before its frame header".into())
                };
            }
            _ => {}
        }
        pos += len;
    }
}

fn read_dqt(mut seg: &[u8], tables: &mut Vec<(u8, [u16; 64])>) -> Result<(), HeaderError> {
    while let Some(&pq_tq) = seg.first() {
        let (precision16, id) = (pq_tq >> 4 != 0, pq_tq & 0x0F);
        let size = if precision16 { 128 } else { 64 };
        let data = seg.get(1..1 + size).ok_or_else(|| truncated("DQT"))?;
        let mut table = [0u16; 64];
        for (k, &natural) in ZIGZAG.iter().enumerate() {
            table[natural] = if precision16 {
                u16::from_be_bytes([data[2 * k], data[2 * k + 1]])
            } else {
                u16::from(data[k])
            };
        }
        tables.retain(|(t, _)| *t != id);
        tables.push((id, table));
        seg = &seg[1 + size..];
    }
    Ok(())
}

/// The orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block.
fn exif_orientation(tiff: &[u8]) -> Option<u8> {
    let little = match tiff.get(0..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let u16_at = |at: usize| {
        if little {
            le16(tiff, at)
        } else {
            be16(tiff, at)
        }
    };
    let u32_at = |at: usize| {
        if little {
            le32(tiff, at)
        } else {
            be32(tiff, at)
        }
    };
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let count = usize::from(u16_at(ifd)?);
    for i in 0..count.min(512) {
        let entry = ifd + 2 + 12 * i;
        if u16_at(entry)? == 0x0112 {
            let value = u16_at(entry + 8)?;
            return (1..=8).contains(&value).then_some(value as u8);
        }
    }
    None
}

fn png(b: &[u8]) -> Result<Header, HeaderError> {
    if be32(b, 12) != Some(u32::from_be_bytes(*b"IHDR")) {
        return Err(if b.len() < 16 {
            truncated("PNG IHDR chunk")
        } else {
            "bad_header: PNG does not start with IHDR".into()
        });
    }
    let ihdr = b.get(16..29).ok_or_else(|| truncated("PNG IHDR chunk"))?;
    let (depth, colour) = (ihdr[8], ihdr[9]);
    let mode = match (colour, depth) {
        (0, 1) => "1",
        (0, 16) => "I;16",
        (0, _) => "L",
        (2, _) => "RGB",
        (3, _) => "P",
        (4, _) => "LA",
        (6, _) => "RGBA",
        _ => return Err(format!("bad_header: PNG colour type {colour}")),
    };
    let mut h = Header {
        format: Format::Png,
        width: be32(ihdr, 0).unwrap_or(0),
        height: be32(ihdr, 4).unwrap_or(0),
        mode,
        animated: false,
        orientation: None,
        quant_tables: Vec::new(),
        luma_table: None,
    };
    // Chunks up to the first IDAT: acTL marks an animated PNG.
    let mut pos = 8;
    while let (Some(len), Some(kind)) = (be32(b, pos), b.get(pos + 4..pos + 8)) {
        match kind {
            b"acTL" => h.animated = true,
            b"IDAT" => break,
            _ => {}
        }
        pos = pos.saturating_add(12).saturating_add(len as usize);
    }
    Ok(h)
}

fn gif(b: &[u8]) -> Result<Header, HeaderError> {
    let width = u32::from(le16(b, 6).ok_or_else(|| truncated("GIF screen descriptor"))?);
    let height = u32::from(le16(b, 8).ok_or_else(|| truncated("GIF screen descriptor"))?);
    let packed = *b
        .get(10)
        .ok_or_else(|| truncated("GIF screen descriptor"))?;
    let mut pos = 13;
    if packed & 0x80 != 0 {
        pos += 3 << ((packed & 7) + 1);
    }
    // Counts image descriptors, skipping data sub-blocks; two or more frames = animated.
    let mut frames = 0;
    let skip_blocks = |mut p: usize| -> Option<usize> {
        loop {
            let n = usize::from(*b.get(p)?);
            p += 1 + n;
            if n == 0 {
                return Some(p);
            }
        }
    };
    while frames < 2 {
        match b.get(pos) {
            Some(0x21) => match skip_blocks(pos + 2) {
                Some(p) => pos = p,
                None => break,
            },
            Some(0x2C) => {
                frames += 1;
                let Some(&local) = b.get(pos + 9) else { break };
                pos += 10;
                if local & 0x80 != 0 {
                    pos += 3 << ((local & 7) + 1);
                }
                match skip_blocks(pos + 1) {
                    Some(p) => pos = p,
                    None => break,
                }
            }
            _ => break,
        }
    }
    Ok(Header {
        format: Format::Gif,
        width,
        height,
        mode: "P",
        animated: frames >= 2,
        orientation: None,
        quant_tables: Vec::new(),
        luma_table: None,
    })
}

fn webp(b: &[u8]) -> Result<Header, HeaderError> {
    let kind = b
        .get(12..16)
        .ok_or_else(|| truncated("WebP chunk header"))?;
    let data = b.get(20..).ok_or_else(|| truncated("WebP chunk"))?;
    let mut h = Header {
        format: Format::Webp,
        width: 0,
        height: 0,
        mode: "RGB",
        animated: false,
        orientation: None,
        quant_tables: Vec::new(),
        luma_table: None,
    };
    match kind {
        b"VP8 " => {
            if data.get(3..6) != Some(&[0x9D, 0x01, 0x2A]) {
                return Err("bad_header: VP8 start code missing".into());
            }
            h.width = u32::from(le16(data, 6).ok_or_else(|| truncated("VP8 header"))? & 0x3FFF);
            h.height = u32::from(le16(data, 8).ok_or_else(|| truncated("VP8 header"))? & 0x3FFF);
        }
        b"VP8L" => {
            if data.first() != Some(&0x2F) {
                return Err("bad_header: VP8L signature missing".into());
            }
            let bits = le32(data, 1).ok_or_else(|| truncated("VP8L header"))?;
            h.width = (bits & 0x3FFF) + 1;
            h.height = ((bits >> 14) & 0x3FFF) + 1;
            if bits >> 28 & 1 == 1 {
                h.mode = "RGBA";
            }
        }
        b"VP8X" => {
            let flags = *data.first().ok_or_else(|| truncated("VP8X header"))?;
            h.animated = flags & 0x02 != 0;
            if flags & 0x10 != 0 {
                h.mode = "RGBA";
            }
            h.width = le24(data, 4).ok_or_else(|| truncated("VP8X header"))? + 1;
            h.height = le24(data, 7).ok_or_else(|| truncated("VP8X header"))? + 1;
        }
        other => {
            return Err(format!(
                "bad_header: WebP chunk `{}`",
                String::from_utf8_lossy(other)
            ))
        }
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testimg;

    #[test]
    fn reads_size_mode_and_format_of_each_codec() {
        let rgb = testimg::photo(40, 30, 1);
        for (bytes, format, mode) in [
            (testimg::jpeg(&rgb, 90), Format::Jpeg, "RGB"),
            (testimg::png_rgb(&rgb), Format::Png, "RGB"),
            (testimg::png_gray(&rgb), Format::Png, "L"),
            (testimg::gif(&rgb), Format::Gif, "P"),
            (testimg::webp_lossless(&rgb), Format::Webp, "RGB"),
        ] {
            let h = read_header(&bytes).unwrap();
            assert_eq!(
                (h.format, h.width, h.height, h.mode),
                (format, 40, 30, mode)
            );
            assert!(!h.animated);
        }
    }

    #[test]
    fn jpeg_quant_tables_and_orientation() {
        let rgb = testimg::photo(16, 16, 2);
        let bytes = testimg::jpeg(&rgb, 50);
        let h = read_header(&bytes).unwrap();
        // At quality 50 libjpeg scaling keeps the standard table: its first entry is 16.
        assert_eq!(h.luma_quant_table().unwrap()[0], 16);
        assert_eq!(h.orientation, None);
        let rotated = testimg::with_exif_orientation(&bytes, 6);
        let h = read_header(&rotated).unwrap();
        assert_eq!(h.orientation, Some(6));
        assert_eq!(h.oriented_size(), (16, 16));
    }

    #[test]
    fn bad_headers_are_errors_with_reasons() {
        assert!(read_header(b"").unwrap_err().starts_with("empty"));
        assert!(read_header(b"hello world")
            .unwrap_err()
            .starts_with("unsupported_format"));
        let jpeg = testimg::jpeg(&testimg::photo(8, 8, 3), 80);
        assert!(read_header(&jpeg[..20])
            .unwrap_err()
            .starts_with("truncated"));
        // A PNG claiming 30000x30000 is read from its header alone.
        let bomb = testimg::png_header_only(30000, 30000);
        let h = read_header(&bomb).unwrap();
        assert_eq!((h.width, h.height), (30000, 30000));
    }
}
