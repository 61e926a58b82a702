// HTTP load for the demo and the benchmark: keep-alive writers and readers and new-connection clients against
// the kv daemon, counting every request by kind and remembering every acknowledged write so it can be read
// back later. Readers ask for /healthz until a write was acknowledged, so readers alone load any daemon.

import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';

export type RequestKind =
  | 'write (keep-alive)'
  | 'read (keep-alive)'
  | 'write (new connection)'
  | 'read (new connection)';

export interface KindStats {
  sent: number;
  ok: number;
  failed: number;
  /**
   * Requests sent again because the server closed a kept-alive connection as they went out on it: nothing
   * of them was processed (no response began), and HTTP lets a client retry that (RFC 9112 §9.3.1), as
   * undici and browsers do. Each is counted once, under its final result as well.
   */
  retried: number;
  /** Failure reasons and how often each happened. */
  errors: Record<string, number>;
}

export interface Sample {
  /** ms since the load started, when the request was sent */
  readonly at: number;
  readonly latencyMs: number;
  readonly ok: boolean;
  /** Why it failed (`ECONNRESET`, `HTTP 503`, …). */
  readonly reason?: string;
}

/** How many client loops of each kind `start` runs. */
export interface LoadProfile {
  readonly keepAliveWriters: number;
  readonly keepAliveReaders: number;
  readonly freshWriters: number;
  readonly freshReaders: number;
}

export interface DemoLoadOptions {
  /** A request with no complete answer after this long fails as `TIMEOUT`. Default: 15000. */
  readonly requestTimeoutMs?: number;
  /**
   * A loop whose request failed waits this long before its next one, as a client with a retry delay does;
   * 0 retries at once (a refused connection then fails thousands of times a second). Default: 0.
   */
  readonly pauseAfterFailureMs?: number;
}

export class DemoLoad {
  readonly stats = new Map<RequestKind, KindStats>();
  /** key → value of every write the daemon acknowledged (200 with a revision). */
  readonly acked = new Map<string, string>();
  readonly samples: Sample[] = [];
  /** Reads that returned something other than the last acknowledged value. */
  wrongReads = 0;
  /** The keys of `acked`, for picking one at random without copying the map. */
  readonly #ackedKeys: string[] = [];
  readonly #port: number;
  readonly #requestTimeoutMs: number;
  readonly #pauseAfterFailureMs: number;
  readonly #start = performance.now();
  readonly #keepAlive = new http.Agent({ keepAlive: true, maxSockets: 64 });
  #running = true;
  #loops: Promise<void>[] = [];

  constructor(port: number, options: DemoLoadOptions = {}) {
    this.#port = port;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 15_000;
    this.#pauseAfterFailureMs = options.pauseAfterFailureMs ?? 0;
  }

  /** Starts the profile's loops; they run until `stop`. */
  start(profile: LoadProfile): void {
    for (let i = 0; i < profile.keepAliveWriters; i++)
      this.#loops.push(this.#writeLoop(`w${i}`, this.#keepAlive, 'write (keep-alive)'));
    for (let i = 0; i < profile.keepAliveReaders; i++)
      this.#loops.push(this.#readLoop(this.#keepAlive, 'read (keep-alive)'));
    for (let i = 0; i < profile.freshWriters; i++)
      this.#loops.push(this.#writeLoop(`n${i}`, false, 'write (new connection)'));
    for (let i = 0; i < profile.freshReaders; i++)
      this.#loops.push(this.#readLoop(false, 'read (new connection)'));
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
    this.#keepAlive.destroy();
  }

  elapsedMs(): number {
    return performance.now() - this.#start;
  }

  /** Load time `atMs` (as in `samples`) as a Unix epoch ms. */
  toUnixMs(atMs: number): number {
    return performance.timeOrigin + this.#start + atMs;
  }

  /** Reads every acknowledged key back over fresh connections; returns the keys missing or different. */
  async verify(): Promise<string[]> {
    const lost: string[] = [];
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const entries = [...this.acked];
    for (let i = 0; i < entries.length; i += 64) {
      await Promise.all(
        entries.slice(i, i + 64).map(async ([key, value]) => {
          const reply = await this.#request('GET', `/kv/${encodeURIComponent(key)}`, undefined, agent).catch(
            () => undefined,
          );
          if (reply?.status !== 200 || reply.body !== value) lost.push(key);
        }),
      );
    }
    agent.destroy();
    return lost;
  }

  async #writeLoop(prefix: string, agent: http.Agent | false, kind: RequestKind): Promise<void> {
    for (let n = 0; this.#running; n++) {
      const key = `${prefix}-${n}`;
      const value = `${key}:${Math.random().toString(36).slice(2)}`;
      const reply = await this.#timed(kind, () => this.#request('PUT', `/kv/${key}`, value, agent));
      if (reply?.status === 200 && /"revision":\d+/.test(reply.body)) {
        this.acked.set(key, value);
        this.#ackedKeys.push(key); // keys are never reused, so each is new
      }
    }
  }

  async #readLoop(agent: http.Agent | false, kind: RequestKind): Promise<void> {
    while (this.#running) {
      const key = this.#ackedKeys[Math.floor(Math.random() * this.#ackedKeys.length)];
      if (key === undefined) {
        await this.#timed(kind, () => this.#request('GET', '/healthz', undefined, agent));
        continue;
      }
      const expected = this.acked.get(key);
      const reply = await this.#timed(kind, () => this.#request('GET', `/kv/${key}`, undefined, agent));
      if (reply?.status === 200 && reply.body !== expected) this.wrongReads++;
    }
  }

  /** Runs one request, counting it under `kind`; returns the reply when it was a 2xx. */
  async #timed(kind: RequestKind, run: () => Promise<{ status: number; body: string }>) {
    const stats = this.stats.get(kind) ?? { sent: 0, ok: 0, failed: 0, retried: 0, errors: {} };
    this.stats.set(kind, stats);
    stats.sent++;
    const at = this.elapsedMs();
    let reason: string | undefined;
    let reply: { status: number; body: string } | undefined;
    try {
      try {
        reply = await run();
      } catch (error) {
        if (!(error as { closedBeforeResponse?: boolean }).closedBeforeResponse) throw error;
        stats.retried++;
        reply = await run();
      }
      if (reply.status < 200 || reply.status > 299) reason = `HTTP ${reply.status}`;
    } catch (error) {
      reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    }
    const ok = reason === undefined;
    this.samples.push({ at, latencyMs: this.elapsedMs() - at, ok, ...(reason !== undefined && { reason }) });
    if (ok) {
      stats.ok++;
      return reply;
    }
    stats.failed++;
    stats.errors[reason!] = (stats.errors[reason!] ?? 0) + 1;
    if (this.#pauseAfterFailureMs > 0) await delay(this.#pauseAfterFailureMs);
    return undefined;
  }

  #request(method: string, path: string, body: string | undefined, agent: http.Agent | false) {
    return new Promise<{ status: number; body: string }>((resolve, reject) => {
      let answered = false;
      const req = http.request(
        { host: '127.0.0.1', port: this.#port, method, path, agent, timeout: this.#requestTimeoutMs },
        (res) => {
          answered = true;
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', (error: NodeJS.ErrnoException) => {
        // A kept-alive connection the server closed as this request went out on it (Node's documented
        // case for request.reusedSocket): not a byte of an answer, so the request was never processed.
        const closed = error.code === 'ECONNRESET' || error.message === 'socket hang up';
        if (req.reusedSocket && !answered && closed) Object.assign(error, { closedBeforeResponse: true });
        reject(error);
      });
      req.end(body);
    });
  }
}
