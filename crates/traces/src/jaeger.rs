//! Jaeger: thrift `Batch` in (agent UDP `emitBatch` in compact or binary
//! protocol, collector HTTP `POST /api/traces` as a binary `Batch`), and the
//! Jaeger query service's JSON out.
//!
//! Thrift-to-model mapping (documented in `docs/traces.md`):
//! - trace id = `traceIdHigh` then `traceIdLow`, big-endian; span id =
//!   `spanId`; parent = `parentSpanId` when non-zero, else the first
//!   `CHILD_OF` reference of the same trace; other references become links
//!   (with `opentracing.ref_type` = `child_of`/`follows_from`);
//! - times: `startTime`/`duration` in µs, multiplied by 1000;
//! - tag `span.kind` sets the kind; `error=true` or `otel.status_code=ERROR`
//!   sets status error (`otel.status_description` its message),
//!   `otel.status_code=OK` sets ok; `otel.scope.name`/`otel.library.name`
//!   and versions set the scope; these tags are not kept as attributes;
//! - `Process.serviceName` is `service.name`, process tags are resource
//!   attributes; logs become events named by their `event` field.

use crate::model::{self, hex, Attr, Event, Limits, Link, Span, SpanKind, StatusCode, Value};
use crate::thrift::{self, Protocol, TValue};
use crate::TraceError;
use serde_json::{json, Map, Value as J};

fn bad(m: impl Into<String>) -> TraceError {
    TraceError::BadInput(m.into())
}

/// Decodes an agent UDP datagram: an `Agent.emitBatch` message in the
/// compact (port 6831) or binary (port 6832) protocol.
pub fn decode_agent_datagram(b: &[u8], limits: &Limits) -> Result<Vec<Span>, TraceError> {
    let p =
        thrift::sniff(b).ok_or_else(|| bad("malformed thrift: not a compact or binary protocol message"))?;
    let msg = thrift::decode_message(b, p)?;
    if msg.name != "emitBatch" {
        return Err(bad(format!("unsupported Jaeger agent method {:?}", msg.name)));
    }
    let batch = msg
        .body
        .field(1)
        .ok_or_else(|| bad("emitBatch without a batch argument"))?;
    decode_batch(batch, limits)
}

/// Decodes the body of the collector's `POST /api/traces`
/// (`application/x-thrift`: a binary-protocol `Batch`).
pub fn decode_http_batch(b: &[u8], limits: &Limits) -> Result<Vec<Span>, TraceError> {
    let v = thrift::decode_struct(b, Protocol::Binary)?;
    decode_batch(&v, limits)
}

