"""heraldd's command line: --version, --check-config, graceful SIGTERM."""
import glob
import os
import subprocess
import tempfile
import unittest

from harness import HERALDD, RESOURCES, SOURCE_DIR, Heraldd, wait_until


def run(*args):
    return subprocess.run([HERALDD, *args], capture_output=True, text=True, timeout=30)


class CliTest(unittest.TestCase):
    def test_version(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^heraldd \d+\.\d+\.\d+\n$")

    def test_check_config_accepts_the_shipped_config(self):
        r = run("--check-config", "--config", os.path.join(SOURCE_DIR, "config", "heraldd.toml"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)

    def check(self, toml_text):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "heraldd.toml")
            with open(path, "w") as f:
                f.write(toml_text)
            return run("--check-config", "--config", path)

    def test_check_config_reports_errors_readably(self):
        r = self.check('[http]\nlisten = "127.0.0.1:8080\n')
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"heraldd\.toml:2:\d+: ")
        r = self.check("[http]\nmax_body_byte = 5\n")
        self.assertEqual(r.returncode, 1)
        self.assertIn("http.max_body_byte: unknown key", r.stderr)
        r = self.check(f'[resources]\ndir = "{RESOURCES}/missing"\n')
        self.assertEqual(r.returncode, 1)
        self.assertIn("resources directory does not exist", r.stderr)
        r = run("--check-config", "--config", "/nonexistent.toml")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such config file", r.stderr)

    def test_check_config_validates_templates(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "t.toml"), "w") as f:
                f.write('[[template]]\nid = "x"\nsubject = "s"\ntext = "Hello {{name"\n')
            r = self.check(f'[resources]\ndir = "{d}"\n')
        self.assertEqual(r.returncode, 1)
        self.assertIn("template error at line 1, column 7", r.stderr)

    def test_unknown_argument(self):
        self.assertEqual(run("--bogus").returncode, 2)

    def test_sigterm_exits_zero_and_logs_json(self):
        d = Heraldd()
        try:
            self.assertEqual(d.terminate(), 0)
            self.assertEqual(d.non_json_lines, [])
            msgs = [l for l in d.log_lines if '"msg":"stopped"' in l]
            self.assertEqual(len(msgs), 1)
        finally:
            d.cleanup()

    def test_jemalloc_purges_on_a_background_thread(self):
        # daemon/jemalloc_options.cpp: without a background thread an idle
        # heraldd kept the RSS of its last burst for good.
        d = Heraldd()
        try:
            pid = d.proc.pid
            with open(f"/proc/{pid}/maps") as f:
                if "libjemalloc" not in f.read():
                    self.skipTest("heraldd is not linked with jemalloc (sanitizer builds)")

            def thread_names():
                names = []
                for comm in glob.glob(f"/proc/{pid}/task/*/comm"):
                    try:
                        with open(comm) as f:
                            names.append(f.read().strip())
                    except OSError:  # a thread that just ended
                        pass
                return names

            wait_until(lambda: thread_names().count("jemalloc_bg_thd") == 1, what="one jemalloc background thread")
            self.assertEqual(d.terminate(), 0)
        finally:
            d.cleanup()

    def test_background_threads_run_at_a_lower_priority(self):
        # [daemon] background_nice (core/util/threads.hpp): the journal's
        # merges and the history's retention yield busy cores to accepts and
        # deliveries; the maintenance thread, which holds the journal lock,
        # and the io and sync threads keep the daemon's priority.
        for extra, raised in (("", 10), ("background_nice = 0", 0)):
            d = Heraldd(daemon_extra=extra)
            try:
                nice = wait_until(lambda: thread_nices(d.proc.pid), what="heraldd's threads")
                base = nice["heraldd"]
                for name in ("journal-merge", "history-retain"):
                    self.assertEqual(nice.get(name), min(19, base + raised), (extra, name, nice))
                for name in ("io-1", "journal-sync", "history-sync", "journal-maint"):
                    self.assertEqual(nice.get(name), base, (extra, name, nice))
                self.assertEqual(d.terminate(), 0)
            finally:
                d.cleanup()

    def test_bind_failure_exits_nonzero(self):
        d = Heraldd()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "heraldd.toml")
                with open(path, "w") as f:
                    f.write(f'[http]\nlisten = "127.0.0.1:{d.port}"\n[resources]\ndir = "{RESOURCES}"\n'
                            f'[storage]\ndir = "{tmp}/var"\n')
                r = run("--config", path)
            self.assertEqual(r.returncode, 1)
            self.assertIn("Address already in use", r.stdout)
        finally:
            d.cleanup()


def thread_nices(pid):
    """{thread name: nice value} of the process's threads (the first of each
    name), or None until all the named ones above have started."""
    nices = {}
    for stat in sorted(glob.glob(f"/proc/{pid}/task/*/stat")):
        try:
            with open(stat) as f:
                text = f.read()
        except OSError:  # a thread that just ended
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        nices.setdefault(name, int(fields[16]))  # field 19 of proc(5); these start at field 3
    wanted = ("heraldd", "io-1", "journal-sync", "history-sync", "journal-maint", "journal-merge", "history-retain")
    return nices if all(n in nices for n in wanted) else None


if __name__ == "__main__":
    unittest.main(verbosity=2)
