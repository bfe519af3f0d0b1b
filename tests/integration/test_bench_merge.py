"""bench/merge_results.py: rounds of the benchmark harness merged into
latest.json (each figure from its median round, herald and ceiling kept
together; latency keys from the round with the median p99)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import SOURCE_DIR

MERGE = os.path.join(SOURCE_DIR, "bench", "merge_results.py")
MACHINE = {"cpus": 2, "model": "test"}


def scenario(herald, ceiling, unit="events/s", **extra):
    return {"herald": herald, "ceiling": ceiling, "ratio": round(herald / ceiling, 3), "unit": unit, **extra}


def latency(p99):
    return {"offered_rate": 5000.0, "sent": 10, "measured": 5, "ok": 10, "non2xx": 0, "errors": 0,
            "p50_ms": 1.0, "p90_ms": 2.0, "p99_ms": p99, "p999_ms": p99 * 2, "max_ms": p99 * 3,
            "achieved_rate": 5000.0}


def write_round(directory, http, e2e_batched, p99, rss=None):
    os.makedirs(directory, exist_ok=True)
    files = {
        "http": {"http": scenario(http, 60000, connections=256, cpu={"herald_us": 2e6 / http, "ceiling_us": 15.0}),
                 "ndjson": scenario(300000, 700000, batch=500), "machine": MACHINE},
        "smtp": {"smtp": scenario(20000, 10000, unit="messages/s"), "machine": MACHINE},
        "redis": {"redis": scenario(200000, 400000), "machine": MACHINE},
        "e2e": {"e2e": scenario(15000, 14000, unit="e-mails/s"),
                "e2e_batched": scenario(e2e_batched, 14000, unit="e-mails/s"),
                "e2e_latency": latency(p99), "e2e_latency_ceiling": latency(p99 / 2),
                "e2e_p99_ms": p99, "e2e_p99_ceiling_ms": p99 / 2, "machine": MACHINE},
    }
    if rss is not None:
        files["rss"] = {"rss_mb": rss, "rss": {"partners": 100000, "contacts": 10}, "machine": MACHINE}
    for name, data in files.items():
        with open(os.path.join(directory, f"{name}.json"), "w") as f:
            json.dump(data, f)


class BenchMergeTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="herald-merge-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def merge(self, *rounds, markdown=None, probe=None, commit=None):
        args = [sys.executable, MERGE] + (["--markdown", markdown] if markdown else []) + \
            (["--probe", probe] if probe else []) + (["--commit", commit] if commit else []) + list(rounds)
        proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout)

    def test_one_round_is_copied_as_it_is(self):
        write_round(self.dir, 40000, 19000, 4.0, rss=103.0)
        merged = self.merge(self.dir)
        self.assertEqual(merged["rounds"], 1)
        self.assertEqual(merged["http"], scenario(40000, 60000, connections=256,
                                                  cpu={"herald_us": 50.0, "ceiling_us": 15.0}))
        self.assertNotIn("ratios", merged["http"])
        self.assertEqual(merged["e2e_p99_ms"], 4.0)
        self.assertEqual(merged["rss_mb"], 103.0)
        self.assertEqual(merged["machine"], MACHINE)
        self.assertFalse(merged["smoke"])
        self.assertNotIn("machine_probe", merged)
        self.assertNotIn("commit", merged)
        self.assertEqual(self.merge(self.dir, commit="f3a9954-dirty")["commit"], "f3a9954-dirty")

    def test_the_targets_are_judged_and_their_table_appended_for_one_round_too(self):
        write_round(self.dir, 52000, 19000, 4.0, rss=103.0)
        md = os.path.join(self.dir, "latest.md")
        merged = self.merge(self.dir, markdown=md)
        t = merged["targets"]
        self.assertTrue(t["judged"])
        self.assertEqual(t["cores"], 2)  # "cpus" of the rounds' machine, without a probe
        # Met: HTTP 52 000 events/s and its ratio, Redis 200 000 and its ratio 0.5,
        # p99 4.0 ms, RSS; not: NDJSON
        # 300 000, end to end 15 000 and 19 000 (write_round's made-up figures).
        self.assertEqual((t["met"], t["of"]), (6, 11))
        self.assertEqual(t["items"]["http_events_per_s"],
                         {"what": "HTTP ingest, one event per request", "op": ">=", "bound": 50000,
                          "unit": "events/s", "value": 52000, "met": True, "ceiling": 60000,
                          "ceiling_what": "the trivial Beast server", "bound_of_ceiling": 0.833})
        self.assertFalse(t["items"]["e2e_batched_emails_per_s"]["met"])
        with open(md) as f:
            table = f.read()
        self.assertNotIn("## Median of", table)
        self.assertIn("## Targets (6 of 11 met on 2 cores)", table)
        self.assertIn("| end to end, NDJSON batches | ≥ 20,000 e-mails/s | 19,000 e-mails/s | "
                      "14,000 e-mails/s (1.429×) | **no** |", table)

    def test_the_machine_probe_is_kept_as_it_is(self):
        write_round(self.dir, 40000, 19000, 4.0, rss=103.0)
        probe = {"cpu_model": "test", "cpus": 2, "hypervisor": True, "syscall_ns": 1000,
                 "loopback_rtt_us": {"p50": 30.0, "p99": 70.0, "samples": 500},
                 "fdatasync_ms": {"p50": 0.4, "p99": 2.3, "max": 4.8, "samples": 20, "dir": "/tmp"}}
        path = os.path.join(self.dir, "machine_probe.json")
        with open(path, "w") as f:
            json.dump(probe, f)
        merged = self.merge(self.dir, probe=path)
        self.assertEqual(merged["machine_probe"], probe)
        self.assertEqual(merged["machine"], MACHINE)

    def test_each_figure_comes_whole_from_its_median_round(self):
        rounds = [os.path.join(self.dir, f"round-{r}") for r in (1, 2, 3)]
        write_round(rounds[0], 30000, 21000, 9.0, rss=103.0)
        write_round(rounds[1], 50000, 18000, 3.0)
        write_round(rounds[2], 40000, 20000, 4.5)
        md = os.path.join(self.dir, "latest.md")
        merged = self.merge(*rounds, markdown=md)
        self.assertEqual(merged["rounds"], 3)
        # http: ratios 0.5, 0.833, 0.667 → the median is round 3, herald and ceiling together.
        self.assertEqual(merged["http"]["herald"], 40000)
        self.assertEqual(merged["http"]["ceiling"], 60000)
        self.assertEqual(merged["http"]["herald_runs"], [30000, 50000, 40000])
        self.assertEqual(merged["http"]["ratios"], [0.5, 0.833, 0.667])
        self.assertEqual(merged["http"]["connections"], 256)  # the round's other fields stay
        self.assertEqual(merged["http"]["cpu"]["herald_us"], 50.0)  # CPU per event from the same round
        self.assertEqual(merged["http"]["herald_us_runs"], [2e6 / 30000, 40.0, 50.0])
        self.assertNotIn("herald_us_runs", merged["ndjson"])  # no "cpu" in these made-up rounds
        # e2e_batched: 21000, 18000, 20000 → round 3 again.
        self.assertEqual(merged["e2e_batched"]["herald"], 20000)
        # Latency: p99 9.0, 3.0, 4.5 → round 3, every latency key from it.
        self.assertEqual(merged["e2e_p99_ms"], 4.5)
        self.assertEqual(merged["e2e_p99_ceiling_ms"], 2.25)
        self.assertEqual(merged["e2e_latency"]["p99_ms"], 4.5)
        self.assertEqual(merged["e2e_latency_ceiling"]["p99_ms"], 2.25)
        self.assertEqual(merged["e2e_p99_ms_runs"], [9.0, 3.0, 4.5])
        self.assertEqual(merged["e2e_p99_ceiling_ms_runs"], [4.5, 1.5, 2.25])
        # Memory was measured in the first round only.
        self.assertEqual(merged["rss_mb"], 103.0)
        with open(md) as f:
            table = f.read()
        self.assertIn("## Median of 3 rounds", table)
        self.assertIn("| http | 40,000 events/s | 60,000 | **0.67** | 0.50, 0.83, 0.67 | 66.6667, 40, 50 |", table)
        self.assertIn("| ndjson | 300,000 events/s | 700,000 | **0.43** | 0.43, 0.43, 0.43 |  |", table)
        self.assertIn("| accept p99 at 5,000/s | **4.50 ms** | 2.25 ms | | 9.00, 3.00, 4.50 ms | |", table)
        self.assertIn("## Targets (", table)  # after the summary
        self.assertLess(table.index("## Median of"), table.index("## Targets ("))

    def test_an_even_number_of_rounds_takes_the_lower_middle(self):
        rounds = [os.path.join(self.dir, f"round-{r}") for r in (1, 2)]
        write_round(rounds[0], 45000, 19000, 5.0, rss=100.0)
        write_round(rounds[1], 35000, 20000, 4.0)
        merged = self.merge(*rounds)
        self.assertEqual(merged["http"]["herald"], 35000)
        self.assertEqual(merged["e2e_batched"]["herald"], 19000)
        self.assertEqual(merged["e2e_p99_ms"], 4.0)

    def test_a_missing_scenario_file_fails_loudly(self):
        write_round(self.dir, 40000, 19000, 4.0, rss=103.0)
        os.remove(os.path.join(self.dir, "smtp.json"))
        proc = subprocess.run([sys.executable, MERGE, self.dir], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("smtp.json", proc.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
