//! The scrape manager: one pool per scrape config, one loop per target.
//!
//! Invariants:
//! - a pool whose config did not change across a reload is not touched:
//!   its loops keep running on the same schedule (no gap, no duplicate);
//! - a pool whose config changed re-derives its targets; a target with the
//!   same identity gets a new loop that takes over the old loop's state
//!   (no staleness markers for series that survive), vanished targets get
//!   staleness markers for all their series;
//! - loops are only stopped through [`LoopHandle::stop`], and every stop
//!   is awaited by [`ScrapeManager::stop`].

use crate::config::{PoolConfig, TargetGroup};
use crate::discovery::FileSd;
use crate::metrics::Metrics;
use crate::scrape_loop::{self, LoopCtx, LoopHandle, LoopState, StopMode};
use crate::target::{self, Populated, Target};
use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use sightline_model::{Labels, Storage};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

struct ActiveTarget {
    target: Arc<Target>,
    handle: LoopHandle,
}

struct Pool {
    cfg: Arc<PoolConfig>,
    client: Result<reqwest::Client, String>,
    /// Changes whenever the pool is rebuilt, so stale file SD updates from
    /// a previous config are ignored.
    generation: u64,
    file_groups: Vec<TargetGroup>,
    sd_task: Option<JoinHandle<()>>,
    active: HashMap<u64, ActiveTarget>,
    dropped: Vec<Labels>,
    /// All dropped targets, also those beyond `keep_dropped_targets`.
    dropped_count: usize,
    /// The target limit is exceeded: loops fail every scrape.
    limited: bool,
}

pub(crate) struct Inner {
    storage: Arc<dyn Storage>,
    metrics: Metrics,
    rt: tokio::runtime::Handle,
    pools: Mutex<BTreeMap<String, Pool>>,
    /// Loops being stopped (awaited by `stop`).
    stopping: Mutex<Vec<JoinHandle<Option<LoopState>>>>,
    generation: std::sync::atomic::AtomicU64,
    /// Set by `stop`: later `apply_*` calls are ignored.
    stopped: std::sync::atomic::AtomicBool,
    hostname: Option<String>,
}

/// Runs scrape pools for the scrape configs it is given.
pub struct ScrapeManager {
    pub(crate) inner: Arc<Inner>,
}

impl ScrapeManager {
    /// Creates a manager writing to `storage` and registering its metrics in
    /// `registry`. Must be called inside a tokio runtime: loops run on it.
    pub fn new(storage: Arc<dyn Storage>, registry: &mut Registry) -> Self {
        Self::with_metrics(storage, Metrics::register(registry))
    }

