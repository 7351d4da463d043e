//! Pure log ingest decoders and the log processing pipeline.
//!
//! Every decoder turns request bytes into [`LogRecord`]s for the log store and
//! never does I/O: HTTP handlers and socket listeners (in `crates/server`) read
//! bodies, undo `Content-Encoding: gzip`, enforce the body-size limit and pick
//! the tenant (`X-Scope-OrgID`), then call one function here.
//!
//! | module | wire format |
//! | --- | --- |
//! | [`loki`] | Loki push (`logproto.PushRequest`, snappy protobuf, and JSON) |
//! | [`es`] | Elasticsearch `_bulk` NDJSON and its response |
//! | [`doc`] | JSON lines and `POST /api/logs` (`{"logs":[...]}`), the document mapping |
//! | [`syslog`] | RFC 5424 / RFC 3164 messages and TCP framing |
//! | [`gelf`] | GELF JSON, UDP chunk reassembly, TCP null framing |
//! | [`otlp`] | OTLP logs (`ExportLogsServiceRequest`, protobuf and OTLP/JSON) |
//! | [`pipeline`] | processing stages (json, logfmt, grok, regex, mutate, drop, timestamp, masking) |
//!
//! Invariants:
//! - no function in this crate panics on any input (garbage loops in the tests);
//! - timestamps are nanoseconds since the Unix epoch; a record without one gets
//!   the caller's `now_ns`;
//! - stream labels are valid Prometheus label names with non-empty values, at
//!   most [`IngestLimits::max_labels_per_stream`] of them;
//! - errors are per item ([`ItemError`]) wherever the format has items, so one
//!   bad line never rejects its neighbours; a request-level [`DecodeError`] means
//!   the framing itself could not be read.

pub mod doc;
pub mod es;
pub mod framing;
pub mod gelf;
pub mod loki;
pub mod otlp;
pub mod pipeline;
pub mod syslog;
pub mod time;

pub use sightline_logstore::LogRecord;
use sightline_model::{Labels, StorageErrorKind};
use thiserror::Error;

/// Why a request or an item was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Malformed input (answer 400).
    #[error("invalid input: {0}")]
    BadInput(String),
    /// A configured limit was exceeded (answer 400/413 naming the limit).
    #[error("limit exceeded: {0}")]
    Limit(String),
}

impl DecodeError {
    pub fn bad(msg: impl Into<String>) -> Self {
        DecodeError::BadInput(msg.into())
    }

    pub fn limit(msg: impl Into<String>) -> Self {
        DecodeError::Limit(msg.into())
    }

    /// Classification for the handler's status-code mapping.
    pub fn kind(&self) -> StorageErrorKind {
        match self {
            DecodeError::BadInput(_) => StorageErrorKind::BadInput,
            DecodeError::Limit(_) => StorageErrorKind::Limit,
        }
    }
}

/// A refused item: its position in the request (stream/entry, line, datagram)
/// and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// Zero-based position of the item in the request (line number for
    /// line-based formats, flat entry index for Loki).
    pub index: usize,
    pub error: DecodeError,
}

impl std::fmt::Display for ItemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "item {}: {}", self.index, self.error)
    }
}

/// What a decoder produced: the accepted records and the refused items.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub records: Vec<LogRecord>,
    pub rejected: Vec<ItemError>,
}

impl Batch {
    pub(crate) fn reject(&mut self, index: usize, error: DecodeError) {
        self.rejected.push(ItemError { index, error });
    }

    /// A one-line summary of the rejections for a 400 body (first few reasons).
    pub fn rejection_summary(&self) -> String {
        let mut s = format!("{} item(s) rejected", self.rejected.len());
        for e in self.rejected.iter().take(5) {
            s.push_str("; ");
            s.push_str(&e.to_string());
        }
        s
    }
}

/// Limits applied by every decoder. The body size is the caller's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestLimits {
    /// Bytes in one log line (Loki's `max_line_size`, 256 KiB).
    pub max_line_bytes: usize,
    /// Cut longer lines to `max_line_bytes` instead of refusing them
    /// (Loki's `max_line_size_truncate`).
    pub truncate_long_lines: bool,
    /// Stream labels per record (Loki's `max_label_names_per_series` is 15).
    pub max_labels_per_stream: usize,
    /// Bytes in a label name.
    pub max_label_name_len: usize,
    /// Bytes in a label value.
    pub max_label_value_len: usize,
    /// Structured fields per record; extra fields are refused with the item.
    pub max_fields: usize,
    /// Bytes of one field value; longer values are truncated (on a char boundary).
    pub max_field_value_bytes: usize,
    /// Items (entries, lines, documents) per request.
    pub max_items: usize,
    /// Bytes a compressed payload may expand to (snappy, GELF gzip/zlib).
    pub max_decompressed_bytes: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_line_bytes: 256 * 1024,
            truncate_long_lines: false,
            max_labels_per_stream: 15,
            max_label_name_len: 1024,
            max_label_value_len: 2048,
            max_fields: 256,
            max_field_value_bytes: 64 * 1024,
            max_items: 1_000_000,
            max_decompressed_bytes: 256 << 20,
        }
    }
}

