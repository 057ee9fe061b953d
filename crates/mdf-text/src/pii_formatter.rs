//! `pii_formatter`: datatrove 0.10.1's `PIIFormatter` (FineWeb's PII step, spec §1.11). Rewrites
//! the text, drops nothing: e-mail addresses, then IPv4 addresses, are replaced by fixed strings
//! taken in turn from the replacement lists. The two regexes are datatrove's, character for
//! character (the e-mail classes are the current mixed-case ones, not the lower-case-only classes
//! of the FineWeb v1 era). An IP match is replaced only if Python 3.11's
//! `ipaddress.ip_address(x)` accepts it (no leading zeros) and, with `only_remove_public_ips`, it
//! `is_global` (Python 3.11.7's IANA special-purpose table, hard-coded below).
//!
//! **Cycle state, where we differ on purpose.** datatrove keeps each replacer's position in its
//! list across all documents of a task, so a document's output depends on what came before it.
//! Here the position restarts at the first replacement for every document: the output of a
//! document depends on that document only, whatever the worker count or shard order. Which spans
//! are replaced is identical; a document whose matches come after other matches in the same
//! datatrove task may get a different (equally fake) replacement string.

use std::borrow::Cow;
use std::sync::OnceLock;

use arrow::record_batch::RecordBatch;
use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use mdf_core::{Component, MdfError, Operator, OperatorKind, Params, Result, Verdicts};

use crate::text_rewrite::{replace_text, text_or_reject};

/// A replacement string, or a list of them used in turn.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Replacements {
    One(String),
    Many(Vec<String>),
}

impl Replacements {
    fn list(&self) -> Vec<String> {
        match self {
            Replacements::One(s) => vec![s.clone()],
            Replacements::Many(v) => v.clone(),
        }
    }
}

/// Params of `pii_formatter` (names and defaults of datatrove's `PIIFormatter`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PiiFormatterParams {
    /// Replace e-mail addresses. Default: true.
    #[serde(default = "yes")]
    pub remove_emails: bool,
    /// Replace IPv4 addresses. Default: true.
    #[serde(default = "yes")]
    pub remove_ips: bool,
    /// Replace only globally routable IPs (private, loopback, documentation ranges stay).
    /// Default: true.
    #[serde(default = "yes")]
    pub only_remove_public_ips: bool,
    /// E-mail replacement(s), used in turn within a document. Default:
    /// `["email@example.com", "firstname.lastname@example.org"]`.
    #[serde(default = "default_emails")]
    pub email_replacement: Replacements,
    /// IP replacement(s), used in turn within a document. Default: datatrove's six unassigned
    /// addresses `22.214.171.124`, `126.96.36.199`, `188.8.131.52`, `184.108.40.206`,
    /// `220.127.116.11`, `18.104.22.168`.
    #[serde(default = "default_ips")]
    pub ip_replacement: Replacements,
    /// Column holding the text; it is rewritten in place. Default: `text`.
    #[serde(default = "default_text_field")]
    pub text_field: String,
}

fn yes() -> bool {
    true
}
fn default_emails() -> Replacements {
    Replacements::Many(vec![
        "email@example.com".into(),
        "firstname.lastname@example.org".into(),
    ])
}
fn default_ips() -> Replacements {
    Replacements::Many(
        [
            "22.214.171.124",
            "126.96.36.199",
            "188.8.131.52",
            "184.108.40.206",
            "220.127.116.11",
            "18.104.22.168",
        ]
        .map(String::from)
        .to_vec(),
    )
}
fn default_text_field() -> String {
    "text".to_owned()
}

impl Params for PiiFormatterParams {
    fn check(&self) -> std::result::Result<(), String> {
        if self.email_replacement.list().is_empty() {
            return Err("email_replacement must not be an empty list".into());
        }
        if self.ip_replacement.list().is_empty() {
            return Err("ip_replacement must not be an empty list".into());
        }
        Ok(())
    }
}

