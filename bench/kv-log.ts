// Writes a kv log of a given size straight in the kv's format (examples/kv/log-format.ts), as a cleanly
// stopped kv daemon leaves it (puts with distinct keys, then a seal footer): seconds for a gigabyte, where
// filling it through HTTP would take hours. For the benchmark's data-size cells and the kv tests.

import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  encodeSeal,
  MAGIC,
  PUT_FIXED_BYTES,
  RECORD_HEADER_BYTES,
  recordChecksum,
  TYPE_PUT,
} from '../examples/kv/log-format.js';
import { LOG_FILE } from '../examples/kv/prepared-log.js';

export interface GeneratedLog {
  readonly path: string;
  readonly bytes: number;
  readonly records: number;
}

export interface KvLogOptions {
  /** Stop once the log holds at least this many bytes (plus the last record and the footer). */
  readonly bytes: number;
  /** Bytes of each value. Default: 32, which with keys `g-<n>` makes ~60-byte records, like the load's. */
  readonly valueBytes?: number;
  /** Key prefix; the load's keys start with `w` and `n`, so these never collide with them. Default: `g-`. */
  readonly keyPrefix?: string;
}

const CHUNK_BYTES = 4 << 20;

/** Writes `<dataDir>/kv.log` (replacing any) and fsyncs it. */
export function writeKvLog(dataDir: string, options: KvLogOptions): GeneratedLog {
  const valueBytes = options.valueBytes ?? 32;
  const prefix = options.keyPrefix ?? 'g-';
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, LOG_FILE);
  const fd = openSync(path, 'w');
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  let used = 0;
  let total = 0;
  const flush = () => {
    const bytes = chunk.subarray(0, used);
    hash.update(bytes);
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
    total += used;
    used = 0;
  };
  try {
    MAGIC.copy(chunk, 0);
    used = MAGIC.length;
    let revision = 0;
    while (total + used < options.bytes) {
      revision += 1;
      const key = `${prefix}${revision}`;
      const size = RECORD_HEADER_BYTES + PUT_FIXED_BYTES + key.length + valueBytes;
      if (used + size > CHUNK_BYTES) flush();
      const at = used;
      chunk.writeUInt32LE(size - RECORD_HEADER_BYTES, at);
      chunk[at + 8] = TYPE_PUT;
      chunk.writeUInt32LE(revision, at + 9);
      chunk.writeUInt32LE(0, at + 13);
      chunk.writeUInt16LE(key.length, at + 17);
      chunk.write(key, at + 19, 'latin1');
      // A value that differs per key, without a random call per record.
      chunk.fill(97 + (revision % 26), at + 19 + key.length, at + size);
      chunk.writeUInt32LE(recordChecksum(chunk, at, at + size), at + 4);
      used += size;
    }
    flush();
    const seal = encodeSeal(revision, hash.digest());
    writeSync(fd, seal);
    fsyncSync(fd);
    return { path, bytes: total + seal.length, records: revision };
  } finally {
    closeSync(fd);
  }
}

/** `1M`, `100M`, `1G` (powers of 1000: 1G of ~60-byte records stays under the kv's 2^24-key index). */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMG]?)$/i.exec(text.trim());
  if (!match) throw new Error(`a size is a number with K, M or G, like 100M; got ${JSON.stringify(text)}`);
  const unit = { '': 1, K: 1e3, M: 1e6, G: 1e9 }[match[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Math.round(Number(match[1]) * unit);
}
