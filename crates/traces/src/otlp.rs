//! OTLP traces: `ExportTraceServiceRequest` in protobuf and OTLP/JSON to the
//! span model, and the model back to OTLP (protobuf messages and OTLP/JSON)
//! for Tempo's trace-by-id responses.
//!
//! Mapping (one model span per OTLP span): ids copied (16/8 bytes, an empty
//! `parentSpanId` means root), `kind`/`status` by number, times in ns,
//! resource and scope attached to every span of their group, events and
//! links as is. OTLP/JSON follows the protobuf JSON mapping with OTLP's
//! exceptions: ids in hex, 64-bit integers as strings or numbers, enums as
//! numbers or names, both lowerCamelCase and snake_case field names.

use crate::model::{self, hex, id_from_bytes, parse_hex_id, Attr, Event, Limits, Link, Scope, Span, Value};
use crate::TraceError;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1 as pb;
use prost::Message;
use serde_json::{Map, Value as J};

/// Decodes a protobuf `ExportTraceServiceRequest`.
pub fn decode_protobuf(body: &[u8], limits: &Limits) -> Result<Vec<Span>, TraceError> {
    let req = ExportTraceServiceRequest::decode(body)
        .map_err(|e| TraceError::BadInput(format!("malformed OTLP protobuf: {e}")))?;
    from_request(&req, limits)
}

/// Converts a decoded request (e.g. from the gRPC service) to spans.
pub fn from_request(req: &ExportTraceServiceRequest, limits: &Limits) -> Result<Vec<Span>, TraceError> {
    let mut out = Vec::new();
    for rs in &req.resource_spans {
        let resource: Vec<Attr> = rs
            .resource
            .as_ref()
            .map(|r| attrs(&r.attributes))
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            let scope = ss
                .scope
                .as_ref()
                .map(|s| Scope {
                    name: s.name.clone(),
                    version: s.version.clone(),
                })
                .unwrap_or_default();
            for s in &ss.spans {
                let span = Span {
                    trace_id: id_from_bytes(&s.trace_id, "trace id")?,
                    span_id: id_from_bytes(&s.span_id, "span id")?,
                    parent_span_id: if s.parent_span_id.is_empty() {
                        None
                    } else {
                        Some(id_from_bytes(&s.parent_span_id, "parent span id")?)
                    },
                    trace_state: s.trace_state.clone(),
                    name: s.name.clone(),
                    kind: model::SpanKind::from_i32(s.kind),
                    start_ns: to_ns(s.start_time_unix_nano),
                    end_ns: to_ns(s.end_time_unix_nano).max(to_ns(s.start_time_unix_nano)),
                    status: s
                        .status
                        .as_ref()
                        .map(|st| model::Status {
                            code: model::StatusCode::from_i32(st.code),
                            message: st.message.clone(),
                        })
                        .unwrap_or_default(),
                    attributes: attrs(&s.attributes),
                    resource: resource.clone(),
                    scope: scope.clone(),
                    events: s
                        .events
                        .iter()
                        .map(|e| Event {
                            time_ns: to_ns(e.time_unix_nano),
                            name: e.name.clone(),
                            attributes: attrs(&e.attributes),
                        })
                        .collect(),
                    links: s
                        .links
                        .iter()
                        .map(|l| {
                            Ok(Link {
                                trace_id: id_from_bytes(&l.trace_id, "link trace id")?,
                                span_id: id_from_bytes(&l.span_id, "link span id")?,
                                trace_state: l.trace_state.clone(),
                                attributes: attrs(&l.attributes),
                            })
                        })
                        .collect::<Result<_, TraceError>>()?,
                };
                span.validate(limits)?;
                out.push(span);
            }
        }
    }
    Ok(out)
}

