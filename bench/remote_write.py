#!/usr/bin/env python3
"""End-to-end remote write benchmark: Sightline, Prometheus and VictoriaMetrics
in one run, fed the same pre-generated load (see bench/README.md and
docs/benchmarks.md).

Standard library only. Every server runs alone, on a fresh data directory, on a
127.0.0.1 port; everything started here is stopped here (SIGTERM, then SIGKILL
after a bound), also on errors and Ctrl-C.

Phase "ingest" (default 100k series x 20 samples, 15 s apart, ending now):
  CPU     utime+stime of the server process (/proc/<pid>/stat) from just before
          the send until the server has counted every sample and its CPU use
          has settled (background work such as VictoriaMetrics' part flushes is
          included); samples per CPU-second = accepted samples / that CPU time.
  memory  VmRSS when settled (RSS per active series = that / series) and VmHWM
          (peak RSS) after the flush.
  disk    apparent size of the data directory after the flush and a graceful
          stop, per sample.
Phase "rest" (default 20k series x 240 samples = 1 h, 15 s apart, inside one
2h-aligned block range that ended at most 2 h ago): bytes per sample at rest.
  VictoriaMetrics  data dir after /internal/force_flush, /internal/force_merge
                   (waited for) and a graceful stop.
  Prometheus       the block that POST /api/v1/admin/tsdb/snapshot writes from
                   the head (the same code path as head compaction), and, as a
                   cross-check, the block promtool builds from the same samples
                   as OpenMetrics (promtool tsdb create-blocks-from openmetrics).
  Sightline        data dir after POST /api/v1/admin/tsdb/flush and a graceful stop.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
TWO_HOURS_MS = 2 * 3600 * 1000


def log(msg):
    print(f"[{datetime.datetime.now(datetime.timezone.utc):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc and disk

def proc_cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def dir_bytes(path, exclude=()):
    """Apparent size (sum of st_size) of the regular files under path."""
    total = 0
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in exclude]
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            if not os.path.islink(os.path.join(root, name)):
                total += st.st_size
    return total


def dir_breakdown(path, depth=2, prefix=""):
    """Bytes per entry of path, and of the entries of its subdirectories
    down to `depth` levels (keys like "metrics/wal")."""
    out = {}
    if not os.path.isdir(path):
        return out
    for name in sorted(os.listdir(path)):
        p = os.path.join(path, name)
        if os.path.isdir(p) and not os.path.islink(p):
            out[prefix + name] = dir_bytes(p)
            if depth > 1:
                out.update(dir_breakdown(p, depth - 1, prefix + name + "/"))
        else:
            out[prefix + name] = os.lstat(p).st_size
    return out


def first_line(cmd):
    """First non-empty output line of cmd ("" if it fails)."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    for line in (out.stdout + "\n" + out.stderr).splitlines():
        if line.strip():
            return line.strip()
    return ""


