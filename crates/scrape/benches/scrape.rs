//! Per-scrape processing cost (parse, cache, relabel, append, staleness,
//! report series) on a node_exporter-sized payload, against a store that
//! only hands out references. Reports samples per second.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sightline_model::{
    AppendError, Appender, CommitStats, LabelRef, Labels, Querier, SeriesRef, Storage, StorageError,
};
use sightline_scrape::client::Fetched;
use sightline_scrape::config::{PoolConfig, TargetGroup};
use sightline_scrape::metrics::Metrics;
use sightline_scrape::scrape_loop::{LoopCtx, LoopState};
use sightline_scrape::target::{address_target, populate, Populated};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
struct RefStore {
    next: AtomicU64,
}

struct RefAppender<'a>(&'a RefStore);

impl Appender for RefAppender<'_> {
    fn append(&mut self, labels: &[LabelRef<'_>], _t: i64, _v: f64) -> Result<SeriesRef, AppendError> {
        std::hint::black_box(labels);
        Ok(SeriesRef(self.0.next.fetch_add(1, Ordering::Relaxed)))
    }
    fn append_ref(&mut self, series: SeriesRef, _t: i64, _v: f64) -> Result<(), AppendError> {
        std::hint::black_box(series);
        Ok(())
    }
    fn commit(self: Box<Self>) -> Result<CommitStats, StorageError> {
        Ok(CommitStats::default())
    }
    fn rollback(self: Box<Self>) {}
}

impl Storage for RefStore {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(RefAppender(self))
    }
    fn querier(&self, _: i64, _: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        Err(StorageError::Other("none".into()))
    }
}

fn payload(lines: usize) -> String {
    let mut s = String::new();
    for f in 0..lines / 20 {
        s.push_str(&format!(
            "# HELP node_metric_{f} Some help text.\n# TYPE node_metric_{f} gauge\n"
        ));
        for i in 0..20 {
            s.push_str(&format!(
                "node_metric_{f}{{cpu=\"{i}\",mode=\"user\"}} {}.5\n",
                f * i
            ));
        }
    }
    s
}

fn bench(c: &mut Criterion) {
    let lines = 2000;
    let body = payload(lines).into_bytes();
    let store: Arc<dyn Storage> = Arc::new(RefStore::default());
    let cfg = PoolConfig::new("node");
    let g = TargetGroup {
        source: "0".into(),
        targets: vec![address_target("node:9100")],
        labels: Labels::new(),
    };
    let Populated::Active(t) = populate(&g, &g.targets[0], &cfg) else {
        unreachable!()
    };
    let ctx = LoopCtx {
        target: Arc::from(t),
        cfg: Arc::new(cfg),
        client: Err("unused".into()),
        storage: store,
        metrics: Metrics::default(),
        forced_error: None,
    };
    let fetched = || {
        Ok(Fetched {
            body: body.clone(),
            content_type: "text/plain; version=0.0.4".into(),
        })
    };
    let mut group = c.benchmark_group("scrape");
    group.throughput(Throughput::Elements(lines as u64));
    group.bench_function("repeat_scrape_2000_series", |b| {
        let mut st = LoopState::default();
        let mut t = 0;
        b.iter(|| {
            t += 15_000;
            st.scrape(&ctx, fetched(), t, Duration::ZERO)
        })
    });
    group.bench_function("first_scrape_2000_series", |b| {
        b.iter(|| LoopState::default().scrape(&ctx, fetched(), 1, Duration::ZERO))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
