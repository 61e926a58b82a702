// The `daemon-handoff/protocol` entry: the wire level of docs/protocol.md §3, pure (no I/O), for tools and
// peers that speak the protocol themselves. Re-exports only, each name listed.

export { ERROR_CODES, HandoffError, type HandoffErrorCode, isHandoffError } from '../errors.js';
export { decodeMessage, encodeMessage } from './codec.js';
export { type DecodedFrame, decodeFrame, encodeFrame, FRAME_HEADER_BYTES, frameSize } from './frame.js';
export { handoffIdFromBytes, handoffIdToBytes, isHandoffId, newHandoffId } from './handoff-id.js';
export {
  decodeJournal,
  encodeJournal,
  JOURNAL_PHASES,
  type JournalPhase,
  type StateJournal,
} from './journal.js';
export {
  type Abort,
  type Begin,
  type Commit,
  type Drained,
  type HandoffId,
  type Heartbeat,
  type Hello,
  type HelloAck,
  MAX_FRAME_BYTES,
  MESSAGE_TYPES,
  type Message,
  type MessageOf,
  type MessageType,
  PROTO_MAX,
  PROTO_MIN,
  type PrepareHandoff,
  type Ready,
  type ResumeAfterAbort,
  type SealComplete,
  type SealFailed,
  type SealProgress,
  type SealRequest,
  type Side,
} from './messages.js';
export { negotiate } from './negotiate.js';
