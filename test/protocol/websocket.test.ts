// WebSocketDrain over real sockets with the `ws` client: close 1001 only after the in-flight handler has sent
// its ack, a 503 (not a reset) for an upgrade during the drain, and a WebSocketServer not in noServer mode refused.

import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { makeTestCert } from '../../bench/servers/tls-cert.js';
import { HttpDrain } from '../../src/drain/http.js';
import { HttpsDrain } from '../../src/drain/https.js';
import { WebSocketDrain } from '../../src/drain/websocket.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const never = () => new AbortController().signal;

async function wsServer(t: import('node:test').TestContext) {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const drainer = new HttpDrain(server);
  const wss = new WebSocketServer({ noServer: true });
  const ws = new WebSocketDrain(wss, drainer);
  const held: Array<() => void> = [];
  wss.on('connection', (socket) => {
    socket.on('message', (data) => {
      ws.handle(socket, async () => {
        if (String(data) === 'slow') await new Promise<void>((resolve) => held.push(resolve));
        socket.send(`ack ${data}`);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    // Upgraded sockets are not the http server's any more: closeAllConnections leaves them open.
    for (const client of wss.clients) client.terminate();
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, drainer, ws, held };
}

function connect(t: import('node:test').TestContext, port: number): Promise<WebSocket> {
  const client = new WebSocket(`ws://127.0.0.1:${port}/`);
  t.after(() => client.terminate());
  return new Promise((resolve, reject) => {
    client.once('open', () => resolve(client));
    client.once('error', reject);
  });
}

test('a WebSocketServer not in noServer mode is refused, naming the fix', () => {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  assert.throws(() => new WebSocketDrain(wss, new HttpDrain(server)), {
    code: 'InvalidOption',
    message: /noServer: true/,
  });
  assert.throws(
    () =>
      new WebSocketDrain(new WebSocketServer({ noServer: true }), new HttpDrain(server), { closeCode: 1006 }),
    {
      message: /closeCode must be/,
    },
  );
});

test('the close 1001 comes after the ack of the message in flight, and the drain waits for the close', async (t) => {
  const { port, drainer, ws, held } = await wsServer(t);
  const client = await connect(t, port);
  const events: string[] = [];
  client.on('message', (data) => events.push(String(data)));
  const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
  client.send('slow');
  await waitFor(() => held.length === 1, { what: 'the handler to hold the message' });
  const drain = drainer.drain({ deadline: Date.now() + 30_000, signal: never() });
  await waitFor(() => !drainer.accepting, { what: 'accept to stop' });
  assert.equal(ws.openConnections, 1);
  held[0]!();
  assert.equal(await closed, 1001);
  assert.deepEqual(events, ['ack slow']);
  assert.deepEqual(await drain, { openConnsRemaining: 0, acceptClosed: true });
});

test('an upgrade request during the drain is answered 503 with Retry-After, and resume serves upgrades again', async (t) => {
  const { port, drainer } = await wsServer(t);
  // A connection accepted before the drain, whose upgrade request comes after it began.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  await new Promise<void>((resolve, reject) =>
    http
      .get({ port, host: '127.0.0.1', agent }, (res) => res.resume().on('end', resolve))
      .on('error', reject),
  );
  const drain = drainer.drain({ deadline: Date.now() + 30_000, signal: never() });
  await waitFor(() => !drainer.accepting, { what: 'accept to stop' });
  const refused = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.get({
      port,
      host: '127.0.0.1',
      agent,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      },
    });
    req.on('response', resolve);
    req.on('upgrade', () => reject(new Error('upgraded during a drain')));
    req.on('error', reject);
  });
  assert.equal(refused.statusCode, 503);
  assert.equal(refused.headers['retry-after'], '0');
  refused.resume();
  assert.deepEqual(await drain, { openConnsRemaining: 0, acceptClosed: true });
  await drainer.resume();
  const client = await connect(t, port);
  assert.equal(client.readyState, WebSocket.OPEN);
});

test('over https (wss) an upgraded connection counts once, and the drain ends when its closing handshake does', async (t) => {
  const cert = makeTestCert(tempDir(t));
  const server = https.createServer({ key: cert.key, cert: cert.cert }, (_req, res) =>
    res.writeHead(426).end(),
  );
  const drainer = new HttpsDrain(server);
  const wss = new WebSocketServer({ noServer: true });
  const ws = new WebSocketDrain(wss, drainer);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const client of wss.clients) client.terminate();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;
  const client = new WebSocket(`wss://localhost:${port}/`, { ca: cert.cert });
  t.after(() => client.terminate());
  await new Promise((resolve, reject) => {
    client.once('open', resolve);
    client.once('error', reject);
  });
  await waitFor(() => ws.openConnections === 1, { what: 'the server to see the WebSocket' });
  // The raw TCP socket under the TLS one was handed over with the upgrade: one connection, not two.
  assert.equal(drainer.openConnections, 1);
  const closed = new Promise<number>((resolve) => client.once('close', (code) => resolve(code)));
  const report = await drainer.drain({ deadline: Date.now() + 30_000, signal: never() });
  assert.equal(await closed, 1001);
  assert.deepEqual(report, { openConnsRemaining: 0, acceptClosed: true });
});