impl IngestLimits {
    /// Applies the line-length limit (refuse, or truncate on a char boundary).
    pub fn check_line(&self, line: &mut String) -> Result<(), DecodeError> {
        if line.len() <= self.max_line_bytes {
            return Ok(());
        }
        if self.truncate_long_lines {
            let end = floor_char_boundary(line, self.max_line_bytes);
            line.truncate(end);
            Ok(())
        } else {
            Err(DecodeError::limit(format!(
                "line of {} bytes exceeds max_line_bytes ({})",
                line.len(),
                self.max_line_bytes
            )))
        }
    }

    /// Checks a stream's labels against the limits and the label-name syntax.
    pub fn check_stream(&self, labels: &Labels) -> Result<(), DecodeError> {
        if labels.len() > self.max_labels_per_stream {
            return Err(DecodeError::limit(format!(
                "stream {labels} has {} labels, more than max_labels_per_stream ({})",
                labels.len(),
                self.max_labels_per_stream
            )));
        }
        for l in labels.iter() {
            if !is_valid_label_name(l.name) {
                return Err(DecodeError::bad(format!("invalid label name {:?}", l.name)));
            }
            if l.name.len() > self.max_label_name_len {
                return Err(DecodeError::limit(format!(
                    "label name {:?} is longer than max_label_name_len ({})",
                    truncate_for_msg(l.name),
                    self.max_label_name_len
                )));
            }
            if l.value.len() > self.max_label_value_len {
                return Err(DecodeError::limit(format!(
                    "value of label {:?} is {} bytes, longer than max_label_value_len ({})",
                    l.name,
                    l.value.len(),
                    self.max_label_value_len
                )));
            }
        }
        Ok(())
    }

    /// Checks the field count and truncates over-long field values.
    pub fn check_fields(&self, fields: &mut [(String, String)]) -> Result<(), DecodeError> {
        if fields.len() > self.max_fields {
            return Err(DecodeError::limit(format!(
                "{} fields, more than max_fields ({})",
                fields.len(),
                self.max_fields
            )));
        }
        for (_, v) in fields.iter_mut() {
            if v.len() > self.max_field_value_bytes {
                let end = floor_char_boundary(v, self.max_field_value_bytes);
                v.truncate(end);
            }
        }
        Ok(())
    }

    /// All record-level checks: line, stream, fields.
    pub fn check_record(&self, r: &mut LogRecord) -> Result<(), DecodeError> {
        self.check_line(&mut r.message)?;
        self.check_stream(&r.stream)?;
        self.check_fields(&mut r.fields)
    }
}

/// Prometheus label-name syntax: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Turns any field name into a label name: every invalid character becomes
/// `_`, and a leading digit gets a `_` prefix (`service.name` -> `service_name`).
pub fn sanitize_label_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    if s.as_bytes().first().is_some_and(|c| c.is_ascii_digit()) || s.is_empty() {
        out.push('_');
    }
    for c in s.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        });
    }
    out
}

pub(crate) fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

pub(crate) fn truncate_for_msg(s: &str) -> &str {
    &s[..floor_char_boundary(s, 64)]
}

/// Splits a trace id from bytes: exactly 16 non-zero bytes, else `None`.
pub(crate) fn trace_id_from(b: &[u8]) -> Option<[u8; 16]> {
    let t: [u8; 16] = b.try_into().ok()?;
    (t != [0; 16]).then_some(t)
}

pub(crate) fn span_id_from(b: &[u8]) -> Option<[u8; 8]> {
    let t: [u8; 8] = b.try_into().ok()?;
    (t != [0; 8]).then_some(t)
}

/// Parses a hex trace/span id (any case); `None` when not valid hex of `N` bytes.
pub(crate) fn hex_id<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, p) in s.as_bytes().chunks(2).enumerate() {
        let h = (p[0] as char).to_digit(16)?;
        let l = (p[1] as char).to_digit(16)?;
        out[i] = (h * 16 + l) as u8;
    }
    (out != [0; N]).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names() {
        assert!(is_valid_label_name("a_b9"));
        assert!(!is_valid_label_name("9a"));
        assert!(!is_valid_label_name(""));
        assert!(!is_valid_label_name("a.b"));
        assert_eq!(sanitize_label_name("service.name"), "service_name");
        assert_eq!(sanitize_label_name("1x-y"), "_1x_y");
    }

    #[test]
    fn line_limit_refuses_or_truncates() {
        let mut l = IngestLimits {
            max_line_bytes: 4,
            ..Default::default()
        };
        let mut s = "héllo".to_string();
        assert!(matches!(l.check_line(&mut s), Err(DecodeError::Limit(_))));
        l.truncate_long_lines = true;
        l.check_line(&mut s).unwrap();
        assert_eq!(s, "hél");
    }

    #[test]
    fn stream_limits() {
        let l = IngestLimits {
            max_labels_per_stream: 1,
            ..Default::default()
        };
        assert!(l.check_stream(&Labels::from_pairs([("a", "1")])).is_ok());
        assert!(matches!(
            l.check_stream(&Labels::from_pairs([("a", "1"), ("b", "2")])),
            Err(DecodeError::Limit(_))
        ));
        assert!(matches!(
            l.check_stream(&Labels::from_pairs([("a.b", "1")])),
            Err(DecodeError::BadInput(_))
        ));
    }

    #[test]
    fn hex_ids() {
        assert_eq!(hex_id::<2>("0aFf"), Some([0x0a, 0xff]));
        assert_eq!(hex_id::<2>("0000"), None);
        assert_eq!(hex_id::<2>("0g00"), None);
        assert_eq!(hex_id::<2>("é0"), None);
    }
}
