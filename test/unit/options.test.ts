// Option validation shared by every public entry (src/options.ts, STYLE rule 13): the message names the
// option, echoes the value and gives its type; integers, build ids, and the timing options with their
// defaults, the zero they may take, and the longest a timer can wait.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHandoffError } from '../../src/errors.js';
import {
  buildIdBytes,
  invalidOption,
  nonNegativeInteger,
  positiveInteger,
  timingOptions,
} from '../../src/options.js';
import { DEFAULTS, MAX_TIMER_MS } from '../../src/timing.js';

/** An assert.throws matcher: InvalidOption for `option`, with exactly `message`. */
function refused(option: string, message: string) {
  return (error: unknown) =>
    isHandoffError(error, 'InvalidOption') && error.details.option === option && error.message === message;
}

test('invalidOption names the option, echoes the value and gives its type', () => {
  const cases: Array<[unknown, string]> = [
    [-1, '-1 (number)'],
    [1.5, '1.5 (number)'],
    ['5', '"5" (string)'],
    [5n, '5n (bigint)'],
    [true, 'true (boolean)'],
    [null, 'null (object)'],
    [undefined, 'undefined (undefined)'],
    [{ ms: 5 }, '{"ms":5} (object)'],
    [[1, 2], '[1,2] (object)'],
  ];
  for (const [value, shown] of cases) {
    const error = invalidOption('deadlineMs', 'a positive integer', value);
    assert.ok(isHandoffError(error, 'InvalidOption'), String(error));
    assert.equal(error.message, `deadlineMs must be a positive integer, got ${shown}`);
    assert.deepEqual(error.details, { option: 'deadlineMs' });
  }
});

