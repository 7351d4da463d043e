//! Sightline's own metrics, served on `/metrics` in OpenMetrics text.
//!
//! Every ingest path reports the same three things (received, rejected by
//! reason, requests by status code), so one dashboard covers them all.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::fmt;
use std::sync::Arc;

type L = Vec<(String, String)>;

/// Ingest counters shared by every protocol handler and listener.
#[derive(Clone, Debug, Default)]
pub struct IngestMetrics {
    received: Family<L, Counter>,
    rejected: Family<L, Counter>,
    requests: Family<L, Counter>,
}

impl IngestMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "sightline_ingest_samples_received",
            "Samples accepted into storage, by ingest path",
            m.received.clone(),
        );
        registry.register(
            "sightline_ingest_samples_rejected",
            "Samples refused, by ingest path and reason",
            m.rejected.clone(),
        );
        registry.register(
            "sightline_ingest_requests",
            "Ingest requests (or datagrams), by path and status code",
            m.requests.clone(),
        );
        m
    }

    pub fn received(&self, path: &str, n: u64) {
        if n > 0 {
            self.received
                .get_or_create(&vec![("path".into(), path.into())])
                .inc_by(n);
        }
    }

    pub fn rejected(&self, path: &str, reason: &str, n: u64) {
        if n > 0 {
            self.rejected
                .get_or_create(&vec![
                    ("path".into(), path.into()),
                    ("reason".into(), reason.into()),
                ])
                .inc_by(n);
        }
    }

    pub fn request(&self, path: &str, code: u16) {
        self.requests
            .get_or_create(&vec![
                ("path".into(), path.into()),
                ("code".into(), code.to_string()),
            ])
            .inc();
    }
}

/// HTTP request durations by route.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    durations: Family<L, Histogram, fn() -> Histogram>,
}

impl HttpMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        fn make() -> Histogram {
            Histogram::new(exponential_buckets(0.0005, 4.0, 9))
        }
        let m = Self {
            durations: Family::new_with_constructor(make),
        };
        registry.register(
            "sightline_http_request_duration_seconds",
            "HTTP request latency by route, method and status code",
            m.durations.clone(),
        );
        m
    }

    pub fn observe(&self, handler: &str, method: &str, code: u16, seconds: f64) {
        self.durations
            .get_or_create(&vec![
                ("handler".into(), handler.into()),
                ("method".into(), method.into()),
                ("code".into(), code.to_string()),
            ])
            .observe(seconds);
    }
}

/// A gauge (or, with `counter`, a counter) whose value is read when
/// `/metrics` is scraped. Counter names get `_total` when rendered.
pub struct GaugeFn {
    pub name: &'static str,
    pub help: &'static str,
    pub counter: bool,
    pub read: Box<dyn Fn() -> Vec<(L, f64)> + Send + Sync>,
}

/// Registers gauges computed at scrape time (store statistics and the like).
#[derive(Clone)]
pub struct GaugeCollector(Arc<Vec<GaugeFn>>);

impl GaugeCollector {
    pub fn register(registry: &mut Registry, gauges: Vec<GaugeFn>) {
        registry.register_collector(Box::new(GaugeCollector(Arc::new(gauges))));
    }
}

impl fmt::Debug for GaugeCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|g| g.name)).finish()
    }
}

impl Collector for GaugeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        for g in self.0.iter() {
            let values = (g.read)();
            let kind = if g.counter {
                prometheus_client::metrics::MetricType::Counter
            } else {
                prometheus_client::metrics::MetricType::Gauge
            };
            let mut metric = encoder.encode_descriptor(g.name, g.help, None, kind)?;
            let one = |m: prometheus_client::encoding::MetricEncoder<'_>, v: f64| {
                if g.counter {
                    ConstCounter::new(v).encode(m)
                } else {
                    ConstGauge::new(v).encode(m)
                }
            };
            match values.as_slice() {
                [(labels, v)] if labels.is_empty() => one(metric, *v)?,
                _ => {
                    for (labels, v) in values {
                        one(metric.encode_family(&labels)?, v)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Renders the registry as OpenMetrics text.
pub fn render(registry: &Registry) -> String {
    let mut out = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let mut r = Registry::default();
        let ing = IngestMetrics::register(&mut r);
        ing.received("remote_write", 5);
        ing.rejected("remote_write", "out_of_order", 2);
        GaugeCollector::register(
            &mut r,
            vec![
                GaugeFn {
                    name: "sightline_tsdb_head_series",
                    help: "Series in the head",
                    counter: false,
                    read: Box::new(|| vec![(vec![], 42.0)]),
                },
                GaugeFn {
                    name: "sightline_tsdb_out_of_order_samples",
                    help: "Samples refused",
                    counter: true,
                    read: Box::new(|| vec![(vec![], 3.0)]),
                },
            ],
        );
        let text = render(&r);
        assert!(
            text.contains("sightline_ingest_samples_received_total{path=\"remote_write\"} 5"),
            "{text}"
        );
        assert!(text.contains(
            "sightline_ingest_samples_rejected_total{path=\"remote_write\",reason=\"out_of_order\"} 2"
        ));
        assert!(text.contains("sightline_tsdb_head_series 42.0\n"), "{text}");
        assert!(
            text.contains("# TYPE sightline_tsdb_out_of_order_samples counter\n"),
            "{text}"
        );
        assert!(
            text.contains("sightline_tsdb_out_of_order_samples_total 3"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
