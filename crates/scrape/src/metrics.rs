//! The scraper's self-metrics, under Prometheus's names where Prometheus
//! has one. Counters are registered without `_total`: the registry's
//! encoder appends it.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type LabelSet = Vec<(String, String)>;

fn interval_histogram() -> Histogram {
    Histogram::new([
        0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    ])
}

/// Counters and gauges shared by the manager, pools and loops.
#[derive(Clone)]
pub struct Metrics {
    pub interval_length: Family<LabelSet, Histogram, fn() -> Histogram>,
    pub pool_targets: Family<LabelSet, Gauge>,
    pub pools_total: Counter,
    pub pools_failed: Counter,
    pub pool_reloads: Counter,
    pub pool_reloads_failed: Counter,
    pub pool_exceeded_target_limit: Counter,
    pub exceeded_sample_limit: Counter,
    pub exceeded_body_size_limit: Counter,
    pub exceeded_label_limits: Counter,
    pub out_of_order: Counter,
    pub duplicate_timestamp: Counter,
    pub out_of_bounds: Counter,
    pub sd_file_read_errors: Counter,
    pub sd_discovered_targets: Family<LabelSet, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            interval_length: Family::new_with_constructor(interval_histogram),
            pool_targets: Family::default(),
            pools_total: Counter::default(),
            pools_failed: Counter::default(),
            pool_reloads: Counter::default(),
            pool_reloads_failed: Counter::default(),
            pool_exceeded_target_limit: Counter::default(),
            exceeded_sample_limit: Counter::default(),
            exceeded_body_size_limit: Counter::default(),
            exceeded_label_limits: Counter::default(),
            out_of_order: Counter::default(),
            duplicate_timestamp: Counter::default(),
            out_of_bounds: Counter::default(),
            sd_file_read_errors: Counter::default(),
            sd_discovered_targets: Family::default(),
        }
    }
}

impl Metrics {
    /// Creates the metrics and registers them.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "prometheus_target_interval_length_seconds",
            "Actual intervals between scrapes",
            m.interval_length.clone(),
        );
        registry.register(
            "prometheus_target_scrape_pool_targets",
            "Current number of targets in this scrape pool",
            m.pool_targets.clone(),
        );
        registry.register(
            "prometheus_target_scrape_pools",
            "Total number of scrape pool creation attempts",
            m.pools_total.clone(),
        );
        registry.register(
            "prometheus_target_scrape_pools_failed",
            "Total number of scrape pool creations that failed",
            m.pools_failed.clone(),
        );
        registry.register(
            "prometheus_target_scrape_pool_reloads",
            "Total number of scrape pool reloads",
            m.pool_reloads.clone(),
        );
        registry.register(
            "prometheus_target_scrape_pool_reloads_failed",
            "Total number of failed scrape pool reloads",
            m.pool_reloads_failed.clone(),
        );
        registry.register(
            "prometheus_target_scrape_pool_exceeded_target_limit",
            "Total number of times scrape pools hit the target limit",
            m.pool_exceeded_target_limit.clone(),
        );
        registry.register(
            "prometheus_target_scrapes_exceeded_sample_limit",
            "Total number of scrapes that hit the sample limit and were rejected",
            m.exceeded_sample_limit.clone(),
        );
        registry.register(
            "prometheus_target_scrapes_exceeded_body_size_limit",
            "Total number of scrapes that hit the body size limit",
            m.exceeded_body_size_limit.clone(),
        );
        registry.register(
            "prometheus_target_scrape_pool_exceeded_label_limits",
            "Total number of times scrapes hit the label limits",
            m.exceeded_label_limits.clone(),
        );
        registry.register(
            "prometheus_target_scrapes_sample_out_of_order",
            "Total number of samples rejected due to not being out of the expected order",
            m.out_of_order.clone(),
        );
        registry.register(
            "prometheus_target_scrapes_sample_duplicate_timestamp",
            "Total number of samples rejected due to duplicate timestamps but different values",
            m.duplicate_timestamp.clone(),
        );
        registry.register(
            "prometheus_target_scrapes_sample_out_of_bounds",
            "Total number of samples rejected due to timestamp falling outside of the time bounds",
            m.out_of_bounds.clone(),
        );
        registry.register(
            "prometheus_sd_file_read_errors",
            "The number of File-SD read errors",
            m.sd_file_read_errors.clone(),
        );
        registry.register(
            "prometheus_sd_discovered_targets",
            "Current number of discovered targets",
            m.sd_discovered_targets.clone(),
        );
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_prometheus() {
        let mut r = Registry::default();
        let m = Metrics::register(&mut r);
        m.pools_total.inc();
        m.pool_targets
            .get_or_create(&vec![("scrape_job".into(), "node".into())])
            .set(3);
        m.interval_length
            .get_or_create(&vec![("interval".into(), "15s".into())])
            .observe(15.0);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        assert!(out.contains("prometheus_target_scrape_pools_total 1\n"), "{out}");
        assert!(
            out.contains("prometheus_target_scrape_pool_targets{scrape_job=\"node\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("prometheus_target_scrapes_exceeded_sample_limit_total 0\n"),
            "{out}"
        );
        assert!(
            out.contains("prometheus_target_scrapes_sample_out_of_order_total 0\n"),
            "{out}"
        );
        assert!(
            out.contains("prometheus_target_interval_length_seconds_count{interval=\"15s\"} 1\n"),
            "{out}"
        );
    }
}
