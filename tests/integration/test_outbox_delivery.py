"""The default outbox transport writes one RFC 5322 .eml per message."""
import os
import unittest

from harness import Heraldd, assert_invoice_messages, invoice_event, wait_until


class OutboxDeliveryTest(unittest.TestCase):
    def setUp(self):
        self.daemon = Heraldd(transport="outbox")

    def tearDown(self):
        self.daemon.cleanup()

    def test_invoice_produces_two_eml_files(self):
        status, body = self.daemon.post_event(invoice_event())
        self.assertEqual(status, 202, body)
        ids = body["events"][0]["messages"]
        wait_until(lambda: len(self.daemon.outbox_messages()) == 2, what="two .eml files")
        files = self.daemon.outbox_messages()
        self.assertEqual(sorted(files), sorted(ids))  # named by message id
        by_rcpt = {m["To"].addresses[0].addr_spec: m for m in files.values()}
        assert_invoice_messages(self, by_rcpt, ids)
        # Temp files never linger where readers look.
        self.assertEqual(os.listdir(os.path.join(self.daemon.outbox, ".tmp")), [])
        with open(os.path.join(self.daemon.outbox, ids[0] + ".eml"), "rb") as f:
            raw = f.read()
        self.assertNotIn(b"\n", raw.replace(b"\r\n", b""))  # CRLF only

    def test_other_partner_gets_only_its_own_message(self):
        status, body = self.daemon.post_event(invoice_event("erp-other", partner="P-2002"))
        self.assertEqual(status, 202, body)
        wait_until(lambda: len(self.daemon.outbox_messages()) == 1, what="one .eml")
        msg = next(iter(self.daemon.outbox_messages().values()))
        self.assertEqual(msg["To"].addresses[0].addr_spec, "sales@other.example")

    def test_sigterm_drains_queued_messages(self):
        events = [invoice_event(f"erp-{i}") for i in range(50)]
        status, body = self.daemon.request("POST", "/v1/events", events)
        self.assertEqual(status, 202, body)
        self.assertEqual(self.daemon.terminate(), 0)
        self.assertEqual(self.daemon.errors(), [])
        self.assertEqual(len(self.daemon.outbox_messages()), 100)


if __name__ == "__main__":
    unittest.main(verbosity=2)
