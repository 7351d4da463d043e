//! JSON log documents: the mapping shared by Elasticsearch bulk, JSON lines,
//! `POST /api/logs` and (for its fields) GELF.
//!
//! A document (a JSON object) becomes one [`LogRecord`]:
//! - timestamp: the first of [`DocMapping::timestamp_fields`] present (RFC 3339
//!   text, HTTPDATE, or an epoch number of guessed unit); else `now_ns`;
//! - message: the first of [`DocMapping::message_fields`] present (non-string
//!   values as JSON text); a document without one keeps its remaining content
//!   as compact JSON text, so nothing is lost;
//! - stream labels: every [`LabelField`] present (dotted paths reach into
//!   nested objects) with a non-empty scalar value, plus the caller's extra
//!   labels (e.g. the ES index);
//! - fields: everything else, flattened with dotted names (`http.status`);
//!   arrays of scalars and of objects are stored as JSON text, `null` is dropped;
//!   fields come in key order (sorted: `serde_json` maps without `preserve_order`);
//! - `trace_id`/`span_id` (also `trace.id`, `span.id`, `traceId`, `spanId`)
//!   as hex set the record's ids and are kept as fields too.

use crate::{time, Batch, DecodeError, IngestLimits, LogRecord};
use serde::Deserialize;
use serde_json::{Map, Value};
use sightline_model::LabelsBuilder;

/// One document field promoted to a stream label.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelField {
    /// Dotted path in the document (`service.name` matches both a key
    /// `"service.name"` and `{"service":{"name":..}}`).
    pub field: String,
    /// The label name it becomes.
    pub label: String,
}

impl LabelField {
    pub fn new(field: &str, label: &str) -> Self {
        Self {
            field: field.into(),
            label: label.into(),
        }
    }
}

/// How documents map to records (configurable per source).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocMapping {
    pub timestamp_fields: Vec<String>,
    pub message_fields: Vec<String>,
    /// Low-cardinality fields that become stream labels, first match per label wins.
    pub label_fields: Vec<LabelField>,
    /// Keep promoted label fields in `fields` too.
    pub keep_label_fields: bool,
}

impl Default for DocMapping {
    fn default() -> Self {
        Self {
            timestamp_fields: vec![
                "@timestamp".into(),
                "timestamp".into(),
                "time".into(),
                "ts".into(),
            ],
            message_fields: vec!["message".into(), "msg".into(), "log".into()],
            label_fields: vec![
                LabelField::new("service", "service"),
                LabelField::new("service.name", "service_name"),
                LabelField::new("host.name", "host"),
                LabelField::new("host", "host"),
                LabelField::new("level", "level"),
                LabelField::new("log.level", "level"),
            ],
            keep_label_fields: false,
        }
    }
}

/// Looks a dotted path up: the literal key first, then nested objects.
fn lookup<'a>(o: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = o.get(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    match o.get(head)? {
        Value::Object(inner) => lookup(inner, rest),
        _ => None,
    }
}

/// Removes a dotted path (literal key first, then nested), returning the value.
fn take(o: &mut Map<String, Value>, path: &str) -> Option<Value> {
    if let Some(v) = o.remove(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    match o.get_mut(head)? {
        Value::Object(inner) => {
            let v = take(inner, rest);
            if inner.is_empty() {
                o.remove(head);
            }
            v
        }
        _ => None,
    }
}

/// A scalar as text (`None` for null, arrays and objects).
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Any value as text: scalars as themselves, containers as compact JSON.
pub(crate) fn value_text(v: &Value) -> String {
    scalar_text(v).unwrap_or_else(|| v.to_string())
}

/// Flattens `v` under `prefix` into dotted `(name, text)` pairs.
pub fn flatten_into(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Null => {}
        Value::Object(o) => {
            for (k, inner) in o {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_into(&name, inner, out);
            }
        }
        other => out.push((prefix.to_string(), value_text(other))),
    }
}

/// Parses a timestamp value (string or number) of a document.
pub(crate) fn parse_ts_value(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => time::parse_any(s),
        Value::Number(n) => match n.as_i64() {
            Some(i) => time::epoch_guess_ns_int(i),
            None => n.as_f64().and_then(time::epoch_guess_ns),
        },
        _ => None,
    }
}

