// `handoff run` configuration (src/cli/config.ts): defaults written once, and one clear line naming the
// file and the key for every kind of mistake.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfigFile, validateConfig } from '../../src/cli/config.js';
import { tempDir } from '../helpers/temp-dir.js';

const MINIMAL =
  'control_socket = "/run/kv/control.sock"\nbinary = "/usr/local/bin/kv"\ntrigger_socket = "/run/kv/trigger.sock"\n';

function load(t: Parameters<typeof tempDir>[0], toml: string) {
  const path = join(tempDir(t), 'handoff.toml');
  writeFileSync(path, toml);
  return { path, load: () => loadConfigFile(path) };
}

test('a minimal config gets the documented defaults', (t) => {
  const config = load(t, MINIMAL).load();
  assert.equal(config.controlSocket, '/run/kv/control.sock');
  assert.deepEqual(config.args, []);
  assert.deepEqual(config.env, {});
  assert.deepEqual(config.listeners, []);
  assert.equal(config.journal, undefined);
  assert.equal(config.drainGraceMs, 25_000);
  assert.equal(config.deadlineMs, 60_000);
  assert.equal(config.allowUnhealthy, false);
  assert.equal(config.verifyRevisions, false);
  assert.equal(config.restartBackoffMs, 1000);
  assert.equal(config.logLevel, 'info');
});

test("the Rust reference's keys parse: listeners, env pairs, budgets; relative paths resolve against the file", (t) => {
  const { path, load: read } = load(
    t,
    `${MINIMAL}args = ["--port", "0"]\nenv = [["A", "1"], ["B", "2"]]\njournal = "state/journal.bin"\n` +
      'drain_grace_secs = 5\ndeadline_secs = 20\n' +
      '[[listeners]]\nname = "http"\naddr = "127.0.0.1:8080"\n' +
      '[[listeners]]\nname = "v6"\naddr = "[::1]:9090"\n' +
      '[[listeners]]\nname = "sock"\naddr = "unix:app.sock"\nmode = 0o660\n',
  );
  const config = read();
  assert.deepEqual(config.env, { A: '1', B: '2' });
  assert.equal(config.journal, join(path, '..', 'state/journal.bin'));
  assert.equal(config.drainGraceMs, 5000);
  assert.equal(config.deadlineMs, 20_000);
  assert.deepEqual(config.listeners, [
    { name: 'http', addr: { kind: 'tcp', host: '127.0.0.1', port: 8080 } },
    { name: 'v6', addr: { kind: 'tcp', host: '::1', port: 9090 } },
    { name: 'sock', addr: { kind: 'unix', path: join(path, '..', 'app.sock'), mode: 0o660 } },
  ]);
});

test('probation, probing, metrics and history are off or at their documented defaults, and parse when given', (t) => {
  const defaults = load(t, MINIMAL).load();
  assert.deepEqual(
    [defaults.probationMs, defaults.probeUrl, defaults.probeIntervalMs, defaults.probeFailures],
    [0, undefined, 1000, 3],
  );
  assert.deepEqual([defaults.metricsAddr, defaults.historySize], [undefined, 50]);
  const given = load(
    t,
    `${MINIMAL}probation_secs = 120\nprobe_url = "http://127.0.0.1:8080/healthz"\nprobe_interval_ms = 250\n` +
      'probe_failures = 5\nmetrics_addr = "[::1]:9464"\nhistory_size = 10\n',
  ).load();
  assert.deepEqual(
    [given.probationMs, given.probeUrl?.href, given.probeIntervalMs, given.probeFailures],
    [120_000, 'http://127.0.0.1:8080/healthz', 250, 5],
  );
  assert.deepEqual([given.metricsAddr, given.historySize], [{ host: '::1', port: 9464 }, 10]);
});

test('env may also be a table', (t) => {
  assert.deepEqual(load(t, `${MINIMAL}[env]\nA = "1"\n`).load().env, { A: '1' });
});

