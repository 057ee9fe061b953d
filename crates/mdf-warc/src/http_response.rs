//! The HTTP response inside a WARC `response` record: status line, headers, and the payload
//! after removing chunked transfer-encoding and content-encoding (gzip, deflate, zstd).
//!
//! CommonCrawl stores payloads already decoded and renames the headers to
//! `X-Crawler-Transfer-Encoding` / `X-Crawler-Content-Encoding`, so for its files this is a
//! header scan and a borrow. Crawlers such as wget and wpull store the bytes as received, so
//! `Transfer-Encoding: chunked` and `Content-Encoding` are honoured here. Brotli is not decoded
//! (reject reason `unsupported_content_encoding`).

use std::borrow::Cow;
use std::io::Read;

/// Why a payload could not be decoded: a stable reason code and a detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub reason: &'static str,
    pub detail: String,
}

fn err(reason: &'static str, detail: impl Into<String>) -> HttpError {
    HttpError {
        reason,
        detail: detail.into(),
    }
}

/// A parsed HTTP response borrowing the record block.
#[derive(Debug)]
pub struct HttpResponse<'a> {
    pub status: u16,
    header: &'a [u8],
    /// The message body as stored (maybe chunked or compressed).
    pub body: &'a [u8],
}

impl<'a> HttpResponse<'a> {
    /// Parses a status line and headers ending at a blank line (`\r\n` or bare `\n` line ends).
    /// A response without the blank line (headers only, e.g. in a revisit record) has an empty
    /// body.
    pub fn parse(block: &'a [u8]) -> Result<Self, HttpError> {
        let line_end = memchr::memchr(b'\n', block).unwrap_or(block.len());
        let status_line = trim_cr(&block[..line_end]);
        let status = parse_status_line(status_line).ok_or_else(|| {
            err(
                "bad_http_header",
                format!(
                    "invalid status line `{}`",
                    String::from_utf8_lossy(&status_line[..status_line.len().min(80)])
                ),
            )
        })?;
        let rest_start = (line_end + 1).min(block.len());
        let rest = &block[rest_start..];
        let mut line_start = 0;
        let mut header_end = None;
        for nl in memchr::memchr_iter(b'\n', rest) {
            if trim_cr(&rest[line_start..nl]).is_empty() {
                header_end = Some((line_start, nl + 1));
                break;
            }
            line_start = nl + 1;
        }
        let (header, body) = match header_end {
            Some((h, b)) => (&rest[..h], &rest[b..]),
            None => (rest, &rest[rest.len()..]),
        };
        Ok(HttpResponse {
            status,
            header,
            body,
        })
    }

    /// The first value of a header, by case-insensitive name, trimmed.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        let header = self.header;
        header.split(|&c| c == b'\n').find_map(|line| {
            let colon = memchr::memchr(b':', line)?;
            let (n, v) = (&line[..colon], &line[colon + 1..]);
            trim(n)
                .eq_ignore_ascii_case(name.as_bytes())
                .then(|| trim(v))
        })
    }

    /// The payload: de-chunked and decoded. At most `max_bytes` decoded bytes.
    pub fn payload(&self, max_bytes: usize) -> Result<Cow<'a, [u8]>, HttpError> {
        let mut body: Cow<'a, [u8]> = Cow::Borrowed(self.body);
        if let Some(te) = self.header("Transfer-Encoding") {
            // Some writers (e.g. for pywb's iana.org crawl) keep the header but store the body
            // de-chunked, as warcio does: a body whose first line is not a chunk size is taken
            // as stored.
            if te.to_ascii_lowercase().windows(7).any(|w| w == b"chunked")
                && starts_with_chunk_size(self.body)
            {
                body = Cow::Owned(dechunk(self.body)?);
            }
        }
        let Some(ce) = self.header("Content-Encoding") else {
            return Ok(body);
        };
        let ce = String::from_utf8_lossy(ce).trim().to_ascii_lowercase();
        match ce.as_str() {
            "" | "identity" | "none" => Ok(body),
            "gzip" | "x-gzip" => decode_all(
                flate2::read::MultiGzDecoder::new(&body[..]),
                max_bytes,
                "gzip",
            )
            .map(Cow::Owned),
            "deflate" => {
                // Servers send zlib-wrapped (per RFC) or raw deflate; try both.
                decode_all(
                    flate2::read::ZlibDecoder::new(&body[..]),
                    max_bytes,
                    "deflate",
                )
                .or_else(|_| {
                    decode_all(
                        flate2::read::DeflateDecoder::new(&body[..]),
                        max_bytes,
                        "deflate",
                    )
                })
                .map(Cow::Owned)
            }
            "zstd" => {
                let decoder = zstd::stream::read::Decoder::with_buffer(&body[..])
                    .map_err(|e| err("bad_content_encoding", format!("zstd: {e}")))?;
                decode_all(decoder, max_bytes, "zstd").map(Cow::Owned)
            }
            other => Err(err(
                "unsupported_content_encoding",
                format!("Content-Encoding `{other}` is not decoded"),
            )),
        }
    }
}

fn decode_all(mut reader: impl Read, max_bytes: usize, name: &str) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    let limit = max_bytes as u64 + 1;
    (&mut reader)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| err("bad_content_encoding", format!("{name}: {e}")))?;
    if out.len() > max_bytes {
        return Err(err(
            "payload_too_large",
            format!("the {name}-decoded payload is over {max_bytes} bytes"),
        ));
    }
    Ok(out)
}

