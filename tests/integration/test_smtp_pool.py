"""The SMTP pool against real peers: Postfix smtp-sink (throughput, fault
injection), aiosmtpd (STARTTLS, implicit TLS, AUTH, certificate checks with
a test CA made by openssl), and a small hostile server that injects bytes
before the TLS handshake. Delivered content is parsed with Python's email
package and compared with what was sent."""
import email
import email.policy
import os
import shutil
import socket
import ssl
import threading
import unittest

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from harness import (Heraldd, SmtpSink, assert_invoice_messages, free_port, invoice_event, make_test_pki,
                     wait_until)


def other_event(i):
    """P-2002 has one contact: one message per event."""
    return invoice_event(f"pool-{i}", partner="P-2002")


def delivered(daemon):
    return daemon.metric('herald_messages_sent_total{transport="relay",status="delivered"}')


class SmtpSinkPoolTest(unittest.TestCase):
    def tearDown(self):
        self.daemon.cleanup()
        self.sink.stop()

    def test_many_messages_over_pooled_pipelined_connections_each_exactly_once(self):
        self.sink = SmtpSink()
        self.daemon = Heraldd(transport="relay", smtp_port=self.sink.port, relay_extra="max_connections = 4")
        n = 300
        for i in range(n):
            status, _ = self.daemon.post_event(other_event(i))
            self.assertEqual(status, 202)
        wait_until(lambda: delivered(self.daemon) == n, timeout=120, what=f"{n} deliveries")  # sanitizer builds are slow
        self.assertEqual(self.daemon.terminate(), 0)
        msgs = self.sink.messages()
        ids = [m["Message-ID"] for _, m in msgs]
        self.assertEqual(len(ids), n)
        self.assertEqual(len(set(ids)), n)
        self.assertEqual(sorted(m["X-Herald-Event"] for _, m in msgs), sorted(f"pool-{i}" for i in range(n)))
        self.assertEqual(self.daemon.errors(), [])

    def test_throttling_relay_then_recovery_loses_nothing(self):
        # smtp-sink answers MAIL with 421 and hangs up: herald must back the
        # whole relay off, spend no attempts while the breaker is open, and
        # deliver everything once a healthy server is back on the port.
        port = free_port()
        self.sink = SmtpSink(extra_args=["-Q", "MAIL"], port=port)
        self.daemon = Heraldd(transport="relay", smtp_port=port, max_attempts=50,
                              relay_extra="breaker_failures = 2\nbreaker_open_ms = 300\nmax_connections = 2")
        n = 20
        for i in range(n):
            self.assertEqual(self.daemon.post_event(other_event(i))[0], 202)
        wait_until(lambda: any("relay circuit breaker opened" in l for l in self.daemon.log_lines),
                   what="breaker opened")
        self.assertEqual(delivered(self.daemon), 0)
        self.sink.stop()
        self.sink = SmtpSink(port=port)
        wait_until(lambda: delivered(self.daemon) == n, timeout=120, what="all delivered after recovery")
        self.assertGreater(self.daemon.metric('herald_breaker_parked_total{transport="relay"}'), 0)
        self.assertEqual(self.daemon.terminate(), 0)
        events = sorted(m["X-Herald-Event"] for _, m in self.sink.messages())
        self.assertEqual(events, sorted(f"pool-{i}" for i in range(n)))
        email_records = [r for r in self.daemon.history_records() if r["kind"] == "email"]
        # Deferred by the 421s, or refused while the sink was being replaced.
        for r in email_records:
            if r["status"] == "deferred":
                self.assertTrue("421" in r["error"] or "connect" in r["error"], r["error"])

    def test_server_hanging_up_after_data_dead_letters_every_message_with_a_reason(self):
        self.sink = SmtpSink(extra_args=["-q", "DATA"])
        self.daemon = Heraldd(transport="relay", smtp_port=self.sink.port, max_attempts=2,
                              relay_extra="breaker_failures = 1000")
        n = 5
        for i in range(n):
            self.assertEqual(self.daemon.post_event(other_event(i))[0], 202)
        expired = lambda: [r for r in self.daemon.history_records()  # noqa: E731
                           if r["kind"] == "email" and r["status"] == "expired"]
        wait_until(lambda: len(expired()) == n, timeout=60, what="every message dead-lettered")
        for r in expired():
            self.assertIn("gave up after 2 attempts", r["error"])
        self.assertEqual(self.daemon.metric('herald_dead_letters_total{transport="relay"}'), n)
        self.assertEqual(self.sink.messages(), [])


