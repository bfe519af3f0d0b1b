"""bench/compare.py: two benchmark runs compared (ratios, the accept p99
over its durable ceiling, RSS, targets), with regressions judged against a
threshold and the rounds' spread."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import SOURCE_DIR
from test_bench_merge import scenario
from test_bench_targets import merged_run

COMPARE = os.path.join(SOURCE_DIR, "bench", "compare.py")


def with_rounds(scenario_value, herald_runs, ceiling):
    """A merged scenario of several rounds: every round's ratio beside the median round's figures."""
    return {**scenario_value, "ratios": [round(h / ceiling, 3) for h in herald_runs], "herald_runs": herald_runs}


class BenchCompareTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="herald-compare-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def compare(self, old, new, *args):
        paths = []
        for name, run in (("old.json", old), ("new.json", new)):
            paths.append(os.path.join(self.dir, name))
            with open(paths[-1], "w") as f:
                json.dump(run, f)
        proc = subprocess.run([sys.executable, COMPARE, *args, *paths], capture_output=True, text=True, timeout=30)
        return proc.returncode, proc.stdout, proc.stderr

    def test_the_same_run_twice_has_no_regressions(self):
        code, out, err = self.compare(merged_run(), merged_run())
        self.assertEqual(code, 0, err)
        self.assertIn("| http | 52,000 → 52,000 events/s | 60,000 → 60,000 | 0.87 → 0.87 | +0.0 % |  |  |", out)
        self.assertIn("Targets met: 11 of 11 → 11 of 11.", out)
        self.assertIn("Regressions (beyond 15%): none.", out)

    def test_a_ratio_down_beyond_the_threshold_is_a_regression(self):
        # The ceiling rose (a faster hour) and herald did not: the ratio fell 0.87 → 0.65.
        code, out, _ = self.compare(merged_run(), merged_run(http=scenario(52000, 80000)))
        self.assertEqual(code, 1)
        self.assertIn("| http | 52,000 → 52,000 events/s | 60,000 → 80,000 | 0.87 → 0.65 | -25.0 % |  | regression |", out)
        self.assertIn("Regressions (beyond 15%): http ratio 0.87 → 0.65.", out)
        # A looser threshold lets it pass.
        code, out, _ = self.compare(merged_run(), merged_run(http=scenario(52000, 80000)), "--threshold", "30")
        self.assertEqual(code, 0)
        self.assertIn("Regressions (beyond 30%): none.", out)

    def test_a_rise_is_an_improvement_not_a_regression(self):
        code, out, _ = self.compare(merged_run(), merged_run(redis=scenario(300000, 350000)))
        self.assertEqual(code, 0)
        self.assertIn("| redis | 200,000 → 300,000 events/s | 350,000 → 350,000 | 0.57 → 0.86 | +50.1 % |  | improvement |",
                      out)

    def test_a_move_inside_the_rounds_spread_is_not_a_regression(self):
        # The new median round is 25 % down, but the old run's rounds reached as low.
        old = merged_run(http=with_rounds(scenario(52000, 60000), [40000, 52000, 55000], 60000))
        new = merged_run(http=with_rounds(scenario(39000, 60000), [39000, 42000, 36000], 60000))
        code, out, _ = self.compare(old, new)
        self.assertEqual(code, 0)
        self.assertIn("| 0.87 → 0.65 | -25.0 % |  | within the spread |", out)
        # Apart, the same median move is one.
        new = merged_run(http=with_rounds(scenario(36000, 60000), [36000, 38000, 35000], 60000))
        code, out, _ = self.compare(old, new)
        self.assertEqual(code, 1)
        self.assertIn("| 0.87 → 0.60 | -30.8 % |  | regression |", out)

    def test_the_accept_p99_is_judged_over_its_durable_ceiling(self):
        # A slower disk: the p99 doubled, and so did the durable ceiling's.
        slower_disk = merged_run(e2e_p99_ms=8.4, e2e_p99_ceiling_ms=7.8)
        code, out, _ = self.compare(merged_run(), slower_disk)
        self.assertEqual(code, 0)
        self.assertIn("| 4.20 → 8.40 ms | 3.90 → 7.80 ms | 1.08 → 1.08 times it | +0.0 % | |  |", out)
        self.assertIn("No longer met: accept p99 at 5 000 events/s (open loop).", out)
        # herald's own tail grew on the same disk.
        code, out, _ = self.compare(merged_run(), merged_run(e2e_p99_ms=8.4))
        self.assertEqual(code, 1)
        self.assertIn("accept p99 4.20 → 8.40 ms (1.08 → 2.15 times its ceiling)", out)
        # Within rounds that overlap: 1 round against 3 that include its figure.
        noisy = merged_run(e2e_p99_ms=8.4, e2e_p99_ms_runs=[4.2, 8.4, 12.6], e2e_p99_ceiling_ms_runs=[3.9, 3.9, 3.9])
        code, out, _ = self.compare(merged_run(), noisy)
        self.assertEqual(code, 0)
        self.assertIn("within the spread", out)

    def test_rss_growth_and_targets_newly_met(self):
        old = merged_run(rss_mb=100.0, e2e=scenario(13000, 11000, "e-mails/s"))
        new = merged_run(rss_mb=130.0)
        code, out, _ = self.compare(old, new)
        self.assertEqual(code, 1)
        self.assertIn("| RSS, 100k partners × 10 contacts | 100 → 130 MB | | | +30.0 % | | regression |", out)
        self.assertIn("Targets met: 10 of 11 → 11 of 11.", out)
        self.assertIn("Newly met: end to end, one event per request.", out)

    def test_the_machines_are_shown_side_by_side(self):
        old = merged_run(machine_probe={"cpu_model": "AMD EPYC", "cpus": 2, "hypervisor": True, "syscall_ns": 1207,
                                        "loopback_rtt_us": {"p50": 33.4, "p99": 85.4},
                                        "fdatasync_ms": {"p50": 0.103, "p99": 1.888}})
        code, out, _ = self.compare(old, merged_run(machine_probe=None, machine="x86_64 8 cpus Linux"))
        self.assertEqual(code, 0)
        self.assertIn("| machine | x86_64 2 cpus Linux-6.1.0-test | x86_64 8 cpus Linux |", out)
        self.assertIn("| CPU | AMD EPYC, 2 cpus, virtual | – |", out)
        self.assertIn("| a system call | 1,207 ns | – |", out)
        self.assertIn("| 4 KB write + fdatasync, p50 / p99 | 0.103 / 1.888 ms | – |", out)

    def test_usage_errors_exit_2(self):
        path = os.path.join(self.dir, "one.json")
        with open(path, "w") as f:
            json.dump(merged_run(), f)
        for args in ([path], [path, path, path], ["--threshold", "x", path, path], ["--bogus", path, path],
                     [path, os.path.join(self.dir, "missing.json")]):
            proc = subprocess.run([sys.executable, COMPARE, *args], capture_output=True, text=True, timeout=30)
            self.assertEqual(proc.returncode, 2, args)


if __name__ == "__main__":
    unittest.main(verbosity=2)
