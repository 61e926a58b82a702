// Opt-in accept timestamps for the benchmark, preloaded into its daemons with `node --import`: when the env
// var ACCEPT_LOG_ENV names a file, every connection a server in this process accepts appends one line
// `<pid> accept <Unix epoch ms, 0.001 ms>` to it. Nothing in the daemons or the library changes.

import diagnosticsChannel from 'node:diagnostics_channel';
import { openSync, writeSync } from 'node:fs';
import { ACCEPT_LOG_ENV } from './accept-gap.js';

/** The log's fd, opened at the first accept; null once known to be off. */
let fd: number | null | undefined;

// Published by net for every accepted connection, in the worker too under cluster round-robin. The env is
// read at the first accept, not at preload: pm2's cluster worker sets the app's env only after preloads ran.
diagnosticsChannel.subscribe('net.server.socket', () => {
  if (fd === undefined) {
    const path = process.env[ACCEPT_LOG_ENV];
    // O_APPEND: lines from several processes never overwrite each other; a sync write survives SIGKILL.
    fd = path ? openSync(path, 'a') : null;
  }
  if (fd === null) return;
  const nowMs = performance.timeOrigin + performance.now();
  writeSync(fd, `${process.pid} accept ${nowMs.toFixed(3)}\n`);
});
