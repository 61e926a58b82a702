// A framed connection over a net.Socket (docs/protocol.md §3.2, §4 [beyond]): reads one frame at a time with a timeout,
// writes whole frames with a write timeout, and turns every way a socket can end into one typed error.
// One exit path: the first error is kept, #destroy is idempotent, and every pending operation settles once.
// It also owns what belongs to one session on it: the negotiated protocol version every frame is written
// with, the Heartbeat frames, and the signal that tells the session's work the connection is gone.

import type { Socket } from 'node:net';
import { HandoffError, ioError } from './errors.js';
import { decodeFrame, encodeFrame, frameSize } from './protocol/frame.js';
import { type Message, PROTO_MAX, PROTO_MIN } from './protocol/messages.js';
import { negotiate } from './protocol/negotiate.js';
import { WRITE_TIMEOUT_MS } from './timing.js';

/** Frames decoded but not yet read; past this the socket is paused so a flooding peer cannot grow memory. */
const MAX_QUEUED_FRAMES = 16;

export interface FramedConnectionOptions {
  /** How long one frame may take to reach the kernel before the socket is destroyed. Default: 10 000 ms. */
  readonly writeTimeoutMs?: number;
  /** Names the peer in error messages, e.g. `supervisor on /run/kv.sock`. Default: `peer`. */
  readonly peer?: string;
  /** The peer's pid as the kernel reported it (SO_PEERCRED), when the caller asked. */
  readonly peerPid?: number;
}

/** Stops the heartbeats started by `startHeartbeats`. Idempotent. */
export interface HeartbeatGuard {
  stop(): void;
}

export interface ReceivedFrame {
  readonly version: number;
  readonly message: Message;
}

interface PendingRead {
  resolve(frame: ReceivedFrame): void;
  reject(error: HandoffError): void;
  timer: NodeJS.Timeout;
}

export class FramedConnection {
  readonly peer: string;
  readonly peerPid: number | undefined;
  /** Aborted once the connection can no longer be used (peer closed, error, or destroyed here). */
  readonly closeSignal: AbortSignal;
  readonly #socket: Socket;
  readonly #writeTimeoutMs: number;
  readonly #closed = new AbortController();
  /** Every frame is written with this version: PROTO_MAX until the handshake settles it. */
  #version = PROTO_MAX;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #frames: ReceivedFrame[] = [];
  #pendingRead: PendingRead | undefined;
  /** Set once: why this connection can no longer be read from or written to. */
  #terminal: HandoffError | undefined;

