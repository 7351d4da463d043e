//! OTLP/JSON decoding as the OTLP specification writes it (lowerCamelCase
//! names, 64-bit integers as strings or numbers, enums as integers, trace and
//! span ids as hex), HTTP request/response encodings and decode errors.

mod common;

use common::*;
use prost::Message;
use sightline_otlp::proto::common::v1::any_value::Value as AV;
use sightline_otlp::proto::metrics::v1::{exemplar, metric::Data, number_data_point};
use sightline_otlp::{DecodeError, ExportMetricsServiceResponse, IngestReport, OtlpConfig, OtlpMetrics};

/// Shaped like the OTLP repository's `examples/metrics.json` (a delta counter,
/// a gauge and a delta histogram; int64 fields as JSON numbers).
const SPEC_STYLE: &str = r#"{
  "resourceMetrics": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
    "scopeMetrics": [{
      "scope": {"name": "my.library", "version": "1.0.0",
                "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}]},
      "metrics": [
        {"name": "my.counter", "unit": "1", "description": "I am a Counter",
         "sum": {"aggregationTemporality": 1, "isMonotonic": true,
                 "dataPoints": [{"asDouble": 5, "startTimeUnixNano": 1544712660300000000,
                                 "timeUnixNano": 1544712660300000000,
                                 "attributes": [{"key": "my.counter.attr", "value": {"stringValue": "some value"}}]}]}},
        {"name": "my.gauge", "unit": "1", "description": "I am a Gauge",
         "gauge": {"dataPoints": [{"asDouble": 10, "timeUnixNano": 1544712660300000000,
                                   "attributes": [{"key": "my.gauge.attr", "value": {"stringValue": "some value"}}]}]}},
        {"name": "my.histogram", "unit": "1", "description": "I am a Histogram",
         "histogram": {"aggregationTemporality": 1,
                       "dataPoints": [{"startTimeUnixNano": 1544712660300000000, "timeUnixNano": 1544712660300000000,
                                       "count": 3, "sum": 3, "bucketCounts": [1, 1, 1], "explicitBounds": [1],
                                       "min": 1, "max": 1,
                                       "attributes": [{"key": "my.histogram.attr", "value": {"stringValue": "some value"}}]}]}}
      ]
    }]
  }]
}"#;

#[test]
fn spec_style_example_decodes_and_translates() {
    let req = OtlpMetrics::decode_request(SPEC_STYLE.as_bytes(), "application/json").unwrap();
    let sm = &req.resource_metrics[0].scope_metrics[0];
    assert_eq!(sm.scope.as_ref().unwrap().version, "1.0.0");
    assert_eq!(sm.metrics.len(), 3);
    match &sm.metrics[0].data {
        Some(Data::Sum(s)) => {
            assert_eq!(s.aggregation_temporality, 1);
            assert!(s.is_monotonic);
            assert_eq!(s.data_points[0].time_unix_nano, 1_544_712_660_300_000_000);
            assert_eq!(
                s.data_points[0].value,
                Some(number_data_point::Value::AsDouble(5.0))
            );
        }
        other => panic!("expected a sum, got {other:?}"),
    }

    let otlp = OtlpMetrics::new(OtlpConfig::default());
    let mut app = RecAppender::new();
    let report = otlp.ingest(&req, &mut app);
    assert_eq!(
        (report.accepted, report.rejected),
        (3, 0),
        "{:?}",
        report.first_error
    );
    let t: i64 = 1_544_712_660_300;
    assert_eq!(
        app.lines(),
        vec![
            format!("my_counter_total{{job=\"my.service\", my_counter_attr=\"some value\"}} {t} 5"),
            format!("my_gauge_ratio{{job=\"my.service\", my_gauge_attr=\"some value\"}} {t} 10"),
            format!("my_histogram_bucket{{job=\"my.service\", le=\"+Inf\", my_histogram_attr=\"some value\"}} {t} 3"),
            format!("my_histogram_bucket{{job=\"my.service\", le=\"1\", my_histogram_attr=\"some value\"}} {t} 1"),
            format!("my_histogram_count{{job=\"my.service\", my_histogram_attr=\"some value\"}} {t} 3"),
            format!("my_histogram_sum{{job=\"my.service\", my_histogram_attr=\"some value\"}} {t} 3"),
        ]
    );
}

