// The trigger socket: one request line per connection, the Rust reference supervisor's protocol plus a
// streaming form for `handoff upgrade` and a `status` query. Both ends of every rule live here.
//
//   handoff [binary]            → ok: handoff_id=<id> committed=<true|false> abort_reason=<Some("…")|None>
//                                 or err: <message>           (exactly the Rust reference's reply)
//   handoff --stream [binary]   → progress <step> <elapsedMs> … then the ok:/err: line, then report <json>
//   handoff --stream --wait-probation [binary]
//                               → the same, then (once the new build's probation is over) probation <json>
//   status                      → status <json>
//   history                     → history <json>

import { createConnection, type Socket } from 'node:net';
import { HandoffError, ioError } from '../errors.js';

/** Longest accepted request line; a client sending more is cut off. */
const MAX_REQUEST_BYTES = 4096;

export type TriggerRequest =
  | {
      readonly kind: 'handoff';
      readonly binary: string | undefined;
      readonly stream: boolean;
      readonly waitProbation: boolean;
    }
  | { readonly kind: 'status' }
  | { readonly kind: 'history' };

/** Parses a request line; returns the Rust-style error text for anything else. */
export function parseTriggerRequest(line: string): TriggerRequest | { readonly error: string } {
  const trimmed = line.trim();
  if (trimmed === '') return { error: 'empty command' };
  const [word = '', ...rest] = trimmed.split(/\s+/);
  if (word === 'status' && rest.length === 0) return { kind: 'status' };
  if (word === 'history' && rest.length === 0) return { kind: 'history' };
  if (word !== 'handoff') return { error: `unknown command '${word}'` };
  // Our options come first, in any order; whatever follows is the binary (a path may hold spaces).
  const options = new Set<string>();
  while (rest[0] === '--stream' || rest[0] === '--wait-probation') options.add(rest.shift()!);
  const binary = rest.join(' ');
  return {
    kind: 'handoff',
    binary: binary === '' ? undefined : binary,
    stream: options.has('--stream'),
    waitProbation: options.has('--wait-probation'),
  };
}

/** The Rust reference's one-line result. */
export function formatResultLine(
  handoffId: string,
  committed: boolean,
  abortReason: string | undefined,
): string {
  const reason = abortReason === undefined ? 'None' : `Some(${JSON.stringify(abortReason)})`;
  return `ok: handoff_id=${handoffId} committed=${committed} abort_reason=${reason}`;
}

/** Reads one request line from a trigger connection (bounded in size and time). */
export function readRequestLine(socket: Socket, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => finish(new Error(`no request line within ${timeoutMs} ms`)), timeoutMs);
    const finish = (error: Error | undefined, line?: string) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', finish);
      if (error) reject(error);
      else resolve(line ?? '');
    };
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const newline = buffered.indexOf('\n');
      if (newline >= 0) finish(undefined, buffered.slice(0, newline));
      else if (buffered.length > MAX_REQUEST_BYTES) finish(new Error('request line too long'));
    };
    const onEnd = () => finish(undefined, buffered);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', finish);
  });
}

export interface TriggerReply {
  /** The final `ok:`/`err:` line. */
  readonly result: string;
  /** `report <json>` parsed, when streamed. */
  readonly report: unknown;
  /** `status <json>` parsed, for a status request. */
  readonly status: unknown;
  /** `history <json>` parsed, for a history request. */
  readonly history: unknown;
  /** `probation <json>` parsed, for `handoff --wait-probation`. */
  readonly probation: unknown;
}

/**
 * Sends one request line to the trigger socket at `path` and collects the reply; `onProgress` sees each
 * `progress` line as it arrives. Throws `Io` naming the socket when it cannot be reached.
 */
export async function sendTrigger(
  path: string,
  request: string,
  onProgress: (step: string, elapsedMs: number) => void = () => {},
): Promise<TriggerReply> {
  const socket = createConnection(path);
  try {
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  } catch (error) {
    socket.destroy();
    throw ioError(`cannot reach the trigger socket ${path} (is \`handoff run\` running?)`, error, { path });
  }
  socket.end(`${request}\n`);
  let result = '';
  let report: unknown;
  let status: unknown;
  let history: unknown;
  let probation: unknown;
  let pending = '';
  const handleLine = (line: string) => {
    if (line.startsWith('progress ')) {
      // `progress <step> <elapsedMs>`; a step may hold a space ("rolled back").
      const space = line.lastIndexOf(' ');
      onProgress(line.slice('progress '.length, space), Number(line.slice(space + 1)));
    } else if (line.startsWith('report ')) report = JSON.parse(line.slice(7));
    else if (line.startsWith('status ')) status = JSON.parse(line.slice(7));
    else if (line.startsWith('history ')) history = JSON.parse(line.slice(8));
    else if (line.startsWith('probation ')) probation = JSON.parse(line.slice(10));
    else if (line !== '') result = line;
  };
  await new Promise<void>((resolve, reject) => {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      pending += chunk;
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        handleLine(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
      }
    });
    socket.on('error', (error) => reject(ioError(`trigger socket ${path}`, error, { path })));
    socket.on('close', () => {
      handleLine(pending);
      resolve();
    });
  });
  if (result === '' && status === undefined && history === undefined) {
    throw new HandoffError('Io', `the supervisor on ${path} closed the trigger connection without a reply`, {
      path,
    });
  }
  return { result, report, status, history, probation };
}
