"""fsyncgate (RELIABILITY.md §1, §5): when fdatasync fails (EIO injected with
libfiu's fiu-run/fiu-ctrl on the pwrite path), heraldd acknowledges nothing
more, fences the journal, re-executes itself and replays the journal from
disk; afterwards everything acknowledged before the failure is delivered
exactly once and new events are accepted again."""
import json
import shutil
import subprocess
import time
import unittest

from harness import Heraldd, invoice_event, wait_until


def sanitized():
    """libfiu works by LD_PRELOAD, which sanitizer runtimes refuse (they must load first)."""
    from harness import HERALDD
    out = subprocess.run(["ldd", HERALDD], capture_output=True, text=True).stdout
    return "libasan" in out or "libtsan" in out


@unittest.skipUnless(shutil.which("fiu-run") and shutil.which("fiu-ctrl"), "needs fiu-utils")
@unittest.skipIf(sanitized(), "libfiu's LD_PRELOAD cannot run under ASan/TSan")
class FsyncFailureTest(unittest.TestCase):
    def test_failed_fdatasync_fences_restarts_and_replays(self):
        # libfiu wraps madvise(); jemalloc calls it while holding its own
        # locks and libfiu's wrapper allocates, which re-enters jemalloc and
        # crashes. One arena without thread caches and with purging off keeps
        # jemalloc from calling madvise() here (no effect without jemalloc).
        d = Heraldd(wrap=["fiu-run", "-x"], storage_extra='io = "pwrite"', log_level="info",
                    env={"MALLOC_CONF": "narenas:1,tcache:false,dirty_decay_ms:-1,muzzy_decay_ms:-1,retain:true,"
                                        "thp:never"})
        try:
            status, first = d.post_event(invoice_event("fsync-1"))
            self.assertEqual(status, 202, first)
            wait_until(lambda: len(d.outbox_messages()) == 2, what="first event delivered")
            old_port = d.port

            subprocess.run(["fiu-ctrl", "-c", "enable name=posix/io/sync/fdatasync,failinfo=5", str(d.proc.pid)],
                           check=True)
            status, body = d.post_event(invoice_event("fsync-2"))
            self.assertEqual(status, 503, body)  # never a 202 after a failed sync
            self.assertEqual(body["error"], "journal_unavailable")
            self.assertIn("fenced", body["reason"])

            # Same pid, new process image: it logs "listening" again on a new port.
            wait_until(lambda: any('"msg":"re-executing' in l for l in d.log_lines), what="re-exec")
            wait_until(lambda: d.port != old_port and d.port is not None, timeout=15, what="listening again")
            self.assertIsNone(d.proc.poll())
            self.assertEqual(d.request("GET", "/readyz")[0], 200)
            self.assertTrue(any('"msg":"log recovered","log":"journal"' in l for l in d.log_lines[-20:]))

            # The first event is still known; the refused one may have reached
            # the disk before the failed sync (then it is replayed: "recovered"),
            # and a retry by the client is answered from the journal either way.
            status, again = d.post_event(invoice_event("fsync-1"))
            self.assertEqual((status, again["events"][0].get("duplicate")), (202, True))
            status, retry = d.post_event(invoice_event("fsync-2"))
            self.assertEqual(status, 202, retry)
            wait_until(lambda: len(d.outbox_messages()) == 4, what="both events delivered")
            time.sleep(0.3)
            events = sorted(m["X-Herald-Event"] for m in d.outbox_messages().values())
            self.assertEqual(events, ["fsync-1", "fsync-1", "fsync-2", "fsync-2"])
            for eid in ("fsync-1", "fsync-2"):
                st = json.loads(d.request("GET", f"/v1/events/{eid}")[1])
                self.assertEqual(st["status"], "done", st)
        except BaseException:
            # Failed once under ctest -j2 (a 15 s wait); say what the daemon did.
            print("heraldd's last log lines:\n" + "\n".join(d.log_lines[-40:]))
            raise
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
