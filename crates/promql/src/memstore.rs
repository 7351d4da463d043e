//! An in-memory [`Storage`] for tests and the conformance runner.
//!
//! Series are kept in a `BTreeMap` keyed by their [`Labels`] (so selects come
//! out sorted by labels, as the [`Querier`] contract requires), each with its
//! samples sorted by timestamp. A sample for an existing timestamp replaces
//! the old one (test scripts may `load` the same point twice). Matchers use
//! [`sightline_model::Matcher::matches`], where a missing label matches as
//! the empty string, exactly as in Prometheus.
//!
//! A querier snapshots the matching samples at `select` time, so it is a
//! consistent view even if appends happen concurrently.

use sightline_model::{
    AppendError, Appender, CommitStats, LabelRef, Labels, Matcher, Querier, Sample, SampleIterator,
    SelectHints, Series, SeriesRef, SeriesSet, Storage, StorageError,
};
use std::collections::BTreeMap;
use std::sync::RwLock;

#[derive(Default)]
struct Inner {
    series: BTreeMap<Labels, Vec<Sample>>,
    /// `SeriesRef(i)` is `refs[i]`.
    refs: Vec<Labels>,
    ref_of: std::collections::HashMap<Labels, u64>,
}

/// Sorted series with sorted samples, all in memory.
#[derive(Default)]
pub struct MemStorage {
    inner: RwLock<Inner>,
}

impl MemStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops all series.
    pub fn clear(&self) {
        let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
        *g = Inner::default();
    }

    /// Adds one sample directly (replacing a sample at the same timestamp).
    pub fn add(&self, labels: &Labels, t: i64, v: f64) {
        let mut g = self.inner.write().unwrap_or_else(|e| e.into_inner());
        g.insert(labels, t, v);
    }

    /// Number of series held.
    pub fn series_count(&self) -> usize {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).series.len()
    }
}

impl Inner {
    fn insert(&mut self, labels: &Labels, t: i64, v: f64) {
        if !self.ref_of.contains_key(labels) {
            self.ref_of.insert(labels.clone(), self.refs.len() as u64);
            self.refs.push(labels.clone());
        }
        let samples = self.series.entry(labels.clone()).or_default();
        match samples.binary_search_by(|s| s.t.cmp(&t)) {
            Ok(i) => samples[i].v = v,
            Err(i) => samples.insert(i, Sample { t, v }),
        }
    }
}

struct MemAppender<'a> {
    store: &'a MemStorage,
    pending: Vec<(Labels, i64, f64)>,
}

impl Appender for MemAppender<'_> {
    fn append(&mut self, labels: &[LabelRef<'_>], t: i64, v: f64) -> Result<SeriesRef, AppendError> {
        let labels = Labels::from_refs(labels);
        let r = {
            let mut g = self.store.inner.write().unwrap_or_else(|e| e.into_inner());
            match g.ref_of.get(&labels) {
                Some(r) => *r,
                None => {
                    let r = g.refs.len() as u64;
                    g.ref_of.insert(labels.clone(), r);
                    g.refs.push(labels.clone());
                    r
                }
            }
        };
        self.pending.push((labels, t, v));
        Ok(SeriesRef(r))
    }

    fn append_ref(&mut self, series: SeriesRef, t: i64, v: f64) -> Result<(), AppendError> {
        let labels = {
            let g = self.store.inner.read().unwrap_or_else(|e| e.into_inner());
            g.refs
                .get(series.0 as usize)
                .cloned()
                .ok_or(AppendError::UnknownSeriesRef)?
        };
        self.pending.push((labels, t, v));
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<CommitStats, StorageError> {
        let mut g = self.store.inner.write().unwrap_or_else(|e| e.into_inner());
        let mut stats = CommitStats::default();
        for (l, t, v) in &self.pending {
            if !g.series.contains_key(l) {
                stats.new_series += 1;
            }
            g.insert(l, *t, *v);
            stats.samples += 1;
        }
        Ok(stats)
    }

    fn rollback(self: Box<Self>) {}
}

struct MemQuerier<'a> {
    store: &'a MemStorage,
    mint: i64,
    maxt: i64,
}

struct VecIter {
    samples: Vec<Sample>,
    pos: usize,
}

impl SampleIterator for VecIter {
    fn next(&mut self) -> Option<Sample> {
        let s = self.samples.get(self.pos).copied();
        self.pos += 1;
        s
    }

    fn seek(&mut self, t: i64) -> Option<Sample> {
        let rest = &self.samples[self.pos.min(self.samples.len())..];
        self.pos += rest.partition_point(|s| s.t < t);
        self.next()
    }
}

