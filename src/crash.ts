// Crash injection (docs/protocol.md §8): at a named point, when HANDOFF_CRASH_AT names it, write a marker and exit 99 at
// once, running no library cleanup (no lock release, no journal write, no pidfile delete). Crash points are
// shared constants so the library and the tests can never disagree on a name.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every crash point: the library's own (s-…, o-…) and the ones test daemons add (o-inside-…, n-…). */
export const CrashPoint = Object.freeze({
  S_AFTER_O_HELLO: 's-after-o-hello',
  S_AFTER_SPAWN_SUCCESSOR: 's-after-spawn-successor',
  S_AFTER_N_HELLO: 's-after-n-hello',
  S_AFTER_PREPARE_SENT: 's-after-prepare-sent',
  S_AFTER_DRAINED_RECV: 's-after-drained-recv',
  S_AFTER_SEAL_REQUEST_SENT: 's-after-seal-request-sent',
  S_AFTER_SEAL_COMPLETE_RECV: 's-after-seal-complete-recv',
  S_AFTER_BEGIN_SENT: 's-after-begin-sent',
  S_AFTER_READY_RECV: 's-after-ready-recv',
  S_AFTER_COMMIT_SENT: 's-after-commit-sent',
  S_AFTER_JOURNAL_CLEAR: 's-after-journal-clear',
  O_AFTER_DRAINED_SENT: 'o-after-drained-sent',
  O_AFTER_SEAL_FLOCK_RELEASED: 'o-after-seal-flock-released',
  O_AFTER_SEAL_COMPLETE_SENT: 'o-after-seal-complete-sent',
  O_AFTER_COMMIT_RECV: 'o-after-commit-recv',
  O_INSIDE_DRAIN: 'o-inside-drain',
  O_INSIDE_SEAL: 'o-inside-seal',
  N_BEFORE_HANDSHAKE: 'n-before-handshake',
  N_AFTER_HANDSHAKE: 'n-after-handshake',
  N_AFTER_BEGIN: 'n-after-begin',
  N_BEFORE_ANNOUNCE_READY: 'n-before-announce-ready',
} as const);

export type CrashPointName = (typeof CrashPoint)[keyof typeof CrashPoint];

/** The environment variables of docs/protocol.md §8. */
export const CrashEnv = Object.freeze({
  AT: 'HANDOFF_CRASH_AT',
  MARKER_DIR: 'HANDOFF_CRASH_MARKER_DIR',
  ROLE: 'HANDOFF_CRASH_ROLE',
  AT_FOR_O: 'HANDOFF_CRASH_AT_FOR_O',
  AT_FOR_N: 'HANDOFF_CRASH_AT_FOR_N',
} as const);

/** The exit code of an injected crash. */
export const CRASH_EXIT_CODE = 99;

/**
 * Exits the process with code 99 when HANDOFF_CRASH_AT equals `point`, after writing
 * `<HANDOFF_CRASH_MARKER_DIR>/crashed-<HANDOFF_CRASH_ROLE or unknown>.marker` containing the point name.
 * A no-op otherwise. The library registers no 'exit' listener, so nothing of ours runs on the way out.
 */
export function crashHere(point: CrashPointName, env: NodeJS.ProcessEnv = process.env): void {
  if (env[CrashEnv.AT] !== point) return;
  const markerDir = env[CrashEnv.MARKER_DIR];
  if (markerDir) {
    const role = env[CrashEnv.ROLE] || 'unknown';
    writeFileSync(join(markerDir, `crashed-${role}.marker`), point);
  }
  process.exit(CRASH_EXIT_CODE);
}
