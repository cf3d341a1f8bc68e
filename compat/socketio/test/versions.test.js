// Older socket.io-client v4 releases a food court may still run (installed
// side by side as npm aliases): each connects over the three transport
// setups, joins with an ack callback and receives its room's events;
// releases with connection-state recovery (>= 4.6) recover.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { io as io40 } from 'socket.io-client-4.0';
import { io as io45 } from 'socket.io-client-4.5';
import { io as io46 } from 'socket.io-client-4.6';
import { io as io47 } from 'socket.io-client-4.7';
import { orderBody, record, startServer, waitFor } from './helpers.js';

const RELEASES = [
  ['4.0.0', io40, false],
  ['4.5.4', io45, false],
  ['4.6.0', io46, true],
  ['4.7.5', io47, true],
];

describe('older socket.io-client releases', () => {
  let server;
  before(async () => {
    server = await startServer();
    await server.api('POST', '/api/tenants', { name: 'Warung Satu', code: 'T1' });
  });
  after(async () => { await server.stop(); });

  for (const [version, io, recovers] of RELEASES) {
    test(`socket.io-client ${version}`, async () => {
      for (const transports of [undefined, ['websocket'], ['polling']]) {
        const socket = io(server.url, {
          forceNew: true,
          auth: { token: server.token },
          transports,
          reconnectionDelay: 300,
          randomizationFactor: 0,
        });
        try {
          await new Promise((resolve, reject) => {
            socket.once('connect', resolve);
            socket.once('connect_error', reject);
          });
          const got = record(socket);
          const ack = await new Promise((resolve) => socket.emit('join-tenant', 1, resolve));
          assert.deepEqual(ack, { ok: true, room: 'tenant-1' });
          const order = await server.api('POST', '/api/orders', orderBody(1, `Client ${version}`));
          await waitFor(() => got.some((e) => e.name === 'order:created' && e.payload.data.order_id === order.id), 'order:created');
          if (!recovers) continue;

          socket.io.reconnection(false);
          const down = new Promise((resolve) => socket.once('disconnect', resolve));
          socket.io.engine.close();
          await down;
          const missed = await server.api('POST', '/api/orders', orderBody(1, `Missed by ${version}`));
          socket.io.reconnection(true);
          const back = new Promise((resolve) => socket.once('connect', resolve));
          socket.connect();
          await back;
          assert.equal(socket.recovered, true, `${version} ${transports ?? 'default'}`);
          await waitFor(() => got.some((e) => e.payload?.data?.order_id === missed.id), 'the missed order');
          assert.equal(got.filter((e) => e.payload?.data?.order_id === order.id).length, 1);
        } finally {
          socket.close();
        }
      }
    });
  }
});
