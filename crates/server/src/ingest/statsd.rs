//! The StatsD / DogStatsD UDP listener: datagrams go into the pure
//! aggregator of `sightline_metrics_protocols::statsd`; every flush interval
//! the aggregated series are appended to the store in one commit, stamped
//! with the flush time. Mapping rules: `docs/ingest/statsd.md`.
//!
//! Invariants: the socket loop never blocks on storage (flushes run on the
//! blocking pool while datagrams keep being read into the aggregator); a
//! final flush runs at shutdown so nothing aggregated is lost on SIGTERM.

use super::AppendReport;
use crate::AppState;
use parking_lot::Mutex;
use sightline_metrics_protocols::statsd::{Aggregator, AggregatorConfig, IngestReport, Malformed};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::watch;

/// Path label of the self-metrics for StatsD samples.
const PATH: &str = "statsd";

/// Largest datagram read (the UDP maximum; clients usually stay under 1432).
const MAX_DATAGRAM: usize = 65_535;

/// Listener settings.
#[derive(Clone, Debug)]
pub struct StatsdOptions {
    pub aggregator: AggregatorConfig,
    /// How often aggregated series are written (default 10s, as
    /// statsd_exporter is typically scraped).
    pub flush_interval: Duration,
}

impl Default for StatsdOptions {
    fn default() -> Self {
        Self {
            aggregator: AggregatorConfig::default(),
            flush_interval: Duration::from_secs(10),
        }
    }
}

/// Reads datagrams from `socket` until `shutdown` turns true, then flushes
/// one last time.
pub async fn run(
    socket: UdpSocket,
    opts: StatsdOptions,
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) {
    let agg = Arc::new(Mutex::new(Aggregator::new(opts.aggregator.clone())));
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut tick = tokio::time::interval(opts.flush_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick completes immediately
    loop {
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, _peer)) => {
                    let report = agg.lock().ingest(&buf[..n]);
                    record_malformed(&state, &report);
                }
                Err(e) => tracing::warn!(error = %e, "statsd: receive failed"),
            },
            _ = tick.tick() => flush(&agg, &state).await,
            // `is_ok` drops the watch guard before any other branch awaits.
            _ = async { shutdown.wait_for(|v| *v).await.is_ok() } => break,
        }
    }
    // Drain what the kernel already holds, then write it out.
    while let Ok((n, _)) = socket.try_recv_from(&mut buf) {
        let report = agg.lock().ingest(&buf[..n]);
        record_malformed(&state, &report);
    }
    flush(&agg, &state).await;
}

fn record_malformed(state: &AppState, report: &IngestReport) {
    for reason in Malformed::ALL {
        let n = report.malformed_count(reason);
        if n > 0 {
            state.ingest.rejected(PATH, reason.as_str(), n);
        }
    }
    if report.dropped_series_limit > 0 {
        state
            .ingest
            .rejected(PATH, "series_limit", report.dropped_series_limit);
    }
}

/// Appends every aggregated series at the current time and commits.
async fn flush(agg: &Arc<Mutex<Aggregator>>, state: &AppState) {
    let (agg, state) = (agg.clone(), state.clone());
    let res = tokio::task::spawn_blocking(move || flush_now(&agg, &state)).await;
    match res {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "statsd: flush failed"),
        Err(e) => tracing::error!(error = %e, "statsd: flush task failed"),
    }
}

/// Synchronous flush; public for tests that drive the aggregator directly.
pub fn flush_now(agg: &Mutex<Aggregator>, state: &AppState) -> Result<(), sightline_model::StorageError> {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut app = state.storage.appender();
    let mut report = AppendReport::default();
    agg.lock().flush(now_ms, &mut |labels, v| {
        let mut last = None;
        report.append(app.as_mut(), labels, &mut last, now_ms, v);
    });
    if report.accepted + report.rejected == 0 {
        app.rollback();
        return Ok(());
    }
    if let Some(s) = report.summary() {
        tracing::warn!(summary = %s, "statsd: samples rejected");
    }
    report.commit(app, &state.ingest, PATH)
}
