// Where this package lives on disk: the nearest folder above the running file that holds binding.gyp and
// package.json. The source (src/, under tsx), tsc's output (dist/src/) and the published bundle (dist/lib/)
// sit at different depths below it; the addon (build/, prebuilds/) and package.json are found from here.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HandoffError } from './errors.js';

/** The package's root folder, searched upwards from `from` (a file URL; default: this module). */
export function packageRoot(from: string = import.meta.url): string {
  const start = dirname(fileURLToPath(from));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'binding.gyp')) && existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) {
      throw new HandoffError(
        'Io',
        `cannot find the daemon-handoff package (a folder with binding.gyp and package.json) above ${start}`,
        { path: start },
      );
    }
  }
}
