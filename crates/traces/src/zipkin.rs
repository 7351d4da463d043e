//! Zipkin v2 in: `POST /api/v2/spans` as JSON (`application/json`) or
//! protobuf `ListOfSpans` (`application/x-protobuf`).
//!
//! Mapping (documented in `docs/traces.md`):
//! - `traceId` (16 or 32 hex digits; 64-bit ids are left-padded), `id`,
//!   `parentId`; `timestamp`/`duration` µs -> ns; a missing `timestamp`
//!   is refused (the span cannot be placed in time);
//! - `kind` CLIENT/SERVER/PRODUCER/CONSUMER; absent -> unspecified;
//! - `localEndpoint.serviceName` -> resource `service.name`; its address
//!   and port -> `network.local.address`/`network.local.port`;
//!   `remoteEndpoint` -> `peer.service`, `network.peer.address`,
//!   `network.peer.port` span attributes;
//! - `tags` -> string attributes, except `error` (status error, message =
//!   the tag value), `otel.status_code`/`otel.status_description`,
//!   `otel.scope.name`/`otel.library.name` (+ versions);
//! - `annotations` -> events named by `value`;
//! - shared spans: a `shared: true` SERVER span carries its client's id; it
//!   gets a derived id ([`derive_shared_id`]) and the client as parent, so
//!   both halves survive in one trace (Jaeger does the same).

use crate::model::{self, parse_hex_id, Attr, Event, Limits, Span, SpanKind, StatusCode, Value};
use crate::TraceError;
use prost::Message;
use serde_json::Value as J;

fn bad(m: impl Into<String>) -> TraceError {
    TraceError::BadInput(m.into())
}

#[derive(Default)]
struct Endpoint {
    service: String,
    addr: String,
    port: i64,
}

#[derive(Default)]
struct ZSpan {
    trace_id: [u8; 16],
    id: [u8; 8],
    parent: Option<[u8; 8]>,
    kind: SpanKind,
    name: String,
    timestamp_us: Option<i64>,
    duration_us: i64,
    local: Endpoint,
    remote: Option<Endpoint>,
    annotations: Vec<(i64, String)>,
    tags: Vec<(String, String)>,
    shared: bool,
}

/// The id a shared SERVER span gets: the client's id mixed (splitmix64)
/// so it is stable for retries and distinct from the client's.
pub fn derive_shared_id(id: [u8; 8]) -> [u8; 8] {
    let mut z = u64::from_be_bytes(id).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    if z == 0 {
        z = 1;
    }
    z.to_be_bytes()
}

fn to_span(z: ZSpan, limits: &Limits) -> Result<Span, TraceError> {
    let ts = z.timestamp_us.ok_or_else(|| bad("span without a timestamp"))?;
    let start_ns = ts.saturating_mul(1000);
    let mut s = Span {
        trace_id: z.trace_id,
        span_id: z.id,
        parent_span_id: z.parent,
        name: z.name,
        kind: z.kind,
        start_ns,
        end_ns: start_ns.saturating_add(z.duration_us.max(0).saturating_mul(1000)),
        ..Default::default()
    };
    if z.shared && z.kind == SpanKind::Server {
        s.parent_span_id = Some(z.id);
        s.span_id = derive_shared_id(z.id);
    }
    let svc = if z.local.service.is_empty() {
        model::UNKNOWN_SERVICE.to_string()
    } else {
        z.local.service.clone()
    };
    s.resource.push(("service.name".into(), Value::Str(svc)));
    if !z.local.addr.is_empty() {
        s.attributes
            .push(("network.local.address".into(), Value::Str(z.local.addr)));
    }
    if z.local.port != 0 {
        s.attributes
            .push(("network.local.port".into(), Value::Int(z.local.port)));
    }
    if let Some(r) = z.remote {
        if !r.service.is_empty() {
            s.attributes.push(("peer.service".into(), Value::Str(r.service)));
        }
        if !r.addr.is_empty() {
            s.attributes
                .push(("network.peer.address".into(), Value::Str(r.addr)));
        }
        if r.port != 0 {
            s.attributes
                .push(("network.peer.port".into(), Value::Int(r.port)));
        }
    }
    let mut otel_status = false;
    for (k, v) in z.tags {
        match k.as_str() {
            "error" => {
                if !otel_status {
                    s.status.code = StatusCode::Error;
                    if s.status.message.is_empty() && v != "true" {
                        s.status.message = v;
                    }
                }
            }
            "otel.status_code" => {
                otel_status = true;
                s.status.code = StatusCode::parse(&v).unwrap_or_default();
            }
            "otel.status_description" => s.status.message = v,
            "otel.scope.name" | "otel.library.name" => s.scope.name = v,
            "otel.scope.version" | "otel.library.version" => s.scope.version = v,
            _ => s.attributes.push((k, Value::Str(v))),
        }
    }
    s.events = z
        .annotations
        .into_iter()
        .map(|(t, v)| Event {
            time_ns: t.saturating_mul(1000),
            name: v,
            attributes: Vec::<Attr>::new(),
        })
        .collect();
    s.validate(limits)?;
    Ok(s)
}

