// The supervisor's options and a handoff's spec, each default named once (docs/protocol.md §4) and every value checked
// when it is given (STYLE rule 13).

import { createLogger, type Logger } from '../log.js';
import { invalidOption, timingOptions } from '../options.js';
import type { HandoffReport, HandoffStep } from './report.js';
import type { InstanceSpec, SupervisedListener } from './spawn.js';

export interface SupervisorOptions {
  /** The incumbent's control socket: every daemon instance is configured with the same path. */
  readonly controlPath: string;
  /** Listening sockets handed to every instance at fds 3…, in this order. The caller keeps them open. */
  readonly listeners?: readonly SupervisedListener[];
  /** Where to journal a handoff in flight, for crash diagnostics. Default: no journal. */
  readonly journalPath?: string;
  /** Longest wait for any frame from a peer. Default: 10 000 ms. */
  readonly livenessTimeoutMs?: number;
  /** Heartbeats to the side we are not reading. Default: 2 000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** Waiting for a peer's Hello. Default: 5 000 ms. */
  readonly helloReadTimeoutMs?: number;
  /** Added to each phase budget. Default: 1 000 ms. */
  readonly wireSlackMs?: number;
  /** Floor of every read timeout and of the deadline sent to the incumbent. Default: 100 ms. */
  readonly minReadTimeoutMs?: number;
  /** A frame that has not reached the kernel after this long fails the handoff. Default: 10 000 ms. */
  readonly writeTimeoutMs?: number;
  /** Reading the incumbent's Hello when clearing a journal at start-up. Default: 2 000 ms. */
  readonly journalProbeReadTimeoutMs?: number;
  /** Where log lines go. Default: JSON lines on stderr (pino, synchronous). */
  readonly logger?: Logger;
}

export interface HandoffSpec extends InstanceSpec {
  /**
   * Overall budget from PrepareHandoff to Ready: how long the old build may stay drained, sealed and
   * waiting. [beyond] It starts when the old build is asked to drain, not when the handoff starts (the
   * Rust crate's rule): the new build's start-up before its Hello has its own budget, startTimeoutMs.
   * Default: 60 000 ms.
   */
  readonly deadlineMs?: number;
  /** The drain budget. Default: 25 000 ms. */
  readonly drainGraceMs?: number;
  /**
   * [beyond] Spawn → the new build's Hello: its start-up, while the old build still serves untouched.
   * Default: 60 000 ms (the Rust crate: 5 000 ms).
   */
  readonly startTimeoutMs?: number;
  /**
   * [beyond] Begin → Ready, capped by the deadline: the one phase in which nobody accepts, so a build that
   * hangs there costs at most this. Default: 10 000 ms.
   */
  readonly readyTimeoutMs?: number;
  /** [beyond] Commit even when the successor reports healthzOk=false. Default: false (roll back). */
  readonly allowUnhealthy?: boolean;
  /** [beyond] Roll back unless Ready's revisions equal the sealed ones. Default: false. */
  readonly verifyRevisions?: boolean;
  /** Called at each step, e.g. to show progress. An exception it throws is logged and ignored. */
  readonly onProgress?: (step: HandoffStep, report: Readonly<HandoffReport>) => void;
}

export function resolveSupervisorOptions(options: SupervisorOptions) {
  if (typeof options?.controlPath !== 'string' || options.controlPath === '') {
    throw invalidOption('controlPath', 'a non-empty path', options?.controlPath);
  }
  const listeners = options.listeners ?? [];
  for (const [i, listener] of listeners.entries()) {
    if (typeof listener?.name !== 'string' || listener.name === '' || listener.name.includes(':')) {
      throw invalidOption(`listeners[${i}].name`, 'a non-empty string without ":"', listener?.name);
    }
    if (!Number.isInteger(listener.fd) || listener.fd < 0) {
      throw invalidOption(`listeners[${i}].fd`, 'a non-negative integer', listener.fd);
    }
  }
  return {
    controlPath: options.controlPath,
    listeners: [...listeners],
    journalPath: journalPath(options.journalPath),
    ...timingOptions(options, [
      'livenessTimeoutMs',
      'heartbeatIntervalMs',
      'helloReadTimeoutMs',
      'wireSlackMs',
      'minReadTimeoutMs',
      'writeTimeoutMs',
      'journalProbeReadTimeoutMs',
    ]),
    logger: options.logger ?? createLogger('handoff.supervisor'),
  };
}

export function resolveHandoffSpec(spec: HandoffSpec) {
  if (typeof spec?.command !== 'string' || spec.command === '') {
    throw invalidOption('command', 'a non-empty path', spec?.command);
  }
  if (
    spec.args !== undefined &&
    (!Array.isArray(spec.args) || !spec.args.every((a) => typeof a === 'string'))
  ) {
    throw invalidOption('args', 'an array of strings', spec.args);
  }
  if (
    spec.env !== undefined &&
    (typeof spec.env !== 'object' || !Object.values(spec.env).every((v) => typeof v === 'string'))
  ) {
    throw invalidOption('env', 'an object of string values', spec.env);
  }
  const { deadlineMs, drainGraceMs, startTimeoutMs, readyTimeoutMs } = timingOptions(spec, [
    'deadlineMs',
    'drainGraceMs',
    'startTimeoutMs',
    'readyTimeoutMs',
  ]);
  if (spec.onProgress !== undefined && typeof spec.onProgress !== 'function') {
    throw invalidOption('onProgress', 'a function', spec.onProgress);
  }
  return {
    instance: {
      command: spec.command,
      args: spec.args ?? [],
      env: spec.env ?? {},
      ...(spec.cwd !== undefined && { cwd: spec.cwd }),
    },
    deadlineMs,
    drainGraceMs,
    startTimeoutMs,
    readyTimeoutMs,
    allowUnhealthy: spec.allowUnhealthy === true,
    verifyRevisions: spec.verifyRevisions === true,
    onProgress: spec.onProgress,
  };
}

function journalPath(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '' || value.includes('\0')) {
    throw invalidOption('journalPath', 'a non-empty path', value);
  }
  return value;
}
