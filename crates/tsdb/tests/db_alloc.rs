//! Allocation behaviour of the hot paths, measured with a counting global
//! allocator: appending to existing series (sorted or unsorted labels, by
//! labels or by reference) and iterating samples allocate nothing per sample.

mod util;

use sightline_model::{LabelRef, SelectHints, Storage};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use util::*;

struct Counting;

static COUNT: AtomicU64 = AtomicU64::new(0);
static ON: AtomicBool = AtomicBool::new(false);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarding to the system allocator with the same layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` came from `System.alloc` with layout `l`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if ON.load(Ordering::Relaxed) {
            COUNT.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn counted(f: impl FnOnce()) -> u64 {
    COUNT.store(0, Ordering::Relaxed);
    ON.store(true, Ordering::Relaxed);
    f();
    ON.store(false, Ordering::Relaxed);
    COUNT.load(Ordering::Relaxed)
}

#[test]
fn hot_paths_do_not_allocate_per_sample() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let names: Vec<String> = (0..500).map(|i| format!("host{i}")).collect();
    let sorted: Vec<Vec<LabelRef<'_>>> = names
        .iter()
        .map(|n| {
            vec![
                LabelRef::new("__name__", "m"),
                LabelRef::new("instance", n),
                LabelRef::new("job", "node"),
            ]
        })
        .collect();
    let unsorted: Vec<Vec<LabelRef<'_>>> = sorted
        .iter()
        .map(|l| vec![l[2], LabelRef::new("empty", ""), l[1], l[0]])
        .collect();
    // Create the series and warm the pooled batch to its working size.
    let mut refs = Vec::new();
    for round in 0..2 {
        let mut app = db.appender();
        refs.clear();
        for l in &sorted {
            refs.push(app.append(l, round, 1.0).unwrap());
        }
        app.commit().unwrap();
    }
    let mut t = 2;
    for (what, labels) in [("sorted", &sorted), ("unsorted", &unsorted)] {
        let mut app = db.appender();
        let n = counted(|| {
            for l in labels.iter() {
                app.append(l, t, t as f64).unwrap();
            }
        });
        assert_eq!(n, 0, "{what}: allocations while appending 500 samples");
        app.commit().unwrap();
        t += 1;
    }
    let mut app = db.appender();
    let n = counted(|| {
        for r in &refs {
            app.append_ref(*r, t, 1.0).unwrap();
        }
    });
    assert_eq!(n, 0, "append_ref");
    app.commit().unwrap();

    // One long series: iterating its samples allocates nothing per sample.
    let mut app = db.appender();
    for i in 0..10_000 {
        app.append(&sorted[0], 100 + i, i as f64).unwrap();
    }
    app.commit().unwrap();
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let mut set = q.select(&[name_re("m")], &SelectHints::default()).unwrap();
    let mut s = set.next().unwrap().unwrap();
    let mut got = 0;
    let n = counted(|| {
        while s.samples.next().is_some() {
            got += 1;
        }
    });
    assert!(got > 10_000);
    assert_eq!(n, 0, "allocations while iterating {got} samples");
}
