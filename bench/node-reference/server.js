'use strict';

// The Node.js service posd replaces, reduced to what `posd bench` drives:
// express for the HTTP API, Socket.IO 4.8 for the sockets, better-sqlite3 in
// WAL mode for storage, and one io.to([...rooms]).emit per event. It exists
// so that BENCHMARKS.md compares posd with this stack on the same machine
// and with the same load tool; it is not a product and has no auth.
//
//   PORT=5055 DB_PATH=/tmp/ref.db LOG_LEVEL=warn node server.js

const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const express = require('express');
const Database = require('better-sqlite3');
const { Server } = require('socket.io');

const PORT = Number(process.env.PORT || 5055);
const HOST = process.env.HOST || '127.0.0.1';
const DB_PATH = process.env.DB_PATH || './data/reference.db';

// Logging per event is what the replaced service did; LOG_LEVEL=warn turns
// it off so that a measurement charges the server for delivery, not for
// console output.
const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 };
const threshold = LEVELS[process.env.LOG_LEVEL || 'info'] ?? LEVELS.info;
const log = (level, msg) => {
  if (LEVELS[level] >= threshold) console.log(`${new Date().toISOString()} ${level}: ${msg}`);
};

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// ---- storage ----

if (DB_PATH !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(DB_PATH)), { recursive: true });
const db = new Database(DB_PATH);
db.pragma('journal_mode = WAL');
// Set explicitly because better-sqlite3 leaves a database that has just
// switched to WAL on FULL (an fsync per commit) while one reopened in WAL
// gets NORMAL: without this the figures would depend on whether the file
// existed. posd's default is NORMAL too.
db.pragma('synchronous = NORMAL');
db.pragma('foreign_keys = ON');
db.exec(`
CREATE TABLE IF NOT EXISTS tenants (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  code TEXT NOT NULL UNIQUE,
  order_seq INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
  id INTEGER PRIMARY KEY,
  tenant_id INTEGER NOT NULL REFERENCES tenants(id),
  order_number TEXT NOT NULL UNIQUE,
  customer_name TEXT NOT NULL,
  total_amount INTEGER NOT NULL,
  order_status TEXT NOT NULL,
  qr_token TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS order_items (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  name TEXT NOT NULL,
  quantity INTEGER NOT NULL,
  unit_price INTEGER NOT NULL,
  subtotal INTEGER NOT NULL,
  notes TEXT
);
-- posd's envelopes carry the id of the event in its log; keeping the same
-- log here gives both servers the same shape of event and the same extra
-- insert per order.
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  rooms TEXT NOT NULL,
  payload TEXT NOT NULL
);
`);

const q = {
  insertTenant: db.prepare('INSERT INTO tenants (name, code, created_at) VALUES (?, ?, ?)'),
  nextSeq: db.prepare('UPDATE tenants SET order_seq = order_seq + 1 WHERE id = ? RETURNING code, order_seq'),
  insertOrder: db.prepare(`INSERT INTO orders (tenant_id, order_number, customer_name, total_amount, order_status, qr_token, created_at)
                           VALUES (?, ?, ?, ?, 'pending', ?, ?)`),
  insertItem: db.prepare('INSERT INTO order_items (order_id, name, quantity, unit_price, subtotal, notes) VALUES (?, ?, ?, ?, ?, ?)'),
  insertEvent: db.prepare('INSERT INTO events (type, rooms, payload) VALUES (?, ?, ?)'),
};

// The order, its items and its event commit together; the broadcast
// happens after the commit, so no client hears of an order that is not
// stored.
const createOrder = db.transaction(({ tenant_id, customer_name, items }) => {
  const seq = q.nextSeq.get(tenant_id);
  if (!seq) throw new ApiError(404, 'not_found', `tenant ${tenant_id} not found`);
  const now = new Date().toISOString();
  const order_number = `${seq.code}-${String(seq.order_seq).padStart(3, '0')}`;
  const lines = items.map((it) => ({ ...it, notes: it.notes ?? null, subtotal: it.quantity * it.unit_price }));
  const total_amount = lines.reduce((sum, it) => sum + it.subtotal, 0);
  if (!Number.isSafeInteger(total_amount)) throw new ApiError(422, 'unprocessable', 'order total is too large');
  const qr_token = crypto.randomBytes(16).toString('base64url');
  const id = Number(q.insertOrder.run(tenant_id, order_number, customer_name, total_amount, qr_token, now).lastInsertRowid);
  for (const it of lines) q.insertItem.run(id, it.name, it.quantity, it.unit_price, it.subtotal, it.notes);
  const order = {
    id, tenant_id, order_number, customer_name, total_amount, order_status: 'pending',
    items: lines, qr: { token: qr_token }, created_at: now,
  };
  const rooms = [`tenant-${tenant_id}`, 'display'];
  const envelope = {
    type: 'order_created',
    timestamp: now,
    data: {
      order_id: id,
      order_number,
      customer_name,
      total_amount,
      // units, not lines, as posd counts them
      items_count: lines.reduce((n, it) => n + it.quantity, 0),
      status: 'pending',
    },
  };
  envelope.id = Number(q.insertEvent.run('order:created', rooms.join(','), JSON.stringify(envelope)).lastInsertRowid);
  return { order, event: { name: 'order:created', rooms, envelope: { id: envelope.id, ...envelope } } };
});

