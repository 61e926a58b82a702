// The soak's fault schedule: a seeded pseudo-random plan, so that a failing run can be replayed exactly
// (the schedule, not the machine's timing) from the seed it printed.

/** Every fault the soak injects. */
export const FAULT_KINDS = [
  'kill-old',
  'kill-new',
  'sigterm-supervisor',
  'kill-supervisor',
  'sighup-storm',
  'hang-before-ready',
  'full-data-disk',
  'full-journal-disk',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Where in a handoff a kill lands: after the trigger saw this progress step. */
export const KILL_STEPS = ['spawned', 'prepare', 'drained', 'sealed', 'begin'] as const;
export type KillStep = (typeof KILL_STEPS)[number];

export interface PlannedHandoff {
  readonly index: number;
  /** The fault injected during this handoff, if any. */
  readonly fault?: FaultKind;
  /** For kills: the progress step after which the process is killed. */
  readonly step?: KillStep;
}

/** mulberry32: a tiny, well-mixed 32-bit PRNG; the same seed gives the same sequence everywhere. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `handoffs` handoffs; each carries a fault with probability `faultRate`, of a kind drawn from `kinds`. With
 * `everyKindOnce`, the first handoffs carry each kind once, in order (the short variant run by the tests).
 */
export function planSoak(options: {
  readonly seed: number;
  readonly handoffs: number;
  readonly faultRate: number;
  readonly kinds: readonly FaultKind[];
  readonly everyKindOnce?: boolean;
}): PlannedHandoff[] {
  const random = prng(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const plan: PlannedHandoff[] = [];
  for (let index = 0; index < options.handoffs; index++) {
    const forced = options.everyKindOnce ? options.kinds[index] : undefined;
    const fault =
      forced ?? (options.kinds.length > 0 && random() < options.faultRate ? pick(options.kinds) : undefined);
    const kills = fault === 'kill-old' || fault === 'kill-new' || fault === 'kill-supervisor';
    const step = kills ? pick(KILL_STEPS) : undefined;
    plan.push({ index, ...(fault && { fault }), ...(step && { step }) });
  }
  return plan;
}
