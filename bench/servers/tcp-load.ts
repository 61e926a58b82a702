// Raw TCP load for the line protocol of the servers daemon: long-lived connections that send one line at a
// time and wait for its ack (reconnecting after the server's FIN, and sending again a line that got no ack),
// and a new connection per line. An ack must echo the line; a reset, refusal or timeout fails.

import net from 'node:net';
import { Declined, ServerLoad } from './load-stats.js';

export interface TcpLoadOptions {
  readonly port: number;
  readonly longLivedClients: number;
  readonly newConnectionClients: number;
  readonly timeoutMs?: number;
}

const LONG = 'tcp (long-lived)';
const FRESH = 'tcp (new connection)';

/** One connection and the lines it has received but not consumed yet. */
interface Line {
  readonly socket: net.Socket;
  buffered: string;
  ended: boolean;
  /** Wakes the waiter when data, the end or an error arrives. */
  wake: (() => void) | undefined;
  error: Error | undefined;
}

export class TcpLoad extends ServerLoad {
  readonly #options: TcpLoadOptions;
  readonly #open = new Set<net.Socket>();
  #next = 0;

  constructor(options: TcpLoadOptions) {
    super();
    this.#options = options;
  }

  start(): this {
    for (let i = 0; i < this.#options.longLivedClients; i++) {
      let current: Line | undefined;
      this.loop(LONG, 1, async () => {
        const id = `l${i}-${this.#next++}`;
        await this.request(LONG, async () => {
          if (!current || current.ended || current.error) current = await this.#connect();
          await this.#send(current, id);
        });
      });
    }
    this.loop(FRESH, this.#options.newConnectionClients, async () => {
      const id = `n-${this.#next++}`;
      await this.request(FRESH, async () => {
        const line = await this.#connect();
        try {
          await this.#send(line, id);
        } finally {
          line.socket.end();
        }
      });
    });
    return this;
  }

  #connect(): Promise<Line> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.#options.port, '127.0.0.1');
      this.#open.add(socket);
      const line: Line = { socket, buffered: '', ended: false, wake: undefined, error: undefined };
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        line.buffered += chunk;
        line.wake?.();
      });
      socket.on('end', () => {
        line.ended = true;
        socket.end();
        line.wake?.();
      });
      socket.on('error', (error) => {
        line.error = error;
        line.wake?.();
        reject(error);
      });
      socket.once('close', () => this.#open.delete(socket));
      socket.once('connect', () => resolve(line));
    });
  }

  /** Sends one line and waits for its ack; the server's FIN before the ack is a decline (never processed). */
  async #send(line: Line, id: string): Promise<void> {
    line.socket.write(`${id}\n`);
    const deadline = Date.now() + (this.#options.timeoutMs ?? 10_000);
    for (;;) {
      const newline = line.buffered.indexOf('\n');
      if (newline >= 0) {
        const reply = line.buffered.slice(0, newline);
        line.buffered = line.buffered.slice(newline + 1);
        if (reply !== `ack ${id}`) throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
        return;
      }
      if (line.error) throw line.error;
      if (line.ended) throw new Declined('tcp: FIN before the ack');
      if (Date.now() > deadline) throw Object.assign(new Error('timeout'), { code: 'TIMEOUT' });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        line.wake = () => {
          clearTimeout(timer);
          line.wake = undefined;
          resolve();
        };
      });
    }
  }

  protected async close(): Promise<void> {
    for (const socket of this.#open) socket.end();
  }
}
