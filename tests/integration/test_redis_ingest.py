"""Redis Streams ingest against a real redis-server (AOF on) started here:
delivery, dead letters, a 10k batch, redis kill -9, herald kill -9 with
pending entries, two daemons in one group, idempotency shared with HTTP,
RESP injection and TLS."""
import json
import os
import threading
import time
import unittest

from harness import (Heraldd, RedisServer, SmtpSink, assert_invoice_messages, invoice_event, make_test_pki,
                     wait_until)

STREAM = "herald:events"


def event_for_other(i):
    """One message per event (P-2002 has one contact), Message-ID per event."""
    return json.dumps(invoice_event(f"rs-{i}", partner="P-2002"))


def message_event_ids(sink):
    """[X-Herald-Event of every message the sink received] (duplicates kept)."""
    return [msg["X-Herald-Event"] for _, msg in sink.messages()]


def xadd_all(client, payloads, chunk=500):
    ids = []
    for k in range(0, len(payloads), chunk):
        ids += client.pipeline([("XADD", STREAM, "*", "event", p) for p in payloads[k:k + chunk]])
    return ids


class RedisIngestTest(unittest.TestCase):
    def setUp(self):
        self.redis = RedisServer()
        self.sink = None
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.cleanup()
        if self.sink:
            self.sink.stop()
        self.redis.stop()

    def daemon(self, extra="", transport="outbox", **kw):
        smtp_port = self.sink.port if self.sink else None
        d = Heraldd(transport=transport, smtp_port=smtp_port,
                    extra_config=self.redis.config(extra=extra), **kw)
        self.daemons.append(d)
        return d

    def pending(self, client):
        return client.call("XPENDING", STREAM, "herald")[0]

    def test_delivery_and_dead_letters(self):
        d = self.daemon()
        c = self.redis.client()
        good = c.call("XADD", STREAM, "*", "event", json.dumps(invoice_event()), "source", "erp")
        bad = [
            ("event", "{not json"),
            ("payload", "no event field"),
            ("event", json.dumps({"id": "x1", "type": "invoice.posted"})),  # missing occurred_at
            ("event", b'{"id":"x2","type":"invoice.posted","occurred_at":"2026-11-20T09:14:03Z","data":{"a":"\xff"}}'),
            # RESP injection attempt inside a field copied to the dead-letter stream.
            ("event", "x\r\n*1\r\n$8\r\nFLUSHALL\r\n"),
        ]
        c.call("SET", "canary", "1")
        bad_ids = [c.call("XADD", STREAM, "*", k, v, "note", "kept") for k, v in bad]
        wait_until(lambda: len(d.outbox_messages()) == 2, what="two .eml files")
        by_rcpt = {m["To"].addresses[0].addr_spec: m for m in d.outbox_messages().values()}
        status, body = d.request("GET", "/v1/events/erp-7f3c9a")
        self.assertEqual(status, 200, body)
        info = json.loads(body)
        self.assertEqual(info["source"], "redis")
        assert_invoice_messages(self, by_rcpt, [m["id"] for m in info["messages"]])

        wait_until(lambda: c.call("XLEN", "herald:events:dead") == len(bad), what="dead letters")
        wait_until(lambda: self.pending(c) == 0, what="everything acked")
        dead = c.call("XRANGE", "herald:events:dead", "-", "+")
        by_entry = {}
        for _, fields in dead:
            f = dict(zip(fields[::2], fields[1::2]))
            by_entry[f[b"herald.entry"]] = f
        self.assertEqual(sorted(by_entry), sorted(bad_ids))
        reasons = [by_entry[i][b"herald.reason"].decode() for i in bad_ids]
        self.assertIn("malformed", reasons[0])
        self.assertEqual(reasons[1], 'entry has no "event" field')
        self.assertIn("occurred_at", reasons[2])
        self.assertIn("UTF-8", reasons[3])
        for (k, v), i in zip(bad, bad_ids):  # original fields verbatim
            f = by_entry[i]
            self.assertEqual(f[k.encode()], v if isinstance(v, bytes) else v.encode())
            self.assertEqual(f[b"note"], b"kept")
            self.assertEqual(f[b"herald.stream"], STREAM.encode())
        self.assertEqual(c.call("GET", "canary"), b"1")  # nothing was injected
        self.assertNotEqual(good, None)
        self.assertEqual(d.metric("herald_redis_entries_dead_lettered_total"), len(bad))
        self.assertEqual(d.metric("herald_redis_entries_acked_total"), len(bad) + 1)
        wait_until(lambda: d.metric("herald_redis_group_lag") == 0 and d.metric("herald_redis_group_pending") == 0,
                   what="lag gauges")
        self.assertEqual(d.metric("herald_redis_connected"), 1)
        self.assertEqual(d.terminate(), 0)
        # A clean stop leaves no consumer behind (names are per process).
        self.assertEqual(c.call("XINFO", "CONSUMERS", STREAM, "herald"), [])
        self.assertEqual([e for e in d.errors() if "dead-letter" not in e], [])

    def test_batch_of_10k_entries_through_smtp_sink(self):
        self.sink = SmtpSink()
        d = self.daemon(transport="relay")
        c = self.redis.client()
        n = 10_000
        xadd_all(c, [event_for_other(i) for i in range(n)])
        wait_until(lambda: d.metric('herald_messages_sent_total{transport="relay",status="delivered"}') == n,
                   timeout=90, what=f"{n} messages delivered")
        ids = message_event_ids(self.sink)
        self.assertEqual(len(ids), n)
        self.assertEqual(set(ids), {f"rs-{i}" for i in range(n)})
        wait_until(lambda: self.pending(c) == 0, what="all acked")
        # Entries still in flight after claim_min_idle (slow runs, sanitizers)
        # may be claimed and read once more; the journal answers those.
        self.assertEqual(d.metric("herald_redis_entries_read_total") - d.metric("herald_redis_entries_claimed_total"), n)
        self.assertEqual(d.errors(), [])

    def test_idempotency_shared_with_http(self):
        d = self.daemon()
        status, body = d.post_event(invoice_event())
        self.assertEqual(status, 202, body)
        c = self.redis.client()
        c.call("XADD", STREAM, "*", "event", json.dumps(invoice_event()))
        wait_until(lambda: d.metric("herald_redis_entries_acked_total") == 1, what="entry acked")
        self.assertEqual(d.metric("herald_events_duplicate_total"), 1)
        time.sleep(0.3)
        self.assertEqual(len(d.outbox_messages()), 2)  # one set of messages

    def test_group_destroyed_is_recreated(self):
        # What a Redis restarted without persistence looks like to herald:
        # NOGROUP on the next read; it reconnects, re-creates the group and
        # goes on.
        d = self.daemon()
        c = self.redis.client()
        c.call("XADD", STREAM, "*", "event", event_for_other(1))
        wait_until(lambda: len(d.outbox_messages()) == 1, what="first message")
        self.assertEqual(c.call("XGROUP", "DESTROY", STREAM, "herald"), 1)
        wait_until(lambda: sum("redis consumer group created" in l for l in d.log_lines) == 2, timeout=10,
                   what="group re-created")
        c.call("XADD", STREAM, "*", "event", event_for_other(2))
        wait_until(lambda: len(d.outbox_messages()) == 2, what="second message")
        # The re-created group starts at "0": entry 1 is read again and
        # answered from the journal, not sent twice.
        wait_until(lambda: self.pending(c) == 0, what="all acked")
        self.assertEqual(len(d.outbox_messages()), 2)
        self.assertGreaterEqual(d.metric("herald_events_duplicate_total"), 1)

    def test_redis_kill9_midstream_loses_nothing(self):
        # appendfsync always: every XADD Redis acknowledged is on its disk, so
        # any loss would be herald's. (With everysec Redis itself may drop
        # the last second; herald then sees redeliveries, which dedup.)
        self.redis.stop()
        self.redis = RedisServer(appendfsync="always")
        self.sink = SmtpSink()
        d = self.daemon(transport="relay")
        n = 3000
        produced = []
        done = threading.Event()

        def producer():
            client = None
            i = 0
            while i < n:
                try:
                    if client is None:
                        client = self.redis.client()
                    chunk = [("XADD", STREAM, "*", "event", event_for_other(k)) for k in range(i, min(n, i + 50))]
                    client.pipeline(chunk)
                    produced.extend(range(i, i + len(chunk)))
                    i += len(chunk)
                    time.sleep(0.01)
                except (OSError, ConnectionError, RuntimeError):
                    # Redis died mid-chunk: resend the whole chunk (same event
                    # ids); entries that did land become duplicates herald drops.
                    client = None
                    time.sleep(0.1)
            done.set()

        t = threading.Thread(target=producer, daemon=True)
        t.start()
        wait_until(lambda: len(produced) >= 1000, timeout=30, what="1000 produced")
        self.redis.kill()
        time.sleep(0.5)
        self.redis.start()
        self.assertTrue(done.wait(60))
        wait_until(lambda: set(message_event_ids(self.sink)) == {f"rs-{i}" for i in range(n)}, timeout=60,
                   what="every event delivered")
        ids = message_event_ids(self.sink)
        self.assertEqual(len(ids), len(set(ids)), "a message was sent twice")
        c = self.redis.client()
        wait_until(lambda: self.pending(c) == 0, what="all acked")
        self.assertGreaterEqual(d.metric("herald_redis_reconnects_total"), 1)
        self.assertTrue(any("redis unavailable" in l for l in d.log_lines))

    def test_herald_kill9_rereads_its_pending_entries(self):
        self.sink = SmtpSink()
        # A fixed consumer name: the restarted daemon owns the same pending list.
        d = self.daemon(transport="relay", extra='consumer = "herald-a"\ncount = 100')
        c = self.redis.client()
        n = 3000
        xadd_all(c, [event_for_other(i) for i in range(n)])
        wait_until(lambda: d.metric("herald_redis_entries_read_total") >= 500, what="reading started")
        d.kill()
        d.start()
        wait_until(lambda: set(message_event_ids(self.sink)) == {f"rs-{i}" for i in range(n)}, timeout=60,
                   what="every event delivered")
        wait_until(lambda: self.pending(c) == 0, what="all acked")
        ids = message_event_ids(self.sink)
        # Re-read entries were already journaled: answered as duplicates, not
        # resent. Only messages in flight to the sink at the kill may repeat
        # (accepted by the sink, delivery not yet journaled): at most one
        # batch per pooled connection, 4 connections × batch_size 64.
        self.assertLessEqual(len(ids) - len(set(ids)), 4 * 64)
        self.assertEqual(d.errors(), [])

    def test_two_daemons_share_the_group_and_claim_after_kill9(self):
        self.sink = SmtpSink()
        extra = "count = 20\nmax_in_flight = 2"
        a = self.daemon(transport="relay", extra=extra)
        b = self.daemon(transport="relay", extra=extra)
        c = self.redis.client()
        n = 2000
        xadd_all(c, [event_for_other(i) for i in range(n)])
        wait_until(lambda: set(message_event_ids(self.sink)) == {f"rs-{i}" for i in range(n)}, timeout=60,
                   what="every event delivered")
        ids = message_event_ids(self.sink)
        ra, rb = a.metric("herald_redis_entries_read_total"), b.metric("herald_redis_entries_read_total")
        # Only an entry left in flight past claim_min_idle (2 s here; slow
        # sanitizer runs) is claimed by the other daemon and may be sent by
        # both; otherwise each event is processed exactly once.
        claimed = a.metric("herald_redis_entries_claimed_total") + b.metric("herald_redis_entries_claimed_total")
        self.assertEqual(ra + rb - claimed, n)
        self.assertLessEqual(len(ids) - n, claimed, "an event was processed by both daemons")
        if not claimed:
            self.assertEqual(len(ids), n)
        self.assertGreater(ra, 0)
        self.assertGreater(rb, 0)

        # Now kill -9 one mid-stream: the other claims its pending entries.
        more = [event_for_other(i) for i in range(n, 2 * n)]
        xadd_all(c, more)
        wait_until(lambda: a.metric("herald_redis_entries_read_total") > ra + 100, what="a reading")
        a.kill()
        summary = c.call("XPENDING", STREAM, "herald")
        owned = {name.decode(): int(count) for name, count in (summary[3] or [])}
        wait_until(lambda: b.metric("herald_redis_entries_claimed_total") > 0 or not owned, timeout=30,
                   what="b claims a's entries")
        # a's journal holds what it acked but had not delivered: a restart
        # (new pid, new consumer name) resumes it.
        a.start()
        want = {f"rs-{i}" for i in range(2 * n)}
        wait_until(lambda: set(message_event_ids(self.sink)) == want, timeout=60, what="all 4000 delivered")
        wait_until(lambda: self.pending(c) == 0, timeout=30, what="all acked")
        ids = message_event_ids(self.sink)
        # Claimed entries that a had journaled but not acked are sent again
        # by b (separate journals): at most what a had pending at the kill.
        # And as in the test above, messages a had in flight to the sink at
        # the kill (accepted there, delivery not yet journaled) are sent
        # again by a after its restart: at most 4 connections × batch 64.
        # (CI once saw 110 repeats with 80 pending: the second cause.)
        self.assertLessEqual(len(ids) - len(set(ids)), sum(owned.values()) + 4 * 64)
        for d in (a, b):
            self.assertEqual(d.errors(), [])


