// writeFileAtomic's temporary files: each write gets its own name (so concurrent writers never collide on
// O_EXCL), none is left behind, and a failed write leaves the old file as it was.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../src/atomic-file.js';
import { tempDir } from '../helpers/temp-dir.js';
import { tmpfs } from '../helpers/tmpfs.js';

test('50 concurrent writes to one path all succeed, the file holds one of them, and no temp file is left', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'state');
  const contents = Array.from({ length: 50 }, (_, i) => `write ${i}\n`);
  // The writes overlap, so many temporary files exist at once: one name drawn twice would fail with EEXIST.
  await Promise.all(contents.map((content) => writeFileAtomic(path, content)));
  assert.ok(contents.includes(readFileSync(path, 'utf8')));
  assert.deepEqual(readdirSync(dir), ['state']);
  assert.equal(statSync(path).mode & 0o777, 0o600);
});

test('a write that runs out of space throws ENOSPC, leaves the old content and removes its temp file', async (t) => {
  const dir = tmpfs(t, 64);
  if (!dir) return;
  const path = join(dir, 'state');
  writeFileSync(path, 'old');
  // 256 KiB into a 64 KiB filesystem: the temp file is created, and its write fails part-way.
  await assert.rejects(writeFileAtomic(path, Buffer.alloc(256 * 1024, 1)), { code: 'ENOSPC' });
  assert.equal(readFileSync(path, 'utf8'), 'old');
  assert.deepEqual(readdirSync(dir), ['state']);
});
