"""Test harness: starts real peers (smtp-sink) and heraldd on ephemeral
ports in temp dirs, and kills them at the end. Standard library only."""
import base64
import email
import email.policy
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

SOURCE_DIR = os.environ.get("HERALD_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
HERALDD = os.environ.get("HERALDD", os.path.join(SOURCE_DIR, "build", "release", "daemon", "heraldd"))
LOGDUMP = os.path.join(os.path.dirname(HERALDD), "herald-logdump")
RESOURCES = os.path.join(SOURCE_DIR, "tests", "data", "resources")

PDF_BYTES = b"%PDF-1.4\n\x00\x01\xff binary \r\n.\r\n tail\n"


def invoice_event(event_id="erp-7f3c9a", partner="P-1001"):
    return {
        "id": event_id,
        "type": "invoice.posted",
        "occurred_at": "2026-11-20T09:14:03+01:00",
        "actor": {"id": "u17", "name": "Jana Nová"},
        "partner": {"id": partner, "name": "Stavebniny Kováč s.r.o.", "locale": "sk-SK"},
        "document": {"kind": "invoice", "number": "FV-2026-0042", "status": "posted",
                     "previous_status": "draft", "total": "1249.90", "currency": "EUR",
                     "due_date": "2026-12-04",
                     "attachments": [{"filename": "FV-2026-0042.pdf", "content_type": "application/pdf",
                                      "content_base64": base64.b64encode(PDF_BYTES).decode()}]},
        "data": {"order_ref": "OBJ-881"},
    }


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port}")


