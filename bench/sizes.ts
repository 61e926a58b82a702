// The benchmark's data-size dimension: the kv daemon with a kv.log of each size (written directly in the
// kv's format), deployed by handoff with prepare, by handoff without it (the whole replay after Begin), and
// by kill-and-restart, under the same load. Each size's data is removed once its cells are done.

import { closeSync, copyFileSync, fsyncSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { LOG_FILE } from '../examples/kv/prepared-log.js';
import { type CellConfig, type CellResult, runCell } from './cell.js';
import { type GeneratedLog, writeKvLog } from './kv-log.js';
import type { WayName } from './ways/way.js';

/** How each size is deployed: a way, and for handoff whether the kv prepares. */
export const SIZE_VARIANTS = [
  { variant: 'handoff, prepare', way: 'handoff', daemonArgs: [] },
  { variant: 'handoff, no prepare', way: 'handoff', daemonArgs: ['--no-prepare'] },
  { variant: 'kill-and-restart', way: 'kill-and-restart', daemonArgs: [] },
] as const satisfies ReadonlyArray<{ variant: string; way: WayName; daemonArgs: readonly string[] }>;

export type SizeVariant = (typeof SIZE_VARIANTS)[number]['variant'];

export interface SizeCell {
  /** As given on the command line: `1M`, `1G`. */
  readonly size: string;
  readonly log: Omit<GeneratedLog, 'path'>;
  readonly variant: SizeVariant;
  /** The 1-minute load average when the cell started (the machine is shared). */
  readonly loadAverage1m: number;
  readonly cell: CellResult;
}

/** A daemon replaying 1 GB may take a while to come up (kill-and-restart does, every time). */
const SIZE_START_TIMEOUT_MS = 180_000;

/**
 * Runs every variant at every size; a cell that fails is reported through `onError` and the sweep goes
 * on. `selected(variant)` filters, as `--only` does for the ways.
 */
export async function runSizes(
  sizes: ReadonlyArray<{ readonly label: string; readonly bytes: number }>,
  config: CellConfig,
  say: (line: string) => void,
  selected: (variant: SizeVariant) => boolean,
  onError: (message: string) => void,
  afterCell: () => void,
): Promise<SizeCell[]> {
  const out: SizeCell[] = [];
  for (const { label, bytes } of sizes) {
    const variants = SIZE_VARIANTS.filter((v) => selected(v.variant));
    if (variants.length === 0) continue;
    const sizeDir = join(config.runDir, `kv-size-${label}`);
    const templateDir = join(sizeDir, 'template');
    mkdirSync(templateDir, { recursive: true });
    try {
      const from = performance.now();
      const { path, ...log } = writeKvLog(templateDir, { bytes });
      say(
        `  kv.log of ${label}: ${log.bytes} bytes, ${log.records} records, written in ${Math.round(performance.now() - from)} ms`,
      );
      for (const { variant, way, daemonArgs } of variants) {
        say(`  kv ${label} / ${variant}…`);
        const loadAverage1m = Math.round(loadavg()[0]! * 100) / 100;
        try {
          const { result } = await runCell('kv', way, config, say, {
            name: `kv-size-${label}/${variant.replace(/\W+/g, '-')}`,
            setup: { daemonArgs, startTimeoutMs: SIZE_START_TIMEOUT_MS, defaultBudgets: true },
            seed: (dataDir) => {
              mkdirSync(dataDir, { recursive: true });
              const copy = join(dataDir, LOG_FILE);
              copyFileSync(path, copy);
              // Flushed now, not by the kernel's writeback during the cell: a gigabyte of dirty pages
              // being written back slows every fsync of the handoffs measured meanwhile.
              const fd = openSync(copy, 'r');
              try {
                fsyncSync(fd);
              } finally {
                closeSync(fd);
              }
            },
          });
          out.push({ size: label, log, variant, loadAverage1m, cell: result });
          const g = result.acceptGapMs;
          const { duringDeploys, whileStarting, acrossSwitch } = result.latencyMs;
          const worst = whileStarting
            ? `${whileStarting.max} ms while starting, ${acrossSwitch?.max} ms across the switch`
            : `${duringDeploys.max} ms`;
          say(
            `    ${result.deploys.ok}/${result.deploys.attempted} deploys, accept gap median ${g.median} ms, p99 ${g.p99} ms, worst request ${worst}, trigger→done median ${result.triggerToDoneMs.median} ms`,
          );
        } catch (error) {
          onError(`kv ${label} / ${variant}: ${error instanceof Error ? error.message : String(error)}`);
          say(`    FAILED: ${error instanceof Error ? error.message : String(error)}`);
        } finally {
          afterCell();
        }
      }
    } finally {
      // A gigabyte per cell adds up: nothing of a size outlives its cells.
      rmSync(sizeDir, { recursive: true, force: true });
    }
  }
  return out;
}
