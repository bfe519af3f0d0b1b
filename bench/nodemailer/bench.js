// nodemailer's pooled SMTP transport sending N messages of SIZE bytes over
// C connections, as fast as it goes; prints msgs_per_s=<number> last.
//   node bench.js HOST PORT MESSAGES SIZE CONNECTIONS
const nodemailer = require("nodemailer");
const [host, port, messages, size, connections] = process.argv.slice(2);
const n = Number(messages), c = Number(connections);
const line = "abcdefghijklmnopqrstuvwxyz".repeat(3).slice(0, 71) + "\n";
const text = line.repeat(Math.max(1, Math.floor((Number(size) - 450) / 72)));
const transport = nodemailer.createTransport({
  host, port: Number(port), secure: false, ignoreTLS: true, pool: true,
  maxConnections: c, maxMessages: Infinity,
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
// Enough in flight to keep every pooled connection busy.
Promise.all(Array.from({ length: c * 4 }, worker)).then(() => {
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  transport.close();
  console.log(`messages=${n} delivered=${sent} failed=${failed} seconds=${secs.toFixed(3)}`);
  if (sent !== n) process.exit(1);
  console.log(`msgs_per_s=${Math.round(n / secs)}`);
});