// ---- validation: a JSON object with exactly the fields of the spec ----

function check(obj, spec, prefix) {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new ApiError(400, 'bad_request', `${prefix || 'body'} must be a JSON object`);
  for (const key of Object.keys(obj)) {
    if (!(key in spec)) throw new ApiError(400, 'bad_request', `unknown field ${prefix}${key}`);
  }
  for (const [key, rule] of Object.entries(spec)) {
    const optional = rule.endsWith('?');
    const kind = optional ? rule.slice(0, -1) : rule;
    const v = obj[key];
    if (v === undefined || v === null) {
      if (optional) continue;
      throw new ApiError(400, 'bad_request', `${prefix}${key} is required`);
    }
    const ok =
      (kind === 'id' && Number.isSafeInteger(v) && v > 0) ||
      (kind === 'money' && Number.isSafeInteger(v) && v >= 0) ||
      (kind === 'string' && typeof v === 'string' && v.trim() !== '' && v.length <= 500) ||
      (kind === 'list' && Array.isArray(v) && v.length > 0 && v.length <= 100);
    if (!ok) throw new ApiError(400, 'bad_request', `${prefix}${key} is not a valid ${kind}`);
  }
  return obj;
}

// ---- HTTP ----

const app = express();
const server = http.createServer(app);
const io = new Server(server);

app.use(express.json({ limit: '100kb' }));

app.get('/healthz', (req, res) => res.json({ status: 'ok' }));

app.post('/api/tenants', (req, res) => {
  const { name, code } = check(req.body, { name: 'string', code: 'string' }, '');
  // posd's rule for codes, so that the same bench setup works on both
  if (!/^[A-Z][A-Z0-9]{0,7}$/.test(code)) throw new ApiError(400, 'bad_request', 'code must be 1-8 upper-case letters or digits, starting with a letter');
  const now = new Date().toISOString();
  try {
    const id = Number(q.insertTenant.run(name, code, now).lastInsertRowid);
    res.status(201).json({ id, name, code, created_at: now });
  } catch (err) {
    if (String(err.code).startsWith('SQLITE_CONSTRAINT_UNIQUE')) throw new ApiError(409, 'conflict', `tenant code ${code} exists`);
    throw err;
  }
});

app.post('/api/orders', (req, res) => {
  const input = check(req.body, { tenant_id: 'id', customer_name: 'string', items: 'list' }, '');
  input.items.forEach((it, i) => check(it, { name: 'string', quantity: 'id', unit_price: 'money', notes: 'string?' }, `items[${i}].`));
  const { order, event } = createOrder(input);
  io.to(event.rooms).emit(event.name, event.envelope);
  log('info', `order ${order.id} created, ${event.name} sent to ${event.rooms.join(', ')}`);
  res.status(201).json(order);
});

app.get('/api/connections', (req, res) => res.json({ active: io.of('/').sockets.size }));

app.use((req, res, next) => next(new ApiError(404, 'not_found', `no route for ${req.method} ${req.path}`)));

// eslint-disable-next-line no-unused-vars
app.use((err, req, res, next) => {
  if (!(err instanceof ApiError)) {
    if (err.type === 'entity.parse.failed') err = new ApiError(400, 'bad_request', 'body is not valid JSON');
    else if (err.type === 'entity.too.large') err = new ApiError(413, 'too_large', 'body is too large');
    else {
      log('error', `${req.method} ${req.path}: ${err.stack || err}`);
      err = new ApiError(500, 'internal', 'internal error');
    }
  }
  res.status(err.status).json({ error: { code: err.code, message: err.message } });
});

// ---- Socket.IO: the replaced service's join events ----

const roomId = (v) => (Number.isSafeInteger(v) && v > 0) || (typeof v === 'string' && /^[1-9][0-9]{0,17}$/.test(v));

io.on('connection', (socket) => {
  log('info', `socket ${socket.id} connected`);
  socket.on('join-tenant', (id) => {
    if (roomId(id)) socket.join(`tenant-${id}`);
    else log('warn', `socket ${socket.id}: join-tenant with bad id ${JSON.stringify(id)}`);
  });
  socket.on('join-display', () => socket.join('display'));
  socket.on('disconnect', (reason) => log('info', `socket ${socket.id} disconnected (${reason})`));
});

server.listen(PORT, HOST, () => {
  console.log(`node reference listening on http://${HOST}:${PORT} (pid ${process.pid})`);
});

function shutdown() {
  io.close(() => {
    db.close();
    process.exit(0);
  });
  setTimeout(() => process.exit(1), 3000).unref();
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