fn string(v: Option<&TValue>) -> String {
    v.and_then(TValue::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

fn tags(v: Option<&TValue>) -> Result<Vec<Attr>, TraceError> {
    let mut out = Vec::new();
    for t in v.and_then(TValue::as_list).unwrap_or(&[]) {
        let key = string(t.field(1));
        let vt = t.field(2).and_then(TValue::as_i64).unwrap_or(0);
        let val = match vt {
            0 => Value::Str(string(t.field(3))),
            1 => Value::Double(match t.field(4) {
                Some(TValue::Double(d)) => *d,
                _ => 0.0,
            }),
            2 => Value::Bool(matches!(t.field(5), Some(TValue::Bool(true)))),
            3 => Value::Int(t.field(6).and_then(TValue::as_i64).unwrap_or(0)),
            4 => Value::Bytes(t.field(7).and_then(TValue::as_bytes).unwrap_or(&[]).to_vec()),
            _ => return Err(bad(format!("tag {key:?}: unknown tag type {vt}"))),
        };
        out.push((key, val));
    }
    Ok(out)
}

fn trace_id(high: i64, low: i64) -> [u8; 16] {
    let mut t = [0u8; 16];
    t[..8].copy_from_slice(&high.to_be_bytes());
    t[8..].copy_from_slice(&low.to_be_bytes());
    t
}

/// Maps a thrift `Batch` value to spans.
pub fn decode_batch(batch: &TValue, limits: &Limits) -> Result<Vec<Span>, TraceError> {
    let process = batch.field(1).ok_or_else(|| bad("Batch without a process"))?;
    let mut resource = vec![("service.name".to_string(), Value::Str(string(process.field(1))))];
    resource.extend(tags(process.field(2))?);
    let mut out = Vec::new();
    for (i, s) in batch
        .field(2)
        .and_then(TValue::as_list)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let span = map_span(s, &resource).map_err(|e| e.context(&format!("spans[{i}]")))?;
        span.validate(limits)
            .map_err(|e| e.context(&format!("spans[{i}]")))?;
        out.push(span);
    }
    Ok(out)
}

fn i64f(s: &TValue, id: i16) -> i64 {
    s.field(id).and_then(TValue::as_i64).unwrap_or(0)
}

fn map_span(s: &TValue, resource: &[Attr]) -> Result<Span, TraceError> {
    let tid = trace_id(i64f(s, 2), i64f(s, 1));
    let span_id = i64f(s, 3).to_be_bytes();
    let parent = i64f(s, 4);
    let mut parent_span_id = (parent != 0).then(|| parent.to_be_bytes());
    let mut links = Vec::new();
    for r in s.field(6).and_then(TValue::as_list).unwrap_or(&[]) {
        let rt = i64f(r, 1);
        let rtid = trace_id(i64f(r, 3), i64f(r, 2));
        let rsid = i64f(r, 4).to_be_bytes();
        if rt == 0 && rtid == tid && parent_span_id.is_none() && rsid != [0; 8] {
            parent_span_id = Some(rsid);
            continue;
        }
        if Some(rsid) == parent_span_id && rtid == tid {
            continue;
        }
        links.push(Link {
            trace_id: rtid,
            span_id: rsid,
            trace_state: String::new(),
            attributes: vec![(
                "opentracing.ref_type".into(),
                Value::Str(if rt == 1 { "follows_from" } else { "child_of" }.into()),
            )],
        });
    }
    let start_us = i64f(s, 8);
    let dur_us = i64f(s, 9).max(0);
    let start_ns = start_us.saturating_mul(1000);
    let mut span = Span {
        trace_id: tid,
        span_id,
        parent_span_id,
        name: string(s.field(5)),
        start_ns,
        end_ns: start_ns.saturating_add(dur_us.saturating_mul(1000)),
        resource: resource.to_vec(),
        links,
        ..Default::default()
    };
    let mut status_from_otel = false;
    for (k, v) in tags(s.field(10))? {
        match k.as_str() {
            "span.kind" => span.kind = SpanKind::parse(&v.as_text()).unwrap_or(SpanKind::Unspecified),
            "error" if v == Value::Bool(true) || v == Value::Str("true".into()) => {
                if !status_from_otel {
                    span.status.code = StatusCode::Error;
                }
            }
            "error" => {}
            "otel.status_code" => {
                status_from_otel = true;
                span.status.code = StatusCode::parse(&v.as_text()).unwrap_or_default();
            }
            "otel.status_description" => span.status.message = v.as_text(),
            "otel.scope.name" | "otel.library.name" => span.scope.name = v.as_text(),
            "otel.scope.version" | "otel.library.version" => span.scope.version = v.as_text(),
            "w3c.tracestate" => span.trace_state = v.as_text(),
            _ => span.attributes.push((k, v)),
        }
    }
    for l in s.field(11).and_then(TValue::as_list).unwrap_or(&[]) {
        let mut ev = Event {
            time_ns: i64f(l, 1).saturating_mul(1000),
            ..Default::default()
        };
        for (k, v) in tags(l.field(2))? {
            if k == "event" && ev.name.is_empty() {
                ev.name = v.as_text();
            } else {
                ev.attributes.push((k, v));
            }
        }
        span.events.push(ev);
    }
    Ok(span)
}

// ---------------------------------------------------------------- JSON out

fn tag_json(k: &str, v: &Value) -> J {
    let (t, val) = match v {
        Value::Str(s) => ("string", J::String(s.clone())),
        Value::Bool(b) => ("bool", J::Bool(*b)),
        Value::Int(i) => ("int64", J::from(*i)),
        Value::Double(d) => (
            "float64",
            serde_json::Number::from_f64(*d).map_or_else(|| J::String(model::fmt_double(*d)), J::Number),
        ),
        Value::Bytes(b) => ("binary", J::String(model::base64(b))),
        Value::Array(_) | Value::Map(_) => ("string", J::String(v.as_text())),
    };
    json!({"key": k, "type": t, "value": val})
}

/// Span tags as Jaeger shows them: attributes, then `span.kind`,
/// `otel.status_code`/`error`, `otel.scope.*` derived from the model.
fn span_tags(s: &Span) -> Vec<J> {
    let mut t: Vec<J> = s.attributes.iter().map(|(k, v)| tag_json(k, v)).collect();
    if !s.scope.name.is_empty() {
        t.push(tag_json("otel.scope.name", &Value::Str(s.scope.name.clone())));
    }
    if !s.scope.version.is_empty() {
        t.push(tag_json(
            "otel.scope.version",
            &Value::Str(s.scope.version.clone()),
        ));
    }
    if !matches!(s.kind, SpanKind::Unspecified | SpanKind::Internal) {
        t.push(tag_json("span.kind", &Value::Str(s.kind.as_str().into())));
    }
    match s.status.code {
        StatusCode::Unset => {}
        StatusCode::Ok => t.push(tag_json("otel.status_code", &Value::Str("OK".into()))),
        StatusCode::Error => {
            t.push(tag_json("otel.status_code", &Value::Str("ERROR".into())));
            t.push(tag_json("error", &Value::Bool(true)));
        }
    }
    if !s.status.message.is_empty() {
        t.push(tag_json(
            "otel.status_description",
            &Value::Str(s.status.message.clone()),
        ));
    }
    if !s.trace_state.is_empty() {
        t.push(tag_json("w3c.tracestate", &Value::Str(s.trace_state.clone())));
    }
    t
}

/// One trace in the Jaeger query service's JSON shape (`traceID`, `spans`,
/// `processes` keyed `p1`, `p2`, ... in first-seen order, `warnings`).
/// `spans` must all have the same trace id.
pub fn trace_json(spans: &[Span]) -> J {
    let mut processes: Vec<(String, Vec<Attr>)> = Vec::new();
    let mut out_spans = Vec::with_capacity(spans.len());
    for s in spans {
        let svc = s.service_name();
        let ptags: Vec<Attr> = s
            .resource
            .iter()
            .filter(|(k, _)| k != "service.name")
            .cloned()
            .collect();
        let pi = match processes.iter().position(|(n, t)| *n == svc && *t == ptags) {
            Some(i) => i,
            None => {
                processes.push((svc, ptags));
                processes.len() - 1
            }
        };
        let mut refs = Vec::new();
        if let Some(p) = s.parent_span_id {
            refs.push(json!({"refType": "CHILD_OF", "traceID": hex(&s.trace_id), "spanID": hex(&p)}));
        }
        for l in &s.links {
            let rt = match model::find(&l.attributes, "opentracing.ref_type") {
                Some(Value::Str(x)) if x == "child_of" => "CHILD_OF",
                _ => "FOLLOWS_FROM",
            };
            refs.push(json!({"refType": rt, "traceID": hex(&l.trace_id), "spanID": hex(&l.span_id)}));
        }
        let logs: Vec<J> = s
            .events
            .iter()
            .map(|e| {
                let mut f = Vec::new();
                if !e.name.is_empty() {
                    f.push(tag_json("event", &Value::Str(e.name.clone())));
                }
                f.extend(e.attributes.iter().map(|(k, v)| tag_json(k, v)));
                json!({"timestamp": e.time_ns / 1000, "fields": f})
            })
            .collect();
        out_spans.push(json!({
            "traceID": hex(&s.trace_id),
            "spanID": hex(&s.span_id),
            "operationName": s.name,
            "references": refs,
            "startTime": s.start_ns / 1000,
            "duration": s.duration_ns() / 1000,
            "tags": span_tags(s),
            "logs": logs,
            "processID": format!("p{}", pi + 1),
            "warnings": J::Null,
            "flags": 1,
        }));
    }
    let mut procs = Map::new();
    for (i, (svc, t)) in processes.iter().enumerate() {
        procs.insert(
            format!("p{}", i + 1),
            json!({"serviceName": svc, "tags": t.iter().map(|(k, v)| tag_json(k, v)).collect::<Vec<_>>()}),
        );
    }
    json!({
        "traceID": spans.first().map(|s| hex(&s.trace_id)).unwrap_or_default(),
        "spans": out_spans,
        "processes": procs,
        "warnings": J::Null,
    })
}

/// The query API envelope: `{"data":..,"total":..,"limit":0,"offset":0,"errors":null}`.
pub fn envelope(data: J, total: usize) -> J {
    json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": J::Null})
}

/// `GET /api/traces/<id>` and `GET /api/traces?...` responses.
pub fn traces_response(traces: &[Vec<Span>]) -> J {
    let data: Vec<J> = traces
        .iter()
        .filter(|t| !t.is_empty())
        .map(|t| trace_json(t))
        .collect();
    let n = data.len();
    envelope(J::Array(data), n)
}

/// `GET /api/services` (and operation names for
/// `/api/services/<s>/operations`).
pub fn names_response(names: &[String]) -> J {
    envelope(json!(names), names.len())
}

/// `GET /api/operations?service=&spanKind=`: `[{"name","spanKind"}]`.
pub fn operations_response(ops: &[(String, SpanKind)]) -> J {
    let data: Vec<J> = ops
        .iter()
        .map(|(n, k)| {
            let kind = if *k == SpanKind::Unspecified {
                ""
            } else {
                k.as_str()
            };
            json!({"name": n, "spanKind": kind})
        })
        .collect();
    envelope(J::Array(data), ops.len())
}

/// `GET /api/dependencies`: `[{"parent","child","callCount"}]`.
pub fn dependencies_response(deps: &[crate::store::Dependency]) -> J {
    let data: Vec<J> = deps
        .iter()
        .map(|d| json!({"parent": d.parent, "child": d.child, "callCount": d.call_count}))
        .collect();
    envelope(J::Array(data), deps.len())
}

/// Parses a Go duration (`1.5s`, `100ms`, `1h30m`, `250us`, `10µs`,
/// `42ns`) into nanoseconds, as Jaeger's `minDuration`/`maxDuration`/
/// `lookback` parameters are written.
pub fn parse_go_duration(s: &str) -> Result<i64, TraceError> {
    let err = || bad(format!("invalid duration {s:?}"));
    if s == "0" {
        return Ok(0);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if n == 0 {
            return Err(err());
        }
        let v: f64 = rest[..n].parse().map_err(|_| err())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mul = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err()),
        };
        total += v * mul;
        rest = &rest[u..];
    }
    if total > i64::MAX as f64 {
        return Err(err());
    }
    Ok(total.round() as i64)
}