/// Maps one document. `extra_labels` are added to the stream (they win over
/// document fields of the same label name).
pub fn map_document(
    mut o: Map<String, Value>,
    extra_labels: &[(&str, &str)],
    mapping: &DocMapping,
    limits: &IngestLimits,
    now_ns: i64,
) -> Result<LogRecord, DecodeError> {
    let mut rec = LogRecord {
        ts_ns: now_ns,
        ..Default::default()
    };
    for f in &mapping.timestamp_fields {
        if let Some(v) = lookup(&o, f) {
            match parse_ts_value(v) {
                Some(ts) => {
                    rec.ts_ns = ts;
                    take(&mut o, f);
                    break;
                }
                None => {
                    return Err(DecodeError::bad(format!(
                        "field {f:?} is not a timestamp: {}",
                        crate::truncate_for_msg(&value_text(v))
                    )))
                }
            }
        }
    }
    let mut labels = LabelsBuilder::default();
    for lf in &mapping.label_fields {
        if labels.get(&lf.label).is_some() {
            continue;
        }
        let Some(text) = lookup(&o, &lf.field).and_then(scalar_text) else {
            continue;
        };
        if text.is_empty() {
            continue;
        }
        labels.set(lf.label.clone(), text);
        if !mapping.keep_label_fields {
            take(&mut o, &lf.field);
        }
    }
    for (n, v) in extra_labels {
        labels.set(*n, *v);
    }
    rec.stream = labels.build();
    let mut message = None;
    for f in &mapping.message_fields {
        if let Some(v) = take(&mut o, f) {
            if !v.is_null() {
                message = Some(value_text(&v));
                break;
            }
        }
    }
    rec.message = match message {
        Some(m) => m,
        None if o.is_empty() => String::new(),
        None => Value::Object(o.clone()).to_string(),
    };
    for (k, v) in &o {
        flatten_into(k, v, &mut rec.fields);
    }
    for (name, val) in &rec.fields {
        match name.as_str() {
            "trace_id" | "trace.id" | "traceId" | "traceid" => rec.trace_id = crate::hex_id::<16>(val),
            "span_id" | "span.id" | "spanId" | "spanid" => rec.span_id = crate::hex_id::<8>(val),
            _ => {}
        }
    }
    limits.check_record(&mut rec)?;
    Ok(rec)
}

/// Decodes newline-delimited JSON documents (one object per line; blank lines
/// and a trailing `\r` are ignored). Errors are per line (zero-based).
pub fn decode_json_lines(
    body: &[u8],
    extra_labels: &[(&str, &str)],
    mapping: &DocMapping,
    limits: &IngestLimits,
    now_ns: i64,
) -> Batch {
    let mut out = Batch::default();
    for (i, line) in body.split(|&c| c == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if out.records.len() + out.rejected.len() >= limits.max_items {
            out.reject(
                i,
                DecodeError::limit(format!("more than max_items ({}) lines", limits.max_items)),
            );
            break;
        }
        match parse_object(line).and_then(|o| map_document(o, extra_labels, mapping, limits, now_ns)) {
            Ok(r) => out.records.push(r),
            Err(e) => out.reject(i, e),
        }
    }
    out
}

