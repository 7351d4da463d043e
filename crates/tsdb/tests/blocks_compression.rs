//! Bytes per sample on disk for the generated node-exporter-like data set
//! (20k series x 240 samples at 15 s). Prints the figure; asserts the target.

use sightline_model::Matcher;
use sightline_tsdb::block::gen::{series, GenConfig};
use sightline_tsdb::block::{Block, BlockWriter};

fn measure(cfg: &GenConfig) -> (f64, Block) {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.keep();
    let end = cfg.start_ms + cfg.samples_per_series as i64 * cfg.interval_ms + cfg.jitter_ms + 1;
    let mut w = BlockWriter::new(&dir, cfg.start_ms, end).unwrap();
    for i in 0..cfg.series {
        let (labels, samples) = series(cfg, i);
        w.add_series(&labels, &mut samples.into_iter()).unwrap();
    }
    let meta = w.finish().unwrap();
    assert_eq!(meta.num_samples, (cfg.series * cfg.samples_per_series) as u64);
    let block = Block::open(&dir.join(&meta.id)).unwrap();
    let bps = meta.size_bytes as f64 / meta.num_samples as f64;
    (bps, block)
}

#[test]
fn bytes_per_sample_on_generated_set() {
    let cfg = GenConfig::default();
    let (bps, block) = measure(&cfg);
    let idx = std::fs::metadata(block.dir().join("index")).unwrap().len();
    let chk = std::fs::metadata(block.dir().join("chunks")).unwrap().len();
    println!(
        "generated set: {} series x {} samples: {bps:.3} bytes/sample (index {idx} B, chunks {chk} B)",
        cfg.series, cfg.samples_per_series
    );
    // Spot-check decoded values against the generator.
    for i in [0usize, 1, 25, 37, 50, 65, 99, 12_345, 19_999] {
        let (labels, samples) = series(&cfg, i);
        let ms: Vec<Matcher> = labels.iter().map(|l| Matcher::equal(l.name, l.value)).collect();
        let mut got = block.select(&ms, i64::MIN, i64::MAX, false).unwrap();
        assert_eq!(got.len(), 1);
        let mut out = Vec::new();
        while let Some(s) = got[0].1.next() {
            out.push(s);
        }
        assert_eq!(out, samples);
    }
    assert!(bps <= 1.45, "bytes/sample {bps:.3} above the 1.45 target");
    let jcfg = GenConfig {
        jitter_ms: 20,
        ..GenConfig::default()
    };
    let (jbps, _) = measure(&jcfg);
    println!("generated set with 0-20 ms timestamp jitter: {jbps:.3} bytes/sample");
    std::fs::remove_dir_all(block.dir().parent().unwrap()).ok();
}
