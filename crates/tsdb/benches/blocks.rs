//! Block write and read throughput on the generated node-exporter-like set,
//! and its bytes/sample on disk (printed before the benchmarks run).
//!
//! `cargo bench -p sightline-tsdb --bench blocks`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sightline_model::{Labels, MatchOp, Matcher, Sample};
use sightline_tsdb::block::gen::{series, GenConfig};
use sightline_tsdb::block::{Block, BlockWriter};
use std::path::Path;

fn dataset(cfg: &GenConfig) -> Vec<(Labels, Vec<Sample>)> {
    (0..cfg.series).map(|i| series(cfg, i)).collect()
}

fn write_block(dir: &Path, cfg: &GenConfig, data: &[(Labels, Vec<Sample>)]) -> Block {
    let end = cfg.start_ms + cfg.samples_per_series as i64 * cfg.interval_ms + cfg.jitter_ms + 1;
    let mut w = BlockWriter::new(dir, cfg.start_ms, end).unwrap();
    for (l, s) in data {
        w.add_series(l, &mut s.iter().copied()).unwrap();
    }
    let meta = w.finish().unwrap();
    Block::open(&dir.join(meta.id)).unwrap()
}

fn drain(sel: sightline_tsdb::block::Selected) -> usize {
    let mut n = 0;
    for (_, mut it) in sel {
        while it.next().is_some() {
            n += 1;
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    // Headline figure: the full 20k x 240 set.
    for jitter in [0, 2, 20] {
        let cfg = GenConfig {
            jitter_ms: jitter,
            ..GenConfig::default()
        };
        let data = dataset(&cfg);
        let start = std::time::Instant::now();
        let b = write_block(tmp.path(), &cfg, &data);
        let el = start.elapsed();
        let m = b.meta();
        println!(
            "dataset {}x{} jitter 0-{jitter} ms: {:.3} bytes/sample ({} bytes), written in {:?} ({:.1} M samples/s)",
            cfg.series,
            cfg.samples_per_series,
            m.size_bytes as f64 / m.num_samples as f64,
            m.size_bytes,
            el,
            m.num_samples as f64 / el.as_secs_f64() / 1e6
        );
        let start = std::time::Instant::now();
        let n = drain(b.select(&[], i64::MIN, i64::MAX, false).unwrap());
        let el = start.elapsed();
        println!(
            "  full scan: {n} samples in {el:?} ({:.1} M samples/s)",
            n as f64 / el.as_secs_f64() / 1e6
        );
    }

    let cfg = GenConfig {
        series: 2_000,
        ..GenConfig::default()
    };
    let data = dataset(&cfg);
    let samples = (cfg.series * cfg.samples_per_series) as u64;
    let mut g = c.benchmark_group("blocks");
    g.sample_size(10);
    g.throughput(Throughput::Elements(samples));
    g.bench_function(BenchmarkId::new("write", "2000x240"), |bch| {
        bch.iter(|| {
            let d = tempfile::tempdir_in(tmp.path()).unwrap();
            write_block(d.path(), &cfg, &data)
        })
    });
    let block = write_block(tmp.path(), &cfg, &data);
    g.bench_function(BenchmarkId::new("read_all", "2000x240"), |bch| {
        bch.iter(|| drain(block.select(&[], i64::MIN, i64::MAX, false).unwrap()))
    });
    let one_host = [
        Matcher::equal("__name__", "node_load1"),
        Matcher::new(MatchOp::Regex, "instance", "10\\.0\\.0\\.(3|7|11):9100").unwrap(),
    ];
    let full = GenConfig::default();
    let big = write_block(tmp.path(), &full, &dataset(&full));
    let n = drain(big.select(&one_host, i64::MIN, i64::MAX, false).unwrap());
    println!("select of a few series returns {n} samples");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(BenchmarkId::new("select_few_series", "20000x240"), |bch| {
        bch.iter(|| drain(big.select(&one_host, i64::MIN, i64::MAX, false).unwrap()))
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("open", "20000x240"), |bch| {
        bch.iter(|| Block::open(big.dir()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
