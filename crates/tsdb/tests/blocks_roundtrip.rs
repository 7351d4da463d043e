//! Round trips through on-disk blocks: samples, ranges, seeks, label APIs,
//! empty blocks, large labels and bad input.

use sightline_model::{AppendError, Labels, MatchOp, Matcher, Sample, SampleIterator, StorageError};
use sightline_tsdb::block::gen::Rng;
use sightline_tsdb::block::{is_ulid, list_block_dirs, remove_tmp_dirs, Block, BlockWriter};
use std::path::Path;

type Data = Vec<(Labels, Vec<Sample>)>;

fn write(dir: &Path, min_t: i64, max_t: i64, data: &Data) -> Block {
    let mut w = BlockWriter::new(dir, min_t, max_t).unwrap();
    for (l, s) in data {
        w.add_series(l, &mut s.iter().copied()).unwrap();
    }
    let meta = w.finish().unwrap();
    Block::open(&dir.join(&meta.id)).unwrap()
}

fn drain(it: &mut dyn SampleIterator) -> Vec<Sample> {
    let mut out = Vec::new();
    while let Some(s) = it.next() {
        out.push(s);
    }
    assert!(it.error().is_none());
    out
}

fn select(b: &Block, ms: &[Matcher], mint: i64, maxt: i64) -> Data {
    b.select(ms, mint, maxt, false)
        .unwrap()
        .into_iter()
        .map(|(l, mut it)| (l, drain(it.as_mut())))
        .collect()
}

fn random_data(rng: &mut Rng, n: usize) -> Data {
    let mut data = Vec::new();
    for i in 0..n {
        let labels = Labels::from_pairs([
            ("__name__".to_string(), format!("metric_{}", i % 7)),
            ("job".to_string(), format!("job{}", i % 3)),
            ("instance".to_string(), format!("host{i}")),
        ]);
        let mut t = rng.below(1000) as i64;
        let count = 1 + rng.below(5000) as usize;
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            let v = match rng.below(6) {
                0 => rng.unit(),
                1 => (rng.below(1000) as f64) / 10.0,
                2 => sightline_model::stale_nan(),
                3 => f64::from_bits(rng.next_u64()),
                4 => -(rng.below(5) as f64),
                _ => 1e300 * rng.unit(),
            };
            samples.push(Sample { t, v });
            t += 1 + rng.below(30_000) as i64;
        }
        data.push((labels, samples));
    }
    data
}

fn same_bits(a: &[Sample], b: &[Sample]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.t == y.t && x.v.to_bits() == y.v.to_bits())
}

#[test]
fn round_trip_random_series_and_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(7);
    let mut data = random_data(&mut rng, 300);
    let max_t = data.iter().map(|(_, s)| s.last().unwrap().t).max().unwrap() + 1;
    // Written in reverse order; read back sorted.
    data.reverse();
    let b = write(dir.path(), 0, max_t, &data);
    data.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(is_ulid(&b.meta().id));
    assert_eq!(b.meta().num_series, 300);
    assert_eq!(
        b.meta().num_samples,
        data.iter().map(|(_, s)| s.len() as u64).sum::<u64>()
    );
    assert_eq!(b.meta().level, 1);
    assert_eq!(b.meta().sources, vec![b.meta().id.clone()]);
    assert_eq!(b.verify().unwrap(), b.meta().num_samples);

    let got = select(&b, &[], i64::MIN, i64::MAX);
    assert_eq!(got.len(), data.len());
    for ((gl, gs), (dl, ds)) in got.iter().zip(&data) {
        assert_eq!(gl, dl);
        assert!(same_bits(gs, ds), "{gl}");
    }
    // Sub-ranges are inclusive on both ends; series without samples in range
    // are left out.
    for (mint, maxt) in [
        (0, 0),
        (1000, 50_000),
        (max_t / 2, max_t / 2 + 100_000),
        (max_t - 1, i64::MAX),
    ] {
        let got = select(&b, &[], mint, maxt);
        let want: Data = data
            .iter()
            .map(|(l, s)| {
                (
                    l.clone(),
                    s.iter()
                        .copied()
                        .filter(|x| x.t >= mint && x.t <= maxt)
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, s)| !s.is_empty())
            .collect();
        assert_eq!(got.len(), want.len(), "range {mint}..{maxt}");
        for ((gl, gs), (wl, ws)) in got.iter().zip(&want) {
            assert_eq!(gl, wl);
            assert!(same_bits(gs, ws));
        }
    }
}