/// Builds a search from the query parameters of Jaeger's
/// `GET /api/traces`: `service`, `operation`, `tags` (JSON object, or
/// repeated `key:value`), `minDuration`/`maxDuration` (Go durations),
/// `start`/`end` (µs), `lookback` (Go duration, used when `start` is
/// absent; `custom` ignored), `limit`. `end` defaults to `now_ns`, the
/// range to the last hour.
pub fn search_request(
    params: &[(String, String)],
    now_ns: i64,
) -> Result<crate::store::SearchRequest, TraceError> {
    let mut r = crate::store::SearchRequest {
        end_ns: now_ns,
        ..Default::default()
    };
    let mut start = None;
    let mut lookback = 3_600_000_000_000i64;
    let us = |k: &str, v: &str| -> Result<i64, TraceError> {
        v.parse::<i64>()
            .map(|x| x.saturating_mul(1000))
            .map_err(|_| bad(format!("invalid {k} {v:?}: expected microseconds")))
    };
    for (k, v) in params {
        if v.is_empty() {
            continue;
        }
        match k.as_str() {
            "service" => r.service = Some(v.clone()),
            "operation" => r.operation = Some(v.clone()),
            "tags" => {
                if v.starts_with('{') {
                    let o: serde_json::Map<String, J> =
                        serde_json::from_str(v).map_err(|e| bad(format!("invalid tags {v:?}: {e}")))?;
                    for (tk, tv) in o {
                        let tv = match tv {
                            J::String(s) => s,
                            other => other.to_string(),
                        };
                        r.tags.push((tk, tv));
                    }
                } else {
                    let (tk, tv) = v
                        .split_once(':')
                        .ok_or_else(|| bad(format!("invalid tag {v:?}: expected key:value")))?;
                    r.tags.push((tk.to_string(), tv.to_string()));
                }
            }
            "minDuration" => r.min_duration_ns = Some(parse_go_duration(v)?),
            "maxDuration" => r.max_duration_ns = Some(parse_go_duration(v)?),
            "start" => start = Some(us(k, v)?),
            "end" => r.end_ns = us(k, v)?,
            "lookback" if v != "custom" => lookback = parse_go_duration(v)?,
            "limit" => r.limit = v.parse().map_err(|_| bad(format!("invalid limit {v:?}")))?,
            _ => {}
        }
    }
    r.start_ns = start.unwrap_or_else(|| r.end_ns.saturating_sub(lookback));
    // Jaeger's end is inclusive
    r.end_ns = r.end_ns.saturating_add(1);
    if r.start_ns >= r.end_ns {
        return Err(bad("start must be before end"));
    }
    Ok(r)
}

