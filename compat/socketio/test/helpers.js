// Shared helpers: start a real `posd serve`, call its API, and connect
// unmodified socket.io-client v4 sockets to it.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join as pathJoin } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { io } from 'socket.io-client';

export { io };

const BIN = process.env.POSD_BIN;
if (!BIN) {
  throw new Error('POSD_BIN must name a built posd binary (compat/socketio/run.sh builds one)');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// startServer runs `posd serve` on a free loopback port with a fresh
// database. With authOff the server runs with --auth=off (the seed's
// unauthenticated clients); otherwise the admin token is read from
// <db>.token.
export async function startServer({ authOff = false, extraArgs = [] } = {}) {
  const dir = mkdtempSync(pathJoin(tmpdir(), 'posd-sio-'));
  const db = pathJoin(dir, 'posd.db');
  let proc;
  let exited;
  let stderr = '';
  let url;

  async function launch(port) {
    const args = ['serve', '--addr', `127.0.0.1:${port}`, '--db', db, '--log-level', 'warn', ...extraArgs];
    if (authOff) args.push('--auth=off');
    proc = spawn(BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr.on('data', (b) => { stderr += b; });
    exited = new Promise((resolve) => proc.once('exit', resolve));
    url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline && proc.exitCode === null) {
      try {
        const res = await fetch(url + '/healthz');
        if (res.ok) return true;
      } catch { /* not listening yet */ }
      await sleep(50);
    }
    proc.kill('SIGKILL');
    await exited;
    return false;
  }

  async function halt() {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(t);
    }
  }

  let up = false;
  for (let attempt = 0; attempt < 3 && !up; attempt++) {
    up = await launch(await freePort());
  }
  if (!up) throw new Error(`posd serve did not start: ${stderr}`);
  const token = authOff ? '' : readFileSync(db + '.token', 'utf8').trim();
  const server = {
    get url() { return url; },
    token,
    stderr: () => stderr,
    async api(method, path, body, tok = token) {
      const headers = { 'Content-Type': 'application/json' };
      if (tok) headers.Authorization = `Bearer ${tok}`;
      const res = await fetch(url + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
    async newToken(spec) {
      return (await server.api('POST', '/api/tokens', spec)).token;
    },
    // events returns every event of the log, as /api/events shows them.
    async events() {
      const out = [];
      let since = 0;
      for (;;) {
        const page = await server.api('GET', `/api/events?since=${since}&limit=500`);
        out.push(...page.events);
        if (page.events.length === 0 || page.next_since === since) return out;
        since = page.next_since;
      }
    },
    // restart stops the process and starts it again on the same port and
    // database. Gracefully (SIGTERM) posd keeps its recovery sessions for
    // the next start; with crash (SIGKILL) only the log survives.
    async restart({ crash = false } = {}) {
      const port = new URL(url).port;
      if (crash) {
        proc.kill('SIGKILL');
        await exited;
      }
      await halt();
      if (!(await launch(port))) throw new Error(`posd serve did not restart: ${stderr}`);
    },
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
      // A posd built with -race reports data races on stderr: fail on them.
      if (stderr.includes('WARNING: DATA RACE') || stderr.includes('panic:')) {
        throw new Error(`posd reported a problem:\n${stderr}`);
      }
    },
  };
  return server;
}

// connect opens a socket and resolves once it is connected, or rejects with
// the connect_error. Options are socket.io-client's own.
export function connect(url, opts = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, ...opts });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => { socket.close(); reject(err); });
  });
}

// record keeps every server event a socket receives, with its arguments.
export function record(socket) {
  const got = [];
  socket.onAny((name, ...args) => got.push({ name, payload: args[0], args }));
  return got;
}

// waitFor polls cond until it is true; the deadline only guards against a hang.
export async function waitFor(cond, what, ms = 20000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

// join emits a join-* event and waits for its acknowledgement.
export async function join(socket, event, ...args) {
  const res = await socket.timeout(10000).emitWithAck(event, ...args);
  if (!res || res.ok !== true) throw new Error(`${event} ${args.join(' ')}: ${JSON.stringify(res)}`);
  return res;
}

// barrier publishes an alert and waits until every socket has received it:
// delivery is in log order, so each socket then has everything before it.
export async function barrier(server, recorders) {
  const res = await server.api('POST', '/api/alerts', { severity: 'info', message: 'barrier' });
  const id = res.payload?.id ?? res.id;
  await waitFor(
    () => recorders.every((got) => got.some((e) => e.name === 'alert' && e.payload.id === id)),
    `barrier alert ${id}`,
  );
  return id;
}

// expectedFor lists the log events a connection in rooms must receive.
export function expectedFor(events, rooms) {
  return events.filter((e) => e.rooms.includes('*') || e.rooms.some((r) => rooms.includes(r)));
}

// order builds a POST /api/orders body.
export function orderBody(tenantId, customer, n = 1) {
  return {
    tenant_id: tenantId,
    customer_name: customer,
    items: [
      { name: 'Nasi Goreng', quantity: n, unit_price: 25000 },
      { name: 'Es Teh', quantity: 1, unit_price: 5000, notes: 'less sugar' },
    ],
  };
}
