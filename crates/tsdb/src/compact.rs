//! Compaction: choosing blocks to merge ([`plan`]) and merging them
//! ([`compact`]).
//!
//! Planning rules, checked in this order:
//! 1. Blocks whose time ranges overlap are always merged first (the oldest
//!    overlapping group, transitively closed).
//! 2. Level compaction: for each range `3 x block_range`, `9 x`, `27 x`, ...
//!    (ranges larger than 31 days, or than 10% of the retention time when
//!    known, are not used), blocks are grouped by the aligned window
//!    `[k*range, (k+1)*range)` holding their `min_t`. A group of two or more
//!    blocks that all end inside the window is merged once it is complete:
//!    it spans the whole window, or the window ends before the newest
//!    block starts (no more data will arrive for it). Smaller ranges win;
//!    within a range the oldest window wins.
//!
//! Merging streams every input in label order (a k-way merge over series),
//! concatenates each series' samples, and resolves equal timestamps by
//! keeping the sample of the block with the greatest id (the newest
//! written). The output covers `[min(min_t), max(max_t))`, has level
//! `max(level) + 1` and the union of the inputs' sources. [`compact`] does
//! not delete its inputs: the caller does so once the new block is open
//! (and [`superseded`] finds inputs left behind by a crash in between).

use crate::block::{Block, BlockMeta, BlockWriter, FrameCache};
use sightline_model::{Labels, Sample, SampleIterator, StorageError};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Longest range level compaction produces.
pub const MAX_COMPACTION_RANGE_MS: i64 = 31 * 24 * 3600 * 1000;

/// Which blocks to merge next (`None` = nothing to do). See the module docs.
pub fn plan(metas: &[BlockMeta], block_range_ms: i64) -> Option<Vec<String>> {
    plan_with_retention(metas, block_range_ms, None)
}

/// The compaction ranges for `block_range_ms`: `3x, 9x, 27x ...`, capped at
/// 31 days and at 10% of `retention_ms` when given.
pub fn ranges(block_range_ms: i64, retention_ms: Option<i64>) -> Vec<i64> {
    let mut cap = MAX_COMPACTION_RANGE_MS;
    if let Some(r) = retention_ms.filter(|r| *r > 0) {
        cap = cap.min(r / 10);
    }
    let mut out = Vec::new();
    if block_range_ms <= 0 {
        return out;
    }
    let mut r = block_range_ms.saturating_mul(3);
    while r <= cap {
        out.push(r);
        r = r.saturating_mul(3);
    }
    out
}

/// [`plan`] with the retention time known (caps ranges at 10% of it).
pub fn plan_with_retention(
    metas: &[BlockMeta],
    block_range_ms: i64,
    retention_ms: Option<i64>,
) -> Option<Vec<String>> {
    if metas.len() < 2 {
        return None;
    }
    let mut sorted: Vec<&BlockMeta> = metas.iter().collect();
    sorted.sort_by(|a, b| (a.min_t, a.max_t, &a.id).cmp(&(b.min_t, b.max_t, &b.id)));
    // 1. Overlaps.
    let mut group: Vec<&BlockMeta> = vec![sorted[0]];
    let mut group_max = sorted[0].max_t;
    for m in &sorted[1..] {
        if m.min_t < group_max {
            group.push(m);
            group_max = group_max.max(m.max_t);
        } else {
            if group.len() > 1 {
                break;
            }
            group = vec![m];
            group_max = m.max_t;
        }
    }
    if group.len() > 1 {
        return Some(ids(&group));
    }
    // 2. Levels.
    let newest_min = sorted.iter().map(|m| m.min_t).max().unwrap_or(i64::MIN);
    for r in ranges(block_range_ms, retention_ms) {
        let mut i = 0;
        while i < sorted.len() {
            let w = sorted[i].min_t.div_euclid(r) * r;
            let w_end = w.saturating_add(r);
            let mut j = i;
            while j < sorted.len() && sorted[j].min_t < w_end {
                j += 1;
            }
            let g = &sorted[i..j];
            i = j;
            if g.len() < 2 || g.iter().any(|m| m.max_t > w_end) {
                continue;
            }
            let (gmin, gmax) = (g[0].min_t, g.iter().map(|m| m.max_t).max().unwrap_or(w_end));
            if (gmin == w && gmax == w_end) || w_end <= newest_min {
                return Some(ids(g));
            }
        }
    }
    None
}

fn ids(g: &[&BlockMeta]) -> Vec<String> {
    let mut v: Vec<String> = g.iter().map(|m| m.id.clone()).collect();
    v.sort();
    v
}

/// Blocks whose data is wholly contained in another block of a higher level
/// (left over when a crash hit between writing a compacted block and
/// deleting its inputs). Returned sorted.
pub fn superseded(metas: &[BlockMeta]) -> Vec<String> {
    let mut out = Vec::new();
    for b in metas {
        let covered = metas.iter().any(|o| {
            o.id != b.id
                && (o.level > b.level || (o.level == b.level && o.sources.len() > b.sources.len()))
                && b.sources.iter().all(|s| o.sources.contains(s))
        });
        if covered {
            out.push(b.id.clone());
        }
    }
    out.sort();
    out
}

