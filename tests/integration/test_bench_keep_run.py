"""bench/keep_run.py: every full benchmark run kept under runs/ and
compared with the run kept before it."""
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

KEEP = os.path.join(SOURCE_DIR, "bench", "keep_run.py")


class BenchKeepRunTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="herald-keep-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def keep(self, run):
        with open(os.path.join(self.dir, "latest.json"), "w") as f:
            json.dump(run, f)
        with open(os.path.join(self.dir, "latest.md"), "w") as f:
            f.write("# tables\n")
        proc = subprocess.run([sys.executable, KEEP, self.dir], capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(os.path.join(self.dir, "latest.md")) as f:
            return proc.stdout, f.read()

    def kept(self):
        runs = os.path.join(self.dir, "runs")
        return sorted(os.listdir(runs)) if os.path.isdir(runs) else []

    def test_the_first_run_is_kept_without_a_comparison(self):
        out, md = self.keep(merged_run(date="2026-12-05T20:16:59+00:00", commit="f3a9954"))
        self.assertEqual(self.kept(), ["20261205T201659Z.json"])
        self.assertEqual(out, "")
        self.assertEqual(md, "# tables\n")
        with open(os.path.join(self.dir, "runs", "20261205T201659Z.json")) as f:
            self.assertEqual(json.load(f)["commit"], "f3a9954")

    def test_a_later_run_is_compared_with_the_one_before_it(self):
        self.keep(merged_run(date="2026-12-05T20:16:59+00:00", commit="f3a9954"))
        self.keep(merged_run(date="2026-12-05T21:00:00+01:00", commit="aaaaaaa"))  # 20:00Z: before the first
        # A regression is reported, and the run still exits 0.
        out, md = self.keep(merged_run(date="2026-12-06T08:00:00+00:00", commit="bbbbbbb-dirty",
                                       http=scenario(40000, 80000)))
        self.assertEqual(self.kept(), ["20261205T200000Z.json", "20261205T201659Z.json", "20261206T080000Z.json"])
        self.assertIn("## Against the previous run (runs/20261205T201659Z.json): "
                      "2026-12-05T20:16:59+00:00 → 2026-12-06T08:00:00+00:00", out)
        self.assertIn("| commit | f3a9954 | bbbbbbb-dirty |", out)
        self.assertIn("Regressions (beyond 15%): http ratio 0.87 → 0.50.", out)
        self.assertTrue(md.startswith("# tables\n\n## Against the previous run"))
        self.assertTrue(md.endswith(out))

    def test_smoke_runs_are_not_kept(self):
        out, md = self.keep(merged_run(smoke=True))
        self.assertEqual(self.kept(), [])
        self.assertEqual(out, "")
        self.assertEqual(md, "# tables\n")

    def test_an_unreadable_run_exits_2(self):
        with open(os.path.join(self.dir, "latest.json"), "w") as f:
            f.write("{")
        proc = subprocess.run([sys.executable, KEEP, self.dir], capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(self.kept(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
