//! Glue between the components the `serve` command starts: self-metrics
//! and health of the TSDB, the OTLP gRPC and StatsD listeners, and the
//! periodic storage maintenance task.

use anyhow::{Context, Result};
use prometheus_client::registry::Registry;
use sightline_server::health::{ComponentHealth, HealthProbe};
use sightline_server::selfmetrics::{GaugeCollector, GaugeFn};
use sightline_server::AppState;
use sightline_tsdb::db::Tsdb;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often head persistence, compaction and retention run.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);

/// Registers the TSDB's gauges and counters, read at scrape time.
pub fn register_tsdb_metrics(registry: &mut Registry, tsdb: Arc<Tsdb>) {
    type Read = fn(&sightline_tsdb::db::TsdbStats) -> f64;
    let gauges: [(&'static str, &'static str, bool, Read); 12] = [
        (
            "sightline_tsdb_head_series",
            "Series held in the in-memory head.",
            false,
            |s| s.head.num_series as f64,
        ),
        (
            "sightline_tsdb_head_chunks",
            "Chunks held in the in-memory head.",
            false,
            |s| s.head.chunks as f64,
        ),
        (
            "sightline_tsdb_head_min_time_seconds",
            "Oldest sample time in the head.",
            false,
            |s| s.head.min_t.unwrap_or(0) as f64 / 1000.0,
        ),
        (
            "sightline_tsdb_head_max_time_seconds",
            "Newest sample time in the head.",
            false,
            |s| s.head.max_t.unwrap_or(0) as f64 / 1000.0,
        ),
        (
            "sightline_tsdb_head_samples_appended",
            "Samples appended to the head.",
            true,
            |s| s.head.samples_appended as f64,
        ),
        (
            "sightline_tsdb_wal_size_bytes",
            "Bytes of WAL segments and checkpoint on disk.",
            false,
            |s| s.wal_size_bytes as f64,
        ),
        (
            "sightline_tsdb_wal_replay_truncated_bytes",
            "Bytes cut from a damaged WAL tail at the last start.",
            false,
            |s| s.wal_replay.truncated_bytes as f64,
        ),
        ("sightline_tsdb_blocks_loaded", "Persisted blocks.", false, |s| {
            s.blocks as f64
        }),
        (
            "sightline_tsdb_storage_blocks_bytes",
            "Bytes of persisted blocks on disk.",
            false,
            |s| s.block_bytes as f64,
        ),
        (
            "sightline_tsdb_out_of_order_samples",
            "Samples refused as out of order.",
            true,
            |s| s.head.rejected_out_of_order as f64,
        ),
        (
            "sightline_tsdb_duplicate_samples",
            "Samples refused for a duplicate timestamp with another value.",
            true,
            |s| s.head.rejected_duplicate as f64,
        ),
        (
            "sightline_tsdb_out_of_bounds_samples",
            "Samples refused as older than the head.",
            true,
            |s| s.head.rejected_out_of_bounds as f64,
        ),
    ];
    let fns = gauges
        .into_iter()
        .map(|(name, help, counter, read)| {
            let tsdb = tsdb.clone();
            GaugeFn {
                name,
                help,
                counter,
                read: Box::new(move || vec![(Vec::new(), read(&tsdb.stats()))]),
            }
        })
        .collect();
    GaugeCollector::register(registry, fns);
}

/// `/health` component for the metrics store.
pub struct TsdbProbe(pub Arc<Tsdb>);

impl HealthProbe for TsdbProbe {
    fn check(&self) -> ComponentHealth {
        let s = self.0.stats();
        ComponentHealth {
            name: "storage".into(),
            healthy: true,
            details: serde_json::json!({
                "head_series": s.head.num_series,
                "blocks": s.blocks,
                "wal_size_bytes": s.wal_size_bytes,
                "wal_replay_corruption": s.wal_replay.corruption,
            }),
        }
    }
}

/// Serves the OTLP gRPC services on `addr` until shutdown.
pub async fn start_otlp_grpc(
    addr: &str,
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) -> Result<JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding OTLP gRPC listener {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(listener = "otlp-grpc", address = %local, "listening");
    let otlp = state.otlp.clone().context("OTLP receiver not configured")?;
    let svc = sightline_otlp::metrics_grpc_service(otlp, state.storage.clone());
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    Ok(tokio::spawn(async move {
        let res = tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = shutdown.wait_for(|v| *v).await;
            })
            .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "OTLP gRPC server failed");
        }
    }))
}

