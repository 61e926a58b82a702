// HttpsDrain: HttpDrain for an https.Server, checked at construction. The TLS-specific tracking (handshakes in
// progress, requests on the TLS socket) lives in http1.ts, shared with plain HTTP.

import type https from 'node:https';
import { HandoffError } from '../errors.js';
import { HttpDrain, type HttpDrainOptions } from './http.js';
import { isTlsServer } from './listener.js';

/**
 * {@link HttpDrain} for an `https.Server`: the same guarantees as over plain HTTP/1.1 (no reset, no refused
 * connection). The listener stops accepting before anything else, so a TLS handshake is either never
 * started here (it waits in the accept queue for the successor) or completes and its connection is
 * drained like any other; a handshake still unfinished at the deadline is destroyed and counted in
 * `openConnsRemaining`. Construct it before the server listens. Throws `InvalidOption` when `server` is not
 * a tls.Server (use {@link HttpDrain} for plain http), for a bad option, or a server already listening.
 */
export class HttpsDrain extends HttpDrain {
  constructor(server: https.Server, options: HttpDrainOptions = {}) {
    if (!isTlsServer(server)) {
      throw new HandoffError('InvalidOption', 'HttpsDrain needs an https.Server (a tls.Server)', {
        option: 'server',
      });
    }
    super(server, options);
  }
}