def wait_until(predicate, timeout=10.0, what="condition"):
    """The predicate's first true value, polled until `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def make_test_pki():
    """A temp dir with a test CA (ca.crt), a server certificate for
    localhost/127.0.0.1 signed by it (server.crt/.key), and an unrelated CA
    (other.crt) whose trust store must not accept that server."""
    pki = tempfile.mkdtemp(prefix="herald-pki-")
    p = lambda name: os.path.join(pki, name)  # noqa: E731
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=herald test CA",
        "-keyout", p("ca.key"), "-out", p("ca.crt"))
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", p("server.key"),
        "-out", p("server.csr"))
    with open(p("ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
        "-CAcreateserial", "-days", "2", "-extfile", p("ext.cnf"), "-out", p("server.crt"))
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=other CA",
        "-keyout", p("other.key"), "-out", p("other.crt"))
    return pki


class SmtpSink:
    """Postfix's smtp-sink writing one dump file per transaction."""

    def __init__(self, extra_args=(), port=None, backlog=64):
        self.dir = tempfile.mkdtemp(prefix="herald-sink-")
        os.chmod(self.dir, 0o777)  # smtp-sink drops privileges to nobody
        self.port = port or free_port()
        cmd = ["/usr/sbin/smtp-sink"]
        if os.geteuid() == 0:
            cmd += ["-u", "nobody"]
        cmd += ["-d", os.path.join(self.dir, "%M."), *extra_args, f"127.0.0.1:{self.port}", str(backlog)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def messages(self):
        """[(envelope recipients, parsed message)] for every dumped transaction."""
        out = []
        for path in sorted(glob.glob(os.path.join(self.dir, "*"))):
            with open(path, "rb") as f:
                raw = f.read()
            if raw.endswith(b"\n\n"):
                raw = raw[:-1]  # smtp-sink ends each dump with an extra empty line
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            rcpts = [r.strip("<>") for r in msg.get_all("X-Rcpt-Args", [])]
            out.append((rcpts, msg))
        return out

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Heraldd:
    """heraldd with a generated config; port 0, read back from its log."""

    def __init__(self, transport="outbox", smtp_port=None, extra_config="", resources=RESOURCES,
                 storage_dir="var", wrap=None, log_level="debug", max_attempts=3, storage_extra="", env=None, relay_extra="", http_extra="",
                 daemon_extra=""):
        self.dir = tempfile.mkdtemp(prefix="herald-test-")
        self.outbox = os.path.join(self.dir, "var", "outbox")
        self.storage = os.path.join(self.dir, storage_dir)
        self.history = os.path.join(self.storage, "history")
        self.journal = os.path.join(self.storage, "journal")
        self.wrap = wrap or []
        self.env = {**os.environ, **(env or {})}
        relay = ""
        if smtp_port:
            relay = f"""
[transports.relay]
type = "smtp"
host = "127.0.0.1"
port = {smtp_port}
helo = "herald.test"
{relay_extra}
"""
        config = f"""
[daemon]
threads = 2
log_level = "{log_level}"
{daemon_extra}
[http]
listen = "127.0.0.1:0"
max_body_bytes = 65536
header_timeout_ms = 2000
{http_extra}
[storage]
dir = "{storage_dir}"
{storage_extra}
[resources]
dir = "{resources}"
[delivery]
email_transport = "{transport}"
from = "fakturacia@herald.example"
from_name = "Herald Fakturácia"
max_attempts = {max_attempts}
retry_initial_ms = 50
retry_max_ms = 200
[transports.outbox]
type = "outbox"
dir = "var/outbox"
{relay}
{extra_config}
"""
        self.config = os.path.join(self.dir, "heraldd.toml")
        with open(self.config, "w") as f:
            f.write(config)
        self.log_lines = []
        self.non_json_lines = []
        self.start()

    def start(self, timeout=20):
        """Starts heraldd on the same config and storage (again, after kill())."""
        self.proc = subprocess.Popen(self.wrap + [HERALDD, "--config", self.config], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=self.env)
        self.port = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout):
            self.kill()
            raise RuntimeError("heraldd did not start:\n" + "\n".join(self.log_lines))

    def _read_log(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.log_lines.append(line)
            try:
                rec = json.loads(line)
            except ValueError:
                self.non_json_lines.append(line)  # tests assert this stays empty
                continue
            if rec.get("msg") == "listening":
                self.port = rec["port"]
                self._ready.set()

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        try:
            conn.request(method, path, body=body, headers=headers or {})
            res = conn.getresponse()
            data = res.read()
        except (ConnectionError, http.client.HTTPException) as e:
            # Seen once under load (a reset on GET /metrics): say what the
            # daemon was doing so the next occurrence explains itself.
            print(f"{method} {path} failed ({e!r}); heraldd exit status {self.proc.poll()}; last log lines:\n" +
                  "\n".join(self.log_lines[-40:]), flush=True)
            raise
        finally:
            conn.close()
        return res.status, data

    def post_event(self, event):
        status, data = self.request("POST", "/v1/events", event)
        return status, json.loads(data)

    def raw(self, payload, timeout=3.0):
        """Sends raw bytes, returns everything the server answers until it closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(payload)
            chunks = []
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    chunks.append(b)
            except socket.timeout:
                chunks.append(b"<timeout>")
            return b"".join(chunks)

    def errors(self):
        """Error-level log lines and anything that was not a JSON log line."""
        errs = [l for l in self.log_lines if '"level":"error"' in l]
        return errs + self.non_json_lines

    def metric(self, name_with_labels):
        _, data = self.request("GET", "/metrics")
        for line in data.decode().splitlines():
            if line.startswith(name_with_labels + " "):
                return float(line.split()[-1])
        return 0.0

    def history_records(self):
        """History as herald-logdump reads it from the segment files."""
        if not os.path.isdir(self.history):
            return []
        out = subprocess.run([LOGDUMP, self.history], capture_output=True, text=True, check=True).stdout
        return [json.loads(line) for line in out.splitlines()]

    def journal_records(self):
        out = subprocess.run([LOGDUMP, "--raw", self.journal], capture_output=True, text=True, check=True).stdout
        return [json.loads(line) for line in out.splitlines()]

    def outbox_messages(self):
        out = {}
        for path in glob.glob(os.path.join(self.outbox, "*.eml")):
            with open(path, "rb") as f:
                out[os.path.basename(path)[:-4]] = email.message_from_bytes(f.read(), policy=email.policy.default)
        return out

    def outbox_sms(self):
        """{message id: the .sms.json object} of every SMS in the outbox."""
        out = {}
        for path in glob.glob(os.path.join(self.outbox, "*.sms.json")):
            with open(path, "rb") as f:
                out[os.path.basename(path)[:-len(".sms.json")]] = json.loads(f.read())
        return out

    def terminate(self, timeout=15):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self._reader.join(2)
        if rc != 0:
            print("heraldd exited with", rc, "\n" + "\n".join(self.log_lines[-30:]))
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(2)
        self.proc.stdout.close()

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def text_of(msg):
    """Decoded text/plain body with line breaks as \n (the parser keeps the
    source's CRLF; raw CRLF-ness is asserted separately)."""
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def assert_invoice_messages(tc, by_rcpt, message_ids):
    """The two messages an invoice.posted for P-1001 must produce, decoded by
    Python's email package and compared field by field (diacritics included).
    `by_rcpt` maps envelope recipient → parsed message."""
    tc.assertEqual(sorted(by_rcpt), ["predaj@kovac.example", "ucetni@kovac.example"])

    sales = by_rcpt["predaj@kovac.example"]
    tc.assertEqual(sales["Subject"], "Faktúra FV-2026-0042 – Stavebniny Kováč s.r.o.")
    tc.assertEqual(sales["From"].addresses[0].display_name, "Herald Fakturácia")
    tc.assertEqual(sales["From"].addresses[0].addr_spec, "fakturacia@herald.example")
    tc.assertEqual(sales["To"].addresses[0].display_name, "Ján Kováč")
    tc.assertEqual(sales["To"].addresses[0].addr_spec, "predaj@kovac.example")
    body = text_of(sales)
    tc.assertEqual(body, "Dobrý deň Ján Kováč,\n\nzaúčtovali sme faktúru FV-2026-0042 na sumu 1249.90 EUR.\n"
                         "Vystavil(a): Jana Nová\n.\nRef: OBJ-881\n")
    atts = list(sales.iter_attachments())
    tc.assertEqual(len(atts), 1)
    tc.assertEqual(atts[0].get_filename(), "FV-2026-0042.pdf")
    tc.assertEqual(atts[0].get_content_type(), "application/pdf")
    tc.assertEqual(atts[0].get_content(), PDF_BYTES)

    acct = by_rcpt["ucetni@kovac.example"]
    tc.assertEqual(acct["Subject"], "Nová faktura FV-2026-0042 – účetní oddělení")
    tc.assertEqual(acct["To"].addresses[0].display_name, "Žofie Šťastná, účetní")
    tc.assertEqual(text_of(acct),
                   "Příliš žluťoučký kůň úpěl ďábelské ódy: faktura FV-2026-0042 (1249.90 EUR).\n")
    tc.assertEqual(list(acct.iter_attachments()), [])

    for msg in by_rcpt.values():
        tc.assertEqual(msg.defects, [])
        tc.assertEqual(msg["X-Herald-Event"], "erp-7f3c9a")
        mid = msg["Message-ID"].strip("<>").split("@")[0]
        tc.assertIn(mid, message_ids)


class RedisClient:
    """A minimal RESP2 client (standard library only) for driving tests."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError(f"bad RESP line {line!r}")

    def call(self, *args):
        self.sock.sendall(self.encode(*args))
        return self.reply()

    def pipeline(self, commands):
        """Sends every command in one write; returns the replies in order."""
        self.sock.sendall(b"".join(self.encode(*c) for c in commands))
        return [self.reply() for _ in commands]


class RedisServer:
    """redis-server on an ephemeral port with AOF on; restartable after kill()."""

    def __init__(self, appendfsync="everysec", extra_args=()):
        self.dir = tempfile.mkdtemp(prefix="herald-redis-")
        self.port = free_port()
        self.clients = []
        self.args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                     "--appendonly", "yes", "--appendfsync", appendfsync, "--save", "", "--daemonize", "no",
                     "--logfile", os.path.join(self.dir, "redis.log"), *extra_args]
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                c = RedisClient(self.port)
                if c.call("PING") == "PONG":
                    # AOF is loaded before PING is answered; wait for loading to end.
                    c.close()
                    return
                c.close()
            except RuntimeError as e:
                if str(e).startswith("NOAUTH"):  # up, with requirepass
                    c.close()
                    return
            except (OSError, ConnectionError):
                pass
            if time.time() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def client(self):
        c = RedisClient(self.port)
        self.clients.append(c)  # closed by stop()
        return c

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        for c in self.clients:
            c.close()
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def config(self, stream="herald:events", extra=""):
        """The [redis] section pointing heraldd at this server."""
        return f"""
[redis]
host = "127.0.0.1"
port = {self.port}
stream = "{stream}"
block_ms = 200
claim_interval_ms = 500
claim_min_idle_ms = 2000
lag_interval_ms = 200
reconnect_initial_ms = 50
reconnect_max_ms = 500
{extra}
"""
