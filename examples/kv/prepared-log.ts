// The kv store's warm start: `PreparedLog.prepare` replays the log read-only while another instance may
// still be appending to it (a successor's prepare, before its Hello), and `Store.open` later goes on from
// where it stopped, checking first that the prefix it read is still the log's prefix.

import { fstatSync, readSync, type Stats } from 'node:fs';
import { constants, type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { ioError } from '../../src/errors.js';
import { decodeRecord, SEAL_RECORD_BYTES } from './log-format.js';
import { emptyLogState, type LogState, type ReplayReport, replayLog } from './replay.js';
import { StoreError } from './store-error.js';

export const LOG_FILE = 'kv.log';

/**
 * Catch-up passes after prepare's first replay: each replays what the writer appended during the pass
 * before, until one finds less than CAUGHT_UP_BYTES. The first replay of a 1 GB log takes 10–20 s; what the
 * old build wrote meanwhile (~0.5 MB at the benchmark's ~425 writes/s) was the tail that `start` replayed
 * after Begin, inside the accept gap. After the passes, that tail is only what arrived during the last one.
 */
const MAX_CATCH_UP_PASSES = 4;
const CAUGHT_UP_BYTES = 64 * 1024;

/**
 * A tail up to this long is read with blocking calls. `Store.open` runs on a successor after Begin, while
 * nobody accepts, and each thread-pool round trip costs ~1 ms there under load (traced), against
 * microseconds for a read of a few KiB from the page cache. A longer tail keeps the event loop free.
 */
const BLOCKING_TAIL_BYTES = 4 * 1024 * 1024;

/**
 * A log prefix replayed without the data-dir lock: every whole record the file held when prepare read
 * it (a batch the writer was still writing ends it, whole or not). It belongs to one `Store.open`, which
 * takes it over; memory: a second copy of the index until the old instance exits.
 */
export class PreparedLog {
  readonly path: string;
  /** The log's length that prepare replayed (0 when there was no log yet). */
  readonly bytes: number;
  /** Keys and the last revision in the prefix. */
  readonly keys: number;
  readonly revision: number;
  /** How long prepare took, in ms. */
  readonly ms: number;
  /** Replays prepare made: the first, and the catch-up passes after it. */
  readonly passes: number;
  readonly #identity: string | undefined;
  #state: LogState | undefined;

  private constructor(
    path: string,
    state: LogState | undefined,
    identity: string | undefined,
    ms: number,
    passes = 0,
  ) {
    this.path = path;
    this.#state = state;
    this.#identity = identity;
    this.bytes = state?.goodBytes ?? 0;
    this.keys = state?.index.size ?? 0;
    this.revision = state?.revision ?? 0;
    this.ms = ms;
    this.passes = passes;
  }

  /**
   * Replays `<dataDir>/kv.log` read-only: opens it O_RDONLY, creates and truncates nothing, and stops
   * quietly at the first bytes that are no whole record (the incumbent may be appending right there).
   * A missing log is an empty prefix. Throws `Corrupt` for damage inside the prefix, `TooManyKeys`, `Io`.
   */
  static async prepare(dataDir: string, options: { readonly maxKeys?: number } = {}): Promise<PreparedLog> {
    const startedMs = performance.now();
    const path = join(dataDir, LOG_FILE);
    let fh: FileHandle;
    try {
      fh = await open(path, constants.O_RDONLY);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return new PreparedLog(path, undefined, undefined, performance.now() - startedMs);
      }
      throw ioError(`cannot open ${path} to prepare`, error, { path });
    }
    try {
      const identity = fileIdentity(await fh.stat());
      const state = emptyLogState(options.maxKeys);
      await replayLog(fh, path, state);
      let passes = 1;
      while (passes <= MAX_CATCH_UP_PASSES) {
        const before = state.goodBytes;
        await replayLog(fh, path, state);
        passes++;
        if (state.goodBytes - before < CAUGHT_UP_BYTES) break;
      }
      return new PreparedLog(path, state, identity, performance.now() - startedMs, passes);
    } finally {
      await fh.close().catch(() => {});
    }
  }

  /**
   * Hands the prefix's state to the store opening `path` as `fh` (once): the state, or why it cannot be
   * used — another file (replaced, recreated) or one shorter than the prefix (truncated).
   */
  take(path: string, stat: Stats): LogState | string {
    const state = this.#state;
    this.#state = undefined;
    if (state === undefined) return this.bytes === 0 ? 'prepare found no log' : 'already used';
    if (path !== this.path) return `prepared ${this.path}, not ${path}`;
    if (fileIdentity(stat) !== this.#identity) return 'the log is another file than the one prepared';
    if (stat.size < state.goodBytes) return `the log shrank below the prepared ${state.goodBytes} bytes`;
    return state;
  }
}

/** What `replayFrom` replayed, and what of a prepared prefix it could use. */
export interface ReplayedFrom {
  readonly state: LogState;
  readonly replayed: ReplayReport;
  /** The prepared prefix's length, when it was used; 0 otherwise. */
  readonly preparedBytes: number;
  /** Why a given prepared prefix was not used. */
  readonly preparedUnused?: string;
}

/**
 * Replays the log open as `fh` for `Store.open`: only the tail after a prepared prefix when the prefix is
 * proven unchanged (or `prefixTrusted`: the caller held the lock since prepare), otherwise all of it. A
 * prefix that turns out stale costs a full replay, never a wrong index.
 */
export async function replayFrom(
  fh: FileHandle,
  path: string,
  options: { prepared?: PreparedLog; prefixTrusted?: boolean; maxKeys: number },
): Promise<ReplayedFrom> {
  let preparedUnused: string | undefined;
  if (options.prepared) {
    const stat = statOf(fh, path);
    const taken = options.prepared.take(path, stat);
    if (typeof taken === 'string') {
      preparedUnused = taken;
    } else {
      const preparedBytes = taken.goodBytes;
      try {
        // Only what the writer appended since prepare's last pass, usually a few KiB: read without the
        // thread pool up to BLOCKING_TAIL_BYTES.
        const replayed = await replayLog(fh, path, taken, {
          fileBytes: stat.size,
          blocking: stat.size - taken.goodBytes <= BLOCKING_TAIL_BYTES,
        });
        const unproven = options.prefixTrusted ? undefined : prefixUnproven(fh, taken, replayed.seals);
        if (unproven === undefined) return { state: taken, replayed, preparedBytes };
        preparedUnused = unproven;
      } catch (error) {
        // A footer in the tail that does not match the prepared prefix says the prefix changed, not that
        // the log is damaged: the full replay below tells which.
        if (!(error instanceof StoreError && error.code === 'Corrupt')) throw error;
        preparedUnused = `the tail does not continue the prepared prefix (${error.message})`;
      }
    }
  }
  const state = emptyLogState(options.maxKeys);
  const replayed = await replayLog(fh, path, state);
  return { state, replayed, preparedBytes: 0, ...(preparedUnused !== undefined && { preparedUnused }) };
}

/** A blocking stat: see BLOCKING_TAIL_BYTES. */
function statOf(fh: FileHandle, path: string): Stats {
  try {
    return fstatSync(fh.fd);
  } catch (error) {
    throw ioError(`cannot stat ${path}`, error, { path });
  }
}

/**
 * Is the prefix a store went on from still the log's prefix? Every seal footer holds the SHA-256 of all
 * bytes before it, as the instance that wrote it saw them; the state's hash covers the prefix as prepare
 * read it plus the tail as open read it. So a footer in the tail that matched (replay checks each one)
 * proves the prefix unchanged without reading it again: O(tail), not O(log). With no footer in the tail,
 * the prefix must end with one (the writer sealed before prepare and wrote nothing after), still there.
 * Undefined when proven; otherwise why not.
 */
function prefixUnproven(fh: FileHandle, state: LogState, tailSeals: number): string | undefined {
  if (tailSeals > 0) return undefined;
  const fingerprint = state.sealedFingerprint;
  if (fingerprint === undefined) return 'the log does not end with a seal footer';
  const at = state.goodBytes - SEAL_RECORD_BYTES;
  const footer = Buffer.alloc(SEAL_RECORD_BYTES);
  const bytesRead = readSync(fh.fd, footer, 0, SEAL_RECORD_BYTES, at);
  const decoded = decodeRecord(footer.subarray(0, bytesRead), 0);
  const same =
    decoded.kind === 'record' &&
    decoded.record.type === 'seal' &&
    decoded.record.revision === state.revision &&
    decoded.record.fingerprint.equals(fingerprint);
  return same ? undefined : 'the seal footer that ended the prefix is gone';
}

function fileIdentity(stat: Stats): string {
  return `${stat.dev}:${stat.ino}`;
}