#[test]
fn json_scalar_encodings() {
    let body = r#"{"resourceMetrics":[{"resource":{"attributes":[
        {"key":"i","value":{"intValue":"-42"}},
        {"key":"j","value":{"intValue":7}},
        {"key":"d","value":{"doubleValue":"NaN"}},
        {"key":"b","value":{"boolValue":true}},
        {"key":"bytes","value":{"bytesValue":"aGVsbG8="}},
        {"key":"arr","value":{"arrayValue":{"values":[{"stringValue":"x"},{"intValue":"1"}]}}},
        {"key":"map","value":{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}}]}}}
      ]},
      "scopeMetrics":[{"metrics":[
        {"name":"c","sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_CUMULATIVE","isMonotonic":true,
          "dataPoints":[{"asInt":"9007199254740993","timeUnixNano":"1700000000123456789",
            "exemplars":[{"asDouble":1.5,"timeUnixNano":"1700000000000000000",
              "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}},
        {"name":"e","exponentialHistogram":{"aggregationTemporality":2,"dataPoints":[
          {"timeUnixNano":"1700000000000000000","count":"3","sum":2.5,"scale":-1,"zeroCount":"1",
           "zeroThreshold":"Infinity","positive":{"offset":-2,"bucketCounts":["1",1]}}]}},
        {"name":"s","summary":{"dataPoints":[{"timeUnixNano":1700000000000000000,"count":2,"sum":"1e3",
          "quantileValues":[{"quantile":0.5,"value":"-Infinity"}]}]}}
      ]}]}]}"#;
    let req = OtlpMetrics::decode_request(body.as_bytes(), "application/json; charset=utf-8").unwrap();
    let rm = &req.resource_metrics[0];
    let attrs = &rm.resource.as_ref().unwrap().attributes;
    let v = |i: usize| attrs[i].value.as_ref().unwrap().value.clone().unwrap();
    assert_eq!(v(0), AV::IntValue(-42));
    assert_eq!(v(1), AV::IntValue(7));
    assert!(matches!(v(2), AV::DoubleValue(d) if d.is_nan()));
    assert_eq!(v(3), AV::BoolValue(true));
    assert_eq!(v(4), AV::BytesValue(b"hello".to_vec()));
    assert!(matches!(v(5), AV::ArrayValue(a) if a.values.len() == 2));
    assert!(matches!(v(6), AV::KvlistValue(m) if m.values[0].key == "k"));
    let metrics = &rm.scope_metrics[0].metrics;
    let Some(Data::Sum(sum)) = &metrics[0].data else {
        panic!()
    };
    assert_eq!(sum.aggregation_temporality, 2);
    let p = &sum.data_points[0];
    // Beyond 2^53: exact only because the string form was parsed as an integer.
    assert_eq!(
        p.value,
        Some(number_data_point::Value::AsInt(9_007_199_254_740_993))
    );
    assert_eq!(p.time_unix_nano, 1_700_000_000_123_456_789);
    let ex = &p.exemplars[0];
    assert_eq!(ex.trace_id.len(), 16);
    assert_eq!(ex.trace_id[0], 0x5b);
    assert_eq!(ex.span_id, vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]);
    assert_eq!(ex.value, Some(exemplar::Value::AsDouble(1.5)));
    let Some(Data::ExponentialHistogram(e)) = &metrics[1].data else {
        panic!()
    };
    let ep = &e.data_points[0];
    assert_eq!((ep.count, ep.scale, ep.zero_count), (3, -1, 1));
    assert_eq!(ep.zero_threshold, f64::INFINITY);
    assert_eq!(ep.positive.as_ref().unwrap().offset, -2);
    assert_eq!(ep.positive.as_ref().unwrap().bucket_counts, vec![1, 1]);
    let Some(Data::Summary(s)) = &metrics[2].data else {
        panic!()
    };
    assert_eq!(s.data_points[0].sum, 1000.0);
    assert_eq!(s.data_points[0].quantile_values[0].value, f64::NEG_INFINITY);

    // snake_case names (accepted as protobuf JSON parsers do) and unknown fields.
    let body = r#"{"resource_metrics":[{"scope_metrics":[{"metrics":[{"name":"g","future":1,
        "gauge":{"data_points":[{"as_double":1,"time_unix_nano":"1"}]}}]}]}]}"#;
    let req = OtlpMetrics::decode_request(body.as_bytes(), "application/json").unwrap();
    let Some(Data::Gauge(g)) = &req.resource_metrics[0].scope_metrics[0].metrics[0].data else {
        panic!()
    };
    assert_eq!(g.data_points[0].time_unix_nano, 1);
}

