//! The same workload as OpenMetrics text, for
//! `promtool tsdb create-blocks-from openmetrics` (a cross-check of the
//! Prometheus block size).
//!
//! Series are grouped by metric name (families must not interleave), each
//! series' samples follow one another in time order, timestamps are seconds
//! with millisecond digits, and the file ends with `# EOF`. The values are
//! bit-for-bit those of the remote write load with the same spec.

use crate::gen::Fleet;
use crate::load::Spec;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes the workload of `spec` to `path`; returns the number of samples.
pub fn write(spec: &Spec, boot_ms: i64, path: &Path) -> std::io::Result<u64> {
    let fleet = Fleet::generate(spec.series, spec.seed, spec.interval_ms, boot_ms);
    let mut order: Vec<usize> = (0..spec.series).collect();
    order.sort_by(|&a, &b| {
        fleet.series[a]
            .labels
            .metric_name()
            .cmp(&fleet.series[b].labels.metric_name())
    });
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut line = String::new();
    let mut samples = 0u64;
    for i in order {
        let labels = &fleet.series[i].labels;
        let mut prefix = String::from(labels.metric_name().unwrap_or_default());
        prefix.push('{');
        let mut first = true;
        for l in labels.iter().filter(|l| l.name != "__name__") {
            if !first {
                prefix.push(',');
            }
            first = false;
            // Generated values hold no quote, backslash or newline.
            let _ = write!(prefix, "{}=\"{}\"", l.name, l.value);
        }
        prefix.push('}');
        let mut st = fleet.stream(i);
        for r in 0..spec.samples_per_series {
            let t = fleet.timestamp(i, r, spec.first_ms, spec.interval_ms);
            let v = fleet.step(i, &mut st, t, spec.interval_ms);
            line.clear();
            let _ = writeln!(
                line,
                "{prefix} {v} {}.{:03}",
                t.div_euclid(1000),
                t.rem_euclid(1000)
            );
            out.write_all(line.as_bytes())?;
            samples += 1;
        }
    }
    out.write_all(b"# EOF\n")?;
    out.flush()?;
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{generate, read_shard, shard_path};
    use sightline_metrics_protocols::remote_write::Decoder;
    use sightline_model::Limits;
    use std::collections::HashMap;

    #[test]
    fn text_matches_the_remote_write_load() {
        let spec = Spec {
            series: 700,
            samples_per_series: 3,
            interval_ms: 15_000,
            first_ms: 1_700_000_000_000,
            batch_samples: 256,
            shards: 2,
            seed: 11,
        };
        let dir = tempfile::tempdir().unwrap();
        generate(&spec, spec.first_ms, dir.path()).unwrap();
        let om = dir.path().join("load.om");
        assert_eq!(write(&spec, spec.first_ms, &om).unwrap(), 2_100);

        let mut rw: HashMap<String, Vec<(i64, u64)>> = HashMap::new();
        let mut dec = Decoder::new();
        for s in 0..2 {
            for req in read_shard(&shard_path(dir.path(), s)).unwrap() {
                let view = dec.decode(&req.body, &Limits::default()).unwrap();
                for ts in view.series() {
                    let mut key = String::new();
                    let name = ts.labels.iter().find(|l| l.name == "__name__").unwrap().value;
                    key.push_str(name);
                    key.push('{');
                    let rest: Vec<String> = ts
                        .labels
                        .iter()
                        .filter(|l| l.name != "__name__")
                        .map(|l| format!("{}=\"{}\"", l.name, l.value))
                        .collect();
                    key.push_str(&rest.join(","));
                    key.push('}');
                    rw.entry(key)
                        .or_default()
                        .push((ts.samples[0].t, ts.samples[0].v.to_bits()));
                }
            }
        }
        let text = std::fs::read_to_string(&om).unwrap();
        assert!(text.ends_with("# EOF\n"));
        let mut from_text: HashMap<String, Vec<(i64, u64)>> = HashMap::new();
        let mut last_name = String::new();
        let mut names_seen = std::collections::HashSet::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, rest) = line.rsplit_once('}').unwrap();
            let name = series.split('{').next().unwrap().to_string();
            if name != last_name {
                assert!(names_seen.insert(name.clone()), "family {name} interleaved");
                last_name = name;
            }
            let mut parts = rest.split_whitespace();
            let v: f64 = parts.next().unwrap().parse().unwrap();
            let t: f64 = parts.next().unwrap().parse().unwrap();
            let t = (t * 1000.0).round() as i64;
            from_text
                .entry(format!("{series}}}"))
                .or_default()
                .push((t, v.to_bits()));
        }
        assert_eq!(rw, from_text);
    }
}
