//! OTLP metrics to samples, as Prometheus 3's OTLP receiver translates them.
//!
//! Per data point the label set is built in this order, later steps winning:
//! 1. data-point attributes, sorted by key, names translated; attributes whose
//!    names collide after translation are joined with `;` in key order; an
//!    attribute named `__name__` is dropped;
//! 2. promoted resource attributes, only where no attribute set the label;
//! 3. scope labels (with `promote_scope_metadata`);
//! 4. `job` (`service.namespace/service.name`) and `instance`
//!    (`service.instance.id`);
//! 5. `__name__` and `le`/`quantile`.

use crate::attrs::value_to_string;
use crate::config::OtlpConfig;
use crate::delta::{self, DeltaToCumulative};
use crate::exphist::ExpHist;
use crate::naming::{format_bound, metric_name, LabelNamer, MetricKind, NameError};
use crate::IngestReport;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, ExponentialHistogramDataPoint,
    HistogramDataPoint, NumberDataPoint, ResourceMetrics, SummaryDataPoint,
};
use parking_lot::Mutex;
use sightline_model::{stale_nan, Appender, LabelRef, MetricMetadata, MetricType, METRIC_NAME};
use std::collections::HashSet;
use std::time::Instant;
use xxhash_rust::xxh3::Xxh3;

const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";
const TARGET_INFO: &str = "target_info";
/// `target_info` samples per resource and request at most (a resource whose
/// points span more than this many half-lookback steps gets the latest ones).
const MAX_TARGET_INFO_SAMPLES: i64 = 100;
const FLAG_NO_RECORDED_VALUE: u32 = 1;

type Pairs = Vec<(String, String)>;

fn set(pairs: &mut Pairs, name: &str, value: String) {
    if let Some(p) = pairs.iter_mut().find(|(n, _)| n == name) {
        p.1 = value;
    } else {
        pairs.push((name.to_string(), value));
    }
}

/// Converts one request; owns the report while it runs.
pub(crate) struct Translator<'a> {
    pub cfg: &'a OtlpConfig,
    pub namer: LabelNamer,
    pub delta: &'a Mutex<DeltaToCumulative>,
    pub now: Instant,
    pub app: &'a mut dyn Appender,
    pub report: IngestReport,
    target_info_seen: HashSet<(u64, i64)>,
    target_info_meta: bool,
}

/// What every point of one resource and scope shares.
struct Context {
    promoted: Pairs,
    scope: Pairs,
    job: Option<String>,
    instance: Option<String>,
    /// Stream identity of resource + scope, extended per point for deltas.
    identity: Xxh3,
}

impl<'a> Translator<'a> {
    pub fn new(
        cfg: &'a OtlpConfig,
        namer: LabelNamer,
        delta: &'a Mutex<DeltaToCumulative>,
        now: Instant,
        app: &'a mut dyn Appender,
    ) -> Self {
        Self {
            cfg,
            namer,
            delta,
            now,
            app,
            report: IngestReport::default(),
            target_info_seen: HashSet::new(),
            target_info_meta: false,
        }
    }

    pub fn run(mut self, req: &ExportMetricsServiceRequest) -> IngestReport {
        for rm in &req.resource_metrics {
            self.resource(rm);
        }
        self.report
    }

    fn error(&mut self, msg: impl FnOnce() -> String) {
        if self.report.first_error.is_none() {
            self.report.first_error = Some(msg());
        }
    }

    fn reject(&mut self, points: u64, msg: impl FnOnce() -> String) {
        self.report.rejected += points;
        self.error(msg);
    }

