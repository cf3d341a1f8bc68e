// A socket.io-client for the Go cluster test (internal/server): it
// connects to the URL it is given (the test's round-robin balancer in
// front of several posd nodes), joins a stall's room and records every
// order:created it receives, across reconnections and connection-state
// recoveries, printing "sid SID" for each connection and "event ID" for
// each event. When its standard input
// closes it prints what it saw as one JSON line and exits.
//
// Usage: node cluster-client.mjs URL TENANT polling|default
import { io } from 'socket.io-client';

const [url, tenant, mode] = process.argv.slice(2);
const opts = {
  reconnectionDelay: 100,
  reconnectionDelayMax: 500,
  timeout: 5000,
};
if (mode === 'polling') opts.transports = ['polling'];

const ids = [];
const recovered = [];
let connects = 0;
const socket = io(url, opts);
socket.on('connect', () => {
  connects++;
  recovered.push(socket.recovered);
  if (!socket.recovered) {
    socket.emit('join-tenant', Number(tenant));
  }
  process.stdout.write(`sid ${socket.io.engine.id}\n`);
  process.stderr.write(`connected (${connects}), recovered=${socket.recovered}\n`);
});
socket.on('order:created', (env) => {
  ids.push(env.id);
  process.stdout.write(`event ${env.id}\n`);
});
socket.on('connect_error', (err) => { process.stderr.write(`connect_error: ${err.message}\n`); });
socket.on('disconnect', (reason) => { process.stderr.write(`disconnect: ${reason}\n`); });
socket.io.on('reconnect_attempt', (n) => { process.stderr.write(`reconnect attempt ${n}\n`); });

process.stdout.write('ready\n');
process.stdin.resume();
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify({ ids, recovered, connects, transport: socket.io.engine.transport.name }) + '\n');
  socket.close();
  process.exit(0);
});