const mistakes: Array<[string, string, RegExp]> = [
  ['a missing required key', 'binary = "/bin/kv"\ntrigger_socket = "/t"\n', /: control_socket: is required$/],
  [
    'an unknown key',
    `${MINIMAL}drain_grace = 5\n`,
    /: drain_grace: unknown key \(known keys: control_socket, binary, /,
  ],
  [
    'a bad addr',
    `${MINIMAL}[[listeners]]\nname = "http"\naddr = "localhost"\n`,
    /: listeners\[0\]\.addr: expected "host:port", "\[v6\]:port" or "unix:\/path", got "localhost"$/,
  ],
  [
    'a port out of range',
    `${MINIMAL}[[listeners]]\nname = "http"\naddr = "127.0.0.1:70000"\n`,
    /listeners\[0\]\.addr: expected/,
  ],
  [
    'an unknown listener key',
    `${MINIMAL}[[listeners]]\nname = "http"\naddr = "127.0.0.1:1"\nport = 1\n`,
    /listeners\[0\]\.port: unknown key/,
  ],
  [
    'a duplicate listener name',
    `${MINIMAL}[[listeners]]\nname = "a"\naddr = "127.0.0.1:1"\n[[listeners]]\nname = "a"\naddr = "127.0.0.1:2"\n`,
    /listeners\[1\]\.name: duplicate listener name "a"/,
  ],
  [
    'a wrong type',
    `${MINIMAL}deadline_secs = "60"\n`,
    /: deadline_secs: expected a number ≥ 0\.001, got "60"$/,
  ],
  [
    'a probe_url that is not http',
    `${MINIMAL}probe_url = "https://x/healthz"\n`,
    /: probe_url: expected an http:\/\/ URL/,
  ],
  [
    'a metrics_addr that is a path',
    `${MINIMAL}metrics_addr = "unix:/m.sock"\n`,
    /: metrics_addr: expected "host:port"/,
  ],
  [
    'a probe_failures of 0',
    `${MINIMAL}probe_failures = 0\n`,
    /: probe_failures: expected a number ≥ 1, got 0$/,
  ],
  ['a bad env pair', `${MINIMAL}env = [["A"]]\n`, /: env\[0\]: expected \["KEY", "value"\], got \["A"\]$/],
  [
    'an env name that is not a POSIX name',
    `${MINIMAL}env = [["A-B", "1"]]\n`,
    /: env\.A-B: expected a POSIX variable name/,
  ],
  [
    'a crash-injection variable in env',
    `${MINIMAL}[env]\nHANDOFF_CRASH_AT_FOR_O = "o-inside-seal"\n`,
    /: env\.HANDOFF_CRASH_AT_FOR_O: is reserved/,
  ],
  ['the fd layout in env', `${MINIMAL}[env]\nLISTEN_FDS = "3"\n`, /: env\.LISTEN_FDS: is reserved/],
  [
    'a NUL in an env value',
    `${MINIMAL}[env]\nA = "x\\u0000y"\n`,
    /: env\.A: a value cannot contain a NUL byte/,
  ],
  [
    'a duration longer than a timer can wait',
    `${MINIMAL}deadline_secs = 9999999\n`,
    /: deadline_secs: expected at most 2147483\.647, got 9999999$/,
  ],
  ['invalid TOML', 'control_socket = \n', /handoff\.toml:1: invalid TOML: /],
];
for (const [what, toml, pattern] of mistakes) {
  test(`${what} is one line naming the file and the key`, (t) => {
    const { path, load: read } = load(t, toml);
    assert.throws(read, (e: unknown) => {
      if (!(e instanceof ConfigError)) return false;
      assert.ok(e.message.startsWith(path), e.message);
      assert.equal(e.message.includes('\n'), false, e.message);
      assert.match(e.message, pattern);
      return true;
    });
  });
}

test('a missing file is named', () => {
  assert.throws(
    () => loadConfigFile('/nonexistent/handoff.toml'),
    /^ConfigError: \/nonexistent\/handoff\.toml: cannot read the config file/,
  );
});

test('flags alone validate like a file, named "command line"', () => {
  assert.throws(
    () => validateConfig({ binary: '/x' }, 'command line'),
    /^ConfigError: command line: control_socket: is required$/,
  );
});
