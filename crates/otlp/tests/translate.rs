//! Translation of every OTLP metric type to samples, as Prometheus 3 does it.

mod common;

use common::*;
use sightline_model::{is_stale_nan, MetricMetadata, MetricType};
use sightline_otlp::proto::common::v1::{any_value, AnyValue, InstrumentationScope};
use sightline_otlp::proto::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point, summary_data_point,
    AggregationTemporality, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, NumberDataPoint, Sum, Summary, SummaryDataPoint,
};
use sightline_otlp::{OtlpConfig, OtlpMetrics, TranslationStrategy};

const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;
const DELTA: i32 = AggregationTemporality::Delta as i32;

fn num(t: u64, v: f64, attrs: &[(&str, &str)]) -> NumberDataPoint {
    NumberDataPoint {
        attributes: kvs(attrs),
        start_time_unix_nano: ns(0),
        time_unix_nano: t,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

fn gauge(points: Vec<NumberDataPoint>) -> Data {
    Data::Gauge(Gauge { data_points: points })
}

fn sum(points: Vec<NumberDataPoint>, monotonic: bool, temporality: i32) -> Data {
    Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: temporality,
        is_monotonic: monotonic,
    })
}

fn run(
    cfg: OtlpConfig,
    req: &sightline_otlp::ExportMetricsServiceRequest,
) -> (RecAppender, sightline_otlp::IngestReport) {
    let otlp = OtlpMetrics::new(cfg);
    let mut app = RecAppender::new();
    let report = otlp.ingest(req, &mut app);
    (app, report)
}

const SVC: &[(&str, &str)] = &[
    ("service.name", "checkout"),
    ("service.namespace", "shop"),
    ("service.instance.id", "pod-1"),
];

#[test]
fn gauge_labels_job_instance_and_target_info() {
    let resource = [
        ("service.name", "checkout"),
        ("service.namespace", "shop"),
        ("service.instance.id", "pod-1"),
        ("host.name", "node-a"),
        ("k8s.pod.uid", "abc"),
    ];
    let req = request(
        &resource,
        vec![metric(
            "system.memory.usage",
            "By",
            gauge(vec![num(
                ns(1_500),
                42.0,
                &[("state", "used"), ("2xx", "a"), ("_hidden", "b")],
            )]),
        )],
    );
    let (app, report) = run(OtlpConfig::default(), &req);
    assert_eq!(report.accepted, 1);
    assert_eq!(report.rejected, 0);
    assert_eq!(report.first_error, None);
    assert_eq!(
        app.lines(),
        vec![
            format!(
                "system_memory_usage_bytes{{instance=\"pod-1\", job=\"shop/checkout\", key_2xx=\"a\", key_hidden=\"b\", state=\"used\"}} {} 42",
                ms(1_500)
            ),
            format!(
                "target_info{{host_name=\"node-a\", instance=\"pod-1\", job=\"shop/checkout\", k8s_pod_uid=\"abc\"}} {} 1",
                ms(1_500)
            ),
        ]
    );
    assert!(app.rec.metadata.contains(&(
        "system_memory_usage_bytes".to_string(),
        MetricMetadata {
            metric_type: MetricType::Gauge,
            help: "system.memory.usage help".into(),
            unit: "By".into(),
        }
    )));
    assert!(app
        .rec
        .metadata
        .iter()
        .any(|(n, m)| n == "target_info" && m.metric_type == MetricType::Gauge));
}

#[test]
fn keep_identifying_attributes_on_target_info() {
    let resource = [
        ("service.name", "api"),
        ("service.instance.id", "i1"),
        ("region", "eu"),
    ];
    let req = request(
        &resource,
        vec![metric("up", "", gauge(vec![num(ns(0), 1.0, &[])]))],
    );
    let cfg = OtlpConfig {
        keep_identifying_resource_attributes: true,
        ..Default::default()
    };
    let (app, _) = run(cfg, &req);
    assert_eq!(
        app.value("target_info{instance=\"i1\", job=\"api\", region=\"eu\", service_instance_id=\"i1\", service_name=\"api\"}"),
        1.0
    );
}