// -------------------------------------------------------------------- JSON

/// Decodes a Zipkin v2 JSON array of spans.
pub fn decode_json(body: &[u8], limits: &Limits) -> Result<Vec<Span>, TraceError> {
    let v: J = serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let arr = v
        .as_array()
        .ok_or_else(|| bad("expected a JSON array of spans"))?;
    let mut out = Vec::with_capacity(arr.len());
    for (i, s) in arr.iter().enumerate() {
        let z = json_span(s).map_err(|e| e.context(&format!("span[{i}]")))?;
        out.push(to_span(z, limits).map_err(|e| e.context(&format!("span[{i}]")))?);
    }
    Ok(out)
}

fn get_str<'a>(o: &'a serde_json::Map<String, J>, k: &str) -> Result<Option<&'a str>, TraceError> {
    match o.get(k) {
        None | Some(J::Null) => Ok(None),
        Some(J::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("{k}: expected a string"))),
    }
}

fn get_i64(o: &serde_json::Map<String, J>, k: &str) -> Result<Option<i64>, TraceError> {
    match o.get(k) {
        None | Some(J::Null) => Ok(None),
        Some(J::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| bad(format!("{k}: invalid integer {n}"))),
        Some(_) => Err(bad(format!("{k}: expected a number"))),
    }
}

fn json_endpoint(v: Option<&J>) -> Result<Option<Endpoint>, TraceError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let o = v.as_object().ok_or_else(|| bad("endpoint: expected an object"))?;
    Ok(Some(Endpoint {
        service: get_str(o, "serviceName")?.unwrap_or("").to_string(),
        addr: get_str(o, "ipv4")?
            .or(get_str(o, "ipv6")?)
            .unwrap_or("")
            .to_string(),
        port: get_i64(o, "port")?.unwrap_or(0),
    }))
}

