// The kv store's index: key → the latest put record of that key, over the log's bytes held in memory. An
// open-addressing hash table in typed arrays, not a Map: replaying 1 GB of ~60-byte records (16.6 M keys)
// took 68 s into a Map<string, Buffer> (4.1 GB RSS, near V8's heap limit) and takes ~6 s here (1.7 GB).

import { PUT_FIXED_BYTES, RECORD_HEADER_BYTES } from './log-format.js';

/** A record's place: chunk id × CHUNK_SPAN + offset in the chunk (a chunk is shorter than CHUNK_SPAN). */
const CHUNK_SPAN = 2 ** 22;
/** Bytes of a put record before its key. */
const KEY_AT = RECORD_HEADER_BYTES + PUT_FIXED_BYTES;
const INITIAL_CAPACITY = 1 << 10;
/** Slots at most: 2^30 (12 GiB of table), so MAX_KEYS = 2^29 at a load factor of one half. */
const MAX_CAPACITY = 2 ** 30;
export const MAX_KEYS = MAX_CAPACITY / 2;

/**
 * Maps keys to put records held in chunks of log bytes. The table never holds a JS object per key: a slot
 * is a 32-bit hash (0 = empty) and a Float64 record reference, so the garbage collector never walks it.
 */
export class KeyIndex {
  readonly maxKeys: number;
  readonly #chunks: Buffer[] = [];
  #hashes = new Uint32Array(INITIAL_CAPACITY);
  #refs = new Float64Array(INITIAL_CAPACITY);
  #mask = INITIAL_CAPACITY - 1;
  #size = 0;

  /** `maxKeys` lower than MAX_KEYS is for tests of the limit. */
  constructor(maxKeys = MAX_KEYS) {
    this.maxKeys = Math.min(maxKeys, MAX_KEYS);
  }

  get size(): number {
    return this.#size;
  }

  /** Keeps `bytes` (whole put records somewhere in it) for the index to point into; returns its id. */
  addChunk(bytes: Buffer): number {
    if (bytes.length >= CHUNK_SPAN) throw new RangeError(`a chunk is under ${CHUNK_SPAN} bytes`);
    return this.#chunks.push(bytes) - 1;
  }

  /**
   * Makes the put record at `at` in chunk `id` (from addChunk) the latest for its key. Returns false, and
   * changes nothing, when the key is new and the index already holds maxKeys keys.
   */
  setRecord(id: number, at: number): boolean {
    const chunk = this.#chunks[id]!;
    const keyStart = at + KEY_AT;
    const keyEnd = keyStart + chunk.readUInt16LE(at + 17);
    const hash = hashBytes(chunk, keyStart, keyEnd);
    const hashes = this.#hashes;
    const mask = this.#mask;
    let slot = hash & mask;
    for (;;) {
      const found = hashes[slot]!;
      if (found === 0) break;
      if (found === hash && this.#keyEquals(this.#refs[slot]!, chunk, keyStart, keyEnd)) {
        this.#refs[slot] = id * CHUNK_SPAN + at;
        return true;
      }
      slot = (slot + 1) & mask;
    }
    if (this.#size >= this.maxKeys) return false;
    hashes[slot] = hash;
    this.#refs[slot] = id * CHUNK_SPAN + at;
    this.#size += 1;
    if (this.#size * 2 > hashes.length) this.#grow();
    return true;
  }

  /** The latest value of `key`: a view into the log's bytes (do not write to it), or undefined. */
  get(key: string): Buffer | undefined {
    const ref = this.#find(key);
    if (ref === undefined) return undefined;
    const chunk = this.#chunks[Math.floor(ref / CHUNK_SPAN)]!;
    const at = ref % CHUNK_SPAN;
    const end = at + RECORD_HEADER_BYTES + chunk.readUInt32LE(at);
    return chunk.subarray(at + KEY_AT + chunk.readUInt16LE(at + 17), end);
  }

  has(key: string): boolean {
    return this.#find(key) !== undefined;
  }

  #find(key: string): number | undefined {
    const bytes = Buffer.from(key, 'utf8');
    const hash = hashBytes(bytes, 0, bytes.length);
    const hashes = this.#hashes;
    for (let slot = hash & this.#mask; hashes[slot] !== 0; slot = (slot + 1) & this.#mask) {
      if (hashes[slot] === hash && this.#keyEquals(this.#refs[slot]!, bytes, 0, bytes.length)) {
        return this.#refs[slot];
      }
    }
    return undefined;
  }

  #keyEquals(ref: number, bytes: Buffer, start: number, end: number): boolean {
    const chunk = this.#chunks[Math.floor(ref / CHUNK_SPAN)]!;
    const at = ref % CHUNK_SPAN;
    if (chunk.readUInt16LE(at + 17) !== end - start) return false;
    const keyAt = at + KEY_AT;
    for (let i = 0; i < end - start; i += 1) if (chunk[keyAt + i] !== bytes[start + i]) return false;
    return true;
  }

  /** Doubles the table; the stored hashes place every key again without reading a byte of the log. */
  #grow(): void {
    const oldHashes = this.#hashes;
    const oldRefs = this.#refs;
    const capacity = oldHashes.length * 2;
    const hashes = new Uint32Array(capacity);
    const refs = new Float64Array(capacity);
    const mask = capacity - 1;
    for (let i = 0; i < oldHashes.length; i += 1) {
      const hash = oldHashes[i]!;
      if (hash === 0) continue;
      let slot = hash & mask;
      while (hashes[slot] !== 0) slot = (slot + 1) & mask;
      hashes[slot] = hash;
      refs[slot] = oldRefs[i]!;
    }
    this.#hashes = hashes;
    this.#refs = refs;
    this.#mask = mask;
  }
}

/** FNV-1a over the key's bytes with a final mix (linear probing needs the low bits spread); never 0. */
function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i += 1) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  hash ^= hash >>> 15;
  hash = Math.imul(hash, 0x2c1b3c6d);
  hash ^= hash >>> 12;
  return hash >>> 0 || 1;
}
