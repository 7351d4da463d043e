//! Elasticsearch bulk API (`POST /_bulk`, `POST /<index>/_bulk`), as
//! Logstash, Filebeat, Fluent Bit's `es` output and Vector's `elasticsearch`
//! sink send it.
//!
//! The body is NDJSON: an action line (`{"index":{...}}` or `{"create":{...}}`
//! with optional `_index` and `_id`) followed by the document line. Documents
//! are mapped by [`crate::doc::map_document`] with the index added as the
//! stream label `index` (configurable via [`BulkOptions::index_label`]).
//! `delete` (no document line) and `update` (one document line) are answered
//! per item with status 400 `illegal_argument_exception`: the log store is
//! append-only.
//!
//! A malformed action line makes the rest of the body unframeable and fails
//! the whole request (Elasticsearch answers 400 too); a malformed document
//! fails only its item (`mapper_parsing_exception`, 400).
//!
//! [`bulk_response`] renders Elasticsearch's exact response shape from the
//! per-item outcomes, after the caller has stored the records (and marked
//! them failed with [`BulkDecoded::fail_accepted`] if the store refused).

use crate::doc::{json_kind, map_document, DocMapping};
use crate::{DecodeError, IngestLimits, LogRecord};
use serde_json::{json, Map, Value};
use std::hash::{BuildHasher, Hasher};

/// The bulk action of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    Index,
    Create,
    Update,
    Delete,
}

impl BulkAction {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::Index => "index",
            BulkAction::Create => "create",
            BulkAction::Update => "update",
            BulkAction::Delete => "delete",
        }
    }
}

/// Why one item failed, in Elasticsearch's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFailure {
    /// HTTP status of the item (400, 429, 500...).
    pub status: u16,
    /// Elasticsearch error type (`mapper_parsing_exception`...).
    pub error_type: String,
    pub reason: String,
}

/// One item of the request and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkItem {
    pub action: BulkAction,
    pub index: String,
    pub id: String,
    /// `Ok(record index in BulkDecoded::records)` or the failure.
    pub outcome: Result<usize, ItemFailure>,
}

/// A decoded bulk request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BulkDecoded {
    /// Every item in request order.
    pub items: Vec<BulkItem>,
    /// Records of the accepted items, in item order.
    pub records: Vec<LogRecord>,
}

impl BulkDecoded {
    /// Marks every accepted item failed (the store refused the batch).
    pub fn fail_accepted(&mut self, status: u16, error_type: &str, reason: &str) {
        for it in &mut self.items {
            if it.outcome.is_ok() {
                it.outcome = Err(ItemFailure {
                    status,
                    error_type: error_type.into(),
                    reason: reason.into(),
                });
            }
        }
    }

    /// Number of failed items.
    pub fn failed(&self) -> usize {
        self.items.iter().filter(|i| i.outcome.is_err()).count()
    }
}

/// Bulk decoding options.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BulkOptions {
    pub mapping: DocMapping,
    /// Stream label holding the target index (empty: not a label).
    pub index_label: String,
}

impl Default for BulkOptions {
    fn default() -> Self {
        Self {
            mapping: DocMapping::default(),
            index_label: "index".into(),
        }
    }
}

fn failure(status: u16, t: &str, reason: impl Into<String>) -> ItemFailure {
    ItemFailure {
        status,
        error_type: t.into(),
        reason: reason.into(),
    }
}

/// Generates a 20-character URL-safe id, as Elasticsearch auto-ids look.
fn auto_id(seed: u64, n: usize, line: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let st = std::collections::hash_map::RandomState::new();
    let mut out = String::with_capacity(20);
    let mut h = st.build_hasher();
    h.write_u64(seed);
    h.write_usize(n);
    h.write(line);
    let mut a = h.finish();
    let mut h2 = st.build_hasher();
    h2.write_u64(a);
    let mut b = h2.finish();
    for i in 0..20 {
        let src = if i < 10 { &mut a } else { &mut b };
        out.push(A[(*src & 63) as usize] as char);
        *src >>= 6;
    }
    out
}

