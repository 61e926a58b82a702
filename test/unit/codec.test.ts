// Postcard codec (SPEC §3.3): golden vectors, round-trip properties, and every rejection the decoder owes.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { isHandoffError } from '../../src/errors.js';
import { decodeMessage, encodeMessage } from '../../src/protocol/codec.js';
import { decodeFrame, encodeFrame } from '../../src/protocol/frame.js';
import type { Message } from '../../src/protocol/messages.js';
import { arbitraryMessage, hexToBytes, messageFromVectorJson } from '../helpers/messages.js';

const VECTORS_PATH = new URL('../fixtures/protocol-vectors.json', import.meta.url);
const SHARED_VECTORS_PATH = new URL('../../../shared/protocol-vectors.json', import.meta.url);

interface Vector {
  message: Record<string, unknown>;
  frameHex: string;
}
const vectors: Vector[] = JSON.parse(readFileSync(VECTORS_PATH, 'utf8'));

const ID = '00112233-4455-6677-8899-aabbccddeeff';
const ID_BYTES = '1000112233445566778899aabbccddeeff';

function expectCodecError(payloadHex: string, pattern: RegExp): void {
  assert.throws(
    () => decodeMessage(hexToBytes(payloadHex)),
    (error: unknown) => isHandoffError(error, 'Codec') && pattern.test(error.message),
  );
}

test('the in-repo golden vectors are the shared ones, byte for byte', {
  skip: !existsSync(SHARED_VECTORS_PATH),
}, () => {
  assert.equal(readFileSync(VECTORS_PATH, 'utf8'), readFileSync(SHARED_VECTORS_PATH, 'utf8'));
});

test('there is a golden vector for each of the 14 message types', () => {
  assert.equal(new Set(vectors.map((v) => v.message.type)).size, 14);
});

for (const vector of vectors) {
  const label = `${vector.message.type} ${vector.frameHex.slice(0, 24)}…`;
  test(`golden vector ${label} encodes to exactly its frame and decodes back`, () => {
    const message = messageFromVectorJson(vector.message);
    assert.equal(encodeFrame(message).toString('hex'), vector.frameHex);
    const decoded = decodeFrame(hexToBytes(vector.frameHex));
    assert.ok(decoded);
    assert.equal(decoded.version, 1);
    assert.equal(decoded.bytesRead, vector.frameHex.length / 2);
    assert.deepEqual(decoded.message, message);
  });
}

test('encode → decode → encode is byte-identical for arbitrary messages of every type', () => {
  fc.assert(
    fc.property(arbitraryMessage, (message: Message) => {
      const bytes = encodeMessage(message);
      const decoded = decodeMessage(bytes);
      // fast-check builds null-prototype records; compare fields, not prototypes.
      assert.deepEqual(decoded, { ...message });
      assert.deepEqual(encodeMessage(decoded), bytes);
    }),
    { numRuns: 2000 },
  );
});

test('u64 extremes round-trip exactly: 0, 2^53+1 and 2^64−1', () => {
  for (const tsMs of [0n, (1n << 53n) + 1n, (1n << 64n) - 1n]) {
    const decoded = decodeMessage(encodeMessage({ type: 'Heartbeat', tsMs }));
    assert.deepEqual(decoded, { type: 'Heartbeat', tsMs });
  }
  assert.equal(
    Buffer.from(encodeMessage({ type: 'Heartbeat', tsMs: (1n << 64n) - 1n })).toString('hex'),
    '0dffffffffffffffffff01',
  );
});

test('varints that overflow their declared width are rejected', () => {
  // Drained.openConnsRemaining is a u32: 2^32 needs a 5th byte of 0x10.
  expectCodecError('038080808010' + '01', /overflows u32/);
  // Hello.protoMin is a u16: 65536 = 80 80 04.
  expectCodecError('0000d20900808004' + '0100', /overflows u16/);
  // Heartbeat.tsMs is a u64: 2^64 needs a 10th byte of 0x02.
  expectCodecError(`0d${'80'.repeat(9)}02`, /overflows u64/);
});

test('varints longer than 3/5/10 bytes are rejected even when their value is small', () => {
  expectCodecError(`0d${'80'.repeat(10)}00`, /longer than 10 bytes/);
  expectCodecError('03' + '8080808080' + '00' + '01', /longer than 5 bytes/);
  expectCodecError('0000d209008080' + '80' + '00' + '0100', /longer than 3 bytes/);
});