#[test]
fn decode_errors_name_the_field() {
    let cases = [
        ("{", "invalid JSON"),
        ("[]", "expected an object"),
        (r#"{"resourceMetrics":{}}"#, "resourceMetrics: expected an array"),
        (
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"timeUnixNano":"x"}]}}]}]}]}"#,
            "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].timeUnixNano",
        ),
        (
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"sum":{"dataPoints":[{"asInt":1.5}]}}]}]}]}"#,
            "asInt: 1.5 is not a 64-bit integer",
        ),
        (
            r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"exemplars":[{"traceId":"zz"}]}]}}]}]}]}"#,
            "traceId: \"zz\" is not hex",
        ),
    ];
    for (body, want) in cases {
        match OtlpMetrics::decode_request(body.as_bytes(), "application/json") {
            Err(DecodeError::Json(msg)) => assert!(msg.contains(want), "{body}: {msg}"),
            other => panic!("{body}: expected a JSON error, got {other:?}"),
        }
    }
    assert!(matches!(
        OtlpMetrics::decode_request(b"\xff\xff\xff", "application/x-protobuf"),
        Err(DecodeError::Protobuf(_))
    ));
    assert!(matches!(
        OtlpMetrics::decode_request(b"", "text/plain"),
        Err(DecodeError::UnsupportedContentType(_))
    ));
    // An empty protobuf body is a valid empty request.
    assert_eq!(
        OtlpMetrics::decode_request(b"", "application/x-protobuf")
            .unwrap()
            .resource_metrics
            .len(),
        0
    );
}

#[test]
fn protobuf_body_round_trip() {
    let req = request(
        &[("service.name", "a")],
        vec![metric(
            "g",
            "",
            Data::Gauge(sightline_otlp::proto::metrics::v1::Gauge {
                data_points: vec![sightline_otlp::proto::metrics::v1::NumberDataPoint {
                    time_unix_nano: ns(0),
                    value: Some(number_data_point::Value::AsDouble(1.0)),
                    ..Default::default()
                }],
            }),
        )],
    );
    let body = req.encode_to_vec();
    let back = OtlpMetrics::decode_request(&body, "application/x-protobuf").unwrap();
    assert_eq!(back, req);
}

#[test]
fn responses_in_both_encodings() {
    let ok = IngestReport {
        accepted: 3,
        ..Default::default()
    };
    assert_eq!(OtlpMetrics::encode_response(&ok, "application/json"), b"{}");
    assert!(OtlpMetrics::encode_response(&ok, "application/x-protobuf").is_empty());

    let partial = IngestReport {
        accepted: 1,
        rejected: 2,
        first_error: Some("bad \"thing\"".into()),
        ..Default::default()
    };
    let json: serde_json::Value =
        serde_json::from_slice(&OtlpMetrics::encode_response(&partial, "application/json")).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"partialSuccess": {"rejectedDataPoints": "2", "errorMessage": "bad \"thing\""}})
    );
    let pb = OtlpMetrics::encode_response(&partial, "application/x-protobuf");
    let resp = ExportMetricsServiceResponse::decode(pb.as_slice()).unwrap();
    let ps = resp.partial_success.unwrap();
    assert_eq!(
        (ps.rejected_data_points, ps.error_message.as_str()),
        (2, "bad \"thing\"")
    );
}
