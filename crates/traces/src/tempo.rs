//! Tempo's HTTP API response shapes.
//!
//! - `GET /api/traces/<id>`: OTLP/JSON `{"batches":[ResourceSpans...]}`
//!   ([`trace_v1_json`]) or, with `Accept: application/protobuf`, the
//!   protobuf `Trace` message, whose field 1 is the repeated
//!   `ResourceSpans` ([`trace_protobuf`]);
//! - `GET /api/v2/traces/<id>`: `{"trace":{"resourceSpans":[...]}}`;
//! - `GET /api/search`: `{"traces":[..],"metrics":{..}}` ([`search_json`]);
//! - `GET /api/search/tags` / `tag/<t>/values` (v1 and v2 shapes).

use crate::model::{hex, Span};
use crate::otlp;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost::Message;
use serde_json::{json, Value as J};

/// `/api/traces/<id>` JSON.
pub fn trace_v1_json(spans: &[Span]) -> J {
    json!({ "batches": otlp::to_json_resource_spans(spans) })
}

/// `/api/v2/traces/<id>` JSON.
pub fn trace_v2_json(spans: &[Span]) -> J {
    json!({ "trace": { "resourceSpans": otlp::to_json_resource_spans(spans) } })
}

/// `/api/traces/<id>` protobuf (`tempopb.Trace`: `repeated ResourceSpans
/// batches = 1`, byte-identical to OTLP `TracesData`).
pub fn trace_protobuf(spans: &[Span]) -> Vec<u8> {
    TracesData {
        resource_spans: otlp::to_resource_spans(spans),
    }
    .encode_to_vec()
}

/// One search result: root span service/name (the span without a parent,
/// else the earliest), trace start and duration over all spans, and the
/// matched spans as a span set.
pub fn search_trace_json(trace: &[Span], matched: &[Span]) -> J {
    let root = trace
        .iter()
        .find(|s| s.parent_span_id.is_none())
        .or_else(|| trace.iter().min_by_key(|s| s.start_ns));
    let start = trace.iter().map(|s| s.start_ns).min().unwrap_or(0);
    let end = trace.iter().map(|s| s.end_ns).max().unwrap_or(0);
    let spans: Vec<J> = matched
        .iter()
        .map(|s| {
            json!({
                "spanID": hex(&s.span_id),
                "name": s.name,
                "startTimeUnixNano": s.start_ns.to_string(),
                "durationNanos": s.duration_ns().to_string(),
                "attributes": otlp::kvs_json(&s.attributes),
            })
        })
        .collect();
    let set = json!({ "spans": spans, "matched": matched.len() });
    let mut o = json!({
        "traceID": trace.first().or(matched.first()).map(|s| hex(&s.trace_id)).unwrap_or_default(),
        "startTimeUnixNano": start.to_string(),
        "durationMs": (end - start) / 1_000_000,
        "spanSet": set.clone(),
        "spanSets": [set],
    });
    if let Some(r) = root {
        o["rootServiceName"] = J::String(r.service_name());
        o["rootTraceName"] = J::String(r.name.clone());
    }
    o
}

/// `/api/search` response for `(full trace, matched spans)` pairs.
pub fn search_json(results: &[(Vec<Span>, Vec<Span>)], inspected_traces: u64) -> J {
    let traces: Vec<J> = results.iter().map(|(t, m)| search_trace_json(t, m)).collect();
    json!({
        "traces": traces,
        "metrics": { "inspectedTraces": inspected_traces, "completedJobs": 1, "totalJobs": 1 },
    })
}

/// `/api/search/tags`: `{"tagNames":[..]}`.
pub fn tags_v1_json(names: &[String]) -> J {
    json!({ "tagNames": names })
}

/// `/api/v2/search/tags`: scoped tag names plus the intrinsics.
pub fn tags_v2_json(span: &[String], resource: &[String]) -> J {
    json!({ "scopes": [
        { "name": "span", "tags": span },
        { "name": "resource", "tags": resource },
        { "name": "intrinsic", "tags": ["duration", "kind", "name", "rootName", "rootServiceName", "status", "statusMessage", "traceDuration"] },
    ]})
}

/// `/api/search/tag/<t>/values`: `{"tagValues":[..]}`.
pub fn tag_values_v1_json(values: &[String]) -> J {
    json!({ "tagValues": values })
}

/// `/api/v2/search/tag/<t>/values`: typed values.
pub fn tag_values_v2_json(values: &[(String, &'static str)]) -> J {
    let v: Vec<J> = values
        .iter()
        .map(|(v, t)| json!({"type": t, "value": v}))
        .collect();
    json!({ "tagValues": v })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SpanKind, Value};

    fn spans() -> Vec<Span> {
        let res = vec![("service.name".to_string(), Value::Str("api".into()))];
        vec![
            Span {
                trace_id: [1; 16],
                span_id: [1; 8],
                name: "GET /".into(),
                kind: SpanKind::Server,
                start_ns: 1_000_000_000,
                end_ns: 1_050_000_000,
                resource: res.clone(),
                ..Default::default()
            },
            Span {
                trace_id: [1; 16],
                span_id: [2; 8],
                parent_span_id: Some([1; 8]),
                name: "db".into(),
                start_ns: 1_010_000_000,
                end_ns: 1_020_000_000,
                resource: res,
                attributes: vec![("db.system".into(), Value::Str("pg".into()))],
                ..Default::default()
            },
        ]
    }

    #[test]
    fn trace_by_id_shapes() {
        let s = spans();
        let v1 = trace_v1_json(&s);
        assert_eq!(
            v1["batches"][0]["scopeSpans"][0]["spans"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            v1["batches"][0]["resource"]["attributes"][0],
            json!({"key":"service.name","value":{"stringValue":"api"}})
        );
        let v2 = trace_v2_json(&s);
        assert_eq!(v2["trace"]["resourceSpans"], v1["batches"]);
        let pb = trace_protobuf(&s);
        let back = crate::otlp::decode_protobuf(
            &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(&pb[..])
                .unwrap()
                .encode_to_vec(),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn search_shape() {
        let s = spans();
        let j = search_json(&[(s.clone(), vec![s[1].clone()])], 1);
        let t = &j["traces"][0];
        assert_eq!(t["traceID"], "01010101010101010101010101010101");
        assert_eq!(t["rootServiceName"], "api");
        assert_eq!(t["rootTraceName"], "GET /");
        assert_eq!(t["startTimeUnixNano"], "1000000000");
        assert_eq!(t["durationMs"], 50);
        assert_eq!(t["spanSets"][0]["matched"], 1);
        assert_eq!(t["spanSets"][0]["spans"][0]["durationNanos"], "10000000");
        assert_eq!(j["metrics"]["inspectedTraces"], 1);
        assert_eq!(tags_v1_json(&["a".into()]), json!({"tagNames":["a"]}));
        assert_eq!(
            tag_values_v2_json(&[("x".into(), "string")]),
            json!({"tagValues":[{"type":"string","value":"x"}]})
        );
        assert_eq!(tags_v2_json(&[], &[])["scopes"][2]["name"], "intrinsic");
    }
}
