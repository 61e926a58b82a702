// The trigger-socket request line (src/cli/trigger.ts): the Rust reference's `handoff [binary]`, our options
// before the binary in any order, and the one-word queries.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatResultLine, parseTriggerRequest } from '../../src/cli/trigger.js';

test('handoff requests parse with their options first, in any order, and the rest as the binary', () => {
  const cases: Array<[string, unknown]> = [
    ['handoff', { kind: 'handoff', binary: undefined, stream: false, waitProbation: false }],
    ['handoff /opt/kv 2', { kind: 'handoff', binary: '/opt/kv 2', stream: false, waitProbation: false }],
    ['handoff --stream /b', { kind: 'handoff', binary: '/b', stream: true, waitProbation: false }],
    [
      'handoff --wait-probation --stream',
      { kind: 'handoff', binary: undefined, stream: true, waitProbation: true },
    ],
    [
      'handoff --stream --wait-probation /b\n',
      { kind: 'handoff', binary: '/b', stream: true, waitProbation: true },
    ],
    ['status', { kind: 'status' }],
    ['history', { kind: 'history' }],
    ['history now', { error: "unknown command 'history'" }],
    ['', { error: 'empty command' }],
    ['reload', { error: "unknown command 'reload'" }],
  ];
  for (const [line, expected] of cases) assert.deepEqual(parseTriggerRequest(line), expected, line);
});

test("the one-line result keeps the Rust reference's format", () => {
  assert.equal(
    formatResultLine('6f1c1e4e-0000-4000-8000-000000000000', false, 'seal failed: "disk"'),
    'ok: handoff_id=6f1c1e4e-0000-4000-8000-000000000000 committed=false abort_reason=Some("seal failed: \\"disk\\"")',
  );
  assert.equal(formatResultLine('x', true, undefined), 'ok: handoff_id=x committed=true abort_reason=None');
});
