// A daemon instance's stderr as the supervisor sees it: every byte passed straight through to the
// supervisor's own stderr (no log line is lost), and the last few KiB kept, so that a build that fails before
// Ready can be rolled back with its own last words as the reason, whatever language it is written in.

import type { Readable, Writable } from 'node:stream';

/** How much of an instance's stderr is kept: a stack trace or a few log lines. */
export const STDERR_TAIL_BYTES = 4096;
/** The longest "last words" quoted in a reason or a log line. */
const LAST_WORDS_MAX_CHARS = 300;

export class StderrTail {
  #chunks: Buffer[] = [];
  #bytes = 0;
  readonly #ended: Promise<void>;

  constructor(stream: Readable, sink: Writable = process.stderr, maxBytes = STDERR_TAIL_BYTES) {
    stream.on('data', (chunk: Buffer) => {
      sink.write(chunk);
      this.#chunks.push(chunk);
      this.#bytes += chunk.length;
      while (this.#bytes - (this.#chunks[0]?.length ?? 0) >= maxBytes) {
        this.#bytes -= this.#chunks.shift()!.length;
      }
    });
    // A read error on a pipe means the child is gone; its exit says the rest.
    stream.on('error', () => {});
    this.#ended = new Promise((resolve) => stream.once('close', () => resolve()));
  }

  /** Resolves once the stream has ended (every writer closed it), or after `timeoutMs`. */
  settled(timeoutMs: number): Promise<void> {
    return Promise.race([
      this.#ended,
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }

  /** The kept bytes, as text. */
  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8');
  }

  /** The instance's most telling last line (see `lastWords`), or undefined if it said nothing. */
  lastWords(): string | undefined {
    return lastWords(this.text());
  }
}

/**
 * Picks what a failing program last said about its failure from the tail of its stderr: the last error-level
 * JSON log line (pino/bunyan `level` ≥ 50, or one with an `err`), shown as `msg: err.message`; else the last
 * plain line that names an error or a panic (a Node stack's `Error: …` line, a Rust `panicked at` and its
 * message); else the last non-empty line. Cut to a few hundred characters.
 */
export function lastWords(text: string): string | undefined {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  for (let i = lines.length - 1; i >= 0; i--) {
    const entry = parseJsonLine(lines[i]!);
    if (entry && (Number(entry.level) >= 50 || typeof entry.err === 'object'))
      return cut(describeEntry(entry));
  }
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (parseJsonLine(line)) continue;
    if (/panicked at/.test(line)) return cut([line, lines[i + 1]].filter(Boolean).join(' '));
    if (/^(?:Uncaught )?\w*(?:Error|Exception)\b.*:|\b(?:fatal|FATAL|panic)\b/.test(line)) return cut(line);
  }
  const last = lines.filter((line) => !/^Node\.js v\d/.test(line)).at(-1);
  return last === undefined ? undefined : cut(last);
}

function parseJsonLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function describeEntry(entry: Record<string, unknown>): string {
  const msg = typeof entry.msg === 'string' ? entry.msg : '';
  const err = entry.err as { message?: unknown } | undefined;
  const message = typeof err?.message === 'string' ? err.message : '';
  return [msg, message].filter(Boolean).join(': ') || JSON.stringify(entry);
}

function cut(text: string): string {
  return text.length <= LAST_WORDS_MAX_CHARS ? text : `${text.slice(0, LAST_WORDS_MAX_CHARS - 1)}…`;
}
