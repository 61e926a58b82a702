// The Express and Fastify examples under `handoff run`: 20 handoffs each under kept-alive and new-connection
// reads and writes, no failed request, and every acknowledged write read back from the last instance.

import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DemoLoad } from '../../scripts/demo-load.js';
import { superviseDaemon } from '../helpers/handoff-run.js';
import { waitFor } from '../helpers/wait-for.js';

async function handoffsUnderLoad(t: TestContext, example: 'express' | 'fastify') {
  const script = fileURLToPath(new URL(`../../examples/${example}/daemon.ts`, import.meta.url));
  const daemon = await superviseDaemon(t, script, []);
  const load = new DemoLoad(daemon.port);
  load.start({ keepAliveWriters: 2, keepAliveReaders: 2, freshWriters: 1, freshReaders: 1 });
  t.after(() => load.stop());
  await waitFor(() => load.acked.size >= 30, { what: `${example} writes to flow`, timeoutMs: 15_000 });
  for (let i = 0; i < 20; i++) {
    const report = await daemon.handoff();
    assert.equal(report.status, 'committed', `handoff ${i}: ${report.reason}\n${daemon.supervisor.tail()}`);
    const before = load.acked.size;
    await waitFor(() => load.acked.size >= before + 10, { what: `${example} writes after handoff ${i}` });
  }
  await load.stop();
  const failed = [...load.stats.entries()].filter(([, s]) => s.failed > 0);
  assert.deepEqual(failed, [], 'no request failed');
  assert.equal(load.wrongReads, 0);
  const lost = await load.verify();
  assert.deepEqual(lost, [], `${lost.length} of ${load.acked.size} acknowledged writes lost`);
  t.diagnostic(`${example}: ${JSON.stringify(Object.fromEntries(load.stats))}`);
}

test('the Express example keeps every acknowledged write across 20 handoffs with no failed request', async (t) => {
  await handoffsUnderLoad(t, 'express');
});

test('the Fastify example keeps every acknowledged write across 20 handoffs with no failed request', async (t) => {
  await handoffsUnderLoad(t, 'fastify');
});
