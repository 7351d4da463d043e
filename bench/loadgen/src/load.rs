//! Pre-encoded load: request bodies on disk, written once, replayed many times.
//!
//! A load directory holds `manifest.json` and one `shard-NNN.rwb` file per
//! shard. Like Prometheus's remote write queue, every series belongs to one
//! shard (by a hash of its index) and a shard's requests are sent in order
//! over one connection, so each series' samples arrive in time order whatever
//! the concurrency. Within a shard the samples are taken scrape round by
//! scrape round and cut into requests of `batch_samples` samples; each sample
//! is its own `TimeSeries` entry with the full label set, as Prometheus sends.
//!
//! Shard file layout: the 8-byte magic `SLRWB001`, then records of
//! `u32 LE body length, u32 LE sample count, body` where body is a
//! snappy-compressed `WriteRequest`.

use crate::gen::{mix, Fleet};
use serde::{Deserialize, Serialize};
use sightline_metrics_protocols::remote_write::encode;
use sightline_model::{Labels, Sample};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"SLRWB001";

/// What to generate.
#[derive(Clone, Debug)]
pub struct Spec {
    pub series: usize,
    pub samples_per_series: usize,
    pub interval_ms: i64,
    /// Round `r` is scraped at `first_ms + r * interval_ms` (+ host offset).
    pub first_ms: i64,
    pub batch_samples: usize,
    pub shards: usize,
    pub seed: u64,
}

/// Written next to the shard files; read by `send` and by the harness.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub series: usize,
    pub samples_per_series: usize,
    pub samples: u64,
    pub interval_ms: i64,
    pub min_timestamp_ms: i64,
    pub max_timestamp_ms: i64,
    pub batch_samples: usize,
    pub shards: usize,
    pub requests: u64,
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    pub seed: u64,
    pub metric_names: usize,
    pub avg_labels_per_series: f64,
}

/// The shard of series `i` (a hash, like Prometheus's series-ref sharding).
pub fn shard_of(i: usize, shards: usize) -> usize {
    (mix(i as u64 ^ 0x5EED) % shards as u64) as usize
}

pub fn shard_path(dir: &Path, shard: usize) -> PathBuf {
    dir.join(format!("shard-{shard:03}.rwb"))
}

struct ShardWriter {
    out: BufWriter<File>,
    pending: Vec<(Labels, Vec<Sample>)>,
}

/// Generates the load into `dir` (created if missing) and returns its manifest.
pub fn generate(spec: &Spec, boot_ms: i64, dir: &Path) -> std::io::Result<Manifest> {
    if spec.series == 0 || spec.samples_per_series == 0 || spec.batch_samples == 0 || spec.shards == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "series, samples per series, batch size and shards must all be positive",
        ));
    }
    std::fs::create_dir_all(dir)?;
    let fleet = Fleet::generate(spec.series, spec.seed, spec.interval_ms, boot_ms);
    let mut writers = Vec::with_capacity(spec.shards);
    for s in 0..spec.shards {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(shard_path(dir, s))?);
        out.write_all(MAGIC)?;
        writers.push(ShardWriter {
            out,
            pending: Vec::with_capacity(spec.batch_samples),
        });
    }
    let shard: Vec<usize> = (0..spec.series).map(|i| shard_of(i, spec.shards)).collect();
    let mut states: Vec<_> = (0..spec.series).map(|i| fleet.stream(i)).collect();
    let mut m = Manifest {
        format: "sightline-loadgen remote write 1.0 shards v1".to_string(),
        series: spec.series,
        samples_per_series: spec.samples_per_series,
        samples: 0,
        interval_ms: spec.interval_ms,
        min_timestamp_ms: i64::MAX,
        max_timestamp_ms: i64::MIN,
        batch_samples: spec.batch_samples,
        shards: spec.shards,
        requests: 0,
        compressed_bytes: 0,
        uncompressed_bytes: 0,
        seed: spec.seed,
        metric_names: fleet.metric_names().len(),
        avg_labels_per_series: fleet.series.iter().map(|s| s.labels.len()).sum::<usize>() as f64
            / spec.series as f64,
    };
    for r in 0..spec.samples_per_series {
        for i in 0..spec.series {
            let t = fleet.timestamp(i, r, spec.first_ms, spec.interval_ms);
            let v = fleet.step(i, &mut states[i], t, spec.interval_ms);
            m.min_timestamp_ms = m.min_timestamp_ms.min(t);
            m.max_timestamp_ms = m.max_timestamp_ms.max(t);
            let w = &mut writers[shard[i]];
            w.pending
                .push((fleet.series[i].labels.clone(), vec![Sample { t, v }]));
            if w.pending.len() >= spec.batch_samples {
                flush(w, &mut m)?;
            }
        }
    }
    for w in &mut writers {
        if !w.pending.is_empty() {
            flush(w, &mut m)?;
        }
        w.out.flush()?;
    }
    let json = serde_json::to_string_pretty(&m).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("manifest.json"), json + "\n")?;
    Ok(m)
}

