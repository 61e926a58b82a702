// The README's configuration reference is written by hand; this keeps it in step with the keys the
// config loader accepts (src/cli/config.ts), so neither can gain or lose a key alone.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CONFIG_KEYS } from '../../src/cli/config.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

test('the README documents exactly the config keys the loader accepts, each with its default', () => {
  const documented = [...README.matchAll(/^\| `([a-z_]+)`\s*\| ([^|]+?)\s*\|/gm)].map(
    (m) => [m[1]!, m[2]!.trim()] as const,
  );
  assert.deepEqual(documented.map(([key]) => key).sort(), Object.keys(CONFIG_KEYS).sort());
  for (const [key, readmeDefault] of documented) {
    const loaderText = CONFIG_KEYS[key as keyof typeof CONFIG_KEYS];
    const loaderDefault = loaderText.startsWith('required')
      ? 'required'
      : /^default ([^.]+)\./.exec(loaderText)?.[1];
    assert.equal(readmeDefault.replaceAll('`', ''), loaderDefault, key);
  }
});

test("the README's first commands are the two a new user runs", () => {
  const firstScreen = README.split('\n').slice(0, 20).join('\n');
  assert.match(firstScreen, /npm ci && npm run demo/);
  assert.match(firstScreen, /npm ci && npm test/);
});
