// A Fastify service that can be handed off: PUT/GET /kv/:key over a durable JSON-lines log. The handoff
// lines are marked "handoff:": an HttpDrain on `fastify.server`, the inherited listener, and runDaemon.
//
//   node dist/examples/fastify/daemon.js --data-dir DIR --control-socket PATH [--port N]

import { parseArgs } from 'node:util';
import Fastify from 'fastify';
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
  process.stderr.write('fastify example: --data-dir and --control-socket are required\n');
  process.exit(64);
}

await runDaemon({
  dataDir: values['data-dir'],
  controlPath: values['control-socket'],
  buildId: 'fastify-example',
  logger: createLogger('fastify-example', { level: 'warn' }),
  async start(context) {
    const log = new JsonLog(context.dataDir);
    const app = Fastify();
    app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    app.get('/healthz', async () => 'ok\n');
    app.get<{ Params: { key: string } }>('/kv/:key', async (req, reply) => {
      const value = log.get(req.params.key);
      if (value === undefined) return reply.code(404).send({ error: 'no such key' });
      return reply.type('application/octet-stream').send(value);
    });
    app.put<{ Params: { key: string }; Body: string }>('/kv/:key', async (req, reply) => {
      try {
        return { revision: log.put(req.params.key, String(req.body ?? '')) };
      } catch {
        return reply.code(503).header('Retry-After', '1').send({ error: 'sealed for a handoff' });
      }
    });

    const drain = new HttpDrain(app.server); // handoff: before listen, so it sees every connection
    await app.ready();
    const listener = context.takeListener('http') ?? { port: Number(values.port), host: '127.0.0.1' }; // handoff
    await new Promise<void>((resolve) => app.server.listen(listener, 4096, resolve));

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
        await app.close();
      },
    };
  },
});
