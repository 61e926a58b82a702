// The logger the library writes through, and a small default one: JSON lines (pino's shape: numeric `level`,
// `time`, `pid`, `name`, fields, `msg`) or one readable line per entry, written to an fd synchronously so the
// last lines before a crash or a fatal exit are never lost. A daemon may pass its own pino instead.

import { writeSync } from 'node:fs';

/** What the library logs through: a structural subset of pino, so a daemon's own pino fits as it is. */
export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

/** The levels `createLogger` knows, least severe first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `json`: one JSON object per line, for machines. `pretty`: one readable line per entry, for a terminal. */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LoggerOptions {
  /** Entries below this level are dropped. Default: `'info'`. */
  readonly level?: LogLevel;
  /** Default: `'json'`. */
  readonly format?: LogFormat;
  /** ANSI colours on the level word of `pretty` lines. Default: false. */
  readonly color?: boolean;
  /** The fd lines are written to. Default: 2 (stderr). */
  readonly fd?: number;
}

/** pino's numbers for the levels, so log collectors that read pino lines read ours. */
const LEVEL_NUMBER: Readonly<Record<LogLevel, number>> = { debug: 20, info: 30, warn: 40, error: 50 };
const LEVEL_COLOR: Readonly<Record<LogLevel, string>> = {
  debug: '\x1b[90m',
  info: '\x1b[32m',
  warn: '\x1b[33m',
  error: '\x1b[31m',
};

/**
 * How long one line may wait for a full pipe (EAGAIN) before it is dropped. A log line must never stop the
 * process for good because its reader stalls; 1 s is far longer than any live reader takes to drain a pipe.
 */
const EAGAIN_BUDGET_MS = 1000;

/**
 * A logger writing each entry to `options.fd` (stderr) with a synchronous write: when the call returns, the
 * line is in the kernel, so an injected crash (exit 99) or a fatal exit right after it keeps it. Never throws:
 * a line that cannot be written (EPIPE, a closed fd) is dropped.
 */
export function createLogger(name: string, options: LoggerOptions = {}): Logger {
  const threshold = LEVEL_NUMBER[options.level ?? 'info'];
  const fd = options.fd ?? 2;
  const pretty = options.format === 'pretty';
  const color = options.color === true;
  const entry =
    (level: LogLevel) =>
    (fields: object, message?: string): void => {
      if (LEVEL_NUMBER[level] < threshold) return;
      try {
        const line = pretty
          ? prettyLine(name, level, fields, message, color)
          : jsonLine(name, level, fields, message);
        writeLineSync(fd, line);
      } catch {
        // A log line is diagnostic: a field that cannot be shown or a write that fails loses the line only.
      }
    };
  return Object.freeze({
    debug: entry('debug'),
    info: entry('info'),
    warn: entry('warn'),
    error: entry('error'),
  });
}

/** A logger that drops everything (tests that assert on events rather than log lines). */
export const silentLogger: Logger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

/** The keys every JSON line starts with (and `msg`, which ends it). */
const RESERVED = new Set(['level', 'time', 'pid', 'name', 'msg']);

function jsonLine(name: string, level: LogLevel, fields: object, message: string | undefined): string {
  const entry: Record<string, unknown> = {
    level: LEVEL_NUMBER[level],
    time: Date.now(),
    pid: process.pid,
    name,
  };
  // A field named like an entry key (a child's `pid`) must not pass for the writer's: it is kept, renamed.
  for (const [key, value] of Object.entries(fields)) entry[RESERVED.has(key) ? `fields.${key}` : key] = value;
  if (message !== undefined) entry.msg = message;
  return `${stringify(entry)}\n`;
}

/** JSON text of `value`; a value that refers to itself is written with `"[Circular]"` where it repeats. */
function stringify(value: unknown): string {
  try {
    return JSON.stringify(value, jsonValue);
  } catch {
    const seen = new WeakSet<object>();
    return JSON.stringify(value, function (this: unknown, key: string, raw: unknown) {
      const shown = jsonValue.call(this, key, raw);
      if (typeof shown !== 'object' || shown === null) return shown;
      if (seen.has(shown)) return '[Circular]';
      seen.add(shown);
      return shown;
    });
  }
}

function prettyLine(
  name: string,
  level: LogLevel,
  fields: object,
  message: string | undefined,
  color: boolean,
): string {
  const now = new Date();
  const two = (n: number) => String(n).padStart(2, '0');
  const time = `${two(now.getHours())}:${two(now.getMinutes())}:${two(now.getSeconds())}.${String(now.getMilliseconds()).padStart(3, '0')}`;
  const word = level.toUpperCase().padEnd(5);
  const parts = [time, color ? `${LEVEL_COLOR[level]}${word}\x1b[0m` : word, `${name}:`];
  if (message !== undefined && message !== '') parts.push(message);
  const stacks: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (value instanceof Error) {
      parts.push(`${key}=${JSON.stringify(value.message)}`);
      if (value.stack) stacks.push(indent(value.stack));
      continue;
    }
    const shown = typeof value === 'string' && /^[^\s"=]+$/.test(value) ? value : stringify(value);
    parts.push(`${key}=${shown}`);
  }
  return `${[parts.join(' '), ...stacks].join('\n')}\n`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

/**
 * JSON.stringify's replacer: bigints as decimal strings (u64 revisions), errors as pino's `err` shape
 * (type, message, stack, code and own fields, cause), byte arrays as hex.
 */
function jsonValue(this: unknown, key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return errorObject(value, 0);
  // A Buffer has become {type, data} through its toJSON by now; the holder still has the original.
  const original = (this as Record<string, unknown>)[key];
  if (original instanceof Uint8Array) {
    return Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('hex');
  }
  return value;
}

function errorObject(error: Error, depth: number): Record<string, unknown> {
  const shown: Record<string, unknown> = { type: error.name, message: error.message, stack: error.stack };
  for (const [key, value] of Object.entries(error)) if (!(key in shown)) shown[key] = value;
  if (error.cause !== undefined && depth < 4) {
    shown.cause = error.cause instanceof Error ? errorObject(error.cause, depth + 1) : error.cause;
  }
  return shown;
}

/** Writes the whole line, waiting out a full non-blocking pipe (EAGAIN) for at most `EAGAIN_BUDGET_MS`. */
function writeLineSync(fd: number, line: string): void {
  const bytes = Buffer.from(line);
  let offset = 0;
  let waitedMs = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || waitedMs >= EAGAIN_BUDGET_MS) throw error;
      sleepSync(10);
      waitedMs += 10;
    }
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