fn json_span(v: &J) -> Result<ZSpan, TraceError> {
    let o = v.as_object().ok_or_else(|| bad("expected a span object"))?;
    let tid = get_str(o, "traceId")?.ok_or_else(|| bad("missing traceId"))?;
    if tid.len() != 16 && tid.len() != 32 {
        return Err(bad(format!(
            "invalid trace id {tid:?}: expected 16 or 32 hex digits"
        )));
    }
    let id = get_str(o, "id")?.ok_or_else(|| bad("missing id"))?;
    let kind = match get_str(o, "kind")? {
        None => SpanKind::Unspecified,
        Some(k) => match k {
            "CLIENT" | "SERVER" | "PRODUCER" | "CONSUMER" => SpanKind::parse(k).unwrap_or_default(),
            _ => return Err(bad(format!("unknown span kind {k:?}"))),
        },
    };
    let mut tags = Vec::new();
    match o.get("tags") {
        None | Some(J::Null) => {}
        Some(J::Object(m)) => {
            for (k, v) in m {
                let v = match v {
                    J::String(s) => s.clone(),
                    // lenient: some clients send numbers/booleans
                    J::Number(_) | J::Bool(_) => v.to_string(),
                    _ => return Err(bad(format!("tag {k:?}: expected a string"))),
                };
                tags.push((k.clone(), v));
            }
        }
        Some(_) => return Err(bad("tags: expected an object")),
    }
    let mut annotations = Vec::new();
    match o.get("annotations") {
        None | Some(J::Null) => {}
        Some(J::Array(a)) => {
            for x in a {
                let xo = x
                    .as_object()
                    .ok_or_else(|| bad("annotation: expected an object"))?;
                annotations.push((
                    get_i64(xo, "timestamp")?.ok_or_else(|| bad("annotation without a timestamp"))?,
                    get_str(xo, "value")?.unwrap_or("").to_string(),
                ));
            }
        }
        Some(_) => return Err(bad("annotations: expected an array")),
    }
    Ok(ZSpan {
        trace_id: parse_hex_id(tid, "trace id")?,
        id: exact_hex(id, "span id")?,
        parent: get_str(o, "parentId")?
            .map(|p| exact_hex(p, "parent id"))
            .transpose()?,
        kind,
        name: get_str(o, "name")?.unwrap_or("").to_string(),
        timestamp_us: get_i64(o, "timestamp")?,
        duration_us: get_i64(o, "duration")?.unwrap_or(0),
        local: json_endpoint(o.get("localEndpoint"))?.unwrap_or_default(),
        remote: json_endpoint(o.get("remoteEndpoint"))?,
        annotations,
        tags,
        shared: matches!(o.get("shared"), Some(J::Bool(true))),
    })
}

fn exact_hex(s: &str, what: &str) -> Result<[u8; 8], TraceError> {
    if s.len() != 16 {
        return Err(bad(format!("invalid {what} {s:?}: expected 16 hex digits")));
    }
    parse_hex_id(s, what)
}

// ---------------------------------------------------------------- protobuf

/// zipkin.proto3 `ListOfSpans`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListOfSpans {
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<PbSpan>,
}

