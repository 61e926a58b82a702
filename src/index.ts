// The public API of daemon-handoff: what a daemon author and a supervisor embedder use. Re-exports only, each
// name listed (STYLE rule 2); internal modules never import from here. The wire level is the
// `daemon-handoff/protocol` entry (src/protocol/index.ts); crash injection is `daemon-handoff/testing`.

export {
  type DaemonApp,
  type DaemonContext,
  type PrepareContext,
  type RunDaemonOptions,
  runDaemon,
} from './daemon.js';
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
export { handoffAbandoned } from './drainable.js';
export {
  ERROR_CODES,
  HandoffError,
  type HandoffErrorCode,
  type HandoffErrorDetails,
  isHandoffError,
} from './errors.js';
export { HandoffEvent, type HandoffEventMap, type HandoffEventName, HandoffEvents } from './events.js';
export { Incumbent, type IncumbentOptions, type ServeOutcome } from './incumbent.js';
export { InheritedListeners, type ListenerHandle } from './inherited-listeners.js';
export { DataDirLock, type DataDirLockOptions } from './lock.js';
export {
  createLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  silentLogger,
} from './log.js';
export { closeFd, type ListenUnixOptions, listenTcp, listenUnix, type TcpListener } from './os.js';
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
export type {
  HandoffReport,
  HandoffStatus,
  HandoffStep,
  InstanceInfo,
  PhaseDurations,
} from './supervisor/report.js';
export type { InstanceSpec, SupervisedListener } from './supervisor/spawn.js';
export { type HandoffOutcome, Supervisor } from './supervisor/supervisor.js';
export { DEFAULTS, type TimingDefaults } from './timing.js';
