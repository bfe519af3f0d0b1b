"""An invoice.posted event reaches exactly the right recipients through a
real Postfix smtp-sink, rendered and MIME-encoded correctly."""
import unittest

from harness import Heraldd, SmtpSink, free_port, assert_invoice_messages, invoice_event, wait_until


class SmtpDeliveryTest(unittest.TestCase):
    def setUp(self):
        self.sink = SmtpSink()
        self.daemon = Heraldd(transport="relay", smtp_port=self.sink.port)

    def tearDown(self):
        self.daemon.cleanup()
        self.sink.stop()

    def test_invoice_goes_to_the_two_contacts_whose_actions_match(self):
        status, body = self.daemon.post_event(invoice_event())
        self.assertEqual(status, 202, body)
        self.assertEqual(body["accepted"], 1)
        ids = body["events"][0]["messages"]
        self.assertEqual(len(ids), 2)
        # The sink creates its dump file when a transaction starts; herald's
        # delivered count moves only after the sink's 250 for the whole message.
        delivered = 'herald_messages_sent_total{transport="relay",status="delivered"}'
        wait_until(lambda: self.daemon.metric(delivered) == 2, what="two deliveries")
        msgs = self.sink.messages()
        self.assertEqual(len(msgs), 2)
        by_rcpt = {}
        for rcpts, msg in msgs:
            self.assertEqual(len(rcpts), 1)
            by_rcpt[rcpts[0]] = msg
            self.assertEqual(msg["X-Mail-Args"], "<fakturacia@herald.example>")
        assert_invoice_messages(self, by_rcpt, ids)

        # The warehouse contact only hears about stock documents.
        stock = {"id": "erp-stock-1", "type": "stock_document.posted", "occurred_at": "2026-11-20T10:00:00Z",
                 "partner": {"id": "P-1001"}, "document": {"kind": "delivery_note", "number": "DL-77"}}
        status, body = self.daemon.post_event(stock)
        self.assertEqual(status, 202, body)
        wait_until(lambda: self.daemon.metric(delivered) == 3, what="third delivery")
        third = [m for r, m in self.sink.messages() if r == ["sklad@kovac.example"]]
        self.assertEqual(len(third), 1)
        self.assertEqual(third[0]["Subject"], "Dodací list DL-77")
        self.assertEqual(third[0].get_body(("plain",)).get_content(), "Dodací list DL-77 pre Stavebniny Kováč s.r.o..\n")

        # An event type no action listens to produces nothing.
        status, body = self.daemon.post_event({**stock, "id": "erp-x", "type": "invoice.cancelled"})
        self.assertEqual(status, 202)
        self.assertEqual(body["events"][0]["messages"], [])

        self.assertEqual(self.daemon.metric('herald_events_received_total{source="http"}'), 3)

        self.assertEqual(self.daemon.terminate(), 0)
        self.assertEqual(self.daemon.errors(), [])
        self.assertEqual(len(self.sink.messages()), 3)
        history = self.daemon.history_records()
        self.assertEqual([r["event_id"] for r in history if r["kind"] == "event"],
                         ["erp-7f3c9a", "erp-stock-1", "erp-x"])
        delivered = [r for r in history if r["kind"] == "email" and r["status"] == "delivered"]
        self.assertEqual(sorted(r["recipient"] for r in delivered),
                         ["predaj@kovac.example", "sklad@kovac.example", "ucetni@kovac.example"])
        self.assertTrue(any('"msg":"stopped"' in line for line in self.daemon.log_lines))


class SmtpFailureTest(unittest.TestCase):
    def tearDown(self):
        self.daemon.cleanup()
        self.sink.stop()

    def test_permanent_rejection_is_failed_not_retried(self):
        self.sink = SmtpSink(extra_args=["-f", "RCPT"])
        self.daemon = Heraldd(transport="relay", smtp_port=self.sink.port)
        status, _ = self.daemon.post_event(invoice_event())
        self.assertEqual(status, 202)
        wait_until(lambda: len([r for r in self.daemon.history_records() if r.get("status") == "failed"]) == 2,
                   what="two failed records")
        failed = [r for r in self.daemon.history_records() if r.get("status") == "failed"]
        for r in failed:
            self.assertEqual(r["attempt"], 1)
            self.assertIn("RCPT TO", r["error"])
            self.assertIn("5", r["error"][:20] if r["error"][:3].isdigit() else r["error"])
        self.assertEqual(self.sink.messages(), [])

    def test_transient_rejection_is_retried_then_expires(self):
        self.sink = SmtpSink(extra_args=["-r", "MAIL"])
        self.daemon = Heraldd(transport="relay", smtp_port=self.sink.port)
        status, _ = self.daemon.post_event(invoice_event())
        self.assertEqual(status, 202)
        wait_until(lambda: len([r for r in self.daemon.history_records() if r.get("status") == "expired"]) == 2,
                   what="two expired records")
        records = [r for r in self.daemon.history_records() if r["kind"] == "email"]
        self.assertEqual(sorted(r["attempt"] for r in records), [1, 1, 2, 2, 3, 3])
        self.assertEqual(sorted(r["status"] for r in records), ["deferred"] * 4 + ["expired"] * 2)
        self.assertGreaterEqual(self.daemon.metric('herald_retries_total{transport="relay"}'), 4)

    def test_relay_down_is_transient_and_opens_the_breaker(self):
        self.sink = SmtpSink()  # running, but herald is pointed at a port nobody listens on
        self.daemon = Heraldd(transport="relay", smtp_port=free_port(),
                              relay_extra="breaker_failures = 2\nbreaker_open_ms = 200")
        status, _ = self.daemon.post_event(invoice_event())
        self.assertEqual(status, 202)
        wait_until(lambda: len([r for r in self.daemon.history_records() if r.get("status") == "expired"]) == 2,
                   what="expired after connection refused")
        self.assertIn("connect", [r for r in self.daemon.history_records() if r.get("status") == "expired"][0]["error"])
        # Each message still got exactly max_attempts real attempts; the
        # breaker held them back in between without spending attempts.
        self.assertEqual(self.daemon.metric('herald_dead_letters_total{transport="relay"}'), 2)
        self.assertTrue(any("relay circuit breaker opened" in line for line in self.daemon.log_lines))


if __name__ == "__main__":
    unittest.main(verbosity=2)
