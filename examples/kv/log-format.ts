// The kv log's bytes (pure, no I/O): an 8-byte magic, then records `u32 bodyLen | u32 crc32 | body`, all
// little-endian, where the crc covers the length field and the body so a torn or garbled tail is detected.
// Bodies: Put `01 | u64 revision | u16 keyLen | key (UTF-8) | value`, Seal `02 | u64 revision | sha256[32]`.

import zlib from 'node:zlib';

export const MAGIC = Buffer.from('HOKVLOG1', 'latin1');
export const RECORD_HEADER_BYTES = 8;
export const MAX_KEY_BYTES = 1024;
/** The format's ceiling for a value; a store may accept less. */
export const MAX_VALUE_BYTES = 1 << 20;
/** A put body's bytes before the key: type, revision, key length. */
export const PUT_FIXED_BYTES = 1 + 8 + 2;
export const SEAL_BODY_BYTES = 1 + 8 + 32;
export const SEAL_RECORD_BYTES = RECORD_HEADER_BYTES + SEAL_BODY_BYTES;
export const MAX_RECORD_BYTES = RECORD_HEADER_BYTES + PUT_FIXED_BYTES + MAX_KEY_BYTES + MAX_VALUE_BYTES;

export const TYPE_PUT = 1;
export const TYPE_SEAL = 2;

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

/** The crc32 table (reflected polynomial 0xEDB88320), built once at load; never written after. */
const TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** The same crc32 as zlib's, for Node versions that lack it. Exported for its test. */
export function tableCrc32(data: Uint8Array, value = 0): number {
  return tableCrc32Range(data, 0, data.length, value);
}

function tableCrc32Range(data: Uint8Array, start: number, end: number, value: number): number {
  let crc = ~value >>> 0;
  for (let i = start; i < end; i += 1) crc = TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

/**
 * Below this many body bytes the table loop beats a call into zlib (≈ 90 ns a call on this project's
 * machine, ≈ 2 ns a byte for the loop; measured on 59-byte and 1 KiB records).
 */
const TABLE_CRC_MAX_BODY_BYTES = 96;

/**
 * The checksum of the record in `buf[start, end)`: crc32 over its length field and its body (the 4 bytes
 * between them hold the checksum itself). One pass per record: the length field's 4 bytes go through the
 * table, the body through the table or zlib by size, so replay makes one zlib call per record at most and
 * none for small ones (two calls per record cost 11 % of a replay).
 */
export function recordChecksum(buf: Uint8Array, start: number, end: number): number {
  const afterLength = tableCrc32Range(buf, start, start + 4, 0);
  const bodyAt = start + RECORD_HEADER_BYTES;
  if (end - bodyAt <= TABLE_CRC_MAX_BODY_BYTES) return tableCrc32Range(buf, bodyAt, end, afterLength);
  return crc32(buf.subarray(bodyAt, end), afterLength);
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
  record.writeUInt32LE(recordChecksum(record, 0, record.length), 4);
  return record;
}

/**
 * Reads the record at `offset`. Never throws; the value and key it returns are copies. For tests and tools:
 * replay (replay.ts) decodes inline, without an object per record.
 */
export function decodeRecord(buf: Buffer, offset: number): Decoded {
  if (buf.length - offset < RECORD_HEADER_BYTES) return { kind: 'incomplete' };
  const bodyLen = buf.readUInt32LE(offset);
  if (bodyLen < PUT_FIXED_BYTES || bodyLen > MAX_RECORD_BYTES - RECORD_HEADER_BYTES) {
    return { kind: 'corrupt', reason: `record length ${bodyLen} out of range` };
  }
  const size = RECORD_HEADER_BYTES + bodyLen;
  if (buf.length - offset < size) return { kind: 'incomplete' };
  const record = buf.subarray(offset, offset + size);
  if (recordChecksum(record, 0, size) !== record.readUInt32LE(4))
    return { kind: 'corrupt', reason: 'checksum mismatch' };
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
