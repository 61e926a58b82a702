// The published JavaScript (`npm run build`, after tsc): one ES module per package entry in dist/lib/,
// bundled by esbuild. A bundle loads in a couple of file reads and compiles instead of ~40 module
// resolutions: it is what keeps importing the library cheap (BENCHMARKS.md, "Import cost").
// Types stay tsc's (dist/src/**/*.d.ts). Dependencies and Node's built-ins stay imports.

import { chmodSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url));

const common = {
  absWorkingDir: ROOT,
  outdir: 'dist/lib',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  // Readable stack traces in a user's logs: names and layout are kept.
  minify: false,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
} as const;

// The main entry and `daemon-handoff/protocol` share their code (one HandoffError class for both) through
// one chunk. The testing entry (a few constants and crashHere) and the CLI (a process of its own) stand
// alone: sharing with them cut the main entry into four modules, measured ~5 ms slower to import than two.
const results = await Promise.all([
  build({
    ...common,
    entryPoints: { index: 'src/index.ts', protocol: 'src/protocol/index.ts' },
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
  }),
  build({ ...common, entryPoints: { testing: 'src/testing.ts' } }),
  build({ ...common, entryPoints: { cli: 'src/cli/main.ts' } }),
]);

// bin/handoff runs cli.js with Node's flags; it also runs by itself (`./dist/lib/cli.js`), so it keeps the
// entry's shebang and is made executable.
const cli = `${ROOT}dist/lib/cli.js`;
if (!readFileSync(cli, 'utf8').startsWith('#!')) throw new Error(`${cli} lost its shebang`);
chmodSync(cli, 0o755);
const outputs = results.flatMap((result) => Object.values(result.metafile.outputs));
const bytes = outputs.reduce((sum, output) => sum + output.bytes, 0);
process.stdout.write(`bundle: ${outputs.length} files, ${bytes} bytes in dist/lib\n`);

// The kv example's daemon as one module as well (not published): a successor's start-up is on the handoff's
// path, and tsc's ~50 modules made spawn → Hello 1.79× a bare `node -e 0` against 1.35× bundled (BENCHMARKS.md,
// "Start-up"). `npm run bench` and examples/kv/bin/kv run this file.
await build({
  ...common,
  outdir: 'dist/examples/kv',
  entryPoints: { 'daemon.bundle': 'examples/kv/daemon.ts' },
});
