//! One target's scrape loop and the per-scrape processing.
//!
//! Per scrape (see [`LoopState::scrape`]):
//! 1. every sample line is looked up in the scrape cache by its raw series
//!    text; a hit yields the series reference (or "dropped") without touching
//!    labels; a miss parses the labels, merges the target labels
//!    (`honor_labels` rules), applies `metric_relabel_configs` and the label
//!    limits, and caches the outcome;
//! 2. the whole payload is staged before anything is appended: a parse
//!    error, a sample-limit or label-limit violation fails the scrape as a
//!    whole (nothing from it is stored, `up` is 0);
//! 3. one appender receives the samples (`append_ref` first, `append` when
//!    the store no longer knows the reference), staleness markers for series
//!    of the previous successful scrape that are absent now (all of them
//!    when the scrape failed), metadata that changed, and the report series
//!    `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//!    `scrape_samples_post_metric_relabeling` and `scrape_series_added`;
//!    then one commit.
//!
//! Invariants:
//! - a series is "live" after it was appended without an explicit
//!   timestamp (explicit timestamps are not staleness-tracked, as in
//!   Prometheus); exactly the live series get a staleness marker when they
//!   disappear, when a scrape fails, or when the loop ends with
//!   [`StopMode::Stale`];
//! - a cache entry that is live is never evicted;
//! - after a handover (reload with a changed config) cache keys are
//!   discarded but live entries stay, re-attached by label identity, so
//!   series that survive the reload are not marked stale.