/// Merges `blocks` into one new block in `blocks_dir` and returns its meta.
pub fn compact(blocks: &[&Block], blocks_dir: &Path) -> Result<BlockMeta, StorageError> {
    if blocks.is_empty() {
        return Err(StorageError::Other("compact: no blocks given".into()));
    }
    let mut blocks: Vec<&Block> = blocks.to_vec();
    blocks.sort_by(|a, b| a.meta().id.cmp(&b.meta().id));
    let min_t = blocks.iter().map(|b| b.meta().min_t).min().expect("non-empty");
    let max_t = blocks.iter().map(|b| b.meta().max_t).max().expect("non-empty");
    let level = blocks
        .iter()
        .map(|b| b.meta().level)
        .max()
        .expect("non-empty")
        .saturating_add(1);
    let sources: Vec<String> = blocks
        .iter()
        .flat_map(|b| b.meta().sources.iter().cloned())
        .collect();
    let mut w = BlockWriter::new(blocks_dir, min_t, max_t)?;
    w.set_lineage(level, sources);

    struct Cursor<'a> {
        block: &'a Block,
        next: u32,
        labels: Option<Labels>,
        cache: Arc<Mutex<FrameCache>>,
    }
    let mut cursors: Vec<Cursor<'_>> = blocks
        .iter()
        .map(|b| Cursor {
            block: b,
            next: 0,
            labels: None,
            cache: Arc::default(),
        })
        .collect();
    let advance = |c: &mut Cursor<'_>| -> Result<(), StorageError> {
        c.labels = if (c.next as usize) < c.block.num_series() {
            Some(c.block.series_by_number(c.next, &c.cache)?.0)
        } else {
            None
        };
        Ok(())
    };
    for c in cursors.iter_mut() {
        advance(c)?;
    }
    let mut samples: Vec<Sample> = Vec::new();
    while let Some(cur) = cursors.iter().filter_map(|c| c.labels.as_ref()).min().cloned() {
        samples.clear();
        let mut sources = 0;
        for c in cursors.iter_mut() {
            if c.labels.as_ref() != Some(&cur) {
                continue;
            }
            let (_, mut it) = c.block.series_by_number(c.next, &c.cache)?;
            while let Some(s) = it.next() {
                samples.push(s);
            }
            if let Some(e) = it.take_error() {
                return Err(e);
            }
            sources += 1;
            c.next += 1;
            advance(c)?;
        }
        if sources > 1 {
            // Stable: for equal timestamps the newer block's sample is last.
            samples.sort_by_key(|s| s.t);
            let mut merged: Vec<Sample> = Vec::with_capacity(samples.len());
            for s in samples.drain(..) {
                match merged.last_mut() {
                    Some(last) if last.t == s.t => *last = s,
                    _ => merged.push(s),
                }
            }
            samples = merged;
        }
        w.add_series(&cur, &mut samples.iter().copied())?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str, min_t: i64, max_t: i64) -> BlockMeta {
        BlockMeta {
            id: id.into(),
            min_t,
            max_t,
            num_series: 1,
            num_samples: 1,
            size_bytes: 1,
            level: 1,
            sources: vec![id.into()],
        }
    }

    const H: i64 = 3600 * 1000;

    #[test]
    fn ranges_are_capped() {
        assert_eq!(ranges(2 * H, None).len(), 5); // 6h 18h 54h 162h 486h
        assert_eq!(ranges(2 * H, Some(15 * 24 * H)), vec![6 * H, 18 * H]);
        assert!(ranges(2 * H, Some(10 * H)).is_empty());
    }

    #[test]
    fn plans_overlaps_then_levels() {
        assert_eq!(plan(&[meta("A", 0, 2 * H)], 2 * H), None);
        // Overlap wins even when a level group is ready.
        let ms = [
            meta("A", 0, 2 * H),
            meta("B", 2 * H, 4 * H),
            meta("C", 4 * H, 6 * H),
            meta("D", 6 * H, 8 * H),
            meta("E", 7 * H, 9 * H),
        ];
        assert_eq!(plan(&ms, 2 * H), Some(vec!["D".into(), "E".into()]));
        // Complete 6h window.
        assert_eq!(
            plan(&ms[..4], 2 * H),
            Some(vec!["A".into(), "B".into(), "C".into()])
        );
        // Incomplete window that is still the newest: wait.
        assert_eq!(plan(&ms[..2], 2 * H), None);
        // Incomplete but older than the newest block: merge.
        let ms2 = [
            meta("A", 0, 2 * H),
            meta("B", 2 * H, 4 * H),
            meta("F", 6 * H, 8 * H),
        ];
        assert_eq!(plan(&ms2, 2 * H), Some(vec!["A".into(), "B".into()]));
        // Adjacent but in different windows: no merge.
        let ms3 = [meta("A", 4 * H, 6 * H), meta("B", 6 * H, 8 * H)];
        assert_eq!(plan(&ms3, 2 * H), None);
    }

    #[test]
    fn superseded_finds_leftover_inputs() {
        let mut big = meta("D", 0, 6 * H);
        big.level = 2;
        big.sources = vec!["A".into(), "B".into(), "C".into()];
        let ms = [
            meta("A", 0, 2 * H),
            meta("B", 2 * H, 4 * H),
            meta("X", 6 * H, 8 * H),
            big,
        ];
        assert_eq!(superseded(&ms), vec!["A".to_string(), "B".to_string()]);
    }
}
