// HttpDrain over real sockets: Connection: close during a drain, the quiet period, the deadline, resume,
// and zero client errors across handoffs between two servers sharing one supervisor-held listening socket.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { test } from 'node:test';
import { HttpDrain } from '../../src/drain/http.js';
import { abandonment, handoffAbandoned } from '../../src/drainable.js';
import { isHandoffError } from '../../src/errors.js';
import { dupFd } from '../../src/os.js';
import { holdListeningSocket } from '../helpers/dup-fd.js';
import { waitFor } from '../helpers/wait-for.js';

interface Reply {
  status: number;
  connection: string | undefined;
  body: string;
  reusedSocket: boolean;
  socket: net.Socket;
}

function request(port: number, agent: http.Agent | false, path = '/'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let socket: net.Socket | undefined;
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          connection: res.headers.connection,
          body,
          reusedSocket: req.reusedSocket,
          socket: socket!,
        }),
      );
    });
    req.once('socket', (s: net.Socket) => {
      socket = s;
    });
    req.on('error', reject);
  });
}

function listen(server: http.Server, options: net.ListenOptions | { fd: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function portOf(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}

/** A server whose `/hang` requests wait for `release()`; it counts handler entries. */
function makeServer(name = 'a') {
  const held: Array<() => void> = [];
  let entered = 0;
  const server = http.createServer((req, res) => {
    entered += 1;
    if (req.url === '/hang') {
      held.push(() => res.end(name));
      return;
    }
    res.end(name);
  });
  return {
    server,
    get entered() {
      return entered;
    },
    release: () => {
      for (const done of held.splice(0)) done();
    },
  };
}

function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const never = () => new AbortController().signal;
const soon = (ms: number) => Date.now() + ms;

test('options are checked at construction, naming the option, the value and its type', () => {
  const server = http.createServer();
  assert.throws(() => new HttpDrain(server, { drainQuietMs: -1 }), {
    code: 'InvalidOption',
    message: 'drainQuietMs must be a non-negative integer, got -1 (number)',
  });
  assert.throws(() => new HttpDrain(server, { backlog: 0 }), {
    message: 'backlog must be a positive integer, got 0 (number)',
  });
});

test('attaching to a server that already listens is refused', async (t) => {
  const server = http.createServer();
  await listen(server, { port: 0, host: '127.0.0.1' });
  t.after(() => closeServer(server));
  assert.throws(
    () => new HttpDrain(server),
    (e: unknown) => isHandoffError(e, 'InvalidOption'),
  );
});

test('a request on a kept-alive connection during a drain gets Connection: close and its socket closes', async (t) => {
  const app = makeServer();
  const drainer = new HttpDrain(app.server, { drainQuietMs: 60_000 });
  await listen(app.server, { port: 0, host: '127.0.0.1' });
  t.after(() => closeServer(app.server));
  const port = portOf(app.server);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());

  const first = await request(port, agent);
  assert.equal(first.connection, 'keep-alive');
  const drained = drainer.drain({ deadline: soon(30_000), signal: never() });
  await waitFor(() => !drainer.accepting, { what: 'accept to stop' });

  const second = await request(port, agent);
  assert.equal(second.reusedSocket, true);
  assert.equal(second.status, 200);
  assert.equal(second.connection, 'close');
  // The drain ends when that socket closes, long before the 60 s quiet period.
  assert.deepEqual(await drained, { openConnsRemaining: 0, acceptClosed: true });
  assert.equal(drainer.openConnections, 0);
});

test('a request in flight when the drain starts completes, and the drain waits for it', async (t) => {
  const app = makeServer();
  const drainer = new HttpDrain(app.server);
  await listen(app.server, { port: 0, host: '127.0.0.1' });
  t.after(() => closeServer(app.server));
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());

  const reply = request(portOf(app.server), agent, '/hang');
  await waitFor(() => app.entered === 1, { what: 'the handler to run' });
  let drainDone = false;
  const drained = drainer.drain({ deadline: soon(30_000), signal: never() }).finally(() => {
    drainDone = true;
  });
  await waitFor(() => !drainer.accepting, { what: 'accept to stop' });
  assert.equal(drainDone, false);
  assert.equal(drainer.openConnections, 1);

  app.release();
  const res = await reply;
  assert.equal(res.status, 200);
  assert.equal(res.connection, 'close');
  assert.deepEqual(await drained, { openConnsRemaining: 0, acceptClosed: true });
});