test('positiveInteger: the fallback when not given, the value when a positive safe integer, else InvalidOption', () => {
  assert.equal(positiveInteger('backlog', undefined, 511), 511);
  assert.equal(positiveInteger('backlog', 1, 511), 1);
  assert.equal(positiveInteger('backlog', Number.MAX_SAFE_INTEGER, 511), Number.MAX_SAFE_INTEGER);
  const cases: Array<[unknown, string]> = [
    [0, '0 (number)'],
    [-1, '-1 (number)'],
    [1.5, '1.5 (number)'],
    [Number.MAX_SAFE_INTEGER + 1, '9007199254740992 (number)'],
    ['5', '"5" (string)'],
    [5n, '5n (bigint)'],
    [null, 'null (object)'],
  ];
  for (const [value, shown] of cases) {
    assert.throws(
      () => positiveInteger('backlog', value, 511),
      refused('backlog', `backlog must be a positive integer, got ${shown}`),
      String(value),
    );
  }
  for (const value of [Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(
      () => positiveInteger('backlog', value, 511),
      (error: unknown) => isHandoffError(error, 'InvalidOption') && error.details.option === 'backlog',
      String(value),
    );
  }
});

test('nonNegativeInteger takes 0, and refuses what positiveInteger refuses below it', () => {
  assert.equal(nonNegativeInteger('wireSlackMs', undefined, 1000), 1000);
  assert.equal(nonNegativeInteger('wireSlackMs', 0, 1000), 0);
  assert.equal(nonNegativeInteger('wireSlackMs', 7, 1000), 7);
  const cases: Array<[unknown, string]> = [
    [-1, '-1 (number)'],
    [0.5, '0.5 (number)'],
    ['0', '"0" (string)'],
    [null, 'null (object)'],
  ];
  for (const [value, shown] of cases) {
    assert.throws(
      () => nonNegativeInteger('wireSlackMs', value, 1000),
      refused('wireSlackMs', `wireSlackMs must be a non-negative integer, got ${shown}`),
      String(value),
    );
  }
});

test('buildIdBytes: nothing is empty, a string is its UTF-8, bytes are taken as given, anything else is InvalidOption', () => {
  assert.deepEqual(buildIdBytes('buildId', undefined), new Uint8Array(0));
  assert.deepEqual(buildIdBytes('buildId', 'v1-é'), new Uint8Array([0x76, 0x31, 0x2d, 0xc3, 0xa9]));
  assert.deepEqual(buildIdBytes('buildId', new Uint8Array([1, 2, 3])), new Uint8Array([1, 2, 3]));
  assert.deepEqual(buildIdBytes('buildId', Buffer.from('abc')), Buffer.from('abc'), 'a Buffer is bytes too');
  const cases: Array<[unknown, string]> = [
    [42, '42 (number)'],
    [null, 'null (object)'],
    [[1, 2], '[1,2] (object)'],
  ];
  for (const [value, shown] of cases) {
    assert.throws(
      () => buildIdBytes('buildId', value),
      refused('buildId', `buildId must be a string or a Uint8Array, got ${shown}`),
      String(value),
    );
  }
});

/** Every entry of DEFAULTS that is a duration (the others, backlog and maxQueuedConnections, are counts). */
const DURATIONS = (Object.keys(DEFAULTS) as Array<keyof typeof DEFAULTS>).filter(
  (name): name is Exclude<keyof typeof DEFAULTS, 'backlog' | 'maxQueuedConnections'> =>
    name !== 'backlog' && name !== 'maxQueuedConnections',
);

test('timingOptions resolves exactly the names asked for, each given value or its default', () => {
  assert.deepEqual(timingOptions({}, ['livenessTimeoutMs', 'wireSlackMs']), {
    livenessTimeoutMs: DEFAULTS.livenessTimeoutMs,
    wireSlackMs: DEFAULTS.wireSlackMs,
  });
  // An option not named is neither returned nor checked: callers pass their whole options object.
  const given = { livenessTimeoutMs: 300, deadlineMs: -1, logger: console };
  assert.deepEqual(timingOptions(given, ['livenessTimeoutMs', 'heartbeatIntervalMs']), {
    livenessTimeoutMs: 300,
    heartbeatIntervalMs: DEFAULTS.heartbeatIntervalMs,
  });
  const { backlog, maxQueuedConnections, ...durations } = DEFAULTS;
  assert.deepEqual(timingOptions({}, DURATIONS), durations, 'every default passes its own check');
});

test('timingOptions refuses 0 for every duration but wireSlackMs, resumeFlockTimeoutMs and drainQuietMs', () => {
  const zeroAllowed = new Set(['wireSlackMs', 'resumeFlockTimeoutMs', 'drainQuietMs']);
  for (const name of DURATIONS) {
    if (zeroAllowed.has(name)) {
      assert.deepEqual(timingOptions({ [name]: 0 }, [name]), { [name]: 0 }, name);
      assert.throws(
        () => timingOptions({ [name]: -1 }, [name]),
        refused(name, `${name} must be a non-negative integer, got -1 (number)`),
      );
    } else {
      assert.throws(
        () => timingOptions({ [name]: 0 }, [name]),
        refused(name, `${name} must be a positive integer, got 0 (number)`),
      );
    }
  }
});

test('timingOptions refuses a duration longer than a timer can wait (2^31 − 1 ms), zero-allowed ones too', () => {
  assert.equal(MAX_TIMER_MS, 2 ** 31 - 1);
  for (const name of ['deadlineMs', 'wireSlackMs'] as const) {
    assert.deepEqual(timingOptions({ [name]: MAX_TIMER_MS }, [name]), { [name]: MAX_TIMER_MS });
    assert.throws(
      () => timingOptions({ [name]: MAX_TIMER_MS + 1 }, [name]),
      refused(name, `${name} must be at most 2147483647 ms, got 2147483648 (number)`),
    );
  }
});

test('a value no JSON can show is still echoed, and the error is InvalidOption', () => {
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  for (const [value, shown] of [
    [Number.NaN, 'NaN (number)'],
    [Number.POSITIVE_INFINITY, 'Infinity (number)'],
    [circular, '[object Object] (object)'],
    [{ revision: 1n }, '[object Object] (object)'],
    [function hook() {}, '[function hook] (function)'],
    [5n, '5n (bigint)'],
    ['5', '"5" (string)'],
  ] as const) {
    assert.throws(
      () => positiveInteger('deadlineMs', value, 1),
      refused('deadlineMs', `deadlineMs must be a positive integer, got ${shown}`),
    );
  }
});