#[test]
fn no_target_info_without_extra_attributes_or_identity() {
    // Only identifying attributes: target_info would say nothing.
    let (app, _) = run(
        OtlpConfig::default(),
        &request(SVC, vec![metric("up", "", gauge(vec![num(ns(0), 1.0, &[])]))]),
    );
    assert!(app.lines().iter().all(|l| !l.starts_with("target_info")));
    // Extra attributes but neither job nor instance: no identity to join on.
    let (app, _) = run(
        OtlpConfig::default(),
        &request(
            &[("host.name", "x")],
            vec![metric("up", "", gauge(vec![num(ns(0), 1.0, &[])]))],
        ),
    );
    assert_eq!(app.lines(), vec![format!("up{{}} {} 1", ms(0))]);
}

#[test]
fn target_info_every_half_lookback_between_earliest_and_latest() {
    let resource = [("service.name", "api"), ("host.name", "h")];
    let points = vec![
        num(ns(0), 1.0, &[("a", "1")]),
        num(ns(400_000), 2.0, &[("a", "2")]),
    ];
    let (app, _) = run(
        OtlpConfig::default(),
        &request(&resource, vec![metric("g", "", gauge(points))]),
    );
    let ts: Vec<i64> = app
        .find("target_info{host_name=\"h\", job=\"api\"}")
        .iter()
        .map(|(t, _)| *t)
        .collect();
    // Lookback 5m -> every 150s from the earliest point, plus the latest.
    assert_eq!(ts, vec![ms(0), ms(150_000), ms(300_000), ms(400_000)]);
}

#[test]
fn counters_gauges_and_units() {
    let req = request(
        SVC,
        vec![
            metric(
                "http.requests",
                "{request}",
                sum(vec![num(ns(0), 7.0, &[])], true, CUMULATIVE),
            ),
            metric(
                "queue.depth",
                "1",
                sum(vec![num(ns(0), 3.0, &[])], false, CUMULATIVE),
            ),
            metric("cpu.utilization", "1", gauge(vec![num(ns(0), 0.5, &[])])),
            metric("net.io", "By/s", gauge(vec![num(ns(0), 9.0, &[])])),
            metric("latency", "ms", gauge(vec![num(ns(0), 1.0, &[])])),
            metric(
                "process.runtime.total",
                "s",
                sum(vec![num(ns(0), 2.0, &[])], true, CUMULATIVE),
            ),
        ],
    );
    let (app, report) = run(OtlpConfig::default(), &req);
    assert_eq!(report.accepted, 6);
    let base = "instance=\"pod-1\", job=\"shop/checkout\"";
    assert_eq!(app.value(&format!("http_requests_total{{{base}}}")), 7.0);
    assert_eq!(app.value(&format!("queue_depth{{{base}}}")), 3.0);
    assert_eq!(app.value(&format!("cpu_utilization_ratio{{{base}}}")), 0.5);
    assert_eq!(app.value(&format!("net_io_bytes_per_second{{{base}}}")), 9.0);
    assert_eq!(app.value(&format!("latency_milliseconds{{{base}}}")), 1.0);
    assert_eq!(
        app.value(&format!("process_runtime_seconds_total{{{base}}}")),
        2.0
    );
    let meta = |n: &str| {
        app.rec
            .metadata
            .iter()
            .find(|(f, _)| f == n)
            .map(|(_, m)| m.metric_type)
    };
    assert_eq!(meta("http_requests_total"), Some(MetricType::Counter));
    assert_eq!(meta("queue_depth"), Some(MetricType::Gauge));
}

#[test]
fn int_values_and_timestamp_truncation() {
    let p = NumberDataPoint {
        time_unix_nano: ns(1) + 999_999,
        value: Some(number_data_point::Value::AsInt(-12)),
        ..Default::default()
    };
    let (app, _) = run(
        OtlpConfig::default(),
        &request(&[], vec![metric("x", "", gauge(vec![p]))]),
    );
    assert_eq!(app.find("x{}"), vec![(ms(1), -12.0)]);
}