def first_lines(cmd):
    """All output of cmd ("" if it fails)."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout + out.stderr


def _varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(num, payload):
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def write_request(labels, value, ts_ms):
    """A remote write 1.0 body with one sample: protobuf WriteRequest, then
    snappy block format made of literal elements only (valid snappy that
    any decoder accepts; no compression needed for a few bytes)."""
    import struct
    ts = b""
    for name in sorted(labels):
        ts += _field(1, _field(1, name.encode()) + _field(2, labels[name].encode()))
    sample = b"\x09" + struct.pack("<d", value) + b"\x10" + _varint(ts_ms)
    proto = _field(1, ts + _field(2, sample))
    out = bytearray(_varint(len(proto)))
    for i in range(0, len(proto), 60):
        chunk = proto[i:i + 60]
        out.append((len(chunk) - 1) << 2)
        out += chunk
    return bytes(out)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- HTTP helpers

def http(method, url, timeout=30, data=None):
    req = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def metric_sum(base, names):
    """Sum of all samples of the given metric names on base/metrics (None if absent)."""
    try:
        code, body = http("GET", base + "/metrics", timeout=10)
    except OSError:
        return None
    if code != 200:
        return None
    total, seen = 0.0, False
    for line in body.decode("utf-8", "replace").splitlines():
        if not line or line[0] == "#":
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in names:
            rest = line.rsplit("}", 1)[1] if "{" in line else line.split(" ", 1)[1]
            try:
                total += float(rest.split()[0])  # a timestamp may follow the value
                seen = True
            except (ValueError, IndexError):
                pass
    return total if seen else None


# ---------------------------------------------------------------- servers

class Server:
    name = "?"
    ingest_metrics = ()

    def __init__(self, workdir, binary):
        self.workdir = workdir
        self.binary = binary
        self.data = os.path.join(workdir, "data")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.logf = None

    def command(self):
        raise NotImplementedError

    def ready(self):
        try:
            code, _ = http("GET", self.base + self.ready_path, timeout=2)
            return code == 200
        except OSError:
            return False

    def start(self, timeout=120):
        os.makedirs(self.data, exist_ok=True)
        self.logf = open(os.path.join(self.workdir, "server.log"), "wb")
        cmd = self.command()
        log(f"{self.name}: {' '.join(cmd)}")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.logf.name}")
            if self.ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout}s")

    def ingested(self):
        return metric_sum(self.base, self.ingest_metrics)

    def flush(self):
        """Persist what was ingested; returns a note for the report."""
        return ""

    def prepare_rest(self):
        """Extra work before measuring at-rest size (compaction, merges)."""
        return self.flush()

    def rest_bytes(self):
        """(bytes, what was measured) after stop()."""
        return self.disk_bytes(), "data dir"

    def disk_bytes(self):
        return dir_bytes(self.data)

    def version(self):
        return ""

    def stop(self, timeout=120):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name}: no exit {timeout}s after SIGTERM, killing")
                self.proc.kill()
                self.proc.wait(30)
        if self.logf:
            self.logf.close()
        self.proc = None


class Prometheus(Server):
    name = "Prometheus"
    ready_path = "/-/ready"
    ingest_metrics = ("prometheus_tsdb_head_samples_appended_total",)

    def command(self):
        cfg = os.path.join(self.workdir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\nscrape_configs: []\n")
        return [self.binary, f"--config.file={cfg}", f"--storage.tsdb.path={self.data}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-remote-write-receiver",
                "--web.enable-admin-api", "--storage.tsdb.retention.time=30d", "--log.level=warn"]

    def flush(self):
        # The head only becomes a block after > 3h of data; a snapshot writes
        # the head as a block now (same writer as head compaction).
        code, body = http("POST", self.base + "/api/v1/admin/tsdb/snapshot?skip_head=false", timeout=600)
        if code != 200:
            raise RuntimeError(f"Prometheus snapshot: HTTP {code}: {body[:300]!r}")
        self.snapshot = os.path.join(self.data, "snapshots", json.loads(body)["data"]["name"])
        return "snapshot (head written as a block)"

    def disk_bytes(self):
        # queries.active is a fixed-size mmapped query log, not data.
        skip = ("snapshots", "queries.active")
        return dir_bytes(self.data, exclude=tuple(os.path.join(self.data, d) for d in skip))

    def version(self):
        return first_line([self.binary, "--version"])

    def rest_bytes(self):
        return dir_bytes(self.snapshot), "block written by /api/v1/admin/tsdb/snapshot"


class VictoriaMetrics(Server):
    name = "VictoriaMetrics"
    ready_path = "/health"
    ingest_metrics = ("vm_rows_added_to_storage_total",)

    def command(self):
        return [self.binary, f"-storageDataPath={self.data}", f"-httpListenAddr=127.0.0.1:{self.port}",
                "-retentionPeriod=100y", "-loggerLevel=WARN", "-search.latencyOffset=0s"]

    def flush(self):
        code, body = http("GET", self.base + "/internal/force_flush", timeout=600)
        if code != 200:
            raise RuntimeError(f"VictoriaMetrics force_flush: HTTP {code}: {body[:300]!r}")
        return "/internal/force_flush"

    def prepare_rest(self):
        self.flush()
        code, body = http("GET", self.base + "/internal/force_merge", timeout=600)
        if code != 200:
            raise RuntimeError(f"VictoriaMetrics force_merge: HTTP {code}: {body[:300]!r}")
        # force_merge runs in the background: wait until no merge is active
        # for a few seconds in a row.
        quiet, deadline = 0, time.time() + 600
        while quiet < 5 and time.time() < deadline:
            time.sleep(1)
            active = metric_sum(self.base, ("vm_active_merges",))
            quiet = quiet + 1 if not active else 0
        return "/internal/force_flush + /internal/force_merge"

    def disk_bytes(self):
        # cache/ holds caches VictoriaMetrics persists on shutdown and rebuilds
        # when missing; it is reported in the breakdown, not counted as data.
        return dir_bytes(self.data, exclude=(os.path.join(self.data, "cache"),))

    def rest_bytes(self):
        return self.disk_bytes(), "data dir without cache/ (data/ + indexdb/)"

    def version(self):
        return first_line([self.binary, "-version"]) or first_line(
            ["dpkg-query", "-W", "-f", "victoria-metrics ${Version}", "victoria-metrics"])


class Sightline(Server):
    name = "Sightline"
    ready_path = "/-/ready"
    ingest_metrics = ("sightline_ingest_samples_received_total",)

    def command(self):
        cmd = [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data]
        # Only the HTTP listener: no other fixed ports to collide on.
        if "--otlp.grpc-listen" in first_lines([self.binary, "serve", "--help"]):
            cmd += ["--otlp.grpc-listen", "off"]
        return cmd

    def flush(self):
        code, body = http("POST", self.base + "/api/v1/admin/tsdb/flush", timeout=600)
        if code not in (200, 204):
            raise RuntimeError(f"Sightline flush: HTTP {code}: {body[:300]!r}")
        return "POST /api/v1/admin/tsdb/flush"

    def prepare_rest(self):
        # The flush persists only block ranges the head has moved past (as
        # head compaction does); the at-rest hour fills one 2h range that is
        # still the newest. One sample of one extra series at "now" (in the
        # next range) completes it, like the next scrape would.
        body = write_request({"__name__": "bench_marker", "job": "bench"}, 1.0, int(time.time() * 1000))
        req = urllib.request.Request(self.base + "/api/v1/write", data=body, method="POST", headers={
            "Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
            "X-Prometheus-Remote-Write-Version": "0.1.0"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                code = r.status
        except urllib.error.HTTPError as e:
            code = e.code
        if code // 100 != 2:
            raise RuntimeError(f"Sightline: marker sample refused with HTTP {code}")
        return self.flush() + " after one marker sample at now (completes the 2h range)"

    def disk_bytes(self):
        return dir_bytes(self.data)

    def version(self):
        return first_line([self.binary, "version"])


SERVERS = {"sightline": Sightline, "prometheus": Prometheus, "victoriametrics": VictoriaMetrics}


# ---------------------------------------------------------------- phases

def run(cmd, **kw):
    log(" ".join(cmd))
    return subprocess.run(cmd, check=True, **kw)


def send(loadgen, load_dir, server, timeout):
    out = subprocess.run([loadgen, "send", "--dir", load_dir, "--url", server.base + "/api/v1/write"],
                         capture_output=True, timeout=timeout, text=True)
    if out.returncode not in (0, 2):
        raise RuntimeError(f"loadgen send failed ({out.returncode}): {out.stderr.strip()}")
    return json.loads(out.stdout)


def wait_ingested(server, expected, timeout):
    """Waits until the server's own counter reaches expected; returns it (or None)."""
    deadline, last = time.time() + timeout, None
    while time.time() < deadline:
        last = server.ingested()
        if last is None or last >= expected:
            return last
        time.sleep(0.25)
    log(f"{server.name}: only {last} of {expected} samples counted after {timeout}s")
    return last


