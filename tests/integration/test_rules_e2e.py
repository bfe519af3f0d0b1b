"""The shipped seed resources (config/resources) end to end: every scenario of
the rules issue posted over HTTP, delivered to the outbox, and every e-mail
parsed by Python's email package (policy=default) and compared field by field
with what was sent: Slovak, Czech, Polish and German texts, HTML alternatives,
attachments, senders, locale formatting; SMS files for the mobile."""
import base64
import json
import os
import unittest

from harness import PDF_BYTES, SOURCE_DIR, Heraldd, wait_until

SEED = os.path.join(SOURCE_DIR, "config", "resources")
NB = "\u00a0"
SIGNATURE = "-- \nSTAVMAT a.s. · Priemyselná 12 · 821 09 Bratislava · www.stavmat.example\n"


def attachment(name="doc.pdf"):
    return [{"filename": name, "content_type": "application/pdf",
             "content_base64": base64.b64encode(PDF_BYTES).decode()}]


def event(eid, etype, partner=None, document=None, **extra):
    e = {"id": eid, "type": etype, "occurred_at": "2026-11-20T09:14:03+01:00",
         "actor": {"id": "u17", "name": "Jana Nová"}}
    if partner:
        e["partner"] = partner
    if document:
        e["document"] = document
    e.update(extra)
    return e


def invoice(eid, partner_id, total="1249.90", number="FV-2026-0042"):
    return event(eid, "invoice.posted", {"id": partner_id},
                 {"kind": "invoice", "number": number, "status": "posted", "total": total, "currency": "EUR",
                  "due_date": "2026-12-04", "attachments": attachment(number + ".pdf")})


def text(msg):
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def html(msg):
    return msg.get_body(("html",)).get_content().replace("\r\n", "\n")


class SeedScenariosTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Heraldd(transport="outbox", resources=SEED)
        events = [
            invoice("inv-sk", "P-1001", total="12490.50"),
            invoice("inv-cs", "P-2001"),
            invoice("inv-pl", "P-3001", total="1249.90"),
            invoice("inv-de", "P-4001"),
            event("stock-1", "stock_document.posted", {"id": "P-1001"},
                  {"kind": "delivery_note", "number": "DL-2026-0107", "attachments": attachment("DL-2026-0107.pdf")}),
            event("order-realized", "customer_order.realized", {"id": "P-1001"},
                  {"kind": "customer_order", "number": "OBJ-881", "total": "310", "currency": "EUR"}),
            event("po-1", "supplier_order.created", {"id": "S-5001"},
                  {"kind": "supplier_order", "number": "OV-2026-0031", "total": "18400", "currency": "EUR",
                   "attachments": attachment("OV-2026-0031.pdf")}),
            event("order-status", "customer_order.status_changed", {"id": "P-1001"},
                  {"kind": "customer_order", "number": "OBJ-881", "status": "Expedovaná",
                   "previous_status": "Pripravená"}),
            event("case-done", "case.status_changed",
                  {"id": "C-77", "name": "Eva Horváthová", "email": "eva.horvathova@example.com"},
                  {"kind": "case", "number": "RMA-0042", "status": "Vybavená", "previous_status": "Přijata"}),
            event("case-new", "case.status_changed",
                  {"id": "C-78", "name": "Karel Dvořák", "email": "karel@example.com"},
                  {"kind": "case", "number": "RMA-0043", "status": "Přijata"}),
            event("case-open", "case.status_changed",
                  {"id": "C-79", "name": "Ola Nowak", "email": "ola@example.com"},
                  {"kind": "case", "number": "RMA-0044", "status": "Nedořešená"}),
            event("reg-1", "user.registered", actor={"id": "u99", "name": "Zuzana Šimková",
                                                     "email": "zuzana@example.com"}),
            event("reset-1", "user.password_reset", actor={"id": "u99", "name": "Zuzana Šimková",
                                                         "email": "zuzana@example.com"},
                  data={"reset_url": "https://stavmat.example/reset?t=a&b=1",
                        "expires_at": "2026-11-20T10:14:03+01:00"}),
        ]
        status, body = cls.d.request("POST", "/v1/events", events)
        assert status == 202, body
        cls.ids = {e["id"]: e["messages"] for e in json.loads(body)["events"]}
        # 5 invoices (4 partners + 1 account manager), delivery note,
        # supplier order, warehouse group, case, registration, reset = 11.
        wait_until(lambda: len(cls.d.outbox_messages()) == 11 and len(cls.d.outbox_sms()) == 1, timeout=15,
                   what="11 e-mails and 1 SMS")
        cls.mail = {}
        for mid, msg in cls.d.outbox_messages().items():
            cls.mail.setdefault(msg["To"].addresses[0].addr_spec, []).append((mid, msg))

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def one(self, rcpt):
        self.assertIn(rcpt, self.mail)
        self.assertEqual(len(self.mail[rcpt]), 1, rcpt)
        return self.mail[rcpt][0][1]

    def check_invoice(self, rcpt, subject, name, body, html_part):
        m = self.one(rcpt)
        self.assertEqual(m["Subject"], subject)
        self.assertEqual(m["To"].addresses[0].display_name, name)
        self.assertEqual(m["From"].addresses[0].display_name, "STAVMAT a.s.")
        self.assertEqual(m["From"].addresses[0].addr_spec, "fakturacia@stavmat.example")
        self.assertEqual(m["Reply-To"].addresses[0].addr_spec, "obchod@stavmat.example")
        self.assertEqual(m["Reply-To"].addresses[0].display_name, "STAVMAT obchod")
        self.assertEqual(m.get_content_type(), "multipart/mixed")
        self.assertEqual(m.get_payload()[0].get_content_type(), "multipart/alternative")
        self.assertEqual(text(m), body + SIGNATURE)
        h = html(m)
        self.assertIn(html_part, h)
        self.assertTrue(h.rstrip().endswith("</html>"), h)
        self.assertIn("STAVMAT a.s. · Priemyselná 12", h)  # the HTML signature, inside the body
        atts = list(m.iter_attachments())
        self.assertEqual(len(atts), 1)
        self.assertEqual(atts[0].get_content(), PDF_BYTES)
        self.assertEqual(atts[0].get_filename(), "FV-2026-0042.pdf")

    def test_invoices_in_four_languages(self):
        self.check_invoice("predaj@kovac.example", "Faktúra FV-2026-0042 – Stavebniny Kováč s.r.o.", "Ján Kováč",
                           f"Dobrý deň Ján Kováč,\n\nzaúčtovali sme faktúru FV-2026-0042 na sumu 12{NB}490,50{NB}€ "
                           "so splatnosťou 4. 12. 2026.\n",
                           f"<p>Faktúra <b>FV-2026-0042</b> na sumu 12{NB}490,50{NB}€, splatná 4. 12. 2026.</p>")
        self.check_invoice("ucetni@drevo-novak.example", "Faktura FV-2026-0042 – Dřevo Novák s.r.o.", "Žofie Nováková",
                           f"Dobrý den Žofie Nováková,\n\nzaúčtovali jsme fakturu FV-2026-0042 na částku "
                           f"1{NB}249,90{NB}€ se splatností 4. 12. 2026.\n",
                           f"<p>Faktura <b>FV-2026-0042</b> na částku 1{NB}249,90{NB}€, splatná 4. 12. 2026.</p>")
        self.check_invoice("sprzedaz@budmax.example", "Faktura FV-2026-0042 – Budmax Kowalski sp. z o.o.",
                           "Łukasz Kowalski",
                           f"Dzień dobry Łukasz Kowalski,\n\nzaksięgowaliśmy fakturę FV-2026-0042 na kwotę "
                           f"1249,90{NB}€ z terminem płatności 04.12.2026.\n",
                           f"<p>Faktura <b>FV-2026-0042</b> na kwotę 1249,90{NB}€, płatna do 04.12.2026.</p>")
        self.check_invoice("verkauf@mueller-baustoffe.example", "Rechnung FV-2026-0042 – Baustoffe Müller GmbH",
                           "Jürgen Müller",
                           f"Guten Tag Jürgen Müller,\n\nwir haben die Rechnung FV-2026-0042 über 1.249,90{NB}€ "
                           "gebucht, fällig am 04.12.2026.\n",
                           f"<p>Rechnung <b>FV-2026-0042</b> über 1.249,90{NB}€, fällig am 04.12.2026.</p>")

    def test_account_manager_gets_big_invoices_only(self):
        m = self.one("petra.mala@stavmat.example")
        self.assertEqual(m["Subject"], "Veľká faktúra FV-2026-0042 pre Stavebniny Kováč s.r.o.")
        self.assertEqual(m["To"].addresses[0].display_name, "Petra Malá")
        self.assertTrue(text(m).startswith(f"Faktúra FV-2026-0042 na 12{NB}490,50{NB}€ pre Stavebniny"))
        self.assertEqual(m.get_content_type(), "text/plain")  # no HTML part, no attachment (attach off)

    def test_warehouse_gets_the_delivery_note_and_supplier_the_order(self):
        m = self.one("sklad@kovac.example")
        self.assertEqual(m["Subject"], "Dodací list DL-2026-0107")
        self.assertEqual([a.get_filename() for a in m.iter_attachments()], ["DL-2026-0107.pdf"])
        s = self.one("objednavky@cement-rohoznik.example")
        self.assertEqual(s["Subject"], "Objednávka OV-2026-0031")
        self.assertIn(f"spolu 18{NB}400,00{NB}€", text(s))
        self.assertEqual(list(s.iter_attachments())[0].get_content(), PDF_BYTES)

    def test_mobile_gets_an_sms_with_encoding_and_segments(self):
        (mid, sms), = self.d.outbox_sms().items()
        self.assertEqual(self.ids["order-realized"], [mid])
        self.assertEqual(sms["to"], "+421 900 123 456")
        self.assertEqual(sms["text"], f"STAVMAT: objednávka OBJ-881 je pripravená na odber. Suma 310,00{NB}€.")
        self.assertEqual(sms["encoding"], "ucs2")  # á is not in GSM 03.38
        self.assertEqual(sms["segments"], 1)
        self.assertEqual(sms["locale"], "sk-SK")

    def test_external_warehouse_group_gets_order_status_by_email(self):
        m = self.one("dispecing@logistika-senec.example")
        self.assertEqual(m["Subject"], "[sklad] OBJ-881: Pripravená → Expedovaná")
        self.assertEqual(m["To"].addresses[0].display_name, "Dispečing Senec")
        self.assertEqual(self.ids["order-status"], [self.mail["dispecing@logistika-senec.example"][0][0]])

    def test_eshop_case_rule_skips_excluded_statuses(self):
        m = self.one("eva.horvathova@example.com")
        self.assertEqual(m["From"].addresses[0].addr_spec, "eshop@stavmat.example")
        self.assertEqual(m["Subject"], "Reklamácia RMA-0042: Vybavená")
        self.assertEqual(text(m), "Dobrý deň Eva Horváthová,\n\nstav Vašej reklamácie RMA-0042 sa zmenil na "
                                  "„Vybavená“.\n-- \nVáš STAVMAT e-shop\n")
        self.assertEqual(self.ids["case-new"], [])
        self.assertEqual(self.ids["case-open"], [])
        self.assertNotIn("karel@example.com", self.mail)
        self.assertNotIn("ola@example.com", self.mail)

    def test_system_templates_for_registration_and_password_reset(self):
        msgs = sorted(self.mail["zuzana@example.com"], key=lambda x: x[1]["Subject"])
        self.assertEqual([m["Subject"] for _, m in msgs], ["Obnovenie hesla", "Vitajte, Zuzana Šimková"])
        for _, m in msgs:
            self.assertEqual(m["From"].addresses[0].addr_spec, "noreply@stavmat.example")
        self.assertEqual(text(msgs[0][1]), "Dobrý deň Zuzana Šimková,\n\nheslo obnovíte na adrese "
                                           "https://stavmat.example/reset?t=a&b=1 (platí do 11/20/2026 10:14 AM).\n")
        self.assertEqual(text(msgs[1][1]), "Dobrý deň Zuzana Šimková,\n\nVáš účet bol vytvorený 11/20/2026 9:14 AM.\n")

    def test_no_errors_logged(self):
        self.assertEqual(self.d.errors(), [])


class ReadmeExamplesTest(unittest.TestCase):
    """The events README's quick start posts (examples/*.json) against the seed."""

    def test_examples_produce_what_the_readme_says(self):
        d = Heraldd(transport="outbox", resources=SEED)
        try:
            expected = {"invoice-posted.json": 2, "order-realized.json": 1, "case-status-changed.json": 1}
            for name, count in expected.items():
                with open(os.path.join(SOURCE_DIR, "examples", name), "rb") as f:
                    status, body = d.request("POST", "/v1/events", f.read(),
                                             headers={"Content-Type": "application/json"})
                self.assertEqual(status, 202, body)
                self.assertEqual(len(json.loads(body)["events"][0]["messages"]), count, name)
            wait_until(lambda: len(d.outbox_messages()) == 3 and len(d.outbox_sms()) == 1, what="3 e-mails, 1 SMS")
            self.assertEqual(d.errors(), [])
        finally:
            d.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
