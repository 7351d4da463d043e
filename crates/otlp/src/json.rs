//! OTLP/JSON: the protobuf JSON mapping with OTLP's rules, decoded by hand so
//! every rule is ours to check.
//!
//! - field names in lowerCamelCase (the original snake_case names are
//!   accepted too, as protobuf JSON parsers do); unknown fields are ignored;
//!   `null` means the field's default;
//! - 64-bit integers as decimal strings or JSON numbers;
//! - doubles as numbers or the strings `"NaN"`, `"Infinity"`, `"-Infinity"`
//!   (numeric strings are accepted too);
//! - enums as integers (their proto names are accepted too);
//! - `traceId`/`spanId` as hex; other bytes (`bytesValue`) as base64.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point, metric, number_data_point, summary_data_point, Exemplar,
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{Map, Value};

/// A JSON decoding failure with the path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Segments innermost first (reversed when displayed).
    path: Vec<String>,
    msg: String,
}

impl JsonError {
    fn new(msg: impl Into<String>) -> Self {
        Self {
            path: Vec::new(),
            msg: msg.into(),
        }
    }

    fn at(mut self, seg: impl Into<String>) -> Self {
        self.path.push(seg.into());
        self
    }

    /// Dotted path of the field, e.g. `resourceMetrics[0].scopeMetrics[0]`.
    pub fn path(&self) -> String {
        let mut s = String::new();
        for seg in self.path.iter().rev() {
            if !s.is_empty() && !seg.starts_with('[') {
                s.push('.');
            }
            s.push_str(seg);
        }
        s
    }
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.msg)
        } else {
            write!(f, "{}: {}", self.path(), self.msg)
        }
    }
}

