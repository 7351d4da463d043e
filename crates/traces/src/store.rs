//! The trace store: spans kept in a [`LogStore`] (its own directory), one
//! log record per span.
//!
//! Record layout (see `docs/traces.md`):
//! - `ts_ns` = span start; `trace_id`/`span_id` set, so the log store's
//!   per-block trace-id bloom filters make trace-by-id fast;
//! - stream labels `{service, span_name, span_kind}`: low-cardinality,
//!   so services and operations come from the stream index without reading
//!   blocks, and searches by service/operation only open matching streams;
//! - message empty; fields: `dur` (ns), `parent` (hex), `status` (1/2),
//!   `status_msg`, `tstate`, `scope`, `scope_v`, `a.<key>` span attributes,
//!   `r.<key>` resource attributes other than `service.name`, `events`,
//!   `links` (JSON). Attribute values carry their type in the first
//!   character: `s` string, `b` bool, `i` int, `f` double, `x` hex bytes,
//!   `j` OTLP/JSON `AnyValue` (arrays, maps).
//!
//! Acknowledged appends are as durable as the log store's fsync policy
//! makes them; retention by time and size is the log store's.

use crate::model::{self, Event, Link, Span, SpanKind, StatusCode, Value};
use crate::TraceError;
use sightline_logstore::{LogRecord, LogStore, Options, SelectRequest};
use sightline_model::{Labels, Matcher};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

pub const LABEL_SERVICE: &str = "service";
pub const LABEL_NAME: &str = "span_name";
pub const LABEL_KIND: &str = "span_kind";

/// A span search (Jaeger's `find traces`, Tempo's tag search). All given
/// conditions must hold for one span; the trace matches if any span does.
#[derive(Clone, Debug, Default)]
pub struct SearchRequest {
    pub service: Option<String>,
    pub operation: Option<String>,
    /// Attribute equality (span attributes, then resource attributes,
    /// compared as text).
    pub tags: Vec<(String, String)>,
    pub min_duration_ns: Option<i64>,
    pub max_duration_ns: Option<i64>,
    pub status: Option<StatusCode>,
    pub kind: Option<SpanKind>,
    /// Span start in `[start_ns, end_ns)`.
    pub start_ns: i64,
    pub end_ns: i64,
    /// Maximum number of traces (0 = 20, Jaeger's default).
    pub limit: usize,
}

impl SearchRequest {
    /// Whether one span satisfies the request.
    pub fn matches(&self, s: &Span) -> bool {
        let d = s.duration_ns();
        self.min_duration_ns.is_none_or(|m| d >= m)
            && self.max_duration_ns.is_none_or(|m| d <= m)
            && self.status.is_none_or(|c| s.status.code == c)
            && self.kind.is_none_or(|k| s.kind == k)
            && self.operation.as_ref().is_none_or(|o| *o == s.name)
            && self.tags.iter().all(|(k, v)| {
                s.attr(k)
                    .or_else(|| s.resource_attr(k))
                    .is_some_and(|x| x.as_text() == *v)
            })
    }
}

/// A matching trace: its id and the spans that matched, in start order.
#[derive(Clone, Debug)]
pub struct TraceHit {
    pub trace_id: [u8; 16],
    pub matched: Vec<Span>,
}

/// One service-graph edge (Jaeger's `dependencies`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    pub parent: String,
    pub child: String,
    pub call_count: u64,
}

/// Spans over a log store.
pub struct TraceStore {
    logs: Arc<LogStore>,
}