    pub(crate) fn with_metrics(storage: Arc<dyn Storage>, metrics: Metrics) -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty());
        Self {
            inner: Arc::new(Inner {
                storage,
                metrics,
                rt: tokio::runtime::Handle::current(),
                pools: Mutex::new(BTreeMap::new()),
                stopping: Mutex::new(Vec::new()),
                generation: std::sync::atomic::AtomicU64::new(0),
                stopped: std::sync::atomic::AtomicBool::new(false),
                hostname,
            }),
        }
    }

    /// Replaces the set of scrape pools (see the module docs for what a
    /// reload keeps). Never blocks: loops start and stop on the runtime.
    pub fn apply_pools(&self, configs: Vec<PoolConfig>) {
        let inner = &self.inner;
        let mut pools = inner.pools.lock();
        if inner.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::warn!("scrape manager stopped; configuration ignored");
            return;
        }
        let wanted: HashSet<String> = configs.iter().map(|c| c.job_name.clone()).collect();
        let removed: Vec<String> = pools.keys().filter(|k| !wanted.contains(*k)).cloned().collect();
        for name in removed {
            if let Some(pool) = pools.remove(&name) {
                inner.shutdown_pool(pool);
                inner.metrics.pool_targets.remove(&job_label(&name));
            }
        }
        let mut seen = HashSet::new();
        for cfg in configs {
            if !seen.insert(cfg.job_name.clone()) {
                tracing::warn!(job = %cfg.job_name, "duplicate job_name; later scrape config ignored");
                continue;
            }
            match pools.get(&cfg.job_name) {
                Some(p) if p.cfg.fingerprint == cfg.fingerprint => continue,
                _ => {}
            }
            let existed = pools.contains_key(&cfg.job_name);
            if existed {
                inner.metrics.pool_reloads.inc();
            } else {
                inner.metrics.pools_total.inc();
            }
            let client = crate::client::build_client(&cfg.http);
            if let Err(e) = &client {
                tracing::error!(job = %cfg.job_name, error = %e, "cannot create scrape client");
                if existed {
                    inner.metrics.pool_reloads_failed.inc();
                } else {
                    inner.metrics.pools_failed.inc();
                }
            }
            let generation = inner
                .generation
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            let cfg = Arc::new(cfg);
            let old = pools.remove(&cfg.job_name);
            let mut old_active = HashMap::new();
            let mut file_groups = Vec::new();
            if let Some(mut old) = old {
                if let Some(t) = old.sd_task.take() {
                    t.abort();
                }
                if old.cfg.file_sd == cfg.file_sd {
                    file_groups = std::mem::take(&mut old.file_groups);
                }
                old_active = old.active;
            }
            let sd_task = (!cfg.file_sd.is_empty()).then(|| {
                inner.rt.spawn(file_sd_task(
                    Arc::downgrade(inner),
                    cfg.job_name.clone(),
                    generation,
                    cfg.clone(),
                ))
            });
            let mut pool = Pool {
                cfg,
                client,
                generation,
                file_groups,
                sd_task,
                active: HashMap::new(),
                dropped: Vec::new(),
                dropped_count: 0,
                limited: false,
            };
            inner.sync_pool(&mut pool, old_active, true);
            pools.insert(pool.cfg.job_name.clone(), pool);
        }
    }

    /// Stops every loop (writing staleness markers) and waits for them.
    pub async fn stop(&self) {
        let pools = {
            let mut pools = self.inner.pools.lock();
            self.inner
                .stopped
                .store(true, std::sync::atomic::Ordering::SeqCst);
            std::mem::take(&mut *pools)
        };
        for (_, pool) in pools {
            self.inner.shutdown_pool(pool);
        }
        let handles = std::mem::take(&mut *self.inner.stopping.lock());
        for h in handles {
            let _ = h.await;
        }
    }

    /// `/api/v1/targets` `data`. `state`: `active`, `dropped` or `any`
    /// (default); `scrape_pool` limits the answer to one pool.
    pub fn targets_json(&self, state: Option<&str>, scrape_pool: Option<&str>) -> serde_json::Value {
        let state = state.unwrap_or("any").to_ascii_lowercase();
        let (show_active, show_dropped) = match state.as_str() {
            "active" => (true, false),
            "dropped" => (false, true),
            _ => (true, true),
        };
        let pools = self.inner.pools.lock();
        let mut active = Vec::new();
        let mut dropped = Vec::new();
        let mut counts = serde_json::Map::new();
        for (name, pool) in pools.iter() {
            if scrape_pool.is_some_and(|p| p != name) {
                continue;
            }
            if show_active {
                let mut ts: Vec<&Arc<Target>> = pool.active.values().map(|a| &a.target).collect();
                ts.sort_by(|a, b| a.public.cmp(&b.public).then_with(|| a.url.cmp(&b.url)));
                for t in ts {
                    active.push(crate::api::active_target_json(
                        t,
                        name,
                        self.inner.hostname.as_deref(),
                    ));
                }
            }
            if show_dropped {
                counts.insert(name.clone(), pool.dropped_count.into());
                for d in &pool.dropped {
                    dropped.push(serde_json::json!({
                        "discoveredLabels": crate::api::labels_json(d),
                        "scrapePool": name,
                    }));
                }
            }
        }
        let mut out = serde_json::Map::new();
        out.insert("activeTargets".into(), active.into());
        out.insert("droppedTargets".into(), dropped.into());
        out.insert(
            "droppedTargetCounts".into(),
            if show_dropped {
                counts.into()
            } else {
                serde_json::Value::Null
            },
        );
        out.into()
    }

    /// `/api/v1/targets/metadata` `data`: metadata from the last scrape of
    /// each active target whose labels pass `target_filter`, optionally for
    /// one metric, at most `limit` entries (0 = all).
    pub fn targets_metadata_json(
        &self,
        target_filter: &dyn Fn(&Labels) -> bool,
        metric: Option<&str>,
        limit: usize,
    ) -> serde_json::Value {
        let pools = self.inner.pools.lock();
        let mut out: Vec<serde_json::Value> = Vec::new();
        for pool in pools.values() {
            let mut ts: Vec<&Arc<Target>> = pool.active.values().map(|a| &a.target).collect();
            ts.sort_by(|a, b| a.public.cmp(&b.public));
            for t in ts {
                if !target_filter(&t.public) {
                    continue;
                }
                let meta = t.metadata.lock();
                let mut fams: Vec<(&String, &sightline_model::MetricMetadata)> = meta
                    .iter()
                    .filter(|(f, _)| metric.is_none_or(|m| m == f.as_str()))
                    .collect();
                fams.sort_by(|a, b| a.0.cmp(b.0));
                for (fam, m) in fams {
                    if limit > 0 && out.len() >= limit {
                        return out.into();
                    }
                    let mut e = serde_json::Map::new();
                    e.insert("target".into(), crate::api::labels_json(&t.public));
                    if metric.is_none() {
                        e.insert("metric".into(), fam.clone().into());
                    }
                    e.insert("type".into(), m.metric_type.as_str().into());
                    e.insert("help".into(), m.help.clone().into());
                    e.insert("unit".into(), m.unit.clone().into());
                    out.push(e.into());
                }
            }
        }
        out.into()
    }

    /// Number of active targets per pool (for tests and health output).
    pub fn active_targets(&self) -> BTreeMap<String, usize> {
        self.inner
            .pools
            .lock()
            .iter()
            .map(|(k, p)| (k.clone(), p.active.len()))
            .collect()
    }
}

