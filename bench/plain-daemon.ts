// The benchmark's daemons as pm2 and systemd users run them today: no supervisor-held socket, no data-dir
// lock, no handoff. It listens on a port and, on SIGINT/SIGTERM or pm2's `shutdown` message, shuts down
// gracefully: stop accepting, answer what comes with `Connection: close`, close the store, exit 0.
//
//   node dist/bench/plain-daemon.js --app hello|kv --port N [--data-dir DIR]   (prints `listening <port>`)

import { createServer, type Server } from 'node:http';
import { parseArgs } from 'node:util';
import { createKvApp } from '../examples/kv/app.js';
import { Store } from '../examples/kv/store.js';

/** How long a shutdown waits for open connections before destroying them (http-terminator's default). */
const SHUTDOWN_GRACE_MS = 5000;

const { values } = parseArgs({
  options: {
    app: { type: 'string', default: 'hello' },
    port: { type: 'string', default: '8080' },
    'data-dir': { type: 'string' },
  },
});

let server: Server;
let closeData = async () => {};
if (values.app === 'kv') {
  if (!values['data-dir']) {
    process.stderr.write('plain-daemon: --app kv needs --data-dir\n');
    process.exit(64);
  }
  // Two instances of this (pm2 reload starts the new one before the old one stops) both open the log.
  const store = await Store.open(values['data-dir']);
  server = createKvApp({ store, buildId: 'kv-plain' }).server;
  closeData = async () => {
    await store.close();
  };
} else {
  server = createServer((_req, res) => res.end('hello\n'));
}
await new Promise<void>((resolve) =>
  server.listen({ port: Number(values.port), host: '127.0.0.1', backlog: 4096 }, resolve),
);
process.stdout.write(`listening ${values.port}\n`);

let shuttingDown = false;
function shutdown(): void {
  if (shuttingDown) return;
  shuttingDown = true;
  // Stop accepting; Node ≥ 19 also closes the keep-alive connections idle at this moment.
  server.close(() => {
    closeData().finally(() => process.exit(0));
  });
  // Node 20 keeps a busy keep-alive connection open after close(): end each one after its next response.
  server.prependListener('request', (_req, res) => {
    res.shouldKeepAlive = false;
  });
  setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
}
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
// pm2 reload in cluster mode asks the old worker to leave with this message, then waits for it to exit.
process.on('message', (message) => {
  if (message === 'shutdown') shutdown();
});
