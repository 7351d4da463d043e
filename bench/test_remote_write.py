#!/usr/bin/env python3
"""Tests of the benchmark harness's helpers (no servers needed):
python3 -m unittest bench/test_remote_write.py"""

import http.server
import os
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import remote_write as rw  # noqa: E402

METRICS = b"""# HELP prometheus_tsdb_head_samples_appended_total Total number of appended samples.
# TYPE prometheus_tsdb_head_samples_appended_total counter
prometheus_tsdb_head_samples_appended_total{type="float"} 1.5e+06
prometheus_tsdb_head_samples_appended_total{type="histogram"} 0
vm_rows_added_to_storage_total 2000000
vm_active_merges{type="indexdb"} 1
vm_active_merges{type="storage/big"} 2
with_timestamp{a="}"} 7 1700000000000
other_metric 99
"""


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        body = METRICS if self.path == "/metrics" else b"nope"
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class HarnessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.base = f"http://127.0.0.1:{cls.server.server_address[1]}"

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()

    def test_metric_sum_adds_every_series_of_the_named_metrics(self):
        self.assertEqual(rw.metric_sum(self.base, ("prometheus_tsdb_head_samples_appended_total",)), 1.5e6)
        self.assertEqual(rw.metric_sum(self.base, ("vm_rows_added_to_storage_total",)), 2e6)
        self.assertEqual(rw.metric_sum(self.base, ("vm_active_merges",)), 3)
        self.assertEqual(rw.metric_sum(self.base, ("with_timestamp",)), 7)
        self.assertIsNone(rw.metric_sum(self.base, ("absent_metric",)))
        self.assertIsNone(rw.metric_sum("http://127.0.0.1:1", ("x",)))

    def test_proc_readers_see_this_process(self):
        self.assertGreater(rw.proc_cpu_seconds(os.getpid()), 0)
        self.assertGreater(rw.proc_status_kb(os.getpid(), "VmRSS"), 0)
        self.assertGreaterEqual(rw.proc_status_kb(os.getpid(), "VmHWM"), rw.proc_status_kb(os.getpid(), "VmRSS"))
        self.assertEqual(rw.proc_status_kb(os.getpid(), "NoSuchKey"), 0)

    def test_dir_bytes_counts_file_sizes_and_honours_exclusions(self):
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "data", "part"))
            os.makedirs(os.path.join(d, "cache"))
            with open(os.path.join(d, "data", "part", "a"), "wb") as f:
                f.write(b"x" * 1000)
            with open(os.path.join(d, "cache", "b"), "wb") as f:
                f.write(b"y" * 500)
            with open(os.path.join(d, "top"), "wb") as f:
                f.write(b"z" * 7)
            os.symlink(os.path.join(d, "top"), os.path.join(d, "link"))
            self.assertEqual(rw.dir_bytes(d), 1507)
            self.assertEqual(rw.dir_bytes(d, exclude=(os.path.join(d, "cache"),)), 1007)
            link = os.lstat(os.path.join(d, "link")).st_size
            self.assertEqual(rw.dir_breakdown(d, depth=1), {"cache": 500, "data": 1000, "link": link, "top": 7})
            self.assertEqual(rw.dir_breakdown(d), {"cache": 500, "cache/b": 500, "data": 1000, "data/part": 1000,
                                                   "link": link, "top": 7})

    def test_render_reports_ratios_against_targets(self):
        meta = {"started": "now", "machine": "m", "loadavg": "0 0 0",
                "servers": {"sightline": {"version": "", "binary": "b"}},
                "ingest_load": {"series": 100, "samples_per_series": 2, "samples": 200, "requests": 1,
                                "batch_samples": 200, "shards": 1, "avg_labels_per_series": 8.5,
                                "metric_names": 50, "compressed_bytes": 2000}}
        base = {"samples": 200, "send_wall_s": 1.0, "cpu_s": 1.0, "rss_before": 1, "rss_after": 1, "peak_rss": 1,
                "disk_bytes": 1, "bytes_per_sample": 1.0, "flush": ""}
        ingest = [dict(base, server="Sightline", samples_per_cpu_s=900.0, rss_per_series=100.0),
                  dict(base, server="VictoriaMetrics", samples_per_cpu_s=400.0, rss_per_series=150.0),
                  dict(base, server="Prometheus", samples_per_cpu_s=200.0, rss_per_series=400.0)]
        rest = [{"server": "Sightline", "bytes": 10, "bytes_per_sample": 1.5, "measured": "x"},
                {"server": "VictoriaMetrics", "bytes": 10, "bytes_per_sample": 1.7, "measured": "x"},
                {"server": "Prometheus", "error": "boom"}]
        md = rw.render(meta, ingest, rest)
        self.assertIn("| Sightline samples/CPU-s vs VictoriaMetrics | 2.25 | >= 1.5 | yes |", md)
        self.assertIn("| Sightline bytes/sample at rest vs VictoriaMetrics | 0.88 | <= 0.8 | **no** |", md)
        self.assertIn("| Sightline RSS/active series vs Prometheus | 0.25 | <= 0.5 | yes |", md)
        self.assertIn("| Prometheus | - | - | boom |", md)

    def test_write_request_is_literal_snappy_of_the_protobuf(self):
        body = rw.write_request({"job": "bench", "__name__": "m"}, 1.0, 1700000000000)
        # Undo the snappy block format: varint length, then literal elements.
        n, shift, i = 0, 0, 0
        while True:
            b = body[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        proto = b""
        while i < len(body):
            tag = body[i]
            self.assertEqual(tag & 3, 0, "only literals")
            ln = (tag >> 2) + 1
            self.assertLessEqual(ln, 60)
            proto += body[i + 1:i + 1 + ln]
            i += 1 + ln
        self.assertEqual(len(proto), n)
        label_name = bytes.fromhex("0a0d") + b"\x0a\x08__name__\x12\x01m"
        label_job = bytes.fromhex("0a0c") + b"\x0a\x03job\x12\x05bench"
        sample = bytes.fromhex("1210") + b"\x09" + bytes.fromhex("000000000000f03f") + b"\x10" + bytes.fromhex(
            "80d095ffbc31")
        ts = label_name + label_job + sample
        self.assertEqual(proto, b"\x0a" + bytes([len(ts)]) + ts)
        long = rw.write_request({"__name__": "x" * 200}, 0.5, 1)
        self.assertGreater(len(long), 200)


if __name__ == "__main__":
    unittest.main()
