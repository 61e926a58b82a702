// A timer to order an outcome against, in place of a wall-clock upper bound (STYLE rule 29). Timers on one
// event loop fire in the order they expire, and the promise reactions of one run before the next fires, so
// when the code under test settles something from a timer of its own that is shorter and started no later,
// "settled before the reference fired" holds however busy the machine is: a stall delays both alike.

export interface ReferenceTimer {
  /** True once the timer has fired. */
  readonly fired: boolean;
  /** Resolves when the timer fires; never, once cancelled. */
  readonly expired: Promise<void>;
  /** Stops it; idempotent. Call it when done, as the timer keeps the process alive until then. */
  cancel(): void;
}

/** Starts a timer of `ms` that only records that it fired. */
export function referenceTimer(ms: number): ReferenceTimer {
  let fired = false;
  let resolve: () => void = () => {};
  const expired = new Promise<void>((r) => {
    resolve = r;
  });
  const timer = setTimeout(() => {
    fired = true;
    resolve();
  }, ms);
  return {
    get fired() {
      return fired;
    },
    expired,
    cancel: () => clearTimeout(timer),
  };
}