fn job_label(job: &str) -> Vec<(String, String)> {
    vec![("scrape_job".to_string(), job.to_string())]
}

impl Inner {
    fn shutdown_pool(&self, mut pool: Pool) {
        if let Some(t) = pool.sd_task.take() {
            t.abort();
        }
        let mut stopping = self.stopping.lock();
        stopping.retain(|h| !h.is_finished());
        for (_, a) in pool.active.drain() {
            stopping.push(a.handle.stop(StopMode::Stale));
        }
    }

    /// Recomputes a pool's targets from its groups. `previous` holds loops
    /// of an earlier incarnation of the pool to hand over or stop.
    fn sync_pool(&self, pool: &mut Pool, mut previous: HashMap<u64, ActiveTarget>, rebuilt: bool) {
        let cfg = pool.cfg.clone();
        let mut kept: Vec<Box<Target>> = Vec::new();
        let mut seen = HashSet::new();
        let mut dropped = Vec::new();
        for g in cfg.static_groups.iter().chain(pool.file_groups.iter()) {
            for t in &g.targets {
                match target::populate(g, t, &cfg) {
                    Populated::Active(t) => {
                        if seen.insert(t.hash) {
                            kept.push(t);
                        }
                    }
                    Populated::Dropped(labels, why) => {
                        if let Some(why) = why {
                            tracing::warn!(job = %cfg.job_name, labels = %labels, reason = %why, "target dropped");
                        }
                        dropped.push(labels);
                    }
                }
            }
        }
        pool.dropped_count = dropped.len();
        if cfg.keep_dropped_targets > 0 {
            dropped.truncate(cfg.keep_dropped_targets);
        }
        pool.dropped = dropped;
        let forced_error = (cfg.target_limit > 0 && kept.len() > cfg.target_limit).then(|| {
            self.metrics.pool_exceeded_target_limit.inc();
            format!(
                "target_limit exceeded (number of targets: {}, limit: {})",
                kept.len(),
                cfg.target_limit
            )
        });
        // The target limit state is part of a loop's identity: a change
        // restarts the loops (with handover).
        let limit_changed = pool.limited != forced_error.is_some();
        pool.limited = forced_error.is_some();
        if !rebuilt && !limit_changed {
            // Same config: keep loops of unchanged targets as they are.
            let mut current = std::mem::take(&mut pool.active);
            for t in kept {
                if let Some(a) = current.remove(&t.hash) {
                    pool.active.insert(t.hash, a);
                } else {
                    self.start(pool, t, None, forced_error.clone());
                }
            }
            let mut stopping = self.stopping.lock();
            stopping.retain(|h| !h.is_finished());
            for (_, a) in current {
                stopping.push(a.handle.stop(StopMode::Stale));
            }
        } else {
            previous.extend(std::mem::take(&mut pool.active));
            for t in kept {
                let prev = previous
                    .remove(&t.hash)
                    .map(|a| a.handle.stop(StopMode::Handover));
                self.start(pool, t, prev, forced_error.clone());
            }
            let mut stopping = self.stopping.lock();
            stopping.retain(|h| !h.is_finished());
            for (_, a) in previous {
                stopping.push(a.handle.stop(StopMode::Stale));
            }
        }
        self.metrics
            .pool_targets
            .get_or_create(&job_label(&cfg.job_name))
            .set(pool.active.len() as i64);
    }

