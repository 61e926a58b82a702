// The supervisor's connect to the control path (src/supervisor/handoff-run.ts): it waits out the moment
// between a Commit and the new incumbent's bind, and gives up with an error naming the path.

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { isHandoffError } from '../../src/errors.js';
import { connectControl } from '../../src/supervisor/handoff-run.js';
import { tempDir } from '../helpers/temp-dir.js';

test('connectControl retries while the path leads nowhere, and connects once a listener appears', async (t) => {
  const path = join(tempDir(t), 'control.sock');
  const server = createServer((socket) => socket.end());
  t.after(() => server.close());
  setTimeout(() => server.listen(path), 150);
  const started = Date.now();
  const conn = await connectControl(path, 1000, 3000);
  conn.destroy();
  assert.ok(Date.now() - started >= 100, 'it waited for the listener');
});

test('connectControl gives up after its retry window with Io naming the path', async (t) => {
  const path = join(tempDir(t), 'nobody.sock');
  const started = Date.now();
  await assert.rejects(
    connectControl(path, 1000, 200),
    (e: unknown) => isHandoffError(e, 'Io') && e.details.errno === 'ENOENT' && e.message.includes(path),
  );
  assert.ok(Date.now() - started >= 200);
});
