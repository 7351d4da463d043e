//! Retention: which blocks to delete, by age and by total size.
//!
//! Blocks are ranked newest first by `max_t` (ties: greater id first).
//! - **Time**: a block is deleted when `newest.max_t - block.max_t >=
//!   retention_time_ms`, where `newest` is the block with the greatest
//!   `max_t`; the newest block itself is never deleted by time.
//! - **Size**: walking from newest to oldest, sizes are summed starting from
//!   `head_bytes` (the head and WAL count against the budget); once the sum
//!   exceeds `retention_size_bytes`, that block and every older one are
//!   deleted.
//!
//! The result is the union of both rules, sorted oldest first (by `max_t`,
//! then id) and without duplicates. Deleting is the caller's job: it removes
//! each directory (rename to `<id>.tmp` first, then delete, so a crash never
//! leaves half a block that looks complete).

use crate::block::BlockMeta;

/// Ids of blocks to delete (oldest first). See the module docs.
pub fn blocks_to_delete(
    metas: &[BlockMeta],
    retention_time_ms: Option<i64>,
    retention_size_bytes: Option<u64>,
    head_bytes: u64,
) -> Vec<String> {
    let mut sorted: Vec<&BlockMeta> = metas.iter().collect();
    sorted.sort_by(|a, b| (b.max_t, &b.id).cmp(&(a.max_t, &a.id)));
    let mut delete = vec![false; sorted.len()];
    if let (Some(rt), Some(newest)) = (retention_time_ms.filter(|r| *r > 0), sorted.first()) {
        for (i, m) in sorted.iter().enumerate().skip(1) {
            if newest.max_t.saturating_sub(m.max_t) >= rt {
                delete[i] = true;
            }
        }
    }
    if let Some(limit) = retention_size_bytes.filter(|l| *l > 0) {
        let mut total = head_bytes;
        for (i, m) in sorted.iter().enumerate() {
            total = total.saturating_add(m.size_bytes);
            if total > limit {
                for d in delete.iter_mut().skip(i) {
                    *d = true;
                }
                break;
            }
        }
    }
    let mut out: Vec<String> = sorted
        .iter()
        .zip(&delete)
        .rev()
        .filter(|(_, d)| **d)
        .map(|(m, _)| m.id.clone())
        .collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str, min_t: i64, max_t: i64, size: u64) -> BlockMeta {
        BlockMeta {
            id: id.into(),
            min_t,
            max_t,
            num_series: 1,
            num_samples: 1,
            size_bytes: size,
            level: 1,
            sources: vec![id.into()],
        }
    }

    #[test]
    fn by_time_keeps_newest_and_boundary() {
        let ms = [meta("A", 0, 10, 1), meta("B", 10, 20, 1), meta("C", 20, 30, 1)];
        assert_eq!(blocks_to_delete(&ms, Some(20), None, 0), vec!["A".to_string()]);
        assert_eq!(blocks_to_delete(&ms, Some(21), None, 0), Vec::<String>::new());
        assert_eq!(
            blocks_to_delete(&ms, Some(1), None, 0),
            vec!["A".to_string(), "B".to_string()]
        );
        assert!(blocks_to_delete(&ms, None, None, 0).is_empty());
        assert!(blocks_to_delete(&[], Some(1), Some(1), 5).is_empty());
    }

    #[test]
    fn by_size_counts_head_and_deletes_older() {
        let ms = [
            meta("A", 0, 10, 100),
            meta("B", 10, 20, 100),
            meta("C", 20, 30, 100),
        ];
        assert!(blocks_to_delete(&ms, None, Some(300), 0).is_empty());
        assert_eq!(blocks_to_delete(&ms, None, Some(300), 1), vec!["A".to_string()]);
        assert_eq!(blocks_to_delete(&ms, None, Some(250), 0), vec!["A".to_string()]);
        assert_eq!(
            blocks_to_delete(&ms, None, Some(170), 60),
            vec!["A".to_string(), "B".to_string()]
        );
        // Head alone over budget: every block goes.
        assert_eq!(blocks_to_delete(&ms, None, Some(50), 60).len(), 3);
        // Union with the time rule, no duplicates.
        assert_eq!(
            blocks_to_delete(&ms, Some(10), Some(250), 0),
            vec!["A".to_string(), "B".to_string()]
        );
    }
}
