"""bench/soak_verdict.py: the soak's flat-or-not rule on made-up samples."""
import os
import sys
import unittest

from harness import SOURCE_DIR

sys.path.insert(0, os.path.join(SOURCE_DIR, "bench"))
import soak_verdict  # noqa: E402


def samples(rss, rate=2000.0, interval=30):
    return [{"t_s": (i + 1) * interval, "rss_mb": m, "achieved": rate} for i, m in enumerate(rss)]


class SoakVerdictTest(unittest.TestCase):
    def test_a_sawtooth_with_a_spike_is_flat(self):
        # Session 28's run: first sample to last +33 %, which the rule
        # before called a leak; the thirds' medians moved by +16 %.
        rss = [27, 33, 28, 29, 32, 30, 32, 33, 31, 34, 33, 31, 34, 44, 32, 33, 37, 34, 35, 36]
        v = soak_verdict.verdict(samples(rss), 2000)
        self.assertEqual(v["verdict"], "flat")
        self.assertEqual(v["rss_first_third_mb"], 29.5)
        self.assertEqual(v["rss_last_third_mb"], 34.5)
        self.assertAlmostEqual(v["rss_growth"], 34.5 / 29.5 - 1, places=3)

    def test_a_leak_is_not_flat_and_its_bytes_per_event_are_measured(self):
        # 100 bytes per event at 2 000 events/s over 30 s intervals, 2 of
        # them the idempotency window's filters and indexes.
        mb_per_byte_per_event = 2000 * 30 / (1024 * 1024)
        rows = samples([30 + i * 100 * mb_per_byte_per_event for i in range(12)])
        for i, r in enumerate(rows):
            r["window_mb"] = 1 + i * 2 * mb_per_byte_per_event
        v = soak_verdict.verdict(rows, 2000)
        self.assertEqual(v["verdict"], "NOT flat")
        self.assertAlmostEqual(v["rss_bytes_per_event"], 100, delta=0.01)
        self.assertAlmostEqual(v["window_bytes_per_event"], 2, delta=0.01)
        self.assertAlmostEqual(v["rest_bytes_per_event"], 98, delta=0.01)

    def test_a_slow_interval_is_not_flat(self):
        rows = samples([30] * 6)
        rows[3]["achieved"] = 1800.0
        v = soak_verdict.verdict(rows, 2000)
        self.assertEqual(v["verdict"], "NOT flat")
        self.assertEqual(v["slowest"], 1800.0)
        self.assertEqual(v["rss_bytes_per_event"], 0)

    def test_one_sample(self):
        v = soak_verdict.verdict(samples([40]), 2000)
        self.assertEqual((v["verdict"], v["rss_growth"], v["rss_bytes_per_event"]), ("flat", 0, 0))


if __name__ == "__main__":
    unittest.main(verbosity=2)
