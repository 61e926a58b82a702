// Prepare's replay on a worker thread (PrepareOptions.worker): the message the worker answers with, and
// the launcher that turns it back into a result or the error the replay threw.

import { Worker } from 'node:worker_threads';
import { HandoffError } from '../../src/errors.js';
import type { KeyIndexParts } from './key-index.js';
import type { DeferredHashParts } from './log-hash.js';
import { StoreError, type StoreErrorCode } from './store-error.js';

export interface PrepareWorkerData {
  readonly path: string;
  readonly maxKeys: number | undefined;
  readonly nice: number;
}

/** A prefix replayed on the worker: the LogState's fields, its index and its hash as plain data. */
export interface WorkerReplay {
  readonly identity: string;
  readonly passes: number;
  /** The worker thread's nice value while it replayed (what it asked for, unless that failed). */
  readonly nice: number;
  readonly goodBytes: number;
  readonly revision: number;
  readonly sealedFingerprint: Uint8Array | undefined;
  readonly index: KeyIndexParts;
  readonly hash: DeferredHashParts;
}

export type WorkerReply =
  | ({ readonly kind: 'replayed' } & WorkerReplay)
  | { readonly kind: 'absent' }
  | { readonly kind: 'failed'; readonly name: string; readonly code: unknown; readonly message: string };

/** Replays on a new worker thread; undefined when there is no log. Throws what the replay threw. */
export function replayOnWorker(data: PrepareWorkerData): Promise<WorkerReplay | undefined> {
  return new Promise((resolve, reject) => {
    const worker = startWorker(data);
    let replied = false;
    worker.once('message', (reply: WorkerReply) => {
      replied = true;
      if (reply.kind === 'replayed') resolve(reply);
      else if (reply.kind === 'absent') resolve(undefined);
      else reject(rebuildError(reply));
    });
    worker.once('error', (error) => {
      if (replied) return;
      replied = true;
      reject(new HandoffError('Io', `the prepare worker for ${data.path} failed: ${error.message}`));
    });
    worker.once('exit', (code) => {
      if (replied) return;
      reject(
        new HandoffError('Io', `the prepare worker for ${data.path} exited (code ${code}) without a reply`),
      );
    });
  });
}

function startWorker(workerData: PrepareWorkerData): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSource ? './prepare-worker.ts' : './prepare-worker.js', import.meta.url);
  if (!fromSource) return new Worker(entry, { workerData });
  // Run from the TypeScript sources (the tests): `node --import tsx` does not reach a worker's loader,
  // so the worker registers tsx before it loads its entry.
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const boot = `import(${tsx}).then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

const STORE_ERROR_CODES: readonly StoreErrorCode[] = [
  'WritesRefused',
  'TooLarge',
  'BadKey',
  'Corrupt',
  'TooManyKeys',
];

/** The error the replay threw, as a StoreError again where it was one (callers match on its code). */
function rebuildError(reply: Extract<WorkerReply, { kind: 'failed' }>): Error {
  const { name, code, message } = reply;
  if (name === 'StoreError' && STORE_ERROR_CODES.includes(code as StoreErrorCode)) {
    return new StoreError(code as StoreErrorCode, message);
  }
  return new HandoffError('Io', message);
}
