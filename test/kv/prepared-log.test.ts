// The kv store's warm start on real files: prepare reads without writing, open replays only the tail an
// incumbent wrote since (checked by its seal footer), and a prefix that changed costs a full replay, never a
// wrong index.

import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { encodePut, MAGIC } from '../../examples/kv/log-format.js';
import { LOG_FILE, PreparedLog, Store, type StoreOptions } from '../../examples/kv/store.js';
import { tempDir } from '../helpers/temp-dir.js';

async function openStore(t: TestContext, dir: string, options?: StoreOptions): Promise<Store> {
  const store = await Store.open(dir, options);
  t.after(() => store.close().catch(() => {}));
  return store;
}

const text = (value: Buffer | undefined) => value?.toString('utf8');

test('open after prepare replays only what the incumbent wrote since, and sees every write', async (t) => {
  const dir = tempDir(t);
  const incumbent = await openStore(t, dir);
  for (let i = 0; i < 50; i += 1) await incumbent.put(`k${i % 20}`, Buffer.from(`before-${i}`));
  const prepared = await PreparedLog.prepare(dir);
  assert.deepEqual([prepared.keys, prepared.revision], [20, 50]);
  assert.equal(prepared.bytes, statSync(join(dir, LOG_FILE)).size);
  // Writes after prepare: the tail. Then the incumbent seals, as on a handoff.
  for (let i = 0; i < 5; i += 1) await incumbent.put(`k${i}`, Buffer.from(`after-${i}`));
  await incumbent.put('new', Buffer.from('tail only'));
  await incumbent.seal();
  const size = statSync(join(dir, LOG_FILE)).size;

  const successor = await openStore(t, dir, { prepared });
  assert.deepEqual(successor.opened, {
    truncatedBytes: 0,
    wasSealed: true,
    preparedBytes: prepared.bytes,
    replayedBytes: size - prepared.bytes,
    replayedRecords: 7, // six puts and the seal footer
  });
  assert.equal(successor.revision, 56);
  assert.equal(text(successor.get('k3')), 'after-3');
  assert.equal(text(successor.get('k19')), 'before-39');
  assert.equal(text(successor.get('new')), 'tail only');
  assert.equal(successor.stats.keys, 21);
  assert.equal(await successor.put('k0', Buffer.from('next')), 57);
});

test('a prefix that ends with a seal footer and no tail after it is used as it is', async (t) => {
  const dir = tempDir(t);
  const incumbent = await openStore(t, dir);
  await incumbent.put('a', Buffer.from('1'));
  await incumbent.seal();
  await incumbent.reopen(); // serving again, without a write: its next seal writes nothing
  const prepared = await PreparedLog.prepare(dir);
  await incumbent.seal();
  const successor = await openStore(t, dir, { prepared });
  assert.deepEqual(
    [successor.opened.preparedBytes, successor.opened.replayedBytes, successor.opened.preparedUnused],
    [prepared.bytes, 0, undefined],
  );
  assert.equal(text(successor.get('a')), '1');
});

test('prepare writes nothing: a missing log stays missing, an existing one keeps its bytes and mtime', async (t) => {
  const missing = join(tempDir(t), 'not-yet');
  const empty = await PreparedLog.prepare(missing);
  assert.deepEqual([empty.bytes, empty.keys], [0, 0]);
  assert.equal(existsSync(missing), false, 'prepare created the data dir');

  const dir = tempDir(t);
  const store = await openStore(t, dir);
  await store.put('a', Buffer.from('1'));
  await store.close();
  const path = join(dir, LOG_FILE);
  // A torn tail, as a crash leaves it: prepare stops before it and must not cut it off.
  appendFileSync(path, encodePut(2, Buffer.from('b'), Buffer.from('2')).subarray(0, 9));
  const before = { bytes: readFileSync(path), mtimeMs: statSync(path).mtimeMs };
  const prepared = await PreparedLog.prepare(dir);
  assert.equal(prepared.bytes, before.bytes.length - 9);
  assert.deepEqual(readFileSync(path), before.bytes);
  assert.equal(statSync(path).mtimeMs, before.mtimeMs);
});

test('a log replaced, or cut, after prepare is replayed whole, and the reason is reported', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, LOG_FILE);
  const first = await openStore(t, dir);
  await first.put('a', Buffer.from('old'));
  await first.put('b', Buffer.from('old'));
  await first.close();
  const prepared = await PreparedLog.prepare(dir);
  // Another log of the same length takes its place (a restore from backup, say).
  const other = tempDir(t);
  const second = await openStore(t, other);
  await second.put('a', Buffer.from('new'));
  await second.put('b', Buffer.from('new'));
  await second.close();
  renameSync(join(other, LOG_FILE), path);
  const store = await openStore(t, dir, { prepared });
  assert.equal(store.opened.preparedUnused, 'the log is another file than the one prepared');
  assert.equal(store.opened.preparedBytes, 0);
  assert.deepEqual([text(store.get('a')), text(store.get('b'))], ['new', 'new']);
  await store.close();

  const again = await PreparedLog.prepare(dir);
  const bytes = readFileSync(path);
  writeFileSync(path, bytes.subarray(0, bytes.length - 10)); // same inode, shorter
  const cut = await openStore(t, dir, { prepared: again });
  assert.match(cut.opened.preparedUnused ?? '', /^the log shrank below the prepared \d+ bytes$/);
  assert.equal(text(cut.get('a')), 'new');
});