#[test]
fn histogram_to_classic_buckets() {
    let p = HistogramDataPoint {
        attributes: kvs(&[("route", "/a")]),
        time_unix_nano: ns(10),
        count: 10,
        sum: Some(12.5),
        bucket_counts: vec![2, 3, 4, 1],
        explicit_bounds: vec![0.005, 1.0, 2.5],
        ..Default::default()
    };
    let req = request(
        &[],
        vec![metric(
            "http.server.request.duration",
            "s",
            Data::Histogram(Histogram {
                data_points: vec![p.clone()],
                aggregation_temporality: CUMULATIVE,
            }),
        )],
    );
    let (app, report) = run(OtlpConfig::default(), &req);
    assert_eq!((report.accepted, report.samples), (1, 6));
    let t = ms(10);
    assert_eq!(
        app.lines(),
        vec![
            format!("http_server_request_duration_seconds_bucket{{le=\"+Inf\", route=\"/a\"}} {t} 10"),
            format!("http_server_request_duration_seconds_bucket{{le=\"0.005\", route=\"/a\"}} {t} 2"),
            format!("http_server_request_duration_seconds_bucket{{le=\"1\", route=\"/a\"}} {t} 5"),
            format!("http_server_request_duration_seconds_bucket{{le=\"2.5\", route=\"/a\"}} {t} 9"),
            format!("http_server_request_duration_seconds_count{{route=\"/a\"}} {t} 10"),
            format!("http_server_request_duration_seconds_sum{{route=\"/a\"}} {t} 12.5"),
        ]
    );
    assert_eq!(app.rec.metadata[0].1.metric_type, MetricType::Histogram);

    // No sum: no _sum series.
    let mut nosum = p;
    nosum.sum = None;
    let req = request(
        &[],
        vec![metric(
            "h",
            "",
            Data::Histogram(Histogram {
                data_points: vec![nosum],
                aggregation_temporality: CUMULATIVE,
            }),
        )],
    );
    let (app, _) = run(OtlpConfig::default(), &req);
    assert!(app.lines().iter().all(|l| !l.starts_with("h_sum")));
    assert_eq!(app.lines().len(), 5);
}

#[test]
fn exponential_histogram_to_classic_buckets() {
    // scale 0: base 2. Zero bucket 1 (threshold 0), positive bucket 1 = (2,4]: 2,
    // bucket 2 = (4,8]: 3, negative bucket 0 = [-2,-1): 1.
    let p = ExponentialHistogramDataPoint {
        time_unix_nano: ns(0),
        count: 7,
        sum: Some(20.0),
        scale: 0,
        zero_count: 1,
        positive: Some(Buckets {
            offset: 1,
            bucket_counts: vec![2, 3],
        }),
        negative: Some(Buckets {
            offset: 0,
            bucket_counts: vec![1],
        }),
        ..Default::default()
    };
    let req = request(
        &[],
        vec![metric(
            "rpc.duration",
            "ms",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![p],
                aggregation_temporality: CUMULATIVE,
            }),
        )],
    );
    let (app, report) = run(OtlpConfig::default(), &req);
    assert_eq!(report.accepted, 1);
    let b = |le: &str| app.value(&format!("rpc_duration_milliseconds_bucket{{le=\"{le}\"}}"));
    assert_eq!(b("-1"), 1.0);
    assert_eq!(b("0"), 2.0);
    assert_eq!(b("4"), 4.0);
    assert_eq!(b("8"), 7.0);
    assert_eq!(b("+Inf"), 7.0);
    assert_eq!(app.value("rpc_duration_milliseconds_count{}"), 7.0);
    assert_eq!(app.value("rpc_duration_milliseconds_sum{}"), 20.0);
}

#[test]
fn exponential_histogram_fine_scale_is_capped() {
    // Scale 10 buckets merge down to the configured max scale (default 8).
    let p = ExponentialHistogramDataPoint {
        time_unix_nano: ns(0),
        count: 4,
        scale: 10,
        positive: Some(Buckets {
            offset: 0,
            bucket_counts: vec![1, 1, 1, 1],
        }),
        ..Default::default()
    };
    let req = request(
        &[],
        vec![metric(
            "x",
            "",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![p],
                aggregation_temporality: CUMULATIVE,
            }),
        )],
    );
    let (app, _) = run(OtlpConfig::default(), &req);
    // Buckets 0..=3 at scale 10 are bucket 0 at scale 8: upper bound 2^(1/256).
    let le = sightline_otlp::naming::format_bound(2f64.powf(1.0 / 256.0));
    assert_eq!(app.value(&format!("x_bucket{{le=\"{le}\"}}")), 4.0);
    assert_eq!(app.value("x_bucket{le=\"0\"}"), 0.0);
}