class Recorder:
    """aiosmtpd handler keeping (envelope recipients, parsed message)."""

    def __init__(self):
        self.messages = []
        self.auth = []

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg, envelope.original_content))
        return "250 OK"


class TlsAuthTest(unittest.TestCase):
    """aiosmtpd with STARTTLS or implicit TLS and AUTH; heraldd verifies the
    certificate against the test CA."""

    @classmethod
    def setUpClass(cls):
        cls.pki = make_test_pki()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def p(self, name):
        return os.path.join(self.pki, name)

    def setUp(self):
        self.controller = None
        self.daemon = None

    def tearDown(self):
        if self.daemon:
            self.daemon.cleanup()
        if self.controller:
            self.controller.stop()

    def start_server(self, implicit=False):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.p("server.crt"), self.p("server.key"))
        self.recorder = Recorder()

        def authenticator(server, session, envelope, mechanism, auth_data):
            self.recorder.auth.append((mechanism, auth_data.login, auth_data.password))
            ok = auth_data.login == b"herald" and auth_data.password == b"s3cret pw"
            return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

        port = free_port()
        # aiosmtpd only counts STARTTLS as TLS for AUTH; under implicit TLS
        # the connection is encrypted all the same.
        kwargs = dict(hostname="127.0.0.1", port=port, authenticator=authenticator, auth_required=True,
                      auth_require_tls=not implicit)
        if implicit:
            kwargs["ssl_context"] = ctx
        else:
            kwargs.update(tls_context=ctx, require_starttls=True)
        self.controller = Controller(self.recorder, **kwargs)
        self.controller.start()
        return port

    def relay(self, tls, ca="ca.crt", server_name="localhost", password="s3cret pw"):
        return (f'tls = "{tls}"\ntls_ca_file = "{self.p(ca)}"\ntls_server_name = "{server_name}"\n'
                f'username = "herald"\npassword = "{password}"\n')

    def test_starttls_required_with_auth_delivers_intact_messages(self):
        port = self.start_server()
        self.daemon = Heraldd(transport="relay", smtp_port=port, relay_extra=self.relay("required"))
        status, body = self.daemon.post_event(invoice_event())
        self.assertEqual(status, 202)
        wait_until(lambda: delivered(self.daemon) == 2, what="two deliveries over STARTTLS")
        by_rcpt = {}
        for rcpts, msg, raw in self.recorder.messages:
            self.assertEqual(len(rcpts), 1)
            by_rcpt[rcpts[0]] = msg
            self.assertNotIn(b"\n", raw.replace(b"\r\n", b""))  # no bare LF reached the server
        assert_invoice_messages(self, by_rcpt, body["events"][0]["messages"])
        self.assertEqual({a[0] for a in self.recorder.auth}, {"PLAIN"})
        self.assertEqual(self.daemon.errors(), [])

    def test_implicit_tls(self):
        port = self.start_server(implicit=True)
        self.daemon = Heraldd(transport="relay", smtp_port=port, relay_extra=self.relay("implicit"))
        self.assertEqual(self.daemon.post_event(invoice_event())[0], 202)
        wait_until(lambda: delivered(self.daemon) == 2, what="two deliveries over implicit TLS")
        self.assertEqual(len(self.recorder.messages), 2)

    def assert_never_delivers(self, relay_extra, reason, credentials_sent=False):
        port = self.start_server()
        self.daemon = Heraldd(transport="relay", smtp_port=port, max_attempts=1, relay_extra=relay_extra)
        self.assertEqual(self.daemon.post_event(invoice_event())[0], 202)
        expired = lambda: [r for r in self.daemon.history_records()  # noqa: E731
                           if r["kind"] == "email" and r["status"] == "expired"]
        wait_until(lambda: len(expired()) == 2, what="both messages given up")
        self.assertIn(reason, expired()[0]["error"])
        self.assertEqual(self.recorder.messages, [])
        if not credentials_sent:
            self.assertEqual(self.recorder.auth, [])  # credentials never left herald

    def test_wrong_host_name_fails_under_required(self):
        self.assert_never_delivers(self.relay("required", server_name="mail.example.org"), "TLS handshake")

    def test_untrusted_certificate_fails_under_required(self):
        self.assert_never_delivers(self.relay("required", ca="other.crt"), "certificate verify failed")

    def test_wrong_password_is_a_relay_fault_not_a_delivery(self):
        self.assert_never_delivers(self.relay("required", password="nope"), "authentication failed: 535",
                                   credentials_sent=True)


