"""ENOSPC (RELIABILITY.md §5): the journal lives on a tiny tmpfs (inside
`unshare -rm`, so no root mount is touched). When it fills up, POST /v1/events
answers 503 with a JSON reason and stores nothing; after space is freed the
same events are accepted and delivered, and every 202 before the fill is kept."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import Heraldd, invoice_event, wait_until

# $0 = mount point, $1 = flag file whose appearance frees the space.
WRAPPER = r'''
D=$0; F=$1; shift
mkdir -p "$D" && mount -t tmpfs -o size=256k tmpfs "$D" || exit 97
dd if=/dev/zero of="$D/filler" bs=4k count=52 2>/dev/null
( while [ ! -e "$F" ]; do sleep 0.05; done; rm -f "$D/filler" ) &
exec "$@"
'''


def unshare_works():
    if not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True)
    return r.returncode == 0


@unittest.skipUnless(unshare_works(), "needs unshare -rm (user + mount namespaces)")
class FullDiskTest(unittest.TestCase):
    def test_full_journal_disk_gives_503_then_recovers(self):
        flag = os.path.join("/tmp", f"herald-free-{os.getpid()}")
        if os.path.exists(flag):
            os.unlink(flag)
        d = None
        base = tempfile.mkdtemp(prefix="herald-disk-")
        try:
            disk = os.path.join(base, "disk")
            d = Heraldd(storage_dir=disk, log_level="info",
                        wrap=["unshare", "-rm", "sh", "-c", WRAPPER, disk, flag])
            accepted, refused = [], []
            for i in range(400):
                status, body = d.post_event(invoice_event(f"disk-{i}"))
                if status == 202:
                    accepted.append(f"disk-{i}")
                    continue
                self.assertEqual(status, 503, body)
                self.assertEqual(body["error"], "journal_unavailable")
                self.assertIn("disk is full", body["reason"])
                refused.append(f"disk-{i}")
                if len(refused) >= 3:
                    break
            self.assertGreater(len(accepted), 0)
            self.assertEqual(len(refused), 3, "the disk never filled up")
            # A refused event left nothing behind.
            for eid in refused:
                self.assertEqual(d.request("GET", f"/v1/events/{eid}")[0], 404)
            self.assertIsNone(d.proc.poll())

            open(flag, "w").close()  # the operator frees space
            time.sleep(0.3)
            for eid in refused:
                status, body = d.post_event(invoice_event(eid))
                self.assertEqual(status, 202, body)
            every = accepted + refused
            wait_until(lambda: len(d.outbox_messages()) == 2 * len(every), timeout=20,
                       what="every accepted event delivered")
            events = {m["X-Herald-Event"] for m in d.outbox_messages().values()}
            self.assertEqual(events, set(every))
            for eid in every:
                st = json.loads(d.request("GET", f"/v1/events/{eid}")[1])
                self.assertEqual(st["status"], "done", st)
        finally:
            if d:
                d.cleanup()
            shutil.rmtree(base, ignore_errors=True)
            if os.path.exists(flag):
                os.unlink(flag)


if __name__ == "__main__":
    unittest.main(verbosity=2)