class RedisTlsTest(unittest.TestCase):
    """redis-server with TLS only; heraldd verifies its certificate."""

    @classmethod
    def setUpClass(cls):
        cls.pki = make_test_pki()
        cls.path = staticmethod(lambda name: os.path.join(cls.pki, name))

    def setUp(self):
        from harness import free_port
        self.tls_port = free_port()
        p = self.path
        self.redis = RedisServer(extra_args=("--tls-port", str(self.tls_port), "--tls-cert-file", p("server.crt"),
                                             "--tls-key-file", p("server.key"), "--tls-ca-cert-file", p("ca.crt"),
                                             "--tls-auth-clients", "no", "--requirepass", "s3cret"))
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.cleanup()
        self.redis.stop()

    def tls_config(self, ca, server_name="localhost"):
        return f"""
[redis]
host = "127.0.0.1"
port = {self.tls_port}
tls = true
tls_ca_file = "{ca}"
tls_server_name = "{server_name}"
password = "s3cret"
block_ms = 200
reconnect_initial_ms = 50
reconnect_max_ms = 200
"""

    def test_tls_with_verified_certificate_and_auth(self):
        d = Heraldd(extra_config=self.tls_config(self.path("ca.crt")))
        self.daemons.append(d)
        c = self.redis.client()
        c.call("AUTH", "s3cret")
        c.call("XADD", STREAM, "*", "event", json.dumps(invoice_event()))
        wait_until(lambda: len(d.outbox_messages()) == 2, what="two .eml files")
        self.assertTrue(any('"tls://127.0.0.1:' in l for l in d.log_lines))

    def test_untrusted_certificate_or_wrong_name_never_connects(self):
        for ca, name in ((self.path("other.crt"), "localhost"), (self.path("ca.crt"), "redis.example")):
            d = Heraldd(extra_config=self.tls_config(ca, name))
            self.daemons.append(d)
            wait_until(lambda: any("redis unavailable" in l and "TLS handshake" in l for l in d.log_lines),
                       what="handshake refused")
            self.assertEqual(d.metric("herald_redis_connected"), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