test('an idle kept-alive connection is closed once it has been quiet for drainQuietMs', async (t) => {
  const quietMs = 150;
  const app = makeServer();
  const drainer = new HttpDrain(app.server, { drainQuietMs: quietMs });
  await listen(app.server, { port: 0, host: '127.0.0.1' });
  t.after(() => closeServer(app.server));
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());

  const { socket } = await request(portOf(app.server), agent);
  let closedAt = 0;
  socket.once('close', () => {
    closedAt = Date.now();
  });
  const startedAt = Date.now();
  assert.deepEqual(await drainer.drain({ deadline: soon(30_000), signal: never() }), {
    openConnsRemaining: 0,
    acceptClosed: true,
  });
  await waitFor(() => closedAt > 0, { what: 'the client to see the close' });
  assert.ok(closedAt - startedAt >= quietMs, `closed after ${closedAt - startedAt} ms`);
});

test('a connection sending a request slowly is not closed for being quiet, and gets Connection: close', async (t) => {
  // A quiet window is time by definition, so the pacing keeps a wide margin instead of sleeping: the client
  // sends its next header line as soon as the server has read the previous one (a few polls apart), against
  // a window of 1 s. Whether a window has passed is an event, not a guess: an idle kept-alive connection,
  // whose quiet timer the drain arms together with the slow one's, is closed by the first quiet check.
  const quietMs = 1000;
  const app = makeServer();
  const drainer = new HttpDrain(app.server, { drainQuietMs: quietMs });
  const serverSockets: net.Socket[] = [];
  app.server.on('connection', (socket: net.Socket) => serverSockets.push(socket));
  await listen(app.server, { port: 0, host: '127.0.0.1' });
  t.after(() => closeServer(app.server));
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const { socket: idle } = await request(portOf(app.server), agent);
  let idleClosedAt: number | undefined;
  idle.once('close', () => {
    idleClosedAt = Date.now();
  });
  const client = net.connect(portOf(app.server), '127.0.0.1');
  t.after(() => client.destroy());
  await new Promise((resolve) => client.once('connect', resolve));
  await waitFor(() => drainer.openConnections === 2, { what: 'the server to see both connections' });
  const slow = serverSockets.find((socket) => socket.remotePort === client.localPort);
  assert.ok(slow, 'the server side of the slow connection');

  let received = '';
  client.setEncoding('utf8');
  client.on('data', (chunk: string) => {
    received += chunk;
  });
  const drained = drainer.drain({ deadline: soon(30_000), signal: never() });
  let sent = 0;
  let lines = 0;
  const send = async (line: string) => {
    assert.equal(client.readableEnded, false, `the server ended the slow connection after ${lines} lines`);
    client.write(line);
    sent += Buffer.byteLength(line);
    lines += 1;
    await waitFor(() => slow.bytesRead >= sent, { what: `the server to read line ${lines}` });
  };
  await send('GET / HTTP/1.1\r\n');
  await send('Host: x\r\n');
  // Until the first quiet check has closed the idle connection, then for one more window: the slow
  // connection outlives the check that closed its idle twin, and the check of its re-armed timer after it.
  const giveUpAt = Date.now() + 10 * quietMs;
  let sendingAfterIdleMs = 0;
  while (idleClosedAt === undefined || sendingAfterIdleMs < quietMs + 100) {
    assert.ok(idleClosedAt !== undefined || Date.now() < giveUpAt, 'the idle connection was never closed');
    await send(`X-${lines}: y\r\n`);
    if (idleClosedAt !== undefined) sendingAfterIdleMs = Date.now() - idleClosedAt;
  }
  client.write('\r\n');
  await waitFor(() => client.readableEnded || client.destroyed, {
    what: 'the response and the close',
    timeoutMs: 5_000,
  });
  assert.match(received, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(received, /\r\nConnection: close\r\n/i);
  assert.deepEqual(await drained, { openConnsRemaining: 0, acceptClosed: true });
  t.diagnostic(`${lines} lines, sent until ${sendingAfterIdleMs} ms after the idle connection closed`);
});

test('the deadline destroys a hung request and reports it in openConnsRemaining', async (t) => {
  const app = makeServer();
  const drainer = new HttpDrain(app.server);
  await listen(app.server, { port: 0, host: '127.0.0.1' });
  t.after(() => closeServer(app.server));

  const reply = request(portOf(app.server), false, '/hang');
  const failed = reply.then(
    () => 'answered',
    (error: NodeJS.ErrnoException) => error.code,
  );
  await waitFor(() => app.entered === 1, { what: 'the handler to run' });
  const startedAt = Date.now();
  const report = await drainer.drain({ deadline: soon(200), signal: never() });
  assert.ok(Date.now() - startedAt >= 190, 'returned before the deadline');
  assert.deepEqual(report, { openConnsRemaining: 1, acceptClosed: true });
  assert.equal(await failed, 'ECONNRESET');
  await waitFor(() => drainer.openConnections === 0, { what: 'the socket to be gone' });
});

test('an aborted signal ends the drain at once and destroys what is left', async (t) => {
  const app = makeServer();
  const drainer = new HttpDrain(app.server);
  await listen(app.server, { port: 0, host: '127.0.0.1' });
  t.after(() => closeServer(app.server));

  request(portOf(app.server), false, '/hang').catch(() => {});
  await waitFor(() => app.entered === 1, { what: 'the handler to run' });
  const controller = new AbortController();
  const drained = drainer.drain({ deadline: soon(60_000), signal: controller.signal });
  const again = drainer.drain({ deadline: soon(60_000), signal: never() });
  assert.equal(again, drained, 'concurrent drains share one drain');
  await waitFor(() => !drainer.accepting, { what: 'accept to stop' });
  controller.abort();
  assert.deepEqual(await drained, { openConnsRemaining: 1, acceptClosed: true });
});

test('a signal aborted because the handoff was abandoned ends the drain at once and keeps what is open', async (t) => {
  const app = makeServer();
  const drainer = new HttpDrain(app.server);
  await listen(app.server, { port: 0, host: '127.0.0.1' });
  t.after(() => closeServer(app.server));

  const inFlight = request(portOf(app.server), false, '/hang');
  await waitFor(() => app.entered === 1, { what: 'the handler to run' });
  const controller = new AbortController();
  const drained = drainer.drain({ deadline: soon(60_000), signal: controller.signal });
  await waitFor(() => !drainer.accepting, { what: 'accept to stop' });
  controller.abort(abandonment('the test supervisor left'));
  assert.equal(handoffAbandoned(controller.signal), true);
  assert.deepEqual(await drained, { openConnsRemaining: 1, acceptClosed: true });
  // The daemon resumes next; the request that was in flight is answered, not reset.
  await drainer.resume();
  app.release();
  const reply = await inFlight;
  assert.equal(reply.status, 200);
  assert.equal(reply.body, 'a');
  assert.equal(handoffAbandoned(AbortSignal.abort()), false, 'a plain abort is not an abandonment');
});

test('a server on a port it bound itself keeps the socket through a drain: a client that connects then is served after resume', async (t) => {
  const app = makeServer();
  const drainer = new HttpDrain(app.server);
  await listen(app.server, { port: 0, host: '127.0.0.1' });
  t.after(() => closeServer(app.server));
  const port = portOf(app.server);

  await drainer.drain({ deadline: soon(5_000), signal: never() });
  assert.equal(drainer.accepting, false);
  // The spare duplicate keeps the kernel socket open: this client waits in its queue, it is not refused.
  const waiting = request(port, false);
  await drainer.resume();
  await drainer.resume();
  assert.equal(drainer.accepting, true);
  assert.equal((await waiting).status, 200);
});

test('closing a server listening on an fd closes that fd, and resume accepts again on a duplicate', async (t) => {
  const supervisor = await holdListeningSocket();
  t.after(() => supervisor.close());
  const app = makeServer();
  const drainer = new HttpDrain(app.server, { dupFd });
  t.after(() => closeServer(app.server));
  const fd = dupFd(supervisor.fd);
  await listen(app.server, { fd });
  assert.equal((await request(supervisor.port, false)).status, 200);

  assert.deepEqual(await drainer.drain({ deadline: soon(5_000), signal: never() }), {
    openConnsRemaining: 0,
    acceptClosed: true,
  });
  // Node 20 closed the fd it listened on: without the spare duplicate there would be no way back.
  assert.throws(() => fs.fstatSync(fd), { code: 'EBADF' });
  // The supervisor's copy keeps the socket: this connection waits in the accept queue until resume.
  const queued = request(supervisor.port, false);
  await drainer.resume();
  assert.equal((await queued).status, 200);
  assert.equal(drainer.accepting, true);
});

test('a failing dupFd makes drain throw Io and leaves the server accepting', async (t) => {
  const app = makeServer();
  const drainer = new HttpDrain(app.server, {
    dupFd: () => {
      throw Object.assign(new Error('too many open files'), { code: 'EMFILE' });
    },
  });
  await listen(app.server, { port: 0, host: '127.0.0.1' });
  t.after(() => closeServer(app.server));

  await assert.rejects(drainer.drain({ deadline: soon(5_000), signal: never() }), {
    code: 'Io',
    details: { errno: 'EMFILE', fd: (app.server as unknown as { _handle: { fd: number } })._handle.fd },
  });
  assert.equal(drainer.accepting, true);
  const reply = await request(portOf(app.server), false);
  assert.equal(reply.status, 200);
  assert.equal(reply.connection, 'close', 'agent: false asks for close itself');
});

test('a resume while the drain is still duplicating the fd wins: the server keeps accepting', async (t) => {
  let release: (fd: number) => void = () => {};
  const app = makeServer();
  const drainer = new HttpDrain(app.server, {
    dupFd: () => new Promise<number>((resolve) => (release = resolve)),
  });
  await listen(app.server, { port: 0, host: '127.0.0.1' });
  t.after(() => closeServer(app.server));
  // The drainer keeps this as its spare for the life of the process.
  const spare = dupFd((app.server as unknown as { _handle: { fd: number } })._handle.fd);

  const drained = drainer.drain({ deadline: soon(5_000), signal: never() });
  await drainer.resume();
  release(spare);
  assert.deepEqual(await drained, { openConnsRemaining: 0, acceptClosed: false });
  assert.equal(drainer.accepting, true);
  assert.equal((await request(portOf(app.server), false)).connection, 'close', 'agent: false asks for close');
  assert.equal(
    (await request(portOf(app.server), new http.Agent({ keepAlive: true }))).connection,
    'keep-alive',
  );
});

test('clients see no error across handoffs back and forth between two servers on one listening socket', async (t) => {
  const supervisor = await holdListeningSocket();
  t.after(() => supervisor.close());
  const instances = ['a', 'b'].map((name) => {
    const app = makeServer(name);
    return { name, app, drainer: new HttpDrain(app.server, { dupFd }) };
  });
  for (const { app } of instances) t.after(() => closeServer(app.server));
  await listen(instances[0]!.app.server, { fd: dupFd(supervisor.fd) });

  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());
  const served = new Map<string, number>();
  const errors: unknown[] = [];
  let stop = false;
  const client = async (clientAgent: http.Agent | false) => {
    while (!stop) {
      try {
        const reply = await request(supervisor.port, clientAgent);
        assert.equal(reply.status, 200);
        served.set(reply.body, (served.get(reply.body) ?? 0) + 1);
      } catch (error) {
        errors.push(error);
      }
    }
  };
  const total = () => [...served.values()].reduce((sum, n) => sum + n, 0);
  const clients = [...Array.from({ length: 12 }, () => client(agent)), client(false), client(false)];

  const handoffs = 8;
  for (let i = 0; i < handoffs; i += 1) {
    const [from, to] = i % 2 === 0 ? [instances[0]!, instances[1]!] : [instances[1]!, instances[0]!];
    const before = total();
    await waitFor(() => total() >= before + 300, { what: 'requests to flow', timeoutMs: 10_000 });
    const report = await from.drainer.drain({ deadline: soon(10_000), signal: never() });
    assert.deepEqual(report, { openConnsRemaining: 0, acceptClosed: true });
    if (i === 0) await listen(to.app.server, { fd: dupFd(supervisor.fd) });
    else await to.drainer.resume();
  }
  const before = total();
  await waitFor(() => total() >= before + 300, {
    what: 'requests to flow after the last handoff',
    timeoutMs: 10_000,
  });
  stop = true;
  await Promise.all(clients);

  assert.deepEqual(errors, []);
  assert.ok((served.get('a') ?? 0) > 0 && (served.get('b') ?? 0) > 0, JSON.stringify([...served]));
  t.diagnostic(`served ${JSON.stringify(Object.fromEntries(served))} over ${handoffs} handoffs, 0 errors`);
});
