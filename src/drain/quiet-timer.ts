// "Close it once it has been quiet": a timer per connection whose verdict is taken in the check phase, after
// the poll phase has read whatever the kernel already holds, so a request in flight is never closed on.

/** Calls `onQuiet` once `activity()` has not changed for `quietMs`; re-arms itself while it changes. */
export class QuietTimer {
  readonly #quietMs: number;
  readonly #activity: () => number;
  readonly #onQuiet: () => void;
  #timer: NodeJS.Timeout | undefined;
  #activityAtArm = 0;

  /**
   * @param activity a counter that grows with whatever the peer sends (bytes read, streams opened).
   * @param onQuiet runs at most once per arm, in the check phase.
   */
  constructor(quietMs: number, activity: () => number, onQuiet: () => void) {
    this.#quietMs = quietMs;
    this.#activity = activity;
    this.#onQuiet = onQuiet;
  }

  get armed(): boolean {
    return this.#timer !== undefined;
  }

  /** (Re)starts the quiet period from now. */
  arm(): void {
    this.clear();
    this.#activityAtArm = this.#activity();
    const timer = setTimeout(() => {
      // Timers run before the poll phase: bytes already in the kernel buffer are read only after this
      // callback. Decide in the check phase, after that read, or the close would race them.
      setImmediate(() => {
        if (this.#timer !== timer) return; // cleared or re-armed meanwhile
        this.#timer = undefined;
        if (this.#activity() !== this.#activityAtArm) this.arm();
        else this.#onQuiet();
      });
    }, this.#quietMs);
    this.#timer = timer;
  }

  clear(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