#[test]
fn summary_quantiles() {
    let p = SummaryDataPoint {
        time_unix_nano: ns(0),
        count: 100,
        sum: 55.5,
        quantile_values: vec![
            summary_data_point::ValueAtQuantile {
                quantile: 0.5,
                value: 0.4,
            },
            summary_data_point::ValueAtQuantile {
                quantile: 0.99,
                value: 1.2,
            },
        ],
        ..Default::default()
    };
    let req = request(
        &[],
        vec![metric(
            "rpc.latency",
            "s",
            Data::Summary(Summary { data_points: vec![p] }),
        )],
    );
    let (app, report) = run(OtlpConfig::default(), &req);
    assert_eq!(report.accepted, 1);
    assert_eq!(app.value("rpc_latency_seconds{quantile=\"0.5\"}"), 0.4);
    assert_eq!(app.value("rpc_latency_seconds{quantile=\"0.99\"}"), 1.2);
    assert_eq!(app.value("rpc_latency_seconds_sum{}"), 55.5);
    assert_eq!(app.value("rpc_latency_seconds_count{}"), 100.0);
    assert_eq!(app.rec.metadata[0].1.metric_type, MetricType::Summary);
}

#[test]
fn no_recorded_value_is_a_staleness_marker() {
    let mut g = num(ns(0), 5.0, &[]);
    g.flags = 1;
    let h = HistogramDataPoint {
        time_unix_nano: ns(0),
        count: 3,
        sum: Some(1.0),
        bucket_counts: vec![1, 2],
        explicit_bounds: vec![1.0],
        flags: 1,
        ..Default::default()
    };
    let sm = SummaryDataPoint {
        time_unix_nano: ns(0),
        count: 1,
        sum: 1.0,
        quantile_values: vec![summary_data_point::ValueAtQuantile {
            quantile: 0.5,
            value: 1.0,
        }],
        flags: 1,
        ..Default::default()
    };
    let mut d = num(ns(0), 5.0, &[]);
    d.flags = 1;
    let req = request(
        &[],
        vec![
            metric("g", "", gauge(vec![g])),
            metric(
                "h",
                "",
                Data::Histogram(Histogram {
                    data_points: vec![h],
                    aggregation_temporality: CUMULATIVE,
                }),
            ),
            metric(
                "s",
                "",
                Data::Summary(Summary {
                    data_points: vec![sm],
                }),
            ),
            metric("d", "", sum(vec![d], true, DELTA)),
        ],
    );
    let (app, report) = run(OtlpConfig::default(), &req);
    assert_eq!(report.accepted, 4);
    assert_eq!(app.rec.samples.len(), 1 + 4 + 3 + 1);
    for r in &app.rec.samples {
        assert!(is_stale_nan(r.v), "{} is not a staleness marker", r.labels);
    }
}

#[test]
fn promoted_resource_attributes() {
    let resource = [
        ("service.name", "api"),
        ("deployment.environment", "prod"),
        ("cloud.region", "eu"),
    ];
    let points = vec![
        num(ns(0), 1.0, &[]),
        // A data-point attribute of the same (translated) name wins.
        num(ns(0), 2.0, &[("deployment_environment", "canary")]),
    ];
    let cfg = OtlpConfig {
        promote_resource_attributes: vec!["deployment.environment".into(), "absent".into()],
        ..Default::default()
    };
    let (app, _) = run(cfg, &request(&resource, vec![metric("g", "", gauge(points))]));
    assert_eq!(app.value("g{deployment_environment=\"prod\", job=\"api\"}"), 1.0);
    assert_eq!(
        app.value("g{deployment_environment=\"canary\", job=\"api\"}"),
        2.0
    );
    // target_info still carries every non-identifying attribute, promoted or not.
    assert_eq!(
        app.value("target_info{cloud_region=\"eu\", deployment_environment=\"prod\", job=\"api\"}"),
        1.0
    );

    let cfg = OtlpConfig {
        promote_all_resource_attributes: true,
        ignore_resource_attributes: vec!["cloud.region".into()],
        ..Default::default()
    };
    let (app, _) = run(
        cfg,
        &request(
            &resource,
            vec![metric("g", "", gauge(vec![num(ns(0), 1.0, &[])]))],
        ),
    );
    assert_eq!(
        app.value("g{deployment_environment=\"prod\", job=\"api\", service_name=\"api\"}"),
        1.0
    );
}