use crate::client::{self, Fetched};
use crate::config::PoolConfig;
use crate::error::ScrapeError;
use crate::metrics::Metrics;
use crate::target::{Health, Target};
use crate::util;
use sightline_metrics_protocols::exposition::{Entry, Format, LabelPair, Parser};
use sightline_model::{
    stale_nan, AppendError, Appender, Labels, LabelsBuilder, MetricMetadata, MetricType, SeriesRef, Storage,
    METRIC_NAME,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Scrapes not seeing a cache entry before it is evicted.
const CACHE_KEEP_ITERS: u64 = 10;

/// Everything a loop needs that does not change while it runs.
pub struct LoopCtx {
    pub target: Arc<Target>,
    pub cfg: Arc<PoolConfig>,
    pub client: Result<reqwest::Client, String>,
    pub storage: Arc<dyn Storage>,
    pub metrics: Metrics,
    /// Set when every scrape must fail without a request (target limit).
    pub forced_error: Option<String>,
}

#[derive(Debug)]
enum Outcome {
    Dropped,
    Kept {
        labels: Labels,
        /// `labels.hash64()`: staleness is decided by label identity.
        hash: u64,
        sref: Option<SeriesRef>,
    },
}

#[derive(Debug)]
struct CacheEntry {
    outcome: Outcome,
    /// Iteration that last saw the series text.
    seen: u64,
    /// Iteration that last appended it with the scrape's timestamp.
    live: u64,
    /// Key in the cache map (empty for detached entries).
    key: Box<str>,
}

/// The report series of a target, with their store references.
#[derive(Debug)]
struct ReportSeries {
    labels: [Labels; 5],
    refs: [Option<SeriesRef>; 5],
    live: bool,
}

const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

impl ReportSeries {
    fn new(target: &Labels) -> Self {
        let mk = |name: &str| {
            let mut b = target.builder();
            b.set(METRIC_NAME, name);
            b.build()
        };
        Self {
            labels: REPORT_NAMES.map(mk),
            refs: [None; 5],
            live: false,
        }
    }
}

/// A loop's mutable state: the scrape cache and what is live. Moves to a
/// blocking thread for each scrape and back, and from an old loop to its
/// replacement on reload.
#[derive(Debug, Default)]
pub struct LoopState {
    entries: Vec<CacheEntry>,
    free: Vec<usize>,
    index: HashMap<Box<str>, usize, xxhash_rust::xxh3::Xxh3DefaultBuilder>,
    /// Entries live after the last successful scrape.
    live: Vec<usize>,
    /// Entries carried over a handover, by label hash, waiting to be
    /// re-attached.
    detached: HashMap<u64, Vec<usize>>,
    iter: u64,
    report: Option<ReportSeries>,
    metadata: HashMap<String, MetricMetadata>,
}

/// What one scrape produced.
#[derive(Debug, Default, Clone)]
pub struct ScrapeReport {
    pub error: Option<ScrapeError>,
    pub scraped: usize,
    pub post_relabel: usize,
    pub added: usize,
    pub appended: u64,
}

struct Pending {
    idx: usize,
    t: i64,
    v: f64,
    track: bool,
}

impl LoopState {
    /// Forgets cache keys (a config change may alter how series text maps
    /// to labels) while keeping live series for staleness.
    pub fn detach(&mut self) {
        self.index.clear();
        self.detached.clear();
        let live: std::collections::HashSet<usize> = self.live.iter().copied().collect();
        let already_free: std::collections::HashSet<usize> = self.free.iter().copied().collect();
        for (i, e) in self.entries.iter_mut().enumerate() {
            e.key = Box::from("");
            match &e.outcome {
                Outcome::Kept { hash, .. } if live.contains(&i) => {
                    self.detached.entry(*hash).or_default().push(i);
                }
                _ => {
                    if !already_free.contains(&i) {
                        self.free.push(i);
                    }
                    e.outcome = Outcome::Dropped;
                }
            }
        }
        self.report = None;
        self.metadata.clear();
    }

    fn insert(&mut self, key: &str, outcome: Outcome) -> usize {
        let entry = CacheEntry {
            outcome,
            seen: self.iter,
            live: 0,
            key: Box::from(key),
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.entries[i] = entry;
                i
            }
            None => {
                self.entries.push(entry);
                self.entries.len() - 1
            }
        };
        self.index.insert(Box::from(key), idx);
        idx
    }

    /// Runs one scrape's processing (blocking: appends and commits).
    pub fn scrape(
        &mut self,
        ctx: &LoopCtx,
        fetched: Result<Fetched, ScrapeError>,
        t: i64,
        duration: Duration,
    ) -> ScrapeReport {
        self.iter += 1;
        let mut rep = ScrapeReport::default();
        let mut meta_changed = Vec::new();
        let staged = fetched.and_then(|f| self.stage(ctx, &f, t, &mut rep, &mut meta_changed));
        let mut app = ctx.storage.appender();
        let mut new_live = Vec::new();
        match staged {
            Ok(pending) => {
                for p in pending {
                    if self.append_one(app.as_mut(), ctx, p.idx, p.t, p.v) && p.track {
                        let e = &mut self.entries[p.idx];
                        if e.live != self.iter {
                            e.live = self.iter;
                            new_live.push(p.idx);
                        }
                    }
                }
                let old_live = std::mem::replace(&mut self.live, new_live);
                self.write_stale(app.as_mut(), &old_live, t);
                self.release_detached();
            }
            Err(e) => {
                match &e {
                    ScrapeError::SampleLimit { .. } => ctx.metrics.exceeded_sample_limit.inc(),
                    ScrapeError::BodySizeLimit(_) => ctx.metrics.exceeded_body_size_limit.inc(),
                    ScrapeError::LabelLimit(_) => ctx.metrics.exceeded_label_limits.inc(),
                    _ => 0,
                };
                let old_live = std::mem::take(&mut self.live);
                self.write_stale(app.as_mut(), &old_live, t);
                self.release_detached();
                rep.post_relabel = 0;
                rep.added = 0;
                rep.error = Some(e);
            }
        }
        // Metadata read before a failure is kept too (it was valid text).
        if !meta_changed.is_empty() {
            for fam in &meta_changed {
                if let Some(m) = self.metadata.get(fam) {
                    app.set_metadata(fam, m);
                }
            }
            *ctx.target.metadata.lock() = self.metadata.clone();
        }
        let up = if rep.error.is_none() { 1.0 } else { 0.0 };
        let values = [
            up,
            duration.as_secs_f64(),
            rep.scraped as f64,
            rep.post_relabel as f64,
            rep.added as f64,
        ];
        self.append_report(app.as_mut(), ctx, t, values);
        match app.commit() {
            Ok(stats) => rep.appended = stats.samples,
            Err(e) => {
                tracing::warn!(target = %ctx.target.url, error = %e, "scrape commit failed");
                rep.error = Some(ScrapeError::Storage(e.to_string()));
            }
        }
        if self.iter.is_multiple_of(CACHE_KEEP_ITERS) {
            self.evict();
        }
        rep
    }

    /// Parses and resolves the payload into pending appends.
    fn stage(
        &mut self,
        ctx: &LoopCtx,
        f: &Fetched,
        t: i64,
        rep: &mut ScrapeReport,
        meta_changed: &mut Vec<String>,
    ) -> Result<Vec<Pending>, ScrapeError> {
        let cfg = &ctx.cfg;
        let format = Format::from_content_type(&f.content_type);
        let mut parser = Parser::new(&f.body, format);
        let mut pending = Vec::with_capacity(self.live.len() + 16);
        let mut buf: Vec<LabelPair<'_>> = Vec::new();
        let mut limit_err = None;
        while let Some(entry) = parser.next_entry() {
            let entry = entry.map_err(|e| ScrapeError::Parse(e.to_string()))?;
            let s = match entry {
                Entry::Sample(s) => s,
                Entry::Help { family, help } => {
                    self.update_meta(&family, meta_changed, |m| {
                        (m.help != help).then(|| m.help = help.to_string()).is_some()
                    });
                    continue;
                }
                Entry::Type { family, metric_type } => {
                    self.update_meta(&family, meta_changed, |m| {
                        (m.metric_type != metric_type)
                            .then(|| m.metric_type = metric_type)
                            .is_some()
                    });
                    continue;
                }
                Entry::Unit { family, unit } => {
                    self.update_meta(&family, meta_changed, |m| {
                        (m.unit != unit).then(|| m.unit = unit.to_string()).is_some()
                    });
                    continue;
                }
            };
            rep.scraped += 1;
            let (ts, track) = match (cfg.honor_timestamps, s.timestamp) {
                (true, Some(ts)) => (ts, cfg.track_timestamps_staleness),
                _ => (t, true),
            };
            let idx = match self.index.get(s.series) {
                Some(&i) => i,
                None => {
                    s.labels(&mut buf)
                        .map_err(|e| ScrapeError::Parse(e.to_string()))?;
                    let outcome = self.resolve(ctx, &buf)?;
                    let (idx, new) = self.attach(s.series, outcome);
                    if new {
                        rep.added += 1;
                    }
                    idx
                }
            };
            let e = &mut self.entries[idx];
            e.seen = self.iter;
            if matches!(e.outcome, Outcome::Dropped) {
                continue;
            }
            rep.post_relabel += 1;
            if cfg.sample_limit > 0 && rep.post_relabel > cfg.sample_limit {
                // Keep counting so the report shows the real totals.
                limit_err = Some(());
                continue;
            }
            pending.push(Pending {
                idx,
                t: ts,
                v: s.value,
                track,
            });
        }
        if limit_err.is_some() {
            return Err(ScrapeError::SampleLimit {
                found: rep.post_relabel,
                limit: cfg.sample_limit,
            });
        }
        Ok(pending)
    }

    fn update_meta(
        &mut self,
        family: &str,
        changed: &mut Vec<String>,
        apply: impl FnOnce(&mut MetricMetadata) -> bool,
    ) {
        match self.metadata.get_mut(family) {
            Some(m) => {
                if apply(m) && !changed.iter().any(|c| c == family) {
                    changed.push(family.to_string());
                }
            }
            None => {
                let mut m = MetricMetadata {
                    metric_type: MetricType::Unknown,
                    ..Default::default()
                };
                apply(&mut m);
                self.metadata.insert(family.to_string(), m);
                changed.push(family.to_string());
            }
        }
    }

    /// Inserts a resolved series, re-attaching a detached live entry with
    /// the same labels. Returns the index and whether the series is new.
    fn attach(&mut self, key: &str, outcome: Outcome) -> (usize, bool) {
        if let Outcome::Kept { labels, hash, .. } = &outcome {
            if !self.detached.is_empty() {
                let h = *hash;
                if let Some(list) = self.detached.get_mut(&h) {
                    let pos = list.iter().position(|&i| {
                        matches!(&self.entries[i].outcome, Outcome::Kept { labels: l, .. } if l == labels)
                    });
                    if let Some(pos) = pos {
                        let i = list.swap_remove(pos);
                        if list.is_empty() {
                            self.detached.remove(&h);
                        }
                        self.entries[i].key = Box::from(key);
                        self.index.insert(Box::from(key), i);
                        return (i, false);
                    }
                }
            }
        }
        let new = matches!(outcome, Outcome::Kept { .. });
        (self.insert(key, outcome), new)
    }

    /// Target labels, metric relabeling and label limits for a new series.
    fn resolve(&mut self, ctx: &LoopCtx, scraped: &[LabelPair<'_>]) -> Result<Outcome, ScrapeError> {
        let cfg = &ctx.cfg;
        let mut b = LabelsBuilder::with_capacity(scraped.len() + ctx.target.public.len());
        for (n, v) in scraped {
            b.set(n.as_ref(), v.as_ref());
        }
        merge_target_labels(&mut b, &ctx.target.public, cfg.honor_labels);
        if !sightline_relabel::process(&mut b, &cfg.metric_relabel) {
            return Ok(Outcome::Dropped);
        }
        let labels = b.build();
        if labels.is_empty() {
            return Ok(Outcome::Dropped);
        }
        check_label_limits(&labels, cfg)?;
        Ok(Outcome::Kept {
            hash: labels.hash64(),
            labels,
            sref: None,
        })
    }

    /// Appends one sample of a cached series; true when the store took it.
    fn append_one(&mut self, app: &mut dyn Appender, ctx: &LoopCtx, idx: usize, t: i64, v: f64) -> bool {
        let Outcome::Kept { labels, sref, .. } = &mut self.entries[idx].outcome else {
            return false;
        };
        let res = match *sref {
            Some(r) => match app.append_ref(r, t, v) {
                Err(AppendError::UnknownSeriesRef) => app.append(&labels.as_refs(), t, v).map(|r| {
                    *sref = Some(r);
                }),
                other => other,
            },
            None => app.append(&labels.as_refs(), t, v).map(|r| {
                *sref = Some(r);
            }),
        };
        match res {
            Ok(()) => true,
            Err(e) => {
                match e {
                    AppendError::OutOfOrder => ctx.metrics.out_of_order.inc(),
                    AppendError::DuplicateTimestamp(_) => ctx.metrics.duplicate_timestamp.inc(),
                    AppendError::OutOfBounds(_) => ctx.metrics.out_of_bounds.inc(),
                    _ => 0,
                };
                tracing::debug!(target = %ctx.target.url, series = %labels, error = %e, "sample rejected");
                false
            }
        }
    }

    /// Staleness markers for entries in `old_live` that are not live now.
    /// An entry whose labels are live under another series text (the text
    /// changed, e.g. label order) is not marked: staleness is about label
    /// sets, as in Prometheus.
    fn write_stale(&mut self, app: &mut dyn Appender, old_live: &[usize], t: i64) {
        let gone: Vec<usize> = old_live
            .iter()
            .copied()
            .filter(|&i| self.entries[i].live != self.iter)
            .collect();
        if gone.is_empty() {
            return;
        }
        let current: std::collections::HashSet<u64> = self
            .live
            .iter()
            .filter_map(|&i| match &self.entries[i].outcome {
                Outcome::Kept { hash, .. } if self.entries[i].live == self.iter => Some(*hash),
                _ => None,
            })
            .collect();
        let mut marked = std::collections::HashSet::new();
        for i in gone {
            let e = &mut self.entries[i];
            e.live = 0;
            if let Outcome::Kept { labels, sref, hash } = &mut e.outcome {
                if !current.contains(hash) && marked.insert(*hash) {
                    stale_one(app, labels, sref, t);
                }
            }
        }
    }

    /// Detached entries still unclaimed after a scrape are gone. They are
    /// all in the previous live list, so [`Self::write_stale`] has already
    /// marked them; here they are only recycled.
    fn release_detached(&mut self) {
        let detached = std::mem::take(&mut self.detached);
        for i in detached.into_values().flatten() {
            let e = &mut self.entries[i];
            if e.key.is_empty() {
                e.outcome = Outcome::Dropped;
                e.live = 0;
                self.free.push(i);
            }
        }
    }

    fn append_report(&mut self, app: &mut dyn Appender, ctx: &LoopCtx, t: i64, values: [f64; 5]) {
        let report = self
            .report
            .get_or_insert_with(|| ReportSeries::new(&ctx.target.public));
        for (i, v) in values.into_iter().enumerate() {
            let labels = &report.labels[i];
            let sref = &mut report.refs[i];
            let res = match *sref {
                Some(r) => match app.append_ref(r, t, v) {
                    Err(AppendError::UnknownSeriesRef) => {
                        app.append(&labels.as_refs(), t, v).map(|r| *sref = Some(r))
                    }
                    other => other,
                },
                None => app.append(&labels.as_refs(), t, v).map(|r| *sref = Some(r)),
            };
            if let Err(e) = res {
                tracing::debug!(target = %ctx.target.url, series = %labels, error = %e, "report sample rejected");
            }
        }
        report.live = true;
    }

    /// End of the loop: staleness markers for every live series, report
    /// series included, committed in one batch.
    pub fn stale_all(&mut self, storage: &dyn Storage, t: i64) {
        let mut app = storage.appender();
        self.iter += 1;
        let old_live = std::mem::take(&mut self.live);
        self.write_stale(app.as_mut(), &old_live, t);
        self.release_detached();
        if let Some(r) = &mut self.report {
            if r.live {
                for i in 0..5 {
                    stale_one(app.as_mut(), &r.labels[i], &mut r.refs[i], t);
                }
                r.live = false;
            }
        }
        if let Err(e) = app.commit() {
            tracing::warn!(error = %e, "writing end-of-run staleness markers failed");
        }
    }

    /// Drops cache entries not seen for a while (never live ones).
    fn evict(&mut self) {
        let cutoff = self.iter.saturating_sub(CACHE_KEEP_ITERS);
        for i in 0..self.entries.len() {
            let e = &mut self.entries[i];
            if e.key.is_empty() || e.seen >= cutoff || e.live != 0 {
                continue;
            }
            let key = std::mem::replace(&mut e.key, Box::from(""));
            e.outcome = Outcome::Dropped;
            self.index.remove(&key);
            self.free.push(i);
        }
    }

    /// Number of cached series texts (for tests and introspection).
    pub fn cached(&self) -> usize {
        self.index.len()
    }
}

fn stale_one(app: &mut dyn Appender, labels: &Labels, sref: &mut Option<SeriesRef>, t: i64) {
    let res = match *sref {
        Some(r) => match app.append_ref(r, t, stale_nan()) {
            Err(AppendError::UnknownSeriesRef) => app.append(&labels.as_refs(), t, stale_nan()).map(|_| ()),
            other => other,
        },
        None => app.append(&labels.as_refs(), t, stale_nan()).map(|_| ()),
    };
    if let Err(e) = res {
        tracing::debug!(series = %labels, error = %e, "staleness marker rejected");
    }
}

/// Attaches target labels to a scraped series. With `honor_labels` the
/// scraped value wins; otherwise the target's does and a clashing scraped
/// label is kept as `exported_<name>` (more `exported_` prefixes while that
/// name is taken; shorter names first), as Prometheus does.
pub fn merge_target_labels(b: &mut LabelsBuilder, target: &Labels, honor: bool) {
    if honor {
        for l in target.iter() {
            if b.get(l.name).is_none() {
                b.set(l.name, l.value);
            }
        }
        return;
    }
    let mut conflicts: Vec<(&str, String)> = Vec::new();
    for l in target.iter() {
        if let Some(v) = b.get(l.name) {
            conflicts.push((l.name, v.to_string()));
        }
        b.set(l.name, l.value);
    }
    conflicts.sort_by_key(|(n, _)| n.len());
    for (name, value) in conflicts {
        let mut new = name.to_string();
        loop {
            new.insert_str(0, "exported_");
            if b.get(&new).is_none() {
                b.set(new, value);
                break;
            }
        }
    }
}

fn check_label_limits(labels: &Labels, cfg: &PoolConfig) -> Result<(), ScrapeError> {
    let name = labels.metric_name().unwrap_or_default();
    let short: String = name.chars().take(50).collect();
    if cfg.label_limit > 0 && labels.len() > cfg.label_limit {
        return Err(ScrapeError::LabelLimit(format!(
            "label_limit exceeded (metric: {short}, number of labels: {}, limit: {})",
            labels.len(),
            cfg.label_limit
        )));
    }
    for l in labels.iter() {
        if cfg.label_name_length_limit > 0 && l.name.len() > cfg.label_name_length_limit {
            return Err(ScrapeError::LabelLimit(format!(
                "label_name_length_limit exceeded (metric: {short}, label name: {}, length: {}, limit: {})",
                l.name,
                l.name.len(),
                cfg.label_name_length_limit
            )));
        }
        if cfg.label_value_length_limit > 0 && l.value.len() > cfg.label_value_length_limit {
            return Err(ScrapeError::LabelLimit(format!(
                "label_value_length_limit exceeded (metric: {short}, label name: {}, value: {:?}, length: {}, limit: {})",
                l.name,
                l.value.chars().take(50).collect::<String>(),
                l.value.len(),
                cfg.label_value_length_limit
            )));
        }
    }
    Ok(())
}

/// How a loop is told to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Target gone: write staleness markers for everything live.
    Stale,
    /// Replaced by a new loop for the same target: hand the state over.
    Handover,
}

