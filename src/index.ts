// The public API of handoff. Re-exports only; internal modules never import from here (STYLE rule 2).

export {
  ERROR_CODES,
  HandoffError,
  type HandoffErrorCode,
  type HandoffErrorDetails,
  isHandoffError,
} from './errors.js';
export { DataDirLock } from './lock.js';
export { decodeMessage, encodeMessage } from './protocol/codec.js';
export {
  type DecodedFrame,
  decodeFrame,
  encodeFrame,
  FRAME_HEADER_BYTES,
  frameSize,
} from './protocol/frame.js';
export { handoffIdFromBytes, handoffIdToBytes, isHandoffId, newHandoffId } from './protocol/handoff-id.js';
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
} from './protocol/messages.js';
export { negotiate } from './protocol/negotiate.js';
export {
  FramedConnection,
  type FramedConnectionOptions,
  type ReceivedFrame,
  WRITE_TIMEOUT_MS,
} from './wire.js';
