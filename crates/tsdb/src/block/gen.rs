//! A deterministic, node-exporter-like synthetic data set, used by tests and
//! benchmarks to measure bytes per sample on disk.
//!
//! Series mix (per 100 series): 20 float counters with centisecond
//! resolution (`node_cpu_seconds_total`), 15 byte counters with irregular
//! increments (`node_network_*_bytes_total`), 10 rarely-moving event
//! counters (errors, drops), 15 gauges with 2-4 significant digits (load,
//! temperatures, ratios), 10 page-granular byte gauges (`node_memory_*`),
//! and 30 constant series (sizes, info metrics, `up`-like flags).
//! Timestamps are `start + i * interval` plus optional jitter in
//! `[0, jitter_ms]` per sample, as scrape timestamps have.

use sightline_model::{Labels, Sample};

/// A small deterministic PRNG (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Parameters of the generated set.
#[derive(Clone, Debug)]
pub struct GenConfig {
    pub series: usize,
    pub samples_per_series: usize,
    pub start_ms: i64,
    pub interval_ms: i64,
    pub jitter_ms: i64,
    pub seed: u64,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            series: 20_000,
            samples_per_series: 240,
            start_ms: 1_700_000_000_000,
            interval_ms: 15_000,
            jitter_ms: 0,
            seed: 42,
        }
    }
}

/// The `i`-th series of the set: its labels and samples.
pub fn series(cfg: &GenConfig, i: usize) -> (Labels, Vec<Sample>) {
    let mut rng = Rng::new(cfg.seed ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let host = i / 100;
    let k = i % 100;
    let instance = format!("10.0.{}.{}:9100", host / 250, host % 250);
    let mut pairs: Vec<(String, String)> = vec![("instance".into(), instance), ("job".into(), "node".into())];
    let n = cfg.samples_per_series;
    let mut values = Vec::with_capacity(n);
    let name: &str;
    match k {
        0..=19 => {
            name = "node_cpu_seconds_total";
            let modes = [
                "idle",
                "user",
                "system",
                "iowait",
                "irq",
                "softirq",
                "steal",
                "nice",
                "guest",
                "guest_nice",
            ];
            pairs.push(("cpu".into(), format!("{}", k / 10)));
            pairs.push(("mode".into(), modes[k % 10].into()));
            // Rate in centiseconds per interval.
            let rate = match k % 10 {
                0 => 1400 + rng.below(100),
                1 => 20 + rng.below(60),
                2 => 5 + rng.below(20),
                3 => rng.below(5),
                _ => rng.below(2),
            };
            let mut cs: u64 = 10_000_000 + rng.below(50_000_000);
            for _ in 0..n {
                values.push(cs as f64 / 100.0);
                let noise = rng.below(rate / 4 + 2);
                cs += rate.saturating_sub(rate / 8) + noise;
            }
        }
        20..=34 => {
            name = [
                "node_network_receive_bytes_total",
                "node_network_transmit_bytes_total",
            ][k % 2];
            pairs.push(("device".into(), format!("eth{}", k - 20)));
            let mean = [1_000u64, 20_000, 300_000, 5_000_000][k % 4];
            let mut v: u64 = rng.below(1 << 40);
            for _ in 0..n {
                values.push(v as f64);
                v += mean / 2 + rng.below(mean);
            }
        }
        35..=44 => {
            name = "node_network_receive_errs_total";
            pairs.push(("device".into(), format!("eth{}", k - 35)));
            let mut v: u64 = rng.below(1000);
            for _ in 0..n {
                values.push(v as f64);
                if rng.below(40) == 0 {
                    v += 1 + rng.below(3);
                }
            }
        }
        45..=59 => {
            let (nm, scale, lo, hi) = match k % 3 {
                0 => ("node_load1", 100.0, 0i64, 800i64),
                1 => ("node_hwmon_temp_celsius", 10.0, 300, 900),
                _ => ("node_filesystem_avail_ratio", 1000.0, 50, 990),
            };
            name = nm;
            pairs.push(("sensor".into(), format!("s{}", k - 45)));
            let mut q = lo + rng.below((hi - lo) as u64) as i64;
            for _ in 0..n {
                values.push(q as f64 / scale);
                let step = rng.below(7) as i64 - 3;
                q = (q + step).clamp(lo, hi);
            }
        }
        60..=69 => {
            name = [
                "node_memory_MemAvailable_bytes",
                "node_memory_Cached_bytes",
                "node_memory_Buffers_bytes",
            ][k % 3];
            pairs.push(("slot".into(), format!("{}", k - 60)));
            let mut pages: i64 = 1_000_000 + rng.below(1_000_000) as i64;
            for _ in 0..n {
                values.push((pages * 4096) as f64);
                pages += rng.below(201) as i64 - 100;
            }
        }
        _ => {
            name = [
                "node_filesystem_size_bytes",
                "node_uname_info",
                "node_network_up",
                "node_memory_MemTotal_bytes",
            ][k % 4];
            pairs.push(("device".into(), format!("dev{}", k - 70)));
            let v = match k % 4 {
                0 => (rng.below(1 << 30) * 4096) as f64,
                1 | 2 => 1.0,
                _ => (rng.below(1 << 22) * 4096) as f64,
            };
            values.resize(n, v);
        }
    }
    pairs.push(("__name__".into(), name.into()));
    let labels = Labels::from_pairs(pairs);
    let samples = values
        .into_iter()
        .enumerate()
        .map(|(j, v)| {
            let jitter = if cfg.jitter_ms > 0 {
                rng.below(cfg.jitter_ms as u64 + 1) as i64
            } else {
                0
            };
            Sample {
                t: cfg.start_ms + j as i64 * cfg.interval_ms + jitter,
                v,
            }
        })
        .collect();
    (labels, samples)
}