    fn start(
        &self,
        pool: &mut Pool,
        t: Box<Target>,
        previous: Option<JoinHandle<Option<LoopState>>>,
        forced_error: Option<String>,
    ) {
        let target: Arc<Target> = Arc::from(t);
        let ctx = Arc::new(LoopCtx {
            target: target.clone(),
            cfg: pool.cfg.clone(),
            client: pool.client.clone(),
            storage: self.storage.clone(),
            metrics: self.metrics.clone(),
            forced_error,
        });
        let handle = scrape_loop::spawn(&self.rt, ctx, previous);
        pool.active.insert(target.hash, ActiveTarget { target, handle });
    }

    /// File SD produced new groups for a pool.
    fn update_file_groups(&self, job: &str, generation: u64, groups: Vec<TargetGroup>) {
        let mut pools = self.pools.lock();
        let Some(pool) = pools.get_mut(job) else { return };
        if pool.generation != generation {
            return;
        }
        pool.file_groups = groups;
        self.sync_pool(pool, HashMap::new(), false);
    }
}

/// Watches a pool's file SD files: full re-read every `refresh_interval`
/// (the shortest of the pool's file SD configs), and whenever a file's
/// modification time, size or presence changes (checked every
/// `file_sd_poll`).
async fn file_sd_task(inner: Weak<Inner>, job: String, generation: u64, cfg: Arc<PoolConfig>) {
    let mut sd = Some(FileSd::default());
    let refresh_every = cfg
        .file_sd
        .iter()
        .map(|s| s.refresh_interval)
        .min()
        .unwrap_or(Duration::from_secs(300))
        .max(Duration::from_millis(10));
    let mut last_full: Option<Instant> = None;
    let mut first = true;
    loop {
        let full = last_full.is_none_or(|t| t.elapsed() >= refresh_every);
        let settings = cfg.file_sd.clone();
        let Some(mut state) = sd.take() else { return };
        let res = tokio::task::spawn_blocking(move || {
            let refresh = (full || state.stale(&settings)).then(|| state.refresh(&settings));
            let groups = state.groups();
            (state, refresh, groups)
        })
        .await;
        let Ok((state, refresh, groups)) = res else { return };
        sd = Some(state);
        let Some(inner) = inner.upgrade() else { return };
        if let Some(r) = refresh {
            if full {
                last_full = Some(Instant::now());
            }
            for e in &r.errors {
                tracing::warn!(job = %job, error = %e, "file_sd: cannot read targets; keeping the last good list");
                inner.metrics.sd_file_read_errors.inc();
            }
            let n: usize = groups.iter().map(|g| g.targets.len()).sum();
            inner
                .metrics
                .sd_discovered_targets
                .get_or_create(&vec![
                    ("config".into(), job.clone()),
                    ("name".into(), "scrape".into()),
                ])
                .set(n as i64);
            if r.changed || first {
                inner.update_file_groups(&job, generation, groups);
            }
            first = false;
        }
        drop(inner);
        tokio::time::sleep(cfg.file_sd_poll).await;
    }
}
