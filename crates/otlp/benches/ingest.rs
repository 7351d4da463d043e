//! OTLP metrics throughput: protobuf decode, OTLP/JSON decode and
//! translation into a no-op appender, on a request shaped like an SDK export
//! (one resource, 1,000 counter points and 100 explicit-bucket histogram
//! points with 15 bounds, 10 attributes each). Reported as data points/s.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use sightline_model::{AppendError, Appender, CommitStats, LabelRef, SeriesRef, StorageError};
use sightline_otlp::proto::common::v1::{any_value, AnyValue, KeyValue};
use sightline_otlp::proto::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use sightline_otlp::proto::resource::v1::Resource;
use sightline_otlp::{ExportMetricsServiceRequest, OtlpConfig, OtlpMetrics};
use std::hint::black_box;

struct Null(u64);

impl Appender for Null {
    fn append(&mut self, labels: &[LabelRef<'_>], _t: i64, v: f64) -> Result<SeriesRef, AppendError> {
        self.0 = self.0.wrapping_add(labels.len() as u64).wrapping_add(v.to_bits());
        Ok(SeriesRef(self.0))
    }
    fn append_ref(&mut self, _: SeriesRef, _: i64, _: f64) -> Result<(), AppendError> {
        Ok(())
    }
    fn commit(self: Box<Self>) -> Result<CommitStats, StorageError> {
        Ok(CommitStats::default())
    }
    fn rollback(self: Box<Self>) {}
}

fn kv(k: &str, v: String) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v)),
        }),
        ..Default::default()
    }
}

fn attrs(i: usize) -> Vec<KeyValue> {
    (0..10)
        .map(|k| kv(&format!("attr.key{k}"), format!("value-{}", i % (k * 7 + 3))))
        .collect()
}

fn request(t_ns: u64) -> (ExportMetricsServiceRequest, u64) {
    let counters: Vec<NumberDataPoint> = (0..1000)
        .map(|i| NumberDataPoint {
            attributes: [attrs(i), vec![kv("series", i.to_string())]].concat(),
            start_time_unix_nano: t_ns - 60_000_000_000,
            time_unix_nano: t_ns,
            value: Some(number_data_point::Value::AsInt(i as i64 * 17)),
            ..Default::default()
        })
        .collect();
    let bounds = vec![
        0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0,
    ];
    let hists: Vec<HistogramDataPoint> = (0..100)
        .map(|i| HistogramDataPoint {
            attributes: [attrs(i), vec![kv("series", i.to_string())]].concat(),
            start_time_unix_nano: t_ns - 60_000_000_000,
            time_unix_nano: t_ns,
            count: 160,
            sum: Some(12345.0),
            bucket_counts: vec![10; 16],
            explicit_bounds: bounds.clone(),
            ..Default::default()
        })
        .collect();
    let metric = |name: &str, unit: &str, data| Metric {
        name: name.into(),
        description: "bench".into(),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    };
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "bench".into()),
                    kv("service.instance.id", "i-1".into()),
                    kv("host.name", "h".into()),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    metric(
                        "http.server.requests",
                        "{request}",
                        Data::Sum(Sum {
                            data_points: counters,
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                            is_monotonic: true,
                        }),
                    ),
                    metric(
                        "http.server.duration",
                        "ms",
                        Data::Histogram(Histogram {
                            data_points: hists,
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                        }),
                    ),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    (req, 1100)
}

