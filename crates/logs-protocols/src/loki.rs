//! Loki push API (`POST /loki/api/v1/push`).
//!
//! Two bodies:
//! - `Content-Type: application/x-protobuf`: a snappy (block format)
//!   compressed `logproto.PushRequest`, as Promtail, Grafana Alloy, the
//!   Docker driver and Fluent Bit's `loki` output send it;
//! - `application/json`: `{"streams":[{"stream":{"a":"b"},"values":[["<ns>","line",{"k":"v"}]]}]}`.
//!
//! Mapping: the stream labels become [`LogRecord::stream`], the entry
//! timestamp `ts_ns`, the line `message`, structured metadata `fields` (in
//! order). An entry whose stream is invalid, or that breaks a limit, is
//! rejected alone; indexes in [`crate::ItemError`] count entries across the
//! whole request (stream-level errors reject each of its entries).
//!
//! The protobuf messages are declared here with `prost` derive: `labels` and
//! `line` are read as bytes and converted lossily, so a line with invalid
//! UTF-8 is kept (as Loki keeps Go strings) instead of failing the request.

use crate::{Batch, DecodeError, IngestLimits, LogRecord};
use prost::Message;
use serde_json::Value;
use sightline_model::{Labels, LabelsBuilder};

/// `logproto.PushRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

/// `logproto.StreamAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// Prometheus selector syntax: `{job="x", env="prod"}`.
    #[prost(bytes = "vec", tag = "1")]
    pub labels: Vec<u8>,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(bytes = "vec", tag = "2")]
    pub line: Vec<u8>,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

/// `logproto.LabelPairAdapter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    #[prost(bytes = "vec", tag = "1")]
    pub name: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