/// zipkin.proto3 `Span`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PbSpan {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub parent_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub id: Vec<u8>,
    /// 0 unspecified, 1 CLIENT, 2 SERVER, 3 PRODUCER, 4 CONSUMER.
    #[prost(int32, tag = "4")]
    pub kind: i32,
    #[prost(string, tag = "5")]
    pub name: String,
    #[prost(fixed64, tag = "6")]
    pub timestamp: u64,
    #[prost(uint64, tag = "7")]
    pub duration: u64,
    #[prost(message, optional, tag = "8")]
    pub local_endpoint: Option<PbEndpoint>,
    #[prost(message, optional, tag = "9")]
    pub remote_endpoint: Option<PbEndpoint>,
    #[prost(message, repeated, tag = "10")]
    pub annotations: Vec<PbAnnotation>,
    #[prost(map = "string, string", tag = "11")]
    pub tags: std::collections::HashMap<String, String>,
    #[prost(bool, tag = "12")]
    pub debug: bool,
    #[prost(bool, tag = "13")]
    pub shared: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PbEndpoint {
    #[prost(string, tag = "1")]
    pub service_name: String,
    #[prost(bytes = "vec", tag = "2")]
    pub ipv4: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub ipv6: Vec<u8>,
    #[prost(int32, tag = "4")]
    pub port: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PbAnnotation {
    #[prost(fixed64, tag = "1")]
    pub timestamp: u64,
    #[prost(string, tag = "2")]
    pub value: String,
}

fn pb_endpoint(e: &PbEndpoint) -> Endpoint {
    let addr = if e.ipv4.len() == 4 {
        std::net::Ipv4Addr::new(e.ipv4[0], e.ipv4[1], e.ipv4[2], e.ipv4[3]).to_string()
    } else if let Ok(b) = <[u8; 16]>::try_from(e.ipv6.as_slice()) {
        std::net::Ipv6Addr::from(b).to_string()
    } else {
        String::new()
    };
    Endpoint {
        service: e.service_name.clone(),
        addr,
        port: e.port.into(),
    }
}

/// Decodes a protobuf `ListOfSpans`.
pub fn decode_protobuf(body: &[u8], limits: &Limits) -> Result<Vec<Span>, TraceError> {
    let l = ListOfSpans::decode(body).map_err(|e| bad(format!("malformed Zipkin protobuf: {e}")))?;
    let mut out = Vec::with_capacity(l.spans.len());
    for (i, p) in l.spans.iter().enumerate() {
        let ctx = |e: TraceError| e.context(&format!("span[{i}]"));
        let trace_id = match p.trace_id.len() {
            8 => {
                let mut t = [0u8; 16];
                t[8..].copy_from_slice(&p.trace_id);
                t
            }
            _ => model::id_from_bytes::<16>(&p.trace_id, "trace id").map_err(ctx)?,
        };
        let mut tags: Vec<(String, String)> = p.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        tags.sort();
        let z = ZSpan {
            trace_id,
            id: model::id_from_bytes(&p.id, "span id").map_err(ctx)?,
            parent: if p.parent_id.is_empty() {
                None
            } else {
                Some(model::id_from_bytes(&p.parent_id, "parent id").map_err(ctx)?)
            },
            kind: match p.kind {
                1 => SpanKind::Client,
                2 => SpanKind::Server,
                3 => SpanKind::Producer,
                4 => SpanKind::Consumer,
                _ => SpanKind::Unspecified,
            },
            name: p.name.clone(),
            timestamp_us: (p.timestamp != 0).then(|| i64::try_from(p.timestamp).unwrap_or(i64::MAX)),
            duration_us: i64::try_from(p.duration).unwrap_or(i64::MAX),
            local: p.local_endpoint.as_ref().map(pb_endpoint).unwrap_or_default(),
            remote: p.remote_endpoint.as_ref().map(pb_endpoint),
            annotations: p
                .annotations
                .iter()
                .map(|a| (i64::try_from(a.timestamp).unwrap_or(i64::MAX), a.value.clone()))
                .collect(),
            tags,
            shared: p.shared,
        };
        out.push(to_span(z, limits).map_err(ctx)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hex;

    /// What py_zipkin / Brave send: a client span and the server's shared
    /// half with the same id, annotations and tags.
    const JSON: &str = r#"[
      {"traceId":"5af7183fb1d4cf5f","parentId":"6b221d5bc9e6496c","id":"352bff9a74ca9ad2",
       "kind":"CLIENT","name":"get /api","timestamp":1556604172355737,"duration":1431,
       "localEndpoint":{"serviceName":"backend","ipv4":"192.168.99.1","port":3306},
       "remoteEndpoint":{"serviceName":"frontend","ipv4":"172.19.0.2","port":58648},
       "annotations":[{"timestamp":1556604172355800,"value":"ws"}],
       "tags":{"http.method":"GET","http.path":"/api","error":"timeout"}},
      {"traceId":"5af7183fb1d4cf5f","parentId":"6b221d5bc9e6496c","id":"352bff9a74ca9ad2",
       "kind":"SERVER","name":"get /api","timestamp":1556604172355800,"duration":1000,
       "localEndpoint":{"serviceName":"api"},"shared":true,"debug":false}
    ]"#;

    #[test]
    fn json_spans() {
        let spans = decode_json(JSON.as_bytes(), &Limits::default()).unwrap();
        let c = &spans[0];
        assert_eq!(hex(&c.trace_id), "00000000000000005af7183fb1d4cf5f");
        assert_eq!(hex(&c.span_id), "352bff9a74ca9ad2");
        assert_eq!(
            c.parent_span_id.map(|p| hex(&p)).as_deref(),
            Some("6b221d5bc9e6496c")
        );
        assert_eq!(c.kind, SpanKind::Client);
        assert_eq!(c.start_ns, 1_556_604_172_355_737_000);
        assert_eq!(c.duration_ns(), 1_431_000);
        assert_eq!(c.service_name(), "backend");
        assert_eq!(c.attr("peer.service"), Some(&Value::Str("frontend".into())));
        assert_eq!(c.attr("network.peer.port"), Some(&Value::Int(58648)));
        assert_eq!(c.attr("http.method"), Some(&Value::Str("GET".into())));
        assert_eq!(c.status.code, StatusCode::Error);
        assert_eq!(c.status.message, "timeout");
        assert!(c.attr("error").is_none());
        assert_eq!(c.events[0].name, "ws");
        let s = &spans[1];
        assert_eq!(
            s.parent_span_id,
            Some(c.span_id),
            "shared server half is the client's child"
        );
        assert_ne!(s.span_id, c.span_id);
        assert_eq!(s.span_id, derive_shared_id(c.span_id));
        assert_eq!(s.service_name(), "api");
    }

    #[test]
    fn json_errors() {
        let l = Limits::default();
        for (body, want) in [
            (r#"{}"#, "expected a JSON array"),
            (
                r#"[{"traceId":"abc","id":"352bff9a74ca9ad2","timestamp":1}]"#,
                "span[0]: invalid trace id",
            ),
            (
                r#"[{"traceId":"5af7183fb1d4cf5f","id":"35","timestamp":1}]"#,
                "invalid span id",
            ),
            (
                r#"[{"traceId":"5af7183fb1d4cf5f","id":"352bff9a74ca9ad2"}]"#,
                "without a timestamp",
            ),
            (
                r#"[{"traceId":"5af7183fb1d4cf5f","id":"352bff9a74ca9ad2","timestamp":1,"kind":"X"}]"#,
                "unknown span kind",
            ),
            (
                r#"[{"traceId":"00000000000000000000000000000000","id":"352bff9a74ca9ad2","timestamp":1}]"#,
                "all zero",
            ),
            (
                r#"[{"traceId":"5af7183fb1d4cf5f","id":"352bff9a74ca9ad2","timestamp":1,"tags":[]}]"#,
                "tags",
            ),
        ] {
            let e = decode_json(body.as_bytes(), &l).unwrap_err();
            assert!(e.to_string().contains(want), "{body}: {e}");
        }
    }

    #[test]
    fn protobuf_spans() {
        let l = ListOfSpans {
            spans: vec![PbSpan {
                trace_id: vec![0x5a; 16],
                parent_id: vec![],
                id: vec![1, 2, 3, 4, 5, 6, 7, 8],
                kind: 2,
                name: "post /x".into(),
                timestamp: 1_000_000,
                duration: 20,
                local_endpoint: Some(PbEndpoint {
                    service_name: "svc".into(),
                    ipv4: vec![10, 0, 0, 1],
                    ..Default::default()
                }),
                remote_endpoint: Some(PbEndpoint {
                    ipv6: vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                    port: 80,
                    ..Default::default()
                }),
                annotations: vec![PbAnnotation {
                    timestamp: 1_000_005,
                    value: "sr".into(),
                }],
                tags: [("k".to_string(), "v".to_string())].into_iter().collect(),
                ..Default::default()
            }],
        };
        let spans = decode_protobuf(&l.encode_to_vec(), &Limits::default()).unwrap();
        let s = &spans[0];
        assert_eq!(s.kind, SpanKind::Server);
        assert_eq!(s.service_name(), "svc");
        assert_eq!((s.start_ns, s.end_ns), (1_000_000_000, 1_000_020_000));
        assert_eq!(
            s.attr("network.local.address"),
            Some(&Value::Str("10.0.0.1".into()))
        );
        assert_eq!(s.attr("network.peer.address"), Some(&Value::Str("::1".into())));
        assert_eq!(s.attr("k"), Some(&Value::Str("v".into())));
        assert_eq!(s.events[0].time_ns, 1_000_005_000);
        let mut bad = l.clone();
        bad.spans[0].id = vec![1, 2];
        let e = decode_protobuf(&bad.encode_to_vec(), &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("span[0]: invalid span id: 2 bytes"), "{e}");
        assert!(decode_protobuf(b"\xff\xff", &Limits::default()).is_err());
    }
}
