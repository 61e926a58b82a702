// The kv store on real files with real fsync: group commit, seal/reopen cycles seen by a fresh instance,
// torn tails cut on open, damage refused, writes refused outside the open state.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { encodeSeal, MAGIC, SEAL_RECORD_BYTES } from '../../examples/kv/log-format.js';
import { LOG_FILE, Store, type StoreOptions } from '../../examples/kv/store.js';
import { isHandoffError } from '../../src/errors.js';
import { tempDir } from '../helpers/temp-dir.js';

async function openStore(t: TestContext, dir: string, options?: StoreOptions): Promise<Store> {
  const store = await Store.open(dir, options);
  t.after(() => store.close().catch(() => {}));
  return store;
}

const text = (value: Buffer | undefined) => value?.toString('utf8');

test('a put is readable after it resolves, with revisions 1, 2, 3', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(t, dir);
  assert.equal(await store.put('a', Buffer.from('1')), 1);
  assert.equal(await store.put('b', Buffer.from('2')), 2);
  assert.equal(await store.put('a', Buffer.from('3')), 3);
  assert.equal(text(store.get('a')), '3');
  assert.equal(text(store.get('b')), '2');
  assert.equal(store.get('c'), undefined);
  assert.deepEqual(
    { ...store.stats, fsyncs: 0 },
    {
      revision: 3,
      keys: 2,
      bytes: statSync(join(dir, LOG_FILE)).size,
      fsyncs: 0,
      state: 'open',
    },
  );
});

test('200 concurrent puts get revisions 1..200 in call order with far fewer fsyncs than puts', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(t, dir);
  const before = store.stats.fsyncs;
  const revisions = await Promise.all(
    Array.from({ length: 200 }, (_, i) => store.put(`k${i % 50}`, Buffer.from(`v${i}`))),
  );
  assert.deepEqual(
    revisions,
    Array.from({ length: 200 }, (_, i) => i + 1),
  );
  const fsyncs = store.stats.fsyncs - before;
  assert.ok(fsyncs < 200, `${fsyncs} fsyncs for 200 puts`);
  t.diagnostic(`${fsyncs} fsync(s) for 200 concurrent puts`);
  assert.equal(text(store.get('k49')), 'v199');
  await store.close();

  const again = await openStore(t, dir);
  assert.equal(again.revision, 200);
  assert.equal(again.stats.keys, 50);
  assert.equal(text(again.get('k0')), 'v150');
});

test('puts arriving while a batch is being written go in the next batch, in order', async (t) => {
  const store = await openStore(t, tempDir(t));
  const before = store.stats.fsyncs;
  const first = store.put('x', Buffer.from('1'));
  await null; // the first batch is now being written
  const later = [store.put('x', Buffer.from('2')), store.put('y', Buffer.from('3'))];
  assert.deepEqual(await Promise.all([first, ...later]), [1, 2, 3]);
  assert.equal(store.stats.fsyncs - before, 2, 'one batch of 1, then one of 2');
  assert.equal(text(store.get('x')), '2');
});

test('after seal a new instance sees every acknowledged write and the revision, with a stable fingerprint', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(t, dir);
  const acked = new Map<string, string>();
  for (let i = 0; i < 30; i += 1) {
    await store.put(`key-${i % 7}`, Buffer.from(`value-${i}`));
    acked.set(`key-${i % 7}`, `value-${i}`);
  }
  const report = await store.seal();
  assert.deepEqual(report.lastRevisionPerShard, [30n]);
  assert.equal(report.dataDirFingerprint.length, 32);
  // The fingerprint is the SHA-256 of the log up to the footer.
  const bytes = readFileSync(join(dir, LOG_FILE));
  const expected = createHash('sha256')
    .update(bytes.subarray(0, bytes.length - SEAL_RECORD_BYTES))
    .digest();
  assert.deepEqual(Buffer.from(report.dataDirFingerprint), expected);
  assert.deepEqual(await store.seal(), report, 'seal is idempotent');

  const successor = await openStore(t, dir, { repairTornTail: false });
  const { truncatedBytes, wasSealed, preparedBytes, replayedBytes, replayedRecords } = successor.opened;
  assert.deepEqual(
    { truncatedBytes, wasSealed, preparedBytes, replayedBytes, replayedRecords },
    {
      truncatedBytes: 0,
      wasSealed: true,
      preparedBytes: 0,
      replayedBytes: bytes.length,
      replayedRecords: 31,
    },
  );
  assert.equal(successor.revision, 30);
  for (const [key, value] of acked) assert.equal(text(successor.get(key)), value);
  // Sealing an unchanged log again writes nothing and reports the same fingerprint.
  assert.deepEqual(await successor.seal(), report);
  assert.equal(statSync(join(dir, LOG_FILE)).size, bytes.length);
});

