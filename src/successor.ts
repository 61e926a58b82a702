// Role detection (docs/protocol.md §2.1) and the successor's typestate (docs/protocol.md §5.3): Successor → handshake →
// HandshookSuccessor → waitForBegin → BegunSuccessor → announceAndBind → Incumbent. Each object allows only
// the calls legal in its state and is spent once it has moved on.

import { Socket } from 'node:net';
import type { ReadinessSnapshot } from './drainable.js';
import { HandoffError, ioError } from './errors.js';
import { bindIncumbent, type Incumbent, type IncumbentOptions } from './incumbent.js';
import { InheritedListeners, type ListenerHandle } from './inherited-listeners.js';
import type { DataDirLock } from './lock.js';
import { buildIdBytes, timingOptions } from './options.js';
import type { HandoffId } from './protocol/messages.js';
import { PROTO_MAX, PROTO_MIN } from './protocol/messages.js';
import { RoleEnv, SUCCESSOR_ROLE } from './role-env.js';
import { FramedConnection, type HeartbeatGuard } from './wire.js';

export type { HeartbeatGuard } from './wire.js';

/** The role, and in both cases the inherited listeners (the successor's typestate shares the same object). */
export type Role =
  | { readonly kind: 'coldStart'; readonly listeners: InheritedListeners }
  | { readonly kind: 'successor'; readonly successor: Successor; readonly listeners: InheritedListeners };

/**
 * Reads the role env once (docs/protocol.md §2.1) and deletes it from `env`, so a re-exec or a child does not inherit
 * it; HANDOFF_ROLE stays on the cold-start path. Throws `NotAListener` when an inherited fd is not a
 * listening socket, `MissingEnv`/`BadEnv` for a successor without a usable HANDOFF_SOCK_FD. Call it once,
 * early, before anything else opens fds.
 */
export function detectRole(env: NodeJS.ProcessEnv = process.env, options: SuccessorOptions = {}): Role {
  const listeners = InheritedListeners.fromEnv(env);
  if (env[RoleEnv.HANDOFF_ROLE] !== SUCCESSOR_ROLE) return { kind: 'coldStart', listeners };
  const raw = env[RoleEnv.HANDOFF_SOCK_FD];
  delete env[RoleEnv.HANDOFF_ROLE];
  delete env[RoleEnv.HANDOFF_SOCK_FD];
  if (raw === undefined) {
    throw new HandoffError(
      'MissingEnv',
      `${RoleEnv.HANDOFF_SOCK_FD} is not set, but ${RoleEnv.HANDOFF_ROLE}=successor`,
      {
        variable: RoleEnv.HANDOFF_SOCK_FD,
      },
    );
  }
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new HandoffError(
      'BadEnv',
      `${RoleEnv.HANDOFF_SOCK_FD} must be an fd number, got ${JSON.stringify(raw)}`,
      {
        variable: RoleEnv.HANDOFF_SOCK_FD,
        value: raw,
      },
    );
  }
  return { kind: 'successor', successor: new Successor(Number(raw), listeners, options), listeners };
}

export interface SuccessorOptions {
  /** Waiting for the supervisor's HelloAck. Default: 5 000 ms. */
  readonly helloReadTimeoutMs?: number;
  /** [beyond] Cap on waiting for Begin (the supervisor's EOF normally ends it first). Default: 600 000 ms. */
  readonly beginWaitTimeoutMs?: number;
  /** Heartbeat cadence of `startHeartbeats`. Default: 2 000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** A frame that has not reached the kernel after this long fails. Default: 10 000 ms. */
  readonly writeTimeoutMs?: number;
}

/** What a successor carries from its handshake on: the channel to the supervisor and the agreed terms. */
interface Channel {
  readonly conn: FramedConnection;
  readonly listeners: InheritedListeners;
  readonly timing: Timing;
  readonly handoffId: HandoffId;
}

interface Timing {
  readonly helloReadTimeoutMs: number;
  readonly beginWaitTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
}

/** Marks a typestate object as moved-on: a second transition is a programming error. */
class Spendable {
  #spent = false;