/// datatrove's e-mail regex without its leading `\b` (checked with Python's `\w`, see
/// [`py_word_boundary`]).
const EMAIL_RE: &str = concat!(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:(?:[A-Za-z0-9](?:[",
    r"A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?|\[(?:(?:25[0-5]|2[0-4][0-9]|[",
    r"01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|[A-Za-z0-9-]*[A-Za-z0-9]:)\])",
);
/// datatrove's IPv4 regex.
const IP_RE: &str =
    r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)";

/// Python 3.11.7 `ipaddress.IPv4Address._constants._private_networks` as (address, prefix).
const PRIVATE_V4: [([u8; 4], u32); 14] = [
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 29),
    ([192, 0, 0, 170], 31),
    ([192, 0, 2, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([240, 0, 0, 0], 4),
    ([255, 255, 255, 255], 32),
];
/// `_public_network` (shared address space, RFC 6598), excluded from `is_global` too.
const SHARED_V4: ([u8; 4], u32) = ([100, 64, 0, 0], 10);

fn in_net(ip: u32, (net, prefix): ([u8; 4], u32)) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    ip & mask == u32::from_be_bytes(net) & mask
}

/// `ipaddress.ip_address(s)` for a dotted quad, as Python 3.11 parses it (no leading zeros).
fn parse_v4(s: &str) -> Option<u32> {
    let mut out = 0u32;
    let mut n = 0;
    for octet in s.split('.') {
        if octet.is_empty() || octet.len() > 3 || (octet.len() > 1 && octet.starts_with('0')) {
            return None;
        }
        let v: u32 = octet.parse().ok()?;
        if v > 255 {
            return None;
        }
        out = (out << 8) | v;
        n += 1;
    }
    (n == 4).then_some(out)
}

/// datatrove's `public_ip_validator`.
fn ip_is_replaceable(s: &str, public_only: bool) -> bool {
    match parse_v4(s) {
        None => false,
        Some(_) if !public_only => true,
        Some(ip) => !in_net(ip, SHARED_V4) && !PRIVATE_V4.iter().any(|&n| in_net(ip, n)),
    }
}

pub struct PiiFormatter {
    params: PiiFormatterParams,
    email_re: Regex,
    ip_re: Regex,
    emails: Vec<String>,
    ips: Vec<String>,
}

impl Component for PiiFormatter {
    type Built = dyn Operator;
    type Params = PiiFormatterParams;
    const NAME: &'static str = "pii_formatter";
    const KIND: OperatorKind = OperatorKind::Refiner;
    const SUMMARY: &'static str =
        "Replace e-mail addresses and public IPv4 addresses with fixed placeholders (datatrove PIIFormatter)";

    fn build(params: PiiFormatterParams) -> Result<Box<dyn Operator>> {
        let email_re =
            Regex::new(EMAIL_RE).map_err(|e| MdfError::internal(format!("e-mail regex: {e}")))?;
        let ip_re = Regex::new(IP_RE).map_err(|e| MdfError::internal(format!("IP regex: {e}")))?;
        Ok(Box::new(PiiFormatter {
            emails: params.email_replacement.list(),
            ips: params.ip_replacement.list(),
            params,
            email_re,
            ip_re,
        }))
    }
}

/// Python's `\w` for `str` patterns: `c.isalnum() or c == "_"`, i.e. a letter (L*) or a number
/// (N*). The `regex` crate's `\w` differs (it counts marks as word characters, so a Thai tone mark
/// right before an address would hide the boundary), hence the e-mail regex's leading `\b` is
/// checked here.
fn is_py_word(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[\p{L}\p{N}]").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(c.encode_utf8(&mut [0u8; 4])))
}

/// Python's `\b` at byte offset `at` of `text`.
fn py_word_boundary(text: &str, at: usize) -> bool {
    let before = text[..at].chars().next_back().is_some_and(is_py_word);
    let after = text[at..].chars().next().is_some_and(is_py_word);
    before != after
}

impl PiiFormatter {
    /// The text with its PII replaced; borrowed when nothing was replaced.
    pub fn format<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        if self.params.remove_emails && text.contains('@') {
            if let Some(s) = self.replace_emails(&text) {
                text = Cow::Owned(s);
            }
        }
        if self.params.remove_ips && text.contains('.') {
            if let Some(s) = self.replace_ips(&text) {
                text = Cow::Owned(s);
            }
        }
        text
    }

    /// `\b<email regex>` with Python's `\b`: a candidate where the boundary fails is no match,
    /// and the search goes on from the next character (as `re` does).
    fn replace_emails(&self, text: &str) -> Option<String> {
        let mut out: Option<String> = None;
        let (mut last, mut pos, mut i) = (0usize, 0usize, 0usize);
        while let Some(m) = self.email_re.find_at(text, pos) {
            if !py_word_boundary(text, m.start()) {
                pos = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
                continue;
            }
            let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
            buf.push_str(&text[last..m.start()]);
            buf.push_str(&self.emails[i]);
            i = (i + 1) % self.emails.len();
            last = m.end();
            pos = m.end();
        }
        out.map(|mut buf| {
            buf.push_str(&text[last..]);
            buf
        })
    }

    /// The IP regex; a match the validator refuses stays as it is (and is consumed).
    fn replace_ips(&self, text: &str) -> Option<String> {
        let public_only = self.params.only_remove_public_ips;
        let mut out: Option<String> = None;
        let (mut last, mut i) = (0usize, 0usize);
        for m in self.ip_re.find_iter(text) {
            if !ip_is_replaceable(m.as_str(), public_only) {
                continue;
            }
            let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
            buf.push_str(&text[last..m.start()]);
            buf.push_str(&self.ips[i]);
            i = (i + 1) % self.ips.len();
            last = m.end();
        }
        out.map(|mut buf| {
            buf.push_str(&text[last..]);
            buf
        })
    }
}

impl Operator for PiiFormatter {
    fn process(&mut self, batch: RecordBatch, verdicts: &mut Verdicts) -> Result<RecordBatch> {
        let field = self.params.text_field.clone();
        let Some(col) = text_or_reject(&batch, &field, verdicts) else {
            return Ok(batch);
        };
        let mut values = Vec::with_capacity(batch.num_rows());
        let mut changed = false;
        for row in 0..batch.num_rows() {
            match col.get(row) {
                Some(text) => {
                    let new = self.format(text);
                    changed |= matches!(new, Cow::Owned(_));
                    values.push(Some(new));
                }
                None => {
                    verdicts.reject_row(row, format!("missing_field: `{field}` is null"));
                    values.push(None);
                }
            }
        }
        if !changed {
            return Ok(batch);
        }
        replace_text(&batch, &field, col, &values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pii(json: &str) -> PiiFormatter {
        let params: PiiFormatterParams = serde_json::from_str(json).expect("params");
        let email_re = Regex::new(EMAIL_RE).expect("email");
        let ip_re = Regex::new(IP_RE).expect("ip");
        PiiFormatter {
            emails: params.email_replacement.list(),
            ips: params.ip_replacement.list(),
            params,
            email_re,
            ip_re,
        }
    }

    // Expected strings checked against datatrove 0.10.1's PIIFormatter (fresh instance per text).
    #[test]
    fn replaces_like_datatrove() {
        let f = pii("{}");
        assert_eq!(
            f.format("Mail John.Doe@Mail.COM or x@y.org, again a@b.io."),
            "Mail email@example.com or firstname.lastname@example.org, again email@example.com."
        );
        assert_eq!(
            f.format("hosts 8.8.8.8, 10.0.0.1, 192.168.1.1, 1.1.1.1, 01.2.3.4 and 1234.5.6.7"),
            "hosts 22.214.171.124, 10.0.0.1, 192.168.1.1, 126.96.36.199, 01.2.3.4 and 1188.8.131.52"
        );
        assert!(matches!(f.format("nothing here."), Cow::Borrowed(_)));
        assert!(matches!(
            f.format("private 10.0.0.1 only"),
            Cow::Borrowed(_)
        ));
        // Python's \b: a Thai tone mark (Mn) is not a word character, a Thai letter is.
        assert_eq!(
            f.format("ที่a@b.co ขa@b.co _x@y.io ²x@y.io"),
            "ที่email@example.com ขa@b.co firstname.lastname@example.org ²x@y.io"
        );
        let f = pii(r#"{"only_remove_public_ips": false, "ip_replacement": "IP"}"#);
        assert_eq!(f.format("10.0.0.1 and 100.64.1.1"), "IP and IP");
    }

    #[test]
    fn python_is_global_table() {
        assert!(ip_is_replaceable("8.8.8.8", true));
        assert!(ip_is_replaceable("224.0.0.1", true)); // multicast counts as global in 3.11.7
        assert!(!ip_is_replaceable("100.64.0.1", true));
        assert!(!ip_is_replaceable("192.0.0.5", true));
        assert!(ip_is_replaceable("192.0.0.9", true));
        assert!(!ip_is_replaceable("255.255.255.255", true));
        assert!(!ip_is_replaceable("00.1.1.1", false));
    }
}
