// Spawn → Hello: how long a new build takes from spawn to its first byte on the control channel (its Hello,
// the moment the supervisor can go on), against a bare `node -e 0`, interleaved run by run so the machine's
// load hits every subject alike. No supervisor: the channel is a socketpair the script holds.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeKvLog } from './kv-log.js';

export interface StartUpSubject {
  readonly name: string;
  /** Node's arguments; `$DIR` becomes a fresh temp dir of the run. */
  readonly args: readonly string[];
  /** Wait for the first byte on fd 3 (a successor's Hello) rather than for the exit. */
  readonly hello: boolean;
  /** Fill `$DIR/data` first. */
  readonly seed?: (dataDir: string) => void;
}

export interface StartUpResult {
  readonly name: string;
  readonly medianMs: number;
  /** The median over `node -e 0`'s median. */
  readonly ratio: number;
}

export async function measureStartUp(
  subjects: readonly StartUpSubject[],
  runs: number,
  runDir: string,
): Promise<StartUpResult[]> {
  const all: StartUpSubject[] = [{ name: 'node -e 0', args: ['-e', '0'], hello: false }, ...subjects];
  const times = all.map(() => [] as number[]);
  for (let run = 0; run < runs; run++) {
    for (const [i, subject] of all.entries()) {
      const dir = mkdtempSync(join(runDir, 'start-up-'));
      try {
        subject.seed?.(join(dir, 'data'));
        times[i]!.push(await once(subject, dir));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const medians = times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!);
  return all.map((subject, i) => ({
    name: subject.name,
    medianMs: Math.round(medians[i]! * 10) / 10,
    ratio: Math.round((medians[i]! / medians[0]!) * 100) / 100,
  }));
}

/** One start, in ms: to the exit, or to the first byte on fd 3 (then the process group is killed). */
function once(subject: StartUpSubject, dir: string): Promise<number> {
  const args = subject.args.map((arg) => arg.replaceAll('$DIR', dir));
  const env = subject.hello
    ? { ...process.env, LISTEN_FDS: '0', HANDOFF_ROLE: 'successor', HANDOFF_SOCK_FD: '3' }
    : process.env;
  return new Promise((resolve, reject) => {
    const from = performance.now();
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
      env,
      detached: true,
    });
    let settled = false;
    const done = (error?: Error) => {
      if (settled) return;
      settled = true;
      const ms = performance.now() - from;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // exited already
      }
      child.stdio[3]?.destroy();
      if (error) reject(error);
      else resolve(ms);
    };
    child.once('error', done);
    if (subject.hello) {
      child.stdio[3]!.once('data', () => done());
      child.once('exit', (code) => done(new Error(`${subject.name} exited (${code}) before its Hello`)));
    } else {
      child.once('exit', () => done());
    }
  });
}

/** The subjects `npm run bench` measures: the library's import (both builds), and two daemons as successors. */
export function startUpSubjects(dist: string): StartUpSubject[] {
  const control = ['--control-socket', '$DIR/control.sock', '--data-dir', '$DIR/data'];
  return [
    {
      name: "import the package's entry (dist/lib/index.js, bundled)",
      args: ['--input-type=module', '-e', `await import(${JSON.stringify(join(dist, 'lib/index.js'))})`],
      hello: false,
    },
    {
      name: "import tsc's output (dist/src/index.js, what the examples here run)",
      args: ['--input-type=module', '-e', `await import(${JSON.stringify(join(dist, 'src/index.js'))})`],
      hello: false,
    },
    { name: 'hello daemon, successor', args: [join(dist, 'bench/hello-daemon.js'), ...control], hello: true },
    {
      name: "kv daemon, successor, empty data dir (tsc's output)",
      args: [join(dist, 'examples/kv/daemon.js'), ...control, '--log-level', 'warn'],
      hello: true,
    },
    {
      name: 'kv daemon, successor, empty data dir (bundled, as bin/kv runs it)',
      args: [join(dist, 'examples/kv/daemon.bundle.js'), ...control, '--log-level', 'warn'],
      hello: true,
    },
    {
      name: 'kv daemon, successor, prepares a 1 MB kv.log (bundled)',
      args: [join(dist, 'examples/kv/daemon.bundle.js'), ...control, '--log-level', 'warn'],
      hello: true,
      seed: (dataDir) => writeKvLog(dataDir, { bytes: 1e6 }),
    },
  ];
}
