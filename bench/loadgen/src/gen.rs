//! Deterministic node_exporter-like series and values.
//!
//! A workload is a fleet of hosts, each exposing the series a node_exporter
//! would (CPU per core and mode, memory, disks, filesystems, network
//! interfaces, hwmon sensors, a few kernel counters), with the target labels
//! a service-discovery setup typically adds (`instance`, `job`, `env`,
//! `region`, `az`, `cluster`). Series are numbered host by host; the first
//! `n` are taken, so the last host may be cut short.
//!
//! Values are modelled on what node_exporter reports: counters are integer
//! "ticks" scaled to their unit (CPU seconds in 1/100 s, bytes in sectors or
//! pages) and only ever increase; gauges wander around a centre in steps of
//! their resolution and often stay unchanged between scrapes; a few series
//! are constant (totals, MTU, boot time) and `node_time_seconds` carries a
//! full-precision clock.
//!
//! Invariants:
//! - Everything is a pure function of the seed: the label sets, each series'
//!   model and initial state, and the value at every step. A series' values do
//!   not depend on which other series are generated or in what order.
//! - Counters never decrease; every value is finite and non-negative.
//! - All series of one host share one timestamp per scrape: round `r` is at
//!   `first_ms + r * interval_ms + host offset (+ rare jitter of a few ms)`,
//!   with the offset in `[0, interval_ms)`, so timestamps strictly increase per
//!   series and stay below `first_ms + rounds * interval_ms`.

use sightline_model::Labels;

/// SplitMix64: a small, fast, well-mixed generator (also used as a hash).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `[0, 1)`.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[0, n)`; `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The SplitMix64 finaliser.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How a series' value evolves. Values are `ticks * mul / div` with
/// integral `ticks`, so they look like what an exporter derives from
/// integer kernel counters.
#[derive(Clone, Debug, PartialEq)]
pub enum Model {
    /// Never changes.
    Const(f64),
    /// Increases by about `rate` ticks per second (between 0.5x and 1.5x),
    /// on a fraction `p_inc` of the scrapes.
    Counter {
        rate: f64,
        p_inc: f64,
        mul: f64,
        div: f64,
    },
    /// Moves (on a fraction `p_change` of the scrapes) to a value around
    /// `centre` ticks, at most `spread` (relative) away, half-way from the
    /// previous value.
    Gauge {
        centre: f64,
        spread: f64,
        p_change: f64,
        mul: f64,
        div: f64,
    },
    /// Unix time in seconds with microsecond digits (`node_time_seconds`),
    /// `skew_us` off the scrape timestamp.
    Clock { skew_us: i64 },
}

/// One generated series: labels (sorted), model and index of its host.
#[derive(Clone, Debug)]
pub struct SeriesDef {
    pub labels: Labels,
    pub model: Model,
    pub host: usize,
    /// Initial ticks (the state at round 0, before the first step).
    pub init: f64,
}

/// A host: its scrape offset and the series it exposes.
#[derive(Clone, Debug)]
pub struct Host {
    pub offset_ms: i64,
}

/// The series set of a workload.
#[derive(Clone, Debug)]
pub struct Fleet {
    pub seed: u64,
    pub hosts: Vec<Host>,
    pub series: Vec<SeriesDef>,
}

const REGIONS: &[&str] = &["eu-west-1", "us-east-1", "us-west-2", "ap-southeast-2"];
const ENVS: &[&str] = &["prod", "prod", "prod", "staging", "dev"];
const CPU_COUNTS: &[usize] = &[2, 4, 4, 8, 8, 8, 16, 16, 32];
const CPU_MODES: &[(&str, f64)] = &[
    ("idle", 0.80),
    ("iowait", 0.02),
    ("irq", 0.0),
    ("nice", 0.001),
    ("softirq", 0.01),
    ("steal", 0.004),
    ("system", 0.045),
    ("user", 0.12),
];
const DISKS: &[&str] = &["sda", "sdb", "nvme0n1", "nvme1n1", "dm-0"];
const FILESYSTEMS: &[(&str, &str, &str)] = &[
    ("/dev/sda1", "/", "ext4"),
    ("/dev/sda2", "/boot", "ext4"),
    ("tmpfs", "/run", "tmpfs"),
    ("/dev/sdb1", "/var/lib/docker", "xfs"),
    ("/dev/nvme0n1p1", "/data", "xfs"),
    ("/dev/mapper/vg0-home", "/home", "ext4"),
];
const NICS: &[&str] = &["eth0", "lo", "eth1", "docker0", "bond0"];

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Builder for one host's series.
struct HostSeries<'a> {
    target: Vec<(String, String)>,
    out: &'a mut Vec<SeriesDef>,
    host: usize,
    rng: Rng,
    limit: usize,
}

