"""bench/run.sh --smoke: the benchmark harness keeps working (tiny runs,
correctness checks only; the figures are not asserted)."""
import json
import os
import shutil
import subprocess
import tempfile
import tomllib
import unittest

from harness import HERALDD, SOURCE_DIR


class BenchSmokeTest(unittest.TestCase):
    def run_bench(self, script, *args, timeout, **env):
        """bench/<script> args with its results in a temporary directory;
        the finished process (exit 0 asserted) and that directory."""
        build = os.path.dirname(os.path.dirname(HERALDD))
        if not os.path.exists(os.path.join(build, "bench", "herald-smtp-bench")):
            self.skipTest("benchmarks are not built in this preset (HERALD_BUILD_BENCH=OFF)")
        results = tempfile.mkdtemp(prefix="herald-bench-")
        self.addCleanup(shutil.rmtree, results, True)
        proc = subprocess.run([os.path.join(SOURCE_DIR, "bench", script), *args],
                              env={**os.environ, "HERALD_RESULTS": results, "HERALD_BUILD": build, **env},
                              capture_output=True, text=True, timeout=timeout)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        return proc, results

    def test_soak_runs_and_writes_its_verdict(self):
        # bench/soak.sh for a few seconds: the samples, RSS apart from the
        # idempotency window's structures, the verdict (bench/soak_verdict.py).
        proc, results = self.run_bench("soak.sh", "1", "500", "2", timeout=120, SOAK_SECONDS="4")
        with open(os.path.join(results, "soak.json")) as f:
            soak = json.load(f)["soak"]
        self.assertEqual(len(soak["samples"]), 2)
        for sample in soak["samples"]:
            self.assertGreater(sample["rss_mb"], 0)
            self.assertGreaterEqual(sample["window_mb"], 0)
            self.assertLess(sample["window_mb"], sample["rss_mb"])
        # (soak.sh itself fails unless every accepted event's e-mail arrives.)
        self.assertLessEqual(soak["samples"][0]["sink"], soak["samples"][-1]["sink"])
        self.assertEqual(soak["verdict"], "flat")
        for key in ("rss_growth", "rss_bytes_per_event", "window_bytes_per_event", "rest_bytes_per_event"):
            self.assertIn(key, soak)
        self.assertIn("**flat**", proc.stdout)

    def test_harness_runs_and_writes_latest_json(self):
        _, results = self.run_bench("run.sh", "--smoke", timeout=240)
        with open(os.path.join(results, "latest.json")) as f:
            latest = json.load(f)
        self.assertTrue(latest["smoke"])
        for scenario, unit in (("http", "events/s"), ("ndjson", "events/s"), ("smtp", "messages/s"),
                               ("redis", "events/s"), ("e2e", "e-mails/s")):
            s = latest[scenario]
            self.assertEqual(s["unit"], unit)
            self.assertGreater(s["herald"], 0)
            self.assertGreater(s["ceiling"], 0)
            self.assertAlmostEqual(s["ratio"], s["herald"] / s["ceiling"], places=2)
        # CPU per event beside events/s: heraldd's by thread, the ceiling's, the machine's idle share.
        for scenario in ("http", "ndjson", "e2e", "e2e_batched"):
            cpu = latest[scenario]["cpu"]
            self.assertGreater(cpu["herald_us"], 0, scenario)
            self.assertTrue(cpu["herald_threads"], scenario)
            self.assertLessEqual(0, cpu["machine_idle"])
            self.assertLessEqual(cpu["machine_idle"], 1)
            # Its kernel time, a part of it (a smoke second may not tick the kernel's share).
            self.assertLessEqual(0, cpu["herald_kernel_us"], scenario)
            self.assertLessEqual(cpu["herald_kernel_us"], cpu["herald_us"], scenario)
        self.assertIsNotNone(latest["redis"]["cpu"]["herald_kernel_us"])
        # Redis: heraldd's CPU per entry over its drain, and every core's (a smoke drain may last under a tick).
        self.assertGreaterEqual(latest["redis"]["cpu"]["herald_us"], 0)
        self.assertGreaterEqual(latest["redis"]["cpu"]["others_us"], 0)
        for scenario in ("http", "ndjson"):
            self.assertGreater(latest[scenario]["cpu"]["ceiling_us"], 0)
            # Every core's busy time per event, and the rest of it after heraldd's (the load generator, the kernel).
            self.assertGreater(latest[scenario]["cpu"]["machine_us"], 0)
            self.assertGreaterEqual(latest[scenario]["cpu"]["others_us"], 0)
        for scenario in ("e2e", "e2e_batched"):
            cpu = latest[scenario]["cpu"]
            self.assertGreater(cpu["sink_us"], 0)
            # Every core's busy time per e-mail, and the rest of it after heraldd and the sink (wrk, the kernel).
            self.assertGreater(cpu["machine_us"], 0)
            self.assertGreaterEqual(cpu["others_us"], 0)
            # smtp-source's own CPU per message (its rusage) and the sink's while it ran.
            self.assertGreater(latest[scenario]["ceiling_cpu"]["source_us"], 0)
            self.assertGreater(latest[scenario]["ceiling_cpu"]["sink_us"], 0)
        self.assertGreater(latest["e2e_p99_ms"], 0)
        # heraldd's journal group commits during its latency run, from its fsync histogram.
        commits = latest["e2e_latency"]["journal_commits"]
        self.assertGreater(commits["commits"], 0)
        self.assertGreater(commits["mean_ms"], 0)
        self.assertGreaterEqual(commits["over_5ms"], commits["over_10ms"])
        self.assertGreaterEqual(commits["over_10ms"], commits["over_50ms"])
        # The delivery ceiling was measured before and after heraldd's runs.
        runs = latest["e2e"]["ceiling_runs"]
        self.assertEqual(len(runs), 2)
        self.assertAlmostEqual(latest["e2e"]["ceiling"], sum(runs) / 2, delta=1)
        # The durable latency ceiling ran under the same load, without errors.
        self.assertGreater(latest["e2e_p99_ceiling_ms"], 0)
        ceiling = latest["e2e_latency_ceiling"]
        self.assertEqual((ceiling["non2xx"], ceiling["errors"]), (0, 0))
        self.assertEqual(ceiling["ok"], ceiling["sent"])
        # Both latency runs were warmed up: sent, but not measured.
        for run in (ceiling, latest["e2e_latency"]):
            self.assertGreater(run["measured"], 0)
            self.assertGreater(run["sent"], run["measured"])
        # The durable ceiling commits at heraldd's default interval (the
        # shipped config states the compiled-in default).
        with open(os.path.join(SOURCE_DIR, "config", "heraldd.toml"), "rb") as f:
            interval = tomllib.load(f)["storage"]["group_commit_interval_us"]
        self.assertEqual(ceiling["commit_interval_us"], interval)
        self.assertGreater(latest["rss_mb"], 0)
        # Two SIGHUP reloads after the load (a template, one partner file),
        # every action still indexed (bench/rss.sh checks it).
        rss = latest["rss"]
        self.assertGreater(rss["reload_template_seconds"], 0)
        self.assertGreater(rss["reload_partner_file_seconds"], 0)
        self.assertGreaterEqual(rss["reload_peak_mb"], rss["peak_mb"])
        self.assertIn("cpus", latest["machine"])
        # What the machine charges per system call, loopback round trip and fdatasync.
        probe = latest["machine_probe"]
        self.assertGreater(probe["syscall_ns"], 0)
        self.assertGreater(probe["cpus"], 0)
        for key, samples in (("loopback_rtt_us", 500), ("fdatasync_ms", 20)):
            self.assertEqual(probe[key]["samples"], samples)
            self.assertGreater(probe[key]["p50"], 0)
            self.assertLessEqual(probe[key]["p50"], probe[key]["p99"])
        self.assertLessEqual(probe["fdatasync_ms"]["p99"], probe["fdatasync_ms"]["max"])
        with open(os.path.join(results, "latest.md")) as f:
            md = f.read()
        self.assertIn("a system call", md)
        self.assertIn("| **herald-smtp-bench**", md)
        # The targets are listed but a smoke run is not judged (bench/targets.py).
        targets = latest["targets"]
        self.assertFalse(targets["judged"])
        self.assertEqual(targets["met"], 0)
        self.assertTrue(all(item["met"] is None for item in targets["items"].values()))
        self.assertGreater(targets["items"]["http_events_per_s"]["value"], 0)
        self.assertIsNone(targets["items"]["rss_mb"]["value"])  # 1 000 partners, not 100 000
        self.assertIsNone(targets["items"]["rss_reload_peak_mb"]["value"])
        self.assertIn("## Targets (smoke run: figures too short to judge)", md)
        # A run compared with itself: no regressions.
        proc = subprocess.run([os.path.join(SOURCE_DIR, "bench", "compare.py"), os.path.join(results, "latest.json"),
                               os.path.join(results, "latest.json")], capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("Regressions (beyond 15%): none.", proc.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
