// The supervisor's crash journal (docs/protocol.md §5.1) as postcard bytes:
// { handoffId, phase (variant index), incumbentPid: u32, successorPid: Option<u32>, startedAtUnixMs: u64 }.

import { handoffIdFromBytes, handoffIdToBytes } from './handoff-id.js';
import type { HandoffId } from './messages.js';
import {
  ByteReader,
  ByteWriter,
  checkUnsigned,
  codecError,
  U32,
  U64_MAX,
  U64_MAX_VARINT_BYTES,
} from './postcard.js';

/** The last acknowledged step of an interrupted handoff, in wire order (index = postcard variant). */
export const JOURNAL_PHASES = [
  'Negotiating',
  'Draining',
  'Sealing',
  'AwaitingReady',
  'Committed',
  'ResumingAfterAbort',
] as const;

export type JournalPhase = (typeof JOURNAL_PHASES)[number];

export interface StateJournal {
  readonly handoffId: HandoffId;
  readonly phase: JournalPhase;
  /** The incumbent's pid ([beyond]: 0.1.2 wrote the supervisor's own pid here). */
  readonly incumbentPid: number;
  readonly successorPid: number | undefined;
  readonly startedAtUnixMs: bigint;
}

const UUID_BYTES = 16;

export function encodeJournal(journal: StateJournal): Uint8Array {
  const w = new ByteWriter();
  w.varint(BigInt(UUID_BYTES));
  w.raw(handoffIdToBytes(journal.handoffId));
  const phase = JOURNAL_PHASES.indexOf(journal.phase);
  if (phase < 0) throw codecError(`unknown journal phase ${String(journal.phase)}`);
  w.varint(BigInt(phase));
  w.varint(checkUnsigned('incumbentPid', journal.incumbentPid, U32.max));
  if (journal.successorPid === undefined) {
    w.byte(0);
  } else {
    w.byte(1);
    w.varint(checkUnsigned('successorPid', journal.successorPid, U32.max));
  }
  w.varint(checkUnsigned('startedAtUnixMs', journal.startedAtUnixMs, U64_MAX));
  return w.result();
}

/** Decodes a journal; throws `Codec` for anything malformed, including trailing bytes. */
export function decodeJournal(bytes: Uint8Array): StateJournal {
  const r = new ByteReader(bytes);
  const idLength = r.length('journal handoffId', 1);
  if (idLength !== UUID_BYTES)
    throw codecError(`journal handoffId: a UUID is ${UUID_BYTES} bytes, got ${idLength}`);
  const handoffId = handoffIdFromBytes(r.take(UUID_BYTES, 'journal handoffId'));
  const phaseIndex = r.varint(U32.bits, U32.maxVarintBytes, 'journal phase');
  const phase = JOURNAL_PHASES[Number(phaseIndex)];
  if (phaseIndex >= BigInt(JOURNAL_PHASES.length) || phase === undefined) {
    throw codecError(`unknown journal phase ${phaseIndex}`);
  }
  const incumbentPid = Number(r.varint(U32.bits, U32.maxVarintBytes, 'journal incumbentPid'));
  const tag = r.byte('journal successorPid');
  if (tag > 1) throw codecError(`journal successorPid: Option tag must be 0 or 1, got ${tag}`);
  const successorPid =
    tag === 1 ? Number(r.varint(U32.bits, U32.maxVarintBytes, 'journal successorPid')) : undefined;
  const startedAtUnixMs = r.varint(64, U64_MAX_VARINT_BYTES, 'journal startedAtUnixMs');
  if (r.remaining !== 0) throw codecError(`${r.remaining} trailing bytes after the journal`);
  return { handoffId, phase, incumbentPid, successorPid, startedAtUnixMs };
}