#[test]
fn scope_metadata_labels_when_promoted() {
    let scope = InstrumentationScope {
        name: "io.opentelemetry.http".into(),
        version: "1.2.3".into(),
        attributes: kvs(&[("lib.kind", "server")]),
        dropped_attributes_count: 0,
    };
    let req = request_scoped(
        &[],
        Some(scope),
        vec![metric("g", "", gauge(vec![num(ns(0), 1.0, &[])]))],
    );
    // Off by default, as in Prometheus.
    let (app, _) = run(OtlpConfig::default(), &req);
    assert_eq!(app.value("g{}"), 1.0);
    let cfg = OtlpConfig {
        promote_scope_metadata: true,
        ..Default::default()
    };
    let (app, _) = run(cfg, &req);
    assert_eq!(
        app.value(
            "g{otel_scope_lib_kind=\"server\", otel_scope_name=\"io.opentelemetry.http\", otel_scope_version=\"1.2.3\"}"
        ),
        1.0
    );
}

#[test]
fn colliding_attribute_names_are_joined() {
    let (app, _) = run(
        OtlpConfig::default(),
        &request(
            &[],
            vec![metric(
                "g",
                "",
                gauge(vec![num(ns(0), 1.0, &[("a.b", "1"), ("a_b", "2"), ("a-b", "3")])]),
            )],
        ),
    );
    // Sorted by original key: "a-b" < "a.b" < "a_b".
    assert_eq!(app.value("g{a_b=\"3;1;2\"}"), 1.0);
}

#[test]
fn attribute_value_types() {
    let p = NumberDataPoint {
        time_unix_nano: ns(0),
        attributes: vec![
            kv(
                "b",
                AnyValue {
                    value: Some(any_value::Value::BoolValue(true)),
                },
            ),
            kv(
                "i",
                AnyValue {
                    value: Some(any_value::Value::IntValue(-3)),
                },
            ),
            kv(
                "d",
                AnyValue {
                    value: Some(any_value::Value::DoubleValue(0.25)),
                },
            ),
            kv("empty", s("")),
        ],
        value: Some(number_data_point::Value::AsDouble(1.0)),
        ..Default::default()
    };
    let (app, _) = run(
        OtlpConfig::default(),
        &request(&[], vec![metric("g", "", gauge(vec![p]))]),
    );
    assert_eq!(app.value("g{b=\"true\", d=\"0.25\", i=\"-3\"}"), 1.0);
}

