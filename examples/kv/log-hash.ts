// The SHA-256 of a kv log's bytes that its seal footers carry, as replay feeds it: computed as it goes
// (RunningHash), or noted down to be computed later on another thread (DeferredHash). Prepare's worker
// needs the second: a running hash cannot cross threads, but the chunks it covers can.

import { createHash, type Hash } from 'node:crypto';
import { MAGIC } from './log-format.js';
import { StoreError } from './store-error.js';

/** What replay gives the hash: the log's bytes in order, and each seal footer to check against it. */
export interface LogHash {
  /** The log's magic, the first bytes of every log. */
  feedMagic(): void;
  /** Bytes [from, to) of `buf`, the next ones of the log; `buf` is the index's chunk `chunk`. */
  feed(chunk: number, buf: Buffer, from: number, to: number): void;
  /**
   * Whether `fingerprint` is the hash of everything fed so far: a seal footer at `fileOffset`. A
   * DeferredHash cannot know yet: it notes the footer and answers true (`resolve` checks it).
   */
  matches(fingerprint: Buffer, fileOffset: number): boolean;
}

export class RunningHash implements LogHash {
  readonly #hash: Hash = createHash('sha256');

  feedMagic(): void {
    this.#hash.update(MAGIC);
  }

  feed(_chunk: number, buf: Buffer, from: number, to: number): void {
    this.#hash.update(buf.subarray(from, to));
  }

  /** Appends bytes written after the replay. */
  update(bytes: Uint8Array): void {
    this.#hash.update(bytes);
  }

  /** The hash of everything so far; feeding may go on. */
  digest(): Buffer {
    return this.#hash.copy().digest();
  }

  matches(fingerprint: Buffer): boolean {
    return this.digest().equals(fingerprint);
  }
}

/** A DeferredHash as plain data, for postMessage. */
export interface DeferredHashParts {
  readonly magic: boolean;
  /** [chunk, from, to] triples, in log order. */
  readonly spans: readonly number[];
  /** Each footer noted: the spans fed before it, its fingerprint and its file offset. */
  readonly seals: ReadonlyArray<{
    readonly afterSpans: number;
    readonly fingerprint: Uint8Array;
    readonly at: number;
  }>;
}

export class DeferredHash implements LogHash {
  #magic: boolean;
  readonly #spans: number[];
  readonly #seals: Array<{ afterSpans: number; fingerprint: Uint8Array; at: number }>;

  constructor(parts: DeferredHashParts = { magic: false, spans: [], seals: [] }) {
    this.#magic = parts.magic;
    this.#spans = [...parts.spans];
    this.#seals = [...parts.seals];
  }

  feedMagic(): void {
    this.#magic = true;
  }

  feed(chunk: number, _buf: Buffer, from: number, to: number): void {
    if (to > from) this.#spans.push(chunk, from, to);
  }

  matches(fingerprint: Buffer, fileOffset: number): boolean {
    // A copy: the footer's bytes are a view into a chunk, and 32 bytes are cheaper to send than to share.
    this.#seals.push({
      afterSpans: this.#spans.length,
      fingerprint: Uint8Array.from(fingerprint),
      at: fileOffset,
    });
    return true;
  }

  parts(): DeferredHashParts {
    return { magic: this.#magic, spans: this.#spans, seals: this.#seals };
  }

  /**
   * Hashes what was noted, reading the bytes from `chunkAt(id)`, and checks every footer noted on the way.
   * Throws `Corrupt`, as replay would have, for the first footer that does not match the log before it.
   */
  resolve(chunkAt: (chunk: number) => Buffer, path: string): RunningHash {
    const hash = new RunningHash();
    if (this.#magic) hash.feedMagic();
    const spans = this.#spans;
    let seal = 0;
    for (let i = 0; i <= spans.length; i += 3) {
      for (; seal < this.#seals.length && this.#seals[seal]!.afterSpans === i; seal++) {
        const { fingerprint, at } = this.#seals[seal]!;
        if (!hash.matches(Buffer.from(fingerprint.buffer, fingerprint.byteOffset, fingerprint.length))) {
          throw new StoreError(
            'Corrupt',
            `${path} at offset ${at}: seal footer does not match the log before it`,
          );
        }
      }
      if (i < spans.length) hash.feed(spans[i]!, chunkAt(spans[i]!), spans[i + 1]!, spans[i + 2]!);
    }
    return hash;
  }
}
