// The three ways a socket.io-client v4 front end reaches posd: default
// options (long-polling, then upgrade to WebSocket), WebSocket only and
// long-polling only. Each connects with a token, joins its tenant room and
// receives the room's events.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, join, orderBody, record, startServer, waitFor } from './helpers.js';

describe('transports', () => {
  let server;
  let tenantToken;
  before(async () => {
    server = await startServer();
    await server.api('POST', '/api/tenants', { name: 'Warung Satu', code: 'T1' });
    tenantToken = await server.newToken({ role: 'tenant', tenant_id: 1 });
  });
  after(async () => { await server.stop(); });

  async function roundTrip(socket, customer) {
    const got = record(socket);
    const order = await server.api('POST', '/api/orders', orderBody(1, customer));
    await waitFor(() => got.some((e) => e.name === 'order:created' && e.payload.data.order_id === order.id), 'order:created');
    const ev = got.find((e) => e.name === 'order:created');
    assert.equal(ev.payload.type, 'order_created');
    assert.equal(ev.payload.data.customer_name, customer);
    assert.equal(ev.args.length, 2, 'envelope plus the recovery offset');
    assert.equal(ev.args[1], String(ev.payload.id));
  }

  test('default io(url): starts on polling, upgrades to websocket', async () => {
    const socket = await connect(server.url, { auth: { token: tenantToken } });
    try {
      if (socket.io.engine.transport.name !== 'websocket') {
        assert.equal(socket.io.engine.transport.name, 'polling', 'starts on polling');
        await new Promise((resolve, reject) => {
          socket.io.engine.once('upgrade', resolve);
          socket.io.engine.once('upgradeError', reject);
        });
      }
      assert.equal(socket.io.engine.transport.name, 'websocket');
      await join(socket, 'join-tenant', 1);
      await roundTrip(socket, 'Default Client');
      assert.equal(socket.io.engine.transport.name, 'websocket');
    } finally {
      socket.close();
    }
  });

  test("transports: ['websocket']", async () => {
    const socket = await connect(server.url, { auth: { token: tenantToken }, transports: ['websocket'] });
    try {
      assert.equal(socket.io.engine.transport.name, 'websocket');
      await join(socket, 'join-tenant', '1'); // numeric string works too
      await roundTrip(socket, 'WebSocket Client');
    } finally {
      socket.close();
    }
  });

  test("transports: ['polling']", async () => {
    const socket = await connect(server.url, { auth: { token: tenantToken }, transports: ['polling'] });
    try {
      assert.equal(socket.io.engine.transport.name, 'polling');
      await join(socket, 'join-tenant', 1);
      await roundTrip(socket, 'Polling Client');
      assert.equal(socket.io.engine.transport.name, 'polling');
    } finally {
      socket.close();
    }
  });

  test('token as query string and as Authorization header', async () => {
    const viaQuery = await connect(server.url, { query: { token: tenantToken }, transports: ['websocket'] });
    const viaHeader = await connect(server.url, { extraHeaders: { Authorization: `Bearer ${tenantToken}` } });
    try {
      await join(viaQuery, 'join-tenant', 1);
      await join(viaHeader, 'join-tenant', 1);
    } finally {
      viaQuery.close();
      viaHeader.close();
    }
  });
});