#[test]
fn translation_strategies() {
    let req = request(
        &[],
        vec![metric(
            "http.server.requests",
            "s",
            sum(vec![num(ns(0), 1.0, &[("http.method", "GET")])], true, CUMULATIVE),
        )],
    );
    let names = |strategy| {
        let (app, _) = run(
            OtlpConfig {
                translation: strategy,
                ..Default::default()
            },
            &req,
        );
        app.rec
            .samples
            .iter()
            .map(|r| r.labels.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(TranslationStrategy::UnderscoreEscapingWithSuffixes),
        vec!["http_server_requests_seconds_total{http_method=\"GET\"}"]
    );
    assert_eq!(
        names(TranslationStrategy::UnderscoreEscapingWithoutSuffixes),
        vec!["http_server_requests{http_method=\"GET\"}"]
    );
    assert_eq!(
        names(TranslationStrategy::NoUtf8EscapingWithSuffixes),
        vec!["http.server.requests_seconds_total{http.method=\"GET\"}"]
    );
    assert_eq!(
        names(TranslationStrategy::NoTranslation),
        vec!["http.server.requests{http.method=\"GET\"}"]
    );
}

#[test]
fn rejections_are_counted_with_the_first_error() {
    let req = request(
        &[],
        vec![
            // Unspecified temporality: invalid.
            metric(
                "bad.temporality",
                "",
                sum(vec![num(ns(0), 1.0, &[]), num(ns(1), 1.0, &[])], true, 0),
            ),
            // A name that translates to nothing.
            metric("...", "", gauge(vec![num(ns(0), 1.0, &[])])),
            // No timestamp.
            metric("no.time", "", gauge(vec![num(0, 1.0, &[])])),
            metric("ok", "", gauge(vec![num(ns(0), 1.0, &[])])),
            // Empty data points: dropped with an error, not counted.
            metric("empty", "", gauge(vec![])),
        ],
    );
    let (app, report) = run(OtlpConfig::default(), &req);
    assert_eq!(report.accepted, 1);
    assert_eq!(report.rejected, 4);
    assert_eq!(
        report.first_error.as_deref(),
        Some("invalid temporality and type combination for metric \"bad.temporality\"")
    );
    assert_eq!(app.lines(), vec![format!("ok{{}} {} 1", ms(0))]);
}

#[test]
fn appender_refusals_reject_the_point() {
    let otlp = OtlpMetrics::new(OtlpConfig::default());
    let mut app = RecAppender {
        refuse_name: Some("h_bucket".into()),
        ..Default::default()
    };
    let h = HistogramDataPoint {
        time_unix_nano: ns(0),
        count: 1,
        bucket_counts: vec![1],
        explicit_bounds: vec![],
        ..Default::default()
    };
    let req = request(
        &[],
        vec![
            metric(
                "h",
                "",
                Data::Histogram(Histogram {
                    data_points: vec![h],
                    aggregation_temporality: CUMULATIVE,
                }),
            ),
            metric("g", "", gauge(vec![num(ns(0), 1.0, &[])])),
        ],
    );
    let report = otlp.ingest(&req, &mut app);
    assert_eq!((report.accepted, report.rejected), (1, 1));
    let msg = report.first_error.unwrap();
    assert!(msg.contains("out of order") && msg.contains("h_bucket"), "{msg}");
}

#[test]
fn delta_sums_become_cumulative() {
    let otlp = OtlpMetrics::new(OtlpConfig::default());
    let point = |start: u64, t: u64, v: f64| NumberDataPoint {
        attributes: kvs(&[("k", "v")]),
        start_time_unix_nano: ns(start),
        time_unix_nano: ns(t),
        value: Some(number_data_point::Value::AsInt(v as i64)),
        ..Default::default()
    };
    let send = |points: Vec<NumberDataPoint>| {
        let mut app = RecAppender::new();
        let req = request(
            &[("service.name", "svc")],
            vec![metric("jobs", "", sum(points, true, DELTA))],
        );
        let r = otlp.ingest(&req, &mut app);
        (app.find("jobs_total{job=\"svc\", k=\"v\"}"), r)
    };
    assert_eq!(send(vec![point(0, 10, 3.0)]).0, vec![(ms(10), 3.0)]);
    assert_eq!(
        send(vec![point(10, 20, 2.0), point(20, 30, 5.0)]).0,
        vec![(ms(20), 5.0), (ms(30), 10.0)]
    );
    // A retry of an old point is dropped and reported.
    let (samples, report) = send(vec![point(20, 30, 5.0)]);
    assert!(samples.is_empty());
    assert_eq!(report.rejected, 1);
    assert!(report.first_error.unwrap().contains("out of order"));
    // A gap is fine.
    assert_eq!(send(vec![point(40, 50, 1.0)]).0, vec![(ms(50), 11.0)]);
    assert_eq!(otlp.delta_streams(), 1);
    // Non-monotonic delta sums (up-down counters) accumulate too.
    let mut app = RecAppender::new();
    let req = request(
        &[],
        vec![metric(
            "inflight",
            "",
            sum(vec![num(ns(1), 2.0, &[]), num(ns(2), -1.0, &[])], false, DELTA),
        )],
    );
    otlp.ingest(&req, &mut app);
    assert_eq!(app.find("inflight{}"), vec![(ms(1), 2.0), (ms(2), 1.0)]);
}

#[test]
fn delta_histograms_become_cumulative() {
    let otlp = OtlpMetrics::new(OtlpConfig::default());
    let point = |t: u64, counts: Vec<u64>, s: f64| HistogramDataPoint {
        start_time_unix_nano: ns(t - 10),
        time_unix_nano: ns(t),
        count: counts.iter().sum(),
        sum: Some(s),
        bucket_counts: counts,
        explicit_bounds: vec![1.0, 5.0],
        ..Default::default()
    };
    let mut app = RecAppender::new();
    let req = request(
        &[],
        vec![metric(
            "d",
            "s",
            Data::Histogram(Histogram {
                data_points: vec![point(10, vec![1, 0, 1], 7.0), point(20, vec![0, 2, 0], 4.0)],
                aggregation_temporality: DELTA,
            }),
        )],
    );
    let report = otlp.ingest(&req, &mut app);
    assert_eq!(report.accepted, 2);
    assert_eq!(
        app.find("d_seconds_bucket{le=\"1\"}"),
        vec![(ms(10), 1.0), (ms(20), 1.0)]
    );
    assert_eq!(
        app.find("d_seconds_bucket{le=\"5\"}"),
        vec![(ms(10), 1.0), (ms(20), 3.0)]
    );
    assert_eq!(
        app.find("d_seconds_bucket{le=\"+Inf\"}"),
        vec![(ms(10), 2.0), (ms(20), 4.0)]
    );
    assert_eq!(app.find("d_seconds_sum{}"), vec![(ms(10), 7.0), (ms(20), 11.0)]);
    assert_eq!(app.find("d_seconds_count{}"), vec![(ms(10), 2.0), (ms(20), 4.0)]);

    // Exponential delta histograms with different scales merge at the coarser scale.
    let e = |t: u64, scale: i32, counts: Vec<u64>| ExponentialHistogramDataPoint {
        start_time_unix_nano: ns(t - 10),
        time_unix_nano: ns(t),
        count: counts.iter().sum(),
        sum: Some(1.0),
        scale,
        positive: Some(Buckets {
            offset: 0,
            bucket_counts: counts,
        }),
        ..Default::default()
    };
    let mut app = RecAppender::new();
    let req = request(
        &[],
        vec![metric(
            "e",
            "",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![e(10, 1, vec![1, 1]), e(20, 0, vec![2])],
                aggregation_temporality: DELTA,
            }),
        )],
    );
    otlp.ingest(&req, &mut app);
    // Second point: scale 0, bucket 0 = (1,2] holds 2 + 2.
    assert_eq!(app.find("e_bucket{le=\"2\"}"), vec![(ms(10), 2.0), (ms(20), 4.0)]);
    assert_eq!(app.find("e_count{}"), vec![(ms(10), 2.0), (ms(20), 4.0)]);
}

