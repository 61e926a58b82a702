// Frames (SPEC §3.2): length bounds checked from 4 bytes alone, incomplete input, and a decoder that only
// ever returns a frame, null, or a typed HandoffError — whatever bytes it is given.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isHandoffError } from '../../src/errors.js';
import { encodeMessage } from '../../src/protocol/codec.js';
import { decodeFrame, encodeFrame, FRAME_HEADER_BYTES, frameSize } from '../../src/protocol/frame.js';
import { MAX_FRAME_BYTES, type Message } from '../../src/protocol/messages.js';
import { arbitraryMessage } from '../helpers/messages.js';

const ID = '00112233-4455-6677-8899-aabbccddeeff';

function header(frameLen: number): Buffer {
  const buf = Buffer.alloc(4);
  buf.writeUInt32LE(frameLen);
  return buf;
}

test('frame_len 0 and 1 are FrameMalformed from the 4 length bytes alone', () => {
  for (const frameLen of [0, 1]) {
    assert.throws(
      () => decodeFrame(header(frameLen)),
      (e: unknown) => isHandoffError(e, 'FrameMalformed') && e.details.frameLen === frameLen,
    );
  }
});

test('frame_len MAX+1 is FrameTooLarge from the 4 length bytes alone, and 2^32−1 too', () => {
  for (const frameLen of [MAX_FRAME_BYTES + 1, 0xffff_ffff]) {
    assert.throws(
      () => decodeFrame(header(frameLen)),
      (e: unknown) => isHandoffError(e, 'FrameTooLarge') && e.details.frameLen === frameLen,
    );
  }
});

test('a frame of exactly MAX_FRAME_BYTES is accepted by the reader and the writer', () => {
  // Abort{reason} sized so that frame_len = 2 + payload = MAX: 1 variant + 17 id + 3 length + reason.
  const reason = 'r'.repeat(MAX_FRAME_BYTES - 2 - 1 - 17 - 3);
  const message: Message = { type: 'Abort', handoffId: ID, reason };
  const frame = encodeFrame(message);
  assert.equal(frame.readUInt32LE(0), MAX_FRAME_BYTES);
  assert.equal(frameSize(frame), MAX_FRAME_BYTES + 4);
  const decoded = decodeFrame(frame);
  assert.ok(decoded);
  assert.equal(decoded.bytesRead, frame.length);
  assert.equal((decoded.message as { reason: string }).reason.length, reason.length);
});

test('the writer refuses a message whose frame would exceed MAX_FRAME_BYTES', () => {
  const reason = 'r'.repeat(MAX_FRAME_BYTES - 2 - 1 - 17 - 3 + 1);
  assert.throws(
    () => encodeFrame({ type: 'Abort', handoffId: ID, reason }),
    (e: unknown) => isHandoffError(e, 'FrameTooLarge') && e.details.frameLen === MAX_FRAME_BYTES + 1,
  );
});

test('every strict prefix of a frame is incomplete (null), never an error', () => {
  const frame = encodeFrame({
    type: 'Ready',
    handoffId: ID,
    listeningOn: ['a', 'b'],
    healthzOk: true,
    advertisedRevisionPerShard: [1n],
  });
  for (let n = 0; n < frame.length; n++) assert.equal(decodeFrame(frame.subarray(0, n)), null, `prefix ${n}`);
  assert.ok(decodeFrame(frame));
});

test('two coalesced frames decode one at a time using bytesRead', () => {
  const a = encodeFrame({ type: 'Heartbeat', tsMs: 1n });
  const b = encodeFrame({ type: 'Commit', handoffId: ID });
  const both = Buffer.concat([a, b]);
  const first = decodeFrame(both);
  assert.ok(first);
  assert.equal(first.bytesRead, a.length);
  const second = decodeFrame(both.subarray(first.bytesRead));
  assert.deepEqual(second?.message, { type: 'Commit', handoffId: ID });
});

test('the header version is exposed, not rejected', () => {
  const frame = encodeFrame({ type: 'Heartbeat', tsMs: 0n }, 7);
  assert.equal(frame.toString('hex'), '0400000007000d00');
  assert.equal(decodeFrame(frame)?.version, 7);
});

test('a frame whose payload is bad is a Codec error, and frame_len counts the version bytes', () => {
  const frame = Buffer.concat([header(3), Buffer.from([1, 0, 0x0e])]);
  assert.throws(
    () => decodeFrame(frame),
    (e: unknown) => isHandoffError(e, 'Codec'),
  );
  assert.equal(FRAME_HEADER_BYTES, 6);
});

test('decodeFrame on arbitrary bytes returns a frame, null, or a typed HandoffError, never anything else', () => {
  const allowed = new Set(['FrameMalformed', 'FrameTooLarge', 'Codec']);
  const check = (bytes: Uint8Array) => {
    try {
      const result = decodeFrame(bytes);
      if (result !== null)
        assert.ok(result.bytesRead <= bytes.length && result.bytesRead >= FRAME_HEADER_BYTES);
    } catch (error) {
      if (!isHandoffError(error) || !allowed.has(error.code)) throw error;
    }
  };
  // Raw noise, and noise behind a plausible header so the payload decoder is exercised too.
  fc.assert(fc.property(fc.uint8Array({ maxLength: 96 }), check), { numRuns: 10_000 });
  const framed = fc.uint8Array({ maxLength: 96 }).map((payload) => {
    const buf = Buffer.alloc(6 + payload.length);
    buf.writeUInt32LE(2 + payload.length);
    buf.writeUInt16LE(1, 4);
    buf.set(payload, 6);
    return new Uint8Array(buf);
  });
  fc.assert(fc.property(framed, check), { numRuns: 10_000 });
  // Mutations of valid frames: one byte flipped, so most of the frame still parses.
  const mutated = fc
    .tuple(arbitraryMessage, fc.nat(), fc.integer({ min: 1, max: 255 }))
    .map(([message, at, xor]) => {
      const frame = new Uint8Array(encodeFrame(message));
      const i = at % frame.length;
      frame[i] = frame[i]! ^ xor;
      return frame;
    });
  fc.assert(fc.property(mutated, check), { numRuns: 10_000 });
});

test('a frame fed one byte at a time decodes the same as whole', () => {
  fc.assert(
    fc.property(arbitraryMessage, (message) => {
      const frame = encodeFrame(message);
      const whole = decodeFrame(frame);
      let acc = Buffer.alloc(0);
      let result = null;
      for (const byte of frame) {
        assert.equal(result, null, 'decoded before the last byte');
        acc = Buffer.concat([acc, Buffer.from([byte])]);
        result = decodeFrame(acc);
      }
      assert.deepEqual(result, whole);
      assert.ok(Buffer.from(encodeMessage(result!.message)).equals(frame.subarray(FRAME_HEADER_BYTES)));
    }),
    { numRuns: 300 },
  );
});
