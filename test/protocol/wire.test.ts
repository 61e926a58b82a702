// The framed connection (src/wire.ts) over a real Unix socket: split and coalesced frames, read timeouts,
// EOF inside and between frames, bad lengths, and a write to a peer that never reads.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { isHandoffError } from '../../src/errors.js';
import { encodeFrame } from '../../src/protocol/frame.js';
import type { Message } from '../../src/protocol/messages.js';
import { FramedConnection } from '../../src/wire.js';
import { referenceTimer } from '../helpers/reference-timer.js';
import { socketPair } from '../helpers/sockets.js';

const ID = '00112233-4455-6677-8899-aabbccddeeff';
const READY: Message = {
  type: 'Ready',
  handoffId: ID,
  listeningOn: ['127.0.0.1:8080'],
  healthzOk: true,
  advertisedRevisionPerShard: [43n],
};

test('a frame split across two socket writes is read whole', async (t) => {
  const { left, right } = await socketPair(t);
  const conn = new FramedConnection(right);
  const frame = encodeFrame(READY);
  const reading = conn.read(2000, 'Ready');
  const firstChunkArrived = once(right, 'data');
  left.write(frame.subarray(0, 7));
  await firstChunkArrived;
  left.write(frame.subarray(7));
  const received = await reading;
  assert.deepEqual(received, { version: 1, message: READY });
});

test('two frames coalesced into one write are read one at a time', async (t) => {
  const { left, right } = await socketPair(t);
  const conn = new FramedConnection(right);
  left.write(Buffer.concat([encodeFrame({ type: 'Heartbeat', tsMs: 5n }), encodeFrame(READY)]));
  assert.deepEqual((await conn.read(2000, 'Heartbeat')).message, { type: 'Heartbeat', tsMs: 5n });
  assert.deepEqual((await conn.read(2000, 'Ready')).message, READY);
});

test('a read times out with Timeout naming what was awaited, and the connection stays usable', async (t) => {
  const { left, right } = await socketPair(t);
  const conn = new FramedConnection(right, { peer: 'test supervisor' });
  await assert.rejects(
    conn.read(30, 'HelloAck'),
    (e: unknown) =>
      isHandoffError(e, 'Timeout') &&
      e.details.what === 'HelloAck' &&
      e.details.timeoutMs === 30 &&
      e.message === 'no HelloAck from test supervisor within 30 ms',
  );
  assert.equal(conn.closed, false);
  left.write(encodeFrame(READY));
  assert.deepEqual((await conn.read(2000, 'Ready')).message, READY);
});