  constructor(socket: Socket, options: FramedConnectionOptions = {}) {
    this.#socket = socket;
    this.peer = options.peer ?? 'peer';
    this.peerPid = options.peerPid;
    this.closeSignal = this.#closed.signal;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? WRITE_TIMEOUT_MS;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  /** True once the connection has failed or been destroyed; queued frames can still be read. */
  get closed(): boolean {
    return this.#terminal !== undefined;
  }

  /** True when the connection ended because the peer closed it (EOF), not through a local destroy or error. */
  get closedByPeer(): boolean {
    return this.#terminal?.details.eof === true;
  }

  /** The protocol version frames are written with (docs/protocol.md §3.5). */
  get version(): number {
    return this.#version;
  }

  /**
   * The supervisor's side of the handshake: the highest version both our range and the peer's Hello range
   * hold becomes this connection's version, and is returned for the HelloAck. Throws `VersionMismatch`.
   */
  negotiateVersion(peerMin: number, peerMax: number): number {
    this.#version = negotiate(PROTO_MIN, PROTO_MAX, peerMin, peerMax);
    return this.#version;
  }

  /**
   * The instance's side: adopts the version the supervisor chose in its HelloAck, after checking that it
   * lies in our own range (a supervisor must not make us speak a version we do not know). Throws
   * `VersionMismatch`.
   */
  adoptChosenVersion(chosen: number): void {
    this.#version = negotiate(PROTO_MIN, PROTO_MAX, chosen, chosen);
  }

  /** Sends one Heartbeat (liveness only; every peer skips or echoes it). */
  heartbeat(): Promise<void> {
    return this.write({ type: 'Heartbeat', tsMs: BigInt(Date.now()) });
  }

  /**
   * Sends a Heartbeat every `intervalMs` until stopped, so a peer that bounds its waits keeps hearing from
   * us while we work or read the other side. A failed beat is dropped: a dead peer shows up on this
   * connection's next read or write.
   */
  startHeartbeats(intervalMs: number): HeartbeatGuard {
    const timer = setInterval(() => {
      this.heartbeat().catch(() => {});
    }, intervalMs);
    return { stop: () => clearInterval(timer) };
  }

  /** Runs `work` with heartbeats going out every `intervalMs`; they stop before `work`'s result is returned. */
  async withHeartbeats<T>(intervalMs: number, work: () => Promise<T>): Promise<T> {
    const heartbeats = this.startHeartbeats(intervalMs);
    try {
      return await work();
    } finally {
      heartbeats.stop();
    }
  }

  /**
   * Resolves with the next frame. Rejects with `Timeout(what)` after `timeoutMs` (the connection stays
   * usable), with `Io` (details.eof set) when the peer closed, or with the frame/codec error that broke
   * the stream. Frames that arrived before an EOF are still returned first. One read at a time.
   */
  read(timeoutMs: number, what: string): Promise<ReceivedFrame> {
    if (this.#pendingRead) {
      return Promise.reject(
        new HandoffError('Protocol', `concurrent reads on the connection to ${this.peer}`),
      );
    }
    const queued = this.#frames.shift();
    if (queued) {
      this.#resumeIfDrained();
      return Promise.resolve(queued);
    }
    if (this.#terminal) return Promise.reject(this.#terminal);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pendingRead = undefined;
        reject(
          new HandoffError('Timeout', `no ${what} from ${this.peer} within ${timeoutMs} ms`, {
            what,
            timeoutMs,
          }),
        );
      }, timeoutMs);
      this.#pendingRead = { resolve, reject, timer };
    });
  }

  /**
   * Writes one frame with a single socket write, so frames never interleave. Resolves when the bytes reached
   * the kernel; rejects with `Timeout` (and destroys the socket) after the write timeout, or with `Io`.
   */
  write(message: Message): Promise<void> {
    if (this.#terminal) return Promise.reject(this.#terminal);
    let frame: Buffer;
    try {
      frame = encodeFrame(message, this.#version);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        const error = new HandoffError(
          'Timeout',
          `writing ${message.type} to ${this.peer} did not complete within ${this.#writeTimeoutMs} ms`,
          { what: `${message.type} write`, timeoutMs: this.#writeTimeoutMs },
        );
        this.destroy(error);
        settle(error);
      }, this.#writeTimeoutMs);
      const settle = (error?: Error | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(this.#terminal ?? ioError(`writing ${message.type} to ${this.peer}`, error));
        else resolve();
      };
      this.#socket.write(frame, settle);
    });
  }

  /**
   * After the last frame: half-closes our side and stops the socket from keeping the process alive, so the
   * peer's EOF (or its silence) never holds an exiting process back. Frames already written still go out.
   */
  endAfterLastFrame(): void {
    this.#socket.end();
    this.#socket.unref();
  }

  /** Closes the connection now. Idempotent; the first error given (or a plain close) is what later calls see. */
  destroy(error?: HandoffError): void {
    this.#fail(error ?? new HandoffError('Io', `connection to ${this.peer} was closed locally`));
    this.#socket.destroy();
  }

  #fail(error: HandoffError): void {
    if (this.#terminal) return;
    this.#terminal = error;
    this.#closed.abort(error);
    const pending = this.#pendingRead;
    this.#pendingRead = undefined;
    if (pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }

  #deliver(frame: ReceivedFrame): void {
    const pending = this.#pendingRead;
    if (pending) {
      this.#pendingRead = undefined;
      clearTimeout(pending.timer);
      pending.resolve(frame);
      return;
    }
    this.#frames.push(frame);
    if (this.#frames.length >= MAX_QUEUED_FRAMES) this.#socket.pause();
  }

  #resumeIfDrained(): void {
    if (this.#frames.length < MAX_QUEUED_FRAMES && this.#socket.isPaused() && !this.#terminal)
      this.#socket.resume();
  }

  #onData = (chunk: Buffer): void => {
    if (this.#terminal) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    try {
      this.#parseFrames();
    } catch (error) {
      // A bad length or payload desynchronises the stream: nothing after it can be trusted.
      this.destroy(error as HandoffError);
    }
  };

  #parseFrames(): void {
    for (;;) {
      const head = this.#contiguous(Math.min(this.#buffered, 4));
      const size = frameSize(head);
      if (size === null || this.#buffered < size) return;
      const whole = this.#contiguous(this.#buffered);
      const decoded = decodeFrame(whole);
      if (decoded === null) return;
      const rest = whole.subarray(decoded.bytesRead);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#buffered = rest.length;
      this.#deliver({ version: decoded.version, message: decoded.message });
    }
  }

  /** The first `n` buffered bytes as one Buffer (merging chunks only when a frame spans them). */
  #contiguous(n: number): Buffer {
    const first = this.#chunks[0];
    if (first && first.length >= n) return first;
    const merged = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [merged];
    return merged;
  }

  #onEnd = (): void => {
    const midFrame = this.#buffered > 0;
    this.#fail(
      new HandoffError(
        'Io',
        midFrame
          ? `${this.peer} closed the connection inside a frame (${this.#buffered} bytes of it received)`
          : `${this.peer} closed the connection`,
        { eof: true },
      ),
    );
  };

  #onError = (error: Error): void => {
    this.#fail(ioError(`connection to ${this.peer} failed`, error));
  };

  #onClose = (): void => {
    this.#fail(new HandoffError('Io', `connection to ${this.peer} closed`, { eof: true }));
    this.#socket.off('data', this.#onData);
    this.#socket.off('end', this.#onEnd);
    this.#socket.off('close', this.#onClose);
    // The 'error' listener stays: a late error event on a closed socket must not become an uncaught exception.
  };
}