    fn resource(&mut self, rm: &ResourceMetrics) {
        let empty = Vec::new();
        let rattrs: &Vec<KeyValue> = rm.resource.as_ref().map(|r| &r.attributes).unwrap_or(&empty);
        let get = |k: &str| {
            rattrs
                .iter()
                .rev()
                .find(|kv| kv.key == k)
                .map(|kv| value_to_string(kv.value.as_ref()))
        };
        let job = get(SERVICE_NAME).map(|name| match get(SERVICE_NAMESPACE) {
            Some(ns) => format!("{ns}/{name}"),
            None => name,
        });
        let instance = get(SERVICE_INSTANCE_ID);

        // Promoted resource attributes, sorted by original key.
        let mut promoted_raw: Vec<(&str, String)> = rattrs
            .iter()
            .filter(|kv| {
                if self.cfg.promote_all_resource_attributes {
                    !self.cfg.ignore_resource_attributes.contains(&kv.key)
                } else {
                    self.cfg.promote_resource_attributes.contains(&kv.key)
                }
            })
            .map(|kv| (kv.key.as_str(), value_to_string(kv.value.as_ref())))
            .collect();
        promoted_raw.sort_by(|a, b| a.0.cmp(b.0));
        let mut promoted = Pairs::new();
        for (k, v) in promoted_raw {
            match self.namer.build(k) {
                Ok(n) => {
                    if !promoted.iter().any(|(pn, _)| pn.as_str() == n) {
                        promoted.push((n.into_owned(), v));
                    }
                }
                Err(e) => self.error(|| e.to_string()),
            }
        }

        let mut res_identity = Xxh3::new();
        let mut sorted: Vec<(&str, String)> = rattrs
            .iter()
            .map(|kv| (kv.key.as_str(), value_to_string(kv.value.as_ref())))
            .collect();
        sorted.sort();
        for (k, v) in &sorted {
            hash_str(&mut res_identity, k);
            hash_str(&mut res_identity, v);
        }
        res_identity.update(&[0xfe]);

        let (mut min_ts, mut max_ts) = (u64::MAX, 0u64);
        for sm in &rm.scope_metrics {
            let scope = sm.scope.as_ref();
            let mut identity = res_identity.clone();
            let mut scope_labels = Pairs::new();
            if let Some(s) = scope {
                hash_str(&mut identity, &s.name);
                hash_str(&mut identity, &s.version);
                let mut sa: Vec<(&str, String)> = s
                    .attributes
                    .iter()
                    .map(|kv| (kv.key.as_str(), value_to_string(kv.value.as_ref())))
                    .collect();
                sa.sort();
                for (k, v) in &sa {
                    hash_str(&mut identity, k);
                    hash_str(&mut identity, v);
                }
                if self.cfg.promote_scope_metadata && !s.name.is_empty() {
                    set(&mut scope_labels, "otel_scope_name", s.name.clone());
                    set(&mut scope_labels, "otel_scope_version", s.version.clone());
                    set(&mut scope_labels, "otel_scope_schema_url", sm.schema_url.clone());
                    for (k, v) in sa {
                        let raw = format!("otel_scope_{k}");
                        match self.namer.build(&raw) {
                            Ok(n) => set(&mut scope_labels, &n, v),
                            Err(e) => self.error(|| e.to_string()),
                        }
                    }
                }
            }
            identity.update(&[0xfe]);
            let ctx = Context {
                promoted: promoted.clone(),
                scope: scope_labels,
                job: job.clone(),
                instance: instance.clone(),
                identity,
            };
            for m in &sm.metrics {
                for t in point_times(&m.data) {
                    if t != 0 {
                        min_ts = min_ts.min(t);
                        max_ts = max_ts.max(t);
                    }
                }
                self.metric(&ctx, m);
            }
        }
        if min_ts != u64::MAX {
            self.target_info(rattrs, job.as_deref(), instance.as_deref(), min_ts, max_ts);
        }
    }

