//! Compaction of adjacent and overlapping blocks, planning over real block
//! metas, leftover detection, and retention over real blocks.

use sightline_model::{Labels, Sample};
use sightline_tsdb::block::{Block, BlockWriter};
use sightline_tsdb::compact::{compact, plan, superseded};
use sightline_tsdb::retention::blocks_to_delete;
use std::collections::BTreeMap;
use std::path::Path;

type Data = BTreeMap<Labels, Vec<Sample>>;

fn write(dir: &Path, min_t: i64, max_t: i64, data: &[(Labels, Vec<Sample>)]) -> Block {
    let mut w = BlockWriter::new(dir, min_t, max_t).unwrap();
    for (l, s) in data {
        w.add_series(l, &mut s.iter().copied()).unwrap();
    }
    let meta = w.finish().unwrap();
    Block::open(&dir.join(&meta.id)).unwrap()
}

fn read_all(b: &Block) -> Data {
    b.select(&[], i64::MIN, i64::MAX, false)
        .unwrap()
        .into_iter()
        .map(|(l, mut it)| {
            let mut v = Vec::new();
            while let Some(s) = it.next() {
                v.push(s);
            }
            assert!(it.error().is_none());
            (l, v)
        })
        .collect()
}

fn lbl(name: &str, i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__".to_string(), name.to_string()),
        ("i".to_string(), i.to_string()),
    ])
}

fn range(from: i64, to: i64, step: i64, v: impl Fn(i64) -> f64) -> Vec<Sample> {
    (from..to)
        .step_by(step as usize)
        .map(|t| Sample { t, v: v(t) })
        .collect()
}

#[test]
fn adjacent_blocks_concatenate() {
    let dir = tempfile::tempdir().unwrap();
    // Series 0 in all three blocks, series 1 only in the first, series 2 only in the last.
    let a = write(
        dir.path(),
        0,
        1000,
        &[
            (lbl("m", 0), range(0, 1000, 10, |t| t as f64)),
            (lbl("m", 1), range(5, 100, 5, |_| 1.0)),
        ],
    );
    let b = write(
        dir.path(),
        1000,
        2000,
        &[(lbl("m", 0), range(1000, 2000, 10, |t| t as f64))],
    );
    let c = write(
        dir.path(),
        2000,
        3000,
        &[
            (lbl("m", 0), range(2000, 3000, 10, |t| t as f64)),
            (lbl("z", 2), range(2500, 2600, 1, |t| t as f64 * 0.5)),
        ],
    );
    let meta = compact(&[&c, &a, &b], dir.path()).unwrap();
    assert_eq!((meta.min_t, meta.max_t, meta.level), (0, 3000, 2));
    let mut sources = vec![a.meta().id.clone(), b.meta().id.clone(), c.meta().id.clone()];
    sources.sort();
    assert_eq!(meta.sources, sources);
    let out = Block::open(&dir.path().join(&meta.id)).unwrap();
    let mut want = read_all(&a);
    for blk in [&b, &c] {
        for (l, s) in read_all(blk) {
            want.entry(l).or_default().extend(s);
        }
    }
    assert_eq!(read_all(&out), want);
    assert_eq!(
        meta.num_samples,
        want.values().map(|s| s.len() as u64).sum::<u64>()
    );
    assert_eq!(meta.num_series, 3);
    assert_eq!(out.verify().unwrap(), meta.num_samples);
    // A second compaction carries lineage up.
    let d = write(
        dir.path(),
        3000,
        4000,
        &[(lbl("m", 0), range(3000, 3010, 1, |_| 2.0))],
    );
    let meta2 = compact(&[&out, &d], dir.path()).unwrap();
    assert_eq!(meta2.level, 3);
    assert_eq!(meta2.sources.len(), 4);
}

#[test]
fn overlapping_blocks_merge_and_dedupe() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(
        dir.path(),
        0,
        1000,
        &[
            (lbl("m", 0), range(0, 1000, 10, |_| 1.0)),
            (lbl("m", 1), range(0, 500, 100, |_| 7.0)),
        ],
    );
    // Newer block overlaps [500, 1500) with other timestamps interleaved and some equal.
    let new = write(
        dir.path(),
        500,
        1500,
        &[(lbl("m", 0), range(500, 1500, 5, |_| 2.0))],
    );
    let meta = compact(&[&new, &old], dir.path()).unwrap();
    assert_eq!((meta.min_t, meta.max_t), (0, 1500));
    let got = read_all(&Block::open(&dir.path().join(&meta.id)).unwrap());
    let s = &got[&lbl("m", 0)];
    // Strictly increasing, every timestamp once.
    assert!(s.windows(2).all(|w| w[0].t < w[1].t));
    let mut want: BTreeMap<i64, f64> = range(0, 1000, 10, |_| 1.0)
        .into_iter()
        .map(|s| (s.t, s.v))
        .collect();
    for x in range(500, 1500, 5, |_| 2.0) {
        want.insert(x.t, x.v); // the newer block wins on equal timestamps
    }
    assert_eq!(s.len(), want.len());
    for x in s {
        assert_eq!(want[&x.t], x.v, "t={}", x.t);
    }
    assert_eq!(got[&lbl("m", 1)], range(0, 500, 100, |_| 7.0));
}

#[test]
fn plan_then_compact_then_retention() {
    let dir = tempfile::tempdir().unwrap();
    const R: i64 = 2 * 3600 * 1000;
    let mut blocks = Vec::new();
    for k in 0..4 {
        let data: Vec<(Labels, Vec<Sample>)> = (0..20)
            .map(|i| {
                (
                    lbl("m", i),
                    range(k * R, (k + 1) * R, 15_000, |t| (t / 1000) as f64),
                )
            })
            .collect();
        blocks.push(write(dir.path(), k * R, (k + 1) * R, &data));
    }
    let metas: Vec<_> = blocks.iter().map(|b| b.meta().clone()).collect();
    let ids = plan(&metas, R).expect("a complete 6h window");
    let want: Vec<String> = metas[..3].iter().map(|m| m.id.clone()).collect();
    assert_eq!(ids, want);
    let inputs: Vec<&Block> = blocks.iter().filter(|b| ids.contains(&b.meta().id)).collect();
    let merged = compact(&inputs, dir.path()).unwrap();
    let mut all = metas.clone();
    all.push(merged.clone());
    assert_eq!(superseded(&all), ids);
    let remaining = vec![merged.clone(), metas[3].clone()];
    assert_eq!(plan(&remaining, R), None);
    // Retention by time: the 6h block ends 2h before the newest.
    assert_eq!(
        blocks_to_delete(&remaining, Some(R), None, 0),
        vec![merged.id.clone()]
    );
    assert!(blocks_to_delete(&remaining, Some(R + 1), None, 0).is_empty());
    // By size: the budget holds the newest block only.
    let newest = metas[3].size_bytes;
    assert_eq!(
        blocks_to_delete(&remaining, None, Some(newest + 10), 10),
        vec![merged.id.clone()]
    );
    assert_eq!(blocks_to_delete(&remaining, None, Some(newest + 10), 11).len(), 2);
    // The merged block is smaller than its inputs together (shared index).
    let input_size: u64 = metas[..3].iter().map(|m| m.size_bytes).sum();
    assert!(merged.size_bytes < input_size);
}
