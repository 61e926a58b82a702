// How `handoff run` writes its log lines (src/cli/log-options.ts): log_format auto picks pretty at a
// terminal and JSON elsewhere, colours only at a terminal without NO_COLOR, and the config key is checked.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, validateConfig } from '../../src/cli/config.js';
import { supervisorLogOptions } from '../../src/cli/log-options.js';

const REQUIRED = {
  control_socket: '/run/kv/control.sock',
  binary: '/usr/bin/kv',
  trigger_socket: '/run/kv/t.sock',
};

test('the supervisor logs pretty with colours at a terminal, JSON elsewhere, and as configured when told', () => {
  const auto = { logLevel: 'info', logFormat: 'auto' } as const;
  assert.deepEqual(supervisorLogOptions(auto, {}, true), { level: 'info', format: 'pretty', color: true });
  assert.deepEqual(supervisorLogOptions(auto, { NO_COLOR: '1' }, true), {
    level: 'info',
    format: 'pretty',
    color: false,
  });
  assert.deepEqual(supervisorLogOptions(auto, {}, false), { level: 'info', format: 'json', color: false });
  assert.deepEqual(supervisorLogOptions({ logLevel: 'debug', logFormat: 'pretty' }, {}, false), {
    level: 'debug',
    format: 'pretty',
    color: false,
  });
  assert.equal(supervisorLogOptions({ logLevel: 'info', logFormat: 'json' }, {}, true).format, 'json');
});

test('log_format defaults to auto, takes json or pretty, and anything else names the key', () => {
  assert.equal(validateConfig(REQUIRED, 'test').logFormat, 'auto');
  assert.equal(validateConfig({ ...REQUIRED, log_format: 'pretty' }, 'test').logFormat, 'pretty');
  assert.throws(
    () => validateConfig({ ...REQUIRED, log_format: 'yaml' }, 'handoff.toml'),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.message === 'handoff.toml: log_format: expected auto, json or pretty, got "yaml"',
  );
});
