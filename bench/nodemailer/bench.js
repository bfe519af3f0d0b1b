// nodemailer's pooled SMTP transport sending N messages of SIZE bytes over
// C connections, as fast as it goes; prints msgs_per_s=<number> last.
//   node bench.js HOST PORT MESSAGES SIZE CONNECTIONS [nodelay]
// nodelay: its sockets with TCP_NODELAY (below); without, as it comes.
const net = require("net");
const nodemailer = require("nodemailer");
const [host, port, messages, size, connections, mode] = process.argv.slice(2);
const n = Number(messages), c = Number(connections);
const line = "abcdefghijklmnopqrstuvwxyz".repeat(3).slice(0, 71) + "\n";
const text = line.repeat(Math.max(1, Math.floor((Number(size) - 450) / 72)));
// nodemailer leaves Nagle's algorithm on, so a small write waits for the
// peer's delayed ACK: into smtp-sink over 20 connections ~300 messages/s as it
// comes, ~1 500 with TCP_NODELAY. bench/smtp.sh reports both.
function connectNoDelay(options, callback) {
  const socket = net.connect(options.port, options.host);
  socket.setNoDelay(true);
  const failed = (err) => callback(err);
  socket.once("error", failed);
  socket.once("connect", () => {
    socket.removeListener("error", failed);
    callback(null, { connection: socket });
  });
}
const transport = nodemailer.createTransport({
  host, port: Number(port), secure: false, ignoreTLS: true, pool: true,
  maxConnections: c, maxMessages: Infinity,
  ...(mode === "nodelay" ? { getSocket: connectNoDelay } : {}),
});
let sent = 0, failed = 0, next = 0;
const start = process.hrtime.bigint();
async function worker() {
  while (next < n) {
    const i = next++;
    try {
      await transport.sendMail({ from: "bench@herald.example", to: `sink${i % 1000}@example.com`,
                                 subject: `Benchmark message ${i}`, text });
      sent++;
    } catch (e) {
      if (failed++ === 0) console.error(String(e));
    }
  }
}
// A failed connection can leave sendMail promises that never settle; Node
// then exits with nothing left to run, which must not pass as success.
let finished = false;
process.on("exit", () => {
  if (!finished) {
    console.error(`ended with ${n - sent - failed} of ${n} messages unsettled (${failed} failed)`);
    process.exitCode = 1;
  }
});
// Enough in flight to keep every pooled connection busy.
Promise.all(Array.from({ length: c * 4 }, worker)).then(() => {
  finished = true;
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  transport.close();
  console.log(`messages=${n} delivered=${sent} failed=${failed} seconds=${secs.toFixed(3)}`);
  if (sent !== n) process.exit(1);
  console.log(`msgs_per_s=${Math.round(n / secs)}`);
});
