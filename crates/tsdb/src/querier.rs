//! The read path: one consistent view over the head and the on-disk blocks.
//!
//! A [`TsdbQuerier`] holds the blocks that existed when it was opened (each
//! an `Arc`, so retention or compaction deleting a block does not disturb
//! it). The head is read at select time: its matching series are resolved
//! then, and each series' data is snapshotted when the stream reaches it.
//!
//! `select` asks every source (blocks overlapping the range, then the head)
//! for its matching series, each sorted by labels, and merges them: series
//! with equal labels become one, whose iterator merges the sources' samples
//! by timestamp; equal timestamps are deduplicated, the later source (the
//! head, then the newer block) winning. Iterators allocate nothing per
//! sample. `limit` is applied after merging; `deadline` is checked while
//! selecting and every 128 series while streaming.

use crate::block::Block;
use crate::head::Head;
use sightline_model::{
    Labels, Matcher, Querier, Sample, SampleIterator, SelectHints, Series, SeriesSet, StorageError,
};
use std::sync::Arc;
use std::time::Instant;

/// One source's series, sorted by labels.
pub type Source = Box<dyn Iterator<Item = (Labels, Box<dyn SampleIterator>)> + Send>;

/// A read view over `[mint, maxt]` (inclusive, ms).
pub struct TsdbQuerier<'a> {
    head: &'a Head,
    blocks: Vec<Arc<Block>>,
    mint: i64,
    maxt: i64,
}

impl<'a> TsdbQuerier<'a> {
    /// `blocks` should be sorted by time (older first); only those
    /// overlapping the range are kept.
    pub fn new(head: &'a Head, blocks: Vec<Arc<Block>>, mint: i64, maxt: i64) -> Self {
        let blocks = blocks
            .into_iter()
            .filter(|b| b.meta().min_t <= maxt && b.meta().max_t > mint)
            .collect();
        Self {
            head,
            blocks,
            mint,
            maxt,
        }
    }

    fn head_overlaps(&self, mint: i64, maxt: i64) -> bool {
        match (self.head.min_t(), self.head.max_t()) {
            (Some(a), Some(b)) => a <= maxt && b >= mint,
            _ => false,
        }
    }

    fn blocks_in(&self, mint: i64, maxt: i64) -> impl Iterator<Item = &Arc<Block>> {
        self.blocks
            .iter()
            .filter(move |b| b.meta().min_t <= maxt && b.meta().max_t > mint)
    }
}

fn check_deadline(d: Option<Instant>) -> Result<(), StorageError> {
    if d.is_some_and(|d| Instant::now() >= d) {
        return Err(StorageError::DeadlineExceeded);
    }
    Ok(())
}

impl Querier for TsdbQuerier<'_> {
    fn select(&self, matchers: &[Matcher], hints: &SelectHints) -> Result<SeriesSet<'_>, StorageError> {
        let (mut mint, mut maxt) = (self.mint, self.maxt);
        if hints.start != 0 || hints.end != 0 {
            mint = mint.max(hints.start);
            maxt = maxt.min(hints.end);
        }
        check_deadline(hints.deadline)?;
        let mut sources: Vec<Source> = Vec::new();
        if mint <= maxt {
            for b in self.blocks_in(mint, maxt) {
                // Always select with chunk metadata so series without samples
                // in range are left out; with `labels_only` the (lazy)
                // iterators are then dropped unread.
                let sel = b.select(matchers, mint, maxt, false)?;
                if hints.labels_only {
                    sources.push(Box::new(
                        sel.into_iter()
                            .map(|(l, _)| (l, Box::new(EmptyIter) as Box<dyn SampleIterator>)),
                    ));
                } else {
                    sources.push(Box::new(sel.into_iter()));
                }
                check_deadline(hints.deadline)?;
            }
            if self.head_overlaps(mint, maxt) {
                let head = self
                    .head
                    .select(matchers, mint, maxt, hints.labels_only, hints.deadline)?;
                sources.push(Box::new(
                    head.map(|(l, it)| (l, Box::new(it) as Box<dyn SampleIterator>)),
                ));
            }
        }
        Ok(Box::new(MergedSeriesSet::new(
            sources,
            hints.limit,
            hints.deadline,
        )))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut out = Vec::new();
        for b in self.blocks_in(self.mint, self.maxt) {
            out.extend(b.label_names(matchers)?);
        }
        if self.head_overlaps(self.mint, self.maxt) {
            out.extend(self.head.label_names(matchers)?);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut out = Vec::new();
        for b in self.blocks_in(self.mint, self.maxt) {
            out.extend(b.label_values(name, matchers)?);
        }
        if self.head_overlaps(self.mint, self.maxt) {
            out.extend(self.head.label_values(name, matchers)?);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

struct EmptyIter;

impl SampleIterator for EmptyIter {
    fn next(&mut self) -> Option<Sample> {
        None
    }
}

/// K-way merge of per-source series lists sorted by labels.
pub struct MergedSeriesSet {
    sources: Vec<Source>,
    heads: Vec<Option<(Labels, Box<dyn SampleIterator>)>>,
    limit: usize,
    emitted: usize,
    deadline: Option<Instant>,
    done: bool,
}

impl MergedSeriesSet {
    pub fn new(mut sources: Vec<Source>, limit: usize, deadline: Option<Instant>) -> Self {
        let heads = sources.iter_mut().map(|s| s.next()).collect();
        Self {
            sources,
            heads,
            limit,
            emitted: 0,
            deadline,
            done: false,
        }
    }
}

impl Iterator for MergedSeriesSet {
    type Item = Result<Series, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || (self.limit > 0 && self.emitted >= self.limit) {
            return None;
        }
        if self.emitted % 128 == 127 && check_deadline(self.deadline).is_err() {
            self.done = true;
            return Some(Err(StorageError::DeadlineExceeded));
        }
        let min = self.heads.iter().flatten().map(|(l, _)| l).min()?.clone();
        let mut its: Vec<Box<dyn SampleIterator>> = Vec::new();
        for (i, h) in self.heads.iter_mut().enumerate() {
            if h.as_ref().is_some_and(|(l, _)| *l == min) {
                let (_, it) = h.take().expect("checked");
                its.push(it);
                *h = self.sources[i].next();
            }
        }
        self.emitted += 1;
        let samples: Box<dyn SampleIterator> = if its.len() == 1 {
            its.pop().expect("one")
        } else {
            Box::new(MergeIter::new(its))
        };
        Some(Ok(Series { labels: min, samples }))
    }
}

/// Merges sample iterators by timestamp; at equal timestamps the last
/// iterator's sample wins.
pub struct MergeIter {
    its: Vec<Box<dyn SampleIterator>>,
    cur: Vec<Option<Sample>>,
    started: bool,
}

impl MergeIter {
    pub fn new(its: Vec<Box<dyn SampleIterator>>) -> Self {
        let n = its.len();
        Self {
            its,
            cur: vec![None; n],
            started: false,
        }
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            for (c, it) in self.cur.iter_mut().zip(self.its.iter_mut()) {
                *c = it.next();
            }
        }
    }

    fn pop_min(&mut self) -> Option<Sample> {
        let t = self.cur.iter().flatten().map(|s| s.t).min()?;
        let mut out = None;
        for (c, it) in self.cur.iter_mut().zip(self.its.iter_mut()) {
            if let Some(s) = *c {
                if s.t == t {
                    out = Some(s);
                    *c = it.next();
                }
            }
        }
        out
    }
}

