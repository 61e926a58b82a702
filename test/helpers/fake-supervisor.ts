// The supervisor's side of one control-socket session, played by a test over the real Unix socket: it
// connects, reads the incumbent's Hello, and then sends and expects frames one at a time.

import { createConnection, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { isHandoffError } from '../../src/errors.js';
import { newHandoffId } from '../../src/protocol/handoff-id.js';
import type { Hello, Message, MessageOf, MessageType } from '../../src/protocol/messages.js';
import { FramedConnection } from '../../src/wire.js';

export class FakeSupervisor {
  readonly conn: FramedConnection;
  /** The raw socket under `conn`, for sending bytes that are not a frame. */
  readonly socket: Socket;
  readonly hello: Hello;
  readonly handoffId: string;
  /** Heartbeats skipped by `expect`, in arrival order (their tsMs). */
  readonly heartbeats: bigint[] = [];

  private constructor(socket: Socket, conn: FramedConnection, hello: Hello, handoffId: string) {
    this.socket = socket;
    this.conn = conn;
    this.hello = hello;
    this.handoffId = handoffId;
  }

  /** Connects to the control socket and reads Hello; with `ack` (default) also sends HelloAck. */
  static async connect(t: TestContext, path: string, { ack = true } = {}): Promise<FakeSupervisor> {
    const socket = createConnection(path);
    t.after(() => socket.destroy());
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const conn = new FramedConnection(socket, { peer: 'incumbent' });
    const { message } = await conn.read(5000, 'Hello');
    if (message.type !== 'Hello') throw new Error(`expected Hello, got ${message.type}`);
    const sup = new FakeSupervisor(socket, conn, message, newHandoffId());
    if (ack) await sup.send({ type: 'HelloAck', protoVersionChosen: 1, handoffId: sup.handoffId });
    return sup;
  }

  send(message: Message): Promise<void> {
    return this.conn.write(message);
  }

  /** The next frame that is not a Heartbeat; fails if it is not of `type`. */
  async expect<T extends MessageType>(type: T, timeoutMs = 5000): Promise<MessageOf<T>> {
    for (;;) {
      const { message } = await this.conn.read(timeoutMs, type);
      if (message.type === 'Heartbeat' && type !== 'Heartbeat') {
        this.heartbeats.push(message.tsMs);
        continue;
      }
      if (message.type !== type) throw new Error(`expected ${type}, got ${message.type}`);
      return message as MessageOf<T>;
    }
  }

  /** Sends a Heartbeat and waits for its echo: every message sent before it has been fully handled. */
  async sync(): Promise<void> {
    await this.send({ type: 'Heartbeat', tsMs: 1n });
    await this.expect('Heartbeat');
  }

  /** Resolves when the incumbent closes the session (EOF or reset); fails if a frame arrives first. */
  async expectClosed(timeoutMs = 5000): Promise<void> {
    for (;;) {
      try {
        const { message } = await this.conn.read(timeoutMs, 'session close');
        if (message.type === 'Heartbeat') continue;
        throw new Error(`expected the session to close, got ${message.type}`);
      } catch (error) {
        if (isHandoffError(error, 'Io')) return;
        throw error;
      }
    }
  }

  /** Runs PrepareHandoff → Drained → SealRequest → SealComplete for this session's id. */
  async prepareAndSeal(id = this.handoffId, deadlineMs = 60_000n, drainGraceMs = 25_000n): Promise<void> {
    await this.send({ type: 'PrepareHandoff', handoffId: id, successorPid: 4242, deadlineMs, drainGraceMs });
    await this.expect('Drained');
    await this.send({ type: 'SealRequest', handoffId: id });
    await this.expect('SealComplete');
  }

  close(): void {
    this.conn.destroy();
  }
}
