// The supervisor's signals, caught from the first moment: Node's default for SIGHUP, SIGTERM and SIGINT is
// to die on the spot, which for a supervisor means leaving its daemon orphaned. The router is installed
// before anything else loads; signals that arrive before the supervisor is ready wait here for it.

export type StopSignal = 'SIGTERM' | 'SIGINT';

export interface SignalHandlers {
  stop(signal: StopSignal): void;
  hangup(): void;
}

export class SignalRouter {
  #handlers: SignalHandlers | undefined;
  readonly #pending: Array<NodeJS.Signals> = [];
  readonly #listener = (signal: NodeJS.Signals) => this.#dispatch(signal);

  /** Starts catching SIGHUP, SIGTERM and SIGINT (buffered until `route`). */
  install(): this {
    for (const signal of ['SIGHUP', 'SIGTERM', 'SIGINT'] as const) process.on(signal, this.#listener);
    return this;
  }

  /** From now on signals go to `handlers`; those caught earlier are delivered first, in order. */
  route(handlers: SignalHandlers): void {
    this.#handlers = handlers;
    for (const signal of this.#pending.splice(0)) this.#dispatch(signal);
  }

  /** Stops catching (the process then gets Node's defaults again). */
  uninstall(): void {
    for (const signal of ['SIGHUP', 'SIGTERM', 'SIGINT'] as const) process.off(signal, this.#listener);
  }

  #dispatch(signal: NodeJS.Signals): void {
    const handlers = this.#handlers;
    if (!handlers) {
      this.#pending.push(signal);
      return;
    }
    if (signal === 'SIGHUP') handlers.hangup();
    else handlers.stop(signal as StopSignal);
  }
}
