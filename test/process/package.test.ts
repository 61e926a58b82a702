// The package as a user gets it: `npm pack` of a copy of this tree (prepack builds dist/ and the prebuilt
// addon), what the tarball holds, and an install into a fresh project with no compiler, make or python3 on
// PATH and no install scripts; then imports from ESM and CommonJS (with types), `npx handoff --version`,
// and a tiny daemon under the installed `handoff run` through one handoff.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { get } from 'node:http';
import { delimiter, join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { sendTrigger } from '../../src/cli/trigger.js';
import { processesWithEnv, sweepAfter } from '../helpers/proc.js';
import { REPO_ROOT, spawnChild } from '../helpers/spawn-child.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

const PACKAGE = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
};
/** What a consumer's install must do without. */
const BUILD_TOOLS = ['g++', 'gcc', 'cc', 'c++', 'make', 'python3', 'python'];

/** `command` on the test's own PATH, resolved through symlinks. */
function which(command: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, command))) return realpathSync(join(dir, command));
  }
  return undefined;
}

/**
 * The environment of a machine with Node and npm but no build tools: PATH is one folder holding node, npm,
 * npx, and the sh, dirname and readlink the `handoff` launcher uses, and none of the npm_* variables of an
 * enclosing `npm test` (its local prefix is this repository).
 */
function bareEnvironment(dir: string, marker: string): NodeJS.ProcessEnv {
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  for (const tool of ['npm', 'npx', 'sh', 'dirname', 'readlink']) {
    const target = which(tool);
    assert.ok(target, `${tool} is on this machine's PATH`);
    symlinkSync(target, join(bin, tool));
  }
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  return { ...env, PATH: bin, HANDOFF_PACK_TEST: marker, NO_COLOR: '1' };
}

/**
 * Runs a command to completion (killed with its group at `timeoutMs`, or when the test ends); returns its
 * stdout. A failure shows the tail of stdout and stderr.
 */
