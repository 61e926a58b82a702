// An in-process incumbent for protocol tests (docs/protocol.md §5.2): bound on a fresh control socket with
// shortened timing and a recording Drainable, serving until the test ends; and a look at the flock.

import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { isHandoffError } from '../../src/errors.js';
import { Incumbent, type IncumbentOptions, type ServeOutcome } from '../../src/incumbent.js';
import { DataDirLock } from '../../src/lock.js';
import { silentLogger } from '../../src/log.js';
import { RecordingDrainable, type RecordingDrainableOptions } from './recording-drainable.js';
import { tempDir } from './temp-dir.js';

/** Timing short enough that every case runs in well under a second. */
export const FAST: IncumbentOptions = {
  helloReadTimeoutMs: 300,
  livenessTimeoutMs: 1000,
  heartbeatIntervalMs: 50,
  wireSlackMs: 100,
  resumeFlockTimeoutMs: 300,
  resumeFlockPollMs: 10,
  logger: silentLogger,
};

export interface Harness {
  controlPath: string;
  dataDir: string;
  incumbent: Incumbent;
  drainable: RecordingDrainable;
  served: Promise<ServeOutcome>;
  /** Settles with the serve() rejection, or undefined if it resolved. */
  serveError: Promise<unknown>;
}

/** Starts an incumbent serving a RecordingDrainable; its control socket lives in `controlDir`. */
export async function startIncumbent(
  t: TestContext,
  drainableOptions: RecordingDrainableOptions = {},
  options: IncumbentOptions = {},
  controlDir: string = tempDir(t),
): Promise<Harness> {
  const dataDir = join(tempDir(t), 'data');
  const controlPath = join(controlDir, 'control.sock');
  const lock = await DataDirLock.acquire(dataDir);
  t.after(() => lock.release());
  const incumbent = await Incumbent.bindColdStart(controlPath, lock, {
    buildId: 'incumbent-test',
    ...FAST,
    ...options,
  });
  t.after(() => incumbent.close());
  const drainable = new RecordingDrainable(drainableOptions);
  const served = incumbent.serve(drainable);
  const serveError = served.then(
    () => undefined,
    (error: unknown) => error,
  );
  return { controlPath, dataDir, incumbent, drainable, served, serveError };
}

/** True when another open file description can take the data-dir flock right now (it is released again). */
export async function lockIsFree(dataDir: string): Promise<boolean> {
  try {
    (await DataDirLock.acquire(dataDir)).release();
    return true;
  } catch (error) {
    if (isHandoffError(error, 'LockHeld')) return false;
    throw error;
  }
}
