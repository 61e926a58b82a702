// TcpDrain over real sockets: onDrain is called once per connection (late ones included), the drain waits
// for the application to end them, and only what is left at the deadline is destroyed.

import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { TcpDrain } from '../../src/drain/tcp.js';
import { waitFor } from '../helpers/wait-for.js';

const never = () => new AbortController().signal;

async function tcpServer(t: import('node:test').TestContext, onDrain?: (socket: net.Socket) => void) {
  const server = net.createServer((socket) => socket.on('error', () => {}).resume());
  const drainer = new TcpDrain(server, onDrain ? { onDrain } : {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, drainer };
}

function connect(t: import('node:test').TestContext, port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  socket.on('error', () => {}).resume();
  return new Promise((resolve) => socket.once('connect', () => resolve(socket)));
}

test('onDrain is called once per connection and the drain ends when the application has ended them', async (t) => {
  const told: net.Socket[] = [];
  const { port, drainer } = await tcpServer(t, (socket) => told.push(socket));
  const clients = [await connect(t, port), await connect(t, port)];
  for (const client of clients) client.on('end', () => client.end());
  await waitFor(() => drainer.openConnections === 2, { what: 'two connections' });
  let drained = false;
  const drain = drainer.drain({ deadline: Date.now() + 30_000, signal: never() }).finally(() => {
    drained = true;
  });
  await waitFor(() => told.length === 2, { what: 'onDrain for both' });
  told[0]!.end('bye\n');
  await waitFor(() => drainer.openConnections === 1, { what: 'the first to close' });
  assert.equal(drained, false);
  told[1]!.end('bye\n');
  assert.deepEqual(await drain, { openConnsRemaining: 0, acceptClosed: true });
  assert.equal(told.length, 2, 'once per connection');
});

test('by default a quiet connection is ended (FIN, not reset) and the deadline destroys only a connection left open', async (t) => {
  const { port, drainer } = await tcpServer(t, (socket) => {
    if (socket.remotePort === keptPort) return; // the application keeps this one open
    socket.end();
  });
  const kept = await connect(t, port);
  const keptPort = kept.localPort;
  const ended = await connect(t, port);
  let endedSawFin = false;
  ended.on('end', () => {
    endedSawFin = true;
    ended.end();
  });
  await waitFor(() => drainer.openConnections === 2, { what: 'two connections' });
  const report = await drainer.drain({ deadline: Date.now() + 300, signal: never() });
  assert.deepEqual(report, { openConnsRemaining: 1, acceptClosed: true });
  assert.equal(endedSawFin, true);
  await waitFor(() => kept.destroyed || kept.readableEnded, { what: 'the kept connection to be cut' });
});

test('without onDrain an idle connection is ended once quiet', async (t) => {
  const { port, drainer } = await tcpServer(t);
  const client = await connect(t, port);
  client.on('end', () => client.end());
  await waitFor(() => drainer.openConnections === 1, { what: 'the connection' });
  assert.deepEqual(await drainer.drain({ deadline: Date.now() + 30_000, signal: never() }), {
    openConnsRemaining: 0,
    acceptClosed: true,
  });
});