impl TraceStore {
    /// Opens (or creates) a store in `dir` for traces only.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<TraceStore, TraceError> {
        Ok(TraceStore {
            logs: Arc::new(LogStore::open(dir, opts)?),
        })
    }

    /// Wraps an open log store (which should hold nothing but spans).
    pub fn new(logs: Arc<LogStore>) -> TraceStore {
        TraceStore { logs }
    }

    pub fn log_store(&self) -> &Arc<LogStore> {
        &self.logs
    }

    /// Appends spans durably (per the log store's fsync policy).
    pub fn append(&self, tenant: &str, spans: &[Span]) -> Result<(), TraceError> {
        let recs: Vec<LogRecord> = spans.iter().map(to_record).collect();
        self.logs.append_owned(tenant, recs)?;
        Ok(())
    }

    /// All spans of a trace, in start order (empty when unknown).
    pub fn trace(&self, tenant: &str, trace_id: [u8; 16]) -> Result<Vec<Span>, TraceError> {
        self.trace_in(tenant, trace_id, i64::MIN, i64::MAX)
    }

    /// Spans of a trace starting in `[start_ns, end_ns)`.
    pub fn trace_in(
        &self,
        tenant: &str,
        trace_id: [u8; 16],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Span>, TraceError> {
        let recs = self.logs.by_trace_id(tenant, trace_id, start_ns, end_ns)?;
        let mut seen = BTreeSet::new();
        let mut out = Vec::with_capacity(recs.len());
        for r in &recs {
            let s = from_record(r)?;
            // a span re-sent (client retry) is stored twice; return it once
            if seen.insert(s.span_id) {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Traces with at least one span matching `req`, most recent first
    /// (by the matching span's start).
    pub fn search(&self, tenant: &str, req: &SearchRequest) -> Result<Vec<TraceHit>, TraceError> {
        let limit = if req.limit == 0 { 20 } else { req.limit };
        let mut matchers = Vec::new();
        if let Some(s) = &req.service {
            matchers.push(Matcher::equal(LABEL_SERVICE, s.clone()));
        }
        if let Some(o) = &req.operation {
            matchers.push(Matcher::equal(LABEL_NAME, o.clone()));
        }
        if let Some(k) = req.kind {
            matchers.push(Matcher::equal(LABEL_KIND, k.as_str()));
        }
        if matchers.is_empty() {
            matchers.push(
                Matcher::new(sightline_model::MatchOp::Regex, LABEL_SERVICE, ".+").expect("valid regex"),
            );
        }
        let sel = SelectRequest::new(matchers, req.start_ns, req.end_ns)
            .direction(sightline_logstore::Direction::Backward);
        let mut hits: Vec<TraceHit> = Vec::new();
        let mut index: HashMap<[u8; 16], usize> = HashMap::new();
        for r in self.logs.select(tenant, &sel)? {
            let r = r?;
            // cheap checks on the raw fields before decoding the span
            if !record_may_match(req, &r) {
                continue;
            }
            let s = from_record(&r)?;
            if !req.matches(&s) {
                continue;
            }
            match index.get(&s.trace_id) {
                Some(&i) => hits[i].matched.push(s),
                None => {
                    if hits.len() >= limit {
                        continue;
                    }
                    index.insert(s.trace_id, hits.len());
                    hits.push(TraceHit {
                        trace_id: s.trace_id,
                        matched: vec![s],
                    });
                }
            }
        }
        for h in &mut hits {
            h.matched.sort_by_key(|s| s.start_ns);
        }
        Ok(hits)
    }

    /// Service names with spans in the range, sorted.
    pub fn services(&self, tenant: &str, start_ns: i64, end_ns: i64) -> Result<Vec<String>, TraceError> {
        Ok(self
            .logs
            .label_values(tenant, LABEL_SERVICE, &[], start_ns, end_ns)?)
    }

    /// `(operation, kind)` pairs of a service in the range, sorted; only
    /// `kind` when given.
    pub fn operations(
        &self,
        tenant: &str,
        service: &str,
        kind: Option<SpanKind>,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<(String, SpanKind)>, TraceError> {
        let mut m = vec![Matcher::equal(LABEL_SERVICE, service)];
        if let Some(k) = kind {
            m.push(Matcher::equal(LABEL_KIND, k.as_str()));
        }
        let set: BTreeSet<(String, SpanKind)> = self
            .logs
            .series(tenant, &m, start_ns, end_ns)?
            .iter()
            .map(|l| {
                (
                    l.get(LABEL_NAME).unwrap_or("").to_string(),
                    SpanKind::parse(l.get(LABEL_KIND).unwrap_or("")).unwrap_or_default(),
                )
            })
            .collect();
        Ok(set.into_iter().collect())
    }

    /// Service-graph edges: a span whose parent (in the same trace) belongs
    /// to another service is one call `parent service -> child service`.
    pub fn dependencies(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<Dependency>, TraceError> {
        let m =
            vec![Matcher::new(sightline_model::MatchOp::Regex, LABEL_SERVICE, ".+").expect("valid regex")];
        let sel = SelectRequest::new(m, start_ns, end_ns);
        // (trace, span) -> service, and child spans (trace, parent, service)
        let mut owner: HashMap<([u8; 16], [u8; 8]), String> = HashMap::new();
        type SpanKey = ([u8; 16], [u8; 8]);
        let mut children: HashMap<SpanKey, ([u8; 8], String)> = HashMap::new();
        for r in self.logs.select(tenant, &sel)? {
            let r = r?;
            let (Some(t), Some(s)) = (r.trace_id, r.span_id) else {
                continue;
            };
            let svc = r.stream.get(LABEL_SERVICE).unwrap_or("").to_string();
            if let Some((_, p)) = r.fields.iter().find(|(k, _)| k == "parent") {
                if let Ok(p) = model::parse_hex_id::<8>(p, "parent span id") {
                    children.insert((t, s), (p, svc.clone()));
                }
            }
            owner.insert((t, s), svc);
        }
        let mut edges: BTreeMap<(String, String), u64> = BTreeMap::new();
        for ((t, _), (p, svc)) in children {
            if let Some(ps) = owner.get(&(t, p)) {
                if *ps != svc {
                    *edges.entry((ps.clone(), svc)).or_default() += 1;
                }
            }
        }
        Ok(edges
            .into_iter()
            .map(|((parent, child), call_count)| Dependency {
                parent,
                child,
                call_count,
            })
            .collect())
    }

    /// Attribute keys seen on the newest `max_spans` spans in the range:
    /// `(span attribute keys, resource attribute keys)`, each sorted.
    /// `service.name` is always a resource key when any span exists.
    pub fn tag_names(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
        max_spans: usize,
    ) -> Result<(Vec<String>, Vec<String>), TraceError> {
        let (mut span, mut res) = (BTreeSet::new(), BTreeSet::new());
        for r in self.scan_newest(tenant, start_ns, end_ns, max_spans)? {
            let r = r?;
            res.insert("service.name".to_string());
            for (k, _) in &r.fields {
                if let Some(a) = k.strip_prefix("a.") {
                    span.insert(a.to_string());
                } else if let Some(a) = k.strip_prefix("r.") {
                    res.insert(a.to_string());
                }
            }
        }
        Ok((span.into_iter().collect(), res.into_iter().collect()))
    }

    /// Distinct values (as text, with their type name: `string`, `int`,
    /// `float`, `bool`) of attribute `key` (span attributes, then resource;
    /// a `span.`/`resource.` prefix selects one) on the newest `max_spans`
    /// spans in the range, sorted.
    pub fn tag_values(
        &self,
        tenant: &str,
        key: &str,
        start_ns: i64,
        end_ns: i64,
        max_spans: usize,
    ) -> Result<Vec<(String, &'static str)>, TraceError> {
        if key == "service.name" || key == "resource.service.name" {
            return Ok(self
                .services(tenant, start_ns, end_ns)?
                .into_iter()
                .map(|s| (s, "string"))
                .collect());
        }
        let (span_key, res_key) = match (key.strip_prefix("span."), key.strip_prefix("resource.")) {
            (Some(k), _) => (Some(format!("a.{k}")), None),
            (_, Some(k)) => (None, Some(format!("r.{k}"))),
            _ => (Some(format!("a.{key}")), Some(format!("r.{key}"))),
        };
        let mut out = BTreeSet::new();
        for r in self.scan_newest(tenant, start_ns, end_ns, max_spans)? {
            let r = r?;
            for (k, v) in &r.fields {
                if Some(k) == span_key.as_ref() || Some(k) == res_key.as_ref() {
                    let t = match v.as_bytes().first() {
                        Some(b'i') => "int",
                        Some(b'f') => "float",
                        Some(b'b') => "bool",
                        _ => "string",
                    };
                    out.insert((dec_value(v)?.as_text(), t));
                }
            }
        }
        Ok(out.into_iter().collect())
    }

    fn scan_newest(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
        max_spans: usize,
    ) -> Result<sightline_logstore::SelectIter, TraceError> {
        let m =
            vec![Matcher::new(sightline_model::MatchOp::Regex, LABEL_SERVICE, ".+").expect("valid regex")];
        let sel = SelectRequest::new(m, start_ns, end_ns)
            .direction(sightline_logstore::Direction::Backward)
            .limit(max_spans.max(1));
        Ok(self.logs.select(tenant, &sel)?)
    }

    /// Bytes on disk per flushed span (segments only; 0 before the first
    /// flush).
    pub fn bytes_per_span(&self) -> f64 {
        let m = self.logs.metrics();
        if m.segment_rows == 0 {
            0.0
        } else {
            m.segment_bytes as f64 / m.segment_rows as f64
        }
    }
}

// ------------------------------------------------------------ record codec

fn raw_field<'a>(r: &'a LogRecord, k: &str) -> Option<&'a str> {
    r.fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str())
}

/// `false` when the raw record certainly fails `req`'s duration, status or
/// tag conditions (service, operation and kind are stream matchers).
fn record_may_match(req: &SearchRequest, r: &LogRecord) -> bool {
    if req.min_duration_ns.is_some() || req.max_duration_ns.is_some() {
        let d: i64 = raw_field(r, "dur").and_then(|d| d.parse().ok()).unwrap_or(0);
        if req.min_duration_ns.is_some_and(|m| d < m) || req.max_duration_ns.is_some_and(|m| d > m) {
            return false;
        }
    }
    if let Some(c) = req.status {
        let code = raw_field(r, "status").and_then(|v| v.parse().ok()).unwrap_or(0);
        if StatusCode::from_i32(code) != c {
            return false;
        }
    }
    req.tags.iter().all(|(k, want)| {
        let mut key = String::with_capacity(k.len() + 2);
        key.push_str("a.");
        key.push_str(k);
        let v = raw_field(r, &key).or_else(|| {
            key.replace_range(..1, "r");
            raw_field(r, &key)
        });
        match v {
            Some(v) => match v.strip_prefix('s') {
                Some(text) => text == want,
                None => dec_value(v).is_ok_and(|x| x.as_text() == *want),
            },
            None => k == "service.name" && r.stream.get(LABEL_SERVICE) == Some(want.as_str()),
        }
    })
}

/// The log record that stores `s`.
pub fn to_record(s: &Span) -> LogRecord {
    let service = s.service_name();
    let stream = Labels::from_pairs([
        (LABEL_SERVICE, service.as_str()),
        (LABEL_NAME, s.name.as_str()),
        (LABEL_KIND, s.kind.as_str()),
    ]);
    let mut f: Vec<(String, String)> = Vec::with_capacity(4 + s.attributes.len() + s.resource.len());
    f.push(("dur".into(), s.duration_ns().to_string()));
    if let Some(p) = s.parent_span_id {
        f.push(("parent".into(), model::hex(&p)));
    }
    if s.status.code != StatusCode::Unset {
        f.push(("status".into(), (s.status.code as i32).to_string()));
    }
    if !s.status.message.is_empty() {
        f.push(("status_msg".into(), s.status.message.clone()));
    }
    if !s.trace_state.is_empty() {
        f.push(("tstate".into(), s.trace_state.clone()));
    }
    if !s.scope.name.is_empty() {
        f.push(("scope".into(), s.scope.name.clone()));
    }
    if !s.scope.version.is_empty() {
        f.push(("scope_v".into(), s.scope.version.clone()));
    }
    for (k, v) in &s.attributes {
        f.push((format!("a.{k}"), enc_value(v)));
    }
    for (k, v) in &s.resource {
        if k != "service.name" || !matches!(v, Value::Str(_)) {
            f.push((format!("r.{k}"), enc_value(v)));
        }
    }
    if !s.events.is_empty() {
        let ev: Vec<serde_json::Value> = s
            .events
            .iter()
            .map(|e| serde_json::json!({"t": e.time_ns, "n": e.name, "attributes": crate::otlp::kvs_json(&e.attributes)}))
            .collect();
        f.push(("events".into(), serde_json::Value::Array(ev).to_string()));
    }
    if !s.links.is_empty() {
        let ln: Vec<serde_json::Value> = s
            .links
            .iter()
            .map(|l| {
                serde_json::json!({"t": model::hex(&l.trace_id), "s": model::hex(&l.span_id),
                    "ts": l.trace_state, "attributes": crate::otlp::kvs_json(&l.attributes)})
            })
            .collect();
        f.push(("links".into(), serde_json::Value::Array(ln).to_string()));
    }
    LogRecord {
        ts_ns: s.start_ns,
        stream,
        message: String::new(),
        fields: f,
        trace_id: Some(s.trace_id),
        span_id: Some(s.span_id),
        severity: None,
    }
}

fn enc_value(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("s{s}"),
        Value::Bool(b) => format!("b{b}"),
        Value::Int(i) => format!("i{i}"),
        Value::Double(d) => format!("f{}", model::fmt_double(*d)),
        Value::Bytes(b) => format!("x{}", model::hex(b)),
        Value::Array(_) | Value::Map(_) => {
            let kv = crate::otlp::kvs_json(&[(String::new(), v.clone())]);
            format!("j{}", kv[0]["value"])
        }
    }
}

fn corrupt(what: &str) -> TraceError {
    TraceError::Store(sightline_logstore::LogStoreError::Corruption {
        path: "trace record".into(),
        detail: what.into(),
    })
}

fn dec_value(s: &str) -> Result<Value, TraceError> {
    let (t, rest) = s.split_at(s.char_indices().nth(1).map_or(s.len(), |(i, _)| i));
    Ok(match t {
        "s" => Value::Str(rest.to_string()),
        "b" => Value::Bool(rest == "true"),
        "i" => Value::Int(rest.parse().map_err(|_| corrupt("int attribute"))?),
        "f" => Value::Double(match rest {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            _ => rest.parse().map_err(|_| corrupt("double attribute"))?,
        }),
        "x" => Value::Bytes(unhex(rest).ok_or_else(|| corrupt("bytes attribute"))?),
        "j" => {
            let body = format!(r#"{{"attributes":[{{"key":"k","value":{rest}}}]}}"#);
            let v: serde_json::Value = serde_json::from_str(&body).map_err(|_| corrupt("json attribute"))?;
            crate::otlp::json_attrs_pub(&v)
                .map_err(|_| corrupt("json attribute"))?
                .pop()
                .map(|(_, v)| v)
                .ok_or_else(|| corrupt("json attribute"))?
        }
        _ => return Err(corrupt("attribute type")),
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// The span stored in `r` (inverse of [`to_record`]).
pub fn from_record(r: &LogRecord) -> Result<Span, TraceError> {
    let mut s = Span {
        trace_id: r.trace_id.ok_or_else(|| corrupt("record without trace id"))?,
        span_id: r.span_id.ok_or_else(|| corrupt("record without span id"))?,
        name: r.stream.get(LABEL_NAME).unwrap_or("").to_string(),
        kind: SpanKind::parse(r.stream.get(LABEL_KIND).unwrap_or("")).unwrap_or_default(),
        start_ns: r.ts_ns,
        end_ns: r.ts_ns,
        ..Default::default()
    };
    let service = r.stream.get(LABEL_SERVICE).unwrap_or(model::UNKNOWN_SERVICE);
    let mut has_service = false;
    for (k, v) in &r.fields {
        match k.as_str() {
            "dur" => {
                s.end_ns = s
                    .start_ns
                    .saturating_add(v.parse().map_err(|_| corrupt("duration"))?)
            }
            "parent" => {
                s.parent_span_id = Some(model::parse_hex_id(v, "parent").map_err(|_| corrupt("parent"))?)
            }
            "status" => s.status.code = StatusCode::from_i32(v.parse().unwrap_or(0)),
            "status_msg" => s.status.message = v.clone(),
            "tstate" => s.trace_state = v.clone(),
            "scope" => s.scope.name = v.clone(),
            "scope_v" => s.scope.version = v.clone(),
            "events" => s.events = dec_events(v)?,
            "links" => s.links = dec_links(v)?,
            _ => {
                if let Some(a) = k.strip_prefix("a.") {
                    s.attributes.push((a.to_string(), dec_value(v)?));
                } else if let Some(a) = k.strip_prefix("r.") {
                    has_service |= a == "service.name";
                    s.resource.push((a.to_string(), dec_value(v)?));
                }
            }
        }
    }
    if !has_service && service != model::UNKNOWN_SERVICE {
        s.resource
            .insert(0, ("service.name".into(), Value::Str(service.to_string())));
    }
    Ok(s)
}

fn dec_events(v: &str) -> Result<Vec<Event>, TraceError> {
    let j: serde_json::Value = serde_json::from_str(v).map_err(|_| corrupt("events"))?;
    let mut out = Vec::new();
    for e in j.as_array().ok_or_else(|| corrupt("events"))? {
        out.push(Event {
            time_ns: e["t"].as_i64().unwrap_or(0),
            name: e["n"].as_str().unwrap_or("").to_string(),
            attributes: crate::otlp::json_attrs_pub(e).map_err(|_| corrupt("event attributes"))?,
        });
    }
    Ok(out)
}

fn dec_links(v: &str) -> Result<Vec<Link>, TraceError> {
    let j: serde_json::Value = serde_json::from_str(v).map_err(|_| corrupt("links"))?;
    let mut out = Vec::new();
    for l in j.as_array().ok_or_else(|| corrupt("links"))? {
        out.push(Link {
            trace_id: model::parse_hex_id(l["t"].as_str().unwrap_or(""), "link")
                .map_err(|_| corrupt("link"))?,
            span_id: model::parse_hex_id(l["s"].as_str().unwrap_or(""), "link")
                .map_err(|_| corrupt("link"))?,
            trace_state: l["ts"].as_str().unwrap_or("").to_string(),
            attributes: crate::otlp::json_attrs_pub(l).map_err(|_| corrupt("link attributes"))?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Scope;
    use sightline_logstore::FsyncPolicy;

    pub(crate) fn span(
        trace: u8,
        id: u8,
        parent: Option<u8>,
        svc: &str,
        name: &str,
        start: i64,
        dur: i64,
    ) -> Span {
        Span {
            trace_id: [trace; 16],
            span_id: [id; 8],
            parent_span_id: parent.map(|p| [p; 8]),
            name: name.into(),
            kind: if parent.is_none() {
                SpanKind::Server
            } else {
                SpanKind::Client
            },
            start_ns: start,
            end_ns: start + dur,
            resource: vec![("service.name".into(), Value::Str(svc.into()))],
            ..Default::default()
        }
    }

    fn opts() -> Options {
        Options {
            fsync: FsyncPolicy::Never,
            ..Options::default()
        }
    }

    #[test]
    fn record_round_trip() {
        let mut s = span(1, 2, Some(3), "api", "GET /x", 1_000, 500);
        s.status = model::Status {
            code: StatusCode::Error,
            message: "boom".into(),
        };
        s.trace_state = "a=b".into();
        s.scope = Scope {
            name: "lib".into(),
            version: "1.0".into(),
        };
        s.attributes = vec![
            ("str".into(), Value::Str("v".into())),
            ("int".into(), Value::Int(-3)),
            ("f".into(), Value::Double(1.5)),
            ("b".into(), Value::Bool(true)),
            ("bytes".into(), Value::Bytes(vec![1, 255])),
            (
                "arr".into(),
                Value::Array(vec![Value::Int(1), Value::Str("x".into())]),
            ),
            ("map".into(), Value::Map(vec![("k".into(), Value::Bool(false))])),
            ("empty".into(), Value::Str(String::new())),
        ];
        s.resource.push(("host.name".into(), Value::Str("h1".into())));
        s.events = vec![Event {
            time_ns: 1_200,
            name: "exception".into(),
            attributes: vec![("exception.message".into(), Value::Str("x".into()))],
        }];
        s.links = vec![Link {
            trace_id: [9; 16],
            span_id: [8; 8],
            trace_state: String::new(),
            attributes: vec![],
        }];
        assert_eq!(from_record(&to_record(&s)).unwrap(), s);
        let bare = span(1, 2, None, "unknown_service", "", 0, 0);
        let mut expect = bare.clone();
        expect.resource.clear();
        assert_eq!(from_record(&to_record(&bare)).unwrap(), expect);
    }

    #[test]
    fn store_queries() {
        let dir = tempfile::tempdir().unwrap();
        let st = TraceStore::open(dir.path(), opts()).unwrap();
        let s = 1_000_000_000;
        let mut spans = [
            span(1, 1, None, "frontend", "GET /dispatch", s, 900),
            span(1, 2, Some(1), "frontend", "HTTP GET", s + 10, 800),
            span(1, 3, Some(2), "driver", "FindDriver", s + 20, 700),
            span(2, 1, None, "frontend", "GET /dispatch", s + 5000, 100),
            span(2, 2, Some(1), "redis", "GetDriver", s + 5010, 50),
        ];
        spans[2].status.code = StatusCode::Error;
        spans[2]
            .attributes
            .push(("driver.id".into(), Value::Str("T7".into())));
        spans[4].attributes.push(("retries".into(), Value::Int(3)));
        st.append("t", &spans[..3]).unwrap();
        st.log_store().flush().unwrap();
        st.append("t", &spans[3..]).unwrap();
        // a retried batch does not duplicate spans in the trace
        st.append("t", &spans[3..]).unwrap();

        let t1 = st.trace("t", [1; 16]).unwrap();
        assert_eq!(t1, spans[..3].to_vec());
        assert_eq!(st.trace("t", [2; 16]).unwrap().len(), 2);
        assert!(st.trace("t", [3; 16]).unwrap().is_empty());
        assert!(st.trace("other", [1; 16]).unwrap().is_empty());

        assert_eq!(
            st.services("t", 0, i64::MAX).unwrap(),
            ["driver", "frontend", "redis"]
        );
        assert_eq!(
            st.operations("t", "frontend", None, 0, i64::MAX).unwrap(),
            [
                ("GET /dispatch".to_string(), SpanKind::Server),
                ("HTTP GET".to_string(), SpanKind::Client)
            ]
        );
        assert_eq!(
            st.operations("t", "frontend", Some(SpanKind::Client), 0, i64::MAX)
                .unwrap(),
            [("HTTP GET".to_string(), SpanKind::Client)]
        );

        let all = SearchRequest {
            start_ns: 0,
            end_ns: i64::MAX,
            ..Default::default()
        };
        let hits = st.search("t", &all).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].trace_id, [2; 16], "most recent first");
        let q = SearchRequest {
            service: Some("driver".into()),
            tags: vec![("driver.id".into(), "T7".into())],
            status: Some(StatusCode::Error),
            min_duration_ns: Some(700),
            max_duration_ns: Some(700),
            ..all.clone()
        };
        let hits = st.search("t", &q).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].trace_id, [1; 16]);
        assert_eq!(hits[0].matched[0].name, "FindDriver");
        let by_resource = SearchRequest {
            tags: vec![("service.name".into(), "redis".into())],
            ..all.clone()
        };
        assert_eq!(st.search("t", &by_resource).unwrap()[0].trace_id, [2; 16]);
        let by_int = SearchRequest {
            tags: vec![("retries".into(), "3".into())],
            ..all.clone()
        };
        assert_eq!(st.search("t", &by_int).unwrap()[0].matched[0].name, "GetDriver");
        let no_int = SearchRequest {
            tags: vec![("retries".into(), "4".into())],
            ..all.clone()
        };
        assert!(st.search("t", &no_int).unwrap().is_empty());
        let q = SearchRequest {
            min_duration_ns: Some(701),
            ..q
        };
        assert!(st.search("t", &q).unwrap().is_empty());
        let q = SearchRequest {
            operation: Some("GET /dispatch".into()),
            limit: 1,
            ..all.clone()
        };
        assert_eq!(st.search("t", &q).unwrap().len(), 1);
        let q = SearchRequest {
            start_ns: s + 1000,
            ..all.clone()
        };
        assert_eq!(st.search("t", &q).unwrap().len(), 1);

        assert_eq!(
            st.dependencies("t", 0, i64::MAX).unwrap(),
            [
                Dependency {
                    parent: "frontend".into(),
                    child: "driver".into(),
                    call_count: 1
                },
                Dependency {
                    parent: "frontend".into(),
                    child: "redis".into(),
                    call_count: 1
                },
            ]
        );

        let (span_keys, res_keys) = st.tag_names("t", 0, i64::MAX, 1000).unwrap();
        assert_eq!(span_keys, ["driver.id", "retries"]);
        assert_eq!(res_keys, ["service.name"]);
        assert_eq!(
            st.tag_values("t", "span.driver.id", 0, i64::MAX, 1000).unwrap(),
            [("T7".to_string(), "string")]
        );
        assert_eq!(
            st.tag_values("t", "service.name", 0, i64::MAX, 1000)
                .unwrap()
                .len(),
            3
        );
        assert!(st
            .tag_values("t", "resource.driver.id", 0, i64::MAX, 1000)
            .unwrap()
            .is_empty());

        // durable across reopen
        drop(st);
        let st = TraceStore::open(dir.path(), opts()).unwrap();
        assert_eq!(st.trace("t", [1; 16]).unwrap(), spans[..3].to_vec());
        st.log_store().flush().unwrap();
        assert!(st.bytes_per_span() > 0.0);
    }
}
