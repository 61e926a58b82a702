// Watches the data-dir flock through a whole scenario without touching it (SPEC §1 invariant 1): samples
// /proc/locks every few ms, and remembers every change of holder and any instant with two holders or a second
// lock-file inode (two inodes would be two independent locks: two writers the kernel cannot see).

import assert from 'node:assert/strict';
import type { HandoffFixture } from './handoff-fixture.js';

export interface FlockChange {
  /** performance.now() of the first sample that saw `holders`. */
  readonly atMs: number;
  readonly holders: readonly number[];
}

export class FlockObserver {
  readonly #f: HandoffFixture;
  readonly #timeline: FlockChange[] = [];
  readonly #overlaps: FlockChange[] = [];
  readonly #inodes = new Set<number>();
  #timer: NodeJS.Timeout | undefined;
  #samples = 0;

  constructor(f: HandoffFixture) {
    this.#f = f;
  }

  /** Starts sampling every `intervalMs` (2–5 ms keeps even a short hold visible). */
  start(intervalMs = 3): void {
    this.stop();
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Takes one sample now (also called by the timer). */
  sample(): void {
    let holders: number[];
    let inode: number | undefined;
    try {
      inode = this.#f.lockInode();
      holders = this.#f.flockHolders();
    } catch {
      return; // the lock file appeared or changed while we looked: the next sample sees it
    }
    this.#samples++;
    if (inode !== undefined) this.#inodes.add(inode);
    const atMs = performance.now();
    if (holders.length > 1) this.#overlaps.push({ atMs, holders });
    const last = this.#timeline.at(-1);
    if (!last || last.holders.join() !== holders.join()) this.#timeline.push({ atMs, holders });
  }

  /** Every change of holder so far, oldest first. */
  get timeline(): readonly FlockChange[] {
    return this.#timeline;
  }

  /** Every distinct holder pid seen so far. */
  get holdersSeen(): number[] {
    return [...new Set(this.#timeline.flatMap((c) => c.holders))];
  }

  /** The longest stretch, in ms, during which nobody held the flock after someone first had. */
  longestFreeMs(): number {
    let longest = 0;
    const first = this.#timeline.findIndex((c) => c.holders.length > 0);
    if (first < 0) return 0;
    for (let i = first; i < this.#timeline.length; i++) {
      const change = this.#timeline[i]!;
      if (change.holders.length > 0) continue;
      const end = this.#timeline[i + 1]?.atMs ?? performance.now();
      longest = Math.max(longest, end - change.atMs);
    }
    return longest;
  }

  /** Fails if two processes ever held the flock at once, or if the lock file was ever replaced. */
  assertNeverTwo(): void {
    assert.ok(this.#samples > 0, 'the observer took no sample');
    assert.deepEqual(this.#overlaps, [], `two flock holders at once\n${this.describe()}`);
    assert.ok(this.#inodes.size <= 1, `the lock file changed inode: ${[...this.#inodes].join(', ')}`);
  }

  /** The timeline as text, for failure messages. */
  describe(): string {
    const origin = this.#timeline[0]?.atMs ?? 0;
    const lines = this.#timeline.map(
      (c) => `  +${(c.atMs - origin).toFixed(0)} ms: [${c.holders.join(', ')}]`,
    );
    return `flock holders over ${this.#samples} samples:\n${lines.join('\n')}`;
  }
}
