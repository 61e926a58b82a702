// A fresh mkdtemp directory per test, removed by t.after (STYLE rule 21).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** Creates `<os.tmpdir()>/<prefix>XXXXXX` and registers its recursive removal. */
export function tempDir(t: TestContext, prefix = 'handoff-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // Retried: a process of the test that is still being killed may create a file a moment longer.
  t.after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }));
  return dir;
}
