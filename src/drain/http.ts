// Drains a node:http or node:https server without a single reset (docs/operations.md, "Draining HTTP"), for a
// Drainable's drain/resumeAfterAbort (docs/protocol.md §7). Stopping accept closes this process's copy of the
// listening fd only: the supervisor's copy keeps the kernel socket and its accept queue open, so new clients
// wait for the successor.

import type http from 'node:http';
import type https from 'node:https';
import type { Socket } from 'node:net';
import { ServerDrainer } from './drainer.js';
import { Http1Connections } from './http1.js';
import { DRAIN_DEFAULTS, type ListenerOptions, type QuietOptions, resolveQuietMs } from './options.js';
import type { ServerDrain } from './server-drain.js';

/** Options of {@link HttpDrain} and {@link HttpsDrain}. */
export interface HttpDrainOptions extends ListenerOptions, QuietOptions {}

export const HTTP_DRAIN_DEFAULTS = DRAIN_DEFAULTS;

/** An HTTP/1.1 server: node:http's, or node:https's (a tls.Server). */
export type HttpServer = http.Server | https.Server;

/** What a WebSocketDrain needs from the drainer of the server it shares (not public API). */
export interface UpgradeHost {
  readonly server: HttpServer;
  readonly core: ServerDrain;
  /** See Http1Connections.forget. */
  forget(socket: Socket, released: boolean): void;
}

/** The key of a drainer's {@link UpgradeHost}; not exported from the package. */
export const kUpgradeHost = Symbol('handoff.upgradeHost');

/**
 * Tracks one `http.Server` or `https.Server` (HTTP/1.1) so it can be drained and resumed: during a drain
 * every response says `Connection: close`, connections with nothing in flight close once quiet for
 * `drainQuietMs`, and on https a TLS handshake in progress completes before its connection is drained.
 * Construct it before the server listens (connections accepted earlier would be invisible to the drain).
 * Upgraded connections are left alone when a {@link WebSocketDrain} routes them; otherwise they are
 * treated like idle ones: ended once quiet, destroyed at the deadline.
 */
export class HttpDrain extends ServerDrainer {
  readonly #server: HttpServer;
  readonly #http1: Http1Connections;

  /** Throws `InvalidOption` for a bad option or a server that already listens. */
  constructor(server: HttpServer, options: HttpDrainOptions = {}) {
    const quietMs = resolveQuietMs(options);
    super(server, options, new.target.name);
    this.#server = server;
    this.#http1 = new Http1Connections(server, this.core, quietMs);
    this.core.add(this.#http1);
  }

  /** @internal For WebSocketDrain. */
  [kUpgradeHost](): UpgradeHost {
    return {
      server: this.#server,
      core: this.core,
      forget: (socket, released) => this.#http1.forget(socket, released),
    };
  }
}
