// HttpsDrain over real sockets: a TLS handshake that starts after the drain began (on a connection accepted
// before) completes and its request is answered with Connection: close; the drain waits for it.

import assert from 'node:assert/strict';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import { makeTestCert } from '../../bench/servers/tls-cert.js';
import { HttpsDrain } from '../../src/drain/https.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

test('HttpsDrain refuses a plain http server', async () => {
  const http = await import('node:http');
  assert.throws(() => new HttpsDrain(http.createServer() as unknown as https.Server), {
    code: 'InvalidOption',
    message: /HttpsDrain needs an https.Server/,
  });
});

test('a connection accepted before the drain completes its TLS handshake during it and is served', async (t) => {
  const cert = makeTestCert(tempDir(t));
  const server = https.createServer({ key: cert.key, cert: cert.cert }, (_req, res) => res.end('hi'));
  const drainer = new HttpsDrain(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;

  // Accepted, but no ClientHello yet: the handshake begins only after the drain has started.
  const raw = net.connect(port, '127.0.0.1');
  t.after(() => raw.destroy());
  await waitFor(() => drainer.openConnections === 1, { what: 'the server to accept' });
  let drained = false;
  const drain = drainer.drain({ deadline: Date.now() + 30_000, signal: new AbortController().signal });
  drain.finally(() => {
    drained = true;
  });
  await waitFor(() => !drainer.accepting, { what: 'accept to stop' });

  const socket = tls.connect({ socket: raw, servername: 'localhost', ca: cert.cert });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  assert.equal(drained, false, 'the drain waits for the connection');
  let reply = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    reply += chunk;
  });
  socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await new Promise((resolve) => socket.once('end', resolve));
  assert.match(reply, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(reply, /\r\nConnection: close\r\n/i);
  assert.match(reply, /hi$/);
  socket.end();
  assert.deepEqual(await drain, { openConnsRemaining: 0, acceptClosed: true });
});
