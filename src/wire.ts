// A framed connection over a net.Socket (docs/protocol.md §3.2, §4 [beyond]): reads one frame at a time with a timeout,
// writes whole frames with a write timeout, and turns every way a socket can end into one typed error.
// One exit path: the first error is kept, #destroy is idempotent, and every pending operation settles once.

import type { Socket } from 'node:net';
import { HandoffError, ioError } from './errors.js';
import { decodeFrame, encodeFrame, frameSize } from './protocol/frame.js';
import { type Message, PROTO_MAX } from './protocol/messages.js';
import { WRITE_TIMEOUT_MS } from './timing.js';

/** Frames decoded but not yet read; past this the socket is paused so a flooding peer cannot grow memory. */
const MAX_QUEUED_FRAMES = 16;

export interface FramedConnectionOptions {
  /** How long one frame may take to reach the kernel before the socket is destroyed. Default: 10 000 ms. */
  readonly writeTimeoutMs?: number;
  /** Names the peer in error messages, e.g. `supervisor on /run/kv.sock`. Default: `peer`. */
  readonly peer?: string;
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
  readonly socket: Socket;
  readonly peer: string;
  readonly #writeTimeoutMs: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #frames: ReceivedFrame[] = [];
  #pendingRead: PendingRead | undefined;
  /** Set once: why this connection can no longer be read from or written to. */
  #terminal: HandoffError | undefined;

  constructor(socket: Socket, options: FramedConnectionOptions = {}) {
    this.socket = socket;
    this.peer = options.peer ?? 'peer';
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
  write(message: Message, version: number = PROTO_MAX): Promise<void> {
    if (this.#terminal) return Promise.reject(this.#terminal);
    let frame: Buffer;
    try {
      frame = encodeFrame(message, version);
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
      this.socket.write(frame, settle);
    });
  }

  /** Closes the connection now. Idempotent; the first error given (or a plain close) is what later calls see. */
  destroy(error?: HandoffError): void {
    this.#fail(error ?? new HandoffError('Io', `connection to ${this.peer} was closed locally`));
    this.socket.destroy();
  }

  #fail(error: HandoffError): void {
    if (this.#terminal) return;
    this.#terminal = error;
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
    if (this.#frames.length >= MAX_QUEUED_FRAMES) this.socket.pause();
  }

  #resumeIfDrained(): void {
    if (this.#frames.length < MAX_QUEUED_FRAMES && this.socket.isPaused() && !this.#terminal)
      this.socket.resume();
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
    this.socket.off('data', this.#onData);
    this.socket.off('end', this.#onEnd);
    this.socket.off('close', this.#onClose);
    // The 'error' listener stays: a late error event on a closed socket must not become an uncaught exception.
  };
}
