//! Charset decoding of an HTTP body into text.
//!
//! Order (the browser's, minus the steps that need a network): a byte-order mark; the `charset`
//! parameter of the HTTP `Content-Type` header; a `<meta charset>` or `<meta http-equiv
//! content="...; charset=...">` in the first [`META_SCAN_BYTES`] bytes; else UTF-8 when the body is
//! valid UTF-8; else detection with chardetng. A declared charset that does not fit the bytes (more
//! than [`MAX_BAD_FRACTION`] of the text would be U+FFFD) falls back to detection, since labels are
//! often wrong in crawls. A body that no candidate decodes within that tolerance is undecodable
//! (a counted reject upstream, never a crash). A few bad bytes, as left by a record truncated in
//! the middle of a multi-byte character, are replaced by U+FFFD and the page is kept.

use std::borrow::Cow;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252, X_USER_DEFINED};
use memchr::memmem;

/// How far into the body a `<meta>` charset declaration is looked for. The HTML standard says
/// 1024 bytes; crawled pages often put it after long `<script>`/`<link>` runs, so we look further.
pub const META_SCAN_BYTES: usize = 8 * 1024;

/// Largest share of replacement characters a decoded text may have and still be accepted.
pub const MAX_BAD_FRACTION: f64 = 0.01;

/// Where the encoding that was used came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Bom,
    Header,
    Meta,
    Utf8,
    Detected,
}

#[derive(Debug)]
pub struct Decoded<'a> {
    pub text: Cow<'a, str>,
    pub encoding: &'static Encoding,
    pub source: Source,
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undecodable {
    /// The best candidate encoding still left too many invalid sequences.
    Invalid {
        encoding: &'static str,
        bad_chars: usize,
        chars: usize,
    },
    /// The body looks binary (an image or archive served as HTML): many control bytes at its start.
    Binary { control_bytes: usize, of: usize },
}

impl std::fmt::Display for Undecodable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Undecodable::Invalid {
                encoding,
                bad_chars,
                chars,
            } => write!(
                f,
                "{bad_chars} of {chars} characters invalid as {encoding} (best candidate)"
            ),
            Undecodable::Binary { control_bytes, of } => write!(
                f,
                "binary payload ({control_bytes} control bytes in the first {of})"
            ),
        }
    }
}

/// Bytes looked at to tell a binary payload from text.
const BINARY_SCAN_BYTES: usize = 4096;

/// `Err` when more than 10% of the first bytes are control characters that text does not use
/// (tab, line feeds, form feed and the ISO-2022 escape excepted). Text in UTF-16 has a BOM or
/// is caught here too, which is right: without a BOM it cannot be told from binary.
fn reject_binary(body: &[u8]) -> Result<(), Undecodable> {
    let head = &body[..body.len().min(BINARY_SCAN_BYTES)];
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1B))
        .count();
    if control * 10 > head.len() {
        return Err(Undecodable::Binary {
            control_bytes: control,
            of: head.len(),
        });
    }
    Ok(())
}

/// Decodes `body` following the order in the module docs. `content_type` is the HTTP header
/// value, `tld` (e.g. `b"jp"`) a hint for detection.
pub fn decode<'a>(
    body: &'a [u8],
    content_type: Option<&str>,
    tld: Option<&[u8]>,
) -> Result<Decoded<'a>, Undecodable> {
    if let Some((enc, bom_len)) = Encoding::for_bom(body) {
        let (text, _) = enc.decode_without_bom_handling(&body[bom_len..]);
        return Ok(Decoded {
            text,
            encoding: enc,
            source: Source::Bom,
        });
    }
    reject_binary(body)?;
    let declared = content_type
        .and_then(charset_param)
        .and_then(|l| Encoding::for_label(l.as_bytes()))
        .map(|e| (e, Source::Header))
        .or_else(|| meta_charset(body).map(|e| (e, Source::Meta)));
    let mut worst = None;
    if let Some((enc, source)) = declared {
        match try_decode(body, enc, source) {
            Ok(d) => return Ok(d),
            Err(e) => worst = Some(e),
        }
    } else if let Ok(text) = std::str::from_utf8(body) {
        return Ok(Decoded {
            text: Cow::Borrowed(text),
            encoding: UTF_8,
            source: Source::Utf8,
        });
    }
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Allow);
    detector.feed(body, true);
    let guess = detector.guess(tld, Utf8Detection::Allow);
    if declared.is_some_and(|(d, _)| d == guess) {
        if let Some(w) = worst {
            return Err(w);
        }
    }
    try_decode(body, guess, Source::Detected)
        .map_err(|e| worst.filter(|w| bad_share(w) < bad_share(&e)).unwrap_or(e))
}

fn bad_share(e: &Undecodable) -> f64 {
    match e {
        Undecodable::Invalid {
            bad_chars, chars, ..
        } => *bad_chars as f64 / (*chars).max(1) as f64,
        Undecodable::Binary { .. } => 1.0,
    }
}

fn try_decode<'a>(
    body: &'a [u8],
    enc: &'static Encoding,
    source: Source,
) -> Result<Decoded<'a>, Undecodable> {
    let (text, had_errors) = enc.decode_without_bom_handling(body);
    if had_errors {
        let chars = text.chars().count();
        let bad = text.chars().filter(|&c| c == '\u{FFFD}').count();
        if bad as f64 > MAX_BAD_FRACTION * chars as f64 {
            return Err(Undecodable::Invalid {
                encoding: enc.name(),
                bad_chars: bad,
                chars,
            });
        }
    }
    Ok(Decoded {
        text,
        encoding: enc,
        source,
    })
}

