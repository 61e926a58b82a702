// STYLE rule 3: src/protocol/ is pure. Biome enforces it on every lint; this test makes it a test failure
// too, by reading every import line of every file in src/protocol/.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

const PROTOCOL_DIR = new URL('../../src/protocol/', import.meta.url);
const IMPORT_FROM = /^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm;
const ALLOWED = (specifier: string) => specifier.startsWith('./') || specifier === '../errors.js';

test('src/protocol/ imports only itself and the pure errors module', () => {
  const files = readdirSync(PROTOCOL_DIR).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 5, `found only ${files.join(', ')}`);
  for (const file of files) {
    const source = readFileSync(new URL(file, PROTOCOL_DIR), 'utf8');
    for (const match of source.matchAll(IMPORT_FROM)) {
      assert.ok(ALLOWED(match[1]!), `src/protocol/${file} imports ${match[1]}`);
    }
    assert.doesNotMatch(source, /\b(?:require|import)\s*\(/, `src/protocol/${file} has a dynamic import`);
    assert.doesNotMatch(
      source,
      /\bprocess\.|\bsetTimeout\b|\bsetInterval\b/,
      `src/protocol/${file} touches the process or timers`,
    );
  }
});
