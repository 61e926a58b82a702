// The benchmark's picture: for one daemon kind, a panel per way with client latency over time (per-bucket
// median and max on a log scale), failed requests as red ticks, and a vertical line at every deploy.

import type { Sample } from '../scripts/demo-load.js';

export interface Panel {
  /** The way, and a one-line summary after it. */
  readonly title: string;
  readonly samples: readonly Sample[];
  readonly deploys: ReadonlyArray<readonly [number, number]>;
  readonly endMs: number;
}

const WIDTH = 1100;
const PANEL_HEIGHT = 190;
const LEFT = 56;
const RIGHT = 16;
const TOP = 26;
const BOTTOM = 26;
/** The y axis: 0.1 ms to 10 s, log scale. */
const Y_MIN_MS = 0.1;
const Y_MAX_MS = 10_000;

export function renderSvg(title: string, panels: readonly Panel[]): string {
  const spanMs = Math.max(1, ...panels.map((p) => p.endMs));
  const height = 40 + panels.length * (PANEL_HEIGHT + TOP + BOTTOM) + 24;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${LEFT}" y="22" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  panels.forEach((panel, i) => {
    out.push(renderPanel(panel, 40 + i * (PANEL_HEIGHT + TOP + BOTTOM), spanMs));
  });
  const legendY = height - 10;
  out.push(
    `<line x1="${LEFT}" y1="${legendY - 4}" x2="${LEFT + 20}" y2="${legendY - 4}" stroke="#1f77b4" stroke-width="1.5"/>`,
    `<text x="${LEFT + 24}" y="${legendY}">median latency per bucket</text>`,
    `<line x1="${LEFT + 190}" y1="${legendY - 4}" x2="${LEFT + 210}" y2="${legendY - 4}" stroke="#ff7f0e" stroke-width="1"/>`,
    `<text x="${LEFT + 214}" y="${legendY}">max latency per bucket</text>`,
    `<line x1="${LEFT + 370}" y1="${legendY - 9}" x2="${LEFT + 370}" y2="${legendY + 1}" stroke="#888" stroke-width="1"/>`,
    `<text x="${LEFT + 376}" y="${legendY}">deploy triggered</text>`,
    `<line x1="${LEFT + 490}" y1="${legendY - 9}" x2="${LEFT + 490}" y2="${legendY + 1}" stroke="#d62728" stroke-width="2"/>`,
    `<text x="${LEFT + 496}" y="${legendY}">failed requests (taller: more, log scale)</text>`,
    '</svg>',
  );
  return `${out.join('\n')}\n`;
}

function renderPanel(panel: Panel, top: number, spanMs: number): string {
  const plotTop = top + TOP;
  const plotWidth = WIDTH - LEFT - RIGHT;
  const x = (ms: number) => LEFT + (ms / spanMs) * plotWidth;
  const y = (ms: number) => {
    const clamped = Math.min(Y_MAX_MS, Math.max(Y_MIN_MS, ms));
    const f = (Math.log10(clamped) - Math.log10(Y_MIN_MS)) / (Math.log10(Y_MAX_MS) - Math.log10(Y_MIN_MS));
    return plotTop + PANEL_HEIGHT - f * PANEL_HEIGHT;
  };
  const out: string[] = [
    `<text x="${LEFT}" y="${top + 16}" font-size="12" font-weight="bold">${escapeXml(panel.title)}</text>`,
  ];
  for (let ms = Y_MIN_MS; ms <= Y_MAX_MS; ms *= 10) {
    const label = ms < 1000 ? `${ms} ms` : `${ms / 1000} s`;
    out.push(
      `<line x1="${LEFT}" y1="${px(y(ms))}" x2="${WIDTH - RIGHT}" y2="${px(y(ms))}" stroke="#eee"/>`,
      `<text x="${LEFT - 4}" y="${px(y(ms) + 4)}" text-anchor="end" fill="#555">${label}</text>`,
    );
  }
  const stepS = niceStep(spanMs / 1000 / 10);
  for (let s = 0; s * 1000 <= spanMs; s += stepS) {
    out.push(
      `<text x="${px(x(s * 1000))}" y="${plotTop + PANEL_HEIGHT + 14}" text-anchor="middle" fill="#555">${s} s</text>`,
    );
  }
  // One path per kind of mark: a few bytes per deploy or failure instead of an element each.
  const deployPath = panel.deploys.map(([from]) => `M${px(x(from))} ${plotTop}V${plotTop + PANEL_HEIGHT}`);
  out.push(`<path d="${deployPath.join('')}" stroke="#888" stroke-opacity="0.35"/>`);
  // About 600 buckets across the widest panel: ~1.7 px each, enough to show every deploy's spike.
  const buckets = bucketize(panel.samples, Math.max(100, spanMs / 600));
  const median = buckets.map((b) => `${px(x(b.atMs))},${px(y(b.medianMs))}`).join(' ');
  const max = buckets.map((b) => `${px(x(b.atMs))},${px(y(b.maxMs))}`).join(' ');
  out.push(
    `<polyline fill="none" stroke="#ff7f0e" stroke-width="1" points="${max}"/>`,
    `<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${median}"/>`,
  );
  // Tick height grows with the log of the count: 1 failure is visible, 1,000 do not swamp the panel.
  const failurePath = buckets
    .filter((b) => b.failed > 0)
    .map((b) => `M${px(x(b.atMs))} ${plotTop}v${px(4 + 6 * Math.log10(b.failed))}`);
  if (failurePath.length) {
    out.push(`<path d="${failurePath.join('')}" stroke="#d62728" stroke-width="2"/>`);
  }
  out.push(
    `<rect x="${LEFT}" y="${plotTop}" width="${plotWidth}" height="${PANEL_HEIGHT}" fill="none" stroke="#999"/>`,
  );
  return out.join('\n');
}

interface Bucket {
  atMs: number;
  medianMs: number;
  maxMs: number;
  failed: number;
}

/** Samples grouped by send time into buckets of `bucketMs`: median and max latency, failures. */
function bucketize(samples: readonly Sample[], bucketMs: number): Bucket[] {
  const groups = new Map<number, { latencies: number[]; failed: number }>();
  for (const s of samples) {
    const key = Math.floor(s.at / bucketMs);
    const group = groups.get(key) ?? { latencies: [], failed: 0 };
    groups.set(key, group);
    group.latencies.push(s.latencyMs);
    if (!s.ok) group.failed++;
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a - b)
    .map(([key, { latencies, failed }]) => {
      latencies.sort((a, b) => a - b);
      return {
        atMs: (key + 0.5) * bucketMs,
        medianMs: latencies[Math.floor(latencies.length / 2)] ?? 0,
        maxMs: latencies.at(-1) ?? 0,
        failed,
      };
    });
}

function niceStep(raw: number): number {
  for (const step of [1, 2, 5, 10, 20, 30, 60, 120, 300]) if (step >= raw) return step;
  return 600;
}

/** Coordinates to whole pixels: finer adds bytes and nothing visible. */
function px(n: number): string {
  return String(Math.round(n));
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
