// A webhook receiver that checks every delivery of posd with the
// standardwebhooks package from npm, as a receiver in the wild would.
//
//   node receiver.mjs
//
// It listens on 127.0.0.1 (a free port), prints "listening PORT", then
// reads the endpoint's secret (whsec_…) as one line on stdin. For each
// request it prints one JSON line: {"id": webhook-id, "ok": verified,
// "event_id": the body's id, "type": the body's type, "error": why not}
// and answers 204 when the signature verifies, 400 otherwise.
import http from "node:http";
import readline from "node:readline";
import { Webhook } from "standardwebhooks";

let wh = null;
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const line = { id: req.headers["webhook-id"] ?? null, ok: false };
    try {
      if (!wh) throw new Error("no secret yet");
      const msg = wh.verify(body, req.headers);
      line.ok = true;
      line.event_id = msg.id;
      line.type = msg.type;
    } catch (err) {
      line.error = String(err && err.message ? err.message : err);
    }
    process.stdout.write(JSON.stringify(line) + "\n");
    res.writeHead(line.ok ? 204 : 400);
    res.end();
  });
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (l) => {
  if (l.trim()) wh = new Webhook(l.trim());
});
rl.on("close", () => server.close());
