// The tiny durable store behind the Express and Fastify examples: key → value in memory, every put appended
// to one JSON-lines file and fsynced before it is acknowledged, the file replayed at start.

import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { SealReport } from '../../src/index.js';

export class JsonLog {
  readonly #path: string;
  readonly #values = new Map<string, string>();
  #fd: number | undefined;
  #revision = 0;

  /** Opens (creating) `<dataDir>/puts.jsonl` and replays it; a torn last line (a crash mid-write) is skipped. */
  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.#path = join(dataDir, 'puts.jsonl');
    if (existsSync(this.#path)) {
      for (const line of readFileSync(this.#path, 'utf8').split('\n')) {
        try {
          const [key, value] = JSON.parse(line) as [string, string];
          this.#values.set(key, value);
          this.#revision++;
        } catch {
          // the empty tail, or a torn last line that was never acknowledged
        }
      }
    }
    this.reopen();
  }

  get revision(): number {
    return this.#revision;
  }

  get(key: string): string | undefined {
    return this.#values.get(key);
  }

  /** Durable when it returns: appended and fsynced. Throws once sealed (answer 503: the successor has it). */
  put(key: string, value: string): number {
    if (this.#fd === undefined) throw new Error('sealed');
    writeSync(this.#fd, `${JSON.stringify([key, value])}\n`);
    fsyncSync(this.#fd);
    this.#values.set(key, value);
    return ++this.#revision;
  }

  /** Closes the file (no write after this) and names what was sealed. */
  seal(): SealReport {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    const fingerprint = createHash('sha256').update(readFileSync(this.#path)).digest();
    return { lastRevisionPerShard: [BigInt(this.#revision)], dataDirFingerprint: fingerprint };
  }

  /** After an aborted handoff: writable again. Idempotent. */
  reopen(): void {
    this.#fd ??= openSync(this.#path, 'a');
  }
}