    fn target_info(
        &mut self,
        rattrs: &[KeyValue],
        job: Option<&str>,
        instance: Option<&str>,
        min_ns: u64,
        max_ns: u64,
    ) {
        let identifying = [SERVICE_NAMESPACE, SERVICE_NAME, SERVICE_INSTANCE_ID];
        let non_identifying = rattrs
            .iter()
            .filter(|kv| !identifying.contains(&kv.key.as_str()))
            .count();
        if non_identifying == 0 {
            return;
        }
        if job.is_none() && instance.is_none() {
            return;
        }
        let ignore: &[&str] = if self.cfg.keep_identifying_resource_attributes {
            &[]
        } else {
            &identifying
        };
        let mut labels = match self.attribute_labels(rattrs, ignore) {
            Ok(l) => l,
            Err(e) => {
                self.error(|| format!("target_info: {e}"));
                return;
            }
        };
        if let Some(j) = job {
            set(&mut labels, "job", j.to_string());
        }
        if let Some(i) = instance {
            set(&mut labels, "instance", i.to_string());
        }
        set(&mut labels, METRIC_NAME, TARGET_INFO.to_string());
        let hash = {
            let mut sorted: Vec<&(String, String)> = labels.iter().collect();
            sorted.sort();
            let mut h = Xxh3::new();
            for (n, v) in sorted {
                hash_str(&mut h, n);
                hash_str(&mut h, v);
            }
            h.digest()
        };
        if !self.target_info_meta {
            self.target_info_meta = true;
            self.app.set_metadata(
                TARGET_INFO,
                &MetricMetadata {
                    metric_type: MetricType::Gauge,
                    help: "Target metadata".into(),
                    unit: String::new(),
                },
            );
        }
        let (lo, hi) = (ns_to_ms(min_ns), ns_to_ms(max_ns));
        let step = (self.cfg.lookback_delta.as_millis() as i64 / 2).max(1);
        let lo = lo.max(hi - step * (MAX_TARGET_INFO_SAMPLES - 1));
        let mut ts = Vec::new();
        let mut t = lo;
        while t < hi {
            ts.push(t);
            t += step;
        }
        if ts.last().is_none_or(|l| *l < hi) {
            ts.push(hi);
        }
        let refs: Vec<LabelRef<'_>> = labels.iter().map(|(n, v)| LabelRef::new(n, v)).collect();
        for t in ts {
            if !self.target_info_seen.insert((hash, t)) {
                continue;
            }
            match self.app.append(&refs, t, 1.0) {
                Ok(_) => self.report.samples += 1,
                Err(e) => {
                    self.report.target_info_errors += 1;
                    if self.report.first_error.is_none() {
                        self.report.first_error = Some(format!("target_info: {e}"));
                    }
                }
            }
        }
    }

    /// Step 1 of the label rules for `attrs`, skipping keys in `ignore`.
    fn attribute_labels(&self, attrs: &[KeyValue], ignore: &[&str]) -> Result<Pairs, NameError> {
        let mut sorted: Vec<&KeyValue> = attrs
            .iter()
            .filter(|kv| kv.key != METRIC_NAME && !ignore.contains(&kv.key.as_str()))
            .collect();
        sorted.sort_by(|a, b| a.key.cmp(&b.key));
        let mut out = Pairs::with_capacity(sorted.len() + 4);
        for kv in sorted {
            let name = self.namer.build(&kv.key)?;
            let value = value_to_string(kv.value.as_ref());
            if let Some(p) = out.iter_mut().find(|(n, _)| *n == name) {
                p.1.push(';');
                p.1.push_str(&value);
            } else {
                out.push((name.into_owned(), value));
            }
        }
        Ok(out)
    }

    /// All label rules except `__name__`/`le`/`quantile`.
    fn base_labels(&self, ctx: &Context, attrs: &[KeyValue]) -> Result<Pairs, NameError> {
        let mut l = self.attribute_labels(attrs, &[])?;
        for (n, v) in &ctx.promoted {
            if !l.iter().any(|(ln, _)| ln == n) {
                l.push((n.clone(), v.clone()));
            }
        }
        for (n, v) in &ctx.scope {
            set(&mut l, n, v.clone());
        }
        if let Some(j) = &ctx.job {
            set(&mut l, "job", j.clone());
        }
        if let Some(i) = &ctx.instance {
            set(&mut l, "instance", i.clone());
        }
        Ok(l)
    }

