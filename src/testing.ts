// The `daemon-handoff/testing` entry: crash injection (docs/protocol.md §8) for a daemon's own crash tests.
// `crashHere` exits the process, so it is kept out of the main entry. Re-exports only.

export { CRASH_EXIT_CODE, CrashEnv, CrashPoint, type CrashPointName, crashHere } from './crash.js';
