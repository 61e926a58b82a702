// The supervisor journal's postcard encoding (SPEC §5.1), and the spawned instance's environment (SPEC §2.1, §8).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isHandoffError } from '../../src/errors.js';
import {
  decodeJournal,
  encodeJournal,
  JOURNAL_PHASES,
  type StateJournal,
} from '../../src/protocol/journal.js';
import { instanceEnv } from '../../src/supervisor/spawn.js';

const ID = '00112233-4455-6677-8899-aabbccddeeff';

test('a journal encodes to the crate-derived bytes and back', () => {
  const journal: StateJournal = {
    handoffId: ID,
    phase: 'Sealing',
    incumbentPid: 4321,
    successorPid: 5678,
    startedAtUnixMs: 1_700_000_000_000n,
  };
  const hex = '1000112233445566778899aabbccddeeff02e12101ae2c80d095ffbc31';
  assert.equal(Buffer.from(encodeJournal(journal)).toString('hex'), hex);
  assert.deepEqual(decodeJournal(Buffer.from(hex, 'hex')), journal);
});

test('journals of every phase, with and without a successor pid, round-trip', () => {
  fc.assert(
    fc.property(
      fc.record({
        handoffId: fc.uuid(),
        phase: fc.constantFrom(...JOURNAL_PHASES),
        incumbentPid: fc.integer({ min: 0, max: 0xffff_ffff }),
        successorPid: fc.option(fc.integer({ min: 0, max: 0xffff_ffff }), { nil: undefined }),
        startedAtUnixMs: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      }),
      (journal) => assert.deepEqual(decodeJournal(encodeJournal(journal)), { ...journal }),
    ),
  );
});

test('a corrupt journal is a Codec error: unknown phase, bad option tag, truncation, trailing bytes', () => {
  const good = Buffer.from('1000112233445566778899aabbccddeeff02e12101ae2c80d095ffbc31', 'hex');
  const cases: Array<[Buffer, RegExp]> = [
    [Buffer.concat([good.subarray(0, 17), Buffer.from([6]), good.subarray(18)]), /unknown journal phase 6/],
    [
      Buffer.concat([good.subarray(0, 20), Buffer.from([2]), good.subarray(21)]),
      /Option tag must be 0 or 1, got 2/,
    ],
    [good.subarray(0, good.length - 1), /payload ends inside journal startedAtUnixMs/],
    [Buffer.concat([good, Buffer.from([0])]), /1 trailing bytes after the journal/],
    [Buffer.alloc(0), /payload ends inside journal handoffId length/],
  ];
  for (const [bytes, pattern] of cases) {
    assert.throws(
      () => decodeJournal(bytes),
      (e: unknown) => isHandoffError(e, 'Codec') && pattern.test(e.message),
      bytes.toString('hex'),
    );
  }
});

test("a successor's env: ours without our crash point, its own from _FOR_N, extra env, role variables last", () => {
  const base = {
    PATH: '/bin',
    HANDOFF_CRASH_AT: 's-after-begin-sent',
    HANDOFF_CRASH_ROLE: 'supervisor',
    HANDOFF_CRASH_AT_FOR_N: 'n-after-begin',
    LISTEN_FDS: '9',
  };
  const env = instanceEnv(
    'successor',
    [
      { name: 'http', fd: 7 },
      { name: 'admin', fd: 8 },
    ],
    { HANDOFF_ROLE: 'x', APP: '1' },
    base,
  );
  assert.equal(env.HANDOFF_CRASH_AT, 'n-after-begin');
  assert.equal(env.HANDOFF_CRASH_ROLE, 'successor');
  assert.equal(env.APP, '1');
  assert.equal(env.PATH, '/bin');
  assert.deepEqual(
    [env.LISTEN_FDS, env.LISTEN_FDNAMES, env.HANDOFF_ROLE, env.HANDOFF_SOCK_FD],
    ['2', 'http:admin', 'successor', '5'],
    'the role variables win over the extra env',
  );
});

test("a cold start's env has no successor variables, and no crash point unless _FOR_O names one", () => {
  const plain = instanceEnv(
    'coldStart',
    [],
    {},
    { HANDOFF_CRASH_AT: 's-after-o-hello', HANDOFF_ROLE: 'successor' },
  );
  assert.equal(plain.HANDOFF_CRASH_AT, undefined);
  assert.equal(plain.HANDOFF_ROLE, undefined);
  assert.equal(plain.HANDOFF_SOCK_FD, undefined);
  assert.deepEqual([plain.LISTEN_FDS, plain.LISTEN_FDNAMES], ['0', '']);
  const crashing = instanceEnv('coldStart', [], {}, { HANDOFF_CRASH_AT_FOR_O: 'o-inside-seal' });
  assert.deepEqual([crashing.HANDOFF_CRASH_AT, crashing.HANDOFF_CRASH_ROLE], ['o-inside-seal', 'incumbent']);
});
