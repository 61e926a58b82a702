// An Express service that can be handed off: PUT/GET /kv/:key over a durable JSON-lines log. The handoff
// lines are marked "handoff:": an HttpDrain on the http.Server, the inherited listener, and runDaemon.
//
//   node dist/examples/express/daemon.js --data-dir DIR --control-socket PATH [--port N]

import http from 'node:http';
import { parseArgs } from 'node:util';
import express from 'express';
import { createLogger, HttpDrain, runDaemon } from '../../src/index.js'; // in your app: 'daemon-handoff'
import { JsonLog } from '../common/json-log.js';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    'control-socket': { type: 'string' },
    port: { type: 'string', default: '8080' },
  },
});
if (!values['data-dir'] || !values['control-socket']) {
  process.stderr.write('express example: --data-dir and --control-socket are required\n');
  process.exit(64);
}

await runDaemon({
  dataDir: values['data-dir'],
  controlPath: values['control-socket'],
  buildId: 'express-example',
  logger: createLogger('express-example', { level: 'warn' }),
  async start(context) {
    const log = new JsonLog(context.dataDir);
    const app = express();
    app.get('/healthz', (_req, res) => {
      res.send('ok\n');
    });
    app.get('/kv/:key', (req, res) => {
      const value = log.get(req.params.key);
      if (value === undefined) res.status(404).json({ error: 'no such key' });
      else res.type('application/octet-stream').send(value);
    });
    app.put('/kv/:key', express.text({ type: () => true }), (req, res) => {
      try {
        res.json({ revision: log.put(req.params.key, String(req.body ?? '')) });
      } catch {
        res.status(503).set('Retry-After', '1').json({ error: 'sealed for a handoff' });
      }
    });

    const server = http.createServer(app);
    const drain = new HttpDrain(server); // handoff: before listen, so it sees every connection
    const listener = context.takeListener('http') ?? { port: Number(values.port), host: '127.0.0.1' }; // handoff
    await new Promise<void>((resolve) => server.listen(listener, 4096, resolve));

    return {
      drainable: {
        drain: (ctx) => drain.drain(ctx), // handoff: finish requests, no reset; each put is fsynced already
        seal: async () => log.seal(),
        async resumeAfterAbort() {
          log.reopen();
          await drain.resume();
        },
      },
      readiness: () => ({
        listeningOn: [],
        healthzOk: true,
        advertisedRevisionPerShard: [BigInt(log.revision)],
      }),
      async stop() {
        await drain.drain({ deadline: Date.now() + 5000, signal: AbortSignal.timeout(5000) });
        log.seal();
      },
    };
  },
});