impl SampleIterator for MergeIter {
    fn next(&mut self) -> Option<Sample> {
        self.start();
        self.pop_min()
    }

    fn seek(&mut self, t: i64) -> Option<Sample> {
        if !self.started {
            self.started = true;
            for (c, it) in self.cur.iter_mut().zip(self.its.iter_mut()) {
                *c = it.seek(t);
            }
        } else {
            for (c, it) in self.cur.iter_mut().zip(self.its.iter_mut()) {
                if c.is_some_and(|s| s.t < t) {
                    *c = it.seek(t);
                }
            }
        }
        self.pop_min()
    }

    fn error(&self) -> Option<&StorageError> {
        self.its.iter().find_map(|i| i.error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct VecIter(Vec<Sample>, usize);

    impl SampleIterator for VecIter {
        fn next(&mut self) -> Option<Sample> {
            let s = self.0.get(self.1).copied();
            self.1 += 1;
            s
        }
    }

    fn it(ts: &[(i64, f64)]) -> Box<dyn SampleIterator> {
        Box::new(VecIter(ts.iter().map(|&(t, v)| Sample { t, v }).collect(), 0))
    }

    #[test]
    fn merge_dedupes_later_source_wins() {
        let mut m = MergeIter::new(vec![
            it(&[(1, 1.0), (3, 1.0), (5, 1.0)]),
            it(&[(2, 2.0), (3, 2.0)]),
        ]);
        let mut got = Vec::new();
        while let Some(s) = m.next() {
            got.push((s.t, s.v));
        }
        assert_eq!(got, vec![(1, 1.0), (2, 2.0), (3, 2.0), (5, 1.0)]);
        let mut m = MergeIter::new(vec![
            it(&[(1, 1.0), (3, 1.0), (5, 1.0)]),
            it(&[(2, 2.0), (4, 2.0)]),
        ]);
        assert_eq!(m.seek(3).map(|s| s.t), Some(3));
        assert_eq!(m.next().map(|s| s.t), Some(4));
        assert_eq!(m.seek(5).map(|s| s.t), Some(5));
        assert_eq!(m.next(), None);
    }

    #[test]
    fn merged_set_unions_sorted_sources() {
        let l = |s: &str| Labels::from_pairs([("__name__", s)]);
        let a: Vec<(Labels, Box<dyn SampleIterator>)> =
            vec![(l("a"), it(&[(1, 1.0)])), (l("c"), it(&[(1, 1.0)]))];
        let b: Vec<(Labels, Box<dyn SampleIterator>)> =
            vec![(l("b"), it(&[(1, 1.0)])), (l("c"), it(&[(2, 1.0)]))];
        let set = MergedSeriesSet::new(vec![Box::new(a.into_iter()), Box::new(b.into_iter())], 0, None);
        let got: Vec<(String, usize)> = set
            .map(|s| {
                let mut s = s.unwrap();
                let mut n = 0;
                while s.samples.next().is_some() {
                    n += 1;
                }
                (s.labels.metric_name().unwrap().to_string(), n)
            })
            .collect();
        assert_eq!(got, vec![("a".into(), 1), ("b".into(), 1), ("c".into(), 2)]);
    }
}