#[test]
fn delta_state_is_bounded() {
    let cfg = OtlpConfig {
        delta: sightline_otlp::DeltaConfig {
            max_streams: 2,
            max_stale: std::time::Duration::from_secs(60),
        },
        ..Default::default()
    };
    let otlp = OtlpMetrics::new(cfg);
    let points = (0..3)
        .map(|i| num(ns(1), 1.0, &[("i", &i.to_string())]))
        .collect();
    let mut app = RecAppender::new();
    let t0 = std::time::Instant::now();
    let req = request(&[], vec![metric("c", "", sum(points, true, DELTA))]);
    let report = otlp.ingest_at(&req, &mut app, t0);
    assert_eq!((report.accepted, report.rejected), (2, 1));
    assert!(report.first_error.unwrap().contains("limit of 2 streams"));
    assert_eq!(otlp.delta_streams(), 2);
    // After the streams go idle they are evicted and new ones fit.
    let points = vec![num(ns(2), 1.0, &[("i", "9")])];
    let req = request(&[], vec![metric("c", "", sum(points, true, DELTA))]);
    let report = otlp.ingest_at(&req, &mut app, t0 + std::time::Duration::from_secs(61));
    assert_eq!(report.accepted, 1);
    assert_eq!(otlp.delta_streams(), 1);
}

#[test]
fn receiver_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<OtlpMetrics>();
}
