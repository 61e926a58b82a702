// The kv HTTP app over a real socket and a real store: the API, 503 once sealed, and its Drainable — a PUT
// in flight when the drain starts is acknowledged and durable, and resumeAfterAbort serves writes again.

import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import { createKvApp } from '../../examples/kv/app.js';
import { Store, type StoreOptions } from '../../examples/kv/store.js';
import { dupFd } from '../../src/os.js';
import { holdListeningSocket } from '../helpers/dup-fd.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function call(port: number, method: string, path: string, body?: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function startApp(t: TestContext, storeOptions?: StoreOptions) {
  const dir = tempDir(t);
  const store = await Store.open(dir, storeOptions);
  t.after(() => store.close().catch(() => {}));
  const app = createKvApp({ store, buildId: 'build-1' });
  await new Promise<void>((resolve) => app.server.listen({ port: 0, host: '127.0.0.1' }, resolve));
  t.after(() => {
    app.server.closeAllConnections();
    app.server.close();
  });
  return { dir, store, app, port: (app.server.address() as AddressInfo).port };
}

const drainContext = () => ({ deadline: Date.now() + 10_000, signal: new AbortController().signal });

test('PUT answers the revision after fsync, GET returns the value, a missing key is 404', async (t) => {
  const { port } = await startApp(t);
  const put = await call(port, 'PUT', '/kv/hello', 'world');
  assert.equal(put.status, 200);
  assert.deepEqual(JSON.parse(put.body), { revision: 1 });
  assert.deepEqual(JSON.parse((await call(port, 'PUT', '/kv/caf%C3%A9%20au%20lait', 'noir')).body), {
    revision: 2,
  });

  const get = await call(port, 'GET', '/kv/hello');
  assert.equal(get.status, 200);
  assert.equal(get.headers['content-type'], 'application/octet-stream');
  assert.equal(get.body, 'world');
  assert.equal((await call(port, 'GET', '/kv/caf%C3%A9%20au%20lait')).body, 'noir');
  assert.equal((await call(port, 'GET', '/kv/nope')).status, 404);
});

test('healthz is ok and stats report pid, build, revision, keys, uptime and open connections', async (t) => {
  const { port } = await startApp(t);
  await call(port, 'PUT', '/kv/a', '1');
  const health = await call(port, 'GET', '/healthz');
  assert.deepEqual([health.status, health.body], [200, 'ok\n']);

  const stats = JSON.parse((await call(port, 'GET', '/stats')).body);
  assert.equal(stats.pid, process.pid);
  assert.equal(stats.buildId, 'build-1');
  assert.equal(stats.revision, 1);
  assert.equal(stats.keys, 1);
  assert.equal(stats.state, 'open');
  assert.ok(stats.uptimeMs > 0);
  assert.equal(stats.openConnections, 1, 'the stats request itself');
});

test('bad requests get 400, 404, 405 and 413', async (t) => {
  const { port } = await startApp(t, { maxValueBytes: 8 });
  assert.equal((await call(port, 'PUT', '/kv/a', '123456789')).status, 413);
  assert.equal((await call(port, 'PUT', '/kv/%E0%A4%A', 'x')).status, 400);
  assert.equal((await call(port, 'PUT', '/kv/', 'x')).status, 400);
  assert.equal((await call(port, 'GET', '/elsewhere')).status, 404);
  const del = await call(port, 'DELETE', '/kv/a');
  assert.deepEqual([del.status, del.headers.allow], [405, 'GET, PUT']);
  assert.equal((await call(port, 'PUT', '/kv/a', '12345678')).status, 200);
});

test('once the store is sealed, writes get 503 with Retry-After and reads still work', async (t) => {
  const { port, store } = await startApp(t);
  await call(port, 'PUT', '/kv/a', '1');
  await store.seal();
  const put = await call(port, 'PUT', '/kv/a', '2');
  assert.equal(put.status, 503);
  assert.equal(put.headers['retry-after'], '1');
  assert.equal((await call(port, 'GET', '/kv/a')).body, '1');
  assert.equal((await call(port, 'GET', '/healthz')).status, 503);
});

