// The kv daemon: a durable key-value store over HTTP that can be handed off to a new build without losing
// a connection or an acknowledged write. Everything handoff-specific is the runDaemon call below: prepare
// replays the log while the old build still serves, start (after Begin) only its tail.
//
//   node dist/examples/kv/daemon.js --data-dir DIR --control-socket PATH [--port N] [--build-id ID]
//                                   [--fail-at-start] [--hang-at-start] [--no-prepare] [--exit-after-ms N]
//                                   [--healthz-fails] [--misreport-revision]
//
// The flags after --no-prepare make broken builds for the demo and the tests: one that dies before it
// serves, one that never comes up, one that serves and then exits N ms later, one whose /healthz fails,
// one whose Ready advertises a revision it does not have (verify_revisions rolls it back after it served).
//
// Under `handoff run` it serves the supervisor's listener named `http`; started alone it binds --port.

import { parseArgs } from 'node:util';
import { LOG_LEVELS, type LogLevel, runDaemon } from '../../src/index.js';
import { createKvApp } from './app.js';
import { PreparedLog, Store } from './store.js';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    'control-socket': { type: 'string' },
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    'build-id': { type: 'string', default: `kv-${process.env.npm_package_version ?? 'dev'}` },
    'fail-at-start': { type: 'boolean', default: false },
    'hang-at-start': { type: 'boolean', default: false },
    // Replay the whole log in start, after Begin, as daemons without prepare do (the benchmark's baseline).
    'no-prepare': { type: 'boolean', default: false },
    'exit-after-ms': { type: 'string' },
    'healthz-fails': { type: 'boolean', default: false },
    'misreport-revision': { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
  },
});

const dataDir = values['data-dir'];
const controlPath = values['control-socket'];
if (!dataDir || !controlPath) {
  process.stderr.write('kv: --data-dir and --control-socket are required\n');
  process.exit(64);
}
const buildId = values['build-id'];
const level = values['log-level'] as LogLevel;
if (!LOG_LEVELS.includes(level)) {
  process.stderr.write(`kv: --log-level must be one of ${LOG_LEVELS.join(', ')}, got ${level}\n`);
  process.exit(64);
}

/**
 * A full collection, when node runs with --expose-gc (bin/kv and the benchmark pass it; without it, none).
 * The replay leaves garbage behind, the index's outgrown tables above all (hundreds of MB at 1 GB), and
 * left to V8 a mark-compact fell due just after Begin: traced at 1 GB, 8–15 ms right after listen in 3 of
 * 4 handoffs, delaying the requests that queued through the handoff. Collected before the Hello: in none of
 * 4, and the worst request across the switch went from 153 to 87 ms. Only after a large replay
 * (COLLECT_AFTER_BYTES): at 1 MB it added ~70 ms to spawn → Hello and nothing to the gap.
 */
function collectReplayGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** The replay size from which prepare ends with collectReplayGarbage. */
const COLLECT_AFTER_BYTES = 64 * 1024 * 1024;

await runDaemon({
  dataDir,
  controlPath,
  buildId,
  log: { name: 'kv', level },
  async prepare(context) {
    if (values['no-prepare']) return undefined;
    // Read-only, no lock: the old build may be appending right now. What it writes from here until its
    // seal is the tail that start replays.
    const prepared = await PreparedLog.prepare(context.dataDir);
    if (prepared.bytes >= COLLECT_AFTER_BYTES) collectReplayGarbage();
    const { bytes, keys, ms, passes } = prepared;
    context.logger.info({ role: context.role, bytes, keys, passes, ms: Math.round(ms) }, 'kv log prepared');
    return prepared;
  },
  async start(context, prepared) {
    if (values['hang-at-start']) {
      // A build that never comes up (for the soak): the handoff's ready budget rolls it back.
      await new Promise(() => setInterval(() => {}, 60_000));
    }
    if (values['fail-at-start']) {
      // A broken build, for the demo: it dies before it could serve, and the handoff rolls back.
      throw new Error('this build is broken on purpose (--fail-at-start)');
    }
    // Store.open checks that the prepared prefix is still the log's prefix (the old build's seal footer
    // vouches for it) and replays only what follows; a cold start held the lock since prepare.
    const openedAt = performance.now();
    const store = await Store.open(context.dataDir, {
      ...(prepared && { prepared }),
      prefixTrusted: context.role === 'coldStart',
    });
    const openMs = Math.round((performance.now() - openedAt) * 10) / 10;
    const { preparedUnused, replayedBytes, replayedRecords } = store.opened;
    // A prepare that found no log had nothing to offer; any other unused prefix is worth a line.
    if (prepared && prepared.bytes > 0 && preparedUnused !== undefined) {
      context.logger.warn({ reason: preparedUnused }, 'the prepared log was not usable; replayed all of it');
    }
    const app = createKvApp({ store, buildId, healthzFails: values['healthz-fails'] });
    const inherited = context.takeListener('http');
    await new Promise<void>((resolve, reject) => {
      app.server.once('error', reject);
      app.server.listen(
        inherited ?? { port: Number(values.port), host: values.host, backlog: 4096 },
        resolve,
      );
    });
    context.logger.info(
      {
        role: context.role,
        revision: store.revision,
        replayedBytes,
        replayedRecords,
        openMs,
        listening: app.readiness().listeningOn,
      },
      'kv serving',
    );
    if (values['exit-after-ms'] !== undefined) {
      // A build that commits and then crashes (for probation): acknowledged writes are on disk already.
      const ms = Number(values['exit-after-ms']);
      setTimeout(() => {
        context.logger.error({ ms }, 'exiting on purpose (--exit-after-ms)');
        process.exit(70);
      }, ms);
    }
    return {
      drainable: app.drainable,
      readiness: () => {
        const snapshot = app.readiness();
        if (!values['misreport-revision']) return snapshot;
        const [revision = 0n] = snapshot.advertisedRevisionPerShard;
        return { ...snapshot, advertisedRevisionPerShard: [revision + 1n] };
      },
      async stop() {
        await app.drainer.drain({ deadline: Date.now() + 5000, signal: AbortSignal.timeout(5000) });
        await store.close();
      },
    };
  },
});
