// The three ways of deploying a daemon the benchmark compares, behind one interface, and the daemon programs
// each way runs (the handoff-able ones under `handoff run`, the plain one under pm2 and kill-and-restart).

import http from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { PhaseDurations } from '../../src/supervisor/report.js';
import { ROOT } from '../handoff-run.js';

export type DaemonKind = 'kv' | 'hello';
export type WayName = 'handoff' | 'pm2 reload' | 'kill-and-restart';
export const WAYS: readonly WayName[] = ['handoff', 'pm2 reload', 'kill-and-restart'];

export interface WaySetup {
  readonly kind: DaemonKind;
  /** The run's own temp dir for this (kind, way): data, logs, sockets. */
  readonly dir: string;
  /** Where the daemons append `pid accept ms` lines (bench/accept-log.ts). */
  readonly acceptLog: string;
  /** The kv daemon's data dir (unused by hello). */
  readonly dataDir: string;
  /** Extra arguments for the handoff-able daemon (the kv's `--no-prepare`). */
  readonly daemonArgs?: readonly string[];
  /** How long a daemon may take to come up (a big kv log replays first). Default: 20 000 ms. */
  readonly startTimeoutMs?: number;
  /** Run `handoff run` with its default budgets instead of the bench's shorter drain and deadline. */
  readonly defaultBudgets?: boolean;
}

export interface DeployOutcome {
  readonly ok: boolean;
  /** Why it failed (or the handoff's abort reason). */
  readonly detail?: string;
  /** The supervisor's phase times (handoff only). */
  readonly phases?: PhaseDurations;
}

/** A daemon started one way, serving on 127.0.0.1:port. */
export interface Deployment {
  readonly port: number;
  /** The long-lived process that replaces the daemon: `handoff run`, or pm2's God daemon; none for a restart. */
  readonly supervisorPid: number | undefined;
  /** Replaces the daemon with a new process of the same build; resolves when the old one is gone. */
  deploy(): Promise<DeployOutcome>;
  /** Stops the daemon (and the supervisor). Idempotent. */
  stop(): Promise<void>;
}

const DIST = join(ROOT, 'dist');
/** Preloaded into every daemon with `--import`: records accepts when the env var says where. */
export const ACCEPT_LOG_MODULE = join(DIST, 'bench/accept-log.js');
export const PLAIN_DAEMON = join(DIST, 'bench/plain-daemon.js');

/** The handoff-able program for `kind`: the kv example daemon (its bundle, as bin/kv runs it), or the hello daemon. */
export function handoffDaemonArgs(kind: DaemonKind): string[] {
  return kind === 'kv'
    ? ['--expose-gc', join(DIST, 'examples/kv/daemon.bundle.js'), '--log-level', 'warn']
    : [join(DIST, 'bench/hello-daemon.js')];
}

/** The plain program's arguments for `kind` on `port`. */
export function plainDaemonArgs(setup: WaySetup, port: number): string[] {
  const data = setup.kind === 'kv' ? ['--data-dir', setup.dataDir] : [];
  return [PLAIN_DAEMON, '--app', setup.kind, '--port', String(port), ...data];
}

/** A TCP port that was free a moment ago (bound to 0 and closed), for daemons that bind their own. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once GET / on the port answers 200; throws after `timeoutMs`. */
export async function waitForHttp(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.setTimeout(1000, () => req.destroy());
      req.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`nothing answered on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await delay(50);
  }
}
