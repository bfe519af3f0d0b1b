"""The journal end to end: idempotent event ids, GET /v1/events/{id}, and
work resumed after kill -9 (including a torn journal tail), against a real
smtp-sink."""
import glob
import os
import time
import unittest

from harness import Heraldd, SmtpSink, free_port, invoice_event, wait_until

DELIVERED = 'herald_messages_sent_total{transport="relay",status="delivered"}'


class JournalRecoveryTest(unittest.TestCase):
    def tearDown(self):
        for p in getattr(self, "cleanups", []):
            p()

    def start(self, *args, **kw):
        d = Heraldd(*args, **kw)
        self.cleanups = getattr(self, "cleanups", []) + [d.cleanup]
        return d

    def sink(self, **kw):
        s = SmtpSink(**kw)
        self.cleanups = getattr(self, "cleanups", []) + [s.stop]
        return s

    def test_repeated_id_returns_the_first_result_and_sends_nothing_again(self):
        sink = self.sink()
        d = self.start(transport="relay", smtp_port=sink.port)
        status, first = d.post_event(invoice_event("erp-dup-1"))
        self.assertEqual(status, 202, first)
        wait_until(lambda: d.metric(DELIVERED) == 2, what="two deliveries")
        status, again = d.post_event(invoice_event("erp-dup-1"))
        self.assertEqual(status, 202, again)
        self.assertTrue(again["events"][0]["duplicate"])
        self.assertEqual(again["events"][0]["messages"], first["events"][0]["messages"])
        # A batch holding the same id twice plus a new one: one new event.
        status, batch = d.post_event([invoice_event("erp-dup-2"), invoice_event("erp-dup-2"),
                                      invoice_event("erp-dup-1")])
        self.assertEqual(status, 202, batch)
        self.assertEqual([e.get("duplicate", False) for e in batch["events"]], [False, True, True])
        wait_until(lambda: d.metric(DELIVERED) == 4, what="four deliveries")
        time.sleep(0.3)
        self.assertEqual(len(sink.messages()), 4)
        self.assertEqual(d.metric("herald_events_duplicate_total"), 3)

        status, body = d.request("GET", "/v1/events/erp-dup-1")
        self.assertEqual(status, 200, body)
        import json
        st = json.loads(body)
        self.assertEqual(st["status"], "done")
        self.assertEqual(st["type"], "invoice.posted")
        self.assertEqual(sorted(m["id"] for m in st["messages"]), sorted(first["events"][0]["messages"]))
        self.assertEqual({m["status"] for m in st["messages"]}, {"delivered"})
        self.assertEqual({m["attempts"] for m in st["messages"]}, {1})
        status, body = d.request("GET", "/v1/events/nope")
        self.assertEqual(status, 404)
        status, body = d.request("GET", "/v1/events/erp-dup-1?tenant=other")
        self.assertEqual(status, 404)
        status, body = d.request("GET", "/v1/events/erp-dup-1?bogus=1")
        self.assertEqual(status, 400)
        self.assertEqual(d.request("GET", "/readyz")[0], 200)
        self.assertEqual(d.errors(), [])

    def test_unfinished_work_resumes_after_kill_9_and_ids_stay_known(self):
        port = free_port()  # the relay is down: messages are deferred
        d = self.start(transport="relay", smtp_port=port, max_attempts=1000)
        status, body = d.post_event(invoice_event("erp-crash-1"))
        self.assertEqual(status, 202, body)
        ids = sorted(body["events"][0]["messages"])
        wait_until(lambda: d.metric('herald_retries_total{transport="relay"}') >= 2, what="deferrals")
        # A deferral is journaled with the next group commit, after the retry
        # is counted: wait until the accepted record and every deferral counted
        # so far are durable, or the kill below may lose the last one (that
        # message would then resume with no attempt on record).
        retries = d.metric('herald_retries_total{transport="relay"}')
        wait_until(lambda: d.metric('herald_log_records_total{log="journal"}') >= 1 + retries,
                   what="deferrals journaled")
        st = __import__("json").loads(d.request("GET", "/v1/events/erp-crash-1")[1])
        self.assertEqual(st["status"], "pending")
        d.kill()  # SIGKILL: no drain, no clean close

        # A torn write right after the last record, as a crash mid-append
        # leaves it: the segment is filled with zeros ahead of its records,
        # so the torn frame lands inside that space.
        seg = sorted(glob.glob(os.path.join(d.journal, "*.log")))[-1]
        with open(seg, "r+b") as f:
            records_end = len(f.read().rstrip(b"\0"))
            f.seek(records_end)
            f.write(b"\x40\x00\x00\x00\xde\xad")

        sink = self.sink(port=port)
        d.start()
        try:
            wait_until(lambda: d.metric(DELIVERED) == 2, timeout=15, what="resumed deliveries")
        except Exception:
            print("\n".join(d.log_lines[-30:]))
            raise
        self.assertEqual(d.metric("herald_messages_resumed_total"), 2)
        recovered = [l for l in d.log_lines if '"msg":"log recovery"' in l]
        self.assertTrue(any("checksum mismatch; cut" in l for l in recovered), recovered)
        time.sleep(0.3)
        got = sorted(m["Message-ID"].strip("<>").split("@")[0] for _, m in sink.messages())
        self.assertEqual(got, ids)
        st = __import__("json").loads(d.request("GET", "/v1/events/erp-crash-1")[1])
        self.assertEqual(st["status"], "done")
        self.assertTrue(all(m["attempts"] >= 2 for m in st["messages"]), st)

        # Across the restart the id is still known: nothing is sent again.
        status, again = d.post_event(invoice_event("erp-crash-1"))
        self.assertEqual(status, 202)
        self.assertTrue(again["events"][0]["duplicate"])
        time.sleep(0.3)
        self.assertEqual(len(sink.messages()), 2)
        self.assertEqual(d.errors(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
