// All eight server events (docs/protocol.md, Events), with their exact
// envelopes, in exactly their rooms (docs/protocol.md, Rooms), once per connection, and the join rules of the
// native socket.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { barrier, connect, expectedFor, join, orderBody, record, startServer, waitFor } from './helpers.js';

const DATA_FIELDS = {
  'order:created': ['order_id', 'order_number', 'customer_name', 'total_amount', 'items_count', 'status'],
  'order:status_changed': ['order_id', 'order_number', 'previous_status', 'new_status', 'transition', 'customer_name'],
  'order:cancelled': ['order_id', 'order_number', 'reason', 'customer_name', 'refund_amount'],
  'payment:processed': ['payment_id', 'order_id', 'order_number', 'amount_paid', 'payment_method', 'transaction_reference', 'status', 'change', 'customer_name'],
  'payment:refunded': ['refund_id', 'order_id', 'order_number', 'refund_amount', 'transaction_reference', 'original_payment_id', 'reason', 'customer_name'],
  'qr:scanned': ['qr_id', 'order_id', 'order_number', 'token', 'status', 'scanned_count', 'customer_name'],
};

describe('events and rooms', () => {
  let server;
  const clients = {}; // name → { socket, rooms, got }
  let log; // /api/events after the scenario

  before(async () => {
    server = await startServer();
    await server.api('POST', '/api/tenants', { name: 'Warung Satu', code: 'T1' });
    await server.api('POST', '/api/tenants', { name: 'Warung Dua', code: 'T2' });
    await server.api('POST', '/api/counters', { name: 'Kasir A' });
    await server.api('POST', '/api/counters', { name: 'Kasir B' });
    const specs = {
      tenant1: [{ role: 'tenant', tenant_id: 1 }, [['join-tenant', 1]]],
      tenant2: [{ role: 'tenant', tenant_id: 2 }, [['join-tenant', '2']]],
      kasir1: [{ role: 'kasir', counter_id: 1 }, [['join-kasir', 1]]],
      kasir2: [{ role: 'kasir', counter_id: 2 }, [['join-kasir', 2]]],
      display: [{ role: 'display', display: true }, [['join-display']]],
      user7: [{ role: 'user', user_id: 7 }, [['join-user', 7]]],
      user8: [{ role: 'user', user_id: 8 }, [['join-user', '8']]],
      // One connection in three rooms that share events: each arrives once.
      multi: [null, [['join-tenant', 1], ['join-display'], ['join-kasir', 1]]],
      // No room at all: only alerts.
      bare: [null, []],
    };
    const transports = [undefined, ['websocket'], ['polling']];
    let i = 0;
    for (const [name, [spec, joins]] of Object.entries(specs)) {
      const token = spec ? await server.newToken(spec) : server.token;
      const opts = { auth: { token } };
      const tr = transports[i++ % transports.length];
      if (tr) opts.transports = tr;
      const socket = await connect(server.url, opts);
      const got = record(socket);
      const rooms = [];
      for (const [ev, ...args] of joins) {
        const res = await join(socket, ev, ...args);
        rooms.push(res.room);
      }
      clients[name] = { socket, rooms, got };
    }

    // The scenario: every kind of event once or more.
    const a = await server.api('POST', '/api/orders', orderBody(1, 'John Doe', 2));
    const b = await server.api('POST', '/api/orders', orderBody(2, 'Siti', 1));
    await server.api('PATCH', `/api/orders/${a.id}/status`, { status: 'preparing' });
    const pay = await server.api('POST', '/api/payments', { order_id: a.id, amount_paid: a.total_amount + 5000, payment_method: 'cash', counter_id: 1 });
    const payB = await server.api('POST', '/api/payments', { order_id: b.id, amount_paid: b.total_amount, payment_method: 'qris', counter_id: 2 });
    await server.api('POST', `/api/payments/${pay.id}/refund`, { reason: 'Customer requested', amount: 10000 });
    await server.api('POST', '/api/qr/scan', { token: a.qr.token });
    await server.api('DELETE', `/api/orders/${b.id}`, { reason: 'Out of stock' });
    await server.api('POST', '/api/notifications', { user_id: 7, type: 'order_ready', data: { order_id: a.id, order_number: a.order_number } });
    await server.api('POST', '/api/alerts', { severity: 'error', message: 'System maintenance in 5 minutes' });
    assert.ok(payB.id);
    await barrier(server, Object.values(clients).map((c) => c.got));
    log = await server.events();
  });

  after(async () => {
    for (const c of Object.values(clients)) c.socket.close();
    await server.stop();
  });

  test('all eight events happened, routed as docs/protocol.md says', () => {
    const names = new Set(log.map((e) => e.event));
    for (const n of [...Object.keys(DATA_FIELDS), 'notification', 'alert']) assert.ok(names.has(n), `no ${n} in the log`);
    const sorted = (rooms) => [...rooms].sort();
    for (const e of log) {
      switch (e.event) {
        case 'order:created':
        case 'order:status_changed':
        case 'order:cancelled':
        case 'qr:scanned':
          assert.equal(e.rooms.length, 2, JSON.stringify(e));
          assert.ok(e.rooms.includes('display'));
          assert.match(e.rooms.find((r) => r !== 'display'), /^tenant-\d+$/);
          break;
        case 'payment:processed':
        case 'payment:refunded':
          assert.ok(e.rooms.includes('display') && e.rooms.some((r) => /^tenant-\d+$/.test(r)), JSON.stringify(e));
          assert.ok(e.rooms.some((r) => /^kasir-\d+$/.test(r)), JSON.stringify(e));
          break;
        case 'notification':
          assert.deepEqual(e.rooms, ['user-7']);
          break;
        case 'alert':
          assert.deepEqual(e.rooms, ['*']);
          break;
        default:
          assert.fail(`unexpected event ${e.event}`);
      }
    }
    const first = log.find((e) => e.event === 'order:created');
    assert.deepEqual(sorted(first.rooms), ['display', 'tenant-1']);
    const paid = log.filter((e) => e.event === 'payment:processed');
    assert.deepEqual(sorted(paid[0].rooms), ['display', 'kasir-1', 'tenant-1']);
    assert.deepEqual(sorted(paid[1].rooms), ['display', 'kasir-2', 'tenant-2']);
  });

  test('envelopes are exact: seed shape plus id, the documented data fields', () => {
    for (const e of log) {
      const p = e.payload;
      assert.equal(typeof p.id, 'number');
      assert.match(p.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      if (e.event === 'alert') {
        assert.deepEqual(Object.keys(p).sort(), ['id', 'message', 'severity', 'timestamp', 'type']);
        assert.equal(p.type, 'system_alert');
        continue;
      }
      assert.deepEqual(Object.keys(p).sort(), ['data', 'id', 'timestamp', 'type']);
      if (e.event === 'notification') {
        assert.equal(p.type, 'order_ready');
        continue;
      }
      assert.equal(p.type, e.event.replace(':', '_'));
      assert.deepEqual(Object.keys(p.data).sort(), [...DATA_FIELDS[e.event]].sort(), e.event);
    }
    const created = log.find((e) => e.event === 'order:created').payload.data;
    assert.deepEqual(created, { order_id: 1, order_number: 'T1-001', customer_name: 'John Doe', total_amount: 55000, items_count: 3, status: 'pending' });
    const changed = log.find((e) => e.event === 'order:status_changed').payload.data;
    assert.equal(changed.transition, 'pending → preparing');
    const paid = log.find((e) => e.event === 'payment:processed').payload.data;
    assert.equal(paid.change, 5000);
    assert.match(paid.transaction_reference, /^PAY-\d+-[A-Z0-9]{6}$/);
  });

  test('each connection receives exactly the events of its rooms, in order, once, with the offset', () => {
    for (const [name, c] of Object.entries(clients)) {
      const want = expectedFor(log, c.rooms);
      const got = c.got.filter((e) => e.payload && typeof e.payload.id === 'number');
      assert.deepEqual(
        got.map((e) => [e.name, e.payload]),
        want.map((e) => [e.event, e.payload]),
        `${name} in [${c.rooms}]`,
      );
      for (const e of got) {
        assert.equal(e.args.length, 2, 'envelope and offset');
        assert.equal(e.args[1], String(e.payload.id));
      }
    }
    // Once-delivery: the connection in tenant-1, display and kasir-1 got
    // payment:processed (in all three) exactly once.
    const multiPaid = clients.multi.got.filter((e) => e.name === 'payment:processed');
    assert.equal(multiPaid.length, 2); // tenant-1's via three rooms, tenant-2's via display
    assert.notEqual(multiPaid[0].payload.id, multiPaid[1].payload.id);
  });

  test('alerts reach every connection, even one in no room', () => {
    const alerts = log.filter((e) => e.event === 'alert').map((e) => e.payload.id);
    for (const [name, c] of Object.entries(clients)) {
      assert.deepEqual(c.got.filter((e) => e.name === 'alert').map((e) => e.payload.id), alerts, name);
    }
    assert.deepEqual(clients.bare.got.map((e) => e.name), alerts.map(() => 'alert'));
  });

  test('a refused join answers with an error and keeps the connection', async () => {
    const t1 = clients.tenant1.socket;
    const errors = [];
    t1.on('error', (e) => errors.push(e));
    const res = await t1.timeout(10000).emitWithAck('join-tenant', 2);
    assert.deepEqual(res, { error: { code: 'forbidden', message: 'this token may not join tenant-2' } });
    const res2 = await t1.timeout(10000).emitWithAck('join-display');
    assert.equal(res2.error.code, 'forbidden');
    const res3 = await t1.timeout(10000).emitWithAck('join-tenant', 'abc');
    assert.equal(res3.error.code, 'invalid');
    t1.emit('join-kasir', 1); // no ack asked: only the error event
    await waitFor(() => errors.length === 4, 'four error events');
    assert.deepEqual(errors.map((e) => e.code), ['forbidden', 'forbidden', 'invalid', 'forbidden']);
    assert.ok(t1.connected);
    const order = await server.api('POST', '/api/orders', orderBody(1, 'After Refusal'));
    await waitFor(() => clients.tenant1.got.some((e) => e.name === 'order:created' && e.payload.data.order_id === order.id), 'tenant-1 still served');
    // leave-* works: 'multi' leaves display and stops getting tenant-2's orders.
    const multi = clients.multi.socket;
    const left = await multi.timeout(10000).emitWithAck('leave-display');
    assert.deepEqual(left, { ok: true, room: 'display' });
    const other = await server.api('POST', '/api/orders', orderBody(2, 'Not For Multi'));
    const mine = await server.api('POST', '/api/orders', orderBody(1, 'For Multi'));
    await waitFor(() => clients.multi.got.some((e) => e.name === 'order:created' && e.payload.data.order_id === mine.id), 'multi gets tenant-1');
    assert.ok(!clients.multi.got.some((e) => e.payload?.data?.order_id === other.id));
  });
});
