// `npm run prebuilds` (run by `prepack`): the prebuilt addon binaries the package ships in
// prebuilds/<platform>-<arch>/, made with prebuildify (N-API, stripped, tagged glibc). linux-x64 always;
// linux-arm64 too when Debian's cross compiler is installed (`apt-get install g++-aarch64-linux-gnu`).
// Build outputs: never committed (.gitignore). Runs under npm, which puts its node-gyp on PATH.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url));
const PREBUILDS = join(ROOT, 'prebuilds');
/** ELF e_machine values (offset 18, little-endian). */
const ELF_MACHINE: Readonly<Record<string, number>> = { x64: 62, arm64: 183 };
const CROSS_ARM64 = 'aarch64-linux-gnu';

interface Target {
  readonly arch: 'x64' | 'arm64';
  readonly env: NodeJS.ProcessEnv;
}

function main(): number {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    process.stderr.write(`prebuilds: made on linux-x64 only; this is ${process.platform}-${process.arch}\n`);
    return 1;
  }
  rmSync(PREBUILDS, { recursive: true, force: true });
  const targets: Target[] = [];
  // arm64 first: prebuildify builds in build/, and the native build must be the one left there for this
  // clone's own tests (node-gyp-build loads build/Release before any prebuild).
  if (onPath(`${CROSS_ARM64}-g++`)) {
    targets.push({
      arch: 'arm64',
      env: {
        CC: `${CROSS_ARM64}-gcc`,
        CXX: `${CROSS_ARM64}-g++`,
        LINK: `${CROSS_ARM64}-g++`,
        AR: `${CROSS_ARM64}-ar`,
        PREBUILD_STRIP_BIN: `${CROSS_ARM64}-strip`,
      },
    });
  } else {
    process.stderr.write(
      `prebuilds: no ${CROSS_ARM64}-g++ on PATH, so no linux-arm64 binary in this package ` +
        `(apt-get install g++-${CROSS_ARM64}); arm64 installs would build from source\n`,
    );
  }
  targets.push({ arch: 'x64', env: {} });
  for (const target of targets) {
    const status = prebuildify(target);
    if (status !== 0) return status;
    const file = checkBinary(target.arch);
    process.stdout.write(`prebuilds: ${file.slice(ROOT.length)}\n`);
  }
  return loadsHere();
}

function prebuildify(target: Target): number {
  const bin = join(dirname(createRequire(import.meta.url).resolve('prebuildify/package.json')), 'bin.js');
  const args = [bin, '--napi', '--strip', '--tag-libc', '--arch', target.arch];
  const env: NodeJS.ProcessEnv = { ...process.env, ...target.env };
  // node-gyp needs Node's headers; without a configured nodedir it would download them. Node's own
  // install prefix carries them (include/node) on this machine and in Node's official tarballs.
  const prefix = dirname(dirname(process.execPath));
  if (!env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) {
    env.npm_config_nodedir = prefix;
  }
  const result = spawnSync(process.execPath, args, { cwd: ROOT, env, stdio: 'inherit' });
  if (result.status !== 0) {
    process.stderr.write(`prebuilds: prebuildify for linux-${target.arch} failed (${result.status})\n`);
  }
  return result.status ?? 1;
}

/** The one binary prebuildify wrote for `arch`, checked to be an ELF shared object for that machine. */
function checkBinary(arch: Target['arch']): string {
  const dir = join(PREBUILDS, `linux-${arch}`);
  const files = readdirSync(dir).filter((name) => name.endsWith('.node'));
  if (files.length !== 1)
    throw new Error(`expected one .node file in ${dir}, found ${files.join(', ') || 'none'}`);
  const file = join(dir, files[0]!);
  const header = readFileSync(file).subarray(0, 20);
  if (header.toString('latin1', 1, 4) !== 'ELF' || header.readUInt16LE(18) !== ELF_MACHINE[arch]) {
    throw new Error(`${file} is not an ELF object for ${arch} (e_machine ${header.readUInt16LE(18)})`);
  }
  return file;
}

/** The linux-x64 prebuild loads in this Node and has the addon's functions (a build that links is not enough). */
function loadsHere(): number {
  const file = checkBinary('x64');
  const addon = createRequire(import.meta.url)(file) as Record<string, unknown>;
  if (typeof addon.flockExclusiveNonBlocking !== 'function') {
    process.stderr.write(`prebuilds: ${file} loads but lacks flockExclusiveNonBlocking\n`);
    return 1;
  }
  return 0;
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .some((dir) => dir !== '' && existsSync(join(dir, command)));
}

process.exitCode = main();
