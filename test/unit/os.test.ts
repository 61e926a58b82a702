// src/os.ts argument checks that fail before any syscall (SPEC §5.2 [beyond] sun_path limit, STYLE rule 13).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHandoffError } from '../../src/errors.js';
import {
  checkSocketPath,
  closeFd,
  listenTcp,
  listenUnix,
  SUN_PATH_MAX,
  tryFlockExclusive,
} from '../../src/os.js';

test('a socket path of exactly SUN_PATH_MAX bytes passes and one byte more is SocketPathTooLong', () => {
  assert.equal(SUN_PATH_MAX, 107);
  checkSocketPath(`/${'a'.repeat(106)}`);
  const tooLong = `/${'a'.repeat(107)}`;
  assert.throws(
    () => checkSocketPath(tooLong),
    (error) =>
      isHandoffError(error, 'SocketPathTooLong') &&
      error.details.path === tooLong &&
      error.message.includes(`${tooLong} is 108 bytes`),
  );
});

test('socket path length is measured in UTF-8 bytes, not characters', () => {
  const path = `/${'é'.repeat(54)}`; // 55 characters, 109 bytes
  assert.throws(
    () => checkSocketPath(path),
    (error) => isHandoffError(error, 'SocketPathTooLong'),
  );
});

test('an empty socket path or one containing NUL is InvalidOption', () => {
  assert.throws(
    () => checkSocketPath(''),
    (error) => isHandoffError(error, 'InvalidOption'),
  );
  assert.throws(
    () => listenUnix('/tmp/a\0b'),
    (error) => isHandoffError(error, 'InvalidOption'),
  );
});

test('listenTcp refuses a host name, a port out of range and a non-integer backlog, naming the option', () => {
  assert.throws(
    () => listenTcp('localhost', 0),
    (error) => isHandoffError(error, 'InvalidOption') && error.details.option === 'host',
  );
  assert.throws(
    () => listenTcp('127.0.0.1', 65536),
    (error) =>
      isHandoffError(error, 'InvalidOption') &&
      error.message === 'port must be an integer from 0 to 65535, got 65536 (number)',
  );
  assert.throws(
    () => listenTcp('127.0.0.1', 0, 1.5),
    (error) => isHandoffError(error, 'InvalidOption') && error.details.option === 'backlog',
  );
});

test('a non-integer or negative fd is InvalidOption, never fd 0', () => {
  for (const fd of [Number.NaN, -1, 3.5]) {
    assert.throws(
      () => closeFd(fd),
      (error) => isHandoffError(error, 'InvalidOption'),
    );
    assert.throws(
      () => tryFlockExclusive(fd),
      (error) => isHandoffError(error, 'InvalidOption'),
    );
  }
});
