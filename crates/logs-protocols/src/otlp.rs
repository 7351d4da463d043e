//! OTLP logs (`ExportLogsServiceRequest`): protobuf (`application/x-protobuf`,
//! and the gRPC `LogsService` payload) and OTLP/JSON.
//!
//! Mapping to [`LogRecord`] (as Loki's native OTLP ingestion does):
//! - stream labels: the resource attributes listed in
//!   [`OtlpLogsOptions::resource_labels`] (Loki's defaults: `service.name`,
//!   `service.namespace`, `service.instance.id`, `deployment.environment`,
//!   `k8s.*` names, `cloud.region`...), names sanitized (`service.name` ->
//!   `service_name`); a resource without `service.name` gets
//!   `service_name="unknown_service"`;
//! - `message`: the body; a string as is, any other value as compact JSON
//!   (kvlist as an object, bytes as base64);
//! - `fields`, in this order: the other resource attributes, `scope_name`,
//!   `scope_version`, scope attributes, the log attributes (nested kvlists
//!   flattened with dots, arrays as JSON), `severity_text`, `event_name`;
//! - `ts_ns`: `timeUnixNano`, else `observedTimeUnixNano`, else `now_ns`;
//! - `trace_id`/`span_id`: when 16/8 bytes and not all zero;
//! - `severity`: `severityNumber` when in 1..=24.
//!
//! OTLP/JSON follows the protobuf JSON mapping with OTLP's rules: camelCase
//! (snake_case accepted) field names, 64-bit integers as strings or numbers,
//! enums as integers or names, ids as hex, `bytesValue` as base64; unknown
//! fields are ignored.

use crate::{Batch, DecodeError, IngestLimits, LogRecord};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord as OtlpLog, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Map, Value};
use sightline_model::LabelsBuilder;

/// OTLP logs mapping options.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpLogsOptions {
    /// Resource attributes promoted to stream labels.
    pub resource_labels: Vec<String>,
    /// `service_name` label of resources without `service.name` (empty: none).
    pub default_service_name: String,
}

