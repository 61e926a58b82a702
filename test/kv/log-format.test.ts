// The kv log's record format: round trips, the crc fallback, and that a torn or flipped record is never
// read as a record.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import zlib from 'node:zlib';
import fc from 'fast-check';
import {
  crc32,
  decodeRecord,
  encodePut,
  encodeSeal,
  MAX_VALUE_BYTES,
  SEAL_RECORD_BYTES,
  tableCrc32,
} from '../../examples/kv/log-format.js';

test('the table crc32 equals zlib crc32, also when continued from a previous value', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 50 }), (a, b) => {
      assert.equal(tableCrc32(a), zlib.crc32(a));
      assert.equal(tableCrc32(b, tableCrc32(a)), zlib.crc32(b, zlib.crc32(a)));
    }),
  );
  assert.equal(crc32(Buffer.from('hello')), 907060870);
});

test('a put and a seal footer decode to what was encoded, with their sizes', () => {
  const value = randomBytes(100);
  const put = encodePut(7, Buffer.from('clé'), value);
  const fingerprint = randomBytes(32);
  const seal = encodeSeal(7, fingerprint);
  assert.equal(seal.length, SEAL_RECORD_BYTES);
  const both = Buffer.concat([put, seal]);
  assert.deepEqual(decodeRecord(both, 0), {
    kind: 'record',
    size: put.length,
    record: { type: 'put', revision: 7, key: 'clé', value },
  });
  assert.deepEqual(decodeRecord(both, put.length), {
    kind: 'record',
    size: seal.length,
    record: { type: 'seal', revision: 7, fingerprint },
  });
});

test('a largest value and an empty value round-trip', () => {
  for (const size of [0, MAX_VALUE_BYTES]) {
    const decoded = decodeRecord(encodePut(1, Buffer.from('k'), Buffer.alloc(size, 1)), 0);
    assert.equal(
      decoded.kind === 'record' && decoded.record.type === 'put' && decoded.record.value.length,
      size,
    );
  }
});

test('every strict prefix of a record is incomplete', () => {
  const record = encodePut(1, Buffer.from('key'), Buffer.from('value'));
  for (let n = 0; n < record.length; n += 1) {
    assert.deepEqual(decodeRecord(record.subarray(0, n), 0), { kind: 'incomplete' }, `prefix of ${n} bytes`);
  }
});

test('any single flipped bit makes a record unreadable, never a different record', () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1, maxLength: 20 }),
      fc.uint8Array({ maxLength: 64 }),
      fc.nat(),
      (key, value, bit) => {
        const record = encodePut(3, Buffer.from(key), value);
        const flipped = Buffer.from(record);
        const at = bit % (record.length * 8);
        flipped[at >> 3]! ^= 1 << (at & 7);
        assert.notEqual(decodeRecord(flipped, 0).kind, 'record');
      },
    ),
  );
});

test('zeros, as a crash can leave after the end of a file, are not a record', () => {
  assert.equal(decodeRecord(Buffer.alloc(64), 0).kind, 'corrupt');
});
