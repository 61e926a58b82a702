// The one error type of the library (docs/protocol.md §10). Every failure a caller can see is a HandoffError with a
// stable string `code`, structured `details`, and a message that names the file, fd, socket or value at fault.
// This file is pure (no I/O): src/protocol/ may import it.

/**
 * Every error code (docs/protocol.md §10) plus the [beyond] ones: `InvalidOption` (misuse caught at
 * construction), `HookFailed` (a daemon hook threw), `UnsafePath` (a directory other users could tamper with).
 */
export const ERROR_CODES = [
  'Io',
  'Codec',
  'Protocol',
  'FrameTooLarge',
  'FrameMalformed',
  'PidMismatch',
  'VersionMismatch',
  'UnexpectedMessage',
  'Timeout',
  'LockHeld',
  'StaleLockBreakRefused',
  'HandoffInProgress',
  'Aborted',
  'MissingEnv',
  'BadEnv',
  'SocketPathTooLong',
  'PeerRejected',
  'NotAListener',
  'InvalidOption',
  'HookFailed',
  'UnsafePath',
] as const;

export type HandoffErrorCode = (typeof ERROR_CODES)[number];

/** Structured facts about a failure. Only the fields that apply to a given code are set. */
export interface HandoffErrorDetails {
  /** LockHeld, StaleLockBreakRefused: pid read from the pidfile (0 if unreadable). */
  readonly holderPid?: number;
  /** PidMismatch: the pid the supervisor spawned, and the one the successor announced. */
  readonly expected?: number;
  readonly announced?: number;
  /** VersionMismatch: both supported ranges. */
  readonly ourMin?: number;
  readonly ourMax?: number;
  readonly theirMin?: number;
  readonly theirMax?: number;
  /** UnexpectedMessage: the message name; Timeout: what was awaited. */
  readonly what?: string;
  /** Timeout: the bound that expired. */
  readonly timeoutMs?: number;
  /** FrameTooLarge, FrameMalformed: the frame_len field. */
  readonly frameLen?: number;
  /** MissingEnv, BadEnv: the variable and the value found. */
  readonly variable?: string;
  readonly value?: string;
  /** Aborted: the reason the supervisor gave. */
  readonly reason?: string;
  /** Aborted: set when a drain's handoff was abandoned (the supervisor is gone), not timed out. */
  readonly abandoned?: boolean;
  /** PeerRejected: the peer's uid. */
  readonly uid?: number;
  /** Io, NotAListener: the fd at fault, and for NotAListener its LISTEN_FDNAMES name. */
  readonly fd?: number;
  readonly name?: string;
  /** Io, SocketPathTooLong, LockHeld, UnsafePath: the path at fault. */
  readonly path?: string;
  /** Io: the errno name (`ENOENT`, `EPIPE`, …) when one is known. */
  readonly errno?: string;
  /** Io: true when the error is a clean or mid-frame end of stream from the peer. */
  readonly eof?: boolean;
  /** InvalidOption: the option at fault. */
  readonly option?: string;
}

const BRAND = Symbol.for('handoff.error');

export class HandoffError extends Error {
  readonly code: HandoffErrorCode;
  readonly details: HandoffErrorDetails;

  constructor(
    code: HandoffErrorCode,
    message: string,
    details: HandoffErrorDetails = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'HandoffError';
    this.code = code;
    this.details = Object.freeze({ ...details });
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * True for a HandoffError, also one thrown by another copy of this package (the brand survives duplicate
 * installs where `instanceof` does not). With `code`, also checks the code.
 */
export function isHandoffError(value: unknown, code?: HandoffErrorCode): value is HandoffError {
  if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[BRAND] !== true) {
    return false;
  }
  return code === undefined || (value as HandoffError).code === code;
}

/** Wraps an unknown thrown value (usually a Node system error) as an `Io` HandoffError naming `context`. */
export function ioError(context: string, cause: unknown, details: HandoffErrorDetails = {}): HandoffError {
  if (isHandoffError(cause)) return cause;
  const errno = systemErrno(cause);
  const text = cause instanceof Error ? cause.message : String(cause);
  return new HandoffError('Io', `${context}: ${text}`, errno ? { errno, ...details } : details, { cause });
}

function systemErrno(cause: unknown): string | undefined {
  if (typeof cause !== 'object' || cause === null) return undefined;
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}