test('peer EOF inside a frame is an Io error that says so, never a hang', async (t) => {
  const { left, right } = await socketPair(t);
  const conn = new FramedConnection(right);
  left.end(encodeFrame(READY).subarray(0, 10));
  await assert.rejects(
    conn.read(5000, 'Ready'),
    (e: unknown) =>
      isHandoffError(e, 'Io') && e.details.eof === true && /inside a frame \(10 bytes/.test(e.message),
  );
  await assert.rejects(conn.read(5000, 'Ready'), (e: unknown) => isHandoffError(e, 'Io'));
});

test('frames that arrived before a clean EOF are still read, then the EOF', async (t) => {
  const { left, right } = await socketPair(t);
  const conn = new FramedConnection(right);
  left.end(encodeFrame(READY));
  await once(right, 'end');
  assert.deepEqual((await conn.read(2000, 'Ready')).message, READY);
  await assert.rejects(
    conn.read(2000, 'Commit'),
    (e: unknown) =>
      isHandoffError(e, 'Io') && e.details.eof === true && /closed the connection$/.test(e.message),
  );
});

test('an oversize length fails the read with FrameTooLarge and destroys the socket', async (t) => {
  const { left, right } = await socketPair(t);
  const conn = new FramedConnection(right);
  const closed = once(right, 'close');
  left.write(Buffer.from([0x01, 0x00, 0x10, 0x00])); // 0x00100001 = MAX + 1, body never sent
  await assert.rejects(conn.read(5000, 'Hello'), (e: unknown) => isHandoffError(e, 'FrameTooLarge'));
  await closed;
  assert.equal(conn.closed, true);
});

test('garbage bytes fail the read with a typed error and close the connection', async (t) => {
  const { left, right } = await socketPair(t);
  const conn = new FramedConnection(right);
  left.write(Buffer.from([0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x63])); // variant 99
  await assert.rejects(conn.read(5000, 'Hello'), (e: unknown) => isHandoffError(e, 'Codec'));
  assert.equal(conn.closed, true);
});

test('a write to a peer that never reads times out and destroys the socket', async (t) => {
  const { left, right } = await socketPair(t);
  right.pause(); // the peer never reads: the kernel buffers fill and stay full
  const writeTimeoutMs = 150;
  const conn = new FramedConnection(left, { writeTimeoutMs, peer: 'stalled peer' });
  const big: Message = { type: 'Abort', handoffId: ID, reason: 'x'.repeat(1 << 19) };
  let failure: unknown;
  for (let i = 0; i < 64 && failure === undefined; i++) {
    // Each write settles, done or failed by its own timeout, before a timer of 20 times the write timeout
    // started with it fires: the timeout bounds the write, and the order does not depend on how busy the
    // machine is (reference-timer.ts says why).
    const reference = referenceTimer(20 * writeTimeoutMs);
    const first: string = await Promise.race([
      conn.write(big).then(
        () => 'the write',
        (e: unknown) => {
          failure = e;
          return 'the write';
        },
      ),
      reference.expired.then(() => 'the reference timer'),
    ]);
    reference.cancel();
    assert.equal(first, 'the write', `write ${i + 1} settled before the reference timer fired`);
  }
  assert.ok(
    isHandoffError(failure, 'Timeout') &&
      /writing Abort to stalled peer did not complete within 150 ms/.test(failure.message),
    String(failure),
  );
  assert.equal(conn.closed, true);
  assert.equal(left.destroyed, true);
  await assert.rejects(conn.write({ type: 'Heartbeat', tsMs: 0n }), (e: unknown) =>
    isHandoffError(e, 'Timeout'),
  );
});

test('writes from two callers never interleave: each frame arrives whole and in order', async (t) => {
  const { left, right } = await socketPair(t);
  const writer = new FramedConnection(left);
  const reader = new FramedConnection(right);
  const reasons = Array.from({ length: 50 }, (_, i) => `${i}`.repeat(20_000 + i));
  const writes = Promise.all(reasons.map((reason) => writer.write({ type: 'Abort', handoffId: ID, reason })));
  for (const reason of reasons) {
    const { message } = await reader.read(5000, 'Abort');
    assert.equal(message.type === 'Abort' && message.reason, reason);
  }
  await writes;
});

test('a message that cannot be encoded rejects the write without touching the socket', async (t) => {
  const { left } = await socketPair(t);
  const conn = new FramedConnection(left);
  await assert.rejects(conn.write({ type: 'Heartbeat', tsMs: -1n }), (e: unknown) =>
    isHandoffError(e, 'Codec'),
  );
  assert.equal(conn.closed, false);
});

test('a write after the peer closed rejects with Io', async (t) => {
  const { left, right } = await socketPair(t);
  const conn = new FramedConnection(left);
  right.destroy();
  await once(left, 'end');
  await assert.rejects(conn.write({ type: 'Heartbeat', tsMs: 0n }), (e: unknown) => isHandoffError(e, 'Io'));
});

test('a peer flooding frames nobody reads gets paused, and every frame is still delivered in order', async (t) => {
  const { left, right } = await socketPair(t);
  const conn = new FramedConnection(right);
  const frames = Array.from({ length: 500 }, (_, i) => encodeFrame({ type: 'Heartbeat', tsMs: BigInt(i) }));
  // The reader pauses the socket from its 'data' handler, and pausing a flowing socket emits 'pause'.
  const paused = once(right, 'pause', { signal: AbortSignal.timeout(5000) }).then(
    () => true,
    () => false,
  );
  left.write(Buffer.concat(frames));
  assert.equal(await paused, true, 'the reader paused the socket instead of queueing without bound');
  assert.equal(right.isPaused(), true, 'and it stays paused while nobody reads');
  for (let i = 0; i < frames.length; i++) {
    assert.deepEqual((await conn.read(5000, 'Heartbeat')).message, { type: 'Heartbeat', tsMs: BigInt(i) });
  }
});

test('the connection negotiates its version from a Hello range, refuses a chosen version outside ours, and writes with it', async (t) => {
  const { left, right } = await socketPair(t);
  const supervisor = new FramedConnection(left);
  const instance = new FramedConnection(right);
  assert.equal(supervisor.version, 1, 'before a handshake frames go out at our highest version');
  assert.equal(supervisor.negotiateVersion(1, 9), 1);
  assert.throws(
    () => supervisor.negotiateVersion(2, 9),
    (e: unknown) => isHandoffError(e, 'VersionMismatch'),
  );
  assert.throws(
    () => instance.adoptChosenVersion(2),
    (e: unknown) => isHandoffError(e, 'VersionMismatch'),
  );
  instance.adoptChosenVersion(1);
  await supervisor.write(READY);
  assert.deepEqual(await instance.read(2000, 'Ready'), { version: 1, message: READY });
});

test('withHeartbeats sends Heartbeat frames while the work runs and none after it', async (t) => {
  const { left, right } = await socketPair(t);
  const sender = new FramedConnection(left);
  const receiver = new FramedConnection(right);
  const result = await sender.withHeartbeats(10, async () => {
    // The work ends once two heartbeats have arrived: they were sent while it ran.
    for (let i = 0; i < 2; i++) {
      assert.equal((await receiver.read(2000, 'Heartbeat')).message.type, 'Heartbeat');
    }
    return 'done';
  });
  assert.equal(result, 'done');
  // A marker frame written now must be the next frame after any beat already in flight, and no beat
  // follows it within ten intervals.
  await sender.write(READY);
  let next = (await receiver.read(2000, 'Ready')).message;
  while (next.type === 'Heartbeat') next = (await receiver.read(2000, 'Ready')).message;
  assert.deepEqual(next, READY);
  await assert.rejects(receiver.read(100, 'a late Heartbeat'), (e: unknown) => isHandoffError(e, 'Timeout'));
});

test('closeSignal aborts when the peer closes, carrying the Io error', async (t) => {
  const { left, right } = await socketPair(t);
  const conn = new FramedConnection(right);
  assert.equal(conn.closeSignal.aborted, false);
  const aborted = once(conn.closeSignal, 'abort');
  left.end();
  await aborted;
  assert.ok(isHandoffError(conn.closeSignal.reason, 'Io'));
  assert.equal(conn.closeSignal.reason.details.eof, true);
});