fn flush(w: &mut ShardWriter, m: &mut Manifest) -> std::io::Result<()> {
    let samples: usize = w.pending.iter().map(|(_, s)| s.len()).sum();
    let body = encode(&w.pending, &[]);
    m.uncompressed_bytes += snap::raw::decompress_len(&body).unwrap_or(0) as u64;
    m.compressed_bytes += body.len() as u64;
    m.requests += 1;
    m.samples += samples as u64;
    w.out.write_all(&(body.len() as u32).to_le_bytes())?;
    w.out.write_all(&(samples as u32).to_le_bytes())?;
    w.out.write_all(&body)?;
    w.pending.clear();
    Ok(())
}

/// One pre-encoded request.
#[derive(Clone, Debug)]
pub struct Request {
    pub body: Vec<u8>,
    pub samples: u32,
}

/// Reads the manifest of a load directory.
pub fn read_manifest(dir: &Path) -> std::io::Result<Manifest> {
    let text = std::fs::read_to_string(dir.join("manifest.json"))?;
    serde_json::from_str(&text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Reads all requests of one shard into memory, in send order.
pub fn read_shard(path: &Path) -> std::io::Result<Vec<Request>> {
    let bad = |what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {what}", path.display()),
        )
    };
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)
        .map_err(|_| bad("too short for the header"))?;
    if &magic != MAGIC {
        return Err(bad("not a loadgen shard file (bad magic)"));
    }
    let mut out = Vec::new();
    loop {
        let mut head = [0u8; 8];
        match r.read(&mut head[..1])? {
            0 => return Ok(out),
            _ => r
                .read_exact(&mut head[1..])
                .map_err(|_| bad("truncated record header"))?,
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let samples = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let mut body = vec![0u8; len];
        r.read_exact(&mut body)
            .map_err(|_| bad("truncated record body"))?;
        out.push(Request { body, samples });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_metrics_protocols::remote_write::Decoder;
    use sightline_model::Limits;
    use std::collections::HashMap;

    const NOW: i64 = 1_700_000_000_000;

    fn spec() -> Spec {
        Spec {
            series: 1_500,
            samples_per_series: 4,
            interval_ms: 15_000,
            first_ms: NOW,
            batch_samples: 500,
            shards: 3,
            seed: 42,
        }
    }

    #[test]
    fn generated_requests_decode_to_the_whole_workload_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let m = generate(&spec(), NOW, dir.path()).unwrap();
        assert_eq!(m, read_manifest(dir.path()).unwrap());
        assert_eq!(m.samples, 6_000);
        assert!(m.min_timestamp_ms >= NOW && m.max_timestamp_ms < NOW + 4 * 15_000);
        let mut dec = Decoder::new();
        let mut per_series: HashMap<String, Vec<i64>> = HashMap::new();
        let (mut requests, mut samples) = (0u64, 0u64);
        for s in 0..3 {
            for req in read_shard(&shard_path(dir.path(), s)).unwrap() {
                requests += 1;
                let view = dec.decode(&req.body, &Limits::default()).unwrap();
                assert_eq!(view.sample_count(), req.samples as usize);
                assert!(req.samples as usize <= 500);
                for ts in view.series() {
                    assert_eq!(ts.samples.len(), 1);
                    let key = format!("{:?}", ts.labels);
                    per_series.entry(key).or_default().push(ts.samples[0].t);
                    samples += 1;
                }
            }
        }
        assert_eq!((requests, samples), (m.requests, m.samples));
        assert_eq!(per_series.len(), 1_500);
        for ts in per_series.values() {
            assert_eq!(ts.len(), 4);
            assert!(
                ts.windows(2).all(|w| w[0] < w[1]),
                "out of order within its shard: {ts:?}"
            );
        }
    }

    #[test]
    fn shards_are_balanced_and_stable() {
        let mut counts = [0usize; 4];
        for i in 0..40_000 {
            counts[shard_of(i, 4)] += 1;
            assert_eq!(shard_of(i, 4), shard_of(i, 4));
        }
        assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
    }

    #[test]
    fn corrupt_shard_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.rwb");
        std::fs::write(&p, b"NOTMAGIC").unwrap();
        assert!(read_shard(&p).unwrap_err().to_string().contains("bad magic"));
        let mut data = MAGIC.to_vec();
        data.extend_from_slice(&100u32.to_le_bytes());
        data.extend_from_slice(&1u32.to_le_bytes());
        data.extend_from_slice(b"short");
        std::fs::write(&p, &data).unwrap();
        assert!(read_shard(&p)
            .unwrap_err()
            .to_string()
            .contains("truncated record body"));
        std::fs::write(&p, &data[..10]).unwrap();
        assert!(read_shard(&p)
            .unwrap_err()
            .to_string()
            .contains("truncated record header"));
        std::fs::write(&p, MAGIC).unwrap();
        assert!(read_shard(&p).unwrap().is_empty());
    }

    #[test]
    fn zero_sizes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec();
        s.shards = 0;
        assert!(generate(&s, NOW, dir.path()).is_err());
    }
}