    /// Appends one sample named `name` with `base` plus an optional extra label.
    fn emit(
        &mut self,
        base: &Pairs,
        name: &str,
        extra: Option<(&str, &str)>,
        t: i64,
        v: f64,
    ) -> Result<(), String> {
        let mut refs: Vec<LabelRef<'_>> = Vec::with_capacity(base.len() + 2);
        for (n, val) in base {
            if n == METRIC_NAME || extra.is_some_and(|(en, _)| en == n) {
                continue;
            }
            refs.push(LabelRef::new(n, val));
        }
        refs.push(LabelRef::new(METRIC_NAME, name));
        if let Some((n, val)) = extra {
            refs.push(LabelRef::new(n, val));
        }
        match self.app.append(&refs, t, v) {
            Ok(_) => {
                self.report.samples += 1;
                Ok(())
            }
            Err(e) => Err(format!(
                "{e} (series {})",
                sightline_model::Labels::from_refs(&refs)
            )),
        }
    }

    fn finish_point(&mut self, result: Result<(), String>) {
        match result {
            Ok(()) => self.report.accepted += 1,
            Err(msg) => self.reject(1, || msg),
        }
    }

    fn stream_key(
        ctx: &Context,
        m: &opentelemetry_proto::tonic::metrics::v1::Metric,
        kind: MetricKind,
        attrs: &[KeyValue],
    ) -> u128 {
        let mut h = ctx.identity.clone();
        hash_str(&mut h, &m.name);
        hash_str(&mut h, &m.unit);
        h.update(&[kind as u8]);
        let mut a: Vec<(&str, String)> = attrs
            .iter()
            .map(|kv| (kv.key.as_str(), value_to_string(kv.value.as_ref())))
            .collect();
        a.sort();
        for (k, v) in a {
            hash_str(&mut h, k);
            hash_str(&mut h, &v);
        }
        h.digest128()
    }

    fn metric(&mut self, ctx: &Context, m: &opentelemetry_proto::tonic::metrics::v1::Metric) {
        let Some(data) = &m.data else {
            self.error(|| format!("metric {:?} has no data (unsupported metric type)", m.name));
            return;
        };
        let (kind, temporality, npoints, mtype) = match data {
            Data::Gauge(g) => (MetricKind::Gauge, None, g.data_points.len(), MetricType::Gauge),
            Data::Sum(s) => {
                if s.is_monotonic {
                    (
                        MetricKind::MonotonicCounter,
                        Some(s.aggregation_temporality),
                        s.data_points.len(),
                        MetricType::Counter,
                    )
                } else {
                    (
                        MetricKind::NonMonotonicCounter,
                        Some(s.aggregation_temporality),
                        s.data_points.len(),
                        MetricType::Gauge,
                    )
                }
            }
            Data::Histogram(h) => (
                MetricKind::Histogram,
                Some(h.aggregation_temporality),
                h.data_points.len(),
                MetricType::Histogram,
            ),
            Data::ExponentialHistogram(h) => (
                MetricKind::ExponentialHistogram,
                Some(h.aggregation_temporality),
                h.data_points.len(),
                MetricType::Histogram,
            ),
            Data::Summary(s) => (
                MetricKind::Summary,
                None,
                s.data_points.len(),
                MetricType::Summary,
            ),
        };
        let is_delta = match temporality {
            None => false,
            Some(t) if t == AggregationTemporality::Cumulative as i32 => false,
            Some(t) if t == AggregationTemporality::Delta as i32 => true,
            Some(_) => {
                self.reject(npoints as u64, || {
                    format!("invalid temporality and type combination for metric {:?}", m.name)
                });
                return;
            }
        };
        let family = match metric_name(&m.name, &m.unit, kind, self.cfg.translation) {
            Ok(f) => f,
            Err(e) => {
                self.reject(npoints as u64, || e.to_string());
                return;
            }
        };
        if npoints == 0 {
            self.error(|| format!("empty data points. {} is dropped", m.name));
            return;
        }
        self.app.set_metadata(
            &family,
            &MetricMetadata {
                metric_type: mtype,
                help: m.description.clone(),
                unit: m.unit.clone(),
            },
        );
        match data {
            Data::Gauge(g) => {
                for p in &g.data_points {
                    let r = self.number_point(ctx, m, kind, &family, p, false);
                    self.finish_point(r);
                }
            }
            Data::Sum(s) => {
                for p in &s.data_points {
                    let r = self.number_point(ctx, m, kind, &family, p, is_delta);
                    self.finish_point(r);
                }
            }
            Data::Histogram(h) => {
                for p in &h.data_points {
                    let r = self.histogram_point(ctx, m, kind, &family, p, is_delta);
                    self.finish_point(r);
                }
            }
            Data::ExponentialHistogram(h) => {
                for p in &h.data_points {
                    let r = self.exp_point(ctx, m, kind, &family, p, is_delta);
                    self.finish_point(r);
                }
            }
            Data::Summary(s) => {
                for p in &s.data_points {
                    let r = self.summary_point(ctx, &family, p);
                    self.finish_point(r);
                }
            }
        }
    }

