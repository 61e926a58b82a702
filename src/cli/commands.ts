// The `handoff` command: parses the command line, dispatches to run / upgrade / status / history, and maps
// failures to exit codes (2 for a bad config or usage, 3 for an error; `upgrade` exits 0 committed, 2 rolled
// back, 3 failed, 4 fell back after its probation).

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isHandoffError } from '../errors.js';
import { setParentDeathSignal } from '../os.js';
import { packageRoot } from '../package-root.js';
import { ConfigError, loadConfigFile, validateConfig } from './config.js';
import { runSupervisor } from './run.js';
import type { SignalRouter } from './signals.js';
import { showHistory, showStatus } from './status.js';
import { runUpgrade } from './upgrade.js';

const USAGE = `usage: handoff <command> [options]

commands:
  run      [--config handoff.toml] [flags]   start the supervisor: bind the listeners, start the daemon,
                                             keep it running, hand it off on SIGHUP or a trigger
  upgrade  [binary] [--json] [--wait-probation]
                                             hand the running daemon off to a new build (default: the
                                             serving build) and show each phase; exit 0 committed,
                                             2 rolled back, 3 failed; with --wait-probation, also wait
                                             for the new build's probation: exit 4 if it fell back
  status   [--json]                          the serving daemon: pid, build id, uptime, handoffs,
                                             probation, the latest handoffs
  history  [--json]                          every handoff and fall-back the supervisor remembers
  --version                                  print the version

options for upgrade, status and history:
  --config FILE         read trigger_socket from this config (default: ./handoff.toml)
  --trigger PATH        the trigger socket, instead of a config

flags for run (override the config file; keys as in the config):
  --control-socket PATH  --binary PATH  --arg ARG (repeatable)  --env KEY=VALUE (repeatable)
  --listen NAME=ADDR (repeatable; ADDR is host:port, [v6]:port or unix:/path)  --trigger-socket PATH
  --journal PATH  --data-dir PATH  --drain-grace-secs N  --deadline-secs N  --start-timeout-secs N
  --ready-timeout-secs N  --allow-unhealthy  --verify-revisions  --restart-backoff-ms N  --max-restarts N
  --restart-window-secs N  --shutdown-grace-secs N  --log-level LEVEL  --log-format auto|json|pretty
  --allowed-binary-dir DIR (repeatable)  --probation-secs N  --probe-url URL  --probe-interval-ms N
  --probe-failures N  --metrics-addr HOST:PORT  --history-size N

A handoff to the serving build: \`handoff upgrade\`, or SIGHUP to the supervisor, whose pid is in
<trigger_socket>.lock: kill -HUP $(cat /run/my-daemon/trigger.sock.lock)
`;

const OPTIONS = {
  config: { type: 'string' },
  trigger: { type: 'string' },
  json: { type: 'boolean' },
  'wait-probation': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  'control-socket': { type: 'string' },
  binary: { type: 'string' },
  arg: { type: 'string', multiple: true },
  env: { type: 'string', multiple: true },
  listen: { type: 'string', multiple: true },
  'trigger-socket': { type: 'string' },
  journal: { type: 'string' },
  'data-dir': { type: 'string' },
  'drain-grace-secs': { type: 'string' },
  'deadline-secs': { type: 'string' },
  'start-timeout-secs': { type: 'string' },
  'ready-timeout-secs': { type: 'string' },
  'max-restarts': { type: 'string' },
  'allowed-binary-dir': { type: 'string', multiple: true },
  'restart-window-secs': { type: 'string' },
  'allow-unhealthy': { type: 'boolean' },
  'verify-revisions': { type: 'boolean' },
  'restart-backoff-ms': { type: 'string' },
  'shutdown-grace-secs': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  'probation-secs': { type: 'string' },
  'probe-url': { type: 'string' },
  'probe-interval-ms': { type: 'string' },
  'probe-failures': { type: 'string' },
  'metrics-addr': { type: 'string' },
  'history-size': { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

class UsageError extends Error {}

/** Config keys given as flags, in the config file's shape. */
function flagOverrides(values: Values): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  const text = (flag: keyof Values, key: string) => {
    if (values[flag] !== undefined) raw[key] = values[flag];
  };
  const num = (flag: keyof Values, key: string) => {
    const value = values[flag];
    if (value === undefined) return;
    const n = Number(value);
    if (!Number.isFinite(n)) throw new UsageError(`--${flag} expects a number, got ${JSON.stringify(value)}`);
    raw[key] = n;
  };
  text('control-socket', 'control_socket');
  text('binary', 'binary');
  text('trigger-socket', 'trigger_socket');
  text('journal', 'journal');
  text('data-dir', 'data_dir');
  text('log-level', 'log_level');
  text('log-format', 'log_format');
  text('probe-url', 'probe_url');
  text('metrics-addr', 'metrics_addr');
  num('probation-secs', 'probation_secs');
  num('probe-interval-ms', 'probe_interval_ms');
  num('probe-failures', 'probe_failures');
  num('history-size', 'history_size');
  num('drain-grace-secs', 'drain_grace_secs');
  num('deadline-secs', 'deadline_secs');
  num('start-timeout-secs', 'start_timeout_secs');
  num('ready-timeout-secs', 'ready_timeout_secs');
  num('max-restarts', 'max_restarts');
  num('restart-window-secs', 'restart_window_secs');
  num('restart-backoff-ms', 'restart_backoff_ms');
  num('shutdown-grace-secs', 'shutdown_grace_secs');
  if (values['allow-unhealthy']) raw.allow_unhealthy = true;
  if (values['verify-revisions']) raw.verify_revisions = true;
  if (values.arg) raw.args = values.arg;
  if (values['allowed-binary-dir']) raw.allowed_binary_dirs = values['allowed-binary-dir'];
  if (values.env) {
    raw.env = values.env.map((pair) => {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`--env expects KEY=VALUE, got ${JSON.stringify(pair)}`);
      return [pair.slice(0, eq), pair.slice(eq + 1)];
    });
  }
  if (values.listen) {
    raw.listeners = values.listen.map((spec) => {
      const eq = spec.indexOf('=');
      if (eq <= 0) throw new UsageError(`--listen expects NAME=ADDR, got ${JSON.stringify(spec)}`);
      return { name: spec.slice(0, eq), addr: spec.slice(eq + 1) };
    });
  }
  return raw;
}

