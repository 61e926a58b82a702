// The 14 protocol messages of docs/protocol.md §3.4 and the wire constants of §3.2/§3.5.
// Field names are the protocol's (docs/protocol.md §3.4); u64 fields are bigint so 2^64−1 round-trips exactly.

/** Lowest protocol version this implementation speaks. */
export const PROTO_MIN = 1;
/** Highest protocol version this implementation speaks; written in the header of every Hello frame. */
export const PROTO_MAX = 1;
/** Cap on a frame's `frame_len` field (version + payload), docs/protocol.md §3.2. */
export const MAX_FRAME_BYTES = 1 << 20;

/** Who sends a Hello. Wire values: Incumbent = 0, Successor = 1. */
export type Side = 'Incumbent' | 'Successor';

/** A handoff id: a v4 UUID, lowercase and hyphenated (`00112233-4455-6677-8899-aabbccddeeff`). */
export type HandoffId = string;

export interface Hello {
  readonly type: 'Hello';
  readonly role: Side;
  readonly pid: number;
  /** Free-form, only logged. */
  readonly buildId: Uint8Array;
  readonly protoMin: number;
  readonly protoMax: number;
  /** Reserved: send 0n, ignore on receipt. */
  readonly capabilities: bigint;
}

export interface HelloAck {
  readonly type: 'HelloAck';
  readonly protoVersionChosen: number;
  readonly handoffId: HandoffId;
}

export interface PrepareHandoff {
  readonly type: 'PrepareHandoff';
  readonly handoffId: HandoffId;
  readonly successorPid: number;
  /** Time left on the overall handoff budget when sent (≥ 100). */
  readonly deadlineMs: bigint;
  /** The drain budget. */
  readonly drainGraceMs: bigint;
}

export interface Drained {
  readonly type: 'Drained';
  readonly openConnsRemaining: number;
  readonly acceptClosed: boolean;
}

export interface SealRequest {
  readonly type: 'SealRequest';
  readonly handoffId: HandoffId;
}

export interface SealProgress {
  readonly type: 'SealProgress';
  readonly shardsSealed: number;
  readonly shardsTotal: number;
  readonly lastRevision: bigint;
}

export interface SealComplete {
  readonly type: 'SealComplete';
  readonly handoffId: HandoffId;
  readonly lastRevisionPerShard: readonly bigint[];
  /** Exactly 32 bytes. */
  readonly dataDirFingerprint: Uint8Array;
}

export interface SealFailed {
  readonly type: 'SealFailed';
  readonly handoffId: HandoffId;
  readonly error: string;
  readonly partialState: string;
}

export interface Begin {
  readonly type: 'Begin';
  readonly handoffId: HandoffId;
}

export interface Ready {
  readonly type: 'Ready';
  readonly handoffId: HandoffId;
  readonly listeningOn: readonly string[];
  readonly healthzOk: boolean;
  readonly advertisedRevisionPerShard: readonly bigint[];
}

export interface Commit {
  readonly type: 'Commit';
  readonly handoffId: HandoffId;
}

export interface Abort {
  readonly type: 'Abort';
  readonly handoffId: HandoffId;
  readonly reason: string;
}

export interface ResumeAfterAbort {
  readonly type: 'ResumeAfterAbort';
  readonly handoffId: HandoffId;
}

export interface Heartbeat {
  readonly type: 'Heartbeat';
  /** Sender's Unix epoch milliseconds. */
  readonly tsMs: bigint;
}

export type Message =
  | Hello
  | HelloAck
  | PrepareHandoff
  | Drained
  | SealRequest
  | SealProgress
  | SealComplete
  | SealFailed
  | Begin
  | Ready
  | Commit
  | Abort
  | ResumeAfterAbort
  | Heartbeat;

export type MessageType = Message['type'];

/** The message of a given type name. */
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

/** Variant names in wire order: a message's index here is its postcard variant index. */
export const MESSAGE_TYPES = [
  'Hello',
  'HelloAck',
  'PrepareHandoff',
  'Drained',
  'SealRequest',
  'SealProgress',
  'SealComplete',
  'SealFailed',
  'Begin',
  'Ready',
  'Commit',
  'Abort',
  'ResumeAfterAbort',
  'Heartbeat',
] as const satisfies readonly MessageType[];

/** The messages that carry a handoff id. */
export function handoffIdOf(message: Message): HandoffId | undefined {
  return 'handoffId' in message ? message.handoffId : undefined;
}