/// The `charset` parameter of a `Content-Type` value, unquoted.
pub fn charset_param(content_type: &str) -> Option<&str> {
    let lower = content_type.to_ascii_lowercase();
    let at = lower.find("charset")?;
    let rest = content_type[at + "charset".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let rest = rest.trim_start_matches(['"', '\'']);
    let end = rest
        .find(|c: char| c == ';' || c == '"' || c == '\'' || c.is_whitespace())
        .unwrap_or(rest.len());
    let label = &rest[..end];
    (!label.is_empty()).then_some(label)
}

/// The charset declared by a `<meta>` tag near the start of the body, with the standard's
/// adjustments (a UTF-16 label in a meta means UTF-8: the bytes were readable as ASCII;
/// x-user-defined means windows-1252).
fn meta_charset(body: &[u8]) -> Option<&'static Encoding> {
    let head = &body[..body.len().min(META_SCAN_BYTES)];
    let lower = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = memmem::find(&lower[from..], b"<meta") {
        let start = from + pos;
        let end = memchr::memchr(b'>', &lower[start..]).map_or(lower.len(), |e| start + e);
        let tag = &head[start..end];
        if let Some(at) = memmem::find(&lower[start..end], b"charset") {
            let value = std::str::from_utf8(&tag[at..]).ok();
            if let Some(enc) = value
                .and_then(charset_param)
                .and_then(|l| Encoding::for_label(l.as_bytes()))
            {
                return Some(if enc == UTF_16LE || enc == UTF_16BE {
                    UTF_8
                } else if enc == X_USER_DEFINED {
                    WINDOWS_1252
                } else {
                    enc
                });
            }
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_charset_wins_over_meta_and_bom_over_both() {
        let body = b"<meta charset=utf-8><p>caf\xe9</p>";
        let d = decode(body, Some("text/html; charset=ISO-8859-1"), None).expect("ok");
        assert_eq!(d.source, Source::Header);
        assert!(d.text.contains("café"));
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice("<p>café</p>".as_bytes());
        let d = decode(&bom, Some("text/html; charset=windows-1251"), None).expect("ok");
        assert_eq!((d.source, d.text.as_ref()), (Source::Bom, "<p>café</p>"));
    }

    #[test]
    fn meta_charset_and_http_equiv_are_read() {
        let body = b"<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1251\"></head><p>\xcf\xf0\xe8\xe2\xe5\xf2</p>";
        let d = decode(body, Some("text/html"), None).expect("ok");
        assert_eq!(d.source, Source::Meta);
        assert!(d.text.contains("Привет"), "{}", d.text);
        let d = decode(b"<meta charset='shift_jis'>\x93\xfa\x96\x7b", None, None).expect("ok");
        assert!(d.text.contains("日本"));
    }

    #[test]
    fn undeclared_legacy_bytes_are_detected() {
        let text = "Съешь же ещё этих мягких французских булок, да выпей чаю. ".repeat(5);
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(&text);
        let d = decode(&bytes, None, None).expect("ok");
        assert_eq!(d.source, Source::Detected);
        assert_eq!(d.text, text);
    }

    #[test]
    fn a_wrong_utf8_label_falls_back_to_detection() {
        let text = "Größere Übungen für Äpfel und Öl, schön und süß. ".repeat(5);
        let (bytes, _, _) = WINDOWS_1252.encode(&text);
        let d = decode(&bytes, Some("text/html; charset=utf-8"), None).expect("ok");
        assert_eq!(
            (d.source, d.text.as_ref()),
            (Source::Detected, text.as_str())
        );
    }

    #[test]
    fn a_truncated_multibyte_tail_is_replaced_not_rejected() {
        let mut body = "<p>".to_owned().into_bytes();
        body.extend_from_slice("日本語のテキスト".repeat(20).as_bytes());
        body.extend_from_slice(&[0xE6, 0x97]);
        let d = decode(&body, Some("text/html; charset=utf-8"), None).expect("ok");
        assert!(d.text.ends_with('\u{FFFD}'));
    }

    #[test]
    fn utf16_label_in_meta_means_utf8() {
        let d = decode(b"<meta charset=utf-16><p>\xc3\xa9</p>", None, None).expect("ok");
        assert_eq!((d.encoding, d.text.contains('é')), (UTF_8, true));
    }

    #[test]
    fn binary_payloads_and_invalid_utf8_are_undecodable() {
        let png = [
            0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 1, 2, 3, 4,
        ];
        assert!(matches!(
            decode(&png.repeat(50), None, None),
            Err(Undecodable::Binary { .. })
        ));
        // Broken UTF-8 that claims to be UTF-8 is re-read with the detected encoding (as a
        // browser would), and the caller can see that it was.
        let mut body = Vec::new();
        for _ in 0..200 {
            body.extend_from_slice("é".as_bytes());
            body.push(0xC3);
        }
        let d = decode(&body, Some("text/html; charset=utf-8"), None).expect("detected");
        assert_eq!(d.source, Source::Detected);
        // The acceptance rule itself: too many invalid sequences for an encoding is an error.
        let err = try_decode(&body, UTF_8, Source::Header).expect_err("a third invalid");
        assert!(err.to_string().contains("invalid as UTF-8"), "{err}");
        assert!(try_decode(&body[..40], UTF_8, Source::Header).is_err());
        let mut mostly_ok = "é".repeat(500).into_bytes();
        mostly_ok.push(0xC3);
        assert!(try_decode(&mostly_ok, UTF_8, Source::Header).is_ok());
    }

    #[test]
    fn charset_param_parsing() {
        assert_eq!(charset_param("text/html; Charset=\"UTF-8\""), Some("UTF-8"));
        assert_eq!(charset_param("text/html;charset=gbk;x=y"), Some("gbk"));
        assert_eq!(charset_param("text/html"), None);
        assert_eq!(charset_param("text/html; charset="), None);
    }
}
