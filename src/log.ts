// The logger the library writes through: a structural subset of pino, so a daemon can pass its own pino
// (or anything with the same four methods). The default writes JSON lines to stderr synchronously, so the
// last lines before an injected crash or a fatal exit are never lost.

import { pino } from 'pino';

export interface Logger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

/** A pino logger writing JSON lines to stderr with a synchronous destination. */
export function createLogger(name: string, level = 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

/** A logger that drops everything (tests that assert on events rather than log lines). */
export const silentLogger: Logger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});