def wait_settled(pid, max_wait, idle_cpu=0.05, window=0.5, rounds=3):
    """Waits until the process used < idle_cpu cores for `rounds` windows in a row."""
    deadline, quiet = time.time() + max_wait, 0
    prev = proc_cpu_seconds(pid)
    while quiet < rounds and time.time() < deadline:
        time.sleep(window)
        cur = proc_cpu_seconds(pid)
        quiet = quiet + 1 if (cur - prev) / window < idle_cpu else 0
        prev = cur
    return quiet >= rounds


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def ingest_phase(cls, binary, loadgen, load_dir, manifest, args):
    work = tempfile.mkdtemp(prefix=f"bench-{cls.name.lower()}-", dir=args.tmp)
    s = cls(work, binary)
    res = {"server": s.name, "phase": "ingest", "loadavg_before": loadavg()}
    try:
        s.start()
        time.sleep(1)
        wait_settled(s.proc.pid, 20)
        pid = s.proc.pid
        cpu0, rss0 = proc_cpu_seconds(pid), proc_status_kb(pid, "VmRSS") * 1024
        t0 = time.time()
        rep = send(loadgen, load_dir, s, args.timeout)
        res["send"] = rep
        res["send_wall_s"] = time.time() - t0
        res["ingested_counter"] = wait_ingested(s, rep["samples_ok"], args.timeout)
        res["settled"] = wait_settled(pid, 60)
        res["ingest_wall_s"] = time.time() - t0
        cpu1, rss1 = proc_cpu_seconds(pid), proc_status_kb(pid, "VmRSS") * 1024
        hwm1 = proc_status_kb(pid, "VmHWM") * 1024
        res["flush"] = s.flush()
        wait_settled(pid, 60)
        cpu2, hwm2 = proc_cpu_seconds(pid), proc_status_kb(pid, "VmHWM") * 1024
        res.update(cpu_s=cpu1 - cpu0, cpu_flush_s=cpu2 - cpu1, rss_before=rss0, rss_after=rss1,
                   hwm_after_ingest=hwm1, peak_rss=hwm2)
        s.stop()
        res["disk_bytes"] = s.disk_bytes()
        res["disk_breakdown"] = dir_breakdown(s.data)
        samples = rep["samples_ok"]
        res["samples"] = samples
        res["samples_per_cpu_s"] = samples / res["cpu_s"] if res["cpu_s"] > 0 else None
        res["rss_per_series"] = rss1 / manifest["series"]
        res["bytes_per_sample"] = res["disk_bytes"] / samples if samples else None
        if rep["requests_failed"]:
            res["error"] = f"{rep['requests_failed']} requests dropped: {rep['first_error']}"
    except Exception as e:  # noqa: BLE001 - one server failing must not stop the others
        res["error"] = str(e)
        log(f"{s.name}: {e}")
    finally:
        s.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return res


