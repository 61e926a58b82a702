// Replays a kv log (log-format.ts) into memory: checks every record's checksum, the revision sequence and
// every seal footer's fingerprint, and finds where good records end. A replay can go on from where an
// earlier one stopped (prepare → open); the store decides what to do with a torn tail.

import { createHash, type Hash } from 'node:crypto';
import { readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { KeyIndex } from './key-index.js';
import {
  MAGIC,
  MAX_RECORD_BYTES,
  MAX_TORN_TAIL_BYTES,
  PUT_FIXED_BYTES,
  RECORD_HEADER_BYTES,
  recordChecksum,
  SEAL_BODY_BYTES,
  TYPE_PUT,
  TYPE_SEAL,
} from './log-format.js';
import { StoreError } from './store-error.js';

/** What replaying a log prefix built; `replayLog` extends it in place. */
export interface LogState {
  /** key → its latest put, pointing into the buffers the replay read (kept, never copied). */
  readonly index: KeyIndex;
  /** The last put's revision (0 for none). */
  revision: number;
  /** The offset after the last good record (0 when not even the magic is whole). */
  goodBytes: number;
  /** SHA-256 over bytes [0, goodBytes), ready to be continued. */
  readonly hash: Hash;
  /** The fingerprint in the last seal footer, if the last good record is one. */
  sealedFingerprint: Buffer | undefined;
}

/** What one `replayLog` call read. */
export interface ReplayReport {
  /** The file's size when the replay started (it reads no further, even if the file grows meanwhile). */
  readonly fileBytes: number;
  /** Records this call read, and how many of them were seal footers (each one checked). */
  readonly records: number;
  readonly seals: number;
  /** Why the bytes after `goodBytes` are no record (undefined when the log ends cleanly). */
  readonly tailReason: string | undefined;
}

/** `maxKeys`: the index's limit (KeyIndex; lower only in tests). */
export function emptyLogState(maxKeys?: number): LogState {
  return {
    index: new KeyIndex(maxKeys),
    revision: 0,
    goodBytes: 0,
    hash: createHash('sha256'),
    sealedFingerprint: undefined,
  };
}

/** Reads per call: whole records up to the largest, so a record straddles at most one boundary. */
const CHUNK_BYTES = Math.max(1 << 20, MAX_RECORD_BYTES);
const EMPTY = Buffer.alloc(0);

/** How `replayLog` reads. */
export interface ReplayReads {
  /** The file's size from a stat the caller just made; by default replay stats the file itself. */
  readonly fileBytes?: number;
  /**
   * Read with blocking calls instead of the thread pool: for a short tail on a successor after Begin,
   * where nobody accepts until it listens and each thread-pool round trip costs ~1 ms under load.
   */
  readonly blocking?: boolean;
}

/**
 * Replays `fh` from `state.goodBytes` (the start, for a new state) up to the file's current size (or
 * `reads.fileBytes`), into `state`. It only reads. Throws `Corrupt` for what no crash can explain (a
 * foreign file, a broken sequence, a footer that does not match, bad bytes far from the end) and
 * `TooManyKeys`.
 */
export async function replayLog(
  fh: FileHandle,
  path: string,
  state: LogState = emptyLogState(),
  reads: ReplayReads = {},
): Promise<ReplayReport> {
  const fileBytes = reads.fileBytes ?? (await fh.stat()).size;
  const blocking = reads.blocking ?? false;
  let pos = state.goodBytes;
  if (pos === 0) {
    const head = await readAt(fh, 0, Math.min(fileBytes, MAGIC.length), blocking);
    if (!MAGIC.subarray(0, head.length).equals(head)) {
      throw new StoreError('Corrupt', `${path} is not a kv log (bad magic)`);
    }
    if (head.length < MAGIC.length) {
      const tailReason = head.length === 0 ? undefined : 'partial magic';
      return { fileBytes, records: 0, seals: 0, tailReason };
    }
    state.hash.update(MAGIC);
    pos = MAGIC.length;
    state.goodBytes = pos;
  }
  let records = 0;
  let seals = 0;
  let stop: string | undefined;
  let buf = EMPTY;
  let bufAt = pos; // file offset of buf[0]
  while (pos < fileBytes) {
    // Keep the unread part of the old buffer and read on after it, into a new buffer: the values of the
    // records already read are views into the old one.
    const keep = bufAt + buf.length - pos;
    const want = Math.min(CHUNK_BYTES, fileBytes - (bufAt + buf.length));
    if (want === 0) break; // an incomplete record at the end of the file
    const next = Buffer.allocUnsafe(keep + want);
    buf.copy(next, 0, pos - bufAt);
    const got = await readInto(fh, next, keep, bufAt + buf.length, blocking);
    buf = got === want ? next : next.subarray(0, keep + got);
    bufAt = pos;
    const scanned = scan(state, buf, bufAt, path);
    records += scanned.records;
    seals += scanned.seals;
    pos = state.goodBytes;
    stop = scanned.stop;
    if (stop !== undefined || got < want) break;
  }
  const tailReason = pos < fileBytes ? (stop ?? 'incomplete record') : undefined;
  // Acknowledged records were fsynced whole, and only the batch being written can be torn: bad bytes
  // further from the end than one batch are damage to acknowledged data, never to be truncated away.
  if (tailReason !== undefined && fileBytes - pos > MAX_TORN_TAIL_BYTES) {
    throw new StoreError(
      'Corrupt',
      `${path} at offset ${pos}: ${tailReason}, with ${fileBytes - pos} bytes after it (more than a torn write leaves)`,
    );
  }
  return { fileBytes, records, seals, tailReason };
}

interface Scanned {
  readonly records: number;
  readonly seals: number;
  /** Why scanning stopped before the buffer's end on bad bytes; undefined at an incomplete record. */
  readonly stop: string | undefined;
}

/**
 * The hot loop: decodes every whole record in `buf` (at file offset `bufAt`, starting at
 * `state.goodBytes`) straight into `state`, with no object, string or copy per record (the index points
 * into `buf`, which it keeps), one checksum pass per record, and the hash fed once per buffer (and at each
 * seal footer, which must compare against the hash of everything before it).
 */
function scan(state: LogState, buf: Buffer, bufAt: number, path: string): Scanned {
  const { index, hash } = state;
  const chunk = index.addChunk(buf);
  let revision = state.revision;
  let sealed = state.sealedFingerprint;
  let p = state.goodBytes - bufAt;
  let hashedTo = p;
  let records = 0;
  let seals = 0;
  let stop: string | undefined;
  const end = buf.length;
  for (;;) {
    if (end - p < RECORD_HEADER_BYTES) break;
    const bodyLen = buf.readUInt32LE(p);
    if (bodyLen < PUT_FIXED_BYTES || bodyLen > MAX_RECORD_BYTES - RECORD_HEADER_BYTES) {
      stop = `record length ${bodyLen} out of range`;
      break;
    }
    const size = RECORD_HEADER_BYTES + bodyLen;
    if (end - p < size) break;
    if (recordChecksum(buf, p, p + size) !== buf.readUInt32LE(p + 4)) {
      stop = 'checksum mismatch';
      break;
    }
    const type = buf[p + 8];
    // A u64 as two u32 halves: no BigInt per record. A revision past 2^53 fails the sequence check.
    const recordRevision = buf.readUInt32LE(p + 13) * 2 ** 32 + buf.readUInt32LE(p + 9);
    if (type === TYPE_PUT) {
      const keyLen = buf.readUInt16LE(p + 17);
      if (keyLen > bodyLen - PUT_FIXED_BYTES) {
        stop = `key length ${keyLen} too large`;
        break;
      }
      if (recordRevision !== revision + 1) {
        throw new StoreError(
          'Corrupt',
          `${path} at offset ${bufAt + p}: revision ${recordRevision} follows ${revision}`,
        );
      }
      if (!index.setRecord(chunk, p)) throw tooManyKeys(path, index.maxKeys);
      revision = recordRevision;
      sealed = undefined;
    } else if (type === TYPE_SEAL && bodyLen === SEAL_BODY_BYTES) {
      hash.update(buf.subarray(hashedTo, p));
      hashedTo = p;
      const fingerprint = buf.subarray(p + 17, p + size);
      if (recordRevision !== revision || !hash.copy().digest().equals(fingerprint)) {
        throw new StoreError(
          'Corrupt',
          `${path} at offset ${bufAt + p}: seal footer does not match the log before it`,
        );
      }
      sealed = fingerprint;
      seals += 1;
    } else {
      stop = `unknown record type ${type} (length ${bodyLen})`;
      break;
    }
    records += 1;
    p += size;
  }
  hash.update(buf.subarray(hashedTo, p));
  state.revision = revision;
  state.sealedFingerprint = sealed;
  state.goodBytes = bufAt + p;
  return { records, seals, stop };
}

export function tooManyKeys(path: string, maxKeys: number): StoreError {
  return new StoreError(
    'TooManyKeys',
    `${path} would hold more than ${maxKeys} distinct keys, the most this kv's index holds`,
  );
}

/** Reads up to `out.length - offset` bytes at `position` into `out`; fewer only at the end of the file. */
async function readInto(
  fh: FileHandle,
  out: Buffer,
  offset: number,
  position: number,
  blocking: boolean,
): Promise<number> {
  let done = 0;
  while (offset + done < out.length) {
    const length = out.length - offset - done;
    const bytesRead = blocking
      ? readSync(fh.fd, out, offset + done, length, position + done)
      : (await fh.read(out, offset + done, length, position + done)).bytesRead;
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

async function readAt(fh: FileHandle, position: number, length: number, blocking: boolean): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length);
  return out.subarray(0, await readInto(fh, out, 0, position, blocking));
}
