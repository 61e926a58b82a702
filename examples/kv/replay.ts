// Replays a kv log (log-format.ts) into memory: checks every checksum, the revision sequence and every seal
// footer's fingerprint, and finds where good records end — the store decides what to do with a torn tail.

import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { decodeRecord, MAGIC, MAX_RECORD_BYTES, MAX_TORN_TAIL_BYTES } from './log-format.js';
import { StoreError } from './store-error.js';

export interface Replayed {
  readonly entries: Map<string, Buffer>;
  /** The last put's revision (0 for none). */
  readonly revision: number;
  /** The offset after the last good record (0 when not even the magic is whole). */
  readonly goodBytes: number;
  readonly fileBytes: number;
  /** SHA-256 over bytes [0, goodBytes), ready to be continued. */
  readonly hash: Hash;
  /** The fingerprint in the last seal footer, if the last good record is one. */
  readonly sealedFingerprint: Buffer | undefined;
  /** Why the bytes after goodBytes are no record (undefined when the log ends cleanly). */
  readonly tailReason: string | undefined;
}

const CHUNK_BYTES = Math.max(1 << 20, MAX_RECORD_BYTES);

/** Throws `Corrupt` for what no crash can explain: a foreign file, a broken sequence, bad bytes mid-log. */
export async function replayLog(fh: FileHandle, path: string): Promise<Replayed> {
  const fileBytes = (await fh.stat()).size;
  const entries = new Map<string, Buffer>();
  const hash = createHash('sha256');
  const head = await readAt(fh, 0, Math.min(fileBytes, MAGIC.length));
  if (!MAGIC.subarray(0, head.length).equals(head)) {
    throw new StoreError('Corrupt', `${path} is not a kv log (bad magic)`);
  }
  if (head.length < MAGIC.length) {
    const tailReason = head.length === 0 ? undefined : 'partial magic';
    return { entries, revision: 0, goodBytes: 0, fileBytes, hash, sealedFingerprint: undefined, tailReason };
  }
  hash.update(MAGIC);
  let revision = 0;
  let sealedFingerprint: Buffer | undefined;
  let tailReason: string | undefined;
  let buf = Buffer.alloc(0);
  let bufAt = MAGIC.length; // file offset of buf[0]
  let pos = MAGIC.length;
  for (;;) {
    const decoded = decodeRecord(buf, pos - bufAt);
    if (decoded.kind === 'incomplete' && bufAt + buf.length < fileBytes) {
      const next = bufAt + buf.length;
      const more = await readAt(fh, next, Math.min(CHUNK_BYTES, fileBytes - next));
      buf = Buffer.concat([buf.subarray(pos - bufAt), more]);
      bufAt = pos;
      continue;
    }
    if (decoded.kind !== 'record') {
      if (pos < fileBytes) tailReason = decoded.kind === 'corrupt' ? decoded.reason : 'incomplete record';
      break;
    }
    const { record, size } = decoded;
    const where = `${path} at offset ${pos}`;
    if (record.type === 'put') {
      if (record.revision !== revision + 1) {
        throw new StoreError('Corrupt', `${where}: revision ${record.revision} follows ${revision}`);
      }
      revision = record.revision;
      entries.set(record.key, record.value);
      sealedFingerprint = undefined;
    } else {
      if (record.revision !== revision || !hash.copy().digest().equals(record.fingerprint)) {
        throw new StoreError('Corrupt', `${where}: seal footer does not match the log before it`);
      }
      sealedFingerprint = record.fingerprint;
    }
    hash.update(buf.subarray(pos - bufAt, pos - bufAt + size));
    pos += size;
  }
  // Acknowledged records were fsynced whole, and only the batch being written can be torn: bad bytes
  // further from the end than one batch are damage to acknowledged data, never to be truncated away.
  if (tailReason !== undefined && fileBytes - pos > MAX_TORN_TAIL_BYTES) {
    throw new StoreError(
      'Corrupt',
      `${path} at offset ${pos}: ${tailReason}, with ${fileBytes - pos} bytes after it (more than a torn write leaves)`,
    );
  }
  return { entries, revision, goodBytes: pos, fileBytes, hash, sealedFingerprint, tailReason };
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(out, done, length - done, position + done);
    if (bytesRead === 0) return out.subarray(0, done);
    done += bytesRead;
  }
  return out;
}
