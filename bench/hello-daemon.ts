// The benchmark's hello-world daemon on runDaemon: every request gets `hello`, drained with HttpDrain and
// nothing to seal, so a benchmark of it measures the handoff protocol's cost apart from the kv app's.
//
//   node dist/bench/hello-daemon.js --data-dir DIR --control-socket PATH [--port N]

import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { HttpDrain, type LogLevel, runDaemon } from '../src/index.js';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    'control-socket': { type: 'string' },
    port: { type: 'string', default: '8080' },
    'log-level': { type: 'string', default: 'warn' },
  },
});
const dataDir = values['data-dir'];
const controlPath = values['control-socket'];
if (!dataDir || !controlPath) {
  process.stderr.write('hello-daemon: --data-dir and --control-socket are required\n');
  process.exit(64);
}

await runDaemon({
  dataDir,
  controlPath,
  buildId: 'hello',
  log: { name: 'hello', level: values['log-level'] as LogLevel },
  async start(context) {
    const server = createServer((_req, res) => res.end('hello\n'));
    const http = new HttpDrain(server);
    const listener = context.takeListener('http') ?? {
      port: Number(values.port),
      host: '127.0.0.1',
      backlog: 4096,
    };
    await new Promise<void>((resolve) => server.listen(listener, resolve));
    return {
      drainable: {
        drain: (drainContext) => http.drain(drainContext),
        // No data: an all-zero fingerprint and no shards.
        seal: async () => ({ lastRevisionPerShard: [], dataDirFingerprint: new Uint8Array(32) }),
        resumeAfterAbort: () => http.resume(),
      },
      readiness: () => ({ listeningOn: [], healthzOk: true, advertisedRevisionPerShard: [] }),
      stop: async () => {
        await http.drain({ deadline: Date.now() + 5000, signal: AbortSignal.timeout(5000) });
      },
    };
  },
});
