//! Query evaluation throughput over the in-memory store.
//!
//! Data: 1,000 counter series (10 jobs x 100 instances) and 1,000 gauges,
//! one sample every 15 s for 3 hours.

use criterion::{criterion_group, criterion_main, Criterion};
use sightline_model::{LabelRef, Storage};
use sightline_promql::memstore::MemStorage;
use sightline_promql::{Engine, QueryOpts};

const HOURS: i64 = 3;
const SCRAPE_MS: i64 = 15_000;

fn store() -> MemStorage {
    let st = MemStorage::new();
    let points = HOURS * 3_600_000 / SCRAPE_MS;
    let mut app = st.appender();
    for job in 0..10 {
        for inst in 0..100 {
            let (j, i) = (format!("job{job}"), format!("inst{inst}"));
            let c = [
                LabelRef::new("__name__", "http_requests_total"),
                LabelRef::new("instance", &i),
                LabelRef::new("job", &j),
            ];
            let g = [
                LabelRef::new("__name__", "memory_bytes"),
                LabelRef::new("instance", &i),
                LabelRef::new("job", &j),
            ];
            for k in 0..points {
                let t = k * SCRAPE_MS;
                app.append(&c, t, (k * (inst + 1)) as f64).unwrap();
                app.append(&g, t, 1e6 + ((k * 7919 + inst) % 1000) as f64)
                    .unwrap();
            }
        }
    }
    app.commit().unwrap();
    st
}

fn bench(c: &mut Criterion) {
    let st = store();
    let e = Engine::new(QueryOpts::default());
    let end = HOURS * 3_600_000;
    let o = QueryOpts::default();
    let mut g = c.benchmark_group("promql");
    g.sample_size(10);
    g.bench_function("instant selector (1k series)", |b| {
        b.iter(|| e.instant(&st, "http_requests_total", end, &o).unwrap())
    });
    g.bench_function("instant rate 5m (1k series)", |b| {
        b.iter(|| e.instant(&st, "rate(http_requests_total[5m])", end, &o).unwrap())
    });
    g.bench_function("instant sum by job rate 5m (1k series)", |b| {
        b.iter(|| {
            e.instant(&st, "sum by (job) (rate(http_requests_total[5m]))", end, &o)
                .unwrap()
        })
    });
    g.bench_function(
        "range 1h step 15s sum by job rate 5m (1k series, 240 steps)",
        |b| {
            b.iter(|| {
                e.range(
                    &st,
                    "sum by (job) (rate(http_requests_total[5m]))",
                    end - 3_600_000,
                    end,
                    15_000,
                    &o,
                )
                .unwrap()
            })
        },
    );
    g.bench_function("range 1h step 15s one-to-one division (1k x 1k series)", |b| {
        b.iter(|| {
            e.range(
                &st,
                "memory_bytes / on(job, instance) rate(http_requests_total[5m])",
                end - 3_600_000,
                end,
                15_000,
                &o,
            )
            .unwrap()
        })
    });
    g.bench_function("instant quantile_over_time 1h subquery", |b| {
        b.iter(|| {
            e.instant(&st, "quantile_over_time(0.9, memory_bytes[1h:1m])", end, &o)
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
