"""Events validated into batches given back keep nothing of the earlier ones.

heraldd's HTTP decoder validates a request's events into the vector of an
earlier request once the history has encoded it (EventRecycler). A bulk
request of events with every part, then requests of events that lack
them: the history and the journal must show each later event exactly as
it was sent, with no actor, partner, document, tenant or data left over.
The same again with bulk bodies decoded on both io threads in turn
(`[http] bulk_spread_bytes` below these bodies' size): each thread's
decoder reuses its own batches.
"""
import json
import unittest

from harness import Heraldd, wait_until


def full_event(i):
    return {
        "id": f"full-{i:06d}", "type": "note.added", "occurred_at": "2026-11-20T09:14:03.123456+01:00",
        "tenant": "acme",
        "actor": {"id": "u17", "name": "Jana Nová", "email": "jana@example.com", "phone": "+421 900 123 456"},
        "on_behalf_of": {"id": "u03", "name": "Petr Malý"},
        "partner": {"id": "P-NOBODY", "name": "Nikto s.r.o.", "locale": "sk-SK"},
        "document": {"id": "D-1", "kind": "note", "number": f"N-{i}", "status": "open", "total": "12.50",
                     "currency": "EUR", "due_date": "2026-12-04"},
        "data": {"order_ref": "OBJ-881", "nested": {"k": "a value long enough to be allocated"}},
    }


def minimal_event(i):
    return {"id": f"min-{i:06d}", "type": "note.added", "occurred_at": "2026-11-21T10:00:00Z"}


def ndjson(events):
    return "\n".join(json.dumps(e, ensure_ascii=False) for e in events).encode()


class EventReuseTest(unittest.TestCase):
    HTTP_EXTRA = ""  # heraldd's default: bodies under 64 KiB stay on the HTTP thread

    def setUp(self):
        self.daemon = Heraldd(transport="outbox", http_extra=self.HTTP_EXTRA)

    def tearDown(self):
        self.daemon.cleanup()

    def post_ndjson(self, events):
        status, data = self.daemon.request("POST", "/v1/events", ndjson(events),
                                           headers={"Content-Type": "application/x-ndjson"})
        self.assertEqual(status, 202, data)

    def test_later_events_carry_nothing_of_earlier_ones(self):
        d = self.daemon
        sent = []
        # Bulk (encoded on the history's own thread) and single (encoded by
        # the request), each full first, then minimal, twice over.
        for round_ in range(2):
            full = [full_event(round_ * 1000 + i) for i in range(100)]  # under the harness's 64 KB body limit
            minimal = [minimal_event(round_ * 1000 + i) for i in range(150)]
            self.post_ndjson(full)
            self.post_ndjson(minimal)
            status, body = d.post_event(full_event(round_ * 1000 + 500))
            self.assertEqual(status, 202, body)
            status, body = d.post_event(minimal_event(round_ * 1000 + 500))
            self.assertEqual(status, 202, body)
            sent += minimal + [minimal_event(round_ * 1000 + 500)]
        wait_until(lambda: len([r for r in d.history_records() if r["kind"] == "event"]) == 2 * 252,
                   what="every received event in the history")
        by_id = {r["event_id"]: r for r in d.history_records() if r["kind"] == "event"}
        for e in sent:
            r = by_id[e["id"]]
            for key in ("partner", "actor", "on_behalf_of", "document"):
                self.assertNotIn(key, r, (e["id"], r))
            self.assertEqual(r["tenant"], "default", r)
            self.assertEqual(r["at"], "2026-11-21T10:00:00Z", r)
        # The journal keeps each minimal event's own text.
        texts = {rec["event"]["id"]: rec["event"] for rec in d.journal_records() if isinstance(rec.get("event"), dict)}
        for e in sent:
            self.assertEqual(texts[e["id"]], e)
        self.assertEqual(d.errors(), [])
        self.check_moved(d.metric("herald_http_bulk_decodes_moved_total"))

    def check_moved(self, moved):
        self.assertEqual(moved, 0)


class EventReuseOnBothThreadsTest(EventReuseTest):
    HTTP_EXTRA = "bulk_spread_bytes = 4096"  # every NDJSON body here is larger; single events are not

    def check_moved(self, moved):
        self.assertEqual(moved, 2)  # 4 bulk bodies over 2 io threads: every second one moved


if __name__ == "__main__":
    unittest.main(verbosity=2)