  protected spend(call: string): void {
    if (this.#spent) throw new HandoffError('Protocol', `${call} was already called on this object`);
    this.#spent = true;
  }
}

/** A successor before its handshake: it owns the control channel and the inherited listeners. */
export class Successor extends Spendable {
  readonly #conn: FramedConnection;
  readonly #listeners: InheritedListeners;
  readonly #timing: Timing;

  /** @internal Obtained from `detectRole()`. */
  constructor(controlFd: number, listeners: InheritedListeners, options: SuccessorOptions = {}) {
    super();
    const { writeTimeoutMs, ...timing } = timingOptions(options, [
      'helloReadTimeoutMs',
      'beginWaitTimeoutMs',
      'heartbeatIntervalMs',
      'writeTimeoutMs',
    ]);
    this.#timing = timing;
    let socket: Socket;
    try {
      socket = new Socket({ fd: controlFd, readable: true, writable: true });
    } catch (error) {
      throw ioError(
        `cannot open the control channel at fd ${controlFd} (${RoleEnv.HANDOFF_SOCK_FD})`,
        error,
        {
          fd: controlFd,
        },
      );
    }
    this.#conn = new FramedConnection(socket, { writeTimeoutMs, peer: `supervisor on fd ${controlFd}` });
    this.#listeners = listeners;
  }

  get listenerNames(): string[] {
    return this.#listeners.names;
  }

  /**
   * Sends Hello (role Successor, our pid) and waits for HelloAck. Throws `Timeout` after
   * helloReadTimeoutMs, `UnexpectedMessage` for anything else, `Io` when the supervisor is gone.
   */
  async handshake(buildId: string | Uint8Array = new Uint8Array(0)): Promise<HandshookSuccessor> {
    this.spend('handshake()');
    const conn = this.#conn;
    try {
      await conn.write({
        type: 'Hello',
        role: 'Successor',
        pid: process.pid,
        buildId: buildIdBytes('buildId', buildId),
        protoMin: PROTO_MIN,
        protoMax: PROTO_MAX,
        capabilities: 0n,
      });
      const { message } = await conn.read(this.#timing.helloReadTimeoutMs, 'HelloAck');
      if (message.type !== 'HelloAck') throw unexpected(message.type, 'HelloAck');
      // The supervisor negotiated from our Hello; its choice must still lie in our own range.
      conn.adoptChosenVersion(message.protoVersionChosen);
      return new HandshookSuccessor({
        conn,
        listeners: this.#listeners,
        timing: this.#timing,
        handoffId: message.handoffId,
      });
    } catch (error) {
      this.#abandon();
      throw error;
    }
  }

  /**
   * Gives up before the handshake (a start-up that failed before its Hello): closes the control channel
   * (the supervisor sees EOF and rolls back) and this process's copies of the listeners. Idempotent.
   */
  abandon(): void {
    this.#abandon();
  }

  #abandon(): void {
    this.#conn.destroy();
    this.#listeners.closeAll();
  }
}

/** A successor past its handshake: the channel to the supervisor and the handoff it agreed to. */
abstract class ShookHands extends Spendable {
  readonly handoffId: HandoffId;
  protected readonly channel: Channel;

  /** @internal */
  constructor(channel: Channel) {
    super();
    this.channel = channel;
    this.handoffId = channel.handoffId;
  }

