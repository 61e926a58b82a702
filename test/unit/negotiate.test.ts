// Version negotiation (SPEC §3.5) and handoff ids.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHandoffError } from '../../src/errors.js';
import {
  handoffIdFromBytes,
  handoffIdToBytes,
  isHandoffId,
  newHandoffId,
} from '../../src/protocol/handoff-id.js';
import { negotiate } from '../../src/protocol/negotiate.js';

test('negotiate picks the highest common version: the SPEC cases', () => {
  assert.equal(negotiate(1, 3, 2, 5), 3);
  assert.equal(negotiate(1, 1, 1, 1), 1);
  assert.equal(negotiate(1, 5, 3, 4), 4);
});

test('negotiate with disjoint ranges is VersionMismatch carrying both ranges', () => {
  assert.throws(
    () => negotiate(1, 1, 2, 2),
    (e: unknown) =>
      isHandoffError(e, 'VersionMismatch') &&
      e.details.ourMin === 1 &&
      e.details.ourMax === 1 &&
      e.details.theirMin === 2 &&
      e.details.theirMax === 2 &&
      /we speak 1\.\.1, the peer speaks 2\.\.2/.test(e.message),
  );
});

test('newHandoffId mints distinct lowercase v4 UUIDs', () => {
  const ids = new Set(Array.from({ length: 1000 }, newHandoffId));
  assert.equal(ids.size, 1000);
  for (const id of ids) {
    assert.ok(isHandoffId(id));
    assert.equal(id[14], '4', 'version nibble');
    assert.match(id[19]!, /[89ab]/, 'variant bits');
  }
});

test('handoff ids convert to their 16 RFC 4122 bytes and back', () => {
  const id = '00112233-4455-6677-8899-aabbccddeeff';
  assert.equal(Buffer.from(handoffIdToBytes(id)).toString('hex'), '00112233445566778899aabbccddeeff');
  assert.equal(handoffIdFromBytes(handoffIdToBytes(id)), id);
  assert.equal(isHandoffId(id.toUpperCase()), false);
  assert.equal(isHandoffId('00112233445566778899aabbccddeeff'), false);
});
