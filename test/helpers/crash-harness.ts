// The crash-injection test bed (SPEC §8): a HandoffFixture under a FlockObserver, the fixture daemon and the
// fixture supervisor as children with explicit crash env, probes of the end state (journal, crash markers, who
// holds the flock and serves); the fixture's own sweep kills every process of a test, orphans included.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CrashEnv, type CrashPointName } from '../../src/crash.js';
import type { JournalPhase } from '../../src/protocol/journal.js';
import { readJournal } from '../../src/supervisor/journal.js';
import { FakeSupervisor } from './fake-supervisor.js';
import { FlockObserver } from './flock-observer.js';
import { HandoffFixture } from './handoff-fixture.js';
import { type Child, type ExitStatus, processAlive, spawnChild } from './spawn-child.js';
import { waitFor } from './wait-for.js';

export const SUPERVISOR_FIXTURE = fileURLToPath(
  new URL('../process/fixtures/supervisor.ts', import.meta.url),
);

/**
 * A backstop per scenario: each wait inside one is bounded already (a handoff by its deadline, the rest
 * by waitFor), so this only turns a harness bug into a failure instead of a hang. About 10× a scenario.
 */
export const SCENARIO_TIMEOUT_MS = 60_000;

/** Exit codes of the fixture supervisor. */
export const SupervisorExit = Object.freeze({ committed: 0, aborted: 2, error: 3, crashed: 99 });

export type CrashRole = 'supervisor' | 'incumbent' | 'successor';

export interface SupervisorRunOptions {
  /** The supervisor's own crash point (an `s-…` point). */
  readonly crashAt?: CrashPointName;
  /** The successor's crash point, passed as HANDOFF_CRASH_AT_FOR_N for the library to forward. */
  readonly crashAtForN?: CrashPointName;
  /** Daemon knobs for the successor (it inherits the supervisor's environment). */
  readonly successorEnv?: Record<string, string>;
  readonly deadlineMs?: number;
  readonly drainGraceMs?: number;
  readonly livenessTimeoutMs?: number;
}

/** One line the fixture supervisor printed: `kind` is journal, progress or outcome. */
export type SupervisorLine = Record<string, unknown> & { readonly kind: string };

/** A run of the fixture supervisor, and what it has printed so far. */
export class SupervisorRun {
  readonly child: Child;

  constructor(child: Child) {
    this.child = child;
  }

  /** Its JSON lines so far (the library's log lines on stderr are told apart by having no `kind`). */
  lines(kind?: string): SupervisorLine[] {
    const lines: SupervisorLine[] = [];
    for (const text of this.child.output().split('\n')) {
      if (!text.startsWith('{"kind":')) continue;
      try {
        const line = JSON.parse(text) as SupervisorLine;
        if (kind === undefined || line.kind === kind) lines.push(line);
      } catch {
        // a line still being written
      }
    }
    return lines;
  }

  /**
   * The first line of `kind` that `match` accepts. The child may have exited before its output was read,
   * so this waits (bounded) rather than reading once.
   */
  line(kind: string, match: (line: SupervisorLine) => boolean = () => true): Promise<SupervisorLine> {
    return waitFor(() => this.lines(kind).find(match), {
      what: `a ${kind} line from the fixture supervisor ${this.child.pid}`,
      diagnostics: () => this.child.tail(40),
    });
  }

  /** The successor pid announced in the progress lines, once it was spawned. */
  successorPid(): number | undefined {
    const pids = this.lines('progress').map((l) => l.successorPid);
    const pid = pids.find((p) => typeof p === 'number');
    return pid as number | undefined;
  }
}

export class CrashHarness {
  readonly f: HandoffFixture;
  readonly observer: FlockObserver;
  readonly #t: TestContext;
  readonly #children: Child[] = [];

  constructor(t: TestContext) {
    this.#t = t;
    // The fixture kills every process of the test, orphans of a crashed supervisor included, at the end.
    this.f = new HandoffFixture(t);
    this.observer = new FlockObserver(this.f);
    this.observer.start();
    t.after(() => this.observer.stop());
  }