/// Removes chunked transfer-encoding. Trailers after the last chunk are ignored.
pub fn dechunk(body: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    loop {
        let Some(nl) = memchr::memchr(b'\n', rest) else {
            return Err(err(
                "bad_chunked_encoding",
                "the body ends before the last (zero-size) chunk",
            ));
        };
        let line = trim_cr(&rest[..nl]);
        let size_hex = line.split(|&c| c == b';').next().map(trim).unwrap_or(b"");
        let size = parse_hex(size_hex).ok_or_else(|| {
            err(
                "bad_chunked_encoding",
                format!(
                    "invalid chunk size line `{}`",
                    String::from_utf8_lossy(&line[..line.len().min(40)])
                ),
            )
        })?;
        rest = &rest[nl + 1..];
        if size == 0 {
            return Ok(out);
        }
        if size > rest.len() {
            return Err(err(
                "bad_chunked_encoding",
                format!("a {size}-byte chunk but only {} bytes remain", rest.len()),
            ));
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size..];
        // The chunk's CRLF (tolerate a bare LF).
        if rest.starts_with(b"\r\n") {
            rest = &rest[2..];
        } else if rest.starts_with(b"\n") {
            rest = &rest[1..];
        } else if !rest.is_empty() {
            return Err(err(
                "bad_chunked_encoding",
                "a chunk is not followed by a line end",
            ));
        }
    }
}

fn starts_with_chunk_size(body: &[u8]) -> bool {
    let Some(nl) = memchr::memchr(b'\n', &body[..body.len().min(64)]) else {
        return false;
    };
    let line = trim_cr(&body[..nl]);
    parse_hex(line.split(|&c| c == b';').next().map(trim).unwrap_or(b"")).is_some()
}

fn parse_hex(b: &[u8]) -> Option<usize> {
    if b.is_empty() || b.len() > 15 {
        return None;
    }
    b.iter().try_fold(0usize, |n, &c| {
        let d = (c as char).to_digit(16)?;
        Some(n * 16 + d as usize)
    })
}

/// `HTTP/1.x 200 [reason]` → 200 (the reason phrase may be missing).
fn parse_status_line(line: &[u8]) -> Option<u16> {
    if !line.starts_with(b"HTTP/") {
        return None;
    }
    let mut parts = line.split(|&c| c == b' ').filter(|p| !p.is_empty());
    parts.next()?;
    let code = parts.next()?;
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

fn trim_cr(b: &[u8]) -> &[u8] {
    let n = b.iter().rev().take_while(|&&c| c == b'\r').count();
    &b[..b.len() - n]
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &b[start..end]
}

/// The media type of a Content-Type value, lower-cased, without parameters.
pub fn media_type(content_type: &[u8]) -> String {
    let end = memchr::memchr(b';', content_type).unwrap_or(content_type.len());
    String::from_utf8_lossy(trim(&content_type[..end])).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn parses_status_headers_and_body() {
        let block =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nX: y\r\n\r\n<p>hi";
        let r = HttpResponse::parse(block).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type").unwrap(),
            b"text/html; charset=utf-8"
        );
        assert_eq!(&*r.payload(100).unwrap(), b"<p>hi");
        assert_eq!(media_type(b" Text/HTML ; charset=x"), "text/html");
        // No reason phrase, bare LF line ends.
        let r = HttpResponse::parse(b"HTTP/1.0 404\nA: b\n\nbody").unwrap();
        assert_eq!((r.status, r.body), (404, &b"body"[..]));
        assert_eq!(
            HttpResponse::parse(b"HTTP/1.1 2x0 OK\r\n\r\n")
                .unwrap_err()
                .reason,
            "bad_http_header"
        );
        assert_eq!(
            HttpResponse::parse(b"<html>").unwrap_err().reason,
            "bad_http_header"
        );
    }

    #[test]
    fn dechunks_and_decodes() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"<html>hello</html>").unwrap();
        let gz = gz.finish().unwrap();
        let mut chunked = Vec::new();
        for part in gz.chunks(7) {
            chunked.extend_from_slice(format!("{:x};ext=1\r\n", part.len()).as_bytes());
            chunked.extend_from_slice(part);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\nTrailer: x\r\n\r\n");
        let mut block =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n"
                .to_vec();
        block.extend_from_slice(&chunked);
        let r = HttpResponse::parse(&block).unwrap();
        assert_eq!(&*r.payload(1000).unwrap(), b"<html>hello</html>");
        assert_eq!(r.payload(5).unwrap_err().reason, "payload_too_large");

        // Stored de-chunked despite the header: taken as is.
        let dechunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n<html>\nabc";
        let r = HttpResponse::parse(dechunked).unwrap();
        assert_eq!(&*r.payload(100).unwrap(), b"<html>\nabc");
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n";
        let e = HttpResponse::parse(bad).unwrap().payload(100).unwrap_err();
        assert_eq!(e.reason, "bad_chunked_encoding");
        let short = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc";
        let e = HttpResponse::parse(short)
            .unwrap()
            .payload(100)
            .unwrap_err();
        assert_eq!(e.reason, "bad_chunked_encoding");

        let br = b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\nxxxx";
        let e = HttpResponse::parse(br).unwrap().payload(100).unwrap_err();
        assert_eq!(e.reason, "unsupported_content_encoding");
        let bad_gz = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\nnot gzip";
        let e = HttpResponse::parse(bad_gz)
            .unwrap()
            .payload(100)
            .unwrap_err();
        assert_eq!(e.reason, "bad_content_encoding");

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(b"deflated").unwrap();
        let mut block = b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n\r\n".to_vec();
        block.extend_from_slice(&z.finish().unwrap());
        let r = HttpResponse::parse(&block).unwrap();
        assert_eq!(&*r.payload(100).unwrap(), b"deflated");
    }
}
