//! RED metrics and service-graph metrics from spans, with Tempo's metric
//! names, kept as cumulative counters in memory and written through
//! [`sightline_model::Appender`].
//!
//! Span metrics (one series set per `service`, `span_name`, `span_kind`,
//! `status_code` plus configured dimensions):
//! `traces_spanmetrics_calls_total`, `traces_spanmetrics_latency_bucket`
//! (`le` in seconds), `_sum`, `_count`.
//!
//! Service graph: a CLIENT (or PRODUCER) span and the SERVER (or CONSUMER)
//! span whose parent it is form one request `client -> server` (labels
//! `client`, `server` = the two services). Halves wait in a pairing table
//! keyed by (trace id, client span id) for at most `wait_ns`; the table
//! holds at most `max_pending` halves (more are dropped and counted in
//! `traces_service_graph_dropped_spans_total`); expired halves count in
//! `traces_service_graph_unpaired_spans_total`. A pair yields
//! `traces_service_graph_request_total`, `_failed_total` (either side has
//! status error), and histograms `_request_server_seconds_*` (server span
//! duration) and `_request_client_seconds_*` (client span duration).
//!
//! Cardinality guard: at most `max_series` label sets per generator (span
//! metrics and edges separately); spans beyond it are counted in one
//! overflow series whose only label is `metric_overflow="true"`, so totals
//! stay right.

use crate::model::{Span, SpanKind, StatusCode};
use parking_lot::Mutex;
use sightline_model::{AppendError, Appender, LabelRef, MetricMetadata, MetricType};
use std::collections::HashMap;

pub const CALLS: &str = "traces_spanmetrics_calls_total";
pub const LATENCY: &str = "traces_spanmetrics_latency";
pub const SG_TOTAL: &str = "traces_service_graph_request_total";
pub const SG_FAILED: &str = "traces_service_graph_request_failed_total";
pub const SG_SERVER: &str = "traces_service_graph_request_server_seconds";
pub const SG_CLIENT: &str = "traces_service_graph_request_client_seconds";
pub const SG_UNPAIRED: &str = "traces_service_graph_unpaired_spans_total";
pub const SG_DROPPED: &str = "traces_service_graph_dropped_spans_total";

/// Generator configuration. Defaults are Tempo's.
#[derive(Clone, Debug)]
pub struct Config {
    /// Extra label dimensions: attribute keys looked up on the span, then
    /// the resource; the label name is the key with characters outside
    /// `[a-zA-Z0-9_]` replaced by `_`. Absent attributes give no label.
    pub dimensions: Vec<String>,
    /// Latency histogram upper bounds in seconds (ascending; `+Inf` added).
    pub latency_buckets: Vec<f64>,
    /// Service-graph histogram upper bounds in seconds.
    pub graph_buckets: Vec<f64>,
    pub max_series: usize,
    /// How long a half of a client/server pair waits for the other.
    pub wait_ns: i64,
    pub max_pending: usize,
    /// Generate service-graph metrics at all.
    pub service_graph: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            dimensions: Vec::new(),
            latency_buckets: vec![
                0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
                16.384,
            ],
            graph_buckets: vec![0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8],
            max_series: 10_000,
            wait_ns: 10_000_000_000,
            max_pending: 10_000,
            service_graph: true,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Hist {
    /// Non-cumulative counts per bucket; the last is `+Inf`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Hist {
    fn observe(&mut self, bounds: &[f64], v: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; bounds.len() + 1];
        }
        let i = bounds.iter().position(|&b| v <= b).unwrap_or(bounds.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }
}

type Key = Vec<(String, String)>;

#[derive(Default)]
struct Calls {
    calls: u64,
    latency: Hist,
}

#[derive(Default)]
struct Edge {
    total: u64,
    failed: u64,
    server: Hist,
    client: Hist,
}

#[derive(Clone)]
struct Half {
    service: String,
    dur_s: f64,
    failed: bool,
    seen_ns: i64,
}

#[derive(Default)]
struct Pending {
    client: Option<Half>,
    server: Option<Half>,
}

#[derive(Default)]
struct State {
    calls: HashMap<Key, Calls>,
    edges: HashMap<Key, Edge>,
    pending: HashMap<([u8; 16], [u8; 8]), Pending>,
    unpaired: u64,
    dropped: u64,
    overflowed: u64,
}

/// Counters of the generator itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub span_series: usize,
    pub edge_series: usize,
    pub pending: usize,
    pub unpaired: u64,
    pub dropped: u64,
    /// Observations routed to overflow series by the cardinality guard.
    pub overflowed: u64,
}

