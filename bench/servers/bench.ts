// `npm run bench -- --server https,h2,h2c,ws,tcp|all [--quick] [--deploys N]`: each server kind deployed N
// times by handoff under load from real clients of its protocol; writes servers.json and servers.md to --out.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ROOT } from '../handoff-run.js';
import { killProcessesMentioning } from '../proc.js';
import { renderServerTables, runServerCell, type ServerCellResult } from './cell.js';
import { SERVER_KINDS, type ServerKind } from './daemon-kinds.js';

export interface ServerBenchOptions {
  /** Comma-separated kinds, or `all`. */
  readonly servers: string;
  readonly deploys: number;
  readonly quick: boolean;
  readonly out: string | undefined;
  readonly keep: boolean;
  readonly say: (line: string) => void;
}

/** Runs the cells; resolves with the exit code (1 if any request failed, a message was lost, or a cell broke). */
export async function runServerBench(options: ServerBenchOptions): Promise<number> {
  const { say } = options;
  const kinds = options.servers === 'all' ? [...SERVER_KINDS] : options.servers.split(',');
  const unknown = kinds.filter((kind) => !SERVER_KINDS.includes(kind as ServerKind));
  if (unknown.length) {
    say(`bench: unknown --server ${unknown.join(',')}; one or more of ${SERVER_KINDS.join(', ')}, or all`);
    return 2;
  }
  const startedMs = performance.now();
  const runDir = mkdtempSync(join(tmpdir(), 'handoff-bench-servers-'));
  const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\..*/, '');
  const out = options.out ?? join(ROOT, 'bench/results/tmp', stamp);
  mkdirSync(out, { recursive: true });
  const load1m = Math.round(loadavg()[0]! * 100) / 100;
  const config = {
    deploys: options.deploys,
    warmupMs: options.quick ? 1000 : 2000,
    steadyMs: options.quick ? 2000 : 5000,
    pauseMs: 300,
    duringTailMs: 250,
  };
  say(
    `handoff bench --server: ${kinds.join(', ')}; ${options.deploys} deploys each; ${availableParallelism()} cores, Node ${process.version}, load ${load1m}`,
  );
  const cells: ServerCellResult[] = [];
  const errors: string[] = [];
  try {
    for (const kind of kinds as ServerKind[]) {
      say(`  ${kind}…`);
      try {
        const cell = await runServerCell(kind, runDir, config, say);
        cells.push(cell);
        say(
          `    ${cell.deploys.ok}/${cell.deploys.attempted} deploys, ${cell.totals.failed} of ${cell.totals.sent} failed, ${cell.totals.retried} retried`,
        );
      } catch (error) {
        errors.push(`${kind}: ${error instanceof Error ? error.message : String(error)}`);
        say(`    FAILED: ${errors.at(-1)}`);
      } finally {
        const strays = killProcessesMentioning(runDir);
        if (strays.length) errors.push(`${kind} left ${strays.length} processes; killed ${strays}`);
      }
    }
    const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`;
    const tables = `${renderServerTables(cells)}${errors.map((e) => `- error: ${e}\n`).join('')}\n${new Date().toISOString().slice(0, 10)}, ${availableParallelism()} cores, Node ${process.version}, load average ${load1m} at start; run took ${((performance.now() - startedMs) / 1000).toFixed(0)} s: \`${command}\`\n`;
    writeFileSync(
      join(out, 'servers.json'),
      `${JSON.stringify({ command, load1m, config, cells, errors }, null, 1)}\n`,
    );
    writeFileSync(join(out, 'servers.md'), tables);
    say('');
    say(tables);
    say(`wrote ${relative(process.cwd(), out) || '.'}/{servers.json,servers.md}`);
    const bad = cells.some(
      (c) => c.totals.failed > 0 || (c.lostAcked?.lost ?? 0) > 0 || c.deploys.ok < c.deploys.attempted,
    );
    return errors.length > 0 || bad ? 1 : 0;
  } finally {
    killProcessesMentioning(runDir);
    if (!options.keep) rmSync(runDir, { recursive: true, force: true });
  }
}
