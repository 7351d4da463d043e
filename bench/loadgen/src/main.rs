//! `sightline-loadgen`: generate a remote write load once, replay it against
//! any remote write receiver. See `bench/README.md`.

use clap::{Parser, Subcommand};
use sightline_loadgen::{load, openmetrics, send};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(
    name = "sightline-loadgen",
    about = "Remote write benchmark load: generate once, replay"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write pre-encoded remote write requests (and a manifest) to a directory.
    Generate(GenerateArgs),
    /// Replay a generated directory against a remote write URL; prints a JSON report.
    Send(SendArgs),
}

#[derive(clap::Args)]
struct GenerateArgs {
    /// Output directory (created; existing shard files are overwritten).
    #[arg(long)]
    out: PathBuf,
    /// Number of series.
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// Samples per series (scrape rounds).
    #[arg(long, default_value_t = 20)]
    samples: usize,
    /// Scrape interval in milliseconds.
    #[arg(long, default_value_t = 15_000)]
    interval_ms: i64,
    /// Samples per request (Prometheus 2.42's max_samples_per_send default is 500).
    #[arg(long, default_value_t = 2_000)]
    batch: usize,
    /// Shards = concurrent connections when sending.
    #[arg(long, default_value_t = 4)]
    shards: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The rounds end just before this time (ms since the epoch); default now.
    #[arg(long)]
    end_ms: Option<i64>,
    /// Round the end time down to a multiple of this many ms (e.g. 7200000 to
    /// keep the data inside one 2h-aligned Prometheus block).
    #[arg(long)]
    align_ms: Option<i64>,
    /// Also write the same samples as OpenMetrics text to this file.
    #[arg(long)]
    openmetrics: Option<PathBuf>,
}

#[derive(clap::Args)]
struct SendArgs {
    /// Directory written by `generate`.
    #[arg(long)]
    dir: PathBuf,
    /// e.g. http://127.0.0.1:9090/api/v1/write
    #[arg(long)]
    url: String,
    /// Retries of a request answered 429/5xx or failing to connect.
    #[arg(long, default_value_t = 10)]
    max_retries: u32,
    /// Per-request socket timeout in seconds.
    #[arg(long, default_value_t = 60)]
    timeout_s: u64,
    /// Stop at the first dropped request.
    #[arg(long)]
    fail_fast: bool,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Generate(a) => generate(a),
        Command::Send(a) => run_send(a),
    }
}

fn generate(a: GenerateArgs) -> ExitCode {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut end = a.end_ms.unwrap_or(now);
    if let Some(align) = a.align_ms.filter(|&x| x > 0) {
        end = end.div_euclid(align) * align;
    }
    if a.interval_ms <= 0 {
        eprintln!("sightline-loadgen: --interval-ms must be positive");
        return ExitCode::FAILURE;
    }
    let spec = load::Spec {
        series: a.series,
        samples_per_series: a.samples,
        interval_ms: a.interval_ms,
        first_ms: end - a.samples as i64 * a.interval_ms,
        batch_samples: a.batch,
        shards: a.shards,
        seed: a.seed,
    };
    let m = match load::generate(&spec, now, &a.out) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("sightline-loadgen: generate into {}: {e}", a.out.display());
            return ExitCode::FAILURE;
        }
    };
    if let Some(p) = &a.openmetrics {
        if let Err(e) = openmetrics::write(&spec, now, p) {
            eprintln!("sightline-loadgen: write {}: {e}", p.display());
            return ExitCode::FAILURE;
        }
    }
    println!("{}", serde_json::to_string(&m).unwrap_or_default());
    ExitCode::SUCCESS
}

fn run_send(a: SendArgs) -> ExitCode {
    let (_m, shards) = match send::load(&a.dir) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("sightline-loadgen: read {}: {e}", a.dir.display());
            return ExitCode::FAILURE;
        }
    };
    let opts = send::Options {
        url: a.url,
        max_retries: a.max_retries,
        timeout: Duration::from_secs(a.timeout_s.max(1)),
        fail_fast: a.fail_fast,
    };
    match send::send(&shards, &opts) {
        Ok(r) => {
            println!("{}", serde_json::to_string(&r).unwrap_or_default());
            if r.requests_failed > 0 {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("sightline-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
