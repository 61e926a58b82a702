// The worker thread of PrepareOptions.worker: lowers its own CPU priority, replays the log's prefix with
// blocking reads (a worker may block), and sends the result back, its arrays and chunks transferred.

import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { DeferredHash } from './log-hash.js';
import type { PrepareWorkerData, WorkerReply } from './prepare-thread.js';
import { replayPrefix } from './prepared-log.js';
import { emptyLogState } from './replay.js';

const { path, maxKeys, nice } = workerData as PrepareWorkerData;
const port = parentPort!;

try {
  // Linux keeps a nice value per thread, and pid 0 means this one. Raising it is always allowed; where it
  // fails (another platform), the replay runs at normal priority, as it would on the main thread.
  setPriority(nice);
} catch {}

try {
  const hash = new DeferredHash();
  const state = emptyLogState(maxKeys, hash);
  const replayed = await replayPrefix(path, state, true);
  if (replayed === undefined) {
    port.postMessage({ kind: 'absent' } satisfies WorkerReply);
  } else {
    const parts = state.index.parts();
    const chunks = parts.chunks.map(ownBuffer);
    const reply: WorkerReply = {
      kind: 'replayed',
      ...replayed,
      nice: getPriority(),
      goodBytes: state.goodBytes,
      revision: state.revision,
      sealedFingerprint: state.sealedFingerprint && Uint8Array.from(state.sealedFingerprint),
      index: { ...parts, chunks },
      hash: hash.parts(),
    };
    const transfer = new Set<ArrayBuffer>([parts.hashes.buffer, parts.refs.buffer]);
    for (const chunk of chunks) transfer.add(chunk.buffer as ArrayBuffer);
    port.postMessage(reply, [...transfer]);
  }
} catch (error) {
  const { name = 'Error', message = String(error) } = error as Partial<Error>;
  port.postMessage({
    kind: 'failed',
    name,
    code: (error as { code?: unknown }).code,
    message,
  } satisfies WorkerReply);
}

/**
 * `chunk` alone in its ArrayBuffer, to be transferred: a short read's buffer is a slice of Node's shared
 * pool (or of a longer buffer), which must not be moved away from under the rest; those few are copied.
 */
function ownBuffer(chunk: Uint8Array): Uint8Array {
  if (chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength) return chunk;
  return Uint8Array.from(chunk);
}
