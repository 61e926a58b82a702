// WebSocket load with the `ws` client: long-lived clients that send one message at a time and wait for its
// ack, reconnecting after a close 1001 and sending again what was not acknowledged; and clients with a new
// connection per message. Every acknowledged id is remembered, to be found in the daemon's log afterwards.

import WebSocket from 'ws';
import { Declined, ServerLoad } from './load-stats.js';

export interface WsLoadOptions {
  readonly port: number;
  readonly longLivedClients: number;
  readonly newConnectionClients: number;
  readonly timeoutMs?: number;
}

const LONG = 'ws (long-lived)';
const FRESH = 'ws (new connection)';

export class WsLoad extends ServerLoad {
  /** Every message id the server acknowledged. */
  readonly acked = new Set<string>();
  readonly #options: WsLoadOptions;
  readonly #open = new Set<WebSocket>();
  #next = 0;

  constructor(options: WsLoadOptions) {
    super();
    this.#options = options;
  }

  start(): this {
    for (let i = 0; i < this.#options.longLivedClients; i++) {
      let current: WebSocket | undefined;
      this.loop(LONG, 1, async () => {
        const id = `l${i}-${this.#next++}`;
        await this.request(LONG, async () => {
          if (current?.readyState !== WebSocket.OPEN) current = await this.#connect(LONG);
          await this.#send(current, id);
        });
      });
    }
    this.loop(FRESH, this.#options.newConnectionClients, async () => {
      const id = `n-${this.#next++}`;
      await this.request(FRESH, async () => {
        const ws = await this.#connect(FRESH);
        try {
          await this.#send(ws, id);
        } finally {
          ws.close(1000);
        }
      });
    });
    return this;
  }

  /** Opens a WebSocket; a 503 answer to the upgrade (a draining server) is a decline. */
  #connect(client: string): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${this.#options.port}/`, {
        handshakeTimeout: this.#options.timeoutMs ?? 10_000,
      });
      this.#open.add(ws);
      let opened = false;
      ws.once('open', () => {
        opened = true;
        resolve(ws);
      });
      ws.on('error', (error) => {
        if (opened) return; // reported by the close code
        if (/Unexpected server response: 503/.test(error.message)) {
          reject(new Declined('ws: upgrade answered 503 during a drain'));
        } else reject(error);
      });
      ws.once('close', (code) => {
        this.#open.delete(ws);
        // 1000: our own close; 1001: the server going away. Anything else (1006: the connection broke).
        if (opened && code !== 1000 && code !== 1001) this.fail(client, `closed with ${code}`);
      });
    });
  }

  /** Sends `id` and waits for its ack; a close 1001 first means it was not processed: a decline. */
  #send(ws: WebSocket, id: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error('TIMEOUT')), this.#options.timeoutMs ?? 10_000);
      const onMessage = (data: WebSocket.RawData) => {
        if (String(data) === `ack ${id}`) {
          this.acked.add(id);
          done();
        }
      };
      const onClose = (code: number) => {
        done(
          code === 1001 ? new Declined('ws: close 1001 before the ack') : new Error(`closed with ${code}`),
        );
      };
      const done = (error?: Error) => {
        clearTimeout(timer);
        ws.off('message', onMessage);
        ws.off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      ws.on('message', onMessage);
      ws.once('close', onClose);
      ws.send(id);
    });
  }

  protected async close(): Promise<void> {
    await Promise.all(
      [...this.#open].map(
        (ws) =>
          new Promise<void>((resolve) => {
            ws.once('close', () => resolve());
            ws.close(1000);
          }),
      ),
    );
  }
}