fn bench(c: &mut Criterion) {
    let t0 = 1_704_067_200_000_000_000u64;
    let (req, points) = request(t0);
    let body = req.encode_to_vec();
    let json = to_json(&req);
    let mut g = c.benchmark_group("otlp");
    g.throughput(Throughput::Elements(points));
    g.bench_function("decode_protobuf", |b| {
        b.iter(|| OtlpMetrics::decode_request(black_box(&body), "application/x-protobuf").unwrap())
    });
    g.bench_function("decode_json", |b| {
        b.iter(|| OtlpMetrics::decode_request(black_box(json.as_bytes()), "application/json").unwrap())
    });
    let otlp = OtlpMetrics::new(OtlpConfig::default());
    g.bench_function("translate", |b| {
        b.iter(|| {
            let mut app = Null(0);
            let r = otlp.ingest(black_box(&req), &mut app);
            assert_eq!(r.accepted, points);
            app.0
        })
    });
    let mut delta = req.clone();
    if let Some(Data::Sum(s)) = &mut delta.resource_metrics[0].scope_metrics[0].metrics[0].data {
        s.aggregation_temporality = AggregationTemporality::Delta as i32;
    }
    let dotlp = OtlpMetrics::new(OtlpConfig::default());
    let mut step = 0u64;
    g.bench_function("translate_delta_counters", |b| {
        b.iter(|| {
            step += 1;
            if let Some(Data::Sum(s)) = &mut delta.resource_metrics[0].scope_metrics[0].metrics[0].data {
                for p in &mut s.data_points {
                    p.start_time_unix_nano = t0 + (step - 1) * 1_000_000;
                    p.time_unix_nano = t0 + step * 1_000_000;
                }
            }
            let mut app = Null(0);
            let r = dotlp.ingest(black_box(&delta), &mut app);
            assert_eq!(r.accepted, points);
            app.0
        })
    });
    g.finish();
}

/// A minimal OTLP/JSON rendering of the bench request (string attributes,
/// int counters, histograms), int64 fields as strings as OTLP/JSON writes them.
fn to_json(req: &ExportMetricsServiceRequest) -> String {
    use std::fmt::Write;
    let attrs = |a: &[KeyValue]| {
        let mut s = String::from("[");
        for (i, kv) in a.iter().enumerate() {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                _ => String::new(),
            };
            let _ = write!(
                s,
                "{}{{\"key\":\"{}\",\"value\":{{\"stringValue\":\"{}\"}}}}",
                if i > 0 { "," } else { "" },
                kv.key,
                v
            );
        }
        s.push(']');
        s
    };
    let rm = &req.resource_metrics[0];
    let mut out = format!(
        "{{\"resourceMetrics\":[{{\"resource\":{{\"attributes\":{}}},\"scopeMetrics\":[{{\"metrics\":[",
        attrs(&rm.resource.as_ref().unwrap().attributes)
    );
    for (mi, m) in rm.scope_metrics[0].metrics.iter().enumerate() {
        if mi > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"name\":\"{}\",\"unit\":\"{}\",", m.name, m.unit);
        match &m.data {
            Some(Data::Sum(s)) => {
                out.push_str("\"sum\":{\"aggregationTemporality\":2,\"isMonotonic\":true,\"dataPoints\":[");
                for (i, p) in s.data_points.iter().enumerate() {
                    let v = match p.value {
                        Some(number_data_point::Value::AsInt(v)) => v,
                        _ => 0,
                    };
                    let _ = write!(
                        out,
                        "{}{{\"attributes\":{},\"startTimeUnixNano\":\"{}\",\"timeUnixNano\":\"{}\",\"asInt\":\"{}\"}}",
                        if i > 0 { "," } else { "" },
                        attrs(&p.attributes),
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                        v
                    );
                }
            }
            Some(Data::Histogram(h)) => {
                out.push_str("\"histogram\":{\"aggregationTemporality\":2,\"dataPoints\":[");
                for (i, p) in h.data_points.iter().enumerate() {
                    let counts: Vec<String> = p.bucket_counts.iter().map(|c| format!("\"{c}\"")).collect();
                    let bounds: Vec<String> = p.explicit_bounds.iter().map(|b| b.to_string()).collect();
                    let _ = write!(
                        out,
                        "{}{{\"attributes\":{},\"startTimeUnixNano\":\"{}\",\"timeUnixNano\":\"{}\",\"count\":\"{}\",\"sum\":{},\"bucketCounts\":[{}],\"explicitBounds\":[{}]}}",
                        if i > 0 { "," } else { "" },
                        attrs(&p.attributes),
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                        p.count,
                        p.sum.unwrap_or(0.0),
                        counts.join(","),
                        bounds.join(",")
                    );
                }
            }
            _ => unreachable!("bench request has sums and histograms only"),
        }
        out.push_str("]}}");
    }
    out.push_str("]}]}]}");
    out
}

criterion_group!(benches, bench);
criterion_main!(benches);
