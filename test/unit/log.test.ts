// The default logger (src/log.ts): pino-shaped JSON lines written synchronously (the line is in the file when
// the call returns), levels, fields that cannot shadow the writer's own keys, values JSON has no form for,
// the readable format, and a write that fails costing the line but never an exception.

import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { HandoffError } from '../../src/errors.js';
import { createLogger, type LoggerOptions } from '../../src/log.js';
import { tempDir } from '../helpers/temp-dir.js';

const ESC = String.fromCharCode(27);

/** A logger writing to a fresh file, and the lines written so far, each read back right after the call. */
function fileLogger(t: TestContext, options: LoggerOptions = {}) {
  const path = join(tempDir(t, 'handoff-log-'), 'log');
  const fd = openSync(path, 'a');
  t.after(() => closeSync(fd));
  const logger = createLogger('test', { ...options, fd });
  const lines = () => readFileSync(path, 'utf8').split('\n').filter(Boolean);
  return { logger, lines, json: () => lines().map((line) => JSON.parse(line) as Record<string, unknown>) };
}

test('a JSON line has pino keys in order, the fields, then msg, and is on disk when the call returns', (t) => {
  const { logger, json, lines } = fileLogger(t);
  const before = Date.now();
  logger.info({ handoffId: 'h1', drainMs: 12 }, 'drained');
  const after = Date.now();
  assert.equal(lines().length, 1);
  const [entry] = json();
  assert.deepEqual(Object.keys(entry!), ['level', 'time', 'pid', 'name', 'handoffId', 'drainMs', 'msg']);
  assert.equal(entry!.level, 30);
  assert.equal(entry!.pid, process.pid);
  assert.equal(entry!.name, 'test');
  assert.equal(entry!.msg, 'drained');
  // The time of the call, in Unix ms: between the clock readings around it.
  const time = entry!.time;
  assert.ok(
    typeof time === 'number' && time >= before && time <= after,
    `time ${time} in [${before}, ${after}]`,
  );
});

test('entries below the level are dropped; each level has pino’s number', (t) => {
  const { logger, json } = fileLogger(t, { level: 'warn' });
  logger.debug({}, 'd');
  logger.info({}, 'i');
  logger.warn({}, 'w');
  logger.error({}, 'e');
  assert.deepEqual(
    json().map((e) => [e.level, e.msg]),
    [
      [40, 'w'],
      [50, 'e'],
    ],
  );
  const all = fileLogger(t, { level: 'debug' });
  all.logger.debug({}, 'd');
  assert.equal(all.json()[0]!.level, 20);
});

test('a field named like an entry key is kept under another name, never shadowing the writer’s pid', (t) => {
  const { logger, json } = fileLogger(t);
  logger.info({ pid: 4242, name: 'other', level: 'x', msg: 'y' }, 'child started');
  const [entry] = json();
  assert.equal(entry!.pid, process.pid);
  assert.equal(entry!.name, 'test');
  assert.equal(entry!.level, 30);
  assert.equal(entry!.msg, 'child started');
  assert.equal(entry!['fields.pid'], 4242);
  assert.equal(entry!['fields.name'], 'other');
});

test('bigints, byte arrays, errors with their cause and code, and cycles all become JSON', (t) => {
  const { logger, json } = fileLogger(t);
  const cause = Object.assign(new Error('ENOSPC: no space'), { code: 'ENOSPC' });
  const error = new HandoffError(
    'Io',
    'cannot write the pidfile',
    { path: '/d/.handoff.pidfile' },
    { cause },
  );
  const loop: Record<string, unknown> = { a: 1 };
  loop.self = loop;
  logger.error({ revision: 2n ** 64n - 1n, bytes: Buffer.from([1, 255]), err: error, loop }, 'failed');
  const [entry] = json();
  assert.equal(entry!.revision, '18446744073709551615');
  assert.equal(entry!.bytes, '01ff');
  const err = entry!.err as Record<string, unknown>;
  assert.equal(err.type, 'HandoffError');
  assert.equal(err.message, 'cannot write the pidfile');
  assert.equal(err.code, 'Io');
  assert.deepEqual(err.details, { path: '/d/.handoff.pidfile' });
  assert.match(String(err.stack), /cannot write the pidfile/);
  assert.deepEqual((err.cause as Record<string, unknown>).code, 'ENOSPC');
  assert.deepEqual(entry!.loop, { a: 1, self: '[Circular]' });
});

test('the pretty format is one line per entry, fields as key=value, an error’s stack indented below', (t) => {
  const { logger, lines } = fileLogger(t, { format: 'pretty' });
  logger.warn({ daemonPid: 12, binary: '/usr/bin/kv', reason: 'two words' }, 'daemon exited');
  logger.error({ err: new Error('boom') }, 'start-up failed');
  const [first, second, ...stack] = lines();
  assert.match(
    first!,
    /^\d\d:\d\d:\d\d\.\d{3} WARN {2}test: daemon exited daemonPid=12 binary=\/usr\/bin\/kv reason="two words"$/,
  );
  assert.match(second!, /^\d\d:\d\d:\d\d\.\d{3} ERROR test: start-up failed err="boom"$/);
  assert.match(stack[0]!, /^ {4}Error: boom$/);
  assert.ok(!lines().join('\n').includes(ESC), 'no colours unless asked');
  const colored = fileLogger(t, { format: 'pretty', color: true });
  colored.logger.info({}, 'hi');
  assert.ok(colored.lines()[0]!.includes(`${ESC}[32mINFO `), colored.lines()[0]);
});

test('a line that cannot be written is lost without an exception', () => {
  const fd = openSync('/dev/null', 'r');
  closeSync(fd);
  const logger = createLogger('test', { fd });
  assert.doesNotThrow(() => logger.error({ err: new Error('x') }, 'into a closed fd'));
});