    fn check_time(&self, name: &str, t: u64) -> Result<i64, String> {
        if t == 0 {
            return Err(format!(
                "data point of metric {name:?} has no timestamp (time_unix_nano is 0)"
            ));
        }
        Ok(ns_to_ms(t))
    }

    /// Runs a delta point through the accumulator.
    #[allow(clippy::too_many_arguments)]
    fn accumulate(
        &self,
        ctx: &Context,
        m: &opentelemetry_proto::tonic::metrics::v1::Metric,
        kind: MetricKind,
        attrs: &[KeyValue],
        start: u64,
        time: u64,
        v: delta::Value,
    ) -> Result<delta::Value, String> {
        let key = Self::stream_key(ctx, m, kind, attrs);
        self.delta
            .lock()
            .accumulate(key, start, time, v, self.now)
            .map_err(|e| format!("metric {:?}: {e}", m.name))
    }

    fn number_point(
        &mut self,
        ctx: &Context,
        m: &opentelemetry_proto::tonic::metrics::v1::Metric,
        kind: MetricKind,
        family: &str,
        p: &NumberDataPoint,
        is_delta: bool,
    ) -> Result<(), String> {
        let t = self.check_time(&m.name, p.time_unix_nano)?;
        let base = self.base_labels(ctx, &p.attributes).map_err(|e| e.to_string())?;
        let mut v = match p.value {
            Some(number_data_point::Value::AsDouble(d)) => d,
            Some(number_data_point::Value::AsInt(i)) => i as f64,
            None => 0.0,
        };
        if p.flags & FLAG_NO_RECORDED_VALUE != 0 {
            v = stale_nan();
        } else if is_delta {
            match self.accumulate(
                ctx,
                m,
                kind,
                &p.attributes,
                p.start_time_unix_nano,
                p.time_unix_nano,
                delta::Value::Number(v),
            )? {
                delta::Value::Number(c) => v = c,
                _ => unreachable!("number stream accumulates numbers"),
            }
        }
        self.emit(&base, family, None, t, v)
    }

