// src/inherited-listeners.ts on its own, where no inherited fd is needed: how LISTEN_FDS is read. The
// listeners themselves, at real inherited fds in a child process, are in test/process/inherited-listeners.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InheritedListeners } from '../../src/inherited-listeners.js';

test('an unparseable LISTEN_FDS counts as 0', () => {
  for (const value of ['', 'x', '-1', '1.5']) {
    const env: NodeJS.ProcessEnv = { LISTEN_FDS: value };
    assert.deepEqual(InheritedListeners.fromEnv(env).names, [], value);
    assert.deepEqual(env, {}, `${JSON.stringify(value)}: LISTEN_FDS is consumed all the same`);
  }
});
