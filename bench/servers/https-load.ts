// HTTPS load: undici over kept-alive TLS connections and node:https with a new TLS connection (a full
// handshake) per request. Every answer must be a 200 with a pid; anything else fails.

import https from 'node:https';
import { Agent, request } from 'undici';
import { ServerLoad } from './load-stats.js';

export interface HttpsLoadOptions {
  readonly port: number;
  readonly ca: Buffer;
  readonly keepAliveClients: number;
  readonly newConnectionClients: number;
  readonly timeoutMs?: number;
}

export class HttpsLoad extends ServerLoad {
  readonly #agent: Agent;
  readonly #options: HttpsLoadOptions;

  constructor(options: HttpsLoadOptions) {
    super();
    this.#options = options;
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.#agent = new Agent({
      connect: { ca: options.ca },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  }

  start(): this {
    const url = `https://localhost:${this.#options.port}/`;
    this.loop('undici (keep-alive)', this.#options.keepAliveClients, async () => {
      await this.request('undici (keep-alive)', async () => {
        const res = await request(url, { dispatcher: this.#agent });
        const body = await res.body.text();
        if (res.statusCode !== 200 || !/^\d+$/.test(body)) throw new Error(`HTTP ${res.statusCode}`);
      });
    });
    this.loop('node:https (new connection)', this.#options.newConnectionClients, async () => {
      await this.request('node:https (new connection)', () => this.#fresh());
    });
    return this;
  }

  #fresh(): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = https.get(
        {
          host: '127.0.0.1',
          servername: 'localhost',
          port: this.#options.port,
          ca: this.#options.ca,
          agent: false,
          timeout: this.#options.timeoutMs ?? 10_000,
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => {
            if (res.statusCode === 200 && /^\d+$/.test(body)) resolve();
            else reject(new Error(`HTTP ${res.statusCode}`));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', reject);
    });
  }

  protected async close(): Promise<void> {
    await this.#agent.close();
  }
}
