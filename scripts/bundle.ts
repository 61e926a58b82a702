// The published JavaScript (`npm run build`, after tsc): one ES module per package entry in dist/lib/, with
// the code they share in chunks, bundled by esbuild. A bundle loads in one file read and one compile instead
// of ~40 module resolutions: it is what keeps importing the library cheap (BENCHMARKS.md, "Import cost").
// Types stay tsc's (dist/src/**/*.d.ts). Dependencies and Node's built-ins stay imports.

import { chmodSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url));

/** package.json `exports` target (and cli.js, which bin/handoff runs) → source entry. */
const ENTRIES = {
  index: 'src/index.ts',
  protocol: 'src/protocol/index.ts',
  testing: 'src/testing.ts',
  cli: 'src/cli/main.ts',
} as const;

const result = await build({
  absWorkingDir: ROOT,
  entryPoints: ENTRIES,
  outdir: 'dist/lib',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: 'chunks/[name]-[hash]',
  // Readable stack traces in a user's logs: names and layout are kept.
  minify: false,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});

// bin/handoff runs cli.js with Node's flags; it also runs by itself (`./dist/lib/cli.js`), so it keeps the
// entry's shebang and is made executable.
const cli = `${ROOT}dist/lib/cli.js`;
if (!readFileSync(cli, 'utf8').startsWith('#!')) throw new Error(`${cli} lost its shebang`);
chmodSync(cli, 0o755);
const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
process.stdout.write(
  `bundle: ${Object.keys(result.metafile.outputs).length} files, ${bytes} bytes in dist/lib\n`,
);