/// A running loop.
pub struct LoopHandle {
    stop: oneshot::Sender<StopMode>,
    pub join: JoinHandle<Option<LoopState>>,
}

impl LoopHandle {
    /// Signals the loop; await `join` to know it finished.
    pub fn stop(self, mode: StopMode) -> JoinHandle<Option<LoopState>> {
        let _ = self.stop.send(mode);
        self.join
    }
}

/// Delay before the first scrape: spreads targets over the interval by a
/// stable hash, so a target keeps its phase across reloads and restarts.
pub fn first_delay(hash: u64, interval: Duration, now: SystemTime) -> Duration {
    let iv = interval.as_nanos().max(1) as u64;
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let base = iv - now % iv;
    let offset = hash % iv;
    let mut next = base + offset;
    if next > iv {
        next -= iv;
    }
    Duration::from_nanos(next)
}

/// Starts a loop. With `previous`, the new loop waits for the old one to
/// hand its state over (reload) before its first scrape.
pub fn spawn(
    rt: &tokio::runtime::Handle,
    ctx: Arc<LoopCtx>,
    previous: Option<JoinHandle<Option<LoopState>>>,
) -> LoopHandle {
    let (tx, rx) = oneshot::channel();
    let join = rt.spawn(run(ctx, previous, rx));
    LoopHandle { stop: tx, join }
}

