// The successor's side (SPEC §5.3) played against a test supervisor over a real Unix socket, and the parts
// of detectRole that need no inherited fds (how it reads the listeners: test/unit/inherited-listeners).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHandoffError } from '../../src/errors.js';
import { InheritedListeners } from '../../src/inherited-listeners.js';
import { dupFd, socketFd } from '../../src/os.js';
import { newHandoffId } from '../../src/protocol/handoff-id.js';
import { detectRole, Successor } from '../../src/successor.js';
import { FramedConnection } from '../../src/wire.js';
import { socketPair } from '../helpers/sockets.js';

test('no role env is a cold start with no listeners', () => {
  const env: NodeJS.ProcessEnv = {};
  const role = detectRole(env);
  assert.equal(role.kind, 'coldStart');
  assert.deepEqual(role.kind === 'coldStart' && role.listeners.names, []);
});

test('HANDOFF_ROLE other than "successor" is a cold start, and HANDOFF_ROLE is left in place', () => {
  for (const value of ['other', '', 'Successor', 'successor ']) {
    const env: NodeJS.ProcessEnv = { HANDOFF_ROLE: value, LISTEN_FDS: '0', LISTEN_FDNAMES: '' };
    assert.equal(detectRole(env).kind, 'coldStart', JSON.stringify(value));
    assert.deepEqual(env, { HANDOFF_ROLE: value });
  }
});

test('a successor without HANDOFF_SOCK_FD fails with MissingEnv, and the role env is consumed', () => {
  const env: NodeJS.ProcessEnv = { HANDOFF_ROLE: 'successor', LISTEN_FDS: '0' };
  assert.throws(
    () => detectRole(env),
    (e: unknown) => isHandoffError(e, 'MissingEnv') && e.details.variable === 'HANDOFF_SOCK_FD',
  );
  assert.deepEqual(env, {});
});

test('a successor whose HANDOFF_SOCK_FD is not a number fails with BadEnv naming the value', () => {
  for (const value of ['abc', '', '3x', '-3']) {
    assert.throws(
      () => detectRole({ HANDOFF_ROLE: 'successor', HANDOFF_SOCK_FD: value }),
      (e: unknown) =>
        isHandoffError(e, 'BadEnv') && e.details.value === value && e.details.variable === 'HANDOFF_SOCK_FD',
    );
  }
});

/** A Successor over a real socket (it owns a duplicate fd), and the test's end as the supervisor. */
async function successorAndSupervisor(t: Parameters<typeof socketPair>[0]) {
  const { left, right } = await socketPair(t);
  const successor = new Successor(dupFd(socketFd(left)), InheritedListeners.none(), {
    helloReadTimeoutMs: 300,
    heartbeatIntervalMs: 30,
  });
  left.destroy(); // the successor's duplicate is now the only successor-side fd
  const sup = new FramedConnection(right, { peer: 'successor' });
  return { successor, sup, socket: right };
}

test('handshake sends Hello as Successor with our pid and takes the HelloAck; a second call is refused', async (t) => {
  const { successor, sup } = await successorAndSupervisor(t);
  const id = newHandoffId();
  const handshaking = successor.handshake('build-7');
  const { message: hello, version } = await sup.read(2000, 'Hello');
  assert.equal(version, 1);
  assert.equal(hello.type === 'Hello' && hello.role, 'Successor');
  assert.equal(hello.type === 'Hello' && hello.pid, process.pid);
  assert.equal(hello.type === 'Hello' && Buffer.from(hello.buildId).toString(), 'build-7');
  await sup.write({ type: 'HelloAck', protoVersionChosen: 1, handoffId: id });
  const handshook = await handshaking;
  assert.equal(handshook.handoffId, id);
  await assert.rejects(successor.handshake(), (e: unknown) => isHandoffError(e, 'Protocol'));
  t.after(() => sup.destroy());
});

