//! Relabeling throughput on a typical metric_relabel_configs chain.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sightline_model::Labels;
use sightline_relabel::{process, Relabeler};

fn bench(c: &mut Criterion) {
    let rules: Vec<Relabeler> = serde_yaml::from_str(
        r#"
- source_labels: [__name__]
  regex: 'go_gc_.*'
  action: drop
- source_labels: [instance]
  regex: '([^:]+):\d+'
  target_label: host
- source_labels: [job, host]
  target_label: shard
  modulus: 16
  action: hashmod
- regex: 'tmp_.*'
  action: labeldrop
"#,
    )
    .unwrap();
    let labels = Labels::from_pairs([
        ("__name__", "http_requests_total"),
        ("instance", "10.1.2.3:9100"),
        ("job", "node"),
        ("method", "GET"),
        ("code", "200"),
    ]);
    let mut g = c.benchmark_group("relabel");
    g.throughput(Throughput::Elements(1));
    g.bench_function("chain_of_4", |b| {
        b.iter(|| {
            let mut lb = labels.builder();
            let keep = process(&mut lb, &rules);
            (keep, lb.build())
        })
    });
    let keep_only: Vec<Relabeler> =
        serde_yaml::from_str("- source_labels: [job]\n  regex: 'node|api'\n  action: keep").unwrap();
    g.bench_function("keep_single_source", |b| {
        let mut lb = labels.builder();
        b.iter(|| process(&mut lb, &keep_only))
    });
    for (name, yaml) in [
        (
            "replace_capture",
            "- source_labels: [instance]\n  regex: '([^:]+):\\d+'\n  target_label: host",
        ),
        (
            "hashmod",
            "- source_labels: [job, instance]\n  target_label: shard\n  modulus: 16\n  action: hashmod",
        ),
        ("labelmap", "- regex: '(.+)_x'\n  action: labelmap"),
    ] {
        let rules: Vec<Relabeler> = serde_yaml::from_str(yaml).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut lb = labels.builder();
                process(&mut lb, &rules)
            })
        });
    }
    g.bench_function("builder_clone_only", |b| b.iter(|| labels.builder().build()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
