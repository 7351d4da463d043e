//! Criterion benches: parsing, the pipeline per line (logfmt, json with a
//! label filter, line_format), and a metric query over a store holding
//! 100k records (head and segments).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sightline_logql::ast::Expr;
use sightline_logql::pipeline::{split_pushdown, LineLabels};
use sightline_logql::{parse, Direction, Engine};
use sightline_logstore::{FsyncPolicy, LogRecord, LogStore, Options};
use sightline_model::Labels;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_795_000_000 * S;

fn records(n: usize) -> Vec<LogRecord> {
    let streams: Vec<Labels> = (0..6)
        .map(|i| Labels::from_pairs([("app", format!("svc{i}")), ("env", "prod".to_string())]))
        .collect();
    (0..n)
        .map(|i| {
            let line = if i % 2 == 0 {
                format!(
                    "level={} method=GET path=/api/v1/orders/{} status={} duration={}ms msg=\"request done\"",
                    if i % 10 == 0 { "error" } else { "info" },
                    i % 1000,
                    if i % 10 == 0 { 500 } else { 200 },
                    i % 300
                )
            } else {
                format!(
                    r#"{{"level":"info","req":{{"method":"POST","path":"/cart/{}"}},"status":201,"duration":"{}ms"}}"#,
                    i % 500,
                    i % 300
                )
            };
            LogRecord::new(T0 + i as i64 * 1_000_000, streams[i % 6].clone(), line)
        })
        .collect()
}

fn run_pipeline(q: &str, recs: &[LogRecord]) -> usize {
    let Expr::Log(l) = parse(q).unwrap() else { panic!() };
    let (filters, pipe) = split_pushdown(&l.stages);
    let mut n = 0;
    for r in recs {
        if !filters.iter().all(|f| f.matches(&r.message)) {
            continue;
        }
        let mut lbs = LineLabels::from_record(r);
        let mut line = r.message.clone();
        if pipe.process(r.ts_ns, &mut line, &mut lbs) {
            n += 1;
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let q = r#"sum by (status) (rate({app="svc1", env=~"prod|dev"} |= "GET" | logfmt | status >= 500 and duration > 100ms | line_format "{{.path}}" [5m]))"#;
    c.bench_function("parse", |b| b.iter(|| parse(q).unwrap()));

    let recs = records(20_000);
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(recs.len() as u64));
    g.bench_function("logfmt_filter", |b| {
        b.iter(|| run_pipeline(r#"{app="x"} |= "GET" | logfmt | status >= 500"#, &recs))
    });
    g.bench_function("json_filter", |b| {
        b.iter(|| run_pipeline(r#"{app="x"} |= "POST" | json | duration > 100ms"#, &recs))
    });
    g.bench_function("line_format", |b| {
        b.iter(|| {
            run_pipeline(
                r#"{app="x"} | logfmt | line_format "{{.level}} {{.path | ToUpper}}""#,
                &recs,
            )
        })
    });
    g.finish();

    let dir = tempfile::tempdir().unwrap();
    let st = LogStore::open(
        dir.path(),
        Options {
            fsync: FsyncPolicy::Never,
            ..Options::default()
        },
    )
    .unwrap();
    let recs = records(100_000);
    let (a, b) = recs.split_at(50_000);
    st.append("t", a).unwrap();
    st.flush().unwrap();
    st.append("t", b).unwrap();
    let e = Engine::default();
    let mut g = c.benchmark_group("store_100k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(recs.len() as u64));
    let q = parse(r#"sum by (app) (count_over_time({env="prod"} |= "GET" | logfmt | status >= 500 [1m]))"#)
        .unwrap();
    g.bench_function("range_logfmt_101_steps", |b| {
        b.iter(|| e.range(&st, "t", &q, T0, T0 + 100 * S, S).unwrap())
    });
    let q = parse(r#"{env="prod"} | json | status=201"#).unwrap();
    g.bench_function("logs_json_limit_1000", |b| {
        b.iter(|| {
            e.query_logs(&st, "t", &q, T0, T0 + 200 * S, Direction::Backward, 1000)
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
