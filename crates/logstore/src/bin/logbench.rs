//! Bench driver for `bench/logs/run.sh`.
//!
//! `logbench ingest --corpus F --dir D [--batch N]`: reads JSON lines, takes
//! the timestamp (`"ts"`, RFC 3339) and the stream labels (`service`, `pod`)
//! from each line the way a shipper's pipeline would, appends batches to a
//! fresh store in `D` and flushes. Prints wall time, process CPU time
//! (user+sys from /proc/self/stat, all threads) and MB of JSON per CPU-second.
//!
//! `logbench search --dir D --needle S [--runs N]`: `|= S` over the whole
//! time range, prints the best wall time of N runs, the average thread CPU
//! time per run, the match count and the blocks read/skipped per run.
//!
//! `logbench size --dir D`: bytes of segments and WAL.

use sightline_logstore::{FsyncPolicy, LineFilter, LogRecord, LogStore, Options, SelectRequest};
use sightline_model::Labels;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::time::Instant;

fn die(msg: &str) -> ! {
    eprintln!("logbench: {msg}");
    std::process::exit(2)
}

fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the parenthesised command name
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime = field 14, stime = 15 (1-based, counting pid and comm): index 11, 12 here
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU time of the calling thread in seconds (/proc/thread-self/schedstat;
/// scheduler-tick resolution, so searches report an average over runs).
fn thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()))
        .map_or(0.0, |ns| ns / 1e9)
}

fn field<'a>(line: &'a str, key: &memchr::memmem::Finder<'_>) -> Option<&'a str> {
    let i = key.find(line.as_bytes())? + key.needle().len();
    let rest = &line[i..];
    let end = memchr::memchr(b'"', rest.as_bytes())?;
    Some(&rest[..end])
}

/// `YYYY-MM-DDTHH:MM:SS[.frac]Z` to ns.
fn parse_ts(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut frac = 0i64;
    let mut scale = 1_000_000_000i64;
    if b[19] == b'.' {
        for &c in &b[20..] {
            if !c.is_ascii_digit() {
                break;
            }
            scale /= 10;
            frac += i64::from(c - b'0') * scale;
        }
    }
    // days from civil
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000_000) + frac)
}

fn ingest(corpus: &str, dir: &str, batch: usize) {
    let _ = std::fs::remove_dir_all(dir);
    let mut opts = Options {
        fsync: FsyncPolicy::Interval(std::time::Duration::from_secs(1)),
        ..Default::default()
    };
    // experiment knobs
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok());
    if let Some(v) = env("LOGSTORE_BLOCK_ROWS") {
        opts.build.block_rows = v;
    }
    if let Some(v) = env("LOGSTORE_BLOOM_BITS") {
        opts.build.bloom_bits_per_key = v;
    }
    if let Some(v) = env("LOGSTORE_ZSTD_LEVEL") {
        opts.build.zstd_level = v as i32;
    }
    if let Some(v) = env("LOGSTORE_ZSTD_LEVEL_TEXT") {
        opts.build.zstd_level_text = v as i32;
    }
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let store = LogStore::open(dir, opts).unwrap_or_else(|e| die(&e.to_string()));
    let f = std::fs::File::open(corpus).unwrap_or_else(|e| die(&format!("{corpus}: {e}")));
    let mut rd = BufReader::with_capacity(1 << 20, f);
    let mut streams: HashMap<(String, String), Labels> = HashMap::new();
    let mut buf = Vec::with_capacity(batch);
    let mut line = String::new();
    let mut bytes = 0u64;
    let mut lines = 0u64;
    let f_ts = memchr::memmem::Finder::new("\"ts\":\"");
    let f_svc = memchr::memmem::Finder::new("\"service\":\"");
    let f_pod = memchr::memmem::Finder::new("\"pod\":\"");
    loop {
        line.clear();
        let n = rd.read_line(&mut line).unwrap_or_else(|e| die(&e.to_string()));
        if n == 0 {
            break;
        }
        bytes += n as u64;
        lines += 1;
        let l = line.trim_end_matches('\n');
        let ts = field(l, &f_ts).and_then(parse_ts).unwrap_or(0);
        let svc = field(l, &f_svc).unwrap_or("unknown");
        let pod = field(l, &f_pod).unwrap_or("unknown");
        let labels = match streams.get(&(svc.to_string(), pod.to_string())) {
            Some(l) => l.clone(),
            None => {
                let lb = Labels::from_pairs([("service", svc), ("pod", pod)]);
                streams.insert((svc.to_string(), pod.to_string()), lb.clone());
                lb
            }
        };
        buf.push(LogRecord::new(ts, labels, l));
        if buf.len() == batch {
            let full = std::mem::replace(&mut buf, Vec::with_capacity(batch));
            store
                .append_owned("fake", full)
                .unwrap_or_else(|e| die(&e.to_string()));
        }
    }
    if !buf.is_empty() {
        store
            .append_owned("fake", buf)
            .unwrap_or_else(|e| die(&e.to_string()));
    }
    store.flush().unwrap_or_else(|e| die(&e.to_string()));
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let m = store.metrics();
    println!(
        "ingest_bytes={bytes} lines={lines} wall_s={wall:.3} cpu_s={cpu:.3} mb_per_cpu_s={:.1} segments={} segment_bytes={}",
        bytes as f64 / 1e6 / cpu,
        m.segments,
        m.segment_bytes
    );
}