fn matches_all(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

impl Querier for MemQuerier<'_> {
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<SeriesSet<'_>, StorageError> {
        let g = self.store.inner.read().unwrap_or_else(|e| e.into_inner());
        let (lo, hi) = (self.mint.max(hints.start), self.maxt.min(hints.end));
        let mut out = Vec::new();
        for (labels, samples) in &g.series {
            if !matches_all(labels, matchers) {
                continue;
            }
            let samples: Vec<Sample> = if hints.labels_only {
                Vec::new()
            } else {
                let a = samples.partition_point(|s| s.t < lo);
                let b = samples.partition_point(|s| s.t <= hi);
                samples[a..b.max(a)].to_vec()
            };
            out.push(Ok(Series {
                labels: labels.clone(),
                samples: Box::new(VecIter { samples, pos: 0 }),
            }));
            if hints.limit > 0 && out.len() >= hints.limit {
                break;
            }
        }
        Ok(Box::new(out.into_iter()))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let g = self.store.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut names = std::collections::BTreeSet::new();
        for labels in g.series.keys().filter(|l| matches_all(l, matchers)) {
            names.extend(labels.iter().map(|l| l.name.to_string()));
        }
        Ok(names.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let g = self.store.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut vals = std::collections::BTreeSet::new();
        for labels in g.series.keys().filter(|l| matches_all(l, matchers)) {
            if let Some(v) = labels.get(name) {
                vals.insert(v.to_string());
            }
        }
        Ok(vals.into_iter().collect())
    }
}

impl Storage for MemStorage {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(MemAppender {
            store: self,
            pending: Vec::new(),
        })
    }

    fn querier(&self, mint: i64, maxt: i64) -> Result<Box<dyn Querier + '_>, StorageError> {
        Ok(Box::new(MemQuerier {
            store: self,
            mint,
            maxt,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_model::MatchOp;

    fn collect(q: &dyn Querier, ms: &[Matcher], start: i64, end: i64) -> Vec<(String, Vec<(i64, f64)>)> {
        let hints = SelectHints {
            start,
            end,
            ..Default::default()
        };
        q.select(ms, &hints)
            .unwrap()
            .map(|s| {
                let mut s = s.unwrap();
                let mut pts = Vec::new();
                while let Some(x) = s.samples.next() {
                    pts.push((x.t, x.v));
                }
                (s.labels.to_string(), pts)
            })
            .collect()
    }

    #[test]
    fn select_sorted_with_matcher_semantics_and_range() {
        let st = MemStorage::new();
        let mut app = st.appender();
        app.append(
            &[LabelRef::new("__name__", "m"), LabelRef::new("job", "b")],
            10,
            1.0,
        )
        .unwrap();
        app.append(
            &[LabelRef::new("__name__", "m"), LabelRef::new("job", "a")],
            10,
            2.0,
        )
        .unwrap();
        let r = app.append(&[LabelRef::new("__name__", "m")], 5, 3.0).unwrap();
        app.append_ref(r, 20, 4.0).unwrap();
        app.commit().unwrap();
        let q = st.querier(0, 100).unwrap();
        let all = collect(&*q, &[Matcher::equal("__name__", "m")], 0, 100);
        assert_eq!(
            all.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
            vec!["m{}", "m{job=\"a\"}", "m{job=\"b\"}"]
        );
        // A missing label matches the empty string.
        let none = Matcher::new(MatchOp::Equal, "job", "").unwrap();
        let r = collect(&*q, &[Matcher::equal("__name__", "m"), none], 0, 100);
        assert_eq!(r, vec![("m{}".to_string(), vec![(5, 3.0), (20, 4.0)])]);
        let re = Matcher::new(MatchOp::NotRegex, "job", "a|").unwrap();
        let r = collect(&*q, &[Matcher::equal("__name__", "m"), re], 0, 100);
        assert_eq!(r.len(), 1);
        // Range restriction is inclusive.
        let r = collect(&*q, &[Matcher::equal("__name__", "m")], 6, 20);
        assert_eq!(r[0].1, vec![(20, 4.0)]);
        assert_eq!(q.label_values("job", &[]).unwrap(), vec!["a", "b"]);
        assert_eq!(q.label_names(&[]).unwrap(), vec!["__name__", "job"]);
    }

    #[test]
    fn same_timestamp_replaces_and_seek_works() {
        let st = MemStorage::new();
        let l = Labels::from_pairs([("__name__", "x")]);
        for t in 0..10 {
            st.add(&l, t * 10, t as f64);
        }
        st.add(&l, 30, 99.0);
        let q = st.querier(0, 1000).unwrap();
        let mut s = q
            .select(
                &[Matcher::equal("__name__", "x")],
                &SelectHints {
                    start: 0,
                    end: 1000,
                    ..Default::default()
                },
            )
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(s.samples.seek(25), Some(Sample { t: 30, v: 99.0 }));
        assert_eq!(s.samples.next(), Some(Sample { t: 40, v: 4.0 }));
        st.clear();
        assert_eq!(st.series_count(), 0);
    }
}