test('a tail whose seal footer does not vouch for the prepared prefix costs a full replay', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, LOG_FILE);
  const put = (revision: number, key: string, value: string) =>
    encodePut(revision, Buffer.from(key), Buffer.from(value));
  writeFileSync(path, Buffer.concat([MAGIC, put(1, 'a', '1'), put(2, 'b', '2')])); // unsealed
  const prepared = await PreparedLog.prepare(dir);
  // The same file, rewritten in place with another record of the same size, then written and sealed by
  // a store: the footer's hash covers the new bytes, not the ones prepare read.
  writeFileSync(path, Buffer.concat([MAGIC, put(1, 'a', '1'), put(2, 'b', '9')]));
  const writer = await openStore(t, dir);
  await writer.put('c', Buffer.from('3'));
  await writer.close();
  const successor = await openStore(t, dir, { prepared });
  assert.match(successor.opened.preparedUnused ?? '', /^the tail does not continue the prepared prefix/);
  assert.deepEqual([text(successor.get('b')), text(successor.get('c'))], ['9', '3']);
});

test('a tail without a seal footer is not trusted, unless the caller held the lock since prepare', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(t, dir);
  await store.put('a', Buffer.from('1'));
  const prepared = await PreparedLog.prepare(dir);
  await store.put('b', Buffer.from('2'));
  await store.drainWrites(); // no seal: as after a crash
  const unsealed = await openStore(t, dir, { prepared });
  assert.equal(unsealed.opened.preparedUnused, 'the log does not end with a seal footer');
  assert.equal(text(unsealed.get('b')), '2');
  await unsealed.close();

  const coldDir = tempDir(t);
  const cold = await openStore(t, coldDir);
  await cold.put('a', Buffer.from('1'));
  await cold.drainWrites();
  const trusted = await openStore(t, coldDir, {
    prepared: await PreparedLog.prepare(coldDir),
    prefixTrusted: true,
  });
  assert.deepEqual([trusted.opened.preparedUnused, trusted.opened.replayedRecords], [undefined, 0]);
});

test('an index full of keys refuses a new key with TooManyKeys, in replay and in put, not a crash', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(t, dir, { maxKeys: 3 });
  for (const key of ['a', 'b', 'c']) await store.put(key, Buffer.from(key));
  await assert.rejects(store.put('d', Buffer.from('d')), {
    code: 'TooManyKeys',
    message: `${join(dir, LOG_FILE)} would hold more than 3 distinct keys, the most this kv's index holds`,
  });
  assert.equal(await store.put('a', Buffer.from('again')), 4, 'an existing key is still written');
  await store.close();
  await assert.rejects(Store.open(dir, { maxKeys: 2 }), { code: 'TooManyKeys' });
  await assert.rejects(PreparedLog.prepare(dir, { maxKeys: 2 }), { code: 'TooManyKeys' });
  assert.equal((await openStore(t, dir, { maxKeys: 3 })).stats.keys, 3);
});

test('prepare while the incumbent appends: the passes read a moving log, and open sees every write', async (t) => {
  const dir = tempDir(t);
  // An 8 MB prefix, so that the first replay takes a while; then a store appends to it throughout prepare.
  const records = Array.from({ length: 200_000 }, (_, i) =>
    encodePut(i + 1, Buffer.from(`p${i % 5000}`), Buffer.from(`prefix-${i}`)),
  );
  writeFileSync(join(dir, LOG_FILE), Buffer.concat([MAGIC, ...records]));
  const incumbent = await openStore(t, dir);
  const acked = new Map<string, string>();
  let preparing = true;
  const writer = (async () => {
    // How many puts land in which pass is up to the scheduler; what must hold whatever it does is below.
    for (let i = 0; preparing; i++) {
      const value = `${i}:`.padEnd(4096, 'x');
      await incumbent.put(`w${i % 100}`, Buffer.from(value));
      acked.set(`w${i % 100}`, value);
    }
  })();
  const prepared = await PreparedLog.prepare(dir);
  const ackedDuringPrepare = acked.size;
  preparing = false;
  await writer;
  await incumbent.seal();

  const successor = await openStore(t, dir, { prepared });
  assert.equal(successor.opened.preparedUnused, undefined, 'the prepared prefix was used');
  assert.ok(ackedDuringPrepare > 0, 'no put was acknowledged while prepare ran');
  for (const [key, value] of acked) assert.equal(text(successor.get(key)), value, key);
  assert.equal(text(successor.get('p4999')), 'prefix-199999');
  assert.equal(successor.revision, incumbent.revision);
});