fn search(dir: &str, needle: &str, runs: usize) {
    let store = LogStore::open(dir, Options::default()).unwrap_or_else(|e| die(&e.to_string()));
    let mut best = f64::MAX;
    let mut count = 0;
    let cpu_start = thread_cpu();
    let m0 = store.metrics();
    for _ in 0..runs {
        let t = Instant::now();
        let req =
            SelectRequest::new(vec![], i64::MIN, i64::MAX).filter(LineFilter::Contains(needle.to_string()));
        count = 0;
        for r in store.select("fake", &req).unwrap_or_else(|e| die(&e.to_string())) {
            let r = r.unwrap_or_else(|e| die(&e.to_string()));
            std::hint::black_box(&r);
            count += 1;
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    let avg_cpu = (thread_cpu() - cpu_start) / runs as f64;
    let m = store.metrics();
    let blocks: usize = store.segment_keys("fake").len();
    println!(
        "needle={needle} matches={count} best_s={best:.4} avg_cpu_s={avg_cpu:.4} blocks_read_per_run={} blocks_skipped_per_run={} segments={blocks}",
        (m.blocks_read - m0.blocks_read) / runs as u64,
        (m.blocks_skipped_by_bloom - m0.blocks_skipped_by_bloom) / runs as u64
    );
}

fn inspect(dir: &str) {
    use sightline_logstore::segment;
    let root = std::path::Path::new(dir).join("segments");
    let disk = sightline_logstore::LocalDisk::new(&root).unwrap_or_else(|e| die(&e.to_string()));
    use sightline_logstore::ObjectStore;
    let mut cols: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    let (mut tok, mut tr, mut footer, mut blocks, mut rows) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for key in disk.list("").unwrap_or_default() {
        let size = disk.size(&key).unwrap_or(0);
        let data = disk
            .get_range(&key, 0, size as usize)
            .unwrap_or_else(|e| die(&e.to_string()));
        let (fo, fl, crc) = segment::parse_trailer(&data[data.len() - segment::TRAILER_LEN..], size)
            .unwrap_or_else(|e| die(&e));
        let meta =
            segment::decode_footer(&data[fo as usize..fo as usize + fl], crc, fo).unwrap_or_else(|e| die(&e));
        footer += fl as u64;
        for (bi, b) in meta.blocks.iter().enumerate() {
            blocks += 1;
            rows += u64::from(b.rows);
            tok += b.tokens.byte_len() as u64;
            tr += b.traces.byte_len() as u64;
            let bytes = &data[b.offset as usize..(b.offset + u64::from(b.len)) as usize];
            for (name, c, r) in segment::column_sizes(&meta, bi, bytes).unwrap_or_else(|e| die(&e)) {
                let e = cols.entry(name).or_default();
                e.0 += u64::from(c);
                e.1 += u64::from(r);
            }
        }
    }
    let mut v: Vec<_> = cols.into_iter().collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.1 .0));
    println!("blocks={blocks} rows={rows} footer={footer} token_bloom={tok} trace_bloom={tr}");
    for (name, (c, r)) in v {
        println!(
            "{name:30} stored={c:>12} raw={r:>12} per_row={:.2}",
            c as f64 / rows.max(1) as f64
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    match args.first().map(String::as_str) {
        Some("ingest") => ingest(
            &get("--corpus").unwrap_or_else(|| die("--corpus required")),
            &get("--dir").unwrap_or_else(|| die("--dir required")),
            get("--batch").and_then(|b| b.parse().ok()).unwrap_or(1000),
        ),
        Some("search") => search(
            &get("--dir").unwrap_or_else(|| die("--dir required")),
            &get("--needle").unwrap_or_else(|| die("--needle required")),
            get("--runs").and_then(|b| b.parse().ok()).unwrap_or(5),
        ),
        Some("inspect") => inspect(&get("--dir").unwrap_or_else(|| die("--dir required"))),
        _ => die("usage: logbench ingest --corpus F --dir D | search --dir D --needle S"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_rfc3339() {
        assert_eq!(super::parse_ts("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(
            super::parse_ts("2026-11-18T11:06:40.000460Z"),
            Some(1_795_000_000_000_460_000)
        );
        assert_eq!(super::parse_ts("nope"), None);
    }
}
