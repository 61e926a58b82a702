// One handoff of the soak, with its fault injected for real: SIGKILL of the old or the new build at a chosen
// step, SIGTERM of the supervisor (then started again), a SIGHUP storm, a build that hangs before Ready, a
// full data or journal filesystem. Each returns what the trigger said.

import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { PlannedHandoff } from './schedule.js';
import type { SoakService } from './service.js';

export interface FaultContext {
  readonly service: SoakService;
  /** Where the data dir's and the journal's filesystems are mounted (undefined: no mounts, no disk faults). */
  readonly dataMount: string | undefined;
  readonly journalMount: string | undefined;
  /** A build that hangs before Ready (the kv daemon with --hang-at-start). */
  readonly hangingBuild: string;
}

/** What one handoff of the soak came to, as the trigger reported it. */
export interface HandoffResult {
  readonly reply: string;
  /** A fault that needs an operator's hand afterwards, done by the soak (e.g. restarting a failed store). */
  readonly recovery?: string;
}

export async function runHandoff(planned: PlannedHandoff, ctx: FaultContext): Promise<HandoffResult> {
  const { service } = ctx;
  switch (planned.fault) {
    case undefined:
      return { reply: (await service.request('handoff')).result };
    case 'kill-old':
    case 'kill-new': {
      const old = (await service.status())?.daemon?.pid;
      const reply = await service.request('handoff --stream', (step) => {
        if (step !== planned.step) return;
        const target = planned.fault === 'kill-old' ? old : service.daemons().find((pid) => pid !== old);
        if (target !== undefined) kill(target);
      });
      return { reply: reply.result };
    }
    case 'kill-supervisor': {
      // SIGKILL at a chosen step of a handoff: no cleanup at all. Whatever serves must be adopted by the
      // next supervisor (or, if nothing serves, cold-started).
      const handoff = service
        .request('handoff --stream', (step) => {
          if (step === planned.step) service.signal('SIGKILL');
        })
        .catch((error: unknown) => ({ result: `err: ${String(error)}` }));
      const reply = (await handoff).result;
      service.signal('SIGKILL'); // the step never came (the handoff ended sooner): now, between handoffs
      await service.exited();
      await service.start();
      return { reply, recovery: 'supervisor killed, started again' };
    }
    case 'sigterm-supervisor': {
      const handoff = service
        .request('handoff')
        .catch((error: unknown) => ({ result: `err: ${String(error)}` }));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const code = await service.stop();
      const reply = (await handoff).result;
      await service.start();
      return { reply, recovery: `supervisor exited ${code}, started again` };
    }
    case 'sighup-storm': {
      const before = handoffsSoFar(await service.status());
      for (let i = 0; i < 10; i++) service.signal('SIGHUP');
      // The first SIGHUP starts a handoff, the others are ignored while it runs: wait for it to end.
      await waitUntil(async () => {
        const status = await service.status();
        return handoffsSoFar(status) > before && status?.handoffs.inProgress === false;
      }, 30_000);
      const after = handoffsSoFar(await service.status());
      return { reply: `SIGHUP ×10 → ${after - before} handoff(s)` };
    }
    case 'hang-before-ready':
      return { reply: (await service.request(`handoff ${ctx.hangingBuild}`)).result };
    case 'full-data-disk':
    case 'full-journal-disk': {
      const mount = planned.fault === 'full-data-disk' ? ctx.dataMount : ctx.journalMount;
      if (!mount) return { reply: (await service.request('handoff')).result };
      const filler = fill(mount);
      let reply: string;
      try {
        reply = (await service.request('handoff')).result;
      } finally {
        unlinkSync(filler);
      }
      // The kv example fails its store for good on a failed write ("restart the process"): do what an
      // operator would, once the disk has room again.
      if (planned.fault === 'full-data-disk' && !(await writesWork(service))) {
        const pid = (await service.status())?.daemon?.pid;
        if (pid !== undefined) kill(pid);
        return { reply, recovery: 'restarted the daemon whose store failed on the full disk' };
      }
      return { reply };
    }
  }
}

function handoffsSoFar(status: Awaited<ReturnType<SoakService['status']>>): number {
  const h = status?.handoffs;
  return h ? h.committed + h.rolledBack + h.failed : 0;
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** Fills the filesystem at `mount` to ENOSPC with one file, and returns its path. */
function fill(mount: string): string {
  const path = join(mount, `filler-${process.pid}`);
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(1 << 20);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  // The last chunk may have been partly written; fill the remaining pages one at a time.
  const small = openSync(path, 'a');
  try {
    for (;;) writeSync(small, chunk, 0, 4096);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(small);
  }
  return path;
}

/** Whether the serving daemon's store takes writes (its /healthz says `ok`). */
async function writesWork(service: SoakService): Promise<boolean> {
  return (await healthz(service.options.port)) === 200;
}

/** The status of GET /healthz on 127.0.0.1:`port`, or undefined when nobody answers within 5 s. */
export async function healthz(port: number): Promise<number | undefined> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`, {
    signal: AbortSignal.timeout(5000),
  }).catch(() => undefined);
  await response?.body?.cancel();
  return response?.status;
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
