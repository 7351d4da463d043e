//! Test helpers: a recording appender/storage and builders for OTLP messages.
#![allow(dead_code)]

use parking_lot::Mutex;
use sightline_model::{
    AppendError, Appender, CommitStats, LabelRef, Labels, MetricMetadata, Querier, SeriesRef, Storage,
    StorageError,
};
use sightline_otlp::proto::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use sightline_otlp::proto::metrics::v1::{metric, Metric, ResourceMetrics, ScopeMetrics};
use sightline_otlp::proto::resource::v1::Resource;
use sightline_otlp::ExportMetricsServiceRequest;
use std::sync::Arc;

/// One appended sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Rec {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// Everything a batch recorded.
#[derive(Default, Debug)]
pub struct Recorded {
    pub samples: Vec<Rec>,
    pub metadata: Vec<(String, MetricMetadata)>,
    pub commits: usize,
}

/// Appender recording into a buffer; `commit` moves it into `shared` when set.
#[derive(Default)]
pub struct RecAppender {
    pub rec: Recorded,
    pub shared: Option<Arc<Mutex<Recorded>>>,
    /// Refuse samples whose series has this metric name.
    pub refuse_name: Option<String>,
    /// Make `commit` fail with this error kind.
    pub fail_commit: Option<fn() -> StorageError>,
}

impl RecAppender {
    pub fn new() -> Self {
        Self::default()
    }

    /// Samples as `(series text, t, v)` sorted, for readable assertions.
    pub fn lines(&self) -> Vec<String> {
        lines(&self.rec.samples)
    }

    pub fn find(&self, series: &str) -> Vec<(i64, f64)> {
        self.rec
            .samples
            .iter()
            .filter(|r| r.labels.to_string() == series)
            .map(|r| (r.t, r.v))
            .collect()
    }

    pub fn value(&self, series: &str) -> f64 {
        let v = self.find(series);
        assert_eq!(
            v.len(),
            1,
            "expected one sample of {series}, got {v:?}; all: {:#?}",
            self.lines()
        );
        v[0].1
    }
}

pub fn lines(samples: &[Rec]) -> Vec<String> {
    let mut out: Vec<String> = samples
        .iter()
        .map(|r| format!("{} {} {}", r.labels, r.t, r.v))
        .collect();
    out.sort();
    out
}

impl Appender for RecAppender {
    fn append(&mut self, labels: &[LabelRef<'_>], t: i64, v: f64) -> Result<SeriesRef, AppendError> {
        let labels = Labels::from_refs(labels);
        if let Some(n) = &self.refuse_name {
            if labels.metric_name() == Some(n.as_str()) {
                return Err(AppendError::OutOfOrder);
            }
        }
        let h = labels.hash64();
        self.rec.samples.push(Rec { labels, t, v });
        Ok(SeriesRef(h))
    }

    fn append_ref(&mut self, _series: SeriesRef, _t: i64, _v: f64) -> Result<(), AppendError> {
        Err(AppendError::UnknownSeriesRef)
    }

    fn set_metadata(&mut self, family: &str, meta: &MetricMetadata) {
        self.rec.metadata.push((family.to_string(), meta.clone()));
    }

    fn commit(self: Box<Self>) -> Result<CommitStats, StorageError> {
        if let Some(f) = self.fail_commit {
            return Err(f());
        }
        let n = self.rec.samples.len() as u64;
        if let Some(shared) = &self.shared {
            let mut s = shared.lock();
            s.samples.extend(self.rec.samples);
            s.metadata.extend(self.rec.metadata);
            s.commits += 1;
        }
        Ok(CommitStats {
            samples: n,
            new_series: 0,
        })
    }

    fn rollback(self: Box<Self>) {}
}

/// A `Storage` whose appenders record committed batches.
#[derive(Default)]
pub struct RecStorage {
    pub shared: Arc<Mutex<Recorded>>,
    /// Every commit fails with this error.
    pub fail_commit: Option<fn() -> StorageError>,
}

impl Storage for RecStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(RecAppender {
            shared: Some(self.shared.clone()),
            fail_commit: self.fail_commit,
            ..Default::default()
        })
    }

    fn querier(&self, _mint: i64, _maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        Err(StorageError::Other("not a queryable store".into()))
    }
}

// ---- builders ----

pub fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    }
}

pub fn kv(k: &str, v: AnyValue) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(v),
        ..Default::default()
    }
}

pub fn kvs(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
    pairs.iter().map(|(k, v)| kv(k, s(v))).collect()
}

pub fn metric(name: &str, unit: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.into(),
        description: format!("{name} help"),
        unit: unit.into(),
        metadata: vec![],
        data: Some(data),
    }
}

pub fn request(resource: &[(&str, &str)], metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    request_scoped(resource, None, metrics)
}

pub fn request_scoped(
    resource: &[(&str, &str)],
    scope: Option<InstrumentationScope>,
    metrics: Vec<Metric>,
) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: kvs(resource),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope,
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// 2024-01-01T00:00:00Z in nanoseconds, plus `ms` milliseconds.
pub fn ns(ms: u64) -> u64 {
    (1_704_067_200_000 + ms) * 1_000_000
}

/// The same instant in milliseconds.
pub fn ms(ms: i64) -> i64 {
    1_704_067_200_000 + ms
}
