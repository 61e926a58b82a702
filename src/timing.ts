// The timing constants of docs/protocol.md §4 and the other defaults of every option (queue sizes), each with
// the reason for its value, and the one frozen DEFAULTS object that every options type resolves against.
// Tests shorten these through options, never by patching.

/** The longest the supervisor waits for any frame from a peer; every frame, heartbeats too, resets it. */
export const LIVENESS_TIMEOUT_MS = 10_000;
/** Heartbeat cadence while a hook runs: 5 beats per liveness window, so one delayed beat is harmless. */
export const HEARTBEAT_INTERVAL_MS = 2_000;
/** The supervisor waiting for a peer's Hello, the incumbent and the successor waiting for HelloAck. */
export const HELLO_READ_TIMEOUT_MS = 5_000;
/** Added to each phase budget on the reading side, so a reply already in flight is still taken. */
export const WIRE_SLACK_MS = 1_000;
/** Floor of every read timeout and of PrepareHandoff.deadlineMs. */
export const MIN_READ_TIMEOUT_MS = 100;
/** The incumbent re-taking the flock after a session error in the sealed state, polled every 25 ms. */
export const RESUME_FLOCK_TIMEOUT_MS = 2_000;
export const RESUME_FLOCK_POLL_MS = 25;
/**
 * [beyond] The supervisor retrying a refused control socket within HELLO_READ_TIMEOUT: a takeover of the
 * path (the successor's bind after Ready) takes milliseconds, so poll often; 200 tries at most.
 */
export const CONTROL_CONNECT_RETRY_MS = 25;
/** [beyond] A frame that has not reached the kernel after this long destroys the socket. */
export const WRITE_TIMEOUT_MS = 10_000;
/** [beyond] The successor's cap on waiting for Begin after its handshake (the supervisor normally ends it). */
export const BEGIN_WAIT_TIMEOUT_MS = 10 * 60_000;
/** The supervisor's probe of a crashed run's incumbent at start-up (docs/protocol.md §5.1 resumeFromJournal). */
export const JOURNAL_PROBE_READ_TIMEOUT_MS = 2_000;
/**
 * Overall budget of one handoff (PrepareHandoff → Ready; [beyond] the crate counts from the handoff's start,
 * which would let a long start-up eat the old build's budget) and the drain budget. The Rust library defaults to
 * 300 s / 60 s and its reference binary to 60 s / 25 s; we use the binary's values (docs/protocol.md §4).
 */
export const DEFAULT_DEADLINE_MS = 60_000;
export const DEFAULT_DRAIN_GRACE_MS = 25_000;
/**
 * [beyond] The supervisor waiting for a new build's Hello after spawning it (the Rust crate: 5 s). A build may
 * load its data read-only before its Hello while the old one still serves, so this is generous: only the
 * start-up is at stake, never availability.
 */
export const DEFAULT_START_TIMEOUT_MS = 60_000;
/**
 * [beyond] The supervisor waiting for Ready after Begin, capped by the deadline: the one phase in which
 * nobody accepts, so a hung build costs at most this much unavailability, not the whole deadline.
 */
export const DEFAULT_READY_TIMEOUT_MS = 10_000;
/**
 * Listen backlog for supervisor-held sockets. Connections that arrive while no instance accepts (the gap
 * between the incumbent closing its accept loop and the successor opening its own) wait in this queue, so
 * arrival rate × accept gap must fit (docs/operations.md, "Draining HTTP"). The kernel silently caps it at
 * net.core.somaxconn (4096 on this machine), so asking for more costs nothing.
 */
export const DEFAULT_BACKLOG = 4096;
/**
 * How long a drained connection with nothing in flight must stay silent before it is closed: whatever
 * arrives in that window is served instead of racing the close (0 resets measured, docs/operations.md).
 */
export const DEFAULT_DRAIN_QUIET_MS = 50;
/**
 * [beyond] Control sessions an incumbent serves at once (one of them in a handoff; the rest status probes
 * or supervisors waiting their turn). More are closed at once, so idle connections cannot exhaust fds.
 */
export const MAX_CONTROL_SESSIONS = 16;
/** The largest delay a Node timer can express (2^31 − 1 ms); a larger one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Every timing default in one place; options interfaces document theirs by pointing here. */
export const DEFAULTS = Object.freeze({
  livenessTimeoutMs: LIVENESS_TIMEOUT_MS,
  heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
  helloReadTimeoutMs: HELLO_READ_TIMEOUT_MS,
  wireSlackMs: WIRE_SLACK_MS,
  minReadTimeoutMs: MIN_READ_TIMEOUT_MS,
  resumeFlockTimeoutMs: RESUME_FLOCK_TIMEOUT_MS,
  resumeFlockPollMs: RESUME_FLOCK_POLL_MS,
  writeTimeoutMs: WRITE_TIMEOUT_MS,
  beginWaitTimeoutMs: BEGIN_WAIT_TIMEOUT_MS,
  journalProbeReadTimeoutMs: JOURNAL_PROBE_READ_TIMEOUT_MS,
  deadlineMs: DEFAULT_DEADLINE_MS,
  drainGraceMs: DEFAULT_DRAIN_GRACE_MS,
  startTimeoutMs: DEFAULT_START_TIMEOUT_MS,
  readyTimeoutMs: DEFAULT_READY_TIMEOUT_MS,
  drainQuietMs: DEFAULT_DRAIN_QUIET_MS,
  backlog: DEFAULT_BACKLOG,
  maxQueuedConnections: MAX_CONTROL_SESSIONS,
});

export type TimingDefaults = typeof DEFAULTS;
