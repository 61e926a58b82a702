// The public API of handoff. Re-exports only; internal modules never import from here (STYLE rule 2).

export { CRASH_EXIT_CODE, CrashEnv, CrashPoint, type CrashPointName, crashHere } from './crash.js';
export { type DaemonApp, type DaemonContext, type RunDaemonOptions, runDaemon } from './daemon.js';
export { ServerDrainer } from './drain/drainer.js';
export { HTTP_DRAIN_DEFAULTS, HttpDrain, type HttpDrainOptions, type HttpServer } from './drain/http.js';
export { Http2Drain, type Http2DrainOptions } from './drain/http2.js';
export { HttpsDrain } from './drain/https.js';
export { DRAIN_DEFAULTS, type ListenerOptions, type QuietOptions } from './drain/options.js';
export { TcpDrain, type TcpDrainOptions } from './drain/tcp.js';
export {
  WebSocketDrain,
  type WebSocketDrainOptions,
  type WebSocketLike,
  type WebSocketServerLike,
} from './drain/websocket.js';
export type {
  Drainable,
  DrainContext,
  DrainReport,
  ReadinessSnapshot,
  SealReport,
  StateSnapshot,
} from './drainable.js';
export {
  ERROR_CODES,
  HandoffError,
  type HandoffErrorCode,
  type HandoffErrorDetails,
  isHandoffError,
} from './errors.js';
export {
  HandoffEvent,
  type HandoffEventMap,
  type HandoffEventName,
  HandoffEvents,
  HandoffMetric,
} from './events.js';
export { Incumbent, type IncumbentOptions, type ServeOutcome } from './incumbent.js';
export { InheritedListeners, type ListenerHandle } from './inherited-listeners.js';
export { DataDirLock } from './lock.js';
export { createLogger, type Logger, silentLogger } from './log.js';
export { decodeMessage, encodeMessage } from './protocol/codec.js';
export {
  type DecodedFrame,
  decodeFrame,
  encodeFrame,
  FRAME_HEADER_BYTES,
  frameSize,
} from './protocol/frame.js';
export { handoffIdFromBytes, handoffIdToBytes, isHandoffId, newHandoffId } from './protocol/handoff-id.js';
export type { JournalPhase, StateJournal } from './protocol/journal.js';
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
export { LISTEN_FDS_START, RoleEnv } from './role-env.js';
export {
  BegunSuccessor,
  detectRole,
  HandshookSuccessor,
  type HeartbeatGuard,
  type Role,
  Successor,
  type SuccessorOptions,
} from './successor.js';
export type { HandoffSpec, SupervisorOptions } from './supervisor/options.js';
export type { HandoffReport, HandoffStep, InstanceInfo, PhaseDurations } from './supervisor/report.js';
export type { InstanceSpec, SupervisedListener } from './supervisor/spawn.js';
export { type HandoffOutcome, Supervisor } from './supervisor/supervisor.js';
export {
  DEFAULT_DEADLINE_MS,
  DEFAULT_DRAIN_GRACE_MS,
  DEFAULTS,
  HEARTBEAT_INTERVAL_MS,
  HELLO_READ_TIMEOUT_MS,
  LIVENESS_TIMEOUT_MS,
  MIN_READ_TIMEOUT_MS,
  RESUME_FLOCK_TIMEOUT_MS,
  WIRE_SLACK_MS,
  WRITE_TIMEOUT_MS,
} from './timing.js';
export {
  FramedConnection,
  type FramedConnectionOptions,
  type ReceivedFrame,
} from './wire.js';
