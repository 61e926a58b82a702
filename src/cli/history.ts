// The deploy history of `handoff run`: the last N handoffs and probation fall-backs, in memory and appended as
// JSON lines to `<journal>.history.jsonl` so they outlive the supervisor. The file is bounded (rewritten with
// the last N entries once it holds 2N) and diagnostic: a failed read or write is logged, never a failure.

import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { readBoundedFile, writeFileAtomic } from '../atomic-file.js';
import type { Logger } from '../log.js';
import type { HandoffReport } from '../supervisor/report.js';

/** What asked for a handoff: a trigger-socket request (`handoff upgrade`), SIGHUP, or a probation fall-back. */
export type HandoffTrigger = 'request' | 'sighup' | 'fall-back';

/** How a probation ended in a fall-back: why, from which build to which, how, and with what result. */
export interface FallBackRecord {
  readonly atUnixMs: number;
  /** The failed build's binary, and the pid it had. */
  readonly from: { readonly binary: string; readonly pid: number };
  /** The build fallen back to. */
  readonly to: { readonly binary: string; readonly pid?: number };
  /** `exited`: the build died during probation; `probe_failed`: probe_url failed probe_failures times. */
  readonly cause: 'exited' | 'probe_failed';
  readonly reason: string;
  /** A handoff when the failed build was still alive, a cold start when it was dead. */
  readonly how: 'handoff' | 'cold start';
  /** The fall-back's own result: the previous build serves again, or not (then why). */
  readonly result: 'serving' | 'rolled back' | 'failed';
  readonly handoffId?: string;
  readonly error?: string;
}

export type HistoryEntry =
  | {
      readonly kind: 'handoff';
      readonly atUnixMs: number;
      readonly binary: string;
      readonly trigger: HandoffTrigger;
      readonly report: HandoffReport;
    }
  | ({ readonly kind: 'fall-back' } & FallBackRecord);

/** A longer entry (a very long reason) is shortened to fit: it keeps the file's size bounded. */
const MAX_LINE_BYTES = 16 * 1024;
/**
 * The most read back at start-up (the read buffer is this large): a file of typical entries (~1 KiB) holds
 * thousands. A larger one is replaced by the next rewrite rather than read.
 */
const MAX_READ_BYTES = 8 * 1024 * 1024;
const SHORTENED_REASON_CHARS = 2000;

/** The history file beside a journal. */
export function historyPath(journal: string): string {
  return `${journal}.history.jsonl`;
}

export class HandoffHistory {
  readonly #size: number;
  #path: string | undefined;
  readonly #log: Logger;
  #entries: HistoryEntry[] = [];
  /** Lines in the file now (ours and those loaded), to know when to rewrite it. */
  #fileLines = 0;
  /** File operations, one at a time and in order; never rejects. */
  #queue: Promise<void> = Promise.resolve();

  private constructor(size: number, path: string | undefined, logger: Logger) {
    this.#size = size;
    this.#path = path;
    this.#log = logger;
  }

  /**
   * A history of the last `size` entries; with a `path`, loads what the file holds (a torn or unreadable
   * line is skipped) and appends every new entry to it. A path that is not a regular file, or a symlink, is
   * never written through: the history then lives in memory only (logged).
   */
  static async open(options: { size: number; path?: string; logger: Logger }): Promise<HandoffHistory> {
    const { size, path, logger } = options;
    const history = new HandoffHistory(size, path, logger);
    if (path === undefined) return history;
    try {
      const cap = Math.min(MAX_READ_BYTES, 2 * size * MAX_LINE_BYTES + MAX_LINE_BYTES);
      const lines = (await readBoundedFile(path, cap))
        .toString('utf8')
        .split('\n')
        .filter((line) => line !== '');
      history.#fileLines = lines.length;
      for (const line of lines.slice(-size)) {
        try {
          history.#entries.push(JSON.parse(line) as HistoryEntry);
        } catch {
          // A line torn by a crash mid-write: the rest of the history still counts.
        }
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return history;
      // An oversized regular file is replaced by the next rewrite; anything else (a symlink, a FIFO, a
      // directory) is not ours to replace, and the history stays in memory.
      const regular = await lstat(path).then(
        (stat) => stat.isFile(),
        () => false,
      );
      logger.warn(
        { err: error, path },
        regular
          ? 'could not read the handoff history; starting a new one'
          : 'the handoff history path is not a regular file; keeping the history in memory only',
      );
      if (regular) history.#fileLines = 2 * size;
      else history.#path = undefined;
    }
    return history;
  }

  /** The entries kept, oldest first. */
  entries(): readonly HistoryEntry[] {
    return this.#entries;
  }

  /**
   * Adds an entry. The file write is queued behind earlier ones; the returned promise settles when it is done
   * and never rejects (a failure is logged).
   */
  record(entry: HistoryEntry): Promise<void> {
    this.#entries.push(entry);
    if (this.#entries.length > this.#size) this.#entries.splice(0, this.#entries.length - this.#size);
    const path = this.#path;
    if (path === undefined) return Promise.resolve();
    const line = `${serialize(entry)}\n`;
    // What a rewrite keeps is decided now: entries recorded later append themselves after it.
    const kept = [...this.#entries];
    this.#queue = this.#queue
      .then(() => this.#append(path, line, kept))
      .catch((error: unknown) => {
        this.#log.warn({ err: error, path }, 'could not write the handoff history');
      });
    return this.#queue;
  }

  /** Waits for pending writes. */
  async close(): Promise<void> {
    await this.#queue;
  }

  async #append(path: string, line: string, kept: readonly HistoryEntry[]): Promise<void> {
    if (this.#fileLines + 1 > 2 * this.#size) {
      // Rewrite with the last N entries (which end with this one): through a fresh temporary file and a
      // rename, so a crash leaves the old file or the new one, and a symlink at `path` is replaced, not followed.
      await writeFileAtomic(path, kept.map((entry) => `${serialize(entry)}\n`).join(''), 0o600);
      this.#fileLines = kept.length;
      return;
    }
    // O_APPEND: each line lands whole at the end; O_NOFOLLOW: never through a symlink someone planted. Opened
    // per entry (handoffs are rare): the supervisor holds no fd of its own between handoffs.
    const file = await open(
      path,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      const bytes = Buffer.from(line);
      let written = 0;
      while (written < bytes.length) {
        written += (await file.write(bytes, written, bytes.length - written)).bytesWritten;
      }
    } finally {
      await file.close();
    }
    this.#fileLines++;
  }
}

function serialize(entry: HistoryEntry): string {
  const line = JSON.stringify(entry);
  if (Buffer.byteLength(line) <= MAX_LINE_BYTES) return line;
  const shorten = (text: string | undefined) =>
    text === undefined || text.length <= SHORTENED_REASON_CHARS
      ? text
      : `${text.slice(0, SHORTENED_REASON_CHARS)}… (shortened)`;
  const short: HistoryEntry =
    entry.kind === 'handoff'
      ? {
          ...entry,
          report: {
            ...entry.report,
            reason: shorten(entry.report.reason),
            successor: { ...entry.report.successor, lastWords: shorten(entry.report.successor.lastWords) },
          },
        }
      : { ...entry, reason: shorten(entry.reason) ?? '', error: shorten(entry.error) };
  // Still too long (a huge binary path?): cut; the torn line is skipped on load, and the file stays bounded.
  return Buffer.from(JSON.stringify(short)).subarray(0, MAX_LINE_BYTES).toString('utf8');
}
