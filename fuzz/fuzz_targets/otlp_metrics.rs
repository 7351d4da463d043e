//! OTLP metrics: no panic on any body, as protobuf or as OTLP/JSON; a decoded
//! request translates without panic, every data point is counted as accepted
//! or rejected, and a protobuf request re-encodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use sightline_model::{AppendError, Appender, CommitStats, LabelRef, SeriesRef, StorageError};
use sightline_otlp::proto::metrics::v1::metric::Data;
use sightline_otlp::{OtlpConfig, OtlpMetrics};

/// Checks what the translator hands to a store: names present, values kept.
struct Check {
    samples: u64,
}

impl Appender for Check {
    fn append(&mut self, labels: &[LabelRef<'_>], _t: i64, _v: f64) -> Result<SeriesRef, AppendError> {
        assert!(labels.iter().any(|l| l.name == "__name__" && !l.value.is_empty()));
        self.samples += 1;
        Ok(SeriesRef(self.samples))
    }
    fn append_ref(&mut self, _: SeriesRef, _: i64, _: f64) -> Result<(), AppendError> {
        Err(AppendError::UnknownSeriesRef)
    }
    fn commit(self: Box<Self>) -> Result<CommitStats, StorageError> {
        Ok(CommitStats::default())
    }
    fn rollback(self: Box<Self>) {}
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let ct = if mode & 1 == 0 {
        "application/x-protobuf"
    } else {
        "application/json"
    };
    let req = match OtlpMetrics::decode_request(body, ct) {
        Ok(r) => r,
        Err(e) => {
            let _ = (e.kind(), e.to_string());
            return;
        }
    };
    if mode & 1 == 0 {
        let again = req.encode_to_vec();
        let back = OtlpMetrics::decode_request(&again, ct).expect("re-encoded request decodes");
        // Bytes, not messages: NaN doubles never compare equal.
        assert_eq!(back.encode_to_vec(), again);
    }
    let points: u64 = req
        .resource_metrics
        .iter()
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| match &m.data {
            None => 0,
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
        } as u64)
        .sum();
    let cfg = OtlpConfig {
        promote_scope_metadata: mode & 2 != 0,
        ..OtlpConfig::default()
    };
    let otlp = OtlpMetrics::new(cfg);
    let mut app = Check { samples: 0 };
    // Twice: the second pass runs delta points against existing state.
    for _ in 0..2 {
        let report = otlp.ingest(&req, &mut app);
        assert_eq!(report.accepted + report.rejected, points);
        let _ = OtlpMetrics::encode_response(&report, ct);
    }
});
