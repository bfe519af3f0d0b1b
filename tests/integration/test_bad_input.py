"""A stream of hostile requests gets clear 4xx answers, never crashes the
daemon, and changes nothing: a good request afterwards still works."""
import json
import re
import os
import socket
import time
import unittest

from harness import Heraldd, invoice_event, wait_until


class BadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Heraldd(transport="outbox")

    @classmethod
    def tearDownClass(cls):
        cls.daemon.cleanup()

    def expect_error(self, status, body, want_status, want_code):
        self.assertEqual(status, want_status, body)
        doc = json.loads(body)
        self.assertEqual(doc["error"], want_code)
        self.assertTrue(doc["reason"])
        return doc

    def test_hostile_requests_then_a_good_one(self):
        d = self.daemon
        bodies = [b"", b"{", b"nul", b"[]", b"[1,2]", b'{"id":', b"\xff\xfe{}", b'{"id":"a"}' * 3,
                  json.dumps({"id": "x" * 500, "type": "a", "occurred_at": "2026-01-01T00:00:00Z"}).encode(),
                  b"[" + b"[" * 5000 + b"]" * 5000 + b"]"]
        for b in bodies:
            status, data = d.request("POST", "/v1/events", b, {"Content-Type": "application/json"})
            self.assertEqual(status, 400, (b[:40], data))
            self.assertIn(json.loads(data)["error"], ("malformed_json", "validation_failed"))

        # Validation names each bad field; a batch with one bad item stores nothing.
        bad = invoice_event("erp-bad")
        del bad["occurred_at"]
        bad["partner"]["name"] = "Evil\r\nBcc: victim@example.com"
        status, data = d.request("POST", "/v1/events", [invoice_event("erp-ok"), bad])
        doc = self.expect_error(status, data, 400, "validation_failed")
        fields = {(e["index"], e["field"]) for e in doc["errors"]}
        self.assertEqual(fields, {(1, "occurred_at"), (1, "partner.name")})

        status, data = d.request("POST", "/v1/events", b"{}", {"Content-Type": "text/plain"})
        self.expect_error(status, data, 415, "unsupported_media_type")
        status, data = d.request("POST", "/v1/events", b"x" * 70000, {"Content-Type": "application/json"})
        self.expect_error(status, data, 413, "payload_too_large")
        status, data = d.request("GET", "/v1/events")
        self.expect_error(status, data, 405, "method_not_allowed")
        status, data = d.request("DELETE", "/healthz")
        self.expect_error(status, data, 405, "method_not_allowed")
        status, data = d.request("GET", "/nope")
        self.expect_error(status, data, 404, "not_found")

        # Request smuggling shapes Beast 1.81 would accept: 400 and close.
        for raw in [b"POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello",
                    b"POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
                    b"POST /v1/events HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                    b"POST /v1/events HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
                    b"GARBAGE\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),
                    b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"]:
            answer = d.raw(raw)
            self.assertRegex(answer, rb"^HTTP/1\.[01] 4(00|31) ", raw[:60])
            self.assertEqual(len(re.findall(rb"(?m)^HTTP/1\.[01] [0-9]{3} ", answer)), 1, "a smuggled second request was answered")

        # Slowloris: the header must arrive within header_timeout_ms (2 s here).
        start = time.time()
        with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
            s.sendall(b"POST /v1/events HTTP/1.1\r\n")
            try:
                while s.recv(1024):
                    pass
            except ConnectionResetError:
                pass
        self.assertLess(time.time() - start, 6)

        # Abrupt disconnects mid-body.
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", d.port)) as s:
                s.sendall(b"POST /v1/events HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{\"id\":")

        self.assertEqual(d.outbox_messages(), {})
        self.assertEqual([r for r in d.history_records() if r["kind"] == "event"], [])

        status, body = d.post_event(invoice_event("erp-good"))
        self.assertEqual(status, 202, body)
        wait_until(lambda: len(d.outbox_messages()) == 2, what="good request delivered")
        status, data = d.request("GET", "/healthz")
        self.assertEqual((status, json.loads(data)), (200, {"status": "ok"}))
        self.assertGreaterEqual(d.metric('herald_events_rejected_total{source="http"}'), 12)
        self.assertIsNone(d.proc.poll())
        self.assertEqual(d.errors(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
