// The chaos soak's short variant (`npm run soak` runs 200 handoffs): the kv daemon under `handoff run` with
// load, each fault kind injected once, and every invariant checked: no two flock holders, no acknowledged
// write lost, one serving daemon after each fault, nothing left behind, the supervisor's fds flat.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runSoak } from '../../scripts/soak/run.js';
import { FAULT_KINDS } from '../../scripts/soak/schedule.js';

const KV = fileURLToPath(new URL('../../examples/kv/daemon.ts', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

test('a short chaos soak: every fault kind once, every invariant holds', async (t) => {
  const seed = 20261201;
  const lines: string[] = [];
  const result = await runSoak({
    runner: { nodeArgs: ['--import', import.meta.resolve('tsx')], cli: CLI, kv: KV },
    seed,
    handoffs: FAULT_KINDS.length + 2,
    faultRate: 0,
    everyKindOnce: true,
    log: (line) => lines.push(line),
  });
  t.diagnostic(lines.join('\n'));
  assert.deepEqual(result.failures, [], lines.join('\n'));
  const expected = result.diskFaults ? FAULT_KINDS : FAULT_KINDS.filter((k) => !k.startsWith('full-'));
  for (const kind of expected) assert.equal(result.faults[kind]?.injected, 1, kind);
  assert.equal(result.maxFlockHolders, 1);
  assert.ok(result.flockSamples > 100, `only ${result.flockSamples} flock samples`);
  assert.ok(result.writes.acked > 100, `only ${result.writes.acked} writes were acknowledged`);
  assert.equal(result.writes.lost, 0);
});
