// Http2Drain over real sockets: a stream in flight when the drain starts finishes after the GOAWAY, which
// carries its id as the last stream id; the drain waits for it; the deadline destroys a hung session.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Http2Drain } from '../../src/drain/http2.js';
import { waitFor } from '../helpers/wait-for.js';

const never = () => new AbortController().signal;
const soon = (ms: number) => Date.now() + ms;

async function h2cServer(t: import('node:test').TestContext) {
  const held: Array<() => void> = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const answer = () => {
      stream.respond({ ':status': 200 });
      stream.end('done');
    };
    if (headers[':path'] === '/hang') held.push(answer);
    else answer();
  });
  const drainer = new Http2Drain(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  session.on('error', () => {});
  t.after(() => session.destroy());
  // The close waits for every session: the test's own sessions are destroyed in after-hooks before it.
  const closeServer = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return { server, drainer, session, held, closeServer };
}

function get(session: http2.ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path });
    let status = 0;
    let body = '';
    stream.setEncoding('utf8');
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
  });
}

test('a stream in flight at the drain finishes after a GOAWAY naming it as the last stream', async (t) => {
  const { drainer, session, held, closeServer } = await h2cServer(t);
  t.after(closeServer);
  assert.equal((await get(session, '/')).status, 200); // stream 1
  const inFlight = get(session, '/hang'); // stream 3
  await waitFor(() => held.length === 1, { what: 'the handler to hold stream 3' });
  const goaway = new Promise<[number, number]>((resolve) =>
    session.once('goaway', (code, lastStreamID) => resolve([code, lastStreamID])),
  );
  let drained = false;
  const drain = drainer.drain({ deadline: soon(30_000), signal: never() }).finally(() => {
    drained = true;
  });
  assert.deepEqual(await goaway, [http2.constants.NGHTTP2_NO_ERROR, 3]);
  assert.equal(drained, false, 'the drain waits for the open stream');
  held[0]!();
  assert.deepEqual(await inFlight, { status: 200, body: 'done' });
  assert.deepEqual(await drain, { openConnsRemaining: 0, acceptClosed: true });
});

test('an idle session gets its GOAWAY after the quiet period, and a resume accepts again', async (t) => {
  const { drainer, session, server, closeServer } = await h2cServer(t);
  assert.equal((await get(session, '/')).status, 200);
  const report = await drainer.drain({ deadline: soon(30_000), signal: never() });
  assert.deepEqual(report, { openConnsRemaining: 0, acceptClosed: true });
  assert.equal(session.closed || session.destroyed, true);
  await drainer.resume();
  assert.equal(drainer.accepting, true);
  const again = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.after(() => again.destroy());
  t.after(closeServer);
  assert.equal((await get(again, '/')).status, 200);
});

test('the deadline destroys a session whose stream hangs, and reports it', async (t) => {
  const { drainer, session, held, closeServer } = await h2cServer(t);
  t.after(closeServer);
  // Destroyed mid-stream: the client sees an error or an end without a response, never a 200.
  const hung = get(session, '/hang').then(
    (reply) => (reply.status === 200 ? 'answered' : 'cut'),
    () => 'cut',
  );
  await waitFor(() => held.length === 1, { what: 'the handler to hold the stream' });
  const report = await drainer.drain({ deadline: soon(200), signal: never() });
  assert.deepEqual(report, { openConnsRemaining: 1, acceptClosed: true });
  assert.equal(await hung, 'cut');
  await waitFor(() => drainer.openConnections === 0, { what: 'the session to be gone' });
});