test('a PUT in flight when the drain starts is acknowledged, durable after seal, and the drain waits for it', async (t) => {
  const { dir, app, port } = await startApp(t);
  let requests = 0;
  app.server.on('request', () => {
    requests += 1;
  });
  const client = net.connect(port, '127.0.0.1');
  t.after(() => client.destroy());
  let answer = '';
  client.setEncoding('utf8');
  client.on('data', (chunk: string) => {
    answer += chunk;
  });
  client.write('PUT /kv/late HTTP/1.1\r\nHost: kv\r\nContent-Length: 10\r\n\r\nhello');
  await waitFor(() => requests === 1, { what: 'the request to reach the handler' });

  let drained = false;
  const drain = app.drainable.drain(drainContext()).finally(() => {
    drained = true;
  });
  await waitFor(() => !app.drainer.accepting, { what: 'accept to stop' });
  assert.equal(drained, false);
  client.write('world');
  await waitFor(() => client.readableEnded, { what: 'the answer and the close' });
  assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(answer, /\r\nConnection: close\r\n/i);
  assert.match(answer, /\{"revision":1\}\n$/);
  assert.deepEqual(await drain, { openConnsRemaining: 0, acceptClosed: true });

  const report = await app.drainable.seal();
  assert.deepEqual(report.lastRevisionPerShard, [1n]);
  const successor = await Store.open(dir, { repairTornTail: false });
  t.after(() => successor.close());
  assert.equal(successor.get('late')?.toString(), 'helloworld');
});

test('resumeAfterAbort after drain and seal accepts connections and writes again, idempotently', async (t) => {
  const { app, port } = await startApp(t);
  await call(port, 'PUT', '/kv/a', '1');
  await app.drainable.drain(drainContext());
  await app.drainable.seal();
  await app.drainable.resumeAfterAbort();
  await app.drainable.resumeAfterAbort();
  const put = await call(port, 'PUT', '/kv/b', '2');
  assert.deepEqual([put.status, JSON.parse(put.body)], [200, { revision: 2 }]);
  assert.deepEqual(await app.drainable.snapshotState?.(), {
    shardCount: 1,
    openConns: 0,
    lastRevisionPerShard: [2n],
  });
  assert.deepEqual(app.readiness(), {
    listeningOn: [`127.0.0.1:${port}`],
    healthzOk: true,
    advertisedRevisionPerShard: [2n],
  });
});

test('writers see no error across handoffs to fresh instances, and every acknowledged write survives', async (t) => {
  const supervisor = await holdListeningSocket();
  t.after(() => supervisor.close());
  const dir = tempDir(t);
  const startInstance = async (n: number) => {
    const store = await Store.open(dir, { repairTornTail: n === 0 });
    t.after(() => store.close().catch(() => {}));
    const app = createKvApp({ store, buildId: `build-${n}`, http: { dupFd } });
    t.after(() => {
      app.server.closeAllConnections();
      app.server.close();
    });
    const fd = dupFd(supervisor.fd);
    await new Promise<void>((resolve) => app.server.listen({ fd }, resolve));
    return { store, app };
  };

  const acked = new Map<string, string>();
  const errors: unknown[] = [];
  let stop = false;
  const writer = async (id: number) => {
    const agent = new http.Agent({ keepAlive: true });
    for (let n = 0; !stop; n += 1) {
      const key = `w${id}-${n % 20}`;
      try {
        const answer = await new Promise<number>((resolve, reject) => {
          const req = http.request(
            { host: '127.0.0.1', port: supervisor.port, method: 'PUT', path: `/kv/${key}`, agent },
            (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            },
          );
          req.on('error', reject);
          req.end(String(n));
        });
        if (answer === 200) acked.set(key, String(n));
        else errors.push(new Error(`status ${answer}`));
      } catch (error) {
        errors.push(error);
      }
    }
    agent.destroy();
  };

  let current = await startInstance(0);
  const writers = Array.from({ length: 8 }, (_, id) => writer(id));
  const handoffs = 6;
  for (let i = 1; i <= handoffs; i += 1) {
    const before = acked.size + current.store.revision;
    await waitFor(() => acked.size + current.store.revision >= before + 100, {
      what: 'writes to flow',
      timeoutMs: 10_000,
    });
    const drained = await current.app.drainable.drain(drainContext());
    assert.deepEqual(drained, { openConnsRemaining: 0, acceptClosed: true });
    const sealed = await current.app.drainable.seal();
    current = await startInstance(i);
    assert.deepEqual([BigInt(current.store.revision)], sealed.lastRevisionPerShard);
  }
  const last = current.store.revision;
  await waitFor(() => current.store.revision >= last + 100, {
    what: 'writes to flow after the last handoff',
    timeoutMs: 10_000,
  });
  stop = true;
  await Promise.all(writers);

  assert.deepEqual(errors, []);
  for (const [key, value] of acked) assert.equal(current.store.get(key)?.toString(), value, key);
  t.diagnostic(
    `${current.store.revision} writes over ${handoffs} handoffs, 0 errors, all acknowledged ones kept`,
  );
});
