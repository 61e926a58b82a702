// Postcard 1.x primitives (docs/protocol.md §3.3): LEB128 varints with width and length limits, byte strings, UTF-8
// strings, and the codec error. Pure; shared by the message codec and the journal codec.

import { HandoffError } from '../errors.js';

/** Unsigned widths: the largest value and the longest varint postcard allows for each. */
export const U16 = { bits: 16, max: 0xffff, maxVarintBytes: 3 } as const;
export const U32 = { bits: 32, max: 0xffff_ffff, maxVarintBytes: 5 } as const;
export const U64_MAX = (1n << 64n) - 1n;
export const U64_MAX_VARINT_BYTES = 10;

export function codecError(message: string): HandoffError {
  return new HandoffError('Codec', message);
}

export class ByteWriter {
  #buf = new Uint8Array(64);
  #len = 0;

  #reserve(extra: number): void {
    if (this.#len + extra <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + extra));
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  byte(value: number): void {
    this.#reserve(1);
    this.#buf[this.#len++] = value;
  }

  raw(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
  }

  varint(value: bigint): void {
    let v = value;
    while (v >= 0x80n) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
  }

  result(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

const utf8Encoder = new TextEncoder();
/** With the `u` flag a well-formed pair is one code point, so this matches only unpaired surrogates. */
const LONE_SURROGATE = /\p{Surrogate}/u;

export function checkUnsigned(name: string, value: unknown, max: number | bigint): bigint {
  const ok =
    (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= Number(max)) ||
    (typeof value === 'bigint' && value >= 0n && value <= BigInt(max));
  if (!ok) throw codecError(`field ${name} must be an integer in 0..${max}, got ${String(value)}`);
  return BigInt(value as number | bigint);
}

export function encodeString(w: ByteWriter, name: string, value: unknown): void {
  if (typeof value !== 'string') throw codecError(`field ${name} must be a string, got ${typeof value}`);
  if (LONE_SURROGATE.test(value))
    throw codecError(`field ${name} holds a lone surrogate: not encodable as UTF-8`);
  const bytes = utf8Encoder.encode(value);
  w.varint(BigInt(bytes.length));
  w.raw(bytes);
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class ByteReader {
  #pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.#pos;
  }

  byte(what: string): number {
    const b = this.bytes[this.#pos];
    if (b === undefined) throw codecError(`payload ends inside ${what}`);
    this.#pos++;
    return b;
  }

  take(n: number, what: string): Uint8Array {
    if (n > this.remaining) throw codecError(`${what} needs ${n} bytes but only ${this.remaining} remain`);
    const out = this.bytes.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  /**
   * An unsigned LEB128 varint of at most `maxBytes` bytes whose value fits in `bits` bits. Like postcard,
   * a non-minimal encoding within that length is accepted.
   */
  varint(bits: number, maxBytes: number, what: string): bigint {
    let value = 0n;
    for (let i = 0; i < maxBytes; i++) {
      const b = this.byte(what);
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        if (value >> BigInt(bits) !== 0n) throw codecError(`${what} overflows u${bits}`);
        return value;
      }
    }
    throw codecError(`${what} is a varint longer than ${maxBytes} bytes`);
  }

  /** A length prefix (postcard usize = u64 varint), checked against the bytes that remain. */
  length(what: string, minBytesPerItem: number): number {
    const n = this.varint(64, U64_MAX_VARINT_BYTES, `${what} length`);
    if (n * BigInt(minBytesPerItem) > BigInt(this.remaining)) {
      throw codecError(`${what} claims ${n} items but only ${this.remaining} bytes remain`);
    }
    return Number(n);
  }
}

export function decodeString(r: ByteReader, what: string): string {
  const bytes = r.take(r.length(what, 1), what);
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw codecError(`${what} is not valid UTF-8`);
  }
}
