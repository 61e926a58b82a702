// The kv index against a Map as the model: any sequence of puts (new keys, overwrites, UTF-8 keys, empty
// values, many chunks, table growth) answers every get as the Map does, and the key limit is exact.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { KeyIndex } from '../../examples/kv/key-index.js';
import { encodePut } from '../../examples/kv/log-format.js';

/** Adds the puts as one chunk of records, as a batch or a replay buffer holds them. */
function addPuts(index: KeyIndex, puts: ReadonlyArray<readonly [string, Buffer]>): boolean[] {
  const records = puts.map(([key, value], i) => encodePut(i + 1, Buffer.from(key), value));
  const chunk = index.addChunk(Buffer.concat([Buffer.from('lead-in'), ...records]));
  let at = 'lead-in'.length;
  return records.map((record) => {
    const ok = index.setRecord(chunk, at);
    at += record.length;
    return ok;
  });
}

test('the index answers like a Map over any sequence of puts, across chunks and growth', () => {
  const key = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('a', 'b', 'clé', '日本'));
  const put = fc.tuple(
    key,
    fc.uint8Array({ maxLength: 40 }).map((v) => Buffer.from(v)),
  );
  fc.assert(
    fc.property(fc.array(fc.array(put, { maxLength: 300 }), { maxLength: 8 }), (batches) => {
      const index = new KeyIndex();
      const model = new Map<string, Buffer>();
      for (const batch of batches) {
        const usable = batch.filter(([k]) => k.length > 0);
        addPuts(index, usable);
        for (const [k, v] of usable) model.set(k, v);
      }
      assert.equal(index.size, model.size);
      for (const [k, v] of model) assert.deepEqual(index.get(k), v, `key ${JSON.stringify(k)}`);
      assert.equal(index.get('never written'), undefined);
      assert.equal(index.has('never written'), false);
    }),
    { numRuns: 60 },
  );
});

test('forty thousand keys: every one found after the table grew many times', () => {
  const index = new KeyIndex();
  const puts = Array.from({ length: 40_000 }, (_, i) => [`key-${i}`, Buffer.from(`v${i}`)] as const);
  addPuts(index, puts.slice(0, 20_000));
  addPuts(index, puts.slice(20_000));
  addPuts(index, [['key-7', Buffer.from('overwritten')]]);
  assert.equal(index.size, 40_000);
  assert.equal(index.get('key-39999')?.toString(), 'v39999');
  assert.equal(index.get('key-7')?.toString(), 'overwritten');
});

test('at maxKeys a new key is refused and changes nothing, while an existing key is still updated', () => {
  const index = new KeyIndex(2);
  assert.deepEqual(
    addPuts(index, [
      ['a', Buffer.from('1')],
      ['b', Buffer.from('2')],
      ['c', Buffer.from('3')],
      ['a', Buffer.from('4')],
    ]),
    [true, true, false, true],
  );
  assert.deepEqual([index.size, index.get('c'), index.get('a')?.toString()], [2, undefined, '4']);
});
