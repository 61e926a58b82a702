// Protocol version negotiation (docs/protocol.md §3.5): the highest version both ranges contain.

import { HandoffError } from '../errors.js';

/** Returns the highest common version of [ourMin, ourMax] and [theirMin, theirMax]; throws `VersionMismatch`. */
export function negotiate(ourMin: number, ourMax: number, theirMin: number, theirMax: number): number {
  const lo = Math.max(ourMin, theirMin);
  const hi = Math.min(ourMax, theirMax);
  if (lo > hi) {
    throw new HandoffError(
      'VersionMismatch',
      `no common protocol version: we speak ${ourMin}..${ourMax}, the peer speaks ${theirMin}..${theirMax}`,
      { ourMin, ourMax, theirMin, theirMax },
    );
  }
  return hi;
}
