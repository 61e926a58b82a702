#!/usr/bin/env node
// The `handoff` executable. Its first act is to catch SIGHUP, SIGTERM and SIGINT (Node's default is to die,
// which would orphan a supervisor's daemon); everything else loads after, and gets the signals caught so far.

import { SignalRouter } from './signals.js';

const signals = new SignalRouter().install();
const { runCli } = await import('./commands.js');
await runCli(process.argv.slice(2), signals);
