// How the supervisor writes its log lines: the config's level and format, with `auto` decided here (pretty
// for a person at a terminal, JSON for a file, a pipe or a log collector). Only the CLI reads the environment.

import { isatty } from 'node:tty';
import type { LoggerOptions } from '../log.js';
import type { HandoffConfig } from './config.js';

/** The supervisor's logger options for stderr. Colours only on a terminal, and never with NO_COLOR set. */
export function supervisorLogOptions(
  config: Pick<HandoffConfig, 'logLevel' | 'logFormat'>,
  env: NodeJS.ProcessEnv = process.env,
  stderrIsTerminal: boolean = isatty(2),
): LoggerOptions {
  const format = config.logFormat === 'auto' ? (stderrIsTerminal ? 'pretty' : 'json') : config.logFormat;
  const color = format === 'pretty' && stderrIsTerminal && !env.NO_COLOR;
  return { level: config.logLevel, format, color };
}