test('a non-minimal varint within its width decodes, as postcard accepts it', () => {
  assert.deepEqual(decodeMessage(hexToBytes('0d8000')), { type: 'Heartbeat', tsMs: 0n });
});

test('a bool byte other than 0 or 1 is rejected', () => {
  expectCodecError('030002', /bool byte must be 0 or 1, got 2/);
  expectCodecError('0300ff', /bool byte must be 0 or 1, got 255/);
});

test('invalid UTF-8 in a string is rejected', () => {
  expectCodecError(`0b${ID_BYTES}02c328`, /not valid UTF-8/);
  expectCodecError(`0b${ID_BYTES}01ff`, /not valid UTF-8/);
});

test('an unknown message variant and an unknown Side are rejected', () => {
  expectCodecError('0e', /unknown message variant 14/);
  expectCodecError('ff01', /unknown message variant 255/);
  expectCodecError('0002d20900010100', /unknown Side 2/);
});

test('a fingerprint shorter than 32 bytes is rejected, and cannot be encoded', () => {
  expectCodecError(
    `06${ID_BYTES}012a${'ab'.repeat(31)}`,
    /dataDirFingerprint needs 32 bytes but only 31 remain/,
  );
  assert.throws(
    () =>
      encodeMessage({
        type: 'SealComplete',
        handoffId: ID,
        lastRevisionPerShard: [],
        dataDirFingerprint: new Uint8Array(31),
      }),
    (error: unknown) => isHandoffError(error, 'Codec') && /exactly 32 bytes/.test(error.message),
  );
});

test('a handoff id whose length is not 16 is rejected', () => {
  expectCodecError('040f00112233445566778899aabbccddee', /a UUID is 16 bytes, got 15/);
  expectCodecError(`0411${'00'.repeat(17)}`, /a UUID is 16 bytes, got 17/);
});

test('trailing bytes after a complete message are rejected', () => {
  expectCodecError('0d0000', /1 trailing bytes after a complete Heartbeat/);
  expectCodecError(`0a${ID_BYTES}00`, /1 trailing bytes after a complete Commit/);
});

test('a length prefix larger than the bytes that remain is rejected before allocating', () => {
  expectCodecError('0000d209ffffffff0f', /claims 4294967295 items but only 0 bytes remain/);
  expectCodecError(`09${ID_BYTES}ffffffffffffffffff01`, /claims 18446744073709551615 items/);
});

test('an empty payload and a truncated payload are rejected', () => {
  expectCodecError('', /payload ends inside message variant/);
  expectCodecError('00', /payload ends inside Hello.role/);
  expectCodecError(`06${ID_BYTES}`, /payload ends inside SealComplete.lastRevisionPerShard length/);
});

test('values out of their wire range cannot be encoded', () => {
  const bad: unknown[] = [
    { type: 'Drained', openConnsRemaining: 2 ** 32, acceptClosed: true },
    { type: 'Drained', openConnsRemaining: -1, acceptClosed: true },
    { type: 'Drained', openConnsRemaining: 1.5, acceptClosed: true },
    { type: 'Heartbeat', tsMs: 1n << 64n },
    { type: 'Heartbeat', tsMs: -1n },
    { type: 'Heartbeat', tsMs: 5 },
    { type: 'HelloAck', protoVersionChosen: 1, handoffId: 'not-a-uuid' },
    { type: 'HelloAck', protoVersionChosen: 1, handoffId: ID.toUpperCase() },
    { type: 'Abort', handoffId: ID, reason: 'lone \ud800 surrogate' },
    { type: 'Nope' },
  ];
  for (const message of bad) {
    assert.throws(
      () => encodeMessage(message as Message),
      (error: unknown) => isHandoffError(error, 'Codec'),
      JSON.stringify(message, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)),
    );
  }
});

test('decoded byte fields are copies, not views of the frame buffer', () => {
  const frame = Buffer.from(
    encodeMessage({
      type: 'Hello',
      role: 'Successor',
      pid: 1,
      buildId: new Uint8Array([7, 7]),
      protoMin: 1,
      protoMax: 1,
      capabilities: 0n,
    }),
  );
  const decoded = decodeMessage(frame);
  frame.fill(0);
  assert.equal(decoded.type === 'Hello' && Buffer.from(decoded.buildId).toString('hex'), '0707');
  assert.equal(decoded.type === 'Hello' && Object.getPrototypeOf(decoded.buildId), Uint8Array.prototype);
});
