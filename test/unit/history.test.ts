// The deploy history (src/cli/history.ts) on a real file: it survives a restart, stays bounded, skips a torn
// line, never writes through a symlink, and a write that fails is logged and changes nothing else.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { HandoffHistory, type HistoryEntry } from '../../src/cli/history.js';
import type { Logger } from '../../src/log.js';
import { tempDir } from '../helpers/temp-dir.js';

function entry(n: number, reason?: string): HistoryEntry {
  return {
    kind: 'handoff',
    atUnixMs: 1_700_000_000_000 + n,
    binary: `/opt/kv-${n}`,
    trigger: 'request',
    report: {
      handoffId: `id-${n}`,
      status: reason ? 'rolled back' : 'committed',
      ...(reason !== undefined && { reason }),
      startedAtUnixMs: 1_700_000_000_000 + n,
      incumbent: { pid: 100 + n },
      successor: { pid: 200 + n },
      phases: { totalMs: n },
    },
  };
}

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    debug() {},
    info() {},
    error() {},
    warn: (_fields, message) => warnings.push(message ?? ''),
    warnings,
  };
}

const lines = (path: string) => readFileSync(path, 'utf8').trimEnd().split('\n');

test('entries are appended as JSON lines (mode 0600) and a new supervisor reads them back', async (t) => {
  const path = join(tempDir(t), 'journal.bin.history.jsonl');
  const logger = recordingLogger();
  const history = await HandoffHistory.open({ size: 5, path, logger });
  for (let n = 1; n <= 3; n++) history.record(entry(n));
  await history.close();
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(
    lines(path).map((line) => JSON.parse(line)),
    [entry(1), entry(2), entry(3)],
  );
  const again = await HandoffHistory.open({ size: 5, path, logger });
  assert.deepEqual(again.entries(), [entry(1), entry(2), entry(3)]);
  await again.close();
  assert.deepEqual(logger.warnings, []);
});

test('the file stays bounded: at 2N lines it is rewritten with the last N, and memory keeps N', async (t) => {
  const path = join(tempDir(t), 'history.jsonl');
  const history = await HandoffHistory.open({ size: 3, path, logger: recordingLogger() });
  const sizes: number[] = [];
  for (let n = 1; n <= 10; n++) {
    history.record(entry(n));
    await history.close(); // waits for the write
    sizes.push(lines(path).length);
  }
  assert.deepEqual(sizes, [1, 2, 3, 4, 5, 6, 3, 4, 5, 6]);
  assert.deepEqual(history.entries(), [entry(8), entry(9), entry(10)]);
  const again = await HandoffHistory.open({ size: 3, path, logger: recordingLogger() });
  assert.deepEqual(again.entries(), [entry(8), entry(9), entry(10)]);
});

test('a line torn by a crash is skipped; the rest of the history loads', async (t) => {
  const path = join(tempDir(t), 'history.jsonl');
  writeFileSync(path, `${JSON.stringify(entry(1))}\n${JSON.stringify(entry(2)).slice(0, 40)}`);
  const history = await HandoffHistory.open({ size: 5, path, logger: recordingLogger() });
  assert.deepEqual(history.entries(), [entry(1)]);
});

test('a very long reason is shortened so that one entry stays under the line cap', async (t) => {
  const path = join(tempDir(t), 'history.jsonl');
  const history = await HandoffHistory.open({ size: 5, path, logger: recordingLogger() });
  history.record(entry(1, 'x'.repeat(100_000)));
  await history.close();
  const [line] = lines(path);
  assert.ok(line!.length < 16 * 1024, `${line!.length} bytes`);
  assert.match(JSON.parse(line!).report.reason, /^x{2000}… \(shortened\)$/);
});

test('a symlink at the history path is never followed: the target is untouched and the history stays in memory', async (t) => {
  const dir = tempDir(t);
  const target = join(dir, 'precious');
  writeFileSync(target, 'do not touch\n');
  const path = join(dir, 'history.jsonl');
  symlinkSync(target, path);
  const logger = recordingLogger();
  const history = await HandoffHistory.open({ size: 2, path, logger });
  for (let n = 1; n <= 5; n++) history.record(entry(n));
  await history.close();
  assert.equal(readFileSync(target, 'utf8'), 'do not touch\n');
  assert.deepEqual(history.entries(), [entry(4), entry(5)]);
  assert.deepEqual(logger.warnings, [
    'the handoff history path is not a regular file; keeping the history in memory only',
  ]);
});

test('a failed write is logged, and the history goes on in memory and retries the file', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'missing-dir', 'history.jsonl');
  const logger = recordingLogger();
  const history = await HandoffHistory.open({ size: 5, path, logger });
  history.record(entry(1));
  await history.close();
  assert.deepEqual(logger.warnings, ['could not write the handoff history']);
  assert.deepEqual(history.entries(), [entry(1)]);

  // Once the directory exists, the next entry is written.
  mkdirSync(join(dir, 'missing-dir'));
  history.record(entry(2));
  await history.close();
  assert.deepEqual(
    lines(path).map((line) => JSON.parse(line)),
    [entry(2)],
  );
  assert.deepEqual(history.entries(), [entry(1), entry(2)]);
});

test('entries recorded back to back are each written once, in order, across a rewrite', async (t) => {
  const path = join(tempDir(t), 'history.jsonl');
  const history = await HandoffHistory.open({ size: 2, path, logger: recordingLogger() });
  const writes = [1, 2, 3, 4, 5].map((n) => history.record(entry(n)));
  await Promise.all(writes);
  assert.deepEqual(
    lines(path).map((line) => JSON.parse(line)),
    [entry(4), entry(5)],
  );
});