fn to_ns(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn attrs(kvs: &[KeyValue]) -> Vec<Attr> {
    kvs.iter()
        .filter_map(|kv| Some((kv.key.clone(), any(kv.value.as_ref()?)?)))
        .collect()
}

fn any(v: &AnyValue) -> Option<Value> {
    Some(match v.value.as_ref()? {
        any_value::Value::StringValue(s) => Value::Str(s.clone()),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::IntValue(i) => Value::Int(*i),
        any_value::Value::DoubleValue(d) => Value::Double(*d),
        any_value::Value::BytesValue(b) => Value::Bytes(b.clone()),
        any_value::Value::ArrayValue(a) => Value::Array(a.values.iter().filter_map(any).collect()),
        any_value::Value::KvlistValue(l) => Value::Map(attrs(&l.values)),
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

fn to_any(v: &Value) -> AnyValue {
    AnyValue {
        value: Some(match v {
            Value::Str(s) => any_value::Value::StringValue(s.clone()),
            Value::Bool(b) => any_value::Value::BoolValue(*b),
            Value::Int(i) => any_value::Value::IntValue(*i),
            Value::Double(d) => any_value::Value::DoubleValue(*d),
            Value::Bytes(b) => any_value::Value::BytesValue(b.clone()),
            Value::Array(a) => any_value::Value::ArrayValue(ArrayValue {
                values: a.iter().map(to_any).collect(),
            }),
            Value::Map(m) => any_value::Value::KvlistValue(KeyValueList { values: to_kvs(m) }),
        }),
    }
}

fn to_kvs(a: &[Attr]) -> Vec<KeyValue> {
    a.iter()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: Some(to_any(v)),
            ..Default::default()
        })
        .collect()
}

/// Groups spans by resource and scope (in first-seen order) into OTLP
/// `ResourceSpans`.
pub fn to_resource_spans(spans: &[Span]) -> Vec<pb::ResourceSpans> {
    type Group = (Vec<Attr>, Vec<(Scope, Vec<pb::Span>)>);
    let mut out: Vec<Group> = Vec::new();
    for s in spans {
        let ri = match out.iter().position(|(r, _)| *r == s.resource) {
            Some(i) => i,
            None => {
                out.push((s.resource.clone(), Vec::new()));
                out.len() - 1
            }
        };
        let scopes = &mut out[ri].1;
        let si = match scopes.iter().position(|(sc, _)| *sc == s.scope) {
            Some(i) => i,
            None => {
                scopes.push((s.scope.clone(), Vec::new()));
                scopes.len() - 1
            }
        };
        scopes[si].1.push(to_pb_span(s));
    }
    out.into_iter()
        .map(|(r, scopes)| pb::ResourceSpans {
            resource: Some(Resource {
                attributes: to_kvs(&r),
                ..Default::default()
            }),
            scope_spans: scopes
                .into_iter()
                .map(|(sc, spans)| pb::ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: sc.name,
                        version: sc.version,
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                })
                .collect(),
            schema_url: String::new(),
        })
        .collect()
}

fn to_pb_span(s: &Span) -> pb::Span {
    pb::Span {
        trace_id: s.trace_id.to_vec(),
        span_id: s.span_id.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: s.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
        name: s.name.clone(),
        kind: s.kind as i32,
        start_time_unix_nano: s.start_ns.max(0) as u64,
        end_time_unix_nano: s.end_ns.max(0) as u64,
        attributes: to_kvs(&s.attributes),
        events: s
            .events
            .iter()
            .map(|e| pb::span::Event {
                time_unix_nano: e.time_ns.max(0) as u64,
                name: e.name.clone(),
                attributes: to_kvs(&e.attributes),
                dropped_attributes_count: 0,
            })
            .collect(),
        links: s
            .links
            .iter()
            .map(|l| pb::span::Link {
                trace_id: l.trace_id.to_vec(),
                span_id: l.span_id.to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: to_kvs(&l.attributes),
                ..Default::default()
            })
            .collect(),
        status: Some(pb::Status {
            message: s.status.message.clone(),
            code: s.status.code as i32,
        }),
        ..Default::default()
    }
}

// ---------------------------------------------------------------- JSON out

/// OTLP/JSON `resourceSpans` array for `spans` (ids in hex, 64-bit integers
/// as strings, enums as numbers), the shape Tempo returns.
pub fn to_json_resource_spans(spans: &[Span]) -> J {
    J::Array(
        to_resource_spans(spans)
            .iter()
            .map(|rs| {
                let mut o = Map::new();
                let mut res = Map::new();
                res.insert(
                    "attributes".into(),
                    kvs_json(
                        &rs.resource
                            .as_ref()
                            .map(|r| attrs(&r.attributes))
                            .unwrap_or_default(),
                    ),
                );
                o.insert("resource".into(), J::Object(res));
                o.insert(
                    "scopeSpans".into(),
                    J::Array(
                        rs.scope_spans
                            .iter()
                            .map(|ss| {
                                let mut so = Map::new();
                                let sc = ss.scope.clone().unwrap_or_default();
                                let mut sco = Map::new();
                                sco.insert("name".into(), J::String(sc.name));
                                if !sc.version.is_empty() {
                                    sco.insert("version".into(), J::String(sc.version));
                                }
                                so.insert("scope".into(), J::Object(sco));
                                so.insert("spans".into(), J::Array(ss.spans.iter().map(span_json).collect()));
                                J::Object(so)
                            })
                            .collect(),
                    ),
                );
                J::Object(o)
            })
            .collect(),
    )
}

fn span_json(s: &pb::Span) -> J {
    let mut o = Map::new();
    o.insert("traceId".into(), J::String(hex(&s.trace_id)));
    o.insert("spanId".into(), J::String(hex(&s.span_id)));
    if !s.trace_state.is_empty() {
        o.insert("traceState".into(), J::String(s.trace_state.clone()));
    }
    if !s.parent_span_id.is_empty() {
        o.insert("parentSpanId".into(), J::String(hex(&s.parent_span_id)));
    }
    o.insert("name".into(), J::String(s.name.clone()));
    o.insert("kind".into(), J::from(s.kind));
    o.insert(
        "startTimeUnixNano".into(),
        J::String(s.start_time_unix_nano.to_string()),
    );
    o.insert(
        "endTimeUnixNano".into(),
        J::String(s.end_time_unix_nano.to_string()),
    );
    if !s.attributes.is_empty() {
        o.insert("attributes".into(), kvs_json(&attrs(&s.attributes)));
    }
    if !s.events.is_empty() {
        o.insert(
            "events".into(),
            J::Array(
                s.events
                    .iter()
                    .map(|e| {
                        let mut eo = Map::new();
                        eo.insert("timeUnixNano".into(), J::String(e.time_unix_nano.to_string()));
                        eo.insert("name".into(), J::String(e.name.clone()));
                        if !e.attributes.is_empty() {
                            eo.insert("attributes".into(), kvs_json(&attrs(&e.attributes)));
                        }
                        J::Object(eo)
                    })
                    .collect(),
            ),
        );
    }
    if !s.links.is_empty() {
        o.insert(
            "links".into(),
            J::Array(
                s.links
                    .iter()
                    .map(|l| {
                        let mut lo = Map::new();
                        lo.insert("traceId".into(), J::String(hex(&l.trace_id)));
                        lo.insert("spanId".into(), J::String(hex(&l.span_id)));
                        if !l.attributes.is_empty() {
                            lo.insert("attributes".into(), kvs_json(&attrs(&l.attributes)));
                        }
                        J::Object(lo)
                    })
                    .collect(),
            ),
        );
    }
    let mut st = Map::new();
    if let Some(s) = &s.status {
        if s.code != 0 {
            st.insert("code".into(), J::from(s.code));
        }
        if !s.message.is_empty() {
            st.insert("message".into(), J::String(s.message.clone()));
        }
    }
    o.insert("status".into(), J::Object(st));
    J::Object(o)
}

/// OTLP/JSON `[{"key":..,"value":{"stringValue":..}}]`.
pub fn kvs_json(a: &[Attr]) -> J {
    J::Array(
        a.iter()
            .map(|(k, v)| {
                let mut o = Map::new();
                o.insert("key".into(), J::String(k.clone()));
                o.insert("value".into(), any_json(v));
                J::Object(o)
            })
            .collect(),
    )
}

fn any_json(v: &Value) -> J {
    let mut o = Map::new();
    match v {
        Value::Str(s) => o.insert("stringValue".into(), J::String(s.clone())),
        Value::Bool(b) => o.insert("boolValue".into(), J::Bool(*b)),
        Value::Int(i) => o.insert("intValue".into(), J::String(i.to_string())),
        Value::Double(d) => o.insert(
            "doubleValue".into(),
            serde_json::Number::from_f64(*d).map_or_else(|| J::String(model::fmt_double(*d)), J::Number),
        ),
        Value::Bytes(b) => o.insert("bytesValue".into(), J::String(model::base64(b))),
        Value::Array(a) => o.insert(
            "arrayValue".into(),
            serde_json::json!({ "values": a.iter().map(any_json).collect::<Vec<_>>() }),
        ),
        Value::Map(m) => o.insert("kvlistValue".into(), serde_json::json!({ "values": kvs_json(m) })),
    };
    J::Object(o)
}

// ----------------------------------------------------------------- JSON in

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`.
pub fn decode_json(body: &[u8], limits: &Limits) -> Result<Vec<Span>, TraceError> {
    let v: J = serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let mut out = Vec::new();
    for (i, rs) in list(&v, "resourceSpans", "resource_spans")?.iter().enumerate() {
        let ctx = |e: TraceError| e.context(&format!("resourceSpans[{i}]"));
        let resource = match field(rs, "resource", "resource") {
            Some(r) => json_attrs(r).map_err(ctx)?,
            None => Vec::new(),
        };
        for (j, ss) in list(rs, "scopeSpans", "scope_spans")
            .map_err(ctx)?
            .iter()
            .enumerate()
        {
            let ctx = |e: TraceError| e.context(&format!("resourceSpans[{i}].scopeSpans[{j}]"));
            let scope = match field(ss, "scope", "scope") {
                Some(sc) => Scope {
                    name: str_field(sc, "name", "name").map_err(ctx)?,
                    version: str_field(sc, "version", "version").map_err(ctx)?,
                },
                None => Scope::default(),
            };
            for (k, s) in list(ss, "spans", "spans").map_err(ctx)?.iter().enumerate() {
                let span = json_span(s, &resource, &scope, limits)
                    .map_err(|e| e.context(&format!("resourceSpans[{i}].scopeSpans[{j}].spans[{k}]")))?;
                out.push(span);
            }
        }
    }
    Ok(out)
}

fn bad(s: impl Into<String>) -> TraceError {
    TraceError::BadInput(s.into())
}

fn field<'a>(v: &'a J, camel: &str, snake: &str) -> Option<&'a J> {
    let o = v.as_object()?;
    o.get(camel).or_else(|| o.get(snake)).filter(|x| !x.is_null())
}

fn list<'a>(v: &'a J, camel: &str, snake: &str) -> Result<&'a [J], TraceError> {
    if !v.is_object() {
        return Err(bad("expected a JSON object"));
    }
    match field(v, camel, snake) {
        None => Ok(&[]),
        Some(J::Array(a)) => Ok(a),
        Some(_) => Err(bad(format!("{camel}: expected an array"))),
    }
}

fn str_field(v: &J, camel: &str, snake: &str) -> Result<String, TraceError> {
    match field(v, camel, snake) {
        None => Ok(String::new()),
        Some(J::String(s)) => Ok(s.clone()),
        Some(_) => Err(bad(format!("{camel}: expected a string"))),
    }
}

fn u64_field(v: &J, camel: &str, snake: &str) -> Result<u64, TraceError> {
    match field(v, camel, snake) {
        None => Ok(0),
        Some(J::String(s)) => s
            .parse()
            .map_err(|_| bad(format!("{camel}: invalid unsigned integer {s:?}"))),
        Some(J::Number(n)) => n
            .as_u64()
            .ok_or_else(|| bad(format!("{camel}: invalid unsigned integer {n}"))),
        Some(_) => Err(bad(format!("{camel}: expected an integer"))),
    }
}

fn enum_field(v: &J, camel: &str, parse: impl Fn(&str) -> Option<i32>) -> Result<i32, TraceError> {
    match field(v, camel, camel) {
        None => Ok(0),
        Some(J::Number(n)) => n
            .as_i64()
            .and_then(|x| i32::try_from(x).ok())
            .ok_or_else(|| bad(format!("{camel}: invalid enum value {n}"))),
        Some(J::String(s)) => parse(s).ok_or_else(|| bad(format!("{camel}: unknown enum value {s:?}"))),
        Some(_) => Err(bad(format!("{camel}: expected an enum"))),
    }
}

fn json_id<const N: usize>(
    v: &J,
    camel: &str,
    snake: &str,
    what: &str,
) -> Result<Option<[u8; N]>, TraceError> {
    let s = str_field(v, camel, snake)?;
    if s.is_empty() {
        return Ok(None);
    }
    if s.len() != N * 2 {
        return Err(bad(format!(
            "invalid {what} {s:?}: expected {} hex digits",
            N * 2
        )));
    }
    parse_hex_id::<N>(&s, what).map(Some)
}

fn json_span(s: &J, resource: &[Attr], scope: &Scope, limits: &Limits) -> Result<Span, TraceError> {
    let trace_id =
        json_id::<16>(s, "traceId", "trace_id", "trace id")?.ok_or_else(|| bad("missing traceId"))?;
    let span_id = json_id::<8>(s, "spanId", "span_id", "span id")?.ok_or_else(|| bad("missing spanId"))?;
    let start = to_ns(u64_field(s, "startTimeUnixNano", "start_time_unix_nano")?);
    let end = to_ns(u64_field(s, "endTimeUnixNano", "end_time_unix_nano")?);
    let status = match field(s, "status", "status") {
        Some(st) => model::Status {
            code: model::StatusCode::from_i32(enum_field(st, "code", |x| {
                model::StatusCode::parse(x).map(|c| c as i32)
            })?),
            message: str_field(st, "message", "message")?,
        },
        None => model::Status::default(),
    };
    let mut events = Vec::new();
    for e in list(s, "events", "events")? {
        events.push(Event {
            time_ns: to_ns(u64_field(e, "timeUnixNano", "time_unix_nano")?),
            name: str_field(e, "name", "name")?,
            attributes: json_attrs(e)?,
        });
    }
    let mut links = Vec::new();
    for l in list(s, "links", "links")? {
        links.push(Link {
            trace_id: json_id::<16>(l, "traceId", "trace_id", "link trace id")?
                .ok_or_else(|| bad("link without traceId"))?,
            span_id: json_id::<8>(l, "spanId", "span_id", "link span id")?
                .ok_or_else(|| bad("link without spanId"))?,
            trace_state: str_field(l, "traceState", "trace_state")?,
            attributes: json_attrs(l)?,
        });
    }
    let span = Span {
        trace_id,
        span_id,
        parent_span_id: json_id::<8>(s, "parentSpanId", "parent_span_id", "parent span id")?,
        trace_state: str_field(s, "traceState", "trace_state")?,
        name: str_field(s, "name", "name")?,
        kind: model::SpanKind::from_i32(enum_field(s, "kind", |x| {
            model::SpanKind::parse(x).map(|k| k as i32)
        })?),
        start_ns: start,
        end_ns: end.max(start),
        status,
        attributes: json_attrs(s)?,
        resource: resource.to_vec(),
        scope: scope.clone(),
        events,
        links,
    };
    span.validate(limits)?;
    Ok(span)
}

/// The OTLP/JSON `attributes` list of an object.
pub(crate) fn json_attrs_pub(v: &J) -> Result<Vec<Attr>, TraceError> {
    json_attrs(v)
}

fn json_attrs(v: &J) -> Result<Vec<Attr>, TraceError> {
    let mut out = Vec::new();
    for kv in list(v, "attributes", "attributes")? {
        let key = str_field(kv, "key", "key")?;
        if let Some(val) = field(kv, "value", "value") {
            if let Some(x) = json_any(val)? {
                out.push((key, x));
            }
        }
    }
    Ok(out)
}

fn json_any(v: &J) -> Result<Option<Value>, TraceError> {
    let Some(o) = v.as_object() else {
        return Err(bad("attribute value: expected an object"));
    };
    for (k, x) in o {
        if x.is_null() {
            continue;
        }
        let val = match k.as_str() {
            "stringValue" | "string_value" => Value::Str(
                x.as_str()
                    .ok_or_else(|| bad("stringValue: expected a string"))?
                    .into(),
            ),
            "boolValue" | "bool_value" => {
                Value::Bool(x.as_bool().ok_or_else(|| bad("boolValue: expected a boolean"))?)
            }
            "intValue" | "int_value" => Value::Int(match x {
                J::String(s) => s
                    .parse()
                    .map_err(|_| bad(format!("intValue: invalid integer {s:?}")))?,
                J::Number(n) => n
                    .as_i64()
                    .ok_or_else(|| bad(format!("intValue: invalid integer {n}")))?,
                _ => return Err(bad("intValue: expected an integer")),
            }),
            "doubleValue" | "double_value" => Value::Double(match x {
                J::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                J::String(s) => match s.as_str() {
                    "NaN" => f64::NAN,
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    _ => s
                        .parse()
                        .map_err(|_| bad(format!("doubleValue: invalid number {s:?}")))?,
                },
                _ => return Err(bad("doubleValue: expected a number")),
            }),
            "bytesValue" | "bytes_value" => Value::Bytes(
                x.as_str()
                    .and_then(model::unbase64)
                    .ok_or_else(|| bad("bytesValue: expected base64"))?,
            ),
            "arrayValue" | "array_value" => {
                let mut a = Vec::new();
                for e in list(x, "values", "values")? {
                    if let Some(e) = json_any(e)? {
                        a.push(e);
                    }
                }
                Value::Array(a)
            }
            "kvlistValue" | "kvlist_value" => {
                let mut m = Vec::new();
                for kv in list(x, "values", "values")? {
                    let key = str_field(kv, "key", "key")?;
                    if let Some(val) = field(kv, "value", "value") {
                        if let Some(e) = json_any(val)? {
                            m.push((key, e));
                        }
                    }
                }
                Value::Map(m)
            }
            _ => continue,
        };
        return Ok(Some(val));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SpanKind, StatusCode};

    /// The shape the OpenTelemetry Python SDK's OTLP/HTTP JSON exporters and
    /// the collector's `otlphttp` JSON encoding produce.
    const JSON: &str = r#"{"resourceSpans":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"frontend"}},
        {"key":"telemetry.sdk.language","value":{"stringValue":"python"}}]},
      "scopeSpans":[{"scope":{"name":"opentelemetry.instrumentation.flask","version":"0.48b0"},
        "spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
          "parentSpanId":"EEE19B7EC3C1B173","name":"GET /dispatch","kind":2,
          "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
          "attributes":[{"key":"http.status_code","value":{"intValue":"500"}},
                        {"key":"ratio","value":{"doubleValue":0.5}},
                        {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"}]}}}],
          "events":[{"timeUnixNano":"1544712660500000000","name":"exception",
                     "attributes":[{"key":"exception.message","value":{"stringValue":"boom"}}]}],
          "links":[{"traceId":"00000000000000000000000000000001","spanId":"0000000000000002"}],
          "status":{"code":"STATUS_CODE_ERROR","message":"boom"}},
          {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b173","name":"root","kind":"SPAN_KIND_CLIENT",
           "startTimeUnixNano":"1544712659000000000","endTimeUnixNano":"1544712662000000000"}]}]}]}"#;

    #[test]
    fn json_decode() {
        let spans = decode_json(JSON.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(spans.len(), 2);
        let s = &spans[0];
        assert_eq!(hex(&s.trace_id), "5b8efff798038103d269b633813fc60c");
        assert_eq!(
            s.parent_span_id,
            Some([0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73])
        );
        assert_eq!(s.service_name(), "frontend");
        assert_eq!(s.kind, SpanKind::Server);
        assert_eq!(s.status.code, StatusCode::Error);
        assert_eq!(s.duration_ns(), 1_000_000_000);
        assert_eq!(s.attr("http.status_code"), Some(&Value::Int(500)));
        assert_eq!(s.attr("ratio"), Some(&Value::Double(0.5)));
        assert_eq!(s.events[0].name, "exception");
        assert_eq!(s.links.len(), 1);
        assert_eq!(s.scope.name, "opentelemetry.instrumentation.flask");
        assert_eq!(spans[1].kind, SpanKind::Client);
        assert_eq!(spans[1].parent_span_id, None);
    }

    #[test]
    fn protobuf_round_trip_and_json_out() {
        let spans = decode_json(JSON.as_bytes(), &Limits::default()).unwrap();
        let req = ExportTraceServiceRequest {
            resource_spans: to_resource_spans(&spans),
        };
        let body = req.encode_to_vec();
        let back = decode_protobuf(&body, &Limits::default()).unwrap();
        assert_eq!(back, spans);
        // JSON out decodes to the same spans
        let out = serde_json::json!({ "resourceSpans": to_json_resource_spans(&spans) });
        let again = decode_json(out.to_string().as_bytes(), &Limits::default()).unwrap();
        assert_eq!(again, spans);
        assert_eq!(out["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["kind"], 2);
    }

    #[test]
    fn bad_input_reasons() {
        let l = Limits::default();
        let e = decode_protobuf(b"\x0a\x05garbage", &l).unwrap_err();
        assert!(e.to_string().contains("malformed OTLP protobuf"), "{e}");
        let bad_id = JSON.replace("EEE19B7EC3C1B174", "EEE19B7E");
        let e = decode_json(bad_id.as_bytes(), &l).unwrap_err();
        assert!(
            e.to_string()
                .contains("resourceSpans[0].scopeSpans[0].spans[0]: invalid span id"),
            "{e}"
        );
        let zero = JSON.replace(
            "5B8EFFF798038103D269B633813FC60C",
            "00000000000000000000000000000000",
        );
        let e = decode_json(zero.as_bytes(), &l).unwrap_err();
        assert!(e.to_string().contains("trace id: all zero"), "{e}");
        let e = decode_json(b"{\"resourceSpans\":{}}", &l).unwrap_err();
        assert!(e.to_string().contains("expected an array"), "{e}");
        assert!(decode_json(b"[", &l).is_err());
        // protobuf span with a 3-byte span id
        let req = ExportTraceServiceRequest {
            resource_spans: vec![pb::ResourceSpans {
                scope_spans: vec![pb::ScopeSpans {
                    spans: vec![pb::Span {
                        trace_id: vec![1; 16],
                        span_id: vec![1; 3],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let e = decode_protobuf(&req.encode_to_vec(), &l).unwrap_err();
        assert!(e.to_string().contains("invalid span id: 3 bytes"), "{e}");
        let big = Limits {
            max_attr_value_len: 3,
            ..Limits::default()
        };
        let e = decode_json(JSON.as_bytes(), &big).unwrap_err();
        assert!(matches!(e, TraceError::Limit(_)), "{e}");
    }
}
