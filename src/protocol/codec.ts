// Postcard 1.x encoding of the protocol messages (docs/protocol.md §3.3): exactly the subset these types need.
// One schema table describes every message; the encoder and decoder walk it, so a field's wire rule
// lives in one place. Decoding rejects anything postcard would, plus trailing bytes ([beyond]).

import { handoffIdFromBytes, handoffIdToBytes } from './handoff-id.js';
import { MESSAGE_TYPES, type Message, type MessageOf, type MessageType, type Side } from './messages.js';
import {
  ByteReader,
  ByteWriter,
  checkUnsigned,
  codecError,
  decodeString,
  encodeString,
  U16,
  U32,
  U64_MAX,
  U64_MAX_VARINT_BYTES,
} from './postcard.js';

const SIDES = ['Incumbent', 'Successor'] as const satisfies readonly Side[];
const FINGERPRINT_BYTES = 32;
const UUID_BYTES = 16;

/** The wire kinds a field can have, and the TypeScript type each one carries. */
interface KindTypes {
  side: Side;
  u16: number;
  u32: number;
  u64: bigint;
  bool: boolean;
  bytes: Uint8Array;
  string: string;
  id: string;
  fingerprint: Uint8Array;
  u64List: readonly bigint[];
  stringList: readonly string[];
}
type Kind = keyof KindTypes;

type FieldName<M> = Exclude<keyof M, 'type'>;
/** The kinds whose TypeScript type is exactly T. */
type KindsFor<T> = {
  [K in Kind]: [KindTypes[K]] extends [T] ? ([T] extends [KindTypes[K]] ? K : never) : never;
}[Kind];
type Field<M> = { [F in FieldName<M>]: readonly [F, KindsFor<M[F]>] }[FieldName<M>];
type Schema = { readonly [T in MessageType]: readonly Field<MessageOf<T>>[] };

/** Field order is wire order (docs/protocol.md §3.4). The type checks each field's name and kind against messages.ts. */
const SCHEMA: Schema = {
  Hello: [
    ['role', 'side'],
    ['pid', 'u32'],
    ['buildId', 'bytes'],
    ['protoMin', 'u16'],
    ['protoMax', 'u16'],
    ['capabilities', 'u64'],
  ],
  HelloAck: [
    ['protoVersionChosen', 'u16'],
    ['handoffId', 'id'],
  ],
  PrepareHandoff: [
    ['handoffId', 'id'],
    ['successorPid', 'u32'],
    ['deadlineMs', 'u64'],
    ['drainGraceMs', 'u64'],
  ],
  Drained: [
    ['openConnsRemaining', 'u32'],
    ['acceptClosed', 'bool'],
  ],
  SealRequest: [['handoffId', 'id']],
  SealProgress: [
    ['shardsSealed', 'u32'],
    ['shardsTotal', 'u32'],
    ['lastRevision', 'u64'],
  ],
  SealComplete: [
    ['handoffId', 'id'],
    ['lastRevisionPerShard', 'u64List'],
    ['dataDirFingerprint', 'fingerprint'],
  ],
  SealFailed: [
    ['handoffId', 'id'],
    ['error', 'string'],
    ['partialState', 'string'],
  ],
  Begin: [['handoffId', 'id']],
  Ready: [
    ['handoffId', 'id'],
    ['listeningOn', 'stringList'],
    ['healthzOk', 'bool'],
    ['advertisedRevisionPerShard', 'u64List'],
  ],
  Commit: [['handoffId', 'id']],
  Abort: [
    ['handoffId', 'id'],
    ['reason', 'string'],
  ],
  ResumeAfterAbort: [['handoffId', 'id']],
  Heartbeat: [['tsMs', 'u64']],
};

// ---------------------------------------------------------------------------------------------------------
// Encoding