impl Default for OtlpLogsOptions {
    fn default() -> Self {
        Self {
            resource_labels: [
                "service.name",
                "service.namespace",
                "service.instance.id",
                "deployment.environment",
                "deployment.environment.name",
                "cloud.region",
                "cloud.availability_zone",
                "k8s.cluster.name",
                "k8s.namespace.name",
                "k8s.pod.name",
                "k8s.container.name",
                "container.name",
                "k8s.replicaset.name",
                "k8s.deployment.name",
                "k8s.statefulset.name",
                "k8s.daemonset.name",
                "k8s.cronjob.name",
                "k8s.job.name",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            default_service_name: "unknown_service".into(),
        }
    }
}

/// Decodes a protobuf `ExportLogsServiceRequest` and maps it.
pub fn decode_protobuf(
    body: &[u8],
    opts: &OtlpLogsOptions,
    limits: &IngestLimits,
    now_ns: i64,
) -> Result<Batch, DecodeError> {
    let req = ExportLogsServiceRequest::decode(body)
        .map_err(|e| DecodeError::bad(format!("invalid ExportLogsServiceRequest: {e}")))?;
    map_request(req, opts, limits, now_ns)
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest` and maps it.
pub fn decode_json(
    body: &[u8],
    opts: &OtlpLogsOptions,
    limits: &IngestLimits,
    now_ns: i64,
) -> Result<Batch, DecodeError> {
    let req = json::request(body).map_err(|e| DecodeError::bad(format!("invalid OTLP/JSON: {e}")))?;
    map_request(req, opts, limits, now_ns)
}

/// Maps an already decoded request (the gRPC service hands it over decoded).
/// Item indexes count log records across the request.
pub fn map_request(
    req: ExportLogsServiceRequest,
    opts: &OtlpLogsOptions,
    limits: &IngestLimits,
    now_ns: i64,
) -> Result<Batch, DecodeError> {
    let total: usize = req
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    if total > limits.max_items {
        return Err(DecodeError::limit(format!(
            "{total} log records, more than max_items ({})",
            limits.max_items
        )));
    }
    let mut out = Batch::default();
    let mut idx = 0;
    for rl in req.resource_logs {
        let mut labels = LabelsBuilder::default();
        let mut res_fields = Vec::new();
        let mut has_service = false;
        for kv in rl.resource.map(|r| r.attributes).unwrap_or_default() {
            if opts.resource_labels.contains(&kv.key) {
                let v = kv.value.as_ref().map(attr_text).unwrap_or_default();
                if kv.key == "service.name" && !v.is_empty() {
                    has_service = true;
                }
                labels.set(crate::sanitize_label_name(&kv.key), v);
            } else {
                flatten_kv(&kv.key, kv.value.as_ref(), &mut res_fields);
            }
        }
        if !has_service && !opts.default_service_name.is_empty() {
            labels.set("service_name", opts.default_service_name.clone());
        }
        let stream = labels.build();
        let stream_err = limits.check_stream(&stream).err();
        for sl in rl.scope_logs {
            let mut scope_fields = res_fields.clone();
            if let Some(sc) = &sl.scope {
                if !sc.name.is_empty() {
                    scope_fields.push(("scope_name".into(), sc.name.clone()));
                }
                if !sc.version.is_empty() {
                    scope_fields.push(("scope_version".into(), sc.version.clone()));
                }
                for kv in &sc.attributes {
                    flatten_kv(&kv.key, kv.value.as_ref(), &mut scope_fields);
                }
            }
            for lr in sl.log_records {
                if let Some(e) = &stream_err {
                    out.reject(idx, e.clone());
                    idx += 1;
                    continue;
                }
                match map_log(lr, &stream, &scope_fields, limits, now_ns) {
                    Ok(r) => out.records.push(r),
                    Err(e) => out.reject(idx, e),
                }
                idx += 1;
            }
        }
    }
    Ok(out)
}

fn map_log(
    lr: OtlpLog,
    stream: &sightline_model::Labels,
    scope_fields: &[(String, String)],
    limits: &IngestLimits,
    now_ns: i64,
) -> Result<LogRecord, DecodeError> {
    let t = if lr.time_unix_nano != 0 {
        lr.time_unix_nano
    } else {
        lr.observed_time_unix_nano
    };
    let ts_ns = if t == 0 {
        now_ns
    } else {
        i64::try_from(t).map_err(|_| DecodeError::bad(format!("timeUnixNano {t} is out of range")))?
    };
    let message = match lr.body.as_ref().and_then(|b| b.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(_) => lr
            .body
            .as_ref()
            .map(|b| any_json(b).to_string())
            .unwrap_or_default(),
    };
    let mut fields = scope_fields.to_vec();
    for kv in &lr.attributes {
        flatten_kv(&kv.key, kv.value.as_ref(), &mut fields);
    }
    if !lr.severity_text.is_empty() {
        fields.push(("severity_text".into(), lr.severity_text.clone()));
    }
    if !lr.event_name.is_empty() {
        fields.push(("event_name".into(), lr.event_name.clone()));
    }
    let mut rec = LogRecord {
        ts_ns,
        stream: stream.clone(),
        message,
        fields,
        trace_id: crate::trace_id_from(&lr.trace_id),
        span_id: crate::span_id_from(&lr.span_id),
        severity: u8::try_from(lr.severity_number)
            .ok()
            .filter(|s| (1..=24).contains(s)),
    };
    limits.check_line(&mut rec.message)?;
    limits.check_fields(&mut rec.fields)?;
    Ok(rec)
}

/// An attribute value as label/field text.
fn attr_text(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => base64_encode(b),
        Some(_) => any_json(v).to_string(),
        None => String::new(),
    }
}

fn flatten_kv(key: &str, v: Option<&AnyValue>, out: &mut Vec<(String, String)>) {
    let Some(v) = v else { return };
    match &v.value {
        None => {}
        Some(any_value::Value::KvlistValue(kvs)) => {
            for kv in &kvs.values {
                flatten_kv(&format!("{key}.{}", kv.key), kv.value.as_ref(), out);
            }
        }
        Some(_) => out.push((key.to_string(), attr_text(v))),
    }
}

/// An `AnyValue` as JSON (for non-string bodies and array attributes).
pub fn any_json(v: &AnyValue) -> Value {
    match &v.value {
        None => Value::Null,
        Some(any_value::Value::StringValue(s)) => Value::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(d.to_string())),
        Some(any_value::Value::BytesValue(b)) => Value::String(base64_encode(b)),
        Some(any_value::Value::ArrayValue(a)) => Value::Array(a.values.iter().map(any_json).collect()),
        // A reference into a profiles string table: meaningless outside one.
        Some(any_value::Value::StringValueStrindex(_)) => Value::Null,
        Some(any_value::Value::KvlistValue(kv)) => {
            let mut m = Map::new();
            for e in &kv.values {
                m.insert(
                    e.key.clone(),
                    e.value.as_ref().map(any_json).unwrap_or(Value::Null),
                );
            }
            Value::Object(m)
        }
    }
}

fn base64_encode(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Hand-written OTLP/JSON decoding of the logs request (the approach of
/// `sightline-otlp`'s metrics decoder: every rule checked here).
mod json {
    use super::*;

    pub(super) type R<T> = Result<T, String>;

    fn at<T>(r: R<T>, seg: &str) -> R<T> {
        r.map_err(|e| format!("{seg}: {e}"))
    }

    fn obj(v: &Value) -> R<&Map<String, Value>> {
        v.as_object()
            .ok_or_else(|| format!("expected an object, got {}", crate::doc::json_kind(v)))
    }

    fn field<'a>(o: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
        o.get(camel)
            .filter(|v| !v.is_null())
            .or_else(|| o.get(snake).filter(|v| !v.is_null()))
    }

    fn list<T>(o: &Map<String, Value>, camel: &str, snake: &str, f: fn(&Value) -> R<T>) -> R<Vec<T>> {
        let Some(v) = field(o, camel, snake) else {
            return Ok(Vec::new());
        };
        let a = v
            .as_array()
            .ok_or_else(|| format!("{camel}: expected an array"))?;
        a.iter()
            .enumerate()
            .map(|(i, e)| at(f(e), &format!("{camel}[{i}]")))
            .collect()
    }

    fn string(o: &Map<String, Value>, camel: &str, snake: &str) -> R<String> {
        match field(o, camel, snake) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("{camel}: expected a string")),
        }
    }

    fn u64v(v: &Value) -> R<u64> {
        match v {
            Value::Number(n) => n
                .as_u64()
                .ok_or_else(|| format!("{n} is not an unsigned 64-bit integer")),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not an unsigned 64-bit integer")),
            _ => Err("expected an unsigned integer".into()),
        }
    }

    fn u64f(o: &Map<String, Value>, camel: &str, snake: &str) -> R<u64> {
        field(o, camel, snake).map_or(Ok(0), |v| at(u64v(v), camel))
    }

    fn i64v(v: &Value) -> R<i64> {
        match v {
            Value::Number(n) => n.as_i64().ok_or_else(|| format!("{n} is not a 64-bit integer")),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a 64-bit integer")),
            _ => Err("expected an integer".into()),
        }
    }

    fn f64v(v: &Value) -> R<f64> {
        match v {
            Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
            Value::String(s) => match s.as_str() {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                t => t.trim().parse().map_err(|_| format!("{s:?} is not a number")),
            },
            _ => Err("expected a number".into()),
        }
    }

    fn hex(v: Option<&Value>, what: &str) -> R<Vec<u8>> {
        let Some(v) = v else { return Ok(Vec::new()) };
        let s = v
            .as_str()
            .ok_or_else(|| format!("{what}: expected a hex string"))?;
        if s.len() % 2 != 0 {
            return Err(format!("{what}: {s:?} is not hex"));
        }
        s.as_bytes()
            .chunks(2)
            .map(|p| {
                let h = (p[0] as char).to_digit(16);
                let l = (p[1] as char).to_digit(16);
                match (h, l) {
                    (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
                    _ => Err(format!("{what}: {s:?} is not hex")),
                }
            })
            .collect()
    }

    fn base64(s: &str) -> R<Vec<u8>> {
        let mut out = Vec::with_capacity(s.len() * 3 / 4);
        let (mut acc, mut bits) = (0u32, 0u32);
        for c in s.bytes() {
            let d = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' | b'-' => 62,
                b'/' | b'_' => 63,
                b'=' => break,
                _ => return Err(format!("{s:?} is not base64")),
            };
            acc = (acc << 6) | u32::from(d);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        Ok(out)
    }

    fn severity(v: &Value) -> R<i32> {
        if let Value::String(s) = v {
            if let Some(name) = s.strip_prefix("SEVERITY_NUMBER_") {
                const N: [&str; 24] = [
                    "TRACE", "TRACE2", "TRACE3", "TRACE4", "DEBUG", "DEBUG2", "DEBUG3", "DEBUG4", "INFO",
                    "INFO2", "INFO3", "INFO4", "WARN", "WARN2", "WARN3", "WARN4", "ERROR", "ERROR2",
                    "ERROR3", "ERROR4", "FATAL", "FATAL2", "FATAL3", "FATAL4",
                ];
                if name == "UNSPECIFIED" {
                    return Ok(0);
                }
                return N
                    .iter()
                    .position(|n| *n == name)
                    .map(|p| p as i32 + 1)
                    .ok_or_else(|| format!("unknown severity number {s:?}"));
            }
        }
        let i = i64v(v)?;
        i32::try_from(i).map_err(|_| format!("{i} does not fit a 32-bit integer"))
    }

    pub(super) fn request(body: &[u8]) -> R<ExportLogsServiceRequest> {
        let v: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
        let o = obj(&v)?;
        Ok(ExportLogsServiceRequest {
            resource_logs: list(o, "resourceLogs", "resource_logs", resource_logs)?,
        })
    }

    fn resource_logs(v: &Value) -> R<ResourceLogs> {
        let o = obj(v)?;
        let resource = match field(o, "resource", "resource") {
            None => None,
            Some(r) => Some(Resource {
                attributes: at(list(obj(r)?, "attributes", "attributes", key_value), "resource")?,
                ..Default::default()
            }),
        };
        Ok(ResourceLogs {
            resource,
            scope_logs: list(o, "scopeLogs", "scope_logs", scope_logs)?,
            schema_url: string(o, "schemaUrl", "schema_url")?,
        })
    }

    fn scope_logs(v: &Value) -> R<ScopeLogs> {
        let o = obj(v)?;
        let scope = match field(o, "scope", "scope") {
            None => None,
            Some(s) => {
                let so = obj(s)?;
                Some(InstrumentationScope {
                    name: string(so, "name", "name")?,
                    version: string(so, "version", "version")?,
                    attributes: at(list(so, "attributes", "attributes", key_value), "scope")?,
                    dropped_attributes_count: 0,
                })
            }
        };
        Ok(ScopeLogs {
            scope,
            log_records: list(o, "logRecords", "log_records", log_record)?,
            schema_url: string(o, "schemaUrl", "schema_url")?,
        })
    }

    fn log_record(v: &Value) -> R<OtlpLog> {
        let o = obj(v)?;
        Ok(OtlpLog {
            time_unix_nano: u64f(o, "timeUnixNano", "time_unix_nano")?,
            observed_time_unix_nano: u64f(o, "observedTimeUnixNano", "observed_time_unix_nano")?,
            severity_number: field(o, "severityNumber", "severity_number")
                .map_or(Ok(0), |v| at(severity(v), "severityNumber"))?,
            severity_text: string(o, "severityText", "severity_text")?,
            body: field(o, "body", "body")
                .map(any)
                .transpose()
                .map_err(|e| format!("body: {e}"))?,
            attributes: list(o, "attributes", "attributes", key_value)?,
            dropped_attributes_count: 0,
            flags: u64f(o, "flags", "flags").map(|f| f as u32)?,
            trace_id: hex(field(o, "traceId", "trace_id"), "traceId")?,
            span_id: hex(field(o, "spanId", "span_id"), "spanId")?,
            event_name: string(o, "eventName", "event_name")?,
        })
    }

    fn key_value(v: &Value) -> R<KeyValue> {
        let o = obj(v)?;
        let key = string(o, "key", "key")?;
        let value = field(o, "value", "value")
            .map(any)
            .transpose()
            .map_err(|e| format!("{key}: {e}"))?;
        Ok(KeyValue {
            key,
            value,
            ..Default::default()
        })
    }

    fn any(v: &Value) -> R<AnyValue> {
        use any_value::Value as V;
        let o = obj(v)?;
        let value = if let Some(s) = field(o, "stringValue", "string_value") {
            Some(V::StringValue(
                s.as_str().ok_or("stringValue: expected a string")?.to_string(),
            ))
        } else if let Some(b) = field(o, "boolValue", "bool_value") {
            Some(V::BoolValue(b.as_bool().ok_or("boolValue: expected a boolean")?))
        } else if let Some(i) = field(o, "intValue", "int_value") {
            Some(V::IntValue(at(i64v(i), "intValue")?))
        } else if let Some(d) = field(o, "doubleValue", "double_value") {
            Some(V::DoubleValue(at(f64v(d), "doubleValue")?))
        } else if let Some(a) = field(o, "arrayValue", "array_value") {
            Some(V::ArrayValue(ArrayValue {
                values: at(list(obj(a)?, "values", "values", any), "arrayValue")?,
            }))
        } else if let Some(kv) = field(o, "kvlistValue", "kvlist_value") {
            Some(V::KvlistValue(KeyValueList {
                values: at(list(obj(kv)?, "values", "values", key_value), "kvlistValue")?,
            }))
        } else if let Some(b) = field(o, "bytesValue", "bytes_value") {
            Some(V::BytesValue(base64(
                b.as_str().ok_or("bytesValue: expected a string")?,
            )?))
        } else {
            None
        };
        Ok(AnyValue { value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_model::Labels;

    // What the OpenTelemetry Collector's otlphttp exporter sends (JSON encoding).
    const COLLECTOR_JSON: &str = r#"{"resourceLogs":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"checkout"}},
        {"key":"k8s.namespace.name","value":{"stringValue":"shop"}},
        {"key":"host.name","value":{"stringValue":"node-7"}},
        {"key":"process.pid","value":{"intValue":"4242"}}]},
      "scopeLogs":[{"scope":{"name":"io.opentelemetry.logback","version":"2.1"},
        "logRecords":[
          {"timeUnixNano":"1700000000000000001","observedTimeUnixNano":"1700000000000000009",
           "severityNumber":17,"severityText":"ERROR","body":{"stringValue":"payment failed"},
           "attributes":[{"key":"http.route","value":{"stringValue":"/pay"}},
                         {"key":"retry","value":{"boolValue":true}},
                         {"key":"ctx","value":{"kvlistValue":{"values":[{"key":"a","value":{"doubleValue":1.5}}]}}},
                         {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"x"},{"intValue":2}]}}}],
           "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174"},
          {"observedTimeUnixNano":"1700000000000000005","severityNumber":"SEVERITY_NUMBER_INFO",
           "body":{"kvlistValue":{"values":[{"key":"event","value":{"stringValue":"login"}},
                                            {"key":"raw","value":{"bytesValue":"aGk="}}]}}},
          {"body":{"intValue":"7"},"traceId":"00000000000000000000000000000000"}]}]},
      {"resource":{"attributes":[]},"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}"#;

    #[test]
    fn collector_json() {
        let b = decode_json(
            COLLECTOR_JSON.as_bytes(),
            &OtlpLogsOptions::default(),
            &IngestLimits::default(),
            99,
        )
        .unwrap();
        assert!(b.rejected.is_empty(), "{:?}", b.rejected);
        assert_eq!(b.records.len(), 4);
        let r = &b.records[0];
        assert_eq!(r.ts_ns, 1_700_000_000_000_000_001);
        assert_eq!(
            r.stream,
            Labels::from_pairs([("service_name", "checkout"), ("k8s_namespace_name", "shop")])
        );
        assert_eq!(r.message, "payment failed");
        assert_eq!(r.severity, Some(17));
        assert_eq!(r.trace_id.unwrap()[0], 0x5b);
        assert_eq!(r.span_id.unwrap()[7], 0x74);
        assert_eq!(
            r.fields,
            vec![
                ("host.name".to_string(), "node-7".to_string()),
                ("process.pid".into(), "4242".into()),
                ("scope_name".into(), "io.opentelemetry.logback".into()),
                ("scope_version".into(), "2.1".into()),
                ("http.route".into(), "/pay".into()),
                ("retry".into(), "true".into()),
                ("ctx.a".into(), "1.5".into()),
                ("tags".into(), r#"["x",2]"#.into()),
                ("severity_text".into(), "ERROR".into()),
            ]
        );
        let r = &b.records[1];
        assert_eq!(r.ts_ns, 1_700_000_000_000_000_005);
        assert_eq!(r.severity, Some(9));
        assert_eq!(r.message, r#"{"event":"login","raw":"aGk="}"#);
        assert_eq!(b.records[2].message, "7");
        assert_eq!(b.records[2].ts_ns, 99);
        assert_eq!(b.records[2].trace_id, None);
        assert_eq!(
            b.records[3].stream,
            Labels::from_pairs([("service_name", "unknown_service")])
        );
    }

    #[test]
    fn protobuf_round_trip_matches_json() {
        let req = json::request(COLLECTOR_JSON.as_bytes()).unwrap();
        let bytes = req.encode_to_vec();
        let a = decode_protobuf(&bytes, &OtlpLogsOptions::default(), &IngestLimits::default(), 99).unwrap();
        let b = decode_json(
            COLLECTOR_JSON.as_bytes(),
            &OtlpLogsOptions::default(),
            &IngestLimits::default(),
            99,
        )
        .unwrap();
        assert_eq!(a, b);
        assert!(decode_protobuf(
            b"\x0a\x05\x0a",
            &OtlpLogsOptions::default(),
            &IngestLimits::default(),
            0
        )
        .is_err());
    }

    #[test]
    fn json_errors_name_the_field() {
        for (bad, want) in [
            (r#"{"resourceLogs":{}}"#, "resourceLogs"),
            (
                r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"x"}]}]}]}"#,
                "timeUnixNano",
            ),
            (
                r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}"#,
                "traceId",
            ),
            (
                r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_LOUD"}]}]}]}"#,
                "severityNumber",
            ),
            ("[", "invalid JSON"),
        ] {
            let e = decode_json(
                bad.as_bytes(),
                &OtlpLogsOptions::default(),
                &IngestLimits::default(),
                0,
            )
            .unwrap_err();
            assert!(e.to_string().contains(want), "{bad}: {e}");
        }
        let lim = IngestLimits {
            max_labels_per_stream: 0,
            ..Default::default()
        };
        let b = decode_json(COLLECTOR_JSON.as_bytes(), &OtlpLogsOptions::default(), &lim, 0).unwrap();
        assert_eq!(b.rejected.len(), 4);
    }

    #[test]
    fn base64_encoding() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"h"), "aA==");
        assert_eq!(base64_encode(b"hi"), "aGk=");
        assert_eq!(base64_encode(b"hi!"), "aGkh");
    }

    #[test]
    fn garbage_never_panics() {
        let good = json::request(COLLECTOR_JSON.as_bytes()).unwrap().encode_to_vec();
        let mut x: u64 = 0x5eed_5eed_5eed_5eed;
        let j = COLLECTOR_JSON.as_bytes();
        for _ in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut m = good.clone();
            let k = (x as usize) % m.len();
            m[k] ^= (x >> 32) as u8 | 1;
            let _ = decode_protobuf(&m, &OtlpLogsOptions::default(), &IngestLimits::default(), 0);
            let mut m = j.to_vec();
            let k = (x as usize) % m.len();
            m[k] = b"{}[]\":,0aZ"[(x >> 20) as usize % 10];
            let _ = decode_json(&m, &OtlpLogsOptions::default(), &IngestLimits::default(), 0);
        }
    }
}