#[test]
fn seek_skips_and_respects_range() {
    let dir = tempfile::tempdir().unwrap();
    let samples: Vec<Sample> = (0..10_000)
        .map(|i| Sample {
            t: i * 10,
            v: i as f64,
        })
        .collect();
    let l = Labels::from_pairs([("__name__", "x")]);
    let b = write(dir.path(), 0, 100_000, &vec![(l, samples.clone())]);
    let mut sel = b.select(&[], 5_000, 90_000, false).unwrap();
    let it = sel[0].1.as_mut();
    assert_eq!(it.next().unwrap().t, 5_000);
    assert_eq!(it.seek(5_000).unwrap().t, 5_010); // current already past; next qualifying
    assert_eq!(it.seek(60_001).unwrap().t, 60_010);
    assert_eq!(it.seek(60_000).unwrap().t, 60_020);
    assert_eq!(it.seek(89_995).unwrap().t, 90_000);
    assert!(it.next().is_none());
    assert!(it.seek(0).is_none());
    let mut sel = b.select(&[], 0, i64::MAX, false).unwrap();
    assert_eq!(
        sel[0].1.seek(99_990).unwrap(),
        Sample {
            t: 99_990,
            v: 9_999.0
        }
    );
    assert!(sel[0].1.seek(99_991).is_none());
}

#[test]
fn labels_only_and_label_apis() {
    let dir = tempfile::tempdir().unwrap();
    let mk = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
    let s = vec![Sample { t: 10, v: 1.0 }];
    let data = vec![
        (
            mk(&[("__name__", "up"), ("job", "api"), ("zone", "a")]),
            s.clone(),
        ),
        (mk(&[("__name__", "up"), ("job", "web")]), s.clone()),
        (
            mk(&[("__name__", "rpc"), ("job", "api"), ("code", "200")]),
            s.clone(),
        ),
    ];
    let b = write(dir.path(), 0, 100, &data);
    let sel = b
        .select(&[Matcher::equal("__name__", "up")], 1000, 2000, true)
        .unwrap();
    assert_eq!(sel.len(), 2, "labels_only ignores the time range");
    for (_, mut it) in sel {
        assert!(it.next().is_none());
    }
    assert!(b
        .select(&[Matcher::equal("__name__", "up")], 1000, 2000, false)
        .unwrap()
        .is_empty());
    assert_eq!(
        b.label_names(&[]).unwrap(),
        vec!["__name__", "code", "job", "zone"]
    );
    assert_eq!(
        b.label_names(&[Matcher::equal("job", "web")]).unwrap(),
        vec!["__name__", "job"]
    );
    assert_eq!(b.label_values("job", &[]).unwrap(), vec!["api", "web"]);
    assert_eq!(
        b.label_values("job", &[Matcher::equal("__name__", "rpc")])
            .unwrap(),
        vec!["api"]
    );
    assert_eq!(b.label_values("nope", &[]).unwrap(), Vec::<String>::new());
    let re = Matcher::new(MatchOp::Regex, "zone", ".+").unwrap();
    assert_eq!(b.label_values("__name__", &[re]).unwrap(), vec!["up"]);
    assert!(b
        .label_values("job", &[Matcher::equal("job", "none")])
        .unwrap()
        .is_empty());
}

