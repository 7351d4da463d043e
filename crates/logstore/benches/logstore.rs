//! Criterion benches: segment build (JSON lines -> columnar block), block
//! decode, and a needle search through the store. The corpus-scale
//! yardsticks live in `bench/logs/run.sh`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sightline_logstore::segment::{self, BuildOptions, RowFilter};
use sightline_logstore::{FsyncPolicy, LineFilter, LogRecord, LogStore, Options, SelectRequest};
use sightline_model::Labels;

fn lines(n: usize) -> Vec<LogRecord> {
    let streams: Vec<Labels> = (0..6)
        .map(|i| Labels::from_pairs([("service", format!("svc{i}")), ("pod", format!("svc{i}-pod"))]))
        .collect();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| {
            let s = rnd() as usize % 6;
            let ts = 1_795_000_000_000_000_000 + i as i64 * 1_000_000;
            let msg = format!(
                r#"{{"ts":"2026-11-18T11:06:40.{:06}Z","level":"info","service":"svc{s}","trace_id":"{:016x}{:016x}","user_id":"usr_{:010x}","msg":"GET /api/v1/orders/{} completed with status 200","duration_ms":{}.{:03}}}"#,
                i % 1_000_000,
                rnd(),
                rnd(),
                rnd() % 5000,
                rnd() % 100_000,
                rnd() % 50,
                rnd() % 1000
            );
            LogRecord::new(ts, streams[s].clone(), msg)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let recs = lines(20_000);
    let bytes: usize = recs.iter().map(|r| r.message.len()).sum();
    let mut streams: Vec<Labels> = recs.iter().map(|r| r.stream.clone()).collect();
    streams.sort();
    streams.dedup();
    let sids: Vec<u32> = recs
        .iter()
        .map(|r| streams.binary_search(&r.stream).unwrap() as u32)
        .collect();
    let refs: Vec<&LogRecord> = recs.iter().collect();
    let opts = BuildOptions::default();

    let mut g = c.benchmark_group("segment");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("build_20k_json_lines", |b| {
        b.iter(|| segment::build("t", 0, streams.clone(), &refs, &sids, vec![1], vec![], &opts))
    });
    let (data, meta) = segment::build("t", 0, streams.clone(), &refs, &sids, vec![1], vec![], &opts);
    g.bench_function("decode_all_blocks", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            for (bi, bm) in meta.blocks.iter().enumerate() {
                let f = RowFilter {
                    sid_ok: &|_| true,
                    start: i64::MIN,
                    end: i64::MAX,
                    line_ok: &|_| true,
                    trace_id: None,
                    needles: &[],
                };
                let blk = &data[bm.offset as usize..(bm.offset + u64::from(bm.len)) as usize];
                segment::read_block(&meta, bi, blk, &f, &mut out).unwrap();
            }
            out
        })
    });
    g.finish();

    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(
        dir.path(),
        Options {
            fsync: FsyncPolicy::Never,
            ..Default::default()
        },
    )
    .unwrap();
    store.append("fake", &recs).unwrap();
    store.flush().unwrap();
    let needle = recs[12_345].message[40..60].to_string();
    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("needle_search_20k_lines", |b| {
        b.iter(|| {
            let req =
                SelectRequest::new(vec![], i64::MIN, i64::MAX).filter(LineFilter::Contains(needle.clone()));
            store.select("fake", &req).unwrap().count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