/// Parses a Jaeger trace id from the URL (1 to 32 hex digits).
pub fn parse_trace_id(s: &str) -> Result<[u8; 16], TraceError> {
    model::parse_hex_id::<16>(s, "trace id")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::thrift::encode;

    fn s(v: &str) -> TValue {
        TValue::Binary(v.as_bytes().to_vec())
    }

    fn tag_str(k: &str, v: &str) -> TValue {
        TValue::Struct(vec![(1, s(k)), (2, TValue::I32(0)), (3, s(v))])
    }

    /// A batch shaped like jaeger-client-go / the OpenTelemetry Jaeger
    /// exporter send: process with tags, a server span with a child span.
    fn batch() -> TValue {
        let process = TValue::Struct(vec![
            (1, s("frontend")),
            (
                2,
                TValue::List(vec![
                    tag_str("hostname", "host-1"),
                    tag_str("jaeger.version", "Go-2.30.0"),
                ]),
            ),
        ]);
        let root = TValue::Struct(vec![
            (1, TValue::I64(0x0102030405060708)),
            (2, TValue::I64(0)),
            (3, TValue::I64(0x11)),
            (4, TValue::I64(0)),
            (5, s("HTTP GET /dispatch")),
            (7, TValue::I32(1)),
            (8, TValue::I64(1_700_000_000_000_000)),
            (9, TValue::I64(2500)),
            (
                10,
                TValue::List(vec![
                    tag_str("span.kind", "server"),
                    tag_str("http.method", "GET"),
                    TValue::Struct(vec![
                        (1, s("http.status_code")),
                        (2, TValue::I32(3)),
                        (6, TValue::I64(500)),
                    ]),
                    TValue::Struct(vec![
                        (1, s("error")),
                        (2, TValue::I32(2)),
                        (5, TValue::Bool(true)),
                    ]),
                    TValue::Struct(vec![
                        (1, s("ratio")),
                        (2, TValue::I32(1)),
                        (4, TValue::Double(0.25)),
                    ]),
                ]),
            ),
            (
                11,
                TValue::List(vec![TValue::Struct(vec![
                    (1, TValue::I64(1_700_000_000_001_000)),
                    (
                        2,
                        TValue::List(vec![tag_str("event", "cache miss"), tag_str("key", "k1")]),
                    ),
                ])]),
            ),
        ]);
        let child = TValue::Struct(vec![
            (1, TValue::I64(0x0102030405060708)),
            (2, TValue::I64(0)),
            (3, TValue::I64(0x12)),
            (4, TValue::I64(0)),
            (5, s("redis GET")),
            (
                6,
                TValue::List(vec![
                    TValue::Struct(vec![
                        (1, TValue::I32(0)),
                        (2, TValue::I64(0x0102030405060708)),
                        (3, TValue::I64(0)),
                        (4, TValue::I64(0x11)),
                    ]),
                    TValue::Struct(vec![
                        (1, TValue::I32(1)),
                        (2, TValue::I64(9)),
                        (3, TValue::I64(0)),
                        (4, TValue::I64(0x99)),
                    ]),
                ]),
            ),
            (7, TValue::I32(1)),
            (8, TValue::I64(1_700_000_000_000_100)),
            (9, TValue::I64(300)),
            (10, TValue::List(vec![tag_str("span.kind", "client")])),
        ]);
        TValue::Struct(vec![
            (1, process),
            (2, TValue::List(vec![root, child])),
            (3, TValue::I64(1)),
        ])
    }

    fn check(spans: &[Span]) {
        assert_eq!(spans.len(), 2);
        let r = &spans[0];
        assert_eq!(hex(&r.trace_id), "00000000000000000102030405060708");
        assert_eq!(hex(&r.span_id), "0000000000000011");
        assert_eq!(r.parent_span_id, None);
        assert_eq!(r.service_name(), "frontend");
        assert_eq!(r.resource_attr("hostname"), Some(&Value::Str("host-1".into())));
        assert_eq!(r.kind, SpanKind::Server);
        assert_eq!(r.status.code, StatusCode::Error);
        assert_eq!(r.start_ns, 1_700_000_000_000_000_000);
        assert_eq!(r.duration_ns(), 2_500_000);
        assert_eq!(r.attr("http.status_code"), Some(&Value::Int(500)));
        assert_eq!(r.attr("ratio"), Some(&Value::Double(0.25)));
        assert!(r.attr("span.kind").is_none() && r.attr("error").is_none());
        assert_eq!(r.events[0].name, "cache miss");
        assert_eq!(
            r.events[0].attributes,
            vec![("key".into(), Value::Str("k1".into()))]
        );
        let c = &spans[1];
        assert_eq!(
            c.parent_span_id,
            Some(0x11i64.to_be_bytes()),
            "parent from CHILD_OF reference"
        );
        assert_eq!(c.kind, SpanKind::Client);
        assert_eq!(c.links.len(), 1);
        assert_eq!(hex(&c.links[0].trace_id), "00000000000000000000000000000009");
    }

    #[test]
    fn agent_compact_and_binary_and_http() {
        let l = Limits::default();
        let args = TValue::Struct(vec![(1, batch())]);
        for p in [Protocol::Compact, Protocol::Binary] {
            let mut m = Vec::new();
            encode::message(&mut m, "emitBatch", 4, 1, &args, p);
            check(&decode_agent_datagram(&m, &l).unwrap());
        }
        let mut b = Vec::new();
        encode::value(&mut b, &batch(), Protocol::Binary);
        check(&decode_http_batch(&b, &l).unwrap());
    }

    /// Bytes of a compact `emitBatch` as the Jaeger clients write it
    /// (service "svc", one span "op", trace 1/span 2, start 5 µs, duration 3).
    #[test]
    fn literal_compact_datagram() {
        let bytes: &[u8] = &[
            0x82, 0x81, 0x01, 0x09, b'e', b'm', b'i', b't', b'B', b'a', b't', b'c', b'h', // envelope
            0x1c, // field 1 (batch) struct
            0x1c, // field 1 (process) struct
            0x18, 0x03, b's', b'v', b'c', 0x00, // serviceName, stop
            0x19, 0x1c, // field 2 (spans) list of 1 struct
            0x16, 0x02, // traceIdLow = 1
            0x16, 0x00, // traceIdHigh = 0
            0x16, 0x04, // spanId = 2
            0x16, 0x00, // parentSpanId = 0
            0x18, 0x02, b'o', b'p', // operationName
            0x25, 0x02, // flags (field 7) = 1
            0x16, 0x0a, // startTime = 5
            0x16, 0x06, // duration = 3
            0x00, // end span
            0x00, // end batch
            0x00, // end args
        ];
        let spans = decode_agent_datagram(bytes, &Limits::default()).unwrap();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].name, "op");
        assert_eq!(spans[0].service_name(), "svc");
        assert_eq!(hex(&spans[0].span_id), "0000000000000002");
        assert_eq!((spans[0].start_ns, spans[0].end_ns), (5000, 8000));
    }

    #[test]
    fn bad_batches() {
        let l = Limits::default();
        let e = decode_agent_datagram(b"\x01\x02", &l).unwrap_err();
        assert!(e.to_string().contains("not a compact or binary"), "{e}");
        let mut m = Vec::new();
        encode::message(
            &mut m,
            "emitZipkinBatch",
            4,
            1,
            &TValue::Struct(vec![]),
            Protocol::Compact,
        );
        assert!(decode_agent_datagram(&m, &l)
            .unwrap_err()
            .to_string()
            .contains("emitZipkinBatch"));
        // span with zero trace id
        let b = TValue::Struct(vec![
            (1, TValue::Struct(vec![(1, s("x"))])),
            (2, TValue::List(vec![TValue::Struct(vec![(3, TValue::I64(1))])])),
        ]);
        let mut body = Vec::new();
        encode::value(&mut body, &b, Protocol::Binary);
        let e = decode_http_batch(&body, &l).unwrap_err();
        assert!(e.to_string().contains("spans[0]: invalid trace id"), "{e}");
        let mut body = Vec::new();
        encode::value(&mut body, &batch(), Protocol::Binary);
        for cut in 0..body.len() {
            let _ = decode_http_batch(&body[..cut], &l);
        }
    }

    #[test]
    fn query_json_shape() {
        let mut b = Vec::new();
        encode::value(&mut b, &batch(), Protocol::Binary);
        let spans = decode_http_batch(&b, &Limits::default()).unwrap();
        let j = traces_response(&[spans]);
        assert_eq!(j["total"], 1);
        assert_eq!(j["errors"], J::Null);
        let t = &j["data"][0];
        assert_eq!(t["traceID"], "00000000000000000102030405060708");
        assert_eq!(t["processes"]["p1"]["serviceName"], "frontend");
        assert_eq!(
            t["processes"]["p1"]["tags"][0],
            json!({"key":"hostname","type":"string","value":"host-1"})
        );
        let root = &t["spans"][0];
        assert_eq!(root["startTime"], 1_700_000_000_000_000i64);
        assert_eq!(root["duration"], 2500);
        assert_eq!(root["processID"], "p1");
        assert_eq!(root["references"], json!([]));
        let tags = root["tags"].as_array().unwrap();
        assert!(tags.contains(&json!({"key":"http.status_code","type":"int64","value":500})));
        assert!(tags.contains(&json!({"key":"span.kind","type":"string","value":"server"})));
        assert!(tags.contains(&json!({"key":"error","type":"bool","value":true})));
        assert_eq!(root["logs"][0]["timestamp"], 1_700_000_000_001_000i64);
        assert_eq!(
            root["logs"][0]["fields"][0],
            json!({"key":"event","type":"string","value":"cache miss"})
        );
        let child = &t["spans"][1];
        assert_eq!(child["references"][0]["refType"], "CHILD_OF");
        assert_eq!(child["references"][0]["spanID"], "0000000000000011");
        assert_eq!(child["references"][1]["refType"], "FOLLOWS_FROM");
        let ops = operations_response(&[
            ("GET".into(), SpanKind::Server),
            ("x".into(), SpanKind::Unspecified),
        ]);
        assert_eq!(
            ops["data"],
            json!([{"name":"GET","spanKind":"server"},{"name":"x","spanKind":""}])
        );
        assert_eq!(names_response(&["a".into()])["data"], json!(["a"]));
        assert_eq!(parse_trace_id("abc").unwrap()[15], 0xbc);
    }

    #[test]
    fn query_params() {
        assert_eq!(parse_go_duration("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse_go_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_go_duration("250us").unwrap(), 250_000);
        assert_eq!(parse_go_duration("10µs").unwrap(), 10_000);
        assert_eq!(parse_go_duration("0").unwrap(), 0);
        for b in ["", "5", "ms", "1x", "-1s", "1.2.3s"] {
            assert!(parse_go_duration(b).is_err(), "{b}");
        }
        let p = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
        };
        let now = 10_000_000_000_000;
        let r = search_request(
            &p(&[
                ("service", "frontend"),
                ("operation", "GET"),
                ("tags", r#"{"error":"true","http.status_code":500}"#),
                ("minDuration", "10ms"),
                ("maxDuration", "1s"),
                ("lookback", "1h"),
                ("limit", "5"),
            ]),
            now,
        )
        .unwrap();
        assert_eq!(r.service.as_deref(), Some("frontend"));
        assert_eq!(
            r.tags,
            vec![
                ("error".into(), "true".into()),
                ("http.status_code".into(), "500".into())
            ]
        );
        assert_eq!(
            (r.min_duration_ns, r.max_duration_ns),
            (Some(10_000_000), Some(1_000_000_000))
        );
        assert_eq!(
            (r.start_ns, r.end_ns, r.limit),
            (now - 3_600_000_000_000, now + 1, 5)
        );
        let r = search_request(&p(&[("start", "1000"), ("end", "2000"), ("tags", "a:b")]), now).unwrap();
        assert_eq!((r.start_ns, r.end_ns), (1_000_000, 2_000_001));
        assert_eq!(r.tags, vec![("a".into(), "b".into())]);
        assert!(search_request(&p(&[("tags", "{")]), now).is_err());
        assert!(search_request(&p(&[("start", "x")]), now)
            .unwrap_err()
            .to_string()
            .contains("microseconds"));
        assert!(search_request(&p(&[("start", "5000"), ("end", "1")]), now).is_err());
    }
}
