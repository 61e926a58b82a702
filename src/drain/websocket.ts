// Drains the WebSockets of a `ws` WebSocketServer that shares an http(s) server with an HttpDrain: close 1001
// (going away) once each socket's in-flight handlers finish, and a clean 503 for upgrades during the drain.

import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HandoffError } from '../errors.js';
import { invalidOption } from '../options.js';
import { type HttpDrain, kUpgradeHost, type UpgradeHost } from './http.js';
import type { ConnectionGroup } from './server-drain.js';

/*
 * Why `ws` is not a dependency: the drainer needs five members of its API (below), so it is typed against
 * those and any ws 8 WebSocketServer fits; daemons without WebSockets do not install ws.
 *
 * Why the WebSocketServer must be in noServer mode: an upgrade request can arrive on a connection accepted
 * just before the drain stopped accepting. ws answers such requests cleanly only after its own close(),
 * which cannot be undone by a resume; and two 'upgrade' listeners on one server cannot agree on who
 * answers. So the drainer is the server's one 'upgrade' listener: it hands the request to
 * `handleUpgrade` while serving, and answers 503 + Retry-After itself during a drain.
 */

/** The member of a `ws` WebSocket the drainer uses. */
export interface WebSocketLike {
  readonly readyState: number;
  close(code?: number, reason?: string): void;
  terminate(): void;
  once(event: 'close', listener: () => void): unknown;
}

/** The members of a `ws` WebSocketServer (created with `{ noServer: true }`) the drainer uses. */
export interface WebSocketServerLike<W extends WebSocketLike> {
  readonly options?: { readonly noServer?: boolean };
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, callback: (ws: W) => void): void;
  emit(event: 'connection', ws: W, req: IncomingMessage): boolean;
}

/** Options of {@link WebSocketDrain}. */
export interface WebSocketDrainOptions {
  /** The close code sent to each client. Default: 1001 (going away: the client should reconnect). */
  readonly closeCode?: number;
  /** The close reason (at most 123 bytes). Default: 'server restarting'. */
  readonly closeReason?: string;
}

const OPEN = 1;

interface Client {
  inFlight: number;
}

/** The WebSockets of one server; closed by the drain of the HttpDrain they were attached to. */
class WebSockets<W extends WebSocketLike> implements ConnectionGroup {
  readonly clients = new Map<W, Client>();
  readonly #host: UpgradeHost;
  readonly #code: number;
  readonly #reason: string;

  constructor(host: UpgradeHost, code: number, reason: string) {
    this.#host = host;
    this.#code = code;
    this.#reason = reason;
  }

  get size(): number {
    return this.clients.size;
  }

  add(ws: W): void {
    this.clients.set(ws, { inFlight: 0 });
    ws.once('close', () => {
      this.clients.delete(ws);
      this.#host.core.connectionClosed();
    });
    if (this.#host.core.closing) this.closeIfDone(ws);
  }

  beginClosing(): void {
    for (const ws of this.clients.keys()) this.closeIfDone(ws);
  }

  stopClosing(): void {}

  destroyAll(): void {
    for (const ws of this.clients.keys()) ws.terminate();
  }

  /** During a drain: sends the close frame once nothing is in flight on `ws` (ws ignores a second close). */
  closeIfDone(ws: W): void {
    const client = this.clients.get(ws);
    if (!this.#host.core.closing || !client || client.inFlight > 0 || ws.readyState !== OPEN) return;
    ws.close(this.#code, this.#reason);
  }
}

/**
 * Attaches a `ws` WebSocketServer (created with `{ noServer: true }`) to the {@link HttpDrain} (or
 * HttpsDrain) of the server its upgrades arrive on, and routes those upgrades. From then on that
 * drainer's `drain()` also closes every WebSocket with `closeCode` once its in-flight handlers (run
 * through {@link WebSocketDrain.handle}) are done, waits for the closing handshakes, and terminates what
 * is left at the deadline; its `resume()` accepts upgrades again. An upgrade request that arrives during
 * the drain is answered `503 Service Unavailable` with `Retry-After: 0` and `Connection: close`, never
 * reset. Construct it before the server listens. Throws `InvalidOption` if the WebSocketServer is not in
 * noServer mode, or for a bad option.
 */
export class WebSocketDrain<W extends WebSocketLike> {
  readonly #group: WebSockets<W>;

  constructor(wss: WebSocketServerLike<W>, http: HttpDrain, options: WebSocketDrainOptions = {}) {
    if (wss.options?.noServer !== true) {
      throw new HandoffError(
        'InvalidOption',
        'WebSocketDrain needs a WebSocketServer created with { noServer: true }: it routes the upgrades itself, so it can answer those that arrive during a drain',
        { option: 'wss' },
      );
    }
    const code = options.closeCode ?? 1001;
    if (!Number.isInteger(code) || code < 1000 || code > 4999 || code === 1005 || code === 1006) {
      throw invalidOption('closeCode', 'a WebSocket close code a server may send (1000–4999)', code);
    }
    const reason = options.closeReason ?? 'server restarting';
    if (typeof reason !== 'string' || Buffer.byteLength(reason) > 123) {
      throw invalidOption('closeReason', 'a string of at most 123 bytes', reason);
    }
    const host = http[kUpgradeHost]();
    this.#group = new WebSockets<W>(host, code, reason);
    host.core.add(this.#group);
    host.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      // The http drain stops treating this socket as HTTP now: no quiet close on an upgrade underway.
      host.forget(socket, false);
      if (host.core.closing) {
        refuseUpgrade(socket);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        host.forget(socket, true);
        this.#group.add(ws);
        wss.emit('connection', ws, req);
      });
    });
  }

  /** WebSockets currently open. */
  get openConnections(): number {
    return this.#group.size;
  }

  /**
   * Runs `handler` for a message received on `ws`, counted as in flight: a drain closes `ws` only after
   * it settles (so an acknowledgement the handler sends goes out before the close frame). Resolves with
   * the handler's result, or with `undefined` without running it when `ws` is no longer open (the close
   * frame is out: the message arrived after it, was never acknowledged, and its client sends it again to
   * the successor). Rejects as the handler does.
   */
  async handle<T>(ws: W, handler: () => T | Promise<T>): Promise<T | undefined> {
    const client = this.#group.clients.get(ws);
    if (ws.readyState !== OPEN) return undefined;
    if (client) client.inFlight++;
    try {
      return await handler();
    } finally {
      if (client) {
        client.inFlight--;
        this.#group.closeIfDone(ws);
      }
    }
  }
}

/** A clean refusal: a complete HTTP response and a FIN; the socket closes when the client closes it. */
function refuseUpgrade(socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(
    'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n',
  );
}