impl HostSeries<'_> {
    fn full(&self) -> bool {
        self.out.len() >= self.limit
    }

    fn add(&mut self, name: &str, extra: &[(&str, &str)], model: Model, init: f64) {
        if self.full() {
            return;
        }
        let mut pairs = self.target.clone();
        pairs.push(("__name__".to_string(), name.to_string()));
        for (n, v) in extra {
            pairs.push((n.to_string(), v.to_string()));
        }
        pairs.sort();
        self.out.push(SeriesDef {
            labels: Labels::from_sorted_unchecked(pairs),
            model,
            host: self.host,
            init: init.max(0.0).round(),
        });
    }

    fn counter(&mut self, name: &str, extra: &[(&str, &str)], rate: f64, init: f64, mul: f64, div: f64) {
        let p_inc = 1.0;
        self.add(
            name,
            extra,
            Model::Counter {
                rate,
                p_inc,
                mul,
                div,
            },
            init,
        );
    }

    fn rare_counter(&mut self, name: &str, extra: &[(&str, &str)], p_inc: f64, init: f64) {
        let m = Model::Counter {
            rate: 1.0 / 15.0,
            p_inc,
            mul: 1.0,
            div: 1.0,
        };
        self.add(name, extra, m, init);
    }

    #[allow(clippy::too_many_arguments)]
    fn gauge(
        &mut self,
        name: &str,
        extra: &[(&str, &str)],
        centre: f64,
        spread: f64,
        p_change: f64,
        mul: f64,
        div: f64,
    ) {
        let init = centre * (1.0 + spread * (self.rng.f64() - 0.5));
        self.add(
            name,
            extra,
            Model::Gauge {
                centre,
                spread,
                p_change,
                mul,
                div,
            },
            init,
        );
    }

    fn constant(&mut self, name: &str, extra: &[(&str, &str)], v: f64) {
        self.add(name, extra, Model::Const(v), 0.0);
    }
}

impl Fleet {
    /// The first `n` series of the fleet for `seed`. `boot_ms` anchors
    /// `node_boot_time_seconds` (hosts booted 1 to 60 days before it).
    pub fn generate(n: usize, seed: u64, interval_ms: i64, boot_ms: i64) -> Fleet {
        let mut series = Vec::with_capacity(n);
        let mut hosts = Vec::new();
        let mut h = 0usize;
        while series.len() < n {
            let mut rng = Rng::new(mix(seed ^ mix(h as u64 + 1)));
            let offset_ms = rng.below(interval_ms.max(1) as usize) as i64;
            hosts.push(Host { offset_ms });
            let region = *rng.pick(REGIONS);
            let target = vec![
                (
                    "az".to_string(),
                    format!("{region}{}", ["a", "b", "c"][rng.below(3)]),
                ),
                (
                    "cluster".to_string(),
                    format!("{}-{}", &region[..2], 1 + rng.below(6)),
                ),
                ("env".to_string(), rng.pick(ENVS).to_string()),
                (
                    "instance".to_string(),
                    format!("10.{}.{}.{}:9100", h >> 16 & 255, h >> 8 & 255, h & 255),
                ),
                ("job".to_string(), "node".to_string()),
                ("region".to_string(), region.to_string()),
            ];
            let mut b = HostSeries {
                target,
                out: &mut series,
                host: h,
                rng,
                limit: n,
            };
            host_series(&mut b, boot_ms);
            h += 1;
        }
        Fleet { seed, hosts, series }
    }

