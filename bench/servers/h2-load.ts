// HTTP/2 load: Node's http2 client over one shared, multiplexed session (replaced when it gets a GOAWAY) and
// with a new session per request, and undici with allowH2 over TLS. A stream refused by a GOAWAY (above its
// last stream id: never processed) is sent again, as RFC 9113 §6.8 allows; any other error fails.

import http2 from 'node:http2';
import { Agent, request } from 'undici';
import { Declined, ServerLoad } from './load-stats.js';

export interface H2LoadOptions {
  readonly port: number;
  /** The CA for TLS (h2); none for cleartext h2c. */
  readonly ca?: Buffer;
  readonly sharedSessionClients: number;
  readonly newSessionClients: number;
  /** undici with allowH2 (TLS only). */
  readonly undiciClients: number;
  readonly timeoutMs?: number;
}

const REFUSED_STREAM = http2.constants.NGHTTP2_REFUSED_STREAM;

export class H2Load extends ServerLoad {
  readonly #options: H2LoadOptions;
  readonly #authority: string;
  readonly #undici: Agent | undefined;
  #shared: http2.ClientHttp2Session | undefined;

  constructor(options: H2LoadOptions) {
    super();
    this.#options = options;
    this.#authority = `${options.ca ? 'https' : 'http'}://localhost:${options.port}`;
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.#undici = options.ca
      ? new Agent({
          allowH2: true,
          connect: { ca: options.ca },
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        })
      : undefined;
  }

  start(): this {
    this.loop('node:http2 (shared session)', this.#options.sharedSessionClients, async () => {
      await this.request('node:http2 (shared session)', () => this.#get(this.#sharedSession()));
    });
    this.loop('node:http2 (new session)', this.#options.newSessionClients, async () => {
      await this.request('node:http2 (new session)', async () => {
        const session = this.#connect();
        try {
          await this.#get(session);
        } finally {
          session.close();
        }
      });
    });
    if (this.#undici) {
      const agent = this.#undici;
      this.loop('undici allowH2', this.#options.undiciClients, async () => {
        await this.request('undici allowH2', async () => {
          try {
            const res = await request(`${this.#authority}/`, { dispatcher: agent });
            const body = await res.body.text();
            if (res.statusCode !== 200 || !/^\d+$/.test(body)) throw new Error(`HTTP ${res.statusCode}`);
          } catch (error) {
            // undici 7 fails what it has in flight on any GOAWAY, even NO_ERROR (its client-h2.js): the
            // server said it is going away, so the request is sent again, as undici's RetryAgent would.
            if (/GOAWAY/.test((error as Error).message)) throw new Declined('undici: GOAWAY received');
            throw error;
          }
        });
      });
    }
    return this;
  }

  #connect(): http2.ClientHttp2Session {
    const session = http2.connect(this.#authority, this.#options.ca ? { ca: this.#options.ca } : {});
    session.on('error', () => {}); // surfaces on the streams too
    return session;
  }

  /** The shared session, replaced once it got a GOAWAY or closed. */
  #sharedSession(): http2.ClientHttp2Session {
    const current = this.#shared;
    if (current && !current.closed && !current.destroyed) return current;
    const session = this.#connect();
    session.once('goaway', () => {
      if (this.#shared === session) this.#shared = undefined;
    });
    this.#shared = session;
    return session;
  }

  #get(session: http2.ClientHttp2Session): Promise<void> {
    return new Promise((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request({ ':path': '/' });
      } catch (error) {
        // The session got its GOAWAY between our check and now: nothing was sent.
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_INVALID_SESSION') {
          reject(new Declined(`node:http2: ${code}`));
        } else reject(error);
        return;
      }
      stream.setTimeout(this.#options.timeoutMs ?? 10_000, () =>
        stream.close(http2.constants.NGHTTP2_CANCEL),
      );
      let status = 0;
      let body = '';
      stream.setEncoding('utf8');
      stream.on('response', (headers) => {
        status = Number(headers[':status']);
      });
      stream.on('data', (chunk: string) => {
        body += chunk;
      });
      stream.on('end', () => {
        if (status === 200 && /^\d+$/.test(body)) resolve();
        else reject(new Error(`HTTP ${status}`));
      });
      stream.on('error', (error: NodeJS.ErrnoException) => {
        if (stream.rstCode === REFUSED_STREAM)
          reject(new Declined('node:http2: REFUSED_STREAM after GOAWAY'));
        else reject(error);
      });
    });
  }

  protected async close(): Promise<void> {
    this.#shared?.close();
    await this.#undici?.close();
  }
}
