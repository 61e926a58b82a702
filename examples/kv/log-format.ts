// The kv log's bytes (pure, no I/O): an 8-byte magic, then records `u32 bodyLen | u32 crc32 | body`, all
// little-endian, where the crc covers the length field and the body so a torn or garbled tail is detected.
// Bodies: Put `01 | u64 revision | u16 keyLen | key (UTF-8) | value`, Seal `02 | u64 revision | sha256[32]`.

import zlib from 'node:zlib';

export const MAGIC = Buffer.from('HOKVLOG1', 'latin1');
export const RECORD_HEADER_BYTES = 8;
export const MAX_KEY_BYTES = 1024;
/** The format's ceiling for a value; a store may accept less. */
export const MAX_VALUE_BYTES = 1 << 20;
const PUT_FIXED_BYTES = 1 + 8 + 2;
const SEAL_BODY_BYTES = 1 + 8 + 32;
export const SEAL_RECORD_BYTES = RECORD_HEADER_BYTES + SEAL_BODY_BYTES;
export const MAX_RECORD_BYTES = RECORD_HEADER_BYTES + PUT_FIXED_BYTES + MAX_KEY_BYTES + MAX_VALUE_BYTES;

const TYPE_PUT = 1;
const TYPE_SEAL = 2;

/** A put: `key` set to `value` at `revision` (1, 2, 3… in file order). */
export interface PutRecord {
  readonly type: 'put';
  readonly revision: number;
  readonly key: string;
  readonly value: Buffer;
}

/**
 * A seal footer, written by `seal()`: `revision` is the last put's, `fingerprint` the SHA-256 of every log
 * byte before this record. Replay checks it and reads on, so a reopened log appends after it and can be
 * sealed again.
 */
export interface SealRecord {
  readonly type: 'seal';
  readonly revision: number;
  readonly fingerprint: Buffer;
}

export type LogRecord = PutRecord | SealRecord;

/** What `decodeRecord` found at an offset: a record and its size, too few bytes, or bytes that are no record. */
export type Decoded =
  | { readonly kind: 'record'; readonly record: LogRecord; readonly size: number }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'corrupt'; readonly reason: string };

/** crc32 (IEEE), from node:zlib where it exists (Node ≥ 20.15), else from a table. */
export const crc32: (data: Uint8Array, value?: number) => number =
  (zlib as Partial<typeof zlib>).crc32 ?? tableCrc32;

let table: Uint32Array | undefined;

/** The same crc32 as zlib's, for Node versions that lack it. Exported for its test. */
export function tableCrc32(data: Uint8Array, value = 0): number {
  table ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = ~value >>> 0;
  for (const byte of data) crc = table[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

export function encodePut(revision: number, key: Buffer, value: Uint8Array): Buffer {
  const body = PUT_FIXED_BYTES + key.length + value.length;
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + body);
  out.writeUInt8(TYPE_PUT, 8);
  out.writeBigUInt64LE(BigInt(revision), 9);
  out.writeUInt16LE(key.length, 17);
  key.copy(out, 19);
  out.set(value, 19 + key.length);
  return finishRecord(out);
}

export function encodeSeal(revision: number, fingerprint: Uint8Array): Buffer {
  if (fingerprint.length !== 32) throw new RangeError(`a fingerprint is 32 bytes, got ${fingerprint.length}`);
  const out = Buffer.allocUnsafe(SEAL_RECORD_BYTES);
  out.writeUInt8(TYPE_SEAL, 8);
  out.writeBigUInt64LE(BigInt(revision), 9);
  out.set(fingerprint, 17);
  return finishRecord(out);
}

/** Fills in the header of a record whose body is already at offset 8. */
function finishRecord(record: Buffer): Buffer {
  record.writeUInt32LE(record.length - RECORD_HEADER_BYTES, 0);
  record.writeUInt32LE(checksum(record), 4);
  return record;
}

function checksum(record: Buffer): number {
  return crc32(record.subarray(RECORD_HEADER_BYTES), crc32(record.subarray(0, 4)));
}

/** Reads the record at `offset`. Never throws; the value and key it returns are copies. */
export function decodeRecord(buf: Buffer, offset: number): Decoded {
  if (buf.length - offset < RECORD_HEADER_BYTES) return { kind: 'incomplete' };
  const bodyLen = buf.readUInt32LE(offset);
  if (bodyLen < PUT_FIXED_BYTES || bodyLen > MAX_RECORD_BYTES - RECORD_HEADER_BYTES) {
    return { kind: 'corrupt', reason: `record length ${bodyLen} out of range` };
  }
  const size = RECORD_HEADER_BYTES + bodyLen;
  if (buf.length - offset < size) return { kind: 'incomplete' };
  const record = buf.subarray(offset, offset + size);
  if (checksum(record) !== record.readUInt32LE(4)) return { kind: 'corrupt', reason: 'checksum mismatch' };
  const type = record.readUInt8(8);
  const revision = Number(record.readBigUInt64LE(9));
  if (type === TYPE_SEAL && bodyLen === SEAL_BODY_BYTES) {
    return {
      kind: 'record',
      size,
      record: { type: 'seal', revision, fingerprint: Buffer.from(record.subarray(17)) },
    };
  }
  if (type === TYPE_PUT) {
    const keyLen = record.readUInt16LE(17);
    if (keyLen > bodyLen - PUT_FIXED_BYTES)
      return { kind: 'corrupt', reason: `key length ${keyLen} too large` };
    const key = record.toString('utf8', 19, 19 + keyLen);
    const value = Buffer.from(record.subarray(19 + keyLen));
    return { kind: 'record', size, record: { type: 'put', revision, key, value } };
  }
  return { kind: 'corrupt', reason: `unknown record type ${type} (length ${bodyLen})` };
}

/**
 * The writer never writes more than this in one write + fdatasync (one record always goes, however large).
 * A crash can therefore leave at most one partial batch: the reader treats bad bytes at the end as a torn
 * tail only if no more than MAX_TORN_TAIL_BYTES follow the last good record.
 */
export const MAX_BATCH_BYTES = 1 << 20;
export const MAX_TORN_TAIL_BYTES = MAX_BATCH_BYTES + MAX_RECORD_BYTES;
