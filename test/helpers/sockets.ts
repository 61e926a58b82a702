// Real connected Unix stream sockets for in-process protocol tests, cleaned up through the test context.

import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { tempDir } from './temp-dir.js';

/** Two ends of one connection over a real Unix socket in a temp dir; both destroyed after the test. */
export async function socketPair(t: TestContext): Promise<{ left: Socket; right: Socket }> {
  const path = join(tempDir(t), 'pair.sock');
  const server = createServer();
  t.after(() => server.close());
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const left = createConnection(path);
  t.after(() => left.destroy());
  await new Promise<void>((resolve, reject) => left.once('error', reject).once('connect', resolve));
  const right = await accepted;
  t.after(() => right.destroy());
  return { left, right };
}
