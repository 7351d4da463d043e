//! Helpers shared by the head/db integration tests.
#![allow(dead_code)]

use sightline_model::{LabelRef, Labels, Matcher, Sample, SelectHints, Storage};
use sightline_tsdb::{Tsdb, TsdbOptions};
use std::path::Path;
use std::sync::Arc;

pub const H: i64 = 3600 * 1000;

pub fn open(dir: &Path) -> Arc<Tsdb> {
    Tsdb::open(dir, TsdbOptions::default()).unwrap()
}

pub fn open_with(dir: &Path, f: impl FnOnce(&mut TsdbOptions)) -> Arc<Tsdb> {
    let mut o = TsdbOptions::default();
    f(&mut o);
    Tsdb::open(dir, o).unwrap()
}

pub fn refs<'a>(pairs: &'a [(&'a str, &'a str)]) -> Vec<LabelRef<'a>> {
    pairs.iter().map(|(n, v)| LabelRef::new(n, v)).collect()
}

/// Appends `samples` for one series in one commit.
pub fn write(db: &Tsdb, labels: &[(&str, &str)], samples: &[(i64, f64)]) {
    let mut app = db.appender();
    let r = refs(labels);
    for &(t, v) in samples {
        app.append(&r, t, v).unwrap();
    }
    app.commit().unwrap();
}

pub type Data = Vec<(Labels, Vec<(i64, u64)>)>;

/// Every series matching `ms` in `[mint, maxt]` with samples (value bits).
pub fn query(db: &Tsdb, ms: &[Matcher], mint: i64, maxt: i64) -> Data {
    let q = db.querier(mint, maxt).unwrap();
    let set = q.select(ms, &SelectHints::default()).unwrap();
    set.map(|s| {
        let mut s = s.unwrap();
        let mut out = Vec::new();
        while let Some(Sample { t, v }) = s.samples.next() {
            out.push((t, v.to_bits()));
        }
        assert!(s.samples.error().is_none());
        (s.labels, out)
    })
    .collect()
}

pub fn name_re(re: &str) -> Matcher {
    Matcher::new(sightline_model::MatchOp::Regex, "__name__", re).unwrap()
}

pub fn all(db: &Tsdb) -> Data {
    query(db, &[name_re(".+")], i64::MIN, i64::MAX)
}

pub fn bits(s: &[(i64, f64)]) -> Vec<(i64, u64)> {
    s.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}