def rest_phase(cls, binary, loadgen, load_dir, manifest, args):
    work = tempfile.mkdtemp(prefix=f"bench-rest-{cls.name.lower()}-", dir=args.tmp)
    s = cls(work, binary)
    res = {"server": s.name, "phase": "rest"}
    try:
        s.start()
        rep = send(loadgen, load_dir, s, args.timeout)
        res["send"] = rep
        res["ingested_counter"] = wait_ingested(s, rep["samples_ok"], args.timeout)
        res["method"] = s.prepare_rest()
        s.stop()
        b, what = s.rest_bytes()
        res.update(bytes=b, measured=what, samples=rep["samples_ok"],
                   bytes_per_sample=b / rep["samples_ok"] if rep["samples_ok"] else None,
                   breakdown=dir_breakdown(s.data))
        if rep["requests_failed"]:
            res["error"] = f"{rep['requests_failed']} requests dropped: {rep['first_error']}"
    except Exception as e:  # noqa: BLE001
        res["error"] = str(e)
        log(f"{s.name}: {e}")
    finally:
        s.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return res


def promtool_block(promtool, om_file, samples, args):
    work = tempfile.mkdtemp(prefix="bench-promtool-", dir=args.tmp)
    try:
        out = os.path.join(work, "blocks")
        run([promtool, "tsdb", "create-blocks-from", "openmetrics", om_file, out],
            stdout=subprocess.DEVNULL, timeout=args.timeout)
        blocks = [d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d))]
        b = dir_bytes(out)
        return {"server": "Prometheus (promtool block)", "phase": "rest", "bytes": b, "samples": samples,
                "bytes_per_sample": b / samples, "blocks": len(blocks),
                "measured": f"{len(blocks)} block(s) from promtool tsdb create-blocks-from openmetrics",
                "method": "promtool"}
    except Exception as e:  # noqa: BLE001
        return {"server": "Prometheus (promtool block)", "phase": "rest", "error": str(e)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------- report

def mb(b):
    return f"{b / 1e6:.1f} MB" if b is not None else "-"


def fnum(x, fmt="{:,.0f}"):
    return fmt.format(x) if x is not None else "-"


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def render(meta, ingest, rest):
    L = []
    L.append(f"# Remote write benchmark, {meta['started']}\n")
    L.append(f"Machine: {meta['machine']}. Load average before: {meta['loadavg']}. Other processes may have "
             "been running: compare servers within this run.\n")
    L.append("Servers: " + "; ".join(f"{v['version'] or k} ({v['binary']})" for k, v in meta["servers"].items())
             + ".\n")
    m = meta.get("ingest_load")
    if m:
        L.append(f"Ingest load: {m['series']:,} series x {m['samples_per_series']} samples = "
                 f"{m['samples']:,} samples, {m['requests']:,} requests of up to {m['batch_samples']:,} samples "
                 f"over {m['shards']} connections, {m['avg_labels_per_series']:.2f} labels/series, "
                 f"{m['metric_names']} metric names, "
                 f"{m['compressed_bytes'] / m['samples']:.1f} snappy bytes/sample on the wire.\n")
    if ingest:
        L.append("| server | samples accepted | send wall s | server CPU-s | samples / CPU-s | RSS before | "
                 "RSS after ingest | peak RSS (VmHWM) | RSS / active series | disk after flush | bytes / sample "
                 "| note |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in ingest:
        if "cpu_s" not in r:
            L.append(f"| {r['server']} | - | - | - | - | - | - | - | - | - | - | {r.get('error', '')} |")
            continue
        L.append(f"| {r['server']} | {r['samples']:,} | {r['send_wall_s']:.1f} | {r['cpu_s']:.2f} | "
                 f"{fnum(r['samples_per_cpu_s'])} | {mb(r['rss_before'])} | {mb(r['rss_after'])} | "
                 f"{mb(r['peak_rss'])} | {r['rss_per_series']:,.0f} B | {mb(r['disk_bytes'])} | "
                 f"{fnum(r['bytes_per_sample'], '{:.2f}')} | {r.get('error', '') or r.get('flush', '')} |")
    L.append("")
    if rest:
        rm = meta.get("rest_load")
        if rm:
            L.append(f"At rest: {rm['series']:,} series x {rm['samples_per_series']} samples "
                     f"({rm['interval_ms'] // 1000} s apart) = {rm['samples']:,} samples.\n")
        L.append("| server | bytes on disk | bytes / sample | what was measured |")
        L.append("|---|---:|---:|---|")
        for r in rest:
            if "bytes" not in r:
                L.append(f"| {r['server']} | - | - | {r.get('error', '')} |")
                continue
            L.append(f"| {r['server']} | {mb(r['bytes'])} | {r['bytes_per_sample']:.2f} | "
                     f"{r['measured']}{'; ' + r['error'] if r.get('error') else ''} |")
        L.append("")
    by = {r["server"]: r for r in ingest}
    rb = {r["server"]: r for r in rest}
    sl, vm, pr = by.get("Sightline", {}), by.get("VictoriaMetrics", {}), by.get("Prometheus", {})
    rows = [
        ("Sightline samples/CPU-s vs VictoriaMetrics", ratio(sl.get("samples_per_cpu_s"), vm.get("samples_per_cpu_s")),
         ">= 1.5", lambda x: x >= 1.5),
        ("Sightline bytes/sample at rest vs VictoriaMetrics",
         ratio(rb.get("Sightline", {}).get("bytes_per_sample"), rb.get("VictoriaMetrics", {}).get("bytes_per_sample")),
         "<= 0.8", lambda x: x <= 0.8),
        ("Sightline RSS/active series vs Prometheus", ratio(sl.get("rss_per_series"), pr.get("rss_per_series")),
         "<= 0.5", lambda x: x <= 0.5),
        ("Sightline peak RSS vs Prometheus", ratio(sl.get("peak_rss"), pr.get("peak_rss")), "(info)", None),
        ("VictoriaMetrics samples/CPU-s vs Prometheus (calibration)",
         ratio(vm.get("samples_per_cpu_s"), pr.get("samples_per_cpu_s")), "(info)", None),
        ("VictoriaMetrics RSS/series vs Prometheus (calibration)",
         ratio(vm.get("rss_per_series"), pr.get("rss_per_series")), "(info)", None),
    ]
    L.append("| ratio | value | target | met |")
    L.append("|---|---:|---|---|")
    for name, v, target, ok in rows:
        met = "-" if v is None or ok is None else ("yes" if ok(v) else "**no**")
        L.append(f"| {name} | {fnum(v, '{:.2f}')} | {target} | {met} |")
    L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default="sightline,prometheus,victoriametrics")
    ap.add_argument("--phases", default="ingest,rest")
    ap.add_argument("--series", type=int, default=100_000)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--rest-series", type=int, default=20_000)
    ap.add_argument("--rest-samples", type=int, default=240)
    ap.add_argument("--interval-ms", type=int, default=15_000)
    ap.add_argument("--batch", type=int, default=2_000, help="samples per request")
    ap.add_argument("--shards", type=int, default=4, help="concurrent connections")
    ap.add_argument("--no-promtool", action="store_true", help="skip the promtool block cross-check")
    ap.add_argument("--no-build", action="store_true", help="use already built release binaries")
    ap.add_argument("--sightline", default=None, help="sightline binary (default: build it)")
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    ap.add_argument("--victoria-metrics", default=shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics")
    ap.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "out"))
    ap.add_argument("--tmp", default=None, help="parent of the temporary data dirs")
    ap.add_argument("--timeout", type=int, default=900, help="bound on each send/wait step, seconds")
    ap.add_argument("--keep", action="store_true", help="keep data dirs (for inspection)")
    args = ap.parse_args()

    servers = [s.strip().lower() for s in args.servers.split(",") if s.strip()]
    phases = {p.strip() for p in args.phases.split(",")}
    for s in servers:
        if s not in SERVERS:
            ap.error(f"unknown server {s!r} (known: {', '.join(SERVERS)})")
    os.makedirs(args.out, exist_ok=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    loadgen = os.path.join(target, "release", "sightline-loadgen")
    binaries = {"prometheus": args.prometheus, "victoriametrics": args.victoria_metrics,
                "sightline": args.sightline or os.path.join(target, "release", "sightline")}
    if not args.no_build:
        run(["cargo", "build", "--release", "-p", "sightline-loadgen"], cwd=REPO)
        if "sightline" in servers and not args.sightline:
            try:
                run(["cargo", "build", "--release", "-p", "sightline"], cwd=REPO)
            except subprocess.CalledProcessError:
                log("sightline does not build; leaving it out of this run")
                servers.remove("sightline")
    for s in list(servers):
        if not os.access(binaries[s], os.X_OK):
            log(f"{binaries[s]} not found; leaving {s} out of this run")
            servers.remove(s)

    started = datetime.datetime.now(datetime.timezone.utc)
    gen_dir = tempfile.mkdtemp(prefix="bench-load-", dir=args.tmp)
    meta = {"started": started.strftime("%Y-%m-%d %H:%M UTC"), "loadavg": loadavg(),
            "machine": f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
                       f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
                       f"Linux {platform.release()}",
            "servers": {s: {"binary": binaries[s], "version": SERVERS[s]("/nonexistent", binaries[s]).version()}
                        for s in servers},
            "args": vars(args)}
    ingest, rest = [], []
    try:
        if "ingest" in phases:
            d = os.path.join(gen_dir, "ingest")
            out = run([loadgen, "generate", "--out", d, "--series", str(args.series), "--samples",
                       str(args.samples), "--interval-ms", str(args.interval_ms), "--batch", str(args.batch),
                       "--shards", str(args.shards)], capture_output=True, text=True)
            meta["ingest_load"] = manifest = json.loads(out.stdout)
            for s in servers:
                log(f"ingest phase: {s}")
                ingest.append(ingest_phase(SERVERS[s], binaries[s], loadgen, d, manifest, args))
                log(json.dumps(ingest[-1]))
        if "rest" in phases:
            d = os.path.join(gen_dir, "rest")
            om = os.path.join(gen_dir, "rest.om")
            cmd = [loadgen, "generate", "--out", d, "--series", str(args.rest_series), "--samples",
                   str(args.rest_samples), "--interval-ms", str(args.interval_ms), "--batch", str(args.batch),
                   "--shards", str(args.shards), "--align-ms", str(TWO_HOURS_MS)]
            want_promtool = "prometheus" in servers and not args.no_promtool and os.access(args.promtool, os.X_OK)
            if want_promtool:
                cmd += ["--openmetrics", om]
            out = run(cmd, capture_output=True, text=True)
            meta["rest_load"] = manifest = json.loads(out.stdout)
            for s in servers:
                log(f"rest phase: {s}")
                rest.append(rest_phase(SERVERS[s], binaries[s], loadgen, d, manifest, args))
                log(json.dumps(rest[-1]))
            if want_promtool:
                rest.append(promtool_block(args.promtool, om, manifest["samples"], args))
                log(json.dumps(rest[-1]))
    finally:
        shutil.rmtree(gen_dir, ignore_errors=True)

    md = render(meta, ingest, rest)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    with open(os.path.join(args.out, f"remote_write-{stamp}.md"), "w") as f:
        f.write(md)
    with open(os.path.join(args.out, f"remote_write-{stamp}.json"), "w") as f:
        json.dump({"meta": meta, "ingest": ingest, "rest": rest}, f, indent=2)
    shutil.copy(os.path.join(args.out, f"remote_write-{stamp}.md"), os.path.join(args.out, "remote_write-latest.md"))
    print(md)
    return 1 if any("error" in r for r in ingest + rest) else 0


if __name__ == "__main__":
    sys.exit(main())
