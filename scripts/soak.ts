// `npm run soak`: the chaos soak (scripts/soak/run.ts) on the built code, with a report; exit 1 when an
// invariant broke. `--seed N` replays a schedule; the seed is printed at the start and the end.

import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runSoak, type SoakResult } from './soak/run.js';

const USAGE = `usage: npm run soak -- [--handoffs N] [--seed N] [--fault-rate P] [--json]

  --handoffs N     handoffs to run (default 200)
  --seed N         the schedule's seed (default: random; printed, so a failing run can be replayed)
  --fault-rate P   probability that a handoff carries a fault (default 0.35)
  --json           the result as JSON on stdout
`;

const { values } = parseArgs({
  options: {
    handoffs: { type: 'string', default: '200' },
    seed: { type: 'string' },
    'fault-rate': { type: 'string', default: '0.35' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const handoffs = Number(values.handoffs);
const faultRate = Number(values['fault-rate']);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (
  !Number.isInteger(handoffs) ||
  handoffs < 1 ||
  !(faultRate >= 0 && faultRate <= 1) ||
  !Number.isInteger(seed)
) {
  process.stderr.write(`soak: bad arguments\n${USAGE}`);
  process.exit(2);
}

const root = fileURLToPath(new URL('../../', import.meta.url));
const result = await runSoak({
  runner: { nodeArgs: [], cli: `${root}dist/src/cli/main.js`, kv: `${root}dist/examples/kv/daemon.js` },
  seed,
  handoffs,
  faultRate,
  log: (line) => process.stderr.write(`${line}\n`),
});
if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
else printReport(result);
process.exit(result.failures.length === 0 ? 0 : 1);

function printReport(r: SoakResult): void {
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out();
  out(
    `seed ${r.seed}: ${r.handoffs} handoffs, ${r.outcomes.committed} committed, ${r.outcomes.rolledBack} rolled back, ${r.outcomes.other} other`,
  );
  out();
  out('| fault | injected | failed requests | why they failed |');
  out('| --- | ---: | ---: | --- |');
  const why = (reasons: Record<string, number>) =>
    Object.entries(reasons)
      .map(([reason, n]) => `${reason} ×${n}`)
      .join(', ');
  for (const [kind, stats] of Object.entries(r.faults)) {
    out(`| ${kind} | ${stats.injected} | ${stats.failedRequests} | ${why(stats.reasons)} |`);
  }
  const clean = r.handoffs - Object.values(r.faults).reduce((a, s) => a + s.injected, 0);
  const stray: Record<string, number> = {};
  for (const f of r.outsideFaults) stray[f.reason] = (stray[f.reason] ?? 0) + 1;
  out(`| (none) | ${clean} | ${r.failedOutsideFaults} | ${why(stray)} |`);
  out();
  out(
    `requests: ${r.requests.sent} sent, ${r.requests.failed} failed; acknowledged writes: ${r.writes.acked}, lost: ${r.writes.lost}; wrong reads: ${r.wrongReads}`,
  );
  out(`flock: at most ${r.maxFlockHolders} holder(s) in ${r.flockSamples} samples of /proc/locks`);
  out(
    `supervisor: fds ${r.supervisor.fdsStart} → ${r.supervisor.fdsEnd}, RSS ${r.supervisor.rssStartKb} → ${r.supervisor.rssEndKb} kB`,
  );
  out(`disk faults: ${r.diskFaults ? 'on (tmpfs mounts)' : 'off (no permission to mount)'}`);
  if (r.failuresByHandoff.length > 0) {
    out();
    out('failed requests by handoff (the period they failed in; where they were sent, if earlier):');
    for (const f of r.failuresByHandoff) {
      const sent = f.sentDuring === f.handoff ? '' : `, sent during #${f.sentDuring}`;
      out(`  #${f.handoff} ${f.label}: ${f.reason} ×${f.count}${sent}`);
    }
  }
  out();
  if (r.failures.length === 0) out(`ok: every invariant held (seed ${r.seed})`);
  for (const failure of r.failures) out(`FAIL: ${failure} (seed ${r.seed})`);
}
