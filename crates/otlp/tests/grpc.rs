//! OTLP/gRPC round trip: a real tonic server on loopback, the generated
//! client, plain and gzip-compressed requests, commits through `Storage`.

mod common;

use common::*;
use sightline_otlp::proto::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, NumberDataPoint, Sum,
};
use sightline_otlp::{metrics_grpc_service, MetricsServiceClient, OtlpConfig, OtlpMetrics};
use std::sync::Arc;
use tonic::codec::CompressionEncoding;

fn counter(name: &str, t: u64, v: i64) -> sightline_otlp::ExportMetricsServiceRequest {
    request(
        &[("service.name", "grpc-test"), ("host.name", "h1")],
        vec![metric(
            name,
            "By",
            Data::Sum(Sum {
                data_points: vec![NumberDataPoint {
                    attributes: kvs(&[("dir", "rx")]),
                    start_time_unix_nano: ns(0),
                    time_unix_nano: t,
                    value: Some(number_data_point::Value::AsInt(v)),
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
        )],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_round_trip_plain_and_gzip() {
    let storage = Arc::new(RecStorage::default());
    let shared = storage.shared.clone();
    let otlp = Arc::new(OtlpMetrics::new(OtlpConfig::default()));
    let svc = metrics_grpc_service(otlp, storage);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), async {
                let _ = stop_rx.await;
            })
            .await
    });

    let mut client = MetricsServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let resp = client
        .export(counter("net.io", ns(1_000), 10))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.partial_success, None);

    let mut gz = client.clone().send_compressed(CompressionEncoding::Gzip);
    let resp = gz
        .export(counter("net.io", ns(2_000), 25))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.partial_success, None);

    // A rejected point comes back as partial success.
    let mut bad = counter("net.io", ns(3_000), 1);
    if let Some(Data::Sum(s)) = &mut bad.resource_metrics[0].scope_metrics[0].metrics[0].data {
        s.aggregation_temporality = AggregationTemporality::Unspecified as i32;
    }
    let resp = client.export(bad).await.unwrap().into_inner();
    let ps = resp.partial_success.expect("partial success");
    assert_eq!(ps.rejected_data_points, 1);
    assert!(
        ps.error_message.contains("invalid temporality"),
        "{}",
        ps.error_message
    );

    {
        let rec = shared.lock();
        assert_eq!(rec.commits, 3);
        let series: Vec<(i64, f64)> = rec
            .samples
            .iter()
            .filter(|r| r.labels.to_string() == "net_io_bytes_total{dir=\"rx\", job=\"grpc-test\"}")
            .map(|r| (r.t, r.v))
            .collect();
        assert_eq!(series, vec![(ms(1_000), 10.0), (ms(2_000), 25.0)]);
        assert!(rec
            .samples
            .iter()
            .any(|r| r.labels.to_string() == "target_info{host_name=\"h1\", job=\"grpc-test\"}"));
        assert!(rec.metadata.iter().any(|(f, _)| f == "net_io_bytes_total"));
    }

    stop_tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_failures_map_to_grpc_codes() {
    let cases: [(fn() -> sightline_model::StorageError, tonic::Code); 2] = [
        (
            || sightline_model::StorageError::Io(std::io::Error::other("disk full")),
            tonic::Code::Unavailable,
        ),
        (
            || sightline_model::StorageError::Append(sightline_model::AppendError::Limit("series".into())),
            tonic::Code::ResourceExhausted,
        ),
    ];
    for (fail, code) in cases {
        let storage = Arc::new(RecStorage {
            fail_commit: Some(fail),
            ..Default::default()
        });
        let svc = metrics_grpc_service(Arc::new(OtlpMetrics::new(OtlpConfig::default())), storage);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let mut client = MetricsServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let status = client.export(counter("c", ns(0), 1)).await.unwrap_err();
        assert_eq!(status.code(), code, "{status:?}");
        assert!(
            status.message().starts_with("commit failed: "),
            "{}",
            status.message()
        );
        server.abort();
    }
}