function encodeField(w: ByteWriter, name: string, kind: Kind, value: unknown): void {
  switch (kind) {
    case 'side': {
      const index = SIDES.indexOf(value as Side);
      if (index < 0)
        throw codecError(`field ${name} must be 'Incumbent' or 'Successor', got ${String(value)}`);
      w.varint(BigInt(index));
      return;
    }
    case 'u16':
      w.varint(checkUnsigned(name, value, U16.max));
      return;
    case 'u32':
      w.varint(checkUnsigned(name, value, U32.max));
      return;
    case 'u64':
      if (typeof value !== 'bigint') throw codecError(`field ${name} must be a bigint, got ${typeof value}`);
      w.varint(checkUnsigned(name, value, U64_MAX));
      return;
    case 'bool':
      if (typeof value !== 'boolean')
        throw codecError(`field ${name} must be a boolean, got ${typeof value}`);
      w.byte(value ? 1 : 0);
      return;
    case 'bytes':
      if (!(value instanceof Uint8Array)) throw codecError(`field ${name} must be a Uint8Array`);
      w.varint(BigInt(value.length));
      w.raw(value);
      return;
    case 'string':
      encodeString(w, name, value);
      return;
    case 'id':
      w.varint(BigInt(UUID_BYTES));
      w.raw(handoffIdToBytes(value as string));
      return;
    case 'fingerprint':
      if (!(value instanceof Uint8Array) || value.length !== FINGERPRINT_BYTES) {
        throw codecError(`field ${name} must be exactly ${FINGERPRINT_BYTES} bytes`);
      }
      w.raw(value);
      return;
    case 'u64List':
      if (!Array.isArray(value)) throw codecError(`field ${name} must be an array of bigint`);
      w.varint(BigInt(value.length));
      for (const item of value) encodeField(w, `${name}[]`, 'u64', item);
      return;
    case 'stringList':
      if (!Array.isArray(value)) throw codecError(`field ${name} must be an array of strings`);
      w.varint(BigInt(value.length));
      for (const item of value) encodeString(w, `${name}[]`, item);
      return;
  }
}

/** The postcard payload of one message (no frame header). Throws `Codec` for a value out of its wire range. */
export function encodeMessage(message: Message): Uint8Array {
  const index = MESSAGE_TYPES.indexOf(message.type);
  if (index < 0) throw codecError(`unknown message type ${JSON.stringify(message.type)}`);
  const w = new ByteWriter();
  w.varint(BigInt(index));
  const fields = message as unknown as Record<string, unknown>;
  for (const [name, kind] of SCHEMA[message.type] as readonly (readonly [string, Kind])[]) {
    encodeField(w, name, kind, fields[name]);
  }
  return w.result();
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

function decodeField(r: ByteReader, name: string, kind: Kind): unknown {
  switch (kind) {
    case 'side': {
      const index = r.varint(32, U32.maxVarintBytes, name);
      const side = SIDES[Number(index)];
      if (index >= BigInt(SIDES.length) || side === undefined)
        throw codecError(`${name}: unknown Side ${index}`);
      return side;
    }
    case 'u16':
      return Number(r.varint(U16.bits, U16.maxVarintBytes, name));
    case 'u32':
      return Number(r.varint(U32.bits, U32.maxVarintBytes, name));
    case 'u64':
      return r.varint(64, U64_MAX_VARINT_BYTES, name);
    case 'bool': {
      const b = r.byte(name);
      if (b > 1) throw codecError(`${name}: bool byte must be 0 or 1, got ${b}`);
      return b === 1;
    }
    case 'bytes':
      // A copy as a plain Uint8Array: a subarray (or a Buffer's slice) would alias the caller's frame buffer.
      return new Uint8Array(r.take(r.length(name, 1), name));
    case 'string':
      return decodeString(r, name);
    case 'id': {
      const n = r.length(name, 1);
      if (n !== UUID_BYTES) throw codecError(`${name}: a UUID is ${UUID_BYTES} bytes, got ${n}`);
      return handoffIdFromBytes(r.take(n, name));
    }
    case 'fingerprint':
      return new Uint8Array(r.take(FINGERPRINT_BYTES, name));
    case 'u64List': {
      const n = r.length(name, 1);
      const out: bigint[] = [];
      for (let i = 0; i < n; i++) out.push(r.varint(64, U64_MAX_VARINT_BYTES, `${name}[${i}]`));
      return out;
    }
    case 'stringList': {
      const n = r.length(name, 1);
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push(decodeString(r, `${name}[${i}]`));
      return out;
    }
  }
}

/** Decodes one message from exactly `payload`. Throws only `Codec` HandoffErrors. */
export function decodeMessage(payload: Uint8Array): Message {
  const r = new ByteReader(payload);
  const index = r.varint(32, U32.maxVarintBytes, 'message variant');
  const type = MESSAGE_TYPES[Number(index)];
  if (index >= BigInt(MESSAGE_TYPES.length) || type === undefined) {
    throw codecError(`unknown message variant ${index}`);
  }
  const message: Record<string, unknown> = { type };
  for (const [name, kind] of SCHEMA[type] as readonly (readonly [string, Kind])[]) {
    message[name] = decodeField(r, `${type}.${name}`, kind);
  }
  if (r.remaining !== 0) throw codecError(`${r.remaining} trailing bytes after a complete ${type}`);
  return message as unknown as Message;
}