/// Decodes a bulk body. `default_index` is the `<index>` of the URL path.
pub fn decode_bulk(
    body: &[u8],
    default_index: Option<&str>,
    opts: &BulkOptions,
    limits: &IngestLimits,
    now_ns: i64,
) -> Result<BulkDecoded, DecodeError> {
    let mut out = BulkDecoded::default();
    let mut lines = body
        .split(|&c| c == b'\n')
        .enumerate()
        .map(|(i, l)| (i, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace));
    while let Some((ln, line)) = lines.next() {
        if out.items.len() >= limits.max_items {
            return Err(DecodeError::limit(format!(
                "more than max_items ({}) bulk items",
                limits.max_items
            )));
        }
        let (action, meta) =
            parse_action(line).map_err(|e| DecodeError::bad(format!("line {}: {e}", ln + 1)))?;
        let index = match meta.get("_index") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => default_index.map(str::to_string),
        };
        let id = match meta.get("_id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let doc = match action {
            BulkAction::Delete => None,
            _ => match lines.next() {
                Some((_, d)) => Some(d),
                None => {
                    return Err(DecodeError::bad(format!(
                        "line {}: the {} action has no document line",
                        ln + 1,
                        action.as_str()
                    )))
                }
            },
        };
        let index_name = index.clone().unwrap_or_default();
        let mut item = BulkItem {
            action,
            index: index_name.clone(),
            id: id.clone().unwrap_or_default(),
            outcome: Err(failure(400, "illegal_argument_exception", "")),
        };
        item.outcome = match (action, index, doc) {
            (BulkAction::Delete | BulkAction::Update, _, _) => Err(failure(
                400,
                "illegal_argument_exception",
                format!(
                    "the {} action is not supported: the log store is append-only",
                    action.as_str()
                ),
            )),
            (_, None, _) => Err(failure(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: index is missing;",
            )),
            (_, Some(_), None) => unreachable_doc(),
            (_, Some(ix), Some(doc)) => {
                if item.id.is_empty() {
                    item.id = auto_id(now_ns as u64, out.items.len(), doc);
                }
                let labels: Vec<(&str, &str)> = if opts.index_label.is_empty() {
                    Vec::new()
                } else {
                    vec![(opts.index_label.as_str(), ix.as_str())]
                };
                match parse_doc(doc).and_then(|o| map_document(o, &labels, &opts.mapping, limits, now_ns)) {
                    Ok(rec) => {
                        out.records.push(rec);
                        Ok(out.records.len() - 1)
                    }
                    Err(DecodeError::Limit(m)) => Err(failure(400, "illegal_argument_exception", m)),
                    Err(DecodeError::BadInput(m)) => Err(failure(
                        400,
                        "document_parsing_exception",
                        format!("[1:1] failed to parse: {m}"),
                    )),
                }
            }
        };
        out.items.push(item);
    }
    Ok(out)
}

// Documents are always present for index/create (checked above); keep the
// match exhaustive without a panic path.
fn unreachable_doc() -> Result<usize, ItemFailure> {
    Err(failure(400, "illegal_argument_exception", "missing document"))
}

fn parse_action(line: &[u8]) -> Result<(BulkAction, Map<String, Value>), String> {
    let v: Value =
        serde_json::from_slice(line).map_err(|e| format!("malformed action/metadata line: {e}"))?;
    let Value::Object(o) = v else {
        return Err(format!(
            "malformed action/metadata line: expected an object, got {}",
            json_kind(&v)
        ));
    };
    if o.len() != 1 {
        return Err("malformed action/metadata line: expected exactly one action".into());
    }
    let Some((name, meta)) = o.into_iter().next() else {
        return Err("malformed action/metadata line: expected exactly one action".into());
    };
    let action = match name.as_str() {
        "index" => BulkAction::Index,
        "create" => BulkAction::Create,
        "update" => BulkAction::Update,
        "delete" => BulkAction::Delete,
        other => return Err(format!("unknown action [{other}]")),
    };
    match meta {
        Value::Object(m) => Ok((action, m)),
        Value::Null => Ok((action, Map::new())),
        other => Err(format!(
            "action metadata must be an object, got {}",
            json_kind(&other)
        )),
    }
}

fn parse_doc(b: &[u8]) -> Result<Map<String, Value>, DecodeError> {
    crate::doc::parse_object(b)
}

