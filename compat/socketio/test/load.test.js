// 200 concurrent socket.io-client connections, spread over rooms and all
// three transport setups, each receiving every event of its rooms.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { barrier, connect, expectedFor, join, orderBody, record, startServer } from './helpers.js';

const CLIENTS = 200;
const TENANTS = 4;

describe(`${CLIENTS} concurrent clients`, () => {
  let server;
  const clients = [];
  before(async () => {
    // All 200 connect at once from one address: a load test, not a
    // browser. posd caps the sessions one address holds before they
    // connect (--max-prelogin-per-addr, 32 by default) and the TCP
    // connections it holds (--max-conns-per-addr, 256; a polling client
    // holds two or three).
    server = await startServer({ extraArgs: ['--max-prelogin-per-addr', String(CLIENTS), '--max-conns-per-addr', String(4 * CLIENTS)] });
    for (let t = 1; t <= TENANTS; t++) {
      await server.api('POST', '/api/tenants', { name: `Stall ${t}`, code: `T${t}` });
    }
    await server.api('POST', '/api/counters', { name: 'Kasir A' });
  });
  after(async () => {
    for (const c of clients) c.socket.close();
    await server.stop();
  });

  test('every client gets every event of its rooms, once, in order', async () => {
    const setups = [undefined, ['websocket'], ['polling'], undefined];
    await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
      const opts = { auth: { token: server.token } };
      const tr = setups[i % setups.length];
      if (tr) opts.transports = tr;
      const socket = await connect(server.url, opts);
      const got = record(socket);
      const rooms = [];
      // Tenant rooms round-robin; every fifth client also watches display.
      rooms.push((await join(socket, 'join-tenant', 1 + (i % TENANTS))).room);
      if (i % 5 === 0) rooms.push((await join(socket, 'join-display')).room);
      if (i % 7 === 0) rooms.push((await join(socket, 'join-kasir', 1)).room);
      clients.push({ socket, rooms, got });
    }));
    assert.equal(clients.length, CLIENTS);

    const orders = [];
    for (let n = 0; n < 12; n++) {
      orders.push(await server.api('POST', '/api/orders', orderBody(1 + (n % TENANTS), `Customer ${n}`)));
    }
    for (const o of orders.slice(0, 6)) {
      await server.api('PATCH', `/api/orders/${o.id}/status`, { status: 'preparing' });
    }
    await server.api('POST', '/api/payments', { order_id: orders[0].id, amount_paid: orders[0].total_amount, payment_method: 'card', counter_id: 1 });
    await barrier(server, clients.map((c) => c.got));

    const log = await server.events();
    let total = 0;
    for (const [i, c] of clients.entries()) {
      const want = expectedFor(log, c.rooms).map((e) => e.payload.id);
      const got = c.got.filter((e) => typeof e.payload?.id === 'number').map((e) => e.payload.id);
      assert.deepEqual(got, want, `client ${i} in [${c.rooms}] (${c.socket.io.engine.transport.name})`);
      total += got.length;
    }
    assert.ok(total > CLIENTS * 5, `delivered ${total}`);
  });
});
