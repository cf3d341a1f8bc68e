// Connection-state recovery as socket.io-client >= 4.6 does it: the
// transport is cut while events are produced; the client reconnects with
// its pid and last offset, gets socket.recovered === true and exactly the
// events it missed, none twice.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { barrier, expectedFor, io, join, orderBody, record, startServer, waitFor } from './helpers.js';

describe('connection-state recovery', () => {
  let server;
  let token;
  before(async () => {
    server = await startServer();
    await server.api('POST', '/api/tenants', { name: 'Warung Satu', code: 'T1' });
    await server.api('POST', '/api/tenants', { name: 'Warung Dua', code: 'T2' });
    token = await server.newToken({ role: 'tenant', tenant_id: 1 });
  });
  after(async () => { await server.stop(); });

  function open(transports) {
    return io(server.url, {
      forceNew: true,
      auth: { token },
      transports,
      reconnectionDelay: 400,
      reconnectionDelayMax: 400,
      randomizationFactor: 0,
    });
  }

  for (const [label, transports, upgraded] of [
    ['default transports (upgraded to websocket)', undefined, true],
    ['polling only', ['polling'], false],
    ['websocket only', ['websocket'], false],
  ]) {
    test(`events produced while the transport is down are recovered: ${label}`, async () => {
      const socket = open(transports);
      try {
        await new Promise((resolve) => socket.once('connect', resolve));
        assert.equal(socket.recovered, false);
        if (upgraded && socket.io.engine.transport.name !== 'websocket') {
          await new Promise((resolve) => socket.io.engine.once('upgrade', resolve));
        }
        const got = record(socket);
        await join(socket, 'join-tenant', 1);
        const first = await server.api('POST', '/api/orders', orderBody(1, 'Before Cut'));
        await waitFor(() => got.some((e) => e.payload?.data?.order_id === first.id), 'first order');

        let produced = false;
        let producedAtReconnect;
        const reconnected = new Promise((resolve) => socket.once('connect', () => {
          producedAtReconnect = produced;
          resolve();
        }));
        const down = new Promise((resolve) => socket.once('disconnect', resolve));
        // Cut the transport, as a network drop would. Automatic reconnection
        // is held back until the events below exist, so that the test does
        // not depend on how fast a loaded machine produces them; connect()
        // then opens a new engine exactly as the manager's reconnect does.
        socket.io.reconnection(false);
        socket.io.engine.close();
        const reason = await down;
        assert.notEqual(reason, 'io client disconnect');
        const a = await server.api('POST', '/api/orders', orderBody(1, 'Missed One'));
        await server.api('POST', '/api/orders', orderBody(2, 'Other Tenant'));
        await server.api('PATCH', `/api/orders/${a.id}/status`, { status: 'preparing' });
        await server.api('POST', '/api/alerts', { severity: 'warning', message: 'while you were away' });
        await server.api('POST', '/api/orders', orderBody(1, 'Missed Two'));
        produced = true;
        socket.io.reconnection(true);
        socket.connect();
        await reconnected;
        assert.ok(producedAtReconnect, 'the events were produced before the client came back');
        assert.equal(socket.recovered, true);
        if (upgraded && socket.io.engine.transport.name !== 'websocket') {
          await new Promise((resolve) => socket.io.engine.once('upgrade', resolve));
        }
        await server.api('POST', '/api/orders', orderBody(1, 'After Return'));
        await barrier(server, [got]);

        // Exactly the log's tenant-1 and global events since the first one:
        // nothing missed, nothing twice, in order. The rooms came back too.
        const log = await server.events();
        const firstEvent = log.find((e) => e.event === 'order:created' && e.payload.data.order_id === first.id);
        const want = expectedFor(log.filter((e) => e.payload.id >= firstEvent.payload.id), ['tenant-1']);
        const seen = got.filter((e) => typeof e.payload?.id === 'number' && e.payload.id >= firstEvent.payload.id);
        assert.deepEqual(seen.map((e) => [e.name, e.payload]), want.map((e) => [e.event, e.payload]));
      } finally {
        socket.close();
      }
    });
  }

  test('the manager reconnects by itself and recovers; events around the cut arrive once', async () => {
    const socket = open(undefined);
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      const got = record(socket);
      await join(socket, 'join-tenant', 1);
      const first = await server.api('POST', '/api/orders', orderBody(1, 'Auto Before'));
      await waitFor(() => got.some((e) => e.payload?.data?.order_id === first.id), 'first order');
      const reconnected = new Promise((resolve) => socket.once('connect', resolve));
      socket.io.engine.close();
      // Produced while the manager's reconnect timer runs: whether each one
      // lands before or after the new connection, it must arrive once.
      for (let i = 0; i < 5; i++) await server.api('POST', '/api/orders', orderBody(1, `Auto ${i}`));
      await reconnected;
      assert.equal(socket.recovered, true);
      await barrier(server, [got]);
      const log = await server.events();
      const firstEvent = log.find((e) => e.event === 'order:created' && e.payload.data.order_id === first.id);
      const want = expectedFor(log.filter((e) => e.payload.id >= firstEvent.payload.id), ['tenant-1']);
      const seen = got.filter((e) => typeof e.payload?.id === 'number' && e.payload.id >= firstEvent.payload.id);
      assert.deepEqual(seen.map((e) => e.payload.id), want.map((e) => e.payload.id));
    } finally {
      socket.close();
    }
  });

  // A deploy: posd is stopped gracefully, or killed, and started again on
  // the same database. The client that comes back keeps its session and
  // rooms and gets what happened in between: its recovery record was
  // written to the database as it connected and joined.
  for (const crash of [false, true]) {
    test(crash
      ? 'after a crash (SIGKILL) too: recovered === true, rooms and missed events back'
      : 'a graceful restart keeps the session: recovered === true, rooms and missed events back', async () => {
      const socket = open(['websocket']);
      try {
        await new Promise((resolve) => socket.once('connect', resolve));
        const got = record(socket);
        await join(socket, 'join-tenant', 1);
        const o = await server.api('POST', '/api/orders', orderBody(1, 'Before Restart'));
        await waitFor(() => got.some((e) => e.payload?.data?.order_id === o.id), 'order before restart');
        socket.io.reconnection(false);
        const down = new Promise((resolve) => socket.once('disconnect', resolve));
        await server.restart({ crash });
        await down;
        const missed = await server.api('POST', '/api/orders', orderBody(1, 'During Restart'));
        const reconnected = new Promise((resolve) => socket.once('connect', resolve));
        socket.io.reconnection(true);
        socket.connect();
        await reconnected;
        assert.equal(socket.recovered, true);
        await waitFor(() => got.some((e) => e.payload?.data?.order_id === missed.id), 'the order made while posd restarted');
        const p = await server.api('POST', '/api/orders', orderBody(1, 'After Restart'));
        await waitFor(() => got.some((e) => e.payload?.data?.order_id === p.id), 'order after restart');
        const ids = got.filter((e) => e.name === 'order:created').map((e) => e.payload.data.order_id);
        assert.equal(new Set(ids).size, ids.length, 'an order arrived twice');
      } finally {
        socket.close();
      }
    });
  }
});
