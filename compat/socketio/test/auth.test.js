// Refused connections surface as connect_error, as with the Node server's
// middleware; other namespaces are refused too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, io, startServer } from './helpers.js';

describe('connect errors', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await server.stop(); });

  for (const transports of [['polling', 'websocket'], ['websocket'], ['polling']]) {
    test(`a bad token is a connect_error (${transports})`, async () => {
      await assert.rejects(connect(server.url, { auth: { token: 'posd_999_not-a-token' }, transports }), (err) => {
        assert.equal(err.data?.code, 'unauthorized');
        assert.ok(err.message.length > 0);
        return true;
      });
    });
  }

  test('no token at all is a connect_error', async () => {
    await assert.rejects(connect(server.url), (err) => err.data?.code === 'unauthorized');
  });

  test('another namespace is refused', async () => {
    const socket = io(server.url + '/admin', { forceNew: true, reconnection: false, auth: { token: server.token } });
    const err = await new Promise((resolve) => socket.once('connect_error', resolve));
    socket.close();
    assert.equal(err.message, 'Invalid namespace');
  });

  test('a revoked token disconnects the socket with "io server disconnect"', async () => {
    const issued = await server.api('POST', '/api/tokens', { role: 'display', display: true });
    const socket = await connect(server.url, { auth: { token: issued.token }, transports: ['websocket'] });
    const reason = new Promise((resolve) => socket.once('disconnect', resolve));
    await server.api('DELETE', `/api/tokens/${issued.id}`);
    assert.equal(await reason, 'io server disconnect');
    socket.close();
  });
});
