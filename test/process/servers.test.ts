// Each server kind (https, h2 and h2c, ws, raw tcp) as a small daemon under `handoff run`: 20 handoffs under
// load from real clients of its protocol, kept-alive and new connections, and not one failed request.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ServerKind } from '../../bench/servers/daemon-kinds.js';
import { H2Load } from '../../bench/servers/h2-load.js';
import { HttpsLoad } from '../../bench/servers/https-load.js';
import type { ServerLoad } from '../../bench/servers/load-stats.js';
import { TcpLoad } from '../../bench/servers/tcp-load.js';
import { makeTestCert } from '../../bench/servers/tls-cert.js';
import { WsLoad } from '../../bench/servers/ws-load.js';
import { superviseDaemon } from '../helpers/handoff-run.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const DAEMON = fileURLToPath(new URL('../../bench/servers/daemon.ts', import.meta.url));
const HANDOFFS = 20;

async function handoffsUnderLoad(
  t: TestContext,
  kind: ServerKind,
  makeLoad: (port: number, ca: Buffer) => ServerLoad,
) {
  // The daemons read the certificate once, at start.
  const certDir = tempDir(t, `handoff-${kind}-cert-`);
  const cert = makeTestCert(certDir);
  const daemon = await superviseDaemon(t, DAEMON, ['--kind', kind, '--tls-dir', certDir]);
  const load = makeLoad(daemon.port, cert.cert);
  t.after(() => load.stop());
  await waitFor(() => load.answered >= 50, { what: `${kind} requests to flow`, timeoutMs: 15_000 });
  for (let i = 0; i < HANDOFFS; i++) {
    const report = await daemon.handoff();
    assert.equal(report.status, 'committed', `handoff ${i}: ${report.reason}\n${daemon.supervisor.tail()}`);
    // Traffic between handoffs, so every successor serves before it is replaced.
    const before = load.answered;
    await waitFor(() => load.answered >= before + 30, { what: `${kind} requests after handoff ${i}` });
  }
  await load.stop();
  const stats = Object.fromEntries(load.stats);
  t.diagnostic(
    `${kind}: ${JSON.stringify(stats)}; declined: ${JSON.stringify(Object.fromEntries(load.declines))}`,
  );
  const failed = [...load.stats].filter(([, s]) => s.failed > 0);
  assert.deepEqual(failed, [], `${kind}: no request failed`);
  for (const [client, s] of load.stats) assert.ok(s.ok > 0, `${client} got answers`);
  return { daemon, load };
}

test('https: undici keep-alive and a TLS handshake per request see no error across 20 handoffs', async (t) => {
  await handoffsUnderLoad(t, 'https', (port, ca) =>
    new HttpsLoad({ port, ca, keepAliveClients: 3, newConnectionClients: 2 }).start(),
  );
});

test('h2 over TLS: Node http2 sessions and undici allowH2 see no failed stream across 20 handoffs', async (t) => {
  await handoffsUnderLoad(t, 'h2', (port, ca) =>
    new H2Load({ port, ca, sharedSessionClients: 3, newSessionClients: 1, undiciClients: 2 }).start(),
  );
});

test('h2c: Node http2 sessions, shared and new, see no failed stream across 20 handoffs', async (t) => {
  await handoffsUnderLoad(t, 'h2c', (port) =>
    new H2Load({ port, sharedSessionClients: 3, newSessionClients: 1, undiciClients: 0 }).start(),
  );
});

test('ws: clients reconnect after close 1001 and every acknowledged message is in the log after 20 handoffs', async (t) => {
  const { daemon, load } = await handoffsUnderLoad(t, 'ws', (port) =>
    new WsLoad({ port, longLivedClients: 4, newConnectionClients: 1 }).start(),
  );
  const ws = load as WsLoad;
  const logged = new Set(readFileSync(join(daemon.dataDir, 'messages.log'), 'utf8').split('\n'));
  const lost = [...ws.acked].filter((id) => !logged.has(id));
  assert.deepEqual(lost, [], `${lost.length} of ${ws.acked.size} acknowledged messages lost`);
  assert.ok((load.declines.get('ws: close 1001 before the ack') ?? 0) + ws.acked.size > 0);
});

test('tcp: long-lived and per-line connections get every line acknowledged across 20 handoffs', async (t) => {
  await handoffsUnderLoad(t, 'tcp', (port) =>
    new TcpLoad({ port, longLivedClients: 4, newConnectionClients: 2 }).start(),
  );
});