#[test]
fn empty_block_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let l = Labels::from_pairs([("__name__", "x")]);
    // A series without samples is not stored.
    let b = write(dir.path(), 0, 10, &vec![(l, vec![])]);
    assert_eq!(b.meta().num_series, 0);
    assert_eq!(b.meta().num_samples, 0);
    assert!(b.select(&[], i64::MIN, i64::MAX, false).unwrap().is_empty());
    assert!(b.label_names(&[]).unwrap().is_empty());
    assert!(b.label_values("__name__", &[]).unwrap().is_empty());
    assert_eq!(b.verify().unwrap(), 0);
    assert!(b.meta().size_bytes > 0);
}

#[test]
fn large_labels_and_many_samples() {
    let dir = tempfile::tempdir().unwrap();
    let big = "v".repeat(100_000);
    let mut pairs: Vec<(String, String)> = (0..64)
        .map(|i| (format!("label_{i:02}"), format!("{i}-{big}")))
        .collect();
    pairs.push(("__name__".into(), "wide".into()));
    let l = Labels::from_pairs(pairs);
    let samples: Vec<Sample> = (0..20_000)
        .map(|i| Sample {
            t: i,
            v: (i % 17) as f64,
        })
        .collect();
    let b = write(dir.path(), 0, 20_000, &vec![(l.clone(), samples.clone())]);
    let got = select(
        &b,
        &[Matcher::equal("label_63", format!("63-{big}"))],
        i64::MIN,
        i64::MAX,
    );
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, l);
    assert!(same_bits(&got[0].1, &samples));
}

#[test]
fn bad_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let l = Labels::from_pairs([("__name__", "x")]);
    assert!(BlockWriter::new(dir.path(), 10, 10).is_err());
    let mut w = BlockWriter::new(dir.path(), 0, 100).unwrap();
    let e = w
        .add_series(&l, &mut [Sample { t: 100, v: 1.0 }].into_iter())
        .unwrap_err();
    assert!(matches!(e, StorageError::Append(AppendError::OutOfBounds(100))));
    let e = w
        .add_series(&l, &mut [Sample { t: -1, v: 1.0 }].into_iter())
        .unwrap_err();
    assert!(matches!(e, StorageError::Append(AppendError::OutOfBounds(-1))));
    let e = w
        .add_series(
            &l,
            &mut [Sample { t: 5, v: 1.0 }, Sample { t: 5, v: 1.0 }].into_iter(),
        )
        .unwrap_err();
    assert!(matches!(e, StorageError::Append(AppendError::OutOfOrder)));
    drop(w);
    // Dropping an unfinished writer leaves nothing behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let mut w = BlockWriter::new(dir.path(), 0, 100).unwrap();
    w.add_series(&l, &mut [Sample { t: 1, v: 1.0 }].into_iter())
        .unwrap();
    w.add_series(&l, &mut [Sample { t: 2, v: 1.0 }].into_iter())
        .unwrap();
    assert!(w.finish().is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn directory_helpers() {
    let dir = tempfile::tempdir().unwrap();
    let l = Labels::from_pairs([("__name__", "x")]);
    let b1 = write(
        dir.path(),
        0,
        10,
        &vec![(l.clone(), vec![Sample { t: 1, v: 1.0 }])],
    );
    let b2 = write(dir.path(), 10, 20, &vec![(l, vec![Sample { t: 11, v: 1.0 }])]);
    std::fs::create_dir(dir.path().join(format!("{}.tmp", b2.meta().id.replace('0', "1")))).unwrap();
    std::fs::create_dir(dir.path().join("not-a-block")).unwrap();
    assert_eq!(remove_tmp_dirs(dir.path()).unwrap(), 1);
    let dirs = list_block_dirs(dir.path()).unwrap();
    assert_eq!(dirs, vec![b1.dir().to_path_buf(), b2.dir().to_path_buf()]);
    assert!(b1.meta().id < b2.meta().id);
}
