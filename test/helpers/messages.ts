// Test helpers for protocol messages: the golden-vector JSON form (SPEC §3.4) and fast-check arbitraries
// for every message type.

import fc from 'fast-check';
import type { Message } from '../../src/protocol/messages.js';

/** Fields whose JSON form is lowercase hex and whose value is a Uint8Array. */
const BYTE_FIELDS = new Set(['buildId', 'dataDirFingerprint']);
/** Fields that are u64 on the wire (bigint in memory); lists of u64 included. */
const U64_FIELDS = new Set([
  'capabilities',
  'deadlineMs',
  'drainGraceMs',
  'lastRevision',
  'lastRevisionPerShard',
  'advertisedRevisionPerShard',
  'tsMs',
]);

export function hexToBytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** The in-memory message of a vector's JSON `message` object. */
export function messageFromVectorJson(json: Record<string, unknown>): Message {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    if (BYTE_FIELDS.has(key)) out[key] = hexToBytes(value as string);
    else if (U64_FIELDS.has(key))
      out[key] = Array.isArray(value) ? value.map((v) => BigInt(v)) : BigInt(value as number);
    else out[key] = value;
  }
  return out as unknown as Message;
}

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const id = fc.uuid({ version: 4 });
const anyId = fc.uuid();
const text = fc.string({ unit: 'binary', maxLength: 40 });
const bytes = fc.uint8Array({ minLength: 0, maxLength: 64 });
const u64List = fc.array(u64, { maxLength: 16 });
const textList = fc.array(text, { maxLength: 16 });

/** Arbitrary messages of all 14 types, covering the full range of every field. */
export const arbitraryMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    type: fc.constant('Hello' as const),
    role: fc.constantFrom('Incumbent' as const, 'Successor' as const),
    pid: u32,
    buildId: bytes,
    protoMin: u16,
    protoMax: u16,
    capabilities: u64,
  }),
  fc.record({ type: fc.constant('HelloAck' as const), protoVersionChosen: u16, handoffId: id }),
  fc.record({
    type: fc.constant('PrepareHandoff' as const),
    handoffId: anyId,
    successorPid: u32,
    deadlineMs: u64,
    drainGraceMs: u64,
  }),
  fc.record({ type: fc.constant('Drained' as const), openConnsRemaining: u32, acceptClosed: fc.boolean() }),
  fc.record({ type: fc.constant('SealRequest' as const), handoffId: id }),
  fc.record({
    type: fc.constant('SealProgress' as const),
    shardsSealed: u32,
    shardsTotal: u32,
    lastRevision: u64,
  }),
  fc.record({
    type: fc.constant('SealComplete' as const),
    handoffId: id,
    lastRevisionPerShard: u64List,
    dataDirFingerprint: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  }),
  fc.record({ type: fc.constant('SealFailed' as const), handoffId: id, error: text, partialState: text }),
  fc.record({ type: fc.constant('Begin' as const), handoffId: id }),
  fc.record({
    type: fc.constant('Ready' as const),
    handoffId: id,
    listeningOn: textList,
    healthzOk: fc.boolean(),
    advertisedRevisionPerShard: u64List,
  }),
  fc.record({ type: fc.constant('Commit' as const), handoffId: id }),
  fc.record({ type: fc.constant('Abort' as const), handoffId: id, reason: text }),
  fc.record({ type: fc.constant('ResumeAfterAbort' as const), handoffId: id }),
  fc.record({ type: fc.constant('Heartbeat' as const), tsMs: u64 }),
);