async function run(
  t: TestContext,
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<string> {
  const child = spawnChild(t, command, args, options);
  let stdout = '';
  child.process.stdout?.on('data', (chunk: string) => {
    stdout += chunk;
  });
  const timer = setTimeout(() => void child.kill(), options.timeoutMs ?? 120_000);
  const status = await child.exited;
  clearTimeout(timer);
  assert.deepEqual(
    status,
    { code: 0, signal: null },
    `${command} ${args.join(' ')} failed\n${child.tail(40)}`,
  );
  return stdout;
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** The tiny daemon a user might write first: HTTP on the supervisor's socket, nothing to seal. */
const DAEMON = `#!/usr/bin/env node
import { createServer } from 'node:http';
import { HttpDrain, runDaemon } from '${PACKAGE.name}';

const [dataDir, controlPath] = process.argv.slice(2);
await runDaemon({
  dataDir,
  controlPath,
  buildId: 'tiny',
  log: { name: 'tiny', level: 'warn' },
  async start(context) {
    const server = createServer((_req, res) => res.end(String(process.pid)));
    const http = new HttpDrain(server);
    await new Promise((resolve) => server.listen(context.takeListener('http'), resolve));
    return {
      drainable: {
        drain: (ctx) => http.drain(ctx),
        seal: async () => ({ lastRevisionPerShard: [], dataDirFingerprint: new Uint8Array(32) }),
        resumeAfterAbort: () => http.resume(),
      },
      readiness: () => ({ listeningOn: ['http'], healthzOk: true, advertisedRevisionPerShard: [] }),
    };
  },
});
`;

/** Both module systems, checked by the repository's TypeScript against the installed package's types. */
const TYPED_ESM = `import { type Drainable, HttpDrain, isHandoffError, listenTcp, runDaemon, Supervisor } from '${PACKAGE.name}';
import { decodeFrame, encodeFrame } from '${PACKAGE.name}/protocol';
import { CrashPoint, crashHere } from '${PACKAGE.name}/testing';
const drainable: Drainable = {
  drain: async () => ({ openConnsRemaining: 0, acceptClosed: true }),
  seal: async () => ({ lastRevisionPerShard: [1n], dataDirFingerprint: new Uint8Array(32) }),
  resumeAfterAbort: async () => {},
};
const frame: Buffer = encodeFrame({ type: 'Heartbeat', tsMs: 0n });
export const used = [drainable, HttpDrain, isHandoffError, listenTcp, runDaemon, Supervisor, decodeFrame(frame), CrashPoint, crashHere];
`;
const TYPED_CJS = `import handoff = require('${PACKAGE.name}');
const start: typeof handoff.runDaemon = handoff.runDaemon;
const error: InstanceType<typeof handoff.HandoffError> = new handoff.HandoffError('Io', 'x');
export = [start, error];
`;

test('the packed package installs with no compiler and no install script, imports both ways, and hands a daemon off', async (t) => {
  const dir = tempDir(t, 'handoff-pack-');
  const env = bareEnvironment(dir, dir);
  for (const tool of BUILD_TOOLS) {
    assert.equal(which(tool, env.PATH), undefined, `${tool} must not be on the consumer's PATH`);
  }

  // A copy of the tree as git sees it (tracked and new files, nothing ignored), so packing builds nothing in
  // this checkout. Its node_modules is this one's: packing needs the dev tools, not a fresh install.
  const tree = join(dir, 'tree');
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  for (const file of listed.split('\0').filter(Boolean)) {
    if (existsSync(join(REPO_ROOT, file))) cpSync(join(REPO_ROOT, file), join(tree, file));
  }
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(tree, 'node_modules'));
  const packEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  await run(t, 'npm', ['pack', '--pack-destination', dir], { cwd: tree, env: packEnv, timeoutMs: 200_000 });
  const tarball = join(dir, `${PACKAGE.name}-${PACKAGE.version}.tgz`);

  const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((path) => path.replace(/^package\//, ''));
  for (const wanted of [
    'LICENSE',
    'README.md',
    'package.json',
    'docs/protocol.md',
    'docs/architecture.md',
    'docs/operations.md',
    'dist/lib/index.js',
    'dist/lib/protocol.js',
    'dist/lib/testing.js',
    'dist/lib/cli.js',
    'bin/handoff',
    'dist/src/index.d.ts',
    'binding.gyp',
    'native/handoff_native.cc',
  ]) {
    assert.ok(files.includes(wanted), `the tarball lacks ${wanted}`);
  }
  assert.ok(
    files.some((path) => /^prebuilds\/linux-x64\/[^/]+\.node$/.test(path)),
    'the tarball has a linux-x64 prebuild',
  );
  if (which('aarch64-linux-gnu-g++')) {
    assert.ok(
      files.some((path) => /^prebuilds\/linux-arm64\/[^/]+\.node$/.test(path)),
      'with the cross compiler installed, the tarball has a linux-arm64 prebuild too',
    );
  }
  const unwanted = files.filter((path) =>
    /^(?:dist\/)?(?:bench|scripts|test|examples)\/|^src\/|^build\/|^node_modules\/|\.test\.|\.tsbuildinfo$/.test(
      path,
    ),
  );
  assert.deepEqual(
    unwanted,
    [],
    'the tarball holds only the library, the CLI, docs and what a source build needs',
  );

  // A user's project, installing from the tarball with scripts off and no build tools.
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  await run(
    t,
    'npm',
    ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball],
    { cwd: app, env },
  );
  const installed = join(app, 'node_modules', PACKAGE.name);
  assert.ok(!existsSync(join(installed, 'build')), 'nothing was built from source');

  // Each entry's names, and the prebuilt addon at work (a listening socket made and closed). The checks
  // from here to the handoff are independent of each other, so they run side by side.
  const probe = `const entries = { main: h, protocol: p, testing: x };
const keys = Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, Object.keys(v).sort()]));
const { fd, port } = h.listenTcp('127.0.0.1', 0); h.closeFd(fd);
const result = (extra) => console.log(JSON.stringify({ keys, port, ...extra }));`;
  writeFileSync(join(app, 'esm.mts'), TYPED_ESM);
  writeFileSync(join(app, 'cjs.cts'), TYPED_CJS);
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        types: ['node'],
        typeRoots: [join(REPO_ROOT, 'node_modules/@types')],
      },
      files: ['esm.mts', 'cjs.cts'],
    }),
  );
  const inApp = { cwd: app, env };
  const [esmOut, cjsOut, , version] = await Promise.all([
    run(
      t,
      'node',
      [
        '--input-type=module',
        '-e',
        `import * as h from '${PACKAGE.name}'; import * as p from '${PACKAGE.name}/protocol'; import * as x from '${PACKAGE.name}/testing';\n${probe}\nresult({});`,
      ],
      inApp,
    ),
    run(
      t,
      'node',
      [
        '-e',
        `const h = require('${PACKAGE.name}'), p = require('${PACKAGE.name}/protocol'), x = require('${PACKAGE.name}/testing');\n${probe}
import('${PACKAGE.name}').then((m) => result({ sameAsImport: m.HandoffError === h.HandoffError }));`,
      ],
      inApp,
    ),
    run(t, 'node', [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], inApp),
    run(t, 'npx', ['--offline', 'handoff', '--version'], inApp),
  ]);
  const esm = JSON.parse(esmOut) as { keys: Record<string, string[]>; port: number };
  const cjs = JSON.parse(cjsOut) as typeof esm & { sameAsImport: boolean };
  assert.deepEqual(cjs.keys, esm.keys);
  assert.equal(cjs.sameAsImport, true, 'require and import load one copy of the package');
  assert.ok(esm.port > 0);
  for (const name of [
    'runDaemon',
    'HttpDrain',
    'Supervisor',
    'DataDirLock',
    'HandoffError',
    'listenTcp',
    'listenUnix',
    'closeFd',
  ]) {
    assert.ok(esm.keys.main!.includes(name), `the main entry exports ${name}`);
  }
  for (const name of ['encodeFrame', 'crashHere', 'HandoffMetric', 'FramedConnection']) {
    assert.ok(!esm.keys.main!.includes(name), `the main entry keeps ${name} out`);
  }
  assert.ok(esm.keys.protocol!.includes('encodeFrame') && esm.keys.testing!.includes('crashHere'));
  assert.equal(version.trim(), `${PACKAGE.name} ${PACKAGE.version}`);

  // The installed `handoff run`, as the bin npm linked, supervising the tiny daemon through one handoff.
  writeFileSync(join(app, 'daemon.mjs'), DAEMON);
  chmodSync(join(app, 'daemon.mjs'), 0o755);
  const trigger = join(dir, 'run', 'trigger.sock');
  writeFileSync(
    join(app, 'handoff.toml'),
    [
      `control_socket = "${join(dir, 'run', 'control.sock')}"`,
      `binary = "${join(app, 'daemon.mjs')}"`,
      `args = ["${join(dir, 'data')}", "${join(dir, 'run', 'control.sock')}"]`,
      `trigger_socket = "${trigger}"`,
      'shutdown_grace_secs = 5',
      'log_level = "warn"',
      '[[listeners]]',
      'name = "http"',
      'addr = "127.0.0.1:0"',
    ].join('\n'),
  );
  const supervisor = spawnChild(
    t,
    join(app, 'node_modules/.bin/handoff'),
    ['run', '--config', 'handoff.toml'],
    {
      cwd: app,
      env,
    },
  );
  sweepAfter(t, `HANDOFF_PACK_TEST=${dir}`);
  const port = await waitFor(
    async () => {
      const status = (await sendTrigger(trigger, 'status')).status as {
        daemon?: { controlSocketAnswers: boolean };
        listeners: Array<{ addr: string }>;
      };
      return status.daemon?.controlSocketAnswers && Number(status.listeners[0]!.addr.split(':').at(-1));
    },
    {
      what: 'the installed supervisor to serve the tiny daemon',
      timeoutMs: 20_000,
      diagnostics: () => supervisor.tail(),
    },
  );
  const before = Number(await httpGet(port));

  const upgrade = await run(
    t,
    join(app, 'node_modules/.bin/handoff'),
    ['upgrade', '--trigger', trigger, '--json'],
    {
      cwd: app,
      env,
    },
  );
  const report = JSON.parse(upgrade) as {
    status: string;
    incumbent: { pid: number };
    successor: { pid: number };
  };
  assert.equal(report.status, 'committed', upgrade);
  assert.equal(report.incumbent.pid, before);
  assert.equal(Number(await httpGet(port)), report.successor.pid);

  process.kill(supervisor.pid, 'SIGTERM');
  assert.deepEqual(await supervisor.exited, { code: 0, signal: null }, supervisor.tail());
  await waitFor(() => processesWithEnv(`HANDOFF_PACK_TEST=${dir}`).length === 0, {
    what: 'the supervisor to leave no daemon behind',
  });
});