test('seal, reopen, more puts, seal again: a new instance sees everything', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(t, dir);
  await store.put('a', Buffer.from('1'));
  const first = await store.seal();
  await assert.rejects(store.put('b', Buffer.from('2')), { code: 'WritesRefused' });
  await store.reopen();
  await store.reopen();
  assert.equal(await store.put('b', Buffer.from('2')), 2);
  const second = await store.seal();
  assert.deepEqual(second.lastRevisionPerShard, [2n]);
  assert.notDeepEqual(second.dataDirFingerprint, first.dataDirFingerprint);

  const next = await openStore(t, dir);
  assert.deepEqual([text(next.get('a')), text(next.get('b')), next.revision], ['1', '2', 2]);
  assert.equal(next.opened.wasSealed, true);
  assert.equal(await next.put('c', Buffer.from('3')), 3);
  await next.seal();
  const last = await openStore(t, dir);
  assert.equal(last.revision, 3);
});

test('drainWrites refuses new puts, waits for accepted ones, and reopen accepts again', async (t) => {
  const store = await openStore(t, tempDir(t));
  const inFlight = store.put('a', Buffer.from('1'));
  assert.equal(await store.drainWrites(), 1);
  assert.equal(await inFlight, 1);
  assert.equal(store.state, 'draining');
  await assert.rejects(store.put('b', Buffer.from('2')), {
    code: 'WritesRefused',
    message: 'writes are refused while the store is draining',
  });
  await store.reopen();
  assert.equal(await store.put('b', Buffer.from('2')), 2);
});

test('a torn tail is cut off on open and writing continues after the last good record', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, LOG_FILE);
  const store = await openStore(t, dir);
  await store.put('a', Buffer.from('1'));
  const good = statSync(path).size;
  await store.put('b', Buffer.from('x'.repeat(100)));
  await store.close();

  truncateSync(path, good + 40); // a crash in the middle of the second put's write
  const reopened = await openStore(t, dir);
  assert.deepEqual(
    { truncatedBytes: reopened.opened.truncatedBytes, wasSealed: reopened.opened.wasSealed },
    { truncatedBytes: 40, wasSealed: false },
  );
  assert.equal(statSync(path).size, good);
  assert.equal(reopened.revision, 1);
  assert.equal(reopened.get('b'), undefined);
  assert.equal(await reopened.put('c', Buffer.from('3')), 2);
  await reopened.close();

  appendFileSync(path, Buffer.from('garbage after a crash'));
  const again = await openStore(t, dir);
  assert.equal(again.opened.truncatedBytes, 21);
  assert.deepEqual([text(again.get('a')), text(again.get('c')), again.revision], ['1', '3', 2]);
});

test('a torn tail is refused, not cut, when repairTornTail is false', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(t, dir);
  await store.put('a', Buffer.from('1'));
  await store.close();
  appendFileSync(join(dir, LOG_FILE), Buffer.alloc(10));
  await assert.rejects(Store.open(dir, { repairTornTail: false }), { code: 'Corrupt' });
});

test('damage far from the end is refused rather than truncated away', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, LOG_FILE);
  const store = await openStore(t, dir);
  const big = Buffer.alloc(1 << 20, 7);
  for (let i = 0; i < 3; i += 1) await store.put(`big-${i}`, big);
  await store.close();
  const bytes = readFileSync(path);
  bytes[MAGIC.length + 100]! ^= 0xff; // inside the first, acknowledged, record
  writeFileSync(path, bytes);
  await assert.rejects(Store.open(dir), (error: unknown) => {
    assert.equal((error as { code?: string }).code, 'Corrupt');
    assert.match((error as Error).message, /at offset 8: checksum mismatch, with \d+ bytes after it/);
    return true;
  });
  assert.equal(statSync(path).size, bytes.length, 'nothing was truncated');
});

test('a seal footer that does not match the log is refused', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, LOG_FILE);
  const store = await openStore(t, dir);
  await store.put('a', Buffer.from('1'));
  await store.seal();
  const bytes = readFileSync(path);
  const forged = encodeSeal(1, Buffer.alloc(32, 0xab));
  forged.copy(bytes, bytes.length - SEAL_RECORD_BYTES);
  writeFileSync(path, bytes);
  await assert.rejects(Store.open(dir), { code: 'Corrupt', message: /seal footer does not match/ });
});

test('a file that is not a kv log is refused', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, LOG_FILE), 'hello world');
  await assert.rejects(Store.open(dir), { code: 'Corrupt', message: /bad magic/ });
});

test('bad keys, oversized values and bad options are refused', async (t) => {
  const store = await openStore(t, tempDir(t), { maxValueBytes: 10 });
  await assert.rejects(store.put('', Buffer.from('x')), { code: 'BadKey' });
  await assert.rejects(store.put('k'.repeat(1025), Buffer.from('x')), { code: 'BadKey' });
  await assert.rejects(store.put('\ud800', Buffer.from('x')), { code: 'BadKey' });
  await assert.rejects(store.put('k', Buffer.alloc(11)), { code: 'TooLarge' });
  assert.equal(await store.put('k', Buffer.alloc(10)), 1);
  await assert.rejects(Store.open(tempDir(t), { maxValueBytes: -1 }), (error: unknown) => {
    assert.ok(isHandoffError(error, 'InvalidOption'));
    assert.equal(error.message, 'maxValueBytes must be an integer in [0, 1048576], got -1 (number)');
    return true;
  });
});