async fn run(
    ctx: Arc<LoopCtx>,
    previous: Option<JoinHandle<Option<LoopState>>>,
    mut stop: oneshot::Receiver<StopMode>,
) -> Option<LoopState> {
    let mut state = match previous {
        Some(h) => match h.await {
            Ok(Some(mut s)) => {
                s.detach();
                s
            }
            _ => LoopState::default(),
        },
        None => LoopState::default(),
    };
    let interval = ctx.target.interval;
    let delay = first_delay(ctx.target.hash, interval, SystemTime::now());
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + delay, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let interval_label = vec![("interval".to_string(), util::format_duration(interval))];
    let mut last_start: Option<Instant> = None;
    loop {
        tokio::select! {
            biased;
            m = &mut stop => return finish(ctx, state, m.unwrap_or(StopMode::Stale)).await,
            _ = ticker.tick() => {}
        }
        let started = Instant::now();
        if let Some(prev) = last_start {
            ctx.metrics
                .interval_length
                .get_or_create(&interval_label)
                .observe(started.duration_since(prev).as_secs_f64());
        }
        last_start = Some(started);
        let wall = SystemTime::now();
        let t = util::now_ms();
        let fetched = match (&ctx.forced_error, &ctx.client) {
            (Some(e), _) => Err(ScrapeError::Http(e.clone())),
            (None, Err(e)) => Err(ScrapeError::Client(e.clone())),
            (None, Ok(client)) => {
                let f = client::fetch(
                    client,
                    &ctx.cfg.http,
                    &ctx.target.url,
                    ctx.target.timeout,
                    ctx.cfg.body_size_limit,
                );
                tokio::select! {
                    biased;
                    m = &mut stop => return finish(ctx, state, m.unwrap_or(StopMode::Stale)).await,
                    r = f => r,
                }
            }
        };
        let duration = started.elapsed();
        let c = ctx.clone();
        let res = tokio::task::spawn_blocking(move || {
            let rep = state.scrape(&c, fetched, t, duration);
            (state, rep)
        })
        .await;
        let report = match res {
            Ok((s, rep)) => {
                state = s;
                rep
            }
            Err(e) => {
                tracing::error!(target = %ctx.target.url, error = %e, "scrape processing failed; cache reset");
                state = LoopState::default();
                ScrapeReport {
                    error: Some(ScrapeError::Storage(e.to_string())),
                    ..Default::default()
                }
            }
        };
        if let Some(e) = &report.error {
            tracing::debug!(target = %ctx.target.url, error = %e, "scrape failed");
        }
        let mut st = ctx.target.status.lock();
        st.health = if report.error.is_none() {
            Health::Up
        } else {
            Health::Down
        };
        st.last_error = report.error.map(|e| e.to_string()).unwrap_or_default();
        st.last_scrape = Some(wall);
        st.last_duration = duration;
    }
}

async fn finish(ctx: Arc<LoopCtx>, mut state: LoopState, mode: StopMode) -> Option<LoopState> {
    match mode {
        StopMode::Handover => Some(state),
        StopMode::Stale => {
            let storage = ctx.storage.clone();
            let t = util::now_ms();
            let _ = tokio::task::spawn_blocking(move || state.stale_all(storage.as_ref(), t)).await;
            None
        }
    }
}