class PreTlsInjectionServer:
    """Answers STARTTLS with "220" plus a forged EHLO reply in the same
    packet (CVE-2011-0411 pattern), then speaks SMTP inside TLS, recording
    the commands it receives there."""

    def __init__(self, cert, key):
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.tls_commands = []
        self.messages = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    @staticmethod
    def lines(f):
        while True:
            line = f.readline()
            if not line:
                return
            yield line.rstrip(b"\r\n").decode()

    def session(self, conn):
        try:
            conn.sendall(b"220 hostile ESMTP\r\n")
            f = conn.makefile("rb")
            for cmd in self.lines(f):
                if cmd.startswith("EHLO"):
                    conn.sendall(b"250-hostile\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
                elif cmd == "STARTTLS":
                    conn.sendall(b"220 go ahead\r\n250-forged\r\n250 AUTH PLAIN\r\n250 OK forged\r\n")
                    break
                else:
                    conn.sendall(b"530 STARTTLS first\r\n")
            else:
                return
            tls = self.ctx.wrap_socket(conn, server_side=True)
            f = tls.makefile("rb")
            for cmd in self.lines(f):
                self.tls_commands.append(cmd)
                if cmd.startswith("EHLO"):
                    tls.sendall(b"250-inside\r\n250 PIPELINING\r\n")
                elif cmd.startswith(("MAIL", "RCPT", "RSET")):
                    tls.sendall(b"250 ok\r\n")
                elif cmd == "DATA":
                    tls.sendall(b"354 go\r\n")
                    data = []
                    for line in self.lines(f):
                        if line == ".":
                            break
                        data.append(line)
                    self.messages.append("\r\n".join(data))
                    tls.sendall(b"250 queued\r\n")
                elif cmd == "QUIT":
                    tls.sendall(b"221 bye\r\n")
                    return
        except (OSError, ssl.SSLError):
            return

    def stop(self):
        self.sock.close()


class PreTlsInjectionTest(unittest.TestCase):
    def test_bytes_sent_before_the_handshake_are_discarded(self):
        pki = make_test_pki()
        server = PreTlsInjectionServer(os.path.join(pki, "server.crt"), os.path.join(pki, "server.key"))
        daemon = Heraldd(transport="relay", smtp_port=server.port,
                         relay_extra=f'tls = "required"\ntls_ca_file = "{os.path.join(pki, "ca.crt")}"\n'
                                     f'tls_server_name = "localhost"\n')
        try:
            self.assertEqual(daemon.post_event(other_event(1))[0], 202)
            wait_until(lambda: delivered(daemon) == 1, what="delivery over TLS")
            # Inside TLS the dialogue starts afresh and stays aligned.
            self.assertEqual([c[:4] for c in server.tls_commands[:4]], ["EHLO", "MAIL", "RCPT", "DATA"])
            self.assertEqual(len(server.messages), 1)
            self.assertTrue(any("discarded bytes the server sent before the TLS handshake" in l
                                for l in daemon.log_lines))
        finally:
            daemon.cleanup()
            server.stop()
            shutil.rmtree(pki, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
