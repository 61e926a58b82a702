// Option validation shared by every public entry (STYLE rule 13): checked once at construction, with a
// message that names the option, echoes the value and gives its type.

import { HandoffError } from './errors.js';
import { DEFAULTS, MAX_TIMER_MS } from './timing.js';

/**
 * A value as error messages show it, and its type: JSON where it has one, else a plain rendering. Never
 * throws (a cycle, a bigint inside an object), so a bad option always ends as `InvalidOption`.
 */
export function describe(value: unknown): string {
  return `${show(value)} (${typeof value})`;
}

function show(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'symbol' || value === undefined) return String(value);
  if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

export function invalidOption(option: string, requirement: string, value: unknown): HandoffError {
  return new HandoffError('InvalidOption', `${option} must be ${requirement}, got ${describe(value)}`, {
    option,
  });
}

/** `value` if given (a positive integer), else `fallback`. */
export function positiveInteger(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw invalidOption(option, 'a positive integer', value);
  }
  return value;
}

/** `value` if given (a non-negative integer), else `fallback`. */
export function nonNegativeInteger(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidOption(option, 'a non-negative integer', value);
  }
  return value;
}

/** A build id given as bytes or as a UTF-8 string. */
export function buildIdBytes(option: string, value: unknown): Uint8Array {
  if (value === undefined) return new Uint8Array(0);
  if (typeof value === 'string') return new TextEncoder().encode(value);
  if (value instanceof Uint8Array) return value;
  throw invalidOption(option, 'a string or a Uint8Array', value);
}

/** The durations in DEFAULTS (every other entry is a count). */
type TimingName = Exclude<keyof typeof DEFAULTS, 'backlog' | 'maxQueuedConnections'>;
/** Windows that may be zero (no slack, no retry, no quiet period); every other duration must be positive. */
const ZERO_ALLOWED: ReadonlySet<TimingName> = new Set([
  'wireSlackMs',
  'resumeFlockTimeoutMs',
  'drainQuietMs',
]);

/**
 * Each named timing option: the value given (checked) or its default from DEFAULTS. A duration longer than
 * a timer can express (2^31 − 1 ms, about 24.8 days) is refused: Node would fire it at once.
 */
export function timingOptions<K extends TimingName>(
  options: Partial<Record<K, unknown>>,
  names: readonly K[],
): Record<K, number> {
  const resolved = {} as Record<K, number>;
  for (const name of names) {
    const value = ZERO_ALLOWED.has(name)
      ? nonNegativeInteger(name, options[name], DEFAULTS[name])
      : positiveInteger(name, options[name], DEFAULTS[name]);
    if (value > MAX_TIMER_MS) throw invalidOption(name, `at most ${MAX_TIMER_MS} ms`, value);
    resolved[name] = value;
  }
  return resolved;
}