    /// Distinct metric names.
    pub fn metric_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .series
            .iter()
            .filter_map(|s| s.labels.metric_name().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// A value stream for series `i` starting at round 0.
    pub fn stream(&self, i: usize) -> SeriesState {
        let def = &self.series[i];
        SeriesState {
            ticks: def.init,
            rng: Rng::new(mix(self.seed ^ mix(0xA5A5_0000 + i as u64))),
        }
    }

    /// Timestamp of round `r` for series `i` (see the module invariants).
    pub fn timestamp(&self, i: usize, r: usize, first_ms: i64, interval_ms: i64) -> i64 {
        let host = self.series[i].host;
        let base = first_ms + r as i64 * interval_ms + self.hosts[host].offset_ms;
        // About one scrape in twenty starts a few milliseconds late, as real
        // scrapes do; the jitter stays far below the interval.
        let h = mix(self.seed ^ mix((host as u64) << 32 | r as u64));
        let late = match h % 20 {
            0 => ((h >> 8) % 8) as i64,
            _ => 0,
        };
        base + late.min((interval_ms - self.hosts[host].offset_ms - 1).max(0))
    }

    /// Value of series `i` at the next step of `state`; `t_ms` is the
    /// sample's timestamp (used by clock series only).
    pub fn step(&self, i: usize, state: &mut SeriesState, t_ms: i64, interval_ms: i64) -> f64 {
        let secs = interval_ms as f64 / 1000.0;
        match &self.series[i].model {
            Model::Const(v) => *v,
            Model::Clock { skew_us } => ((t_ms * 1000 + skew_us) as f64) / 1e6,
            Model::Counter {
                rate,
                p_inc,
                mul,
                div,
            } => {
                if state.rng.f64() < *p_inc {
                    state.ticks += (rate * secs * (0.5 + state.rng.f64())).round();
                }
                scale(state.ticks, *mul, *div)
            }
            Model::Gauge {
                centre,
                spread,
                p_change,
                mul,
                div,
            } => {
                if state.rng.f64() < *p_change {
                    let target = centre * (1.0 + spread * 2.0 * (state.rng.f64() - 0.5));
                    state.ticks = ((state.ticks + target) / 2.0).round().max(0.0);
                }
                scale(state.ticks, *mul, *div)
            }
        }
    }
}

/// `ticks * mul / div`, computed with one rounding when either is 1.
fn scale(ticks: f64, mul: f64, div: f64) -> f64 {
    if div == 1.0 {
        ticks * mul
    } else {
        ticks * mul / div
    }
}

/// Per-series generator state.
#[derive(Clone, Debug)]
pub struct SeriesState {
    ticks: f64,
    rng: Rng,
}

fn host_series(b: &mut HostSeries<'_>, boot_ms: i64) {
    let cpus = *b.rng.pick(CPU_COUNTS);
    let uptime_s = (86_400.0 * (1.0 + 59.0 * b.rng.f64())).round();
    let busy = 0.3 + 1.4 * b.rng.f64();
    let mem_pages = (cpus as f64 * 4.0 * GIB / 4096.0).round();

    // CPU.
    for c in 0..cpus {
        let cpu = c.to_string();
        for (mode, frac) in CPU_MODES {
            let f = if *mode == "idle" {
                1.0 - (1.0 - frac) * busy
            } else {
                frac * busy
            };
            let extra = [("cpu", cpu.as_str()), ("mode", *mode)];
            if f == 0.0 {
                b.constant("node_cpu_seconds_total", &extra, 0.0);
            } else {
                b.counter(
                    "node_cpu_seconds_total",
                    &extra,
                    f * 100.0,
                    f * uptime_s * 100.0,
                    1.0,
                    100.0,
                );
            }
        }
        for mode in ["nice", "user"] {
            b.constant(
                "node_cpu_guest_seconds_total",
                &[("cpu", cpu.as_str()), ("mode", mode)],
                0.0,
            );
        }
        let ghz = [12_000.0, 24_000.0, 28_000.0, 31_000.0][b.rng.below(4)];
        b.gauge(
            "node_cpu_scaling_frequency_hertz",
            &[("cpu", cpu.as_str())],
            ghz,
            0.4,
            0.6,
            100_000.0,
            1.0,
        );
    }

    // Load and processes.
    let load = cpus as f64 * 0.25 * busy * 100.0;
    b.gauge("node_load1", &[], load, 0.8, 1.0, 1.0, 100.0);
    b.gauge("node_load5", &[], load, 0.4, 1.0, 1.0, 100.0);
    b.gauge("node_load15", &[], load, 0.2, 1.0, 1.0, 100.0);
    b.gauge(
        "node_procs_running",
        &[],
        (cpus as f64 * 0.3 * busy).max(1.0),
        1.0,
        0.7,
        1.0,
        1.0,
    );
    b.gauge("node_procs_blocked", &[], 0.6, 2.0, 0.2, 1.0, 1.0);
    b.counter(
        "node_context_switches_total",
        &[],
        900.0 * cpus as f64 * busy,
        3e3 * uptime_s,
        1.0,
        1.0,
    );
    b.counter(
        "node_intr_total",
        &[],
        600.0 * cpus as f64 * busy,
        2e3 * uptime_s,
        1.0,
        1.0,
    );
    b.counter("node_forks_total", &[], 4.0 * busy, 4.0 * uptime_s, 1.0, 1.0);
    b.constant(
        "node_boot_time_seconds",
        &[],
        ((boot_ms / 1000) as f64 - uptime_s).round(),
    );
    let skew_us = b.rng.below(2_000) as i64 - 1_000;
    b.add("node_time_seconds", &[], Model::Clock { skew_us }, 0.0);
    b.gauge("node_timex_offset_seconds", &[], 300.0, 2.0, 1.0, 1.0, 1e6);
    b.gauge("node_entropy_available_bits", &[], 3_500.0, 0.1, 0.8, 1.0, 1.0);
    b.gauge(
        "node_filefd_allocated",
        &[],
        1_500.0 + 300.0 * cpus as f64,
        0.05,
        0.5,
        1.0,
        1.0,
    );
    b.gauge(
        "node_sockstat_TCP_inuse",
        &[],
        40.0 * busy * cpus as f64,
        0.1,
        0.6,
        1.0,
        1.0,
    );
    b.gauge(
        "node_netstat_Tcp_CurrEstab",
        &[],
        30.0 * busy * cpus as f64,
        0.1,
        0.6,
        1.0,
        1.0,
    );
    b.counter("node_vmstat_pgfault", &[], 3e3 * busy, 3e3 * uptime_s, 1.0, 1.0);
    b.rare_counter("node_vmstat_pgmajfault", &[], 0.05, 2e4);

    // Memory (bytes, in 4 KiB pages).
    b.constant("node_memory_MemTotal_bytes", &[], mem_pages * 4096.0);
    b.constant("node_memory_SwapTotal_bytes", &[], 0.0);
    b.constant("node_memory_SwapFree_bytes", &[], 0.0);
    for (name, frac, spread, p) in [
        ("node_memory_MemFree_bytes", 0.15, 0.05, 1.0),
        ("node_memory_MemAvailable_bytes", 0.55, 0.02, 1.0),
        ("node_memory_Buffers_bytes", 0.02, 0.01, 0.5),
        ("node_memory_Cached_bytes", 0.35, 0.01, 0.9),
        ("node_memory_Active_bytes", 0.40, 0.01, 0.9),
        ("node_memory_Inactive_bytes", 0.30, 0.01, 0.9),
        ("node_memory_Dirty_bytes", 0.0005, 0.8, 0.9),
        ("node_memory_Slab_bytes", 0.03, 0.005, 0.6),
        ("node_memory_Shmem_bytes", 0.01, 0.002, 0.3),
        ("node_memory_Mapped_bytes", 0.05, 0.01, 0.5),
    ] {
        b.gauge(name, &[], mem_pages * frac, spread, p, 4096.0, 1.0);
    }

    // Disks.
    let disks = 1 + b.rng.below(3);
    for d in DISKS.iter().take(disks) {
        let e = [("device", *d)];
        let iops = 5.0 + 60.0 * b.rng.f64() * busy;
        b.counter(
            "node_disk_reads_completed_total",
            &e,
            iops * 0.3,
            iops * 0.3 * uptime_s,
            1.0,
            1.0,
        );
        b.counter(
            "node_disk_writes_completed_total",
            &e,
            iops * 0.7,
            iops * 0.7 * uptime_s,
            1.0,
            1.0,
        );
        let rb = iops * 0.3 * 16.0;
        let wb = iops * 0.7 * 24.0;
        b.counter("node_disk_read_bytes_total", &e, rb, rb * uptime_s, 512.0, 1.0);
        b.counter("node_disk_written_bytes_total", &e, wb, wb * uptime_s, 512.0, 1.0);
        let io_ms = iops * 0.8;
        b.counter(
            "node_disk_io_time_seconds_total",
            &e,
            io_ms,
            io_ms * uptime_s,
            1.0,
            1000.0,
        );
        b.counter(
            "node_disk_read_time_seconds_total",
            &e,
            io_ms * 0.4,
            io_ms * 0.4 * uptime_s,
            1.0,
            1000.0,
        );
        b.counter(
            "node_disk_write_time_seconds_total",
            &e,
            io_ms,
            io_ms * uptime_s,
            1.0,
            1000.0,
        );
        b.gauge("node_disk_io_now", &e, 0.4, 2.0, 0.3, 1.0, 1.0);
    }

    // Filesystems (bytes in 4 KiB blocks).
    let fss = 2 + b.rng.below(FILESYSTEMS.len() - 1);
    for (dev, mp, fstype) in FILESYSTEMS.iter().take(fss) {
        let e = [("device", *dev), ("fstype", *fstype), ("mountpoint", *mp)];
        let blocks = (if *fstype == "tmpfs" {
            0.4
        } else {
            20.0 + 480.0 * b.rng.f64()
        } * GIB
            / 4096.0)
            .round();
        let free = blocks * (0.1 + 0.8 * b.rng.f64());
        b.constant("node_filesystem_size_bytes", &e, blocks * 4096.0);
        b.gauge(
            "node_filesystem_avail_bytes",
            &e,
            free * 0.95,
            0.0005,
            0.4,
            4096.0,
            1.0,
        );
        b.gauge("node_filesystem_free_bytes", &e, free, 0.0005, 0.4, 4096.0, 1.0);
        let files = (blocks / 4.0).round();
        b.constant("node_filesystem_files", &e, files);
        b.gauge(
            "node_filesystem_files_free",
            &e,
            files * 0.9,
            0.001,
            0.3,
            1.0,
            1.0,
        );
        b.constant("node_filesystem_readonly", &e, 0.0);
    }

    // Network interfaces.
    let nics = 2 + b.rng.below(NICS.len() - 1);
    for nic in NICS.iter().take(nics) {
        let e = [("device", *nic)];
        let bps = 2e3 + 2e6 * b.rng.f64() * b.rng.f64();
        b.counter(
            "node_network_receive_bytes_total",
            &e,
            bps,
            bps * uptime_s,
            1.0,
            1.0,
        );
        b.counter(
            "node_network_transmit_bytes_total",
            &e,
            bps * 0.6,
            bps * 0.6 * uptime_s,
            1.0,
            1.0,
        );
        b.counter(
            "node_network_receive_packets_total",
            &e,
            bps / 900.0,
            bps / 900.0 * uptime_s,
            1.0,
            1.0,
        );
        b.counter(
            "node_network_transmit_packets_total",
            &e,
            bps / 1200.0,
            bps / 1200.0 * uptime_s,
            1.0,
            1.0,
        );
        b.rare_counter("node_network_receive_errs_total", &e, 0.002, 0.0);
        b.rare_counter("node_network_transmit_errs_total", &e, 0.001, 0.0);
        b.rare_counter("node_network_receive_drop_total", &e, 0.02, 40.0);
        b.rare_counter("node_network_transmit_drop_total", &e, 0.005, 0.0);
        b.constant("node_network_up", &e, if *nic == "lo" { 0.0 } else { 1.0 });
        b.constant(
            "node_network_mtu_bytes",
            &e,
            if *nic == "lo" { 65536.0 } else { 1500.0 },
        );
    }

    // Temperature sensors (whole degrees Celsius).
    let sensors = 2 + b.rng.below(5);
    for s in 0..sensors {
        let sensor = format!("temp{}", s + 1);
        let e = [("chip", "platform_coretemp_0"), ("sensor", sensor.as_str())];
        b.gauge(
            "node_hwmon_temp_celsius",
            &e,
            38.0 + 20.0 * busy,
            0.1,
            0.5,
            1.0,
            1.0,
        );
    }
    let _ = b.full();
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn same_seed_same_series_and_values() {
        let a = Fleet::generate(3_000, 7, 15_000, NOW);
        let b = Fleet::generate(3_000, 7, 15_000, NOW);
        assert_eq!(a.series.len(), 3_000);
        for i in (0..3_000).step_by(97) {
            assert_eq!(a.series[i].labels, b.series[i].labels);
            let (mut sa, mut sb) = (a.stream(i), b.stream(i));
            for r in 0..10 {
                let t = a.timestamp(i, r, NOW, 15_000);
                assert_eq!(t, b.timestamp(i, r, NOW, 15_000));
                assert_eq!(
                    a.step(i, &mut sa, t, 15_000).to_bits(),
                    b.step(i, &mut sb, t, 15_000).to_bits()
                );
            }
        }
        let c = Fleet::generate(3_000, 8, 15_000, NOW);
        assert_ne!(
            a.series.iter().map(|s| s.labels.clone()).collect::<Vec<_>>(),
            c.series.iter().map(|s| s.labels.clone()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn series_are_unique_and_node_exporter_like() {
        let f = Fleet::generate(20_000, 1, 15_000, NOW);
        let mut seen = std::collections::HashSet::new();
        let mut labels = 0usize;
        for s in &f.series {
            assert!(seen.insert(s.labels.clone()), "duplicate {}", s.labels);
            assert!(s.labels.get("instance").is_some() && s.labels.get("job") == Some("node"));
            assert!((7..=10).contains(&s.labels.len()), "{}", s.labels);
            labels += s.labels.len();
        }
        let avg = labels as f64 / f.series.len() as f64;
        assert!((8.0..=10.0).contains(&avg), "average labels per series {avg}");
        let names = f.metric_names();
        assert!((45..=65).contains(&names.len()), "{} metric names", names.len());
        assert!(names.iter().all(|n| n.starts_with("node_")));
    }

    #[test]
    fn counters_increase_and_values_are_sane() {
        let f = Fleet::generate(5_000, 3, 15_000, NOW);
        for i in 0..f.series.len() {
            let mut st = f.stream(i);
            let mut prev: Option<(i64, f64)> = None;
            for r in 0..30 {
                let t = f.timestamp(i, r, NOW, 15_000);
                let v = f.step(i, &mut st, t, 15_000);
                assert!(v.is_finite() && v >= 0.0, "{} = {v}", f.series[i].labels);
                assert!(t >= NOW + r as i64 * 15_000 && t < NOW + (r as i64 + 1) * 15_000);
                if let Some((pt, pv)) = prev {
                    assert!(t > pt);
                    if matches!(f.series[i].model, Model::Counter { .. }) {
                        assert!(v >= pv, "counter {} went down", f.series[i].labels);
                    }
                }
                prev = Some((t, v));
            }
        }
    }

    #[test]
    fn cpu_seconds_have_centisecond_resolution() {
        let f = Fleet::generate(200, 5, 15_000, NOW);
        let i = f
            .series
            .iter()
            .position(|s| s.labels.metric_name() == Some("node_cpu_seconds_total"))
            .unwrap();
        let mut st = f.stream(i);
        let v = f.step(i, &mut st, NOW, 15_000);
        let text = format!("{v}");
        let decimals = text.split('.').nth(1).map_or(0, str::len);
        assert!(decimals <= 2, "{text}");
    }

    #[test]
    fn scrapes_of_one_host_share_a_timestamp() {
        let f = Fleet::generate(2_000, 9, 15_000, NOW);
        let (a, b) = (0, 1);
        assert_eq!(f.series[a].host, f.series[b].host);
        for r in 0..50 {
            assert_eq!(f.timestamp(a, r, NOW, 15_000), f.timestamp(b, r, NOW, 15_000));
        }
    }
}