/// The span-metrics and service-graph generator.
pub struct SpanMetrics {
    cfg: Config,
    dim_labels: Vec<String>,
    state: Mutex<State>,
}

fn sanitize(k: &str) -> String {
    let mut s: String = k
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

fn overflow_key() -> Key {
    vec![("metric_overflow".into(), "true".into())]
}

impl SpanMetrics {
    pub fn new(cfg: Config) -> SpanMetrics {
        let dim_labels = cfg.dimensions.iter().map(|d| sanitize(d)).collect();
        SpanMetrics {
            cfg,
            dim_labels,
            state: Mutex::new(State::default()),
        }
    }

    /// Counts `spans`; `now_ns` stamps pairing-table entries.
    pub fn observe(&self, spans: &[Span], now_ns: i64) {
        let mut st = self.state.lock();
        for s in spans {
            let dur_s = s.duration_ns() as f64 / 1e9;
            let mut key: Key = vec![
                ("service".into(), s.service_name()),
                ("span_name".into(), s.name.clone()),
                ("span_kind".into(), s.kind.otlp_name().into()),
                ("status_code".into(), s.status.code.otlp_name().into()),
            ];
            for (d, l) in self.cfg.dimensions.iter().zip(&self.dim_labels) {
                if let Some(v) = s.attr(d).or_else(|| s.resource_attr(d)) {
                    let v = v.as_text();
                    if !v.is_empty() {
                        key.push((l.clone(), v));
                    }
                }
            }
            key.sort();
            if !st.calls.contains_key(&key) && st.calls.len() >= self.cfg.max_series {
                st.overflowed += 1;
                key = overflow_key();
            }
            let c = st.calls.entry(key).or_default();
            c.calls += 1;
            c.latency.observe(&self.cfg.latency_buckets, dur_s);
            if self.cfg.service_graph {
                self.pair(&mut st, s, dur_s, now_ns);
            }
        }
    }

    fn pair(&self, st: &mut State, s: &Span, dur_s: f64, now_ns: i64) {
        let (key, is_client) = match s.kind {
            SpanKind::Client | SpanKind::Producer => ((s.trace_id, s.span_id), true),
            SpanKind::Server | SpanKind::Consumer => match s.parent_span_id {
                Some(p) => ((s.trace_id, p), false),
                None => return,
            },
            _ => return,
        };
        let half = Half {
            service: s.service_name(),
            dur_s,
            failed: s.status.code == StatusCode::Error,
            seen_ns: now_ns,
        };
        if !st.pending.contains_key(&key) && st.pending.len() >= self.cfg.max_pending {
            st.dropped += 1;
            return;
        }
        let p = st.pending.entry(key).or_default();
        if is_client {
            p.client = Some(half);
        } else {
            p.server = Some(half);
        }
        if let (Some(c), Some(sv)) = (&p.client, &p.server) {
            let (c, sv) = (c.clone(), sv.clone());
            st.pending.remove(&key);
            let mut ek: Key = vec![("client".into(), c.service), ("server".into(), sv.service)];
            if !st.edges.contains_key(&ek) && st.edges.len() >= self.cfg.max_series {
                st.overflowed += 1;
                ek = overflow_key();
            }
            let e = st.edges.entry(ek).or_default();
            e.total += 1;
            e.failed += u64::from(c.failed || sv.failed);
            e.server.observe(&self.cfg.graph_buckets, sv.dur_s);
            e.client.observe(&self.cfg.graph_buckets, c.dur_s);
        }
    }

    /// Drops halves older than `wait_ns`, counting them as unpaired.
    pub fn expire(&self, now_ns: i64) {
        let mut st = self.state.lock();
        let wait = self.cfg.wait_ns;
        let before = st.pending.len();
        st.pending.retain(|_, p| {
            let seen = p
                .client
                .iter()
                .chain(&p.server)
                .map(|h| h.seen_ns)
                .max()
                .unwrap_or(now_ns);
            now_ns.saturating_sub(seen) <= wait
        });
        let gone = (before - st.pending.len()) as u64;
        st.unpaired += gone;
    }

    pub fn stats(&self) -> Stats {
        let st = self.state.lock();
        Stats {
            span_series: st.calls.len(),
            edge_series: st.edges.len(),
            pending: st.pending.len(),
            unpaired: st.unpaired,
            dropped: st.dropped,
            overflowed: st.overflowed,
        }
    }

    /// Appends the current cumulative value of every series at `t_ms`
    /// (the caller commits). Returns the number of samples appended.
    pub fn write(&self, app: &mut dyn Appender, t_ms: i64) -> Result<usize, AppendError> {
        let st = self.state.lock();
        let mut n = 0;
        let counter = |help: &str| MetricMetadata {
            metric_type: MetricType::Counter,
            help: help.into(),
            unit: String::new(),
        };
        let hist = |help: &str| MetricMetadata {
            metric_type: MetricType::Histogram,
            help: help.into(),
            unit: "seconds".into(),
        };
        app.set_metadata(
            CALLS,
            &counter("Spans received, per service, span name, kind and status"),
        );
        app.set_metadata(LATENCY, &hist("Span duration in seconds"));
        for (k, c) in &st.calls {
            n += put(app, CALLS, k, None, t_ms, c.calls as f64)?;
            n += put_hist(app, LATENCY, k, &self.cfg.latency_buckets, &c.latency, t_ms)?;
        }
        if self.cfg.service_graph {
            app.set_metadata(SG_TOTAL, &counter("Requests between two services"));
            app.set_metadata(SG_FAILED, &counter("Failed requests between two services"));
            app.set_metadata(SG_SERVER, &hist("Server-side request duration"));
            app.set_metadata(SG_CLIENT, &hist("Client-side request duration"));
            for (k, e) in &st.edges {
                n += put(app, SG_TOTAL, k, None, t_ms, e.total as f64)?;
                n += put(app, SG_FAILED, k, None, t_ms, e.failed as f64)?;
                n += put_hist(app, SG_SERVER, k, &self.cfg.graph_buckets, &e.server, t_ms)?;
                n += put_hist(app, SG_CLIENT, k, &self.cfg.graph_buckets, &e.client, t_ms)?;
            }
            n += put(app, SG_UNPAIRED, &[], None, t_ms, st.unpaired as f64)?;
            n += put(app, SG_DROPPED, &[], None, t_ms, st.dropped as f64)?;
        }
        Ok(n)
    }
}

fn put(
    app: &mut dyn Appender,
    name: &str,
    key: &[(String, String)],
    le: Option<&str>,
    t: i64,
    v: f64,
) -> Result<usize, AppendError> {
    let mut l: Vec<LabelRef<'_>> = Vec::with_capacity(key.len() + 2);
    l.push(LabelRef::new(sightline_model::labels::METRIC_NAME, name));
    l.extend(key.iter().map(|(k, v)| LabelRef::new(k, v)));
    if let Some(le) = le {
        l.push(LabelRef::new("le", le));
    }
    app.append(&l, t, v)?;
    Ok(1)
}

fn put_hist(
    app: &mut dyn Appender,
    base: &str,
    key: &[(String, String)],
    bounds: &[f64],
    h: &Hist,
    t: i64,
) -> Result<usize, AppendError> {
    let bucket = format!("{base}_bucket");
    let mut n = 0;
    let mut cum = 0u64;
    for i in 0..=bounds.len() {
        cum += h.counts.get(i).copied().unwrap_or(0);
        let le = bounds
            .get(i)
            .map_or_else(|| "+Inf".to_string(), |b| format!("{b}"));
        n += put(app, &bucket, key, Some(&le), t, cum as f64)?;
    }
    n += put(app, &format!("{base}_sum"), key, None, t, h.sum)?;
    n += put(app, &format!("{base}_count"), key, None, t, h.count as f64)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Status, Value};
    use sightline_model::{CommitStats, Labels, SeriesRef, StorageError};
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Rec(BTreeMap<String, f64>);

    impl Appender for Rec {
        fn append(&mut self, labels: &[LabelRef<'_>], _t: i64, v: f64) -> Result<SeriesRef, AppendError> {
            let l = Labels::from_refs(labels);
            let name = l.get("__name__").unwrap_or("").to_string();
            // `le` last, as the expectations are written
            let mut rest: Vec<String> = l
                .iter()
                .filter(|p| p.name != "__name__" && p.name != "le")
                .map(|p| format!("{}=\"{}\"", p.name, p.value))
                .collect();
            if let Some(le) = l.get("le") {
                rest.push(format!("le=\"{le}\""));
            }
            self.0.insert(format!("{name}{{{}}}", rest.join(",")), v);
            Ok(SeriesRef(0))
        }
        fn append_ref(&mut self, _: SeriesRef, _: i64, _: f64) -> Result<(), AppendError> {
            Ok(())
        }
        fn commit(self: Box<Self>) -> Result<CommitStats, StorageError> {
            Ok(CommitStats::default())
        }
        fn rollback(self: Box<Self>) {}
    }

    fn span(id: u8, parent: Option<u8>, svc: &str, name: &str, kind: SpanKind, dur_ms: i64) -> Span {
        Span {
            trace_id: [1; 16],
            span_id: [id; 8],
            parent_span_id: parent.map(|p| [p; 8]),
            name: name.into(),
            kind,
            start_ns: 0,
            end_ns: dur_ms * 1_000_000,
            resource: vec![("service.name".into(), Value::Str(svc.into()))],
            attributes: vec![("http.method".into(), Value::Str("GET".into()))],
            ..Default::default()
        }
    }

    #[test]
    fn red_and_service_graph() {
        let sm = SpanMetrics::new(Config {
            dimensions: vec!["http.method".into()],
            ..Config::default()
        });
        let mut server = span(2, Some(1), "api", "GET /x", SpanKind::Server, 3);
        server.status = Status {
            code: StatusCode::Error,
            message: String::new(),
        };
        // server half arrives first, then the client
        sm.observe(&[server], 0);
        assert_eq!(sm.stats().pending, 1);
        sm.observe(&[span(1, None, "web", "call api", SpanKind::Client, 5)], 1);
        sm.observe(&[span(3, None, "web", "call api", SpanKind::Client, 1)], 2);
        let mut r = Rec::default();
        let n = sm.write(&mut r, 1000).unwrap();
        assert_eq!(n, r.0.len());
        let m = &r.0;
        let k = r#"http_method="GET",service="web",span_kind="SPAN_KIND_CLIENT",span_name="call api",status_code="STATUS_CODE_UNSET""#;
        assert_eq!(m[&format!("traces_spanmetrics_calls_total{{{k}}}")], 2.0);
        assert_eq!(
            m[&format!("traces_spanmetrics_latency_bucket{{{k},le=\"0.002\"}}")],
            1.0
        );
        assert_eq!(
            m[&format!("traces_spanmetrics_latency_bucket{{{k},le=\"0.004\"}}")],
            1.0
        );
        assert_eq!(
            m[&format!("traces_spanmetrics_latency_bucket{{{k},le=\"0.008\"}}")],
            2.0
        );
        assert_eq!(
            m[&format!("traces_spanmetrics_latency_bucket{{{k},le=\"+Inf\"}}")],
            2.0
        );
        assert_eq!(m[&format!("traces_spanmetrics_latency_count{{{k}}}")], 2.0);
        assert!((m[&format!("traces_spanmetrics_latency_sum{{{k}}}")] - 0.006).abs() < 1e-12);
        let e = r#"client="web",server="api""#;
        assert_eq!(m[&format!("traces_service_graph_request_total{{{e}}}")], 1.0);
        assert_eq!(
            m[&format!("traces_service_graph_request_failed_total{{{e}}}")],
            1.0
        );
        assert_eq!(
            m[&format!("traces_service_graph_request_server_seconds_bucket{{{e},le=\"0.1\"}}")],
            1.0
        );
        assert_eq!(
            m[&format!("traces_service_graph_request_client_seconds_count{{{e}}}")],
            1.0
        );
        // the second client span never pairs: expired as unpaired
        assert_eq!(sm.stats().pending, 1);
        sm.expire(2 + 10_000_000_001);
        assert_eq!(sm.stats().pending, 0);
        assert_eq!(sm.stats().unpaired, 1);
        let mut r = Rec::default();
        sm.write(&mut r, 2000).unwrap();
        assert_eq!(r.0["traces_service_graph_unpaired_spans_total{}"], 1.0);
    }

    #[test]
    fn cardinality_and_pending_bounds() {
        let sm = SpanMetrics::new(Config {
            max_series: 2,
            max_pending: 1,
            ..Config::default()
        });
        for i in 0..5u8 {
            sm.observe(
                &[span(i + 1, None, "svc", &format!("op{i}"), SpanKind::Client, 1)],
                0,
            );
        }
        let st = sm.stats();
        assert_eq!(st.span_series, 3, "two real series and the overflow series");
        assert_eq!(st.overflowed, 3);
        assert_eq!(st.pending, 1);
        assert_eq!(st.dropped, 4);
        let mut r = Rec::default();
        sm.write(&mut r, 0).unwrap();
        assert_eq!(
            r.0["traces_spanmetrics_calls_total{metric_overflow=\"true\"}"],
            3.0
        );
        assert_eq!(sanitize("http.method"), "http_method");
        assert_eq!(sanitize("1a"), "_1a");
    }
}