test('a HelloAck choosing a version outside our range fails the handshake with VersionMismatch', async (t) => {
  const { successor, sup } = await successorAndSupervisor(t);
  t.after(() => sup.destroy());
  const handshaking = successor.handshake();
  await sup.read(2000, 'Hello');
  await sup.write({ type: 'HelloAck', protoVersionChosen: 2, handoffId: newHandoffId() });
  await assert.rejects(handshaking, (e: unknown) => isHandoffError(e, 'VersionMismatch'));
});

test('no HelloAck within the timeout fails the handshake with Timeout', async (t) => {
  const { successor, sup } = await successorAndSupervisor(t);
  t.after(() => sup.destroy());
  await assert.rejects(
    successor.handshake(),
    (e: unknown) => isHandoffError(e, 'Timeout') && e.details.what === 'HelloAck',
  );
});

test('waitForBegin ignores heartbeats, turns Abort into Aborted(reason), and a Begin for another id into Protocol', async (t) => {
  for (const [ending, check] of [
    [
      { type: 'Abort', reason: 'seal failed: disk full' },
      (e: unknown) => isHandoffError(e, 'Aborted') && e.details.reason === 'seal failed: disk full',
    ],
    [
      { type: 'Begin', other: true },
      (e: unknown) => isHandoffError(e, 'Protocol') && /does not match/.test(e.message),
    ],
    [{ type: 'EOF' }, (e: unknown) => isHandoffError(e, 'Io') && e.details.eof === true],
  ] as const) {
    const { successor, sup, socket } = await successorAndSupervisor(t);
    t.after(() => sup.destroy());
    const id = newHandoffId();
    const handshaking = successor.handshake();
    await sup.read(2000, 'Hello');
    await sup.write({ type: 'HelloAck', protoVersionChosen: 1, handoffId: id });
    const waiting = (await handshaking).waitForBegin();
    await sup.write({ type: 'Heartbeat', tsMs: 1n });
    if (ending.type === 'Abort') await sup.write({ type: 'Abort', handoffId: id, reason: ending.reason });
    else if (ending.type === 'Begin') await sup.write({ type: 'Begin', handoffId: newHandoffId() });
    else socket.end();
    await assert.rejects(waiting, check);
  }
});

test('after Begin: unknown listeners are undefined, heartbeats flow until Ready, and Ready carries the snapshot', async (t) => {
  const { successor, sup } = await successorAndSupervisor(t);
  t.after(() => sup.destroy());
  const id = newHandoffId();
  const handshaking = successor.handshake();
  await sup.read(2000, 'Hello');
  await sup.write({ type: 'HelloAck', protoVersionChosen: 1, handoffId: id });
  const waiting = (await handshaking).waitForBegin();
  await sup.write({ type: 'Begin', handoffId: id });
  const begun = await waiting;
  assert.equal(begun.handoffId, id);
  assert.equal(begun.takeListener('http'), undefined);
  begun.startHeartbeats();
  for (let i = 0; i < 3; i++) assert.equal((await sup.read(2000, 'Heartbeat')).message.type, 'Heartbeat');
  await begun.announceReady({
    listeningOn: ['127.0.0.1:8080'],
    healthzOk: true,
    advertisedRevisionPerShard: [9n],
  });
  let ready = (await sup.read(2000, 'Ready')).message;
  while (ready.type === 'Heartbeat') ready = (await sup.read(2000, 'Ready')).message;
  assert.deepEqual(ready, {
    type: 'Ready',
    handoffId: id,
    listeningOn: ['127.0.0.1:8080'],
    healthzOk: true,
    advertisedRevisionPerShard: [9n],
  });
  await assert.rejects(
    sup.read(2000, 'nothing more'),
    (e: unknown) => isHandoffError(e, 'Io') && e.details.eof === true,
  );
  await assert.rejects(
    begun.announceReady({ listeningOn: [], healthzOk: true, advertisedRevisionPerShard: [] }),
    (e: unknown) => isHandoffError(e, 'Protocol'),
  );
});
