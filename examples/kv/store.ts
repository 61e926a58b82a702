// The kv daemon's storage: an append-only log `<dataDir>/kv.log` (log-format.ts) with group commit — a put
// resolves with its revision only after the batch holding it is written and fdatasync'ed — plus the
// drain/seal/reopen steps a Drainable needs (docs/protocol.md §7). The data-dir lock is the library's, not the store's.

import { createHash, type Hash } from 'node:crypto';
import { constants, type FileHandle, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { SealReport } from '../../src/drainable.js';
import { HandoffError, ioError } from '../../src/errors.js';
import { KeyIndex } from './key-index.js';
import {
  encodePut,
  encodeSeal,
  MAGIC,
  MAX_BATCH_BYTES,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
} from './log-format.js';
import { LOG_FILE, type PreparedLog, replayFrom } from './prepared-log.js';
import { tooManyKeys } from './replay.js';
import { StoreError } from './store-error.js';

export { LOG_FILE, PreparedLog } from './prepared-log.js';

export interface StoreOptions {
  /** Largest value `put` accepts, in bytes; at most 1 MiB (the format's limit). Default: 1 MiB. */
  readonly maxValueBytes?: number;
  /**
   * Truncate a torn tail (a batch a crash left half-written, never acknowledged) when opening. A caller
   * that knows the log was sealed may pass false to refuse any tail instead. Default: true.
   */
  readonly repairTornTail?: boolean;
  /**
   * A prefix `PreparedLog.prepare` replayed earlier: open replays only what follows it, after checking
   * that it is still the log's prefix (`prefixTrusted` skips that check); when it is not, open replays the
   * whole log. Default: none (replay the whole log).
   */
  readonly prepared?: PreparedLog;
  /**
   * The caller held the data-dir lock from `prepare` to `open`, so nobody can have written in between (a
   * cold start). Default: false.
   */
  readonly prefixTrusted?: boolean;
  /** The most distinct keys the index holds (`TooManyKeys` past it). Default: MAX_KEYS (2^29); for tests. */
  readonly maxKeys?: number;
}

/** What opening found. */
export interface OpenReport {
  /** Bytes of torn tail cut off (0 for a clean log). */
  readonly truncatedBytes: number;
  /** The log ended with a seal footer (the previous owner sealed it and wrote nothing after). */
  readonly wasSealed: boolean;
  /** Bytes of log replayed by prepare and taken over (0 without one, or when it could not be used). */
  readonly preparedBytes: number;
  /** Bytes and records open itself replayed: the tail after the prepared prefix, or the whole log. */
  readonly replayedBytes: number;
  readonly replayedRecords: number;
  /** Why a prepared prefix was not used, when one was given and open replayed the whole log instead. */
  readonly preparedUnused?: string;
}

export interface StoreStats {
  readonly revision: number;
  readonly keys: number;
  readonly bytes: number;
  /** fdatasync calls on the log; fewer than puts when group commit batches them. */
  readonly fsyncs: number;
  readonly state: StoreState;
}

/** open → (drainWrites) draining → (seal) sealed → (reopen) open. `failed` is final: restart the process. */
export type StoreState = 'open' | 'draining' | 'sealed' | 'failed';

interface PendingPut {
  readonly record: Buffer;
  readonly revision: number;
  readonly resolve: (revision: number) => void;
  readonly reject: (error: Error) => void;
}

export class Store {
  readonly path: string;
  readonly maxValueBytes: number;
  readonly #dataDir: string;
  #opened: OpenReport = {
    truncatedBytes: 0,
    wasSealed: false,
    preparedBytes: 0,
    replayedBytes: 0,
    replayedRecords: 0,
  };
  #fh: FileHandle | undefined;
  #state: StoreState = 'open';
  #failure: Error | undefined;
  #index: KeyIndex;
  /** Last durable revision, and the last one handed out (ahead by the puts not yet fsynced). */
  #revision = 0;
  #assigned = 0;
  #size = 0;
  /** SHA-256 of the log's bytes [0, #size). */
  #hash: Hash = createHash('sha256');
  /** Set while the log's last record is a seal footer: its fingerprint. */
  #sealedFingerprint: Buffer | undefined;
  #queue: PendingPut[] = [];
  /** Puts accepted and not yet in #index (queued or being written). */
  #unindexed = 0;
  #flushing: Promise<void> | undefined;
  #fsyncs = 0;
  /** seal and reopen run one at a time, in call order. */
  #serial: Promise<unknown> = Promise.resolve();

  private constructor(dataDir: string, maxValueBytes: number, fh: FileHandle, maxKeys?: number) {
    this.#dataDir = dataDir;
    this.#index = new KeyIndex(maxKeys);
    this.path = join(dataDir, LOG_FILE);
    this.maxValueBytes = maxValueBytes;
    this.#fh = fh;
  }

  /**
   * Opens (creating if needed) the log in `dataDir` and replays it (only the part after `prepared`, when
   * given and still valid), for a cold start and for a successor alike. Throws `StoreError('Corrupt')` for
   * damage no crash explains, `TooManyKeys` past the index's limit, `Io` for I/O failures.
   */
  static async open(dataDir: string, options: StoreOptions = {}): Promise<Store> {
    const maxValueBytes = options.maxValueBytes ?? MAX_VALUE_BYTES;
    if (!Number.isInteger(maxValueBytes) || maxValueBytes < 0 || maxValueBytes > MAX_VALUE_BYTES) {
      const message = `maxValueBytes must be an integer in [0, ${MAX_VALUE_BYTES}], got ${String(maxValueBytes)} (${typeof maxValueBytes})`;
      throw new HandoffError('InvalidOption', message, { option: 'maxValueBytes' });
    }
    const path = join(dataDir, LOG_FILE);
    let fh: FileHandle;
    const openLog = () => open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    try {
      // The data dir almost always exists (the lock file is in it): create it only when the open says so,
      // one file-system round trip fewer on a successor's path after Begin, where nobody accepts.
      fh = await openLog().catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
        await mkdir(dataDir, { recursive: true });
        return openLog();
      });
    } catch (error) {
      throw ioError(`cannot open ${path}`, error, { path });
    }
    try {
      const store = new Store(dataDir, maxValueBytes, fh, options.maxKeys);
      store.#opened = await store.#load(fh, options.repairTornTail ?? true, options);
      return store;
    } catch (error) {
      await fh.close().catch(() => {});
      throw error;
    }
  }

  /** What opening found. */
  get opened(): OpenReport {
    return this.#opened;
  }

  /** The value of `key` as of the last durable put (never a value not yet fsynced). */
  get(key: string): Buffer | undefined {
    return this.#index.get(key);
  }

  /** The last durable revision. */
  get revision(): number {
    return this.#revision;
  }

  get state(): StoreState {
    return this.#state;
  }

  get stats(): StoreStats {
    const { size: keys } = this.#index;
    return { revision: this.#revision, keys, bytes: this.#size, fsyncs: this.#fsyncs, state: this.#state };
  }

  /**
   * Appends `key = value` and resolves with its revision once it is on disk (fdatasync). Puts issued
   * together share one write and one fdatasync. Rejects with `WritesRefused` unless the store is open,
   * `BadKey`, `TooLarge`, or the `Io` error that failed the store.
   */
  put(key: string, value: Uint8Array): Promise<number> {
    if (this.#state !== 'open') return Promise.reject(this.#refusal());
    const keyBytes = Buffer.from(key, 'utf8');
    if (key.length === 0 || keyBytes.length > MAX_KEY_BYTES || keyBytes.toString('utf8') !== key) {
      return Promise.reject(new StoreError('BadKey', `a key is 1 to ${MAX_KEY_BYTES} bytes of valid UTF-8`));
    }
    if (value.length > this.maxValueBytes) {
      const message = `value of ${value.length} bytes exceeds ${this.maxValueBytes}`;
      return Promise.reject(new StoreError('TooLarge', message));
    }
    // Counted before the put is indexed (its batch may still be in the air): the index never passes maxKeys.
    const index = this.#index;
    if (index.size + this.#unindexed >= index.maxKeys && !index.has(key)) {
      return Promise.reject(tooManyKeys(this.path, index.maxKeys));
    }
    this.#assigned += 1;
    this.#unindexed += 1;
    const revision = this.#assigned;
    const record = encodePut(revision, keyBytes, value);
    return new Promise((resolve, reject) => {
      this.#queue.push({ record, revision, resolve, reject });
      this.#flushing ??= this.#flush();
    });
  }

  /** Refuses new puts and waits until every accepted one is fsynced. Resolves with the last revision. */
  async drainWrites(): Promise<number> {
    if (this.#state === 'open') this.#state = 'draining';
    while (this.#flushing) await this.#flushing;
    if (this.#failure) throw this.#failure;
    return this.#revision;
  }

  /**
   * Drains writes, appends a seal footer (unless the log already ends with one: sealing an unchanged log
   * again gives the same report), fdatasyncs and closes the file. Idempotent.
   */
  seal(): Promise<SealReport> {
    return this.#serialize(() => this.#seal());
  }

  /** Shutdown: the same as `seal`. */
  close(): Promise<SealReport> {
    return this.seal();
  }

  /**
   * Accepts puts again after `drainWrites` or `seal`; a no-op when open. If the file changed since the
   * seal, it is replayed again. Throws the failure of a failed store.
   */
  reopen(): Promise<void> {
    return this.#serialize(() => this.#reopen());
  }

  async #seal(): Promise<SealReport> {
    if (this.#state !== 'sealed') {
      await this.drainWrites();
      const fh = this.#fh!;
      if (this.#sealedFingerprint === undefined) {
        const fingerprint = this.#hash.copy().digest();
        await this.#append(fh, encodeSeal(this.#revision, fingerprint));
        this.#sealedFingerprint = fingerprint;
      }
      this.#fh = undefined;
      this.#state = 'sealed';
      try {
        await fh.close();
      } catch (error) {
        // The footer is already durable; only the descriptor is in doubt.
        throw ioError(`cannot close ${this.path}`, error, { path: this.path });
      }
    }
    return {
      lastRevisionPerShard: [BigInt(this.#revision)],
      dataDirFingerprint: new Uint8Array(this.#sealedFingerprint!),
    };
  }

  async #reopen(): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (this.#state === 'draining') this.#state = 'open';
    if (this.#state !== 'sealed') return;
    let fh: FileHandle;
    try {
      fh = await open(this.path, 'r+');
    } catch (error) {
      throw ioError(`cannot reopen ${this.path}`, error, { path: this.path });
    }
    try {
      // Nobody may write while we hold the lock, but a seal that was followed by a handoff attempt is
      // worth one stat: if the file is not exactly as we left it, trust only what a replay finds.
      if ((await fh.stat()).size !== this.#size) await this.#load(fh, true);
    } catch (error) {
      await fh.close().catch(() => {});
      throw error;
    }
    this.#fh = fh;
    this.#state = 'open';
  }

  /**
   * Replays the log into this store (on from `prepared`'s prefix when it is still valid); cuts a torn tail
   * if `repair`, and writes the magic to a new log.
   */
  async #load(
    fh: FileHandle,
    repair: boolean,
    options: Pick<StoreOptions, 'prepared' | 'prefixTrusted'> = {},
  ): Promise<OpenReport> {
    const { state, replayed, preparedBytes, preparedUnused } = await replayFrom(fh, this.path, {
      ...options,
      maxKeys: this.#index.maxKeys,
    });
    let truncatedBytes = 0;
    if (replayed.tailReason !== undefined) {
      if (!repair) {
        const at = `offset ${state.goodBytes}`;
        throw new StoreError('Corrupt', `${this.path} has a torn tail at ${at} (${replayed.tailReason})`);
      }
      truncatedBytes = replayed.fileBytes - state.goodBytes;
      await this.#io('truncate', async () => {
        await fh.truncate(state.goodBytes);
        await fh.datasync();
      });
    }
    this.#index = state.index;
    this.#revision = state.revision;
    this.#assigned = state.revision;
    this.#size = state.goodBytes;
    this.#hash = state.hash;
    this.#sealedFingerprint = state.sealedFingerprint;
    if (this.#size === 0) {
      await this.#append(fh, MAGIC);
      // A new file's directory entry is durable only once the directory itself is fsynced.
      await this.#io('fsync the data dir', async () => {
        const dir = await open(this.#dataDir, 'r');
        await dir.sync().finally(() => dir.close());
      });
    }
    return {
      truncatedBytes,
      wasSealed: state.sealedFingerprint !== undefined,
      preparedBytes,
      replayedBytes: state.goodBytes - preparedBytes,
      replayedRecords: replayed.records,
      ...(preparedUnused !== undefined && { preparedUnused }),
    };
  }

  /** The group-commit loop: one write + one fdatasync per batch; runs while puts are queued. */
  async #flush(): Promise<void> {
    await null; // puts issued in the same tick as the first join its batch
    try {
      // SAFETY: puts are queued only while open, and seal closes the file only after drainWrites.
      const fh = this.#fh!;
      while (this.#queue.length > 0) {
        let bytes = 0;
        let count = 0;
        for (const put of this.#queue) {
          if (count > 0 && bytes + put.record.length > MAX_BATCH_BYTES) break;
          bytes += put.record.length;
          count += 1;
        }
        const batch = this.#queue.splice(0, count);
        const data = Buffer.concat(batch.map((put) => put.record));
        try {
          await this.#append(fh, data);
        } catch (error) {
          for (const put of [...batch, ...this.#queue.splice(0)]) put.reject(error as Error);
          this.#unindexed = 0;
          return;
        }
        this.#sealedFingerprint = undefined;
        this.#unindexed -= batch.length;
        // The batch's bytes are the log's bytes: the index points into them, as into what replay read.
        const chunk = this.#index.addChunk(data);
        let at = 0;
        for (const put of batch) {
          // Cannot refuse: put counted this key against maxKeys before it was queued.
          this.#index.setRecord(chunk, at);
          at += put.record.length;
          this.#revision = put.revision;
          put.resolve(put.revision);
        }
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  /**
   * Writes `bytes` at the end of the log and fdatasyncs. Any failure fails the store for good: after a
   * failed write or fsync the file's state is unknown (a retried fsync can report success for lost pages).
   */
  async #append(fh: FileHandle, bytes: Buffer): Promise<void> {
    await this.#io('append to', async () => {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, this.#size + done);
        done += bytesWritten;
      }
      await fh.datasync();
    });
    this.#fsyncs += 1;
    this.#hash.update(bytes);
    this.#size += bytes.length;
  }

  async #io(what: string, run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (error) {
      const failure = ioError(`cannot ${what} ${this.path}`, error, { path: this.path });
      this.#state = 'failed';
      this.#failure ??= failure;
      throw failure;
    }
  }

  #refusal(): Error {
    if (this.#failure) return this.#failure;
    return new StoreError('WritesRefused', `writes are refused while the store is ${this.#state}`);
  }

  #serialize<T>(step: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(step, step);
    this.#serial = run.catch(() => {});
    return run;
  }
}
