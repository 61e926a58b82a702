// The soak's invariants, checked while it runs: never two holders of the data-dir flock (sampled from
// /proc/locks every few ms), and after each fault exactly one serving daemon within the deadline.

import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { healthz } from './faults.js';
import type { SoakService } from './service.js';

/** Samples who holds the flock on one file, and remembers the worst moment. */
export class FlockSampler {
  readonly #key: string;
  readonly #timer: NodeJS.Timeout;
  samples = 0;
  /** Samples that were torn (the kernel list changed under a multi-read), skipped. */
  torn = 0;
  maxHolders = 0;
  /** The holders at the worst moment, and when (Unix ms). */
  worst: { pids: number[]; atUnixMs: number } | undefined;

  /** Starts sampling the flock on `lockFile` (which must exist) every `intervalMs`. */
  constructor(lockFile: string, intervalMs = 5) {
    const { dev, ino } = statSync(lockFile);
    // /proc/locks names a file major:minor:inode, in hex for the device numbers.
    const major = Math.floor(dev / 256) & 0xfff;
    const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
    this.#key = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${ino}`;
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #sample(): void {
    const text = readLocksOnce();
    if (text === undefined) {
      this.torn++;
      return;
    }
    this.samples++;
    const pids = new Set<number>();
    for (const line of text.split('\n')) {
      const fields = line.trim().split(/\s+/);
      // "1: FLOCK  ADVISORY  WRITE 1234 00:2e:5678 0 EOF" (blocked waiters are "->" lines: not holders)
      if (fields[1] !== 'FLOCK' || fields[5] !== this.#key) continue;
      pids.add(Number(fields[4]));
    }
    if (pids.size > this.maxHolders) {
      this.maxHolders = pids.size;
      this.worst = { pids: [...pids], atUnixMs: Date.now() };
    }
  }
}

/**
 * /proc/locks in one read(2), or undefined when one read did not get it all: each read is one pass over the
 * kernel's list, and a second pass may see records shifted by a lock taken or dropped in between.
 */
function readLocksOnce(): string | undefined {
  const fd = openSync('/proc/locks', 'r');
  try {
    const buffer = Buffer.alloc(256 * 1024);
    const bytes = readSync(fd, buffer, 0, buffer.length, null);
    if (bytes === buffer.length || readSync(fd, Buffer.alloc(1), 0, 1, null) !== 0) return undefined;
    return buffer.toString('utf8', 0, bytes);
  } finally {
    closeSync(fd);
  }
}

/**
 * Waits until the service has converged: exactly one daemon process of the run alive, the one the
 * supervisor reports, answering on its control socket and answering HTTP (any status: it accepts). Resolves
 * with its pid, or undefined at `timeoutMs`.
 */
export async function converged(
  service: SoakService,
  timeoutMs: number,
  log: (line: string) => void = () => {},
): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const status = await service.status().catch(() => undefined);
    const daemons = service.daemons();
    const pid = status?.daemon?.pid;
    last = `status daemon ${JSON.stringify(status?.daemon)}, in progress ${status?.handoffs.inProgress}, live daemons ${daemons.join(' ')}`;
    if (
      status &&
      !status.handoffs.inProgress &&
      status.daemon?.controlSocketAnswers &&
      daemons.length === 1 &&
      daemons[0] === pid &&
      (await healthz(service.options.port)) !== undefined
    ) {
      return pid;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  log(`  not converged: ${last}`);
  return undefined;
}
