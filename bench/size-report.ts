// The data-size dimension's table (Markdown) and picture (SVG): per kv.log size and way, the accept gap,
// begin → ready, the worst request during a deploy and trigger → done, as medians (p99 where it matters).

import type { SizeCell, SizeVariant } from './sizes.js';

export function renderSizeTable(cells: readonly SizeCell[]): string {
  const lines = [
    "**kv.log size** (ms; accept gap and trigger → done as median / p99; the worst request split at the new build's Hello for handoff)",
    '',
    '| kv.log | keys | way | deploys ok | accept gap | begin → ready | spawn → Hello | worst request: while starting / across the switch | trigger → done | failed requests | acked writes lost | load avg |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const { size, log, variant, loadAverage1m, cell } of cells) {
    const g = cell.acceptGapMs;
    const p = cell.phasesMedianMs;
    const t = cell.triggerToDoneMs;
    const lost = cell.writes ? cell.writes.lostServed + cell.writes.lostOnDisk : 0;
    const { whileStarting, acrossSwitch, duringDeploys } = cell.latencyMs;
    const worst =
      whileStarting && acrossSwitch ? `${whileStarting.max} / ${acrossSwitch.max}` : `${duringDeploys.max}`;
    const gap = g.count
      ? `${g.median} / ${g.p99}${g.count < cell.deploys.attempted ? ` (${g.count} of ${cell.deploys.attempted})` : ''}`
      : '–';
    lines.push(
      `| ${size} | ${log.records} | ${variant} | ${cell.deploys.ok}/${cell.deploys.attempted} | ${gap} | ${p?.beginToReadyMs ?? '–'} | ${p?.spawnToHelloMs ?? '–'} | ${worst} | ${t.median} / ${t.p99} | ${cell.requests.failed} | ${lost} | ${loadAverage1m} |`,
    );
  }
  const failures = cells.flatMap(({ size, variant, cell }) =>
    cell.deploys.failures.length
      ? [
          `- ${size} / ${variant}: ${cell.deploys.failures.length} deploys failed: ${[...new Set(cell.deploys.failures)].slice(0, 2).join('; ')}`,
        ]
      : [],
  );
  if (failures.length) lines.push('', ...failures);
  return `${lines.join('\n')}\n`;
}

const COLORS: Record<SizeVariant, string> = {
  'handoff, prepare': '#1f77b4',
  'handoff, no prepare': '#ff7f0e',
  'kill-and-restart': '#d62728',
};
const WIDTH = 760;
const PANEL_HEIGHT = 230;
const LEFT = 64;
const RIGHT = 170;
const TOP = 30;
const BOTTOM = 34;
/** y: 1 ms to 100 s, log scale. */
const Y_MIN_MS = 1;
const Y_MAX_MS = 100_000;

interface SizePanel {
  readonly title: string;
  /** The median (a point on the line) and the p99 (a whisker above it), or undefined when not measured. */
  readonly value: (cell: SizeCell) => { median: number; p99?: number } | undefined;
}

