// What a trigger may name as the new build: an absolute path to a regular file we may execute, inside one
// of `allowed_binary_dirs` when the config lists them. A supervisor runs it with its own rights, so a path
// that resolves elsewhere (a bare name looked up in PATH, a relative path, a symlink out of the allowed
// directories) is refused with a reply that says why.

import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { isAbsolute, sep } from 'node:path';
import { HandoffError } from '../errors.js';

/** Throws `InvalidOption` naming `binary` unless it is a build this supervisor may start. */
export function checkTriggerBinary(binary: string, allowedDirs: readonly string[]): void {
  const refuse = (why: string) =>
    new HandoffError('InvalidOption', `the binary ${JSON.stringify(binary)} ${why}`, { option: 'binary' });
  if (!isAbsolute(binary)) throw refuse('must be an absolute path');
  let real: string;
  try {
    real = realpathSync(binary);
    if (!statSync(real).isFile()) throw refuse('is not a regular file');
    accessSync(real, constants.X_OK);
  } catch (error) {
    if (error instanceof HandoffError) throw error;
    throw refuse(`cannot be executed: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if (allowedDirs.length === 0) return;
  const inside = allowedDirs.some((dir) => {
    let root: string;
    try {
      root = realpathSync(dir);
    } catch {
      return false;
    }
    return real.startsWith(root.endsWith(sep) ? root : root + sep);
  });
  if (!inside) throw refuse(`resolves to ${real}, outside allowed_binary_dirs (${allowedDirs.join(', ')})`);
}
