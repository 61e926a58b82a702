// Drains a node:http2 server, cleartext (h2c) or secure: GOAWAY carrying the last stream id to each session,
// in-flight streams finish, sessions end with a FIN. TLS handshakes in progress complete first, as on https.

import type http2 from 'node:http2';
import type { Socket } from 'node:net';
import { ServerDrainer } from './drainer.js';
import { type ListenerOptions, type QuietOptions, resolveQuietMs } from './options.js';
import { QuietTimer } from './quiet-timer.js';
import type { ConnectionGroup, ServerDrain } from './server-drain.js';

/*
 * When each session gets its GOAWAY. `session.close()` sends GOAWAY(NO_ERROR) with the last stream id the
 * server processed, lets those streams finish, then ends the socket gracefully (FIN, reading until the
 * peer closes). A stream the client opened after that id is never processed, and the GOAWAY tells the
 * client so (RFC 9113 §6.8): it may retry it elsewhere. Node has no "shutdown notice" (a first GOAWAY with
 * 2^31-1), so there is always such a window; it is kept small and only where needed:
 *   - a session with streams open gets its GOAWAY as the drain begins (it will not fall quiet by itself);
 *   - an idle session gets it once it has opened no stream for `drainQuietMs`, decided in the check phase
 *     — and at once if a stream arrives first (that stream is then covered by the last stream id);
 *   - a session that arrives during the drain is treated like an idle one, so the requests its client
 *     sends with the connection preface are served.
 * Some clients fail the requests they have in flight on any GOAWAY instead of waiting for them (undici 7:
 * see docs/operations.md); with those, an idle session never costs a request, a busy one may.
 */

/** Options of {@link Http2Drain}. */
export interface Http2DrainOptions extends ListenerOptions, QuietOptions {}

interface Session {
  readonly session: http2.ServerHttp2Session;
  openStreams: number;
  /** Streams opened so far: the quiet timer's measure of activity. */
  streamsSeen: number;
  readonly quiet: QuietTimer;
}

/** The sessions of one HTTP/2 server, and the raw sockets under them (handshakes included). */
class Http2Sessions implements ConnectionGroup {
  readonly #core: ServerDrain;
  readonly #quietMs: number;
  readonly #transports = new Set<Socket>();
  readonly #sessions = new Map<http2.ServerHttp2Session, Session>();

  constructor(server: http2.Http2Server | http2.Http2SecureServer, core: ServerDrain, quietMs: number) {
    this.#core = core;
    this.#quietMs = quietMs;
    server.on('connection', (socket: Socket) => {
      this.#transports.add(socket);
      socket.once('close', () => {
        this.#transports.delete(socket);
        core.connectionClosed();
      });
    });
    server.on('session', (session: http2.ServerHttp2Session) => this.#onSession(session));
  }

  get size(): number {
    return this.#transports.size;
  }

  beginClosing(): void {
    for (const entry of this.#sessions.values()) {
      if (entry.openStreams > 0) this.#goAway(entry);
      else entry.quiet.arm();
    }
  }

  stopClosing(): void {
    for (const entry of this.#sessions.values()) entry.quiet.clear();
  }

  destroyAll(): void {
    for (const { session } of this.#sessions.values()) session.destroy();
    for (const socket of this.#transports) socket.destroy();
  }

  #onSession(session: http2.ServerHttp2Session): void {
    const entry: Session = {
      session,
      openStreams: 0,
      streamsSeen: 0,
      quiet: new QuietTimer(
        this.#quietMs,
        () => entry.streamsSeen,
        () => this.#goAway(entry),
      ),
    };
    this.#sessions.set(session, entry);
    session.once('close', () => {
      entry.quiet.clear();
      this.#sessions.delete(session);
    });
    session.on('stream', (stream: http2.ServerHttp2Stream) => {
      entry.openStreams++;
      entry.streamsSeen++;
      stream.once('close', () => {
        entry.openStreams--;
      });
      // A stream on an idle session during the drain: it is processed, and the GOAWAY that follows at
      // once (covering it) spares the quiet wait.
      if (this.#core.closing) this.#goAway(entry);
    });
    if (this.#core.closing) entry.quiet.arm();
  }

  #goAway(entry: Session): void {
    entry.quiet.clear();
    const { session } = entry;
    if (session.closed || session.destroyed) return;
    session.close();
  }
}

/**
 * Tracks one `http2.Http2Server` (h2c) or `Http2SecureServer` so it can be drained and resumed: each
 * session gets a GOAWAY with the last stream id it processed (see the comment at the top of this file
 * for when), its open streams finish, and it ends with a FIN; a resume leaves sessions that got their
 * GOAWAY to end (their clients reconnect here). Construct it before the server listens.
 * An `allowHTTP1` secure server's HTTP/1.1 connections are not drained gracefully (they are destroyed at
 * the deadline): serve HTTP/1.1 from an https server with {@link HttpsDrain} instead. Throws
 * `InvalidOption` for a bad option or a server already listening.
 */
export class Http2Drain extends ServerDrainer {
  constructor(server: http2.Http2Server | http2.Http2SecureServer, options: Http2DrainOptions = {}) {
    const quietMs = resolveQuietMs(options);
    super(server, options, 'Http2Drain');
    this.core.add(new Http2Sessions(server, this.core, quietMs));
  }
}
