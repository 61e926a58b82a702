// The drain every server kind shares (docs/protocol.md §7): stop accepting, ask each group of connections to
// finish, wait until none is left, destroy the rest at the deadline or on abort; and resume after an abort.

import type net from 'node:net';
import { type DrainContext, type DrainReport, handoffAbandoned } from '../drainable.js';
import { MAX_TIMER_MS } from '../timing.js';
import { ListenerGate } from './listener.js';
import type { ResolvedListenerOptions } from './options.js';

/**
 * One kind of connection a server holds (HTTP/1.1 sockets, HTTP/2 sessions, WebSockets, TCP sockets).
 * A group calls `ServerDrain.connectionClosed()` whenever one of its connections is gone.
 */
export interface ConnectionGroup {
  /** Connections still open. */
  readonly size: number;
  /** The drain began (accept has stopped): make every connection finish at its next safe point. */
  beginClosing(): void;
  /** resume(): stop closing connections (those already told to finish may still end). */
  stopClosing(): void;
  /** The deadline passed or the drain was aborted: destroy every connection left. */
  destroyAll(): void;
}

export class ServerDrain {
  readonly #gate: ListenerGate;
  readonly #groups: ConnectionGroup[] = [];
  /** True from drain() until resume(): groups close their connections, late ones included. */
  #closing = false;
  #pending: Promise<DrainReport> | undefined;
  /** Ends the drain in progress: `forced` destroys the connections left (deadline or abort). */
  #settle: ((forced: boolean) => void) | undefined;
  /** Bumped by every drain and resume, so a drain that resumes from an await after a resume backs off. */
  #epoch = 0;

  constructor(server: net.Server, options: ResolvedListenerOptions) {
    this.#gate = new ListenerGate(server, options);
  }

  /** Adds a group; construct groups before the server listens. */
  add(group: ConnectionGroup): void {
    this.#groups.push(group);
  }

  /** True while a drain is in progress: a connection that arrives now must be closed when done. */
  get closing(): boolean {
    return this.#closing;
  }

  get accepting(): boolean {
    return this.#gate.accepting;
  }

  get openConnections(): number {
    return this.#groups.reduce((sum, group) => sum + group.size, 0);
  }

  /** Concurrent calls share one drain; a drain after a drain (no resume between) returns at once. */
  drain(context: DrainContext): Promise<DrainReport> {
    this.#pending ??= this.#runDrain(context).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /** Stops closing connections, ends a pending drain (it reports what is open), and accepts again. */
  async resume(): Promise<void> {
    this.#epoch++;
    this.#closing = false;
    for (const group of this.#groups) group.stopClosing();
    this.#settle?.(false);
    await this.#gate.resume();
  }

  /** A group lost a connection: the drain in progress may be done. */
  connectionClosed(): void {
    if (this.#settle && this.openConnections === 0) this.#settle(false);
  }

  async #runDrain({ deadline, signal }: DrainContext): Promise<DrainReport> {
    const epoch = ++this.#epoch;
    const stopped = await this.#gate.stop();
    // A resume while the fd was being duplicated wins: keep serving.
    if (!stopped || epoch !== this.#epoch) {
      return { openConnsRemaining: this.openConnections, acceptClosed: false };
    }
    // Accept has stopped before any connection is asked to finish: none can arrive after the ask
    // except those the kernel handed over already, which each group treats as late arrivals.
    this.#closing = true;
    return await new Promise<DrainReport>((resolve) => {
      // At the deadline what is left is destroyed; when the handoff was abandoned it is kept (resume follows).
      const onAbort = () => settle(!handoffAbandoned(signal));
      const timer = setTimeout(onAbort, Math.min(Math.max(0, deadline - Date.now()), MAX_TIMER_MS));
      const settle = (forced: boolean) => {
        if (this.#settle !== settle) return;
        this.#settle = undefined;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const openConnsRemaining = this.openConnections;
        if (forced) for (const group of this.#groups) group.destroyAll();
        resolve({ openConnsRemaining, acceptClosed: !this.#gate.accepting });
      };
      this.#settle = settle;
      signal.addEventListener('abort', onAbort, { once: true });
      for (const group of this.#groups) group.beginClosing();
      if (signal.aborted) onAbort();
      else if (this.openConnections === 0) settle(false);
    });
  }
}
