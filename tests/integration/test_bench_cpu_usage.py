"""bench/cpu_usage.py and lib.sh's cpu_snapshot: CPU per unit of work
between two snapshots, by thread name, with threads that came and went."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import SOURCE_DIR

sys.path.insert(0, os.path.join(SOURCE_DIR, "bench"))
import cpu_usage  # noqa: E402

CPU_USAGE = os.path.join(SOURCE_DIR, "bench", "cpu_usage.py")
HZ = os.sysconf("SC_CLK_TCK")


def snapshot(machine, process, threads, pid="100", disk=None, kernel=None):
    lines = ["machine " + " ".join(str(x) for x in machine),
             f"process {pid} {process}" + ("" if kernel is None else f" {kernel}"),
             "disk " + ("" if disk is None else str(disk))]
    lines += [f"thread {tid} {name} {ticks}" for tid, name, ticks in threads]
    return "\n".join(lines) + "\n"


class CpuUsageTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="herald-cpu-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def cpu_usage(self, before, after, units):
        """Runs bench/cpu_usage.py on two snapshot texts; the finished process."""
        paths = []
        for name, text in (("a", before), ("b", after)):
            paths.append(os.path.join(self.dir, name))
            with open(paths[-1], "w") as f:
                f.write(text)
        return subprocess.run([sys.executable, CPU_USAGE, *paths, str(units)], capture_output=True, text=True)

    def run_usage(self, before, after, units):
        proc = self.cpu_usage(before, after, units)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return json.loads(proc.stdout)

    def test_per_thread_split_counts_exited_and_new_threads(self):
        ncpu = os.cpu_count()
        # user nice system idle iowait irq softirq steal guest guest_nice
        before = snapshot([1000, 0, 500, 2000, 100, 0, 0, 0, 0, 0], 300,
                          [("100", "heraldd", 100), ("101", "io-1", 150), ("102", "iou-wrk", 50)], disk=4096,
                          kernel=120)
        # Over the run: every core ticked 10 s; the process spent 4 s (1.5 s of
        # them in the kernel): main 1 s,
        # io-1 2 s, a new io_uring worker 0.5 s, and 0.5 s by worker 102, which
        # exited (its 0.5 s shows in the process's count only).
        # The machine's busy time is user + nice + system + irq + softirq
        # (steal, the host's, is not): 8 s over the run here.
        wall = 10 * HZ
        idle, iowait = wall * ncpu // 4, wall * ncpu // 4
        irq, softirq, steal, nice, system = HZ // 2, HZ, HZ, HZ // 2, 2 * HZ
        user = 4 * HZ
        idle += wall * ncpu - (idle + iowait + irq + softirq + steal + nice + system + user)
        after = snapshot([1000 + user, nice, 500 + system, 2000 + idle, 100 + iowait, irq, softirq, steal, 0, 0],
                         300 + 4 * HZ,
                         [("100", "heraldd", 100 + HZ), ("101", "io-1", 150 + 2 * HZ),
                          ("103", "iou-wrk", HZ // 2)], disk=4096 + 1_180_000, kernel=120 + 3 * HZ // 2)
        u = self.run_usage(before, after, 1000)
        self.assertEqual(u["disk_bytes_per_unit"], 1180.0)  # 1.18 MB over 1000 units
        self.assertAlmostEqual(u["us_per_unit"], 4000.0, places=1)  # 4 s over 1000 units
        self.assertAlmostEqual(u["kernel_us_per_unit"], 1500.0, places=1)  # 1.5 s of it in the kernel
        self.assertEqual(u["threads"], {"io-1": 2000.0, "main": 1000.0, "iou-wrk": 500.0, "exited": 500.0})
        self.assertEqual(list(u["threads"])[0], "io-1")  # the largest first
        self.assertAlmostEqual(u["cores"], 0.4, places=2)  # 4 s of CPU in 10 s
        self.assertAlmostEqual(u["machine_idle"], 1 - (8 * HZ + HZ) / (wall * ncpu), places=2)
        self.assertAlmostEqual(u["machine_us_per_unit"], 8000.0, places=1)  # 8 s over 1000 units

    def test_no_units_is_an_error(self):
        text = snapshot([1] * 10, 1, [])
        proc = self.cpu_usage(text, text, 0)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("no units", proc.stderr)

    def test_a_snapshot_without_the_kernel_ticks_has_no_kernel_figure(self):
        # A process line of two fields (a snapshot from before the kernel split).
        before, after = snapshot([1] * 10, 1, []), snapshot([HZ] * 10, HZ, [])
        self.assertIsNone(self.run_usage(before, after, 10)["kernel_us_per_unit"])
        self.assertIsNone(self.run_usage(before, snapshot([HZ] * 10, HZ, [], kernel=5), 10)["kernel_us_per_unit"])

    def test_lines_and_json_beside_a_ceiling(self):
        herald = {"us_per_unit": 40.0, "cores": 1.0, "threads": {"io-1": 30.0, "main": 10.0}, "machine_idle": 0.2,
                  "disk_bytes_per_unit": 1234.4}
        ceiling = {"us_per_unit": 10.0, "cores": 1.5, "threads": {}, "machine_idle": 0.1}
        line = cpu_usage.cpu_line("event", herald, ceiling)
        self.assertIn("heraldd **40 µs** (io-1 30, main 10", line)  # no kernel figure measured: none said
        self.assertIn("ratio **0.25**", line)
        self.assertIn("1,234 bytes to disk per event", line)
        j = cpu_usage.cpu_json(herald, ceiling)
        self.assertEqual((j["herald_us"], j["ceiling_us"], j["ratio"]), (40.0, 10.0, 0.25))
        self.assertEqual(j["herald_threads"], {"io-1": 30.0, "main": 10.0})
        self.assertEqual(j["herald_disk_bytes"], 1234.4)
        self.assertIsNone(j["machine_us"])  # a usage() without it (an older file)
        self.assertIsNone(j["others_us"])
        self.assertIsNone(j["herald_kernel_us"])
        busy = cpu_usage.cpu_json(dict(herald, machine_us_per_unit=61.5))
        self.assertEqual((busy["machine_us"], busy["others_us"]), (61.5, 21.5))  # the rest after heraldd's 40
        split = dict(herald, kernel_us_per_unit=17.5)
        self.assertEqual(cpu_usage.cpu_json(split)["herald_kernel_us"], 17.5)
        self.assertIn("heraldd **40 µs**, 17.5 of it in the kernel (io-1 30", cpu_usage.cpu_line("event", split))
        # Unreadable /proc/PID/io: no figure, and no claim in the line.
        unread = dict(herald, disk_bytes_per_unit=None)
        self.assertIsNone(cpu_usage.cpu_json(unread)["herald_disk_bytes"])
        self.assertNotIn("bytes to disk", cpu_usage.cpu_line("event", unread))
        # A run too short for one clock tick has no ratio rather than a division by zero.
        idle = dict(herald, us_per_unit=0.0)
        self.assertIsNone(cpu_usage.cpu_json(idle, ceiling)["ratio"])
        self.assertNotIn("ratio", cpu_usage.cpu_line("event", idle, ceiling))

    def test_snapshot_of_a_live_process(self):
        # lib.sh's cpu_snapshot on a busy child: its threads and the process
        # line parse, and the CPU it burned between two snapshots shows.
        child = subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<30: pass"])
        try:
            paths = [os.path.join(self.dir, n) for n in ("a", "b")]
            script = (f"source bench/lib.sh; cpu_snapshot {child.pid} {paths[0]}; sleep 0.5; "
                      f"cpu_snapshot {child.pid} {paths[1]}")
            subprocess.run(["bash", "-c", script], cwd=SOURCE_DIR, check=True)
            texts = []
            for path in paths:
                with open(path) as f:
                    texts.append(f.read())
            u = self.run_usage(*texts, 1)
            self.assertGreater(u["us_per_unit"], 0)
            self.assertIsNotNone(u["kernel_us_per_unit"])  # stime beside utime + stime
            self.assertLessEqual(u["kernel_us_per_unit"], u["us_per_unit"])
            self.assertIn("main", u["threads"])
            self.assertIsNotNone(u["disk_bytes_per_unit"])  # the child's own /proc/PID/io
            self.assertGreater(u["cores"], 0)
        finally:
            child.kill()
            child.wait()


if __name__ == "__main__":
    unittest.main(verbosity=2)
