//! Set operations on sorted, duplicate-free postings lists (series ids),
//! shared by the head's in-memory index and the blocks' on-disk index.

use std::cmp::Ordering;

/// Intersection of two sorted lists.
pub fn intersect<T: Ord + Copy>(a: &[T], b: &[T]) -> Vec<T> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// `a` without the elements of `b` (both sorted).
pub fn subtract<T: Ord + Copy>(a: &[T], b: &[T]) -> Vec<T> {
    if b.is_empty() {
        return a.to_vec();
    }
    let mut j = 0;
    let mut out = Vec::with_capacity(a.len());
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// Union of sorted lists.
pub fn union_many<T: Ord + Copy, L: AsRef<[T]>>(lists: Vec<L>) -> Vec<T> {
    match lists.as_slice() {
        [] => Vec::new(),
        [one] => one.as_ref().to_vec(),
        _ => {
            let mut all: Vec<T> = lists.iter().flat_map(|l| l.as_ref().iter().copied()).collect();
            all.sort_unstable();
            all.dedup();
            all
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        assert_eq!(intersect(&[1u32, 3, 5, 7], &[3, 4, 5]), vec![3, 5]);
        assert_eq!(subtract(&[1u64, 3, 5, 7], &[3, 4, 7]), vec![1, 5]);
        assert_eq!(subtract(&[1u64, 3], &[]), vec![1, 3]);
        assert_eq!(
            union_many(vec![vec![1u32, 5], vec![2, 5, 9], vec![]]),
            vec![1, 2, 5, 9]
        );
        assert_eq!(
            union_many::<u64, _>(vec![&[1u64, 5][..], &[2, 5, 9], &[]]),
            vec![1, 2, 5, 9]
        );
        assert!(union_many::<u32, Vec<u32>>(vec![]).is_empty());
    }
}