fn lossy(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Decodes a snappy-compressed protobuf push body.
pub fn decode_protobuf(body: &[u8], limits: &IngestLimits) -> Result<Batch, DecodeError> {
    let len = snap::raw::decompress_len(body)
        .map_err(|e| DecodeError::bad(format!("invalid snappy block: {e}")))?;
    if len > limits.max_decompressed_bytes {
        return Err(DecodeError::limit(format!(
            "snappy body expands to {len} bytes, more than max_decompressed_bytes ({})",
            limits.max_decompressed_bytes
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::bad(format!("invalid snappy block: {e}")))?;
    decode_protobuf_uncompressed(&raw, limits)
}

/// Decodes an uncompressed `PushRequest` (for callers that already undid the
/// compression, e.g. `Content-Encoding: gzip` with protobuf).
pub fn decode_protobuf_uncompressed(raw: &[u8], limits: &IngestLimits) -> Result<Batch, DecodeError> {
    let req = PushRequest::decode(raw).map_err(|e| DecodeError::bad(format!("invalid PushRequest: {e}")))?;
    let total: usize = req.streams.iter().map(|s| s.entries.len()).sum();
    if total > limits.max_items {
        return Err(DecodeError::limit(format!(
            "{total} entries, more than max_items ({})",
            limits.max_items
        )));
    }
    let mut out = Batch::default();
    let mut idx = 0;
    for s in req.streams {
        let n = s.entries.len();
        let stream = match parse_labels(&lossy(s.labels)).and_then(|l| checked_stream(l, limits)) {
            Ok(l) => l,
            Err(e) => {
                for k in 0..n {
                    out.reject(idx + k, e.clone());
                }
                idx += n;
                continue;
            }
        };
        for e in s.entries {
            let ts_ns = e
                .timestamp
                .map(|t| {
                    t.seconds
                        .checked_mul(1_000_000_000)
                        .and_then(|s| s.checked_add(t.nanos as i64))
                })
                .unwrap_or(Some(0));
            let mut rec = LogRecord {
                ts_ns: ts_ns.unwrap_or(0),
                stream: stream.clone(),
                message: lossy(e.line),
                fields: e
                    .structured_metadata
                    .into_iter()
                    .map(|p| (lossy(p.name), lossy(p.value)))
                    .collect(),
                ..Default::default()
            };
            let r = if ts_ns.is_none() {
                Err(DecodeError::bad("timestamp out of range"))
            } else {
                limits
                    .check_line(&mut rec.message)
                    .and_then(|_| limits.check_fields(&mut rec.fields))
            };
            match r {
                Ok(()) => out.records.push(rec),
                Err(err) => out.reject(idx, err),
            }
            idx += 1;
        }
    }
    Ok(out)
}

fn checked_stream(l: Labels, limits: &IngestLimits) -> Result<Labels, DecodeError> {
    if l.is_empty() {
        return Err(DecodeError::bad(
            "stream has no labels: at least one label pair is required",
        ));
    }
    limits.check_stream(&l)?;
    Ok(l)
}

/// Decodes the JSON push body. Timestamps are nanosecond strings (numbers
/// are accepted too); the optional third element of a value is the entry's
/// structured metadata (an object of strings).
pub fn decode_json(body: &[u8], limits: &IngestLimits) -> Result<Batch, DecodeError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| DecodeError::bad(format!("invalid JSON: {e}")))?;
    let streams = match v.get("streams") {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => return Ok(Batch::default()),
        Some(_) => return Err(DecodeError::bad("\"streams\" must be an array")),
    };
    let mut total = 0usize;
    for s in streams {
        total += s.get("values").and_then(Value::as_array).map_or(0, Vec::len);
    }
    if total > limits.max_items {
        return Err(DecodeError::limit(format!(
            "{total} entries, more than max_items ({})",
            limits.max_items
        )));
    }
    let mut out = Batch::default();
    let mut idx = 0;
    for (si, s) in streams.iter().enumerate() {
        let values: &[Value] = match s.get("values") {
            Some(Value::Array(a)) => a,
            Some(Value::Null) | None => &[],
            Some(_) => return Err(DecodeError::bad(format!("streams[{si}].values must be an array"))),
        };
        let stream = json_stream(s).and_then(|l| checked_stream(l, limits));
        let stream = match stream {
            Ok(l) => l,
            Err(e) => {
                for k in 0..values.len() {
                    out.reject(idx + k, e.clone());
                }
                idx += values.len();
                continue;
            }
        };
        for v in values {
            match json_entry(v, &stream, limits) {
                Ok(r) => out.records.push(r),
                Err(e) => out.reject(idx, e),
            }
            idx += 1;
        }
    }
    Ok(out)
}

fn json_stream(s: &Value) -> Result<Labels, DecodeError> {
    match s.get("stream") {
        Some(Value::Object(o)) => {
            let mut b = LabelsBuilder::with_capacity(o.len());
            for (k, v) in o {
                let Value::String(v) = v else {
                    return Err(DecodeError::bad(format!(
                        "value of stream label {k:?} must be a string"
                    )));
                };
                if !crate::is_valid_label_name(k) {
                    return Err(DecodeError::bad(format!("invalid label name {k:?}")));
                }
                b.set(k.clone(), v.clone());
            }
            Ok(b.build())
        }
        Some(Value::String(sel)) => parse_labels(sel),
        _ => Err(DecodeError::bad("stream must be an object of labels")),
    }
}

fn json_entry(v: &Value, stream: &Labels, limits: &IngestLimits) -> Result<LogRecord, DecodeError> {
    let a = v
        .as_array()
        .filter(|a| a.len() == 2 || a.len() == 3)
        .ok_or_else(|| {
            DecodeError::bad(
                "each value must be [\"<ns>\", \"<line>\"] or [\"<ns>\", \"<line>\", {metadata}]",
            )
        })?;
    let ts_ns = match &a[0] {
        Value::String(s) => s.trim().parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| {
        DecodeError::bad(format!(
            "invalid timestamp {}: want nanoseconds as a string",
            a[0]
        ))
    })?;
    let Value::String(line) = &a[1] else {
        return Err(DecodeError::bad("log line must be a string"));
    };
    let mut rec = LogRecord {
        ts_ns,
        stream: stream.clone(),
        message: line.clone(),
        ..Default::default()
    };
    if let Some(md) = a.get(2) {
        match md {
            Value::Object(o) => {
                for (k, v) in o {
                    let Value::String(s) = v else {
                        return Err(DecodeError::bad(format!(
                            "structured metadata {k:?} must be a string"
                        )));
                    };
                    rec.fields.push((k.clone(), s.clone()));
                }
            }
            Value::Null => {}
            _ => return Err(DecodeError::bad("structured metadata must be an object")),
        }
    }
    limits.check_line(&mut rec.message)?;
    limits.check_fields(&mut rec.fields)?;
    Ok(rec)
}

/// Parses a Loki stream selector `{a="b", c="d"}` as the push API does:
/// only `=` matchers, values in double quotes (Go escapes) or backquotes (raw),
/// label names in Prometheus syntax, optional trailing comma; a repeated
/// name is an error.
pub fn parse_labels(s: &str) -> Result<Labels, DecodeError> {
    let err = |m: &str| {
        DecodeError::bad(format!(
            "error parsing labels {:?}: {m}",
            crate::truncate_for_msg(s)
        ))
    };
    let b = s.as_bytes();
    let mut i = 0;
    let ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    ws(&mut i);
    if b.get(i) != Some(&b'{') {
        return Err(err("expected '{'"));
    }
    i += 1;
    let mut pairs: Vec<(String, String)> = Vec::new();
    loop {
        ws(&mut i);
        if b.get(i) == Some(&b'}') {
            i += 1;
            break;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let name = &s[start..i];
        if !crate::is_valid_label_name(name) {
            return Err(err("expected a label name"));
        }
        ws(&mut i);
        if b.get(i) != Some(&b'=') || matches!(b.get(i + 1), Some(b'~')) {
            return Err(err("only '=' matchers are allowed"));
        }
        i += 1;
        ws(&mut i);
        let (value, next) = match b.get(i) {
            Some(b'"') => unquote_go(s, i).ok_or_else(|| err("invalid quoted value"))?,
            Some(b'`') => {
                let end = s[i + 1..]
                    .find('`')
                    .ok_or_else(|| err("unterminated raw string"))?;
                (s[i + 1..i + 1 + end].to_string(), i + end + 2)
            }
            _ => return Err(err("expected a quoted value")),
        };
        i = next;
        if pairs.iter().any(|(n, _)| n == name) {
            return Err(err(&format!("duplicate label name {name:?}")));
        }
        pairs.push((name.to_string(), value));
        ws(&mut i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => {}
            _ => return Err(err("expected ',' or '}'")),
        }
    }
    ws(&mut i);
    if i != b.len() {
        return Err(err("trailing characters after '}'"));
    }
    Ok(Labels::from_pairs(pairs))
}

/// Unquotes a Go double-quoted string starting at `s[start] == '"'`; returns
/// the value and the index after the closing quote.
pub(crate) fn unquote_go(s: &str, start: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s[start + 1..].char_indices();
    let mut bytes_acc: Vec<u8> = Vec::new();
    let flush = |acc: &mut Vec<u8>, out: &mut String| -> Option<()> {
        if !acc.is_empty() {
            out.push_str(std::str::from_utf8(acc).ok()?);
            acc.clear();
        }
        Some(())
    };
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => {
                flush(&mut bytes_acc, &mut out)?;
                return Some((out, start + 1 + off + 1));
            }
            '\n' => return None,
            '\\' => {
                let (_, e) = chars.next()?;
                let simple = match e {
                    'a' => Some('\x07'),
                    'b' => Some('\x08'),
                    'f' => Some('\x0c'),
                    'n' => Some('\n'),
                    'r' => Some('\r'),
                    't' => Some('\t'),
                    'v' => Some('\x0b'),
                    '\\' => Some('\\'),
                    '"' => Some('"'),
                    _ => None,
                };
                if let Some(ch) = simple {
                    flush(&mut bytes_acc, &mut out)?;
                    out.push(ch);
                    continue;
                }
                let mut hex = |n: usize| -> Option<u32> {
                    let mut v = 0u32;
                    for _ in 0..n {
                        v = v * 16 + chars.next()?.1.to_digit(16)?;
                    }
                    Some(v)
                };
                match e {
                    'x' => bytes_acc.push(hex(2)? as u8),
                    'u' => {
                        flush(&mut bytes_acc, &mut out)?;
                        out.push(char::from_u32(hex(4)?)?)
                    }
                    'U' => {
                        flush(&mut bytes_acc, &mut out)?;
                        out.push(char::from_u32(hex(8)?)?)
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8)?;
                        for _ in 0..2 {
                            v = v * 8 + chars.next()?.1.to_digit(8)?;
                        }
                        bytes_acc.push(u8::try_from(v).ok()?);
                    }
                    _ => return None,
                }
            }
            c => {
                flush(&mut bytes_acc, &mut out)?;
                out.push(c);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promtail_body() -> Vec<u8> {
        let req = PushRequest {
            streams: vec![
                StreamAdapter {
                    labels: br#"{job="varlogs", filename="/var/log/syslog", host="web-1"}"#.to_vec(),
                    entries: vec![
                        EntryAdapter {
                            timestamp: Some(Timestamp {
                                seconds: 1_700_000_000,
                                nanos: 123,
                            }),
                            line: b"Nov 14 22:13:20 web-1 sshd[42]: Accepted publickey".to_vec(),
                            structured_metadata: vec![LabelPairAdapter {
                                name: b"trace_id".to_vec(),
                                value: b"abc".to_vec(),
                            }],
                        },
                        EntryAdapter {
                            timestamp: Some(Timestamp {
                                seconds: 1_700_000_001,
                                nanos: 0,
                            }),
                            line: vec![b'o', b'k', 0xff],
                            structured_metadata: vec![],
                        },
                    ],
                    hash: 0,
                },
                StreamAdapter {
                    labels: b"{}".to_vec(),
                    entries: vec![EntryAdapter::default()],
                    hash: 0,
                },
            ],
        };
        snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap()
    }

    #[test]
    fn protobuf_push_from_promtail() {
        let b = decode_protobuf(&promtail_body(), &IngestLimits::default()).unwrap();
        assert_eq!(b.records.len(), 2);
        let r = &b.records[0];
        assert_eq!(r.ts_ns, 1_700_000_000_000_000_123);
        assert_eq!(
            r.stream,
            Labels::from_pairs([
                ("job", "varlogs"),
                ("filename", "/var/log/syslog"),
                ("host", "web-1")
            ])
        );
        assert_eq!(r.fields, vec![("trace_id".to_string(), "abc".to_string())]);
        assert_eq!(b.records[1].message, "ok\u{fffd}");
        assert_eq!(b.rejected.len(), 1);
        assert_eq!(b.rejected[0].index, 2);
    }

    #[test]
    fn protobuf_errors() {
        assert!(decode_protobuf(b"\xff\xff\xff\xff\xff\xff", &IngestLimits::default()).is_err());
        let not_proto = snap::raw::Encoder::new()
            .compress_vec(b"\x0a\xff\xff\xff\xff\x0f")
            .unwrap();
        assert!(matches!(
            decode_protobuf(&not_proto, &IngestLimits::default()),
            Err(DecodeError::BadInput(_))
        ));
        let lim = IngestLimits {
            max_decompressed_bytes: 10,
            ..Default::default()
        };
        assert!(matches!(
            decode_protobuf(&promtail_body(), &lim),
            Err(DecodeError::Limit(_))
        ));
        let lim = IngestLimits {
            max_line_bytes: 10,
            ..Default::default()
        };
        let b = decode_protobuf(&promtail_body(), &lim).unwrap();
        assert_eq!(b.records.len(), 1);
        assert!(matches!(b.rejected[0].error, DecodeError::Limit(_)));
    }

    #[test]
    fn json_push_from_fluent_bit_and_vector() {
        let body = br#"{"streams":[
            {"stream":{"job":"fluent-bit","env":"prod"},"values":[["1700000000000000000","GET /"],
                ["1700000000000000001","with md",{"trace_id":"t1","user":"u"}]]},
            {"stream":{"bad-name":"x"},"values":[["1","x"]]},
            {"stream":{"job":"v"},"values":[[1,"numeric ts"],["x","bad ts"],["1",2]]}]}"#;
        let b = decode_json(body, &IngestLimits::default()).unwrap();
        assert_eq!(b.records.len(), 3);
        assert_eq!(b.records[1].fields.len(), 2);
        assert_eq!(b.records[1].ts_ns, 1_700_000_000_000_000_001);
        assert_eq!(
            b.records[0].stream,
            Labels::from_pairs([("env", "prod"), ("job", "fluent-bit")])
        );
        assert_eq!(
            b.rejected.iter().map(|e| e.index).collect::<Vec<_>>(),
            vec![2, 4, 5]
        );
        assert!(decode_json(b"{\"streams\":5}", &IngestLimits::default()).is_err());
        assert!(decode_json(b"{", &IngestLimits::default()).is_err());
        assert_eq!(
            decode_json(b"{}", &IngestLimits::default())
                .unwrap()
                .records
                .len(),
            0
        );
    }

    #[test]
    fn label_parser_like_loki() {
        let l = parse_labels(r#"{ a="b\"c\\d\n\x41\u00e9\101", b_2 = `raw\n`, }"#).unwrap();
        assert_eq!(l.get("a"), Some("b\"c\\d\nAéA"));
        assert_eq!(l.get("b_2"), Some("raw\\n"));
        assert_eq!(parse_labels("{}").unwrap(), Labels::new());
        assert_eq!(parse_labels(r#"{job="é"}"#).unwrap().get("job"), Some("é"));
        for bad in [
            "",
            "a=\"b\"",
            "{a=\"b\"",
            "{a=~\"b\"}",
            "{a!=\"b\"}",
            "{1a=\"b\"}",
            "{a=\"b\",a=\"c\"}",
            "{a=b}",
            "{a=\"\\q\"}",
            "{a=\"b\"} x",
            "{a=\"\\xff\"}",
        ] {
            assert!(parse_labels(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let good = promtail_body();
        let alphabet = b"{}=\"`\\,ax_1 u0";
        for _ in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut m = good.clone();
            let k = (x as usize) % m.len();
            m[k] ^= (x >> 32) as u8 | 1;
            let _ = decode_protobuf(&m, &IngestLimits::default());
            let raw = snap::raw::Decoder::new().decompress_vec(&good).unwrap();
            let mut r = raw.clone();
            let k = (x as usize) % r.len();
            r[k] ^= (x >> 40) as u8 | 1;
            let _ = decode_protobuf_uncompressed(&r, &IngestLimits::default());
            let s: String = (0..(x % 20))
                .map(|i| alphabet[((x >> i) % alphabet.len() as u64) as usize] as char)
                .collect();
            let _ = parse_labels(&s);
            let _ = decode_json(s.as_bytes(), &IngestLimits::default());
        }
    }
}