  /** Starts the fixture daemon as the cold-start incumbent with its crash point (or none) given explicitly. */
  async startIncumbent(crashAt?: CrashPointName, env: Record<string, string> = {}): Promise<Child> {
    const child = await this.f.startIncumbent({
      [CrashEnv.AT]: crashAt ?? '',
      [CrashEnv.ROLE]: 'incumbent',
      [CrashEnv.MARKER_DIR]: this.f.markerDir,
      ...env,
    });
    this.#children.push(child);
    return child;
  }

  /** Starts the fixture supervisor with the listener at fd 3; it runs one handoff and exits. */
  runSupervisor(options: SupervisorRunOptions = {}): SupervisorRun {
    const base: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (!name.startsWith('HANDOFF_') && !name.startsWith('LISTEN_')) base[name] = value;
    }
    const env: NodeJS.ProcessEnv = {
      ...base,
      ...this.f.daemonEnv(options.successorEnv),
      HANDOFF_JOURNAL: this.f.journalPath,
      LISTEN_FDS: '1',
      LISTEN_FDNAMES: 'http',
      [CrashEnv.AT]: options.crashAt ?? '',
      [CrashEnv.ROLE]: 'supervisor',
      [CrashEnv.MARKER_DIR]: this.f.markerDir,
      [CrashEnv.AT_FOR_N]: options.crashAtForN ?? '',
      ...(options.deadlineMs !== undefined && { HANDOFF_TEST_DEADLINE_MS: String(options.deadlineMs) }),
      ...(options.drainGraceMs !== undefined && {
        HANDOFF_TEST_DRAIN_GRACE_MS: String(options.drainGraceMs),
      }),
      ...(options.livenessTimeoutMs !== undefined && {
        HANDOFF_TEST_LIVENESS_MS: String(options.livenessTimeoutMs),
      }),
    };
    const child = spawnChild(this.#t, process.execPath, ['--import', 'tsx', SUPERVISOR_FIXTURE], {
      env,
      extraFds: [this.f.listener.fd],
    });
    this.#children.push(child);
    return new SupervisorRun(child);
  }

  /** Waits (bounded) until `child` has exited and returns how; fails with its output tail otherwise. */
  exited(child: Child, timeoutMs = 20_000): Promise<ExitStatus> {
    const { process: proc } = child;
    return waitFor(
      () =>
        (proc.exitCode !== null || proc.signalCode !== null) && {
          code: proc.exitCode,
          signal: proc.signalCode,
        },
      { what: `pid ${child.pid} to exit`, timeoutMs, diagnostics: () => this.diagnostics() },
    );
  }

  /** The contents of `crashed-<role>.marker`, or undefined when that role did not crash. */
  crashMarker(role: CrashRole): string | undefined {
    const path = join(this.f.markerDir, `crashed-${role}.marker`);
    return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  }

  /** Asserts an injected crash: exit code 99 and a marker naming the point (STYLE rule 23). */
  assertCrashed(status: ExitStatus, role: CrashRole, point: CrashPointName, child?: Child): void {
    assert.deepEqual(status, { code: SupervisorExit.crashed, signal: null }, child?.tail(40));
    assert.equal(this.crashMarker(role), point, `crashed-${role}.marker names the point`);
  }

  /** The phase of the journal on disk, or undefined when there is none. */
  async journalPhase(): Promise<JournalPhase | undefined> {
    return (await readJournal(this.f.journalPath))?.phase;
  }

  /** The pid in the Hello of whoever answers on the control socket (no HelloAck: it just closes). */
  async controlPid(): Promise<number> {
    const probe = await FakeSupervisor.connect(this.#t, this.f.controlPath, { ack: false });
    probe.close();
    return probe.hello.pid;
  }

  /**
   * Waits until exactly one process holds the flock (`expected`, when given), then asserts that it is the one
   * that serves: it answers on the listener and on the control socket. Returns its pid.
   */
  async converged(expected?: number): Promise<number> {
    const holder = await waitFor(
      () => {
        const [only, ...others] = this.f.flockHolders();
        // A holder whose last thread is still exiting is no holder: the kernel frees its flock in a moment.
        return (
          only !== undefined &&
          others.length === 0 &&
          (expected ?? only) === only &&
          processAlive(only) &&
          only
        );
      },
      {
        what: `one flock holder${expected === undefined ? '' : ` (pid ${expected})`}`,
        diagnostics: () => this.diagnostics(),
      },
    );
    const answered = await this.f.askHttp();
    assert.equal(answered, holder, `the flock holder ${holder} serves the listener\n${this.diagnostics()}`);
    const controller = await this.controlPid();
    assert.equal(
      controller,
      holder,
      `the flock holder ${holder} owns the control socket\n${this.diagnostics()}`,
    );
    assert.deepEqual(this.f.flockHolders(), [holder], `and still holds the flock\n${this.diagnostics()}`);
    return holder;
  }

  /** Waits until `pid` (a child of someone else, e.g. an orphaned successor) has gone. */
  async gone(pid: number, what: string): Promise<void> {
    await waitFor(() => !processAlive(pid), {
      what: `${what} (pid ${pid}) to be gone`,
      diagnostics: () => this.diagnostics(),
    });
  }

  /** The pids that wrote marker `name`. */
  marker(name: string): number[] {
    return this.f.markerPids(name);
  }

  /**
   * Waits until `pid` has resumed, then asserts it resumed exactly once. The incumbent answers status probes
   * in sessions of their own while a broken-off handoff's hook still runs, so serving again (converged) can
   * be seen before the resume that follows the hook.
   */
  async resumedOnce(pid: number): Promise<void> {
    await waitFor(() => this.marker('resume-called').length > 0, {
      what: `pid ${pid} to resume`,
      diagnostics: () => this.diagnostics(),
    });
    assert.deepEqual(this.marker('resume-called'), [pid]);
  }

  /**
   * The follow-up every scenario ends with: a restarted supervisor (in-process) reports the crashed run's
   * journal and clears it, then a handoff from `from`, the serving instance, commits; `from` exits.
   * Returns the new incumbent's pid.
   */
  async followUpCommits(from: number, journal: JournalPhase | undefined, fromChild?: Child): Promise<number> {
    const supervisor = this.f.supervisor();
    assert.equal(
      (await supervisor.resumeFromJournal())?.phase,
      journal,
      'the restarted supervisor reports the journal',
    );
    assert.equal(existsSync(this.f.journalPath), false, 'and clears it');
    const outcome = await supervisor.performHandoff(this.f.successorSpec());
    assert.equal(outcome.status, 'committed', outcome.status === 'aborted' ? outcome.reason : '');
    if (outcome.status !== 'committed') throw new Error('unreachable');
    this.f.adopt(outcome.child);
    assert.equal(outcome.report.incumbent.pid, from, 'the follow-up handed off from the serving instance');
    if (fromChild)
      assert.deepEqual(await this.exited(fromChild), { code: 0, signal: null }, fromChild.tail());
    else await this.gone(from, 'the previous incumbent');
    const n = outcome.child.pid!;
    assert.equal(await this.converged(n), n);
    assert.equal(existsSync(this.f.journalPath), false, 'no journal after the follow-up');
    this.observer.assertNeverTwo();
    return n;
  }

  /** Observer timeline, markers and the tails of every child, for failure messages. */
  diagnostics(): string {
    const markers = existsSync(this.f.markerDir)
      ? readdirSync(this.f.markerDir).map(
          (name) =>
            `  ${name}: ${readFileSync(join(this.f.markerDir, name), 'utf8').trim().split('\n').join(' ')}`,
        )
      : [];
    return [
      this.observer.describe(),
      `markers:\n${markers.join('\n')}`,
      ...this.#children.map((c) => c.tail(30)),
    ].join('\n');
  }
}