  /** Names of the listeners not taken yet. */
  get listenerNames(): string[] {
    return this.channel.listeners.names;
  }
}

/** A successor that has shaken hands and waits for the incumbent to seal. */
export class HandshookSuccessor extends ShookHands {
  /**
   * Waits until the supervisor says Begin: the incumbent has sealed and released the lock. Throws
   * `Aborted(reason)` on Abort, `Protocol` for a Begin of another handoff, `Io` when the supervisor is gone
   * (exit then: the incumbent keeps serving), `Timeout` after beginWaitTimeoutMs.
   */
  async waitForBegin(): Promise<BegunSuccessor> {
    this.spend('waitForBegin()');
    const { conn, listeners, timing } = this.channel;
    const giveUpAt = Date.now() + timing.beginWaitTimeoutMs;
    try {
      for (;;) {
        const { message } = await conn.read(Math.max(1, giveUpAt - Date.now()), 'Begin');
        switch (message.type) {
          case 'Begin':
            if (message.handoffId !== this.handoffId) {
              throw new HandoffError(
                'Protocol',
                `Begin for handoff ${message.handoffId} does not match the handshake's ${this.handoffId}`,
              );
            }
            return new BegunSuccessor(this.channel);
          case 'Abort':
            throw new HandoffError(
              'Aborted',
              `the supervisor aborted handoff ${this.handoffId}: ${message.reason}`,
              {
                reason: message.reason,
              },
            );
          case 'Heartbeat':
            continue;
          default:
            throw unexpected(message.type, 'Begin');
        }
      }
    } catch (error) {
      conn.destroy();
      listeners.closeAll();
      throw error;
    }
  }
}

/** A successor told to Begin: it may now take the listeners and the lock, open state, then announce. */
export class BegunSuccessor extends ShookHands {
  #heartbeats: HeartbeatGuard | undefined;

  /** The inherited listener `name`, for `server.listen(handle)`; undefined if unknown or already taken. */
  takeListener(name: string): ListenerHandle | undefined {
    return this.channel.listeners.take(name);
  }

  /**
   * Sends Heartbeat every heartbeatIntervalMs until stopped, so that opening state for longer than the
   * supervisor's liveness timeout (10 s) does not get the handoff aborted. Announcing stops it.
   */
  startHeartbeats(): HeartbeatGuard {
    this.#stopHeartbeats();
    // A beat that fails means the supervisor is gone; announcing will report it.
    this.#heartbeats = this.channel.conn.startHeartbeats(this.channel.timing.heartbeatIntervalMs);
    return { stop: () => this.#stopHeartbeats() };
  }

  /**
   * Sends Ready, then binds the control path and returns the new Incumbent — the safe order: the old
   * incumbent owns the control path until it has processed Commit, and the abort path needs it there
   * (docs/protocol.md §5.3). Throws `Io` if Ready cannot be sent (then exit: the supervisor rolls back). Take the lock
   * (`DataDirLock.acquire`) and open state before calling this.
   */
  async announceAndBind(
    readiness: ReadinessSnapshot,
    controlPath: string,
    lock: DataDirLock,
    options: IncumbentOptions = {},
  ): Promise<Incumbent> {
    await this.announceReady(readiness);
    // Only now, after Ready has reached the kernel, may the path be taken over (see announceReady).
    return bindIncumbent(controlPath, lock, options);
  }

  /**
   * Sends Ready and nothing else. Lower level than `announceAndBind`: do not bind the control path before
   * this resolves, since the incumbent owns it until Commit and a rollback needs it to reach the incumbent.
   */
  async announceReady(readiness: ReadinessSnapshot): Promise<void> {
    this.spend('announceReady()');
    this.#stopHeartbeats();
    try {
      await this.channel.conn.write({
        type: 'Ready',
        handoffId: this.handoffId,
        listeningOn: [...readiness.listeningOn],
        healthzOk: readiness.healthzOk,
        advertisedRevisionPerShard: [...readiness.advertisedRevisionPerShard],
      });
    } finally {
      // The supervisor sends nothing after Ready that we must act on; its EOF must not keep us alive.
      this.channel.conn.endAfterLastFrame();
    }
  }

  /**
   * Gives up this handoff: stops heartbeats, closes the control channel (the supervisor sees EOF and rolls
   * back) and this process's copies of the listeners. For a start-up that failed after Begin. Idempotent.
   */
  abandon(): void {
    this.#stopHeartbeats();
    this.channel.conn.destroy();
    this.channel.listeners.closeAll();
  }

  #stopHeartbeats(): void {
    this.#heartbeats?.stop();
    this.#heartbeats = undefined;
  }
}

function unexpected(name: string, expected: string): HandoffError {
  return new HandoffError(
    'UnexpectedMessage',
    `unexpected message from the supervisor: ${name} (expected ${expected})`,
    {
      what: name,
    },
  );
}
