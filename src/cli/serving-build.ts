// Which build serves now, written beside the trigger socket at every start and commit, so that a supervisor
// restarted after a crash knows what the daemon it adopts is running (and restarts that build, not the
// configured one, when it dies). Diagnostics-grade: a failed write is logged, never fatal.

import { readBoundedFile, writeFileAtomic } from '../atomic-file.js';
import type { Logger } from '../log.js';
import type { InstanceSpec } from '../supervisor/spawn.js';

/** A command line is a few KiB at most; anything larger is not a record of ours. */
const RECORD_MAX_BYTES = 64 * 1024;

export function servingBuildPath(triggerPath: string): string {
  return `${triggerPath}.serving`;
}

/** Records that `pid` serves `build`. */
export async function recordServingBuild(
  path: string,
  pid: number,
  build: InstanceSpec,
  logger: Logger,
): Promise<void> {
  const record = { pid, command: build.command, args: build.args ?? [], env: build.env ?? {} };
  try {
    await writeFileAtomic(path, `${JSON.stringify(record)}\n`, 0o600);
  } catch (error) {
    logger.warn({ err: error, path }, 'could not record the serving build');
  }
}

/** The build recorded for `pid`, or undefined when the record is missing, unreadable, or names another pid. */
export async function readServingBuild(path: string, pid: number): Promise<InstanceSpec | undefined> {
  try {
    const record = JSON.parse((await readBoundedFile(path, RECORD_MAX_BYTES)).toString('utf8')) as {
      pid?: unknown;
      command?: unknown;
      args?: unknown;
      env?: unknown;
    };
    if (record.pid !== pid || typeof record.command !== 'string' || !Array.isArray(record.args))
      return undefined;
    const args = record.args.filter((a): a is string => typeof a === 'string');
    const env =
      typeof record.env === 'object' && record.env !== null ? (record.env as Record<string, string>) : {};
    return { command: record.command, args, env };
  } catch {
    return undefined;
  }
}
