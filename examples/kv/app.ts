// The kv daemon's HTTP API over a Store (PUT/GET /kv/:key, /healthz, /stats) and its Drainable (docs/protocol.md §7):
// drain = HTTP drain, then the store's write drain; seal = the store's seal; resume = reopen, then accept.

import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpDrain, type HttpDrainOptions } from '../../src/drain/http.js';
import { type Drainable, handoffAbandoned, type ReadinessSnapshot } from '../../src/drainable.js';
import type { Store } from './store.js';
import { StoreError } from './store-error.js';

/*
 * A PUT during a drain is served, not refused. Drain stops accepting (new connections wait in the
 * supervisor's accept queue for the successor) and lets each open connection finish: a PUT that arrives
 * on a kept-alive connection while the HTTP side drains goes to the still-open store, is fsynced, and is
 * acknowledged with `Connection: close` — so a client sees no failure at all, and its next request opens a
 * connection the successor answers. Only once no connection is left does the store stop taking writes
 * (drainWrites), so nothing can be acknowledged after the seal. The one PUT that can still meet a closed
 * store is one whose connection the drain deadline destroyed: it gets 503 + Retry-After on a socket that
 * is already gone, and was never acknowledged. A 503 answer is also what writes get whenever the store is
 * draining or sealed outside that window.
 */

export interface KvAppOptions {
  readonly store: Store;
  /** Reported by /stats. */
  readonly buildId: string;
  /** Passed to the HttpDrain (dupFd, drainQuietMs, backlog). */
  readonly http?: HttpDrainOptions;
  /** /healthz answers 503 whatever the store's state (a build that a health probe rejects). */
  readonly healthzFails?: boolean;
}

export interface KvApp {
  /** Not listening yet: listen on the inherited fd (or a port) after creating the app. */
  readonly server: Server;
  readonly drainer: HttpDrain;
  readonly drainable: Drainable;
  /** What this instance announces in Ready when it is a successor. */
  readiness(): ReadinessSnapshot;
}

const RETRY_AFTER_SECONDS = '1';

export function createKvApp(options: KvAppOptions): KvApp {
  const { store, buildId } = options;
  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => fail(res, error));
  });
  const drainer = new HttpDrain(server, options.http);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', 'http://kv.invalid');
    const method = req.method ?? 'GET';
    if (pathname === '/healthz' && method === 'GET') {
      const ok = store.state === 'open' && !options.healthzFails;
      return send(res, ok ? 200 : 503, ok ? 'ok\n' : `${options.healthzFails ? 'failing' : store.state}\n`);
    }
    if (pathname === '/stats' && method === 'GET') {
      const uptimeMs = Math.round(process.uptime() * 1000);
      const stats = {
        pid: process.pid,
        buildId,
        ...store.stats,
        opened: store.opened,
        uptimeMs,
        openConnections: drainer.openConnections,
      };
      return sendJson(res, 200, stats);
    }
    if (!pathname.startsWith('/kv/')) return sendJson(res, 404, { error: 'not found' });
    let key: string;
    try {
      key = decodeURIComponent(pathname.slice('/kv/'.length));
    } catch {
      return sendJson(res, 400, { error: 'the key is not valid percent-encoding' });
    }
    if (method === 'GET') {
      const value = store.get(key);
      if (value === undefined) return sendJson(res, 404, { error: 'no such key' });
      return send(res, 200, value, 'application/octet-stream');
    }
    if (method !== 'PUT') {
      res.setHeader('Allow', 'GET, PUT');
      return sendJson(res, 405, { error: `${method} is not allowed here` });
    }
    const body = await readBody(req, store.maxValueBytes);
    if (body === undefined) {
      // The rest of the body is not read: close the connection after this answer.
      res.shouldKeepAlive = false;
      return sendJson(res, 413, { error: `a value is at most ${store.maxValueBytes} bytes` });
    }
    // The answer is written only after the store has fsynced the batch holding this put.
    const revision = await store.put(key, body);
    return sendJson(res, 200, { revision });
  }

  const drainable: Drainable = {
    async drain(context) {
      // HTTP first: PUTs on connections still open reach an open store and are acknowledged (header above).
      const report = await drainer.drain(context);
      // The supervisor left mid-drain: resumeAfterAbort comes next and the connections were kept, so do not
      // start refusing writes (their PUTs would get 503 for nothing).
      if (handoffAbandoned(context.signal)) return report;
      // Then no connection is left; every accepted put is fsynced before drain reports done (docs/protocol.md §7).
      await store.drainWrites();
      return report;
    },
    seal: () => store.seal(),
    async resumeAfterAbort() {
      // Writers before accept: a request accepted first would be refused with 503 for nothing. But accept
      // again even when the store cannot reopen (a failed disk): reads still work, writes get an error, and
      // the service is not left with nobody accepting.
      try {
        await store.reopen();
      } finally {
        await drainer.resume();
      }
    },
    async snapshotState() {
      const lastRevisionPerShard = [BigInt(store.revision)];
      return { shardCount: 1, openConns: drainer.openConnections, lastRevisionPerShard };
    },
  };

  function readiness(): ReadinessSnapshot {
    const address = server.address();
    return {
      listeningOn: address === null ? [] : [formatAddress(address)],
      healthzOk: store.state === 'open',
      advertisedRevisionPerShard: [BigInt(store.revision)],
    };
  }

  return { server, drainer, drainable, readiness };
}

function formatAddress(address: string | AddressInfo): string {
  if (typeof address === 'string') return address;
  return address.family === 'IPv6'
    ? `[${address.address}]:${address.port}`
    : `${address.address}:${address.port}`;
}

/** The body, or undefined as soon as it exceeds `limit` bytes (from Content-Length or while reading). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  if (Number(req.headers['content-length'] ?? 0) > limit) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData);
      resolve(undefined);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

function fail(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // Anything but a StoreError is a request aborted by its client or a failed store (Io): a 500, and
  // nothing was acknowledged.
  let status = 500;
  if (error instanceof StoreError) {
    status = { WritesRefused: 503, TooLarge: 413, BadKey: 400, Corrupt: 500, TooManyKeys: 507 }[error.code];
    if (status === 503) res.setHeader('Retry-After', RETRY_AFTER_SECONDS);
  }
  sendJson(res, status, { error: error instanceof Error ? error.message : String(error) });
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, `${JSON.stringify(value)}\n`, 'application/json');
}

function send(res: ServerResponse, status: number, body: string | Buffer, type = 'text/plain'): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': bytes.length });
  res.end(bytes);
}