    fn histogram_point(
        &mut self,
        ctx: &Context,
        m: &opentelemetry_proto::tonic::metrics::v1::Metric,
        kind: MetricKind,
        family: &str,
        p: &HistogramDataPoint,
        is_delta: bool,
    ) -> Result<(), String> {
        let t = self.check_time(&m.name, p.time_unix_nano)?;
        let base = self.base_labels(ctx, &p.attributes).map_err(|e| e.to_string())?;
        let stale = p.flags & FLAG_NO_RECORDED_VALUE != 0;
        let n = p.explicit_bounds.len().min(p.bucket_counts.len());
        let (count, sum, bounds, counts) = if is_delta && !stale {
            let v = delta::Value::Histogram {
                count: p.count,
                sum: p.sum,
                bounds: p.explicit_bounds[..n].to_vec(),
                counts: p.bucket_counts[..n].to_vec(),
            };
            match self.accumulate(
                ctx,
                m,
                kind,
                &p.attributes,
                p.start_time_unix_nano,
                p.time_unix_nano,
                v,
            )? {
                delta::Value::Histogram {
                    count,
                    sum,
                    bounds,
                    counts,
                } => (count, sum, bounds, counts),
                _ => unreachable!("histogram stream accumulates histograms"),
            }
        } else {
            (
                p.count,
                p.sum,
                p.explicit_bounds[..n].to_vec(),
                p.bucket_counts[..n].to_vec(),
            )
        };
        let buckets: Vec<(f64, u64)> = bounds
            .iter()
            .zip(counts.iter())
            .scan(0u64, |cum, (b, c)| {
                *cum = cum.saturating_add(*c);
                Some((*b, *cum))
            })
            .collect();
        self.emit_histogram(&base, family, t, count, sum, &buckets, stale)
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_histogram(
        &mut self,
        base: &Pairs,
        family: &str,
        t: i64,
        count: u64,
        sum: Option<f64>,
        buckets: &[(f64, u64)],
        stale: bool,
    ) -> Result<(), String> {
        let val = |v: f64| if stale { stale_nan() } else { v };
        let mut first_err: Option<String> = None;
        let mut note = |r: Result<(), String>| {
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        };
        if let Some(s) = sum {
            note(self.emit(base, &format!("{family}_sum"), None, t, val(s)));
        }
        note(self.emit(base, &format!("{family}_count"), None, t, val(count as f64)));
        let bucket = format!("{family}_bucket");
        for (le, cum) in buckets {
            note(self.emit(
                base,
                &bucket,
                Some(("le", &format_bound(*le))),
                t,
                val(*cum as f64),
            ));
        }
        note(self.emit(base, &bucket, Some(("le", "+Inf")), t, val(count as f64)));
        first_err.map_or(Ok(()), Err)
    }

    fn exp_point(
        &mut self,
        ctx: &Context,
        m: &opentelemetry_proto::tonic::metrics::v1::Metric,
        kind: MetricKind,
        family: &str,
        p: &ExponentialHistogramDataPoint,
        is_delta: bool,
    ) -> Result<(), String> {
        let t = self.check_time(&m.name, p.time_unix_nano)?;
        let base = self.base_labels(ctx, &p.attributes).map_err(|e| e.to_string())?;
        let stale = p.flags & FLAG_NO_RECORDED_VALUE != 0;
        let mut h = ExpHist::from_point(p).map_err(|e| format!("metric {:?}: {e}", m.name))?;
        if is_delta && !stale {
            match self.accumulate(
                ctx,
                m,
                kind,
                &p.attributes,
                p.start_time_unix_nano,
                p.time_unix_nano,
                delta::Value::Exponential(h),
            )? {
                delta::Value::Exponential(c) => h = c,
                _ => unreachable!("exponential stream accumulates exponential histograms"),
            }
        }
        let buckets = h.classic_buckets(self.cfg.exp_histogram_max_scale);
        self.emit_histogram(&base, family, t, h.count, h.sum, &buckets, stale)
    }

    fn summary_point(&mut self, ctx: &Context, family: &str, p: &SummaryDataPoint) -> Result<(), String> {
        let t = self.check_time(family, p.time_unix_nano)?;
        let base = self.base_labels(ctx, &p.attributes).map_err(|e| e.to_string())?;
        let stale = p.flags & FLAG_NO_RECORDED_VALUE != 0;
        let val = |v: f64| if stale { stale_nan() } else { v };
        let mut first_err = None;
        for r in [
            self.emit(&base, &format!("{family}_sum"), None, t, val(p.sum)),
            self.emit(&base, &format!("{family}_count"), None, t, val(p.count as f64)),
        ] {
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        for q in &p.quantile_values {
            if let Err(e) = self.emit(
                &base,
                family,
                Some(("quantile", &format_bound(q.quantile))),
                t,
                val(q.value),
            ) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

fn hash_str(h: &mut Xxh3, s: &str) {
    h.update(&(s.len() as u64).to_le_bytes());
    h.update(s.as_bytes());
}

/// Nanoseconds to milliseconds, as Prometheus does (`int64(ns) / 1e6`).
pub(crate) fn ns_to_ms(ns: u64) -> i64 {
    (ns as i64) / 1_000_000
}

fn point_times(data: &Option<Data>) -> Vec<u64> {
    match data {
        None => Vec::new(),
        Some(Data::Gauge(g)) => g.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(Data::Sum(s)) => s.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(Data::Histogram(h)) => h.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.iter().map(|p| p.time_unix_nano).collect(),
        Some(Data::Summary(s)) => s.data_points.iter().map(|p| p.time_unix_nano).collect(),
    }
}