/// Listens for StatsD datagrams on `addr` until shutdown.
pub async fn start_statsd(
    addr: &str,
    opts: sightline_server::ingest::statsd::StatsdOptions,
    state: AppState,
    shutdown: watch::Receiver<bool>,
) -> Result<JoinHandle<()>> {
    let socket = tokio::net::UdpSocket::bind(addr)
        .await
        .with_context(|| format!("binding StatsD listener {addr}"))?;
    tracing::info!(listener = "statsd", address = %socket.local_addr()?, "listening");
    Ok(tokio::spawn(sightline_server::ingest::statsd::run(
        socket, opts, state, shutdown,
    )))
}

/// `/api/v1/targets` from the scrape manager.
pub struct Targets(pub Arc<sightline_scrape::ScrapeManager>);

impl sightline_server::TargetsView for Targets {
    fn targets_json(&self, state: Option<&str>, scrape_pool: Option<&str>) -> serde_json::Value {
        self.0.targets_json(state, scrape_pool)
    }
}

/// How often pushed groups are written again, so queries keep seeing them
/// within the lookback window (a Pushgateway is typically scraped this often).
const PUSH_REEMIT_EVERY: Duration = Duration::from_secs(15);

/// Re-writes the current values of every pushed group periodically.
pub fn start_push_reemit(
    state: AppState,
    push: Arc<parking_lot::Mutex<sightline_server::ingest::push_registry::PushRegistry>>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    every(PUSH_REEMIT_EVERY, shutdown, move || {
        sightline_server::ingest::push::reemit(&state, &push)
    })
}

/// Runs `Tsdb::maintenance` (head persistence, compaction, retention) every
/// minute; `close` at shutdown takes care of the rest.
pub fn start_maintenance(tsdb: Arc<Tsdb>, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    every(MAINTENANCE_EVERY, shutdown, move || {
        if let Err(e) = tsdb.maintenance() {
            tracing::error!(error = %e, "storage maintenance failed");
        }
    })
}

/// Runs `f` on the blocking pool every `period` (first run after one
/// period) until shutdown.
fn every<F: Fn() + Send + Sync + 'static>(
    period: Duration,
    mut shutdown: watch::Receiver<bool>,
    f: F,
) -> JoinHandle<()> {
    let f = Arc::new(f);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|v| *v) => return,
            }
            let f = f.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || f()).await {
                tracing::error!(error = %e, "background task failed");
            }
        }
    })
}

/// `/api/v1/status/*` data.
pub struct Status {
    pub tsdb: Arc<Tsdb>,
    pub config_text: Arc<parking_lot::Mutex<String>>,
    pub flags: serde_json::Map<String, serde_json::Value>,
    pub started: chrono::DateTime<chrono::Utc>,
    /// Outcome and time of the last config (re)load.
    pub last_reload: Arc<parking_lot::Mutex<(bool, chrono::DateTime<chrono::Utc>)>>,
}

fn name_values(v: &[(String, u64)]) -> serde_json::Value {
    v.iter()
        .map(|(n, c)| serde_json::json!({"name": n, "value": c}))
        .collect()
}

impl sightline_server::query_api::StatusView for Status {
    fn config_yaml(&self) -> String {
        self.config_text.lock().clone()
    }

    fn flags(&self) -> serde_json::Value {
        serde_json::Value::Object(self.flags.clone())
    }

    fn runtime_info(&self) -> serde_json::Value {
        let cwd = std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let retention = self
            .flags
            .get("storage.tsdb.retention.time")
            .cloned()
            .unwrap_or_default();
        let (reload_ok, reload_at) = *self.last_reload.lock();
        serde_json::json!({
            "startTime": self.started.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "CWD": cwd,
            "reloadConfigSuccess": reload_ok,
            "lastConfigTime": reload_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "corruptionCount": 0,
            "goroutineCount": 0,
            "GOMAXPROCS": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "GOMEMLIMIT": 0,
            "GOGC": "",
            "GODEBUG": "",
            "storageRetention": retention,
        })
    }

    fn tsdb(&self, limit: usize) -> serde_json::Value {
        let s = self.tsdb.stats();
        let c = self.tsdb.head_cardinality(limit);
        serde_json::json!({
            "headStats": {
                "numSeries": s.head.num_series,
                "numLabelPairs": c.num_label_pairs,
                "chunkCount": s.head.chunks,
                "minTime": s.head.min_t.unwrap_or(0),
                "maxTime": s.head.max_t.unwrap_or(0),
            },
            "seriesCountByMetricName": name_values(&c.series_count_by_metric_name),
            "labelValueCountByLabelName": name_values(&c.label_value_count_by_label_name),
            "memoryInBytesByLabelName": name_values(&c.memory_in_bytes_by_label_name),
            "seriesCountByLabelValuePair": name_values(&c.series_count_by_label_value_pair),
        })
    }
}