type R<T> = Result<T, JsonError>;

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest`.
pub fn decode_request(body: &[u8]) -> R<ExportMetricsServiceRequest> {
    let v: Value = serde_json::from_slice(body).map_err(|e| JsonError::new(format!("invalid JSON: {e}")))?;
    let o = obj(&v)?;
    Ok(ExportMetricsServiceRequest {
        resource_metrics: list(o, "resourceMetrics", "resource_metrics", resource_metrics)?,
    })
}

fn obj(v: &Value) -> R<&Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| JsonError::new(format!("expected an object, got {}", kind(v))))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The field under its camelCase or snake_case name; `None` if absent or null.
fn field<'a>(
    o: &'a Map<String, Value>,
    camel: &'static str,
    snake: &'static str,
) -> Option<(&'static str, &'a Value)> {
    match o.get(camel) {
        Some(Value::Null) | None => match o.get(snake) {
            Some(Value::Null) | None => None,
            Some(v) => Some((snake, v)),
        },
        Some(v) => Some((camel, v)),
    }
}

fn list<T>(
    o: &Map<String, Value>,
    camel: &'static str,
    snake: &'static str,
    f: fn(&Value) -> R<T>,
) -> R<Vec<T>> {
    let Some((name, v)) = field(o, camel, snake) else {
        return Ok(Vec::new());
    };
    let arr = v
        .as_array()
        .ok_or_else(|| JsonError::new(format!("expected an array, got {}", kind(v))).at(name))?;
    arr.iter()
        .enumerate()
        .map(|(i, e)| f(e).map_err(|err| err.at(format!("[{i}]")).at(name)))
        .collect()
}

fn message<T>(
    o: &Map<String, Value>,
    camel: &'static str,
    snake: &'static str,
    f: fn(&Value) -> R<T>,
) -> R<Option<T>> {
    match field(o, camel, snake) {
        None => Ok(None),
        Some((name, v)) => f(v).map(Some).map_err(|e| e.at(name)),
    }
}

fn string(o: &Map<String, Value>, camel: &'static str, snake: &'static str) -> R<String> {
    match field(o, camel, snake) {
        None => Ok(String::new()),
        Some((_, Value::String(s))) => Ok(s.clone()),
        Some((name, v)) => Err(JsonError::new(format!("expected a string, got {}", kind(v))).at(name)),
    }
}

fn boolean(o: &Map<String, Value>, camel: &'static str, snake: &'static str) -> R<bool> {
    match field(o, camel, snake) {
        None => Ok(false),
        Some((_, Value::Bool(b))) => Ok(*b),
        Some((name, v)) => Err(JsonError::new(format!("expected a boolean, got {}", kind(v))).at(name)),
    }
}

fn parse_u64(v: &Value) -> R<u64> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8446744073709552e19)
                    .map(|f| f as u64)
            })
            .ok_or_else(|| JsonError::new(format!("{n} is not an unsigned 64-bit integer"))),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| JsonError::new(format!("{s:?} is not an unsigned 64-bit integer"))),
        v => Err(JsonError::new(format!(
            "expected an unsigned integer, got {}",
            kind(v)
        ))),
    }
}

fn parse_i64(v: &Value) -> R<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.223372036854776e18)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| JsonError::new(format!("{n} is not a 64-bit integer"))),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map_err(|_| JsonError::new(format!("{s:?} is not a 64-bit integer"))),
        v => Err(JsonError::new(format!("expected an integer, got {}", kind(v)))),
    }
}

fn parse_i32(v: &Value) -> R<i32> {
    let i = parse_i64(v)?;
    i32::try_from(i).map_err(|_| JsonError::new(format!("{i} does not fit a 32-bit integer")))
}

fn parse_f64(v: &Value) -> R<f64> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| JsonError::new(format!("{n} is not a number"))),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| JsonError::new(format!("{s:?} is not a number"))),
        },
        v => Err(JsonError::new(format!("expected a number, got {}", kind(v)))),
    }
}

fn scalar<T: Default>(
    o: &Map<String, Value>,
    camel: &'static str,
    snake: &'static str,
    f: fn(&Value) -> R<T>,
) -> R<T> {
    match field(o, camel, snake) {
        None => Ok(T::default()),
        Some((name, v)) => f(v).map_err(|e| e.at(name)),
    }
}

fn opt_scalar<T>(
    o: &Map<String, Value>,
    camel: &'static str,
    snake: &'static str,
    f: fn(&Value) -> R<T>,
) -> R<Option<T>> {
    match field(o, camel, snake) {
        None => Ok(None),
        Some((name, v)) => f(v).map(Some).map_err(|e| e.at(name)),
    }
}

fn temporality(v: &Value) -> R<i32> {
    match v {
        Value::String(s) if s.starts_with("AGGREGATION_TEMPORALITY_") => match s.as_str() {
            "AGGREGATION_TEMPORALITY_UNSPECIFIED" => Ok(0),
            "AGGREGATION_TEMPORALITY_DELTA" => Ok(1),
            "AGGREGATION_TEMPORALITY_CUMULATIVE" => Ok(2),
            _ => Err(JsonError::new(format!("unknown aggregation temporality {s:?}"))),
        },
        v => parse_i32(v),
    }
}

fn u64_list(v: &Value) -> R<Vec<u64>> {
    let arr = v
        .as_array()
        .ok_or_else(|| JsonError::new(format!("expected an array, got {}", kind(v))))?;
    arr.iter()
        .enumerate()
        .map(|(i, e)| parse_u64(e).map_err(|err| err.at(format!("[{i}]"))))
        .collect()
}

fn f64_list(v: &Value) -> R<Vec<f64>> {
    let arr = v
        .as_array()
        .ok_or_else(|| JsonError::new(format!("expected an array, got {}", kind(v))))?;
    arr.iter()
        .enumerate()
        .map(|(i, e)| parse_f64(e).map_err(|err| err.at(format!("[{i}]"))))
        .collect()
}

fn hex(v: &Value) -> R<Vec<u8>> {
    let s = v
        .as_str()
        .ok_or_else(|| JsonError::new(format!("expected a hex string, got {}", kind(v))))?;
    if s.len() % 2 != 0 {
        return Err(JsonError::new(format!("{s:?} is not hex: odd length")));
    }
    let digit = |c: u8| -> R<u8> {
        (c as char)
            .to_digit(16)
            .map(|d| d as u8)
            .ok_or_else(|| JsonError::new(format!("{s:?} is not hex")))
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

fn base64(v: &Value) -> R<Vec<u8>> {
    let s = v
        .as_str()
        .ok_or_else(|| JsonError::new(format!("expected a base64 string, got {}", kind(v))))?;
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
            _ => return Err(JsonError::new(format!("{s:?} is not base64"))),
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

fn resource_metrics(v: &Value) -> R<ResourceMetrics> {
    let o = obj(v)?;
    Ok(ResourceMetrics {
        resource: message(o, "resource", "resource", resource)?,
        scope_metrics: list(o, "scopeMetrics", "scope_metrics", scope_metrics)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn resource(v: &Value) -> R<Resource> {
    let o = obj(v)?;
    Ok(Resource {
        attributes: list(o, "attributes", "attributes", key_value)?,
        dropped_attributes_count: scalar(o, "droppedAttributesCount", "dropped_attributes_count", parse_u32)?,
        entity_refs: Vec::new(),
    })
}

fn parse_u32(v: &Value) -> R<u32> {
    let i = parse_u64(v)?;
    u32::try_from(i).map_err(|_| JsonError::new(format!("{i} does not fit a 32-bit unsigned integer")))
}

fn scope_metrics(v: &Value) -> R<ScopeMetrics> {
    let o = obj(v)?;
    Ok(ScopeMetrics {
        scope: message(o, "scope", "scope", scope)?,
        metrics: list(o, "metrics", "metrics", metric)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn scope(v: &Value) -> R<InstrumentationScope> {
    let o = obj(v)?;
    Ok(InstrumentationScope {
        name: string(o, "name", "name")?,
        version: string(o, "version", "version")?,
        attributes: list(o, "attributes", "attributes", key_value)?,
        dropped_attributes_count: scalar(o, "droppedAttributesCount", "dropped_attributes_count", parse_u32)?,
    })
}

fn key_value(v: &Value) -> R<KeyValue> {
    let o = obj(v)?;
    Ok(KeyValue {
        key: string(o, "key", "key")?,
        value: message(o, "value", "value", any_value)?,
        ..Default::default()
    })
}

fn any_value(v: &Value) -> R<AnyValue> {
    use any_value::Value as V;
    let o = obj(v)?;
    let value = if let Some((_, s)) = field(o, "stringValue", "string_value") {
        Some(V::StringValue(
            s.as_str()
                .ok_or_else(|| JsonError::new("expected a string").at("stringValue"))?
                .to_string(),
        ))
    } else if let Some((_, b)) = field(o, "boolValue", "bool_value") {
        Some(V::BoolValue(b.as_bool().ok_or_else(|| {
            JsonError::new("expected a boolean").at("boolValue")
        })?))
    } else if let Some((n, i)) = field(o, "intValue", "int_value") {
        Some(V::IntValue(parse_i64(i).map_err(|e| e.at(n))?))
    } else if let Some((n, d)) = field(o, "doubleValue", "double_value") {
        Some(V::DoubleValue(parse_f64(d).map_err(|e| e.at(n))?))
    } else if let Some((n, a)) = field(o, "arrayValue", "array_value") {
        let ao = obj(a).map_err(|e| e.at(n))?;
        Some(V::ArrayValue(ArrayValue {
            values: list(ao, "values", "values", any_value).map_err(|e| e.at(n))?,
        }))
    } else if let Some((n, kv)) = field(o, "kvlistValue", "kvlist_value") {
        let ko = obj(kv).map_err(|e| e.at(n))?;
        Some(V::KvlistValue(KeyValueList {
            values: list(ko, "values", "values", key_value).map_err(|e| e.at(n))?,
        }))
    } else if let Some((n, b)) = field(o, "bytesValue", "bytes_value") {
        Some(V::BytesValue(base64(b).map_err(|e| e.at(n))?))
    } else {
        None
    };
    Ok(AnyValue { value })
}

fn metric(v: &Value) -> R<Metric> {
    let o = obj(v)?;
    let data = if let Some((n, g)) = field(o, "gauge", "gauge") {
        let go = obj(g).map_err(|e| e.at(n))?;
        Some(metric::Data::Gauge(Gauge {
            data_points: list(go, "dataPoints", "data_points", number_point).map_err(|e| e.at(n))?,
        }))
    } else if let Some((n, s)) = field(o, "sum", "sum") {
        let so = obj(s).map_err(|e| e.at(n))?;
        let sum = (|| {
            Ok(Sum {
                data_points: list(so, "dataPoints", "data_points", number_point)?,
                aggregation_temporality: scalar(
                    so,
                    "aggregationTemporality",
                    "aggregation_temporality",
                    temporality,
                )?,
                is_monotonic: boolean(so, "isMonotonic", "is_monotonic")?,
            })
        })()
        .map_err(|e: JsonError| e.at(n))?;
        Some(metric::Data::Sum(sum))
    } else if let Some((n, h)) = field(o, "histogram", "histogram") {
        let ho = obj(h).map_err(|e| e.at(n))?;
        let hist = (|| {
            Ok(Histogram {
                data_points: list(ho, "dataPoints", "data_points", histogram_point)?,
                aggregation_temporality: scalar(
                    ho,
                    "aggregationTemporality",
                    "aggregation_temporality",
                    temporality,
                )?,
            })
        })()
        .map_err(|e: JsonError| e.at(n))?;
        Some(metric::Data::Histogram(hist))
    } else if let Some((n, h)) = field(o, "exponentialHistogram", "exponential_histogram") {
        let ho = obj(h).map_err(|e| e.at(n))?;
        let hist = (|| {
            Ok(ExponentialHistogram {
                data_points: list(ho, "dataPoints", "data_points", exp_point)?,
                aggregation_temporality: scalar(
                    ho,
                    "aggregationTemporality",
                    "aggregation_temporality",
                    temporality,
                )?,
            })
        })()
        .map_err(|e: JsonError| e.at(n))?;
        Some(metric::Data::ExponentialHistogram(hist))
    } else if let Some((n, s)) = field(o, "summary", "summary") {
        let so = obj(s).map_err(|e| e.at(n))?;
        Some(metric::Data::Summary(Summary {
            data_points: list(so, "dataPoints", "data_points", summary_point).map_err(|e| e.at(n))?,
        }))
    } else {
        None
    };
    Ok(Metric {
        name: string(o, "name", "name")?,
        description: string(o, "description", "description")?,
        unit: string(o, "unit", "unit")?,
        metadata: list(o, "metadata", "metadata", key_value)?,
        data,
    })
}

fn number_point(v: &Value) -> R<NumberDataPoint> {
    let o = obj(v)?;
    let value = if let Some((n, d)) = field(o, "asDouble", "as_double") {
        Some(number_data_point::Value::AsDouble(
            parse_f64(d).map_err(|e| e.at(n))?,
        ))
    } else if let Some((n, i)) = field(o, "asInt", "as_int") {
        Some(number_data_point::Value::AsInt(
            parse_i64(i).map_err(|e| e.at(n))?,
        ))
    } else {
        None
    };
    Ok(NumberDataPoint {
        attributes: list(o, "attributes", "attributes", key_value)?,
        start_time_unix_nano: scalar(o, "startTimeUnixNano", "start_time_unix_nano", parse_u64)?,
        time_unix_nano: scalar(o, "timeUnixNano", "time_unix_nano", parse_u64)?,
        exemplars: list(o, "exemplars", "exemplars", exemplar)?,
        flags: scalar(o, "flags", "flags", parse_u32)?,
        value,
    })
}

fn histogram_point(v: &Value) -> R<HistogramDataPoint> {
    let o = obj(v)?;
    Ok(HistogramDataPoint {
        attributes: list(o, "attributes", "attributes", key_value)?,
        start_time_unix_nano: scalar(o, "startTimeUnixNano", "start_time_unix_nano", parse_u64)?,
        time_unix_nano: scalar(o, "timeUnixNano", "time_unix_nano", parse_u64)?,
        count: scalar(o, "count", "count", parse_u64)?,
        sum: opt_scalar(o, "sum", "sum", parse_f64)?,
        bucket_counts: scalar(o, "bucketCounts", "bucket_counts", u64_list)?,
        explicit_bounds: scalar(o, "explicitBounds", "explicit_bounds", f64_list)?,
        exemplars: list(o, "exemplars", "exemplars", exemplar)?,
        flags: scalar(o, "flags", "flags", parse_u32)?,
        min: opt_scalar(o, "min", "min", parse_f64)?,
        max: opt_scalar(o, "max", "max", parse_f64)?,
    })
}

fn exp_buckets(v: &Value) -> R<exponential_histogram_data_point::Buckets> {
    let o = obj(v)?;
    Ok(exponential_histogram_data_point::Buckets {
        offset: scalar(o, "offset", "offset", parse_i32)?,
        bucket_counts: scalar(o, "bucketCounts", "bucket_counts", u64_list)?,
    })
}

fn exp_point(v: &Value) -> R<ExponentialHistogramDataPoint> {
    let o = obj(v)?;
    Ok(ExponentialHistogramDataPoint {
        attributes: list(o, "attributes", "attributes", key_value)?,
        start_time_unix_nano: scalar(o, "startTimeUnixNano", "start_time_unix_nano", parse_u64)?,
        time_unix_nano: scalar(o, "timeUnixNano", "time_unix_nano", parse_u64)?,
        count: scalar(o, "count", "count", parse_u64)?,
        sum: opt_scalar(o, "sum", "sum", parse_f64)?,
        scale: scalar(o, "scale", "scale", parse_i32)?,
        zero_count: scalar(o, "zeroCount", "zero_count", parse_u64)?,
        positive: message(o, "positive", "positive", exp_buckets)?,
        negative: message(o, "negative", "negative", exp_buckets)?,
        flags: scalar(o, "flags", "flags", parse_u32)?,
        exemplars: list(o, "exemplars", "exemplars", exemplar)?,
        min: opt_scalar(o, "min", "min", parse_f64)?,
        max: opt_scalar(o, "max", "max", parse_f64)?,
        zero_threshold: scalar(o, "zeroThreshold", "zero_threshold", parse_f64)?,
    })
}

fn quantile(v: &Value) -> R<summary_data_point::ValueAtQuantile> {
    let o = obj(v)?;
    Ok(summary_data_point::ValueAtQuantile {
        quantile: scalar(o, "quantile", "quantile", parse_f64)?,
        value: scalar(o, "value", "value", parse_f64)?,
    })
}

fn summary_point(v: &Value) -> R<SummaryDataPoint> {
    let o = obj(v)?;
    Ok(SummaryDataPoint {
        attributes: list(o, "attributes", "attributes", key_value)?,
        start_time_unix_nano: scalar(o, "startTimeUnixNano", "start_time_unix_nano", parse_u64)?,
        time_unix_nano: scalar(o, "timeUnixNano", "time_unix_nano", parse_u64)?,
        count: scalar(o, "count", "count", parse_u64)?,
        sum: scalar(o, "sum", "sum", parse_f64)?,
        quantile_values: list(o, "quantileValues", "quantile_values", quantile)?,
        flags: scalar(o, "flags", "flags", parse_u32)?,
    })
}

fn exemplar(v: &Value) -> R<Exemplar> {
    let o = obj(v)?;
    let value = if let Some((n, d)) = field(o, "asDouble", "as_double") {
        Some(exemplar::Value::AsDouble(parse_f64(d).map_err(|e| e.at(n))?))
    } else if let Some((n, i)) = field(o, "asInt", "as_int") {
        Some(exemplar::Value::AsInt(parse_i64(i).map_err(|e| e.at(n))?))
    } else {
        None
    };
    Ok(Exemplar {
        filtered_attributes: list(o, "filteredAttributes", "filtered_attributes", key_value)?,
        time_unix_nano: scalar(o, "timeUnixNano", "time_unix_nano", parse_u64)?,
        span_id: scalar(o, "spanId", "span_id", hex)?,
        trace_id: scalar(o, "traceId", "trace_id", hex)?,
        value,
    })
}

/// Encodes an `ExportMetricsServiceResponse` in OTLP/JSON (`{}` when there is
/// no partial success).
pub fn encode_response(rejected: i64, message: &str) -> Vec<u8> {
    if rejected == 0 && message.is_empty() {
        return b"{}".to_vec();
    }
    let mut ps = Map::new();
    if rejected != 0 {
        ps.insert("rejectedDataPoints".into(), Value::String(rejected.to_string()));
    }
    if !message.is_empty() {
        ps.insert("errorMessage".into(), Value::String(message.to_string()));
    }
    let mut top = Map::new();
    top.insert("partialSuccess".into(), Value::Object(ps));
    serde_json::to_vec(&Value::Object(top)).unwrap_or_else(|_| b"{}".to_vec())
}
