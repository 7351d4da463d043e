//! A rule that does not apply allocates nothing. Own test binary: the counting allocator is
//! process-wide, so this file holds a single test.

use sightline_model::Labels;
use sightline_relabel::{process, Relabeler};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn rules_that_do_not_apply_do_not_allocate() {
    let rules: Vec<Relabeler> = serde_yaml::from_str(
        r#"
- source_labels: [__name__]
  regex: 'go_.*'
  action: drop
- source_labels: [job]
  regex: 'node|api'
  action: keep
- source_labels: [instance]
  regex: 'never-(.*)'
  target_label: host
  replacement: '$1'
- source_labels: [job, instance]
  regex: 'x;y'
  action: drop
- regex: 'tmp_.*'
  action: labeldrop
- regex: '__meta_(.+)'
  action: labelmap
- source_labels: [job]
  target_label: code
  action: dropequal
"#,
    )
    .unwrap();
    let labels = Labels::from_pairs([
        ("__name__", "http_requests_total"),
        ("instance", "10.1.2.3:9100"),
        ("job", "node"),
        ("code", "200"),
    ]);
    let mut lb = labels.builder();
    assert!(process(&mut lb, &rules)); // warm regex caches
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..100 {
        assert!(process(&mut lb, &rules));
    }
    let n = ALLOCS.load(Ordering::Relaxed) - before;
    assert_eq!(n, 0, "{n} allocations for 100 passes of non-applying rules");
    assert_eq!(lb.build(), labels);
}