/// Renders the bulk response body (`took` in milliseconds).
pub fn bulk_response(decoded: &BulkDecoded, took_ms: u64) -> Vec<u8> {
    let mut seq: u64 = 0;
    let items: Vec<Value> = decoded
        .items
        .iter()
        .map(|it| {
            let body = match &it.outcome {
                Ok(_) => {
                    let v = json!({
                        "_index": it.index,
                        "_id": it.id,
                        "_version": 1,
                        "result": "created",
                        "_shards": {"total": 1, "successful": 1, "failed": 0},
                        "_seq_no": seq,
                        "_primary_term": 1,
                        "status": 201,
                    });
                    seq += 1;
                    v
                }
                Err(f) => json!({
                    "_index": it.index,
                    "_id": it.id,
                    "status": f.status,
                    "error": {"type": f.error_type, "reason": f.reason, "index": it.index},
                }),
            };
            let mut m = Map::new();
            m.insert(it.action.as_str().to_string(), body);
            Value::Object(m)
        })
        .collect();
    let v = json!({
        "took": took_ms,
        "errors": decoded.items.iter().any(|i| i.outcome.is_err()),
        "items": items,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Extracts the `<index>` of a `/<index>/_bulk` path (`None` for `/_bulk`).
pub fn index_from_path(path: &str) -> Option<&str> {
    let p = path.trim_matches('/');
    let (ix, rest) = p.split_once('/')?;
    (rest == "_bulk" && !ix.is_empty() && !ix.starts_with('_')).then_some(ix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_model::Labels;

    const FILEBEAT: &str = r#"{"create":{"_index":"filebeat-8.11.0"}}
{"@timestamp":"2024-01-02T03:04:05.000Z","message":"GET /health 200","host":{"name":"web-1"},"log":{"level":"info"},"agent":{"type":"filebeat"}}
{"index":{"_index":"logs-2024.01.02","_id":"abc"}}
{"@timestamp":"2024-01-02T03:04:06Z","level":"ERROR","message":"Database connection failed","service":"user-service","error_code":"DB_CONN_TIMEOUT"}
{"delete":{"_index":"logs","_id":"1"}}
{"update":{"_index":"logs","_id":"2"}}
{"doc":{"a":1}}
{"index":{}}
{"message":"no index"}
{"index":{"_index":"logs"}}
not json at all
"#;

    #[test]
    fn filebeat_and_logstash_bulk() {
        let d = decode_bulk(
            FILEBEAT.as_bytes(),
            None,
            &BulkOptions::default(),
            &IngestLimits::default(),
            7,
        )
        .unwrap();
        assert_eq!(d.items.len(), 6);
        assert_eq!(d.records.len(), 2);
        assert_eq!(
            d.records[0].stream,
            Labels::from_pairs([("index", "filebeat-8.11.0"), ("host", "web-1"), ("level", "info")])
        );
        assert_eq!(
            d.records[0].fields,
            vec![("agent.type".to_string(), "filebeat".to_string())]
        );
        assert_eq!(d.records[1].stream.get("service"), Some("user-service"));
        assert_eq!(d.items[1].id, "abc");
        assert_eq!(d.items[0].id.len(), 20);
        assert_eq!(d.failed(), 4);
        let resp: Value = serde_json::from_slice(&bulk_response(&d, 3)).unwrap();
        assert_eq!(resp["took"], 3);
        assert_eq!(resp["errors"], true);
        assert_eq!(resp["items"][0]["create"]["status"], 201);
        assert_eq!(resp["items"][0]["create"]["result"], "created");
        assert_eq!(resp["items"][1]["index"]["_id"], "abc");
        assert_eq!(resp["items"][1]["index"]["_seq_no"], 1);
        assert_eq!(resp["items"][2]["delete"]["status"], 400);
        assert_eq!(
            resp["items"][3]["update"]["error"]["type"],
            "illegal_argument_exception"
        );
        assert_eq!(
            resp["items"][4]["index"]["error"]["type"],
            "action_request_validation_exception"
        );
        assert_eq!(
            resp["items"][5]["index"]["error"]["type"],
            "document_parsing_exception"
        );
    }

    #[test]
    fn default_index_from_path_and_store_failure() {
        assert_eq!(index_from_path("/logs/_bulk"), Some("logs"));
        assert_eq!(index_from_path("/_bulk"), None);
        let body = b"{\"index\":{}}\n{\"message\":\"x\"}\n";
        let mut d = decode_bulk(
            body,
            Some("app"),
            &BulkOptions::default(),
            &IngestLimits::default(),
            0,
        )
        .unwrap();
        assert_eq!(d.records[0].stream.get("index"), Some("app"));
        let ok: Value = serde_json::from_slice(&bulk_response(&d, 0)).unwrap();
        assert_eq!(ok["errors"], false);
        d.fail_accepted(429, "es_rejected_execution_exception", "store is full");
        let v: Value = serde_json::from_slice(&bulk_response(&d, 0)).unwrap();
        assert_eq!(v["items"][0]["index"]["status"], 429);
        assert_eq!(v["errors"], true);
    }

    #[test]
    fn framing_errors_fail_the_request() {
        for bad in [
            "not json\n{}\n",
            "{\"index\":{}}\n",
            "{\"frobnicate\":{}}\n{}\n",
            "{\"index\":{},\"create\":{}}\n{}\n",
        ] {
            assert!(
                decode_bulk(
                    bad.as_bytes(),
                    Some("x"),
                    &BulkOptions::default(),
                    &IngestLimits::default(),
                    0
                )
                .is_err(),
                "{bad}"
            );
        }
        let lim = IngestLimits {
            max_items: 1,
            ..Default::default()
        };
        let two = b"{\"index\":{}}\n{}\n{\"index\":{}}\n{}\n";
        assert!(matches!(
            decode_bulk(two, Some("x"), &BulkOptions::default(), &lim, 0),
            Err(DecodeError::Limit(_))
        ));
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0xdead_beef_1234_5678;
        let b = FILEBEAT.as_bytes();
        for _ in 0..3_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut m = b.to_vec();
            let k = (x as usize) % m.len();
            m[k] = (x >> 24) as u8;
            m.truncate((x >> 40) as usize % (b.len() + 1));
            if let Ok(d) = decode_bulk(&m, None, &BulkOptions::default(), &IngestLimits::default(), 0) {
                let _ = bulk_response(&d, 0);
            }
        }
    }
}