export function renderSizeSvg(title: string, cells: readonly SizeCell[]): string {
  const panels: SizePanel[] = [
    {
      title: 'accept gap: last accept of the old instance → first of the new (median, whisker to p99)',
      value: ({ cell }) =>
        cell.acceptGapMs.count ? { median: cell.acceptGapMs.median, p99: cell.acceptGapMs.p99 } : undefined,
    },
    {
      title: 'trigger → done (median, whisker to p99)',
      value: ({ cell }) => ({ median: cell.triggerToDoneMs.median, p99: cell.triggerToDoneMs.p99 }),
    },
  ];
  const sizes = [...new Set(cells.map((c) => c.log.bytes))].sort((a, b) => a - b);
  const height = 40 + panels.length * (PANEL_HEIGHT + TOP + BOTTOM);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${LEFT}" y="22" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  panels.forEach((panel, i) => {
    out.push(renderPanel(panel, cells, sizes, 40 + i * (PANEL_HEIGHT + TOP + BOTTOM)));
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function renderPanel(panel: SizePanel, cells: readonly SizeCell[], sizes: number[], top: number): string {
  const plotTop = top + TOP;
  const plotWidth = WIDTH - LEFT - RIGHT;
  const lo = Math.log10(sizes[0] ?? 1) - 0.3;
  const hi = Math.log10(sizes.at(-1) ?? 10) + 0.3;
  const x = (bytes: number) => LEFT + ((Math.log10(bytes) - lo) / Math.max(0.1, hi - lo)) * plotWidth;
  const y = (ms: number) => {
    const clamped = Math.min(Y_MAX_MS, Math.max(Y_MIN_MS, ms));
    const f = (Math.log10(clamped) - Math.log10(Y_MIN_MS)) / (Math.log10(Y_MAX_MS) - Math.log10(Y_MIN_MS));
    return plotTop + PANEL_HEIGHT - f * PANEL_HEIGHT;
  };
  const out = [
    `<text x="${LEFT}" y="${top + 18}" font-size="12" font-weight="bold">${escapeXml(panel.title)}</text>`,
  ];
  for (let ms = Y_MIN_MS; ms <= Y_MAX_MS; ms *= 10) {
    const label = ms < 1000 ? `${ms} ms` : `${ms / 1000} s`;
    out.push(
      `<line x1="${LEFT}" y1="${px(y(ms))}" x2="${LEFT + plotWidth}" y2="${px(y(ms))}" stroke="#eee"/>`,
      `<text x="${LEFT - 4}" y="${px(y(ms) + 4)}" text-anchor="end" fill="#555">${label}</text>`,
    );
  }
  for (const bytes of sizes) {
    out.push(
      `<text x="${px(x(bytes))}" y="${plotTop + PANEL_HEIGHT + 14}" text-anchor="middle" fill="#555">${formatBytes(bytes)}</text>`,
    );
  }
  out.push(
    `<text x="${LEFT + plotWidth / 2}" y="${plotTop + PANEL_HEIGHT + 28}" text-anchor="middle" fill="#555">kv.log size</text>`,
  );
  let legendY = plotTop + 12;
  for (const variant of Object.keys(COLORS) as SizeVariant[]) {
    const points = cells
      .filter((c) => c.variant === variant)
      .flatMap((c) => {
        const v = panel.value(c);
        return v ? [{ bytes: c.log.bytes, ...v }] : [];
      })
      .sort((a, b) => a.bytes - b.bytes);
    if (points.length === 0) continue;
    const color = COLORS[variant];
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.map((p) => `${px(x(p.bytes))},${px(y(p.median))}`).join(' ')}"/>`,
    );
    for (const p of points) {
      out.push(`<circle cx="${px(x(p.bytes))}" cy="${px(y(p.median))}" r="3.5" fill="${color}"/>`);
      if (p.p99 !== undefined && p.p99 > p.median) {
        out.push(
          `<line x1="${px(x(p.bytes))}" y1="${px(y(p.median))}" x2="${px(x(p.bytes))}" y2="${px(y(p.p99))}" stroke="${color}" stroke-width="1"/>`,
        );
      }
    }
    out.push(
      `<line x1="${LEFT + plotWidth + 12}" y1="${legendY - 4}" x2="${LEFT + plotWidth + 32}" y2="${legendY - 4}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${LEFT + plotWidth + 36}" y="${legendY}">${escapeXml(variant)}</text>`,
    );
    legendY += 16;
  }
  out.push(
    `<rect x="${LEFT}" y="${plotTop}" width="${plotWidth}" height="${PANEL_HEIGHT}" fill="none" stroke="#999"/>`,
  );
  return out.join('\n');
}

function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${Math.round(bytes / 1e8) / 10} GB`;
  if (bytes >= 1e6) return `${Math.round(bytes / 1e5) / 10} MB`;
  return `${Math.round(bytes / 1e2) / 10} kB`;
}

function px(n: number): string {
  return String(Math.round(n));
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
