// The HTTP/1.1 connections of an http or https server during a drain: `Connection: close` on every response,
// idle connections closed after a quiet period, and TLS handshakes in progress allowed to finish first.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type net from 'node:net';
import type { Socket } from 'node:net';
import type tls from 'node:tls';
import { isTlsServer } from './listener.js';
import { QuietTimer } from './quiet-timer.js';
import type { ConnectionGroup, ServerDrain } from './server-drain.js';

/*
 * Which socket is which. On a plain http server the socket of 'connection' is the one requests arrive on.
 * On https (a tls.Server) 'connection' gives the raw TCP socket, still in its TLS handshake; requests
 * arrive on the TLSSocket of 'secureConnection', which wraps it. The raw socket is what counts as open (it
 * exists from accept to close, handshake included, and emits 'close' with the TLS one — measured on Node
 * 20), so a drain waits for handshakes in progress: they complete, and their connection is then drained
 * like any other. Nothing is ever done to a socket in its handshake except destroying it at the deadline.
 */

/** Per request-socket bookkeeping. */
interface Conn {
  readonly inFlight: Set<ServerResponse>;
  readonly quiet: QuietTimer;
}

/** The group of HTTP/1.1 connections of one `http.Server` or `https.Server`. */
export class Http1Connections implements ConnectionGroup {
  readonly #core: ServerDrain;
  readonly #quietMs: number;
  /** Raw TCP sockets from accept to close: what counts as open. */
  readonly #transports = new Set<Socket>();
  /** The sockets requests arrive on (the TLS ones on https), once usable. */
  readonly #conns = new Map<Socket, Conn>();

  constructor(server: tls.Server | net.Server, core: ServerDrain, quietMs: number) {
    this.#core = core;
    this.#quietMs = quietMs;
    server.on('connection', (socket: Socket) => this.#onTransport(socket));
    const secure = isTlsServer(server);
    server.on(secure ? 'secureConnection' : 'connection', (socket: Socket) => this.#onConnection(socket));
    // Runs before the application's handler, so `Connection: close` is decided before any header is written.
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) =>
      this.#onRequest(req, res),
    );
  }

  get size(): number {
    return this.#transports.size;
  }

  beginClosing(): void {
    for (const [socket, conn] of this.#conns) this.#closeWhenDone(socket, conn);
  }

  stopClosing(): void {
    for (const conn of this.#conns.values()) conn.quiet.clear();
  }

  destroyAll(): void {
    for (const socket of this.#conns.keys()) socket.destroy();
    for (const socket of this.#transports) socket.destroy();
  }

  /**
   * Stops draining `socket` as HTTP: it was upgraded (WebSocket) and another group owns it now. With
   * `released`, it no longer counts as open here either.
   */
  forget(socket: Socket, released: boolean): void {
    const conn = this.#conns.get(socket);
    conn?.quiet.clear();
    this.#conns.delete(socket);
    if (!released) return;
    // On https the raw socket under the TLS one is its private `_parent` (Node 20); without it the raw
    // socket stays counted until it closes, which happens with the upgraded connection.
    const raw = (socket as { _parent?: Socket })._parent ?? socket;
    if (this.#transports.delete(raw)) this.#core.connectionClosed();
  }

  #onTransport(socket: Socket): void {
    this.#transports.add(socket);
    socket.once('close', () => {
      this.#transports.delete(socket);
      this.#core.connectionClosed();
    });
  }

  #onConnection(socket: Socket): void {
    const conn: Conn = {
      inFlight: new Set(),
      quiet: new QuietTimer(
        this.#quietMs,
        () => socket.bytesRead,
        () => this.#closeIfQuiet(socket, conn),
      ),
    };
    this.#conns.set(socket, conn);
    socket.once('close', () => {
      conn.quiet.clear();
      this.#conns.delete(socket);
    });
    // Accepted (or done with its handshake) after the drain began: the same quiet period as any idle one.
    if (this.#core.closing) this.#closeWhenDone(socket, conn);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const conn = this.#conns.get(socket);
    if (!conn) return;
    conn.quiet.clear();
    conn.inFlight.add(res);
    // Node writes `Connection: close` and ends the socket after this response (verified on Node 20).
    if (this.#core.closing) res.shouldKeepAlive = false;
    res.once('close', () => {
      conn.inFlight.delete(res);
      if (this.#core.closing && conn.inFlight.size === 0) this.#armQuiet(socket, conn);
    });
  }

  /** Drain start (or a late connection): in-flight responses not yet started close their socket when done. */
  #closeWhenDone(socket: Socket, conn: Conn): void {
    for (const res of conn.inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
    if (conn.inFlight.size === 0) this.#armQuiet(socket, conn);
  }

  #armQuiet(socket: Socket, conn: Conn): void {
    if (socket.destroyed || socket.writableEnded) return;
    conn.quiet.arm();
  }

  #closeIfQuiet(socket: Socket, conn: Conn): void {
    if (!this.#core.closing || conn.inFlight.size > 0 || socket.destroyed || socket.writableEnded) return;
    // FIN first, then close once it is flushed — what Node does after a `Connection: close` response.
    socket.destroySoon();
  }
}