pub(crate) fn parse_object(b: &[u8]) -> Result<Map<String, Value>, DecodeError> {
    match serde_json::from_slice::<Value>(b) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(v) => Err(DecodeError::bad(format!(
            "expected a JSON object, got {}",
            json_kind(&v)
        ))),
        Err(e) => Err(DecodeError::bad(format!("invalid JSON: {e}"))),
    }
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Decodes the guides' `POST /api/logs` body: `{"logs":[{...},...]}` (a bare
/// array of documents and a single document are accepted too). Errors are
/// per document (index in the array); a body that is not JSON is a
/// request-level error.
pub fn decode_api_logs(
    body: &[u8],
    mapping: &DocMapping,
    limits: &IngestLimits,
    now_ns: i64,
) -> Result<Batch, DecodeError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| DecodeError::bad(format!("invalid JSON: {e}")))?;
    let docs = match v {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("logs") {
            Some(Value::Array(a)) => a,
            Some(other) => {
                return Err(DecodeError::bad(format!(
                    "\"logs\" must be an array, got {}",
                    json_kind(&other)
                )))
            }
            None => vec![Value::Object(o)],
        },
        other => {
            return Err(DecodeError::bad(format!(
                "expected {{\"logs\":[...]}}, got {}",
                json_kind(&other)
            )))
        }
    };
    if docs.len() > limits.max_items {
        return Err(DecodeError::limit(format!(
            "{} documents, more than max_items ({})",
            docs.len(),
            limits.max_items
        )));
    }
    let mut out = Batch::default();
    for (i, d) in docs.into_iter().enumerate() {
        let r = match d {
            Value::Object(o) => map_document(o, &[], mapping, limits, now_ns),
            other => Err(DecodeError::bad(format!(
                "expected a JSON object, got {}",
                json_kind(&other)
            ))),
        };
        match r {
            Ok(r) => out.records.push(r),
            Err(e) => out.reject(i, e),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_model::Labels;

    const NOW: i64 = 1_000;

    fn map(s: &str) -> Result<LogRecord, DecodeError> {
        map_document(
            parse_object(s.as_bytes())?,
            &[],
            &DocMapping::default(),
            &IngestLimits::default(),
            NOW,
        )
    }

    #[test]
    fn python_structured_logger_document() {
        // The guides' StructuredLogger (python-json-logger with rename_fields).
        let r = map(
            r#"{"timestamp": "2024-01-02T03:04:05+0000", "service": "order-service", "level": "INFO",
                "message": "Order created", "user_id": 123, "total": 99.99, "request_id": "req-789",
                "exception": {"type": "ValueError", "trace": ["a", "b"]}, "extra": null}"#,
        )
        .unwrap();
        assert_eq!(r.ts_ns, 1_704_164_645_000_000_000);
        assert_eq!(
            r.stream,
            Labels::from_pairs([("service", "order-service"), ("level", "INFO")])
        );
        assert_eq!(r.message, "Order created");
        assert_eq!(
            r.fields,
            vec![
                ("exception.trace".to_string(), r#"["a","b"]"#.to_string()),
                ("exception.type".into(), "ValueError".into()),
                ("request_id".into(), "req-789".into()),
                ("total".into(), "99.99".into()),
                ("user_id".into(), "123".into()),
            ]
        );
    }

    #[test]
    fn ecs_document_from_filebeat() {
        let r = map(
            r#"{"@timestamp":"2024-01-02T03:04:05.123Z","log":{"level":"error","file":{"path":"/var/log/app.log"}},
                "message":"boom","host":{"name":"web-1"},"service":{"name":"api"},
                "trace":{"id":"4bf92f3577b34da6a3ce929d0e0e4736"},"span":{"id":"00f067aa0ba902b7"}}"#,
        )
        .unwrap();
        assert_eq!(r.ts_ns, 1_704_164_645_123_000_000);
        assert_eq!(
            r.stream,
            Labels::from_pairs([("service_name", "api"), ("host", "web-1"), ("level", "error")])
        );
        assert!(r
            .fields
            .contains(&("log.file.path".into(), "/var/log/app.log".into())));
        assert_eq!(r.trace_id.unwrap()[0], 0x4b);
        assert_eq!(r.span_id.unwrap()[7], 0xb7);
    }

    #[test]
    fn no_message_keeps_document_and_no_timestamp_uses_now() {
        let r = map(r#"{"a":1,"b":{"c":"d"}}"#).unwrap();
        assert_eq!(r.ts_ns, NOW);
        assert_eq!(r.message, r#"{"a":1,"b":{"c":"d"}}"#);
        assert_eq!(r.fields.len(), 2);
        let r = map(r#"{"time": 1700000000.5, "msg": {"x": 1}}"#).unwrap();
        assert_eq!(r.ts_ns, 1_700_000_000_500_000_000);
        assert_eq!(r.message, r#"{"x":1}"#);
        assert!(matches!(
            map(r#"{"timestamp":"yesterday"}"#),
            Err(DecodeError::BadInput(_))
        ));
    }

    #[test]
    fn json_lines_per_line_errors() {
        let body = b"{\"message\":\"a\"}\r\n\nnot json\n[1]\n{\"message\":\"b\",\"level\":\"warn\"}";
        let b = decode_json_lines(
            body,
            &[("source", "tcp")],
            &DocMapping::default(),
            &IngestLimits::default(),
            NOW,
        );
        assert_eq!(b.records.len(), 2);
        assert_eq!(
            b.records[1].stream,
            Labels::from_pairs([("level", "warn"), ("source", "tcp")])
        );
        assert_eq!(b.rejected.iter().map(|e| e.index).collect::<Vec<_>>(), vec![2, 3]);
        assert!(b.rejection_summary().starts_with("2 item(s) rejected"));
    }

    #[test]
    fn api_logs_body_from_the_guides() {
        let body = br#"{"logs":[{"level":"INFO","message":"User logged in","user_id":123},
                                  {"level":"ERROR","message":"Payment failed","order_id":456}, 7]}"#;
        let b = decode_api_logs(body, &DocMapping::default(), &IngestLimits::default(), NOW).unwrap();
        assert_eq!(b.records.len(), 2);
        assert_eq!(b.records[1].message, "Payment failed");
        assert_eq!(
            b.records[1].fields,
            vec![("order_id".to_string(), "456".to_string())]
        );
        assert_eq!(b.rejected[0].index, 2);
        assert!(decode_api_logs(
            b"{\"logs\":3}",
            &DocMapping::default(),
            &IngestLimits::default(),
            0
        )
        .is_err());
        assert!(decode_api_logs(b"nope", &DocMapping::default(), &IngestLimits::default(), 0).is_err());
        let one = decode_api_logs(
            br#"{"message":"x"}"#,
            &DocMapping::default(),
            &IngestLimits::default(),
            0,
        );
        assert_eq!(one.unwrap().records.len(), 1);
        let lim = IngestLimits {
            max_items: 1,
            ..Default::default()
        };
        assert!(matches!(
            decode_api_logs(br#"[{},{}]"#, &DocMapping::default(), &lim, 0),
            Err(DecodeError::Limit(_))
        ));
    }

    #[test]
    fn garbage_lines_never_panic() {
        let mut x: u64 = 88172645463325252;
        let alphabet = b"{}[]\":,.0123abc\\ntrue@timestamp-T";
        for _ in 0..5_000 {
            let mut s = Vec::new();
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let _ = decode_json_lines(&s, &[], &DocMapping::default(), &IngestLimits::default(), 0);
            let _ = decode_api_logs(&s, &DocMapping::default(), &IngestLimits::default(), 0);
        }
    }
}