/** The config for `run`: the file (given, or ./handoff.toml if present) with flags on top. */
function runConfig(values: Values) {
  const overrides = flagOverrides(values);
  const file = values.config ?? (existsSync('handoff.toml') ? 'handoff.toml' : undefined);
  return file ? loadConfigFile(file, overrides) : validateConfig(overrides, 'command line');
}

/** The trigger socket for `upgrade` and `status`. */
function triggerPath(values: Values): string {
  if (values.trigger) return values.trigger;
  const file = values.config ?? 'handoff.toml';
  if (!existsSync(file))
    throw new UsageError(`no trigger socket: pass --trigger PATH or --config FILE (${file} not found)`);
  return loadConfigFile(file).triggerSocket;
}

async function main(argv: string[], signals: SignalRouter): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: OPTIONS,
    allowPositionals: true,
    strict: true,
  });
  const [command, ...rest] = positionals;
  // Only the supervisor keeps the signals it caught; every other command gets Node's defaults back.
  if (command !== 'run') signals.uninstall();
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case 'run': {
      if (rest.length > 0) throw new UsageError(`run takes no arguments, got ${rest.join(' ')}`);
      let config: ReturnType<typeof runConfig>;
      try {
        config = runConfig(values);
      } catch (error) {
        signals.uninstall();
        throw error;
      }
      stopWithLauncher();
      const running = await runSupervisor(config, { signals });
      await running.done;
      return 0;
    }
    case 'upgrade':
      if (rest.length > 1) throw new UsageError(`upgrade takes at most one binary, got ${rest.join(' ')}`);
      // The supervisor runs elsewhere, in another directory: a path means what it means here.
      return runUpgrade(triggerPath(values), rest[0] && resolve(rest[0]), {
        json: values.json === true,
        waitProbation: values['wait-probation'] === true,
      });
    case 'status':
      if (rest.length > 0) throw new UsageError(`status takes no arguments, got ${rest.join(' ')}`);
      return showStatus(triggerPath(values), values.json === true);
    case 'history':
      if (rest.length > 0) throw new UsageError(`history takes no arguments, got ${rest.join(' ')}`);
      return showHistory(triggerPath(values), values.json === true);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/** `daemon-handoff <version>`, from the package's own package.json. */
function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  return `${pkg.name} ${pkg.version}`;
}

/** Runs the `handoff` command line; sets process.exitCode. */
export function runCli(argv: string[], signals: SignalRouter): Promise<void> {
  return main(argv, signals).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      signals.uninstall();
      if (
        error instanceof ConfigError ||
        error instanceof UsageError ||
        (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
      ) {
        process.stderr.write(`handoff: ${(error as Error).message}\n`);
        if (!(error instanceof ConfigError)) process.stderr.write('run `handoff help` for usage\n');
        process.exitCode = 2;
        return;
      }
      process.stderr.write(
        `handoff: ${isHandoffError(error) ? `${error.code}: ${error.message}` : String(error)}\n`,
      );
      process.exitCode = 3;
    },
  );
}

/**
 * Under a package runner (`npx handoff run`, an npm script), stopping the runner by its pid kills the shell
 * between it and us but never signals us: we would run on, orphaned, with our daemon. So when npm started
 * us, our parent's death is a SIGTERM (a graceful stop). Not otherwise: a supervisor started in the
 * background by a shell that then exits must keep running.
 */
/** Our parent when this module loaded (before the parent-death signal was asked for). */
const LAUNCHER_PID = process.ppid;

function stopWithLauncher(): void {
  if (process.env.npm_command === undefined) return;
  setParentDeathSignal('SIGTERM');
  // The parent may have died before the request took effect: then we were reparented already.
  if (process.ppid !== LAUNCHER_PID) process.kill(process.pid, 'SIGTERM');
}
