// The `handoff run` configuration: the Rust reference supervisor's TOML keys plus ours, each default written
// once here, and validation that names the file and the key at fault in one line.

import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { readBoundedFileSync } from '../atomic-file.js';
import { CrashEnv } from '../crash.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../log.js';
import { RoleEnv } from '../role-env.js';
import {
  DEFAULT_DEADLINE_MS,
  DEFAULT_DRAIN_GRACE_MS,
  DEFAULT_READY_TIMEOUT_MS,
  DEFAULT_START_TIMEOUT_MS,
  MAX_TIMER_MS,
} from '../timing.js';

export type ListenAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string; readonly mode: number };

export interface ListenerConfig {
  readonly name: string;
  readonly addr: ListenAddress;
}

export interface HandoffConfig {
  /** Where the settings came from, for messages. */
  readonly source: string;
  readonly controlSocket: string;
  readonly binary: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly listeners: readonly ListenerConfig[];
  readonly triggerSocket: string;
  readonly journal: string | undefined;
  readonly drainGraceMs: number;
  readonly deadlineMs: number;
  readonly startTimeoutMs: number;
  readonly readyTimeoutMs: number;
  readonly dataDir: string | undefined;
  readonly allowUnhealthy: boolean;
  readonly verifyRevisions: boolean;
  readonly allowedBinaryDirs: readonly string[];
  readonly restartBackoffMs: number;
  readonly maxRestarts: number;
  readonly restartWindowMs: number;
  readonly shutdownGraceMs: number;
  readonly logLevel: LogLevel;
  /** `auto`: pretty when stderr is a terminal, JSON otherwise. */
  readonly logFormat: LogFormat | 'auto';
  /** After a commit, how long the new build is watched before it counts as good; 0 = no probation. */
  readonly probationMs: number;
  /** An HTTP URL probed during probation (the daemon's own listener), or undefined. */
  readonly probeUrl: URL | undefined;
  readonly probeIntervalMs: number;
  /** Consecutive failed probes that fail the probation. */
  readonly probeFailures: number;
  /** Where Prometheus metrics are served, or undefined (then the metrics library is never loaded). */
  readonly metricsAddr: { readonly host: string; readonly port: number } | undefined;
  /** How many handoff reports the history keeps (in memory and in its file). */
  readonly historySize: number;
}

/** history_size's ceiling: the history is read back whole at start-up. */
const MAX_HISTORY_SIZE = 10_000;

/** Every key, its meaning and its default: the one place the README's config reference is written from. */
export const CONFIG_KEYS = {
  control_socket:
    "required. Path of the daemon's control socket; every daemon build is configured with the same path.",
  binary:
    'required. The daemon executable to start (and the default for handoffs). It must exec the daemon itself.',
  args: 'default []. Arguments for every start.',
  env: 'default []. Extra environment for every start: [["KEY", "value"], …] or a table { KEY = "value" }.',
  listeners:
    'default []. Sockets the supervisor binds once and passes to every build: [{ name = "http", addr = "127.0.0.1:8080" }]; addr is host:port, [v6]:port or unix:/path (optional mode, default 0o600).',
  trigger_socket:
    'required. Unix socket for handoff triggers (`handoff upgrade`, or one line: `handoff [binary]`).',
  journal: 'default none. Where to journal a handoff in flight, for crash diagnostics.',
  drain_grace_secs: `default ${DEFAULT_DRAIN_GRACE_MS / 1000}. Drain budget of a handoff.`,
  deadline_secs: `default ${DEFAULT_DEADLINE_MS / 1000}. Overall budget of a handoff, from asking the old build to drain until Ready (the new build's start-up before that has start_timeout_secs).`,
  start_timeout_secs: `default ${DEFAULT_START_TIMEOUT_MS / 1000}. How long a new build may take to start: a successor until its Hello (the old build serves meanwhile), a cold start until it answers on the control socket (else it is killed and restarted).`,
  ready_timeout_secs: `default ${DEFAULT_READY_TIMEOUT_MS / 1000}. Begin → Ready budget of a handoff (capped by deadline_secs): the one phase in which nobody accepts, so a hung build is rolled back after this long.`,
  data_dir: "default none. The daemon's data dir, shown by `handoff status`.",
  allow_unhealthy: 'default false. Commit even when the new build reports healthzOk=false.',
  verify_revisions:
    'default false. Roll back unless the new build advertises the revisions the old one sealed.',
  allowed_binary_dirs:
    'default []. Directories a trigger-named binary must resolve into (after symlinks); empty: any executable file.',
  restart_backoff_ms:
    'default 1000. First delay before restarting a daemon that died outside a handoff; doubles up to 30 s.',
  max_restarts:
    'default 5. Restarts allowed within restart_window_secs; then the supervisor stops restarting (listeners stay open, `status` says why) until `handoff upgrade`.',
  restart_window_secs: 'default 60. The window max_restarts counts restarts in.',
  shutdown_grace_secs: 'default 30. On SIGTERM/SIGINT, how long the daemon may take to exit before SIGKILL.',
  log_level: 'default "info". Supervisor log level: debug, info, warn or error.',
  log_format:
    'default "auto". Supervisor log lines: "json" (one object per line), "pretty" (one readable line), or "auto" (pretty when stderr is a terminal, else json).',
  probation_secs:
    'default 0. After a commit, how long the new build is on probation: if it exits or fails probe_url meanwhile, the supervisor falls back to the previous build and never restarts the failed one by itself. 0 = off.',
  probe_url:
    'default none. An http:// URL probed during probation, normally on one of the listeners (e.g. http://127.0.0.1:8080/healthz); a probe fails on an error, a timeout (probe_interval_ms) or a status other than 2xx.',
  probe_interval_ms: 'default 1000. How often probe_url is probed during probation.',
  probe_failures: 'default 3. Consecutive failed probes that fail the probation.',
  metrics_addr:
    'default none. host:port where the supervisor serves Prometheus metrics at /metrics (e.g. 127.0.0.1:9464).',
  history_size:
    'default 50. How many handoffs `handoff history` keeps (at most 10000), in memory and in the file <journal>.history.jsonl.',
} as const;

/** An invalid configuration: one line naming the source and the key, for a person to fix. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Raw = Record<string, unknown>;

/** A config is a page of TOML; a larger file is refused before it is read (a symlink to /dev/zero, say). */
const CONFIG_MAX_BYTES = 1 << 20;

/** Reads and validates a TOML file. Throws ConfigError naming the file (and line, for a syntax error). */
export function loadConfigFile(path: string, overrides: Raw = {}): HandoffConfig {
  let text: string;
  try {
    text = readBoundedFileSync(path, CONFIG_MAX_BYTES, true).toString('utf8');
  } catch (error) {
    throw new ConfigError(`${path}: cannot read the config file: ${(error as Error).message}`);
  }
  let raw: Raw;
  try {
    raw = parseToml(text) as Raw;
  } catch (error) {
    const first = String((error as Error).message).split('\n')[0];
    const line = (error as { line?: number }).line;
    throw new ConfigError(`${path}${line ? `:${line}` : ''}: invalid TOML: ${first}`);
  }
  return validateConfig({ ...raw, ...overrides }, path, dirname(resolve(path)));
}

/** Validates settings from a file and/or flags; relative paths resolve against `baseDir`. */
export function validateConfig(raw: Raw, source: string, baseDir: string = process.cwd()): HandoffConfig {
  const fail = (key: string, message: string): never => {
    throw new ConfigError(`${source}: ${key}: ${message}`);
  };
  for (const key of Object.keys(raw)) {
    if (!(key in CONFIG_KEYS)) fail(key, `unknown key (known keys: ${Object.keys(CONFIG_KEYS).join(', ')})`);
  }
  const path = (key: string, value: unknown): string => {
    if (typeof value !== 'string' || value === '') fail(key, `expected a path, got ${show(value)}`);
    return isAbsolute(value as string) ? (value as string) : resolve(baseDir, value as string);
  };
  const required = (key: string): unknown => raw[key] ?? fail(key, 'is required');
  const number = (key: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      fail(key, `expected a number ≥ ${min}, got ${show(value)}`);
    }
    if ((value as number) > max) fail(key, `expected at most ${max}, got ${show(value)}`);
    return value as number;
  };
  /** A duration in seconds, as ms: positive (or ≥ 0), and no longer than a timer can wait (~24.8 days). */
  const seconds = (key: string, fallbackMs: number, min = 0.001): number =>
    Math.round(number(key, fallbackMs / 1000, min, MAX_TIMER_MS / 1000) * 1000);
  const integer = (key: string, fallback: number, min: number, max?: number): number => {
    const value = number(key, fallback, min, max);
    if (!Number.isInteger(value)) fail(key, `expected a whole number, got ${show(value)}`);
    return value;
  };
  const pathList = (key: string): string[] => {
    const value = raw[key] ?? [];
    if (!Array.isArray(value)) return fail(key, `expected an array of paths, got ${show(value)}`);
    return value.map((entry, i) => path(`${key}[${i}]`, entry));
  };
  const bool = (key: string): boolean => {
    const value = raw[key] ?? false;
    if (typeof value !== 'boolean') fail(key, `expected true or false, got ${show(value)}`);
    return value as boolean;
  };
  const args = raw.args ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string'))
    fail('args', `expected an array of strings, got ${show(args)}`);
  const logLevel = raw.log_level ?? 'info';
  if (!(LOG_LEVELS as readonly unknown[]).includes(logLevel)) {
    fail('log_level', `expected debug, info, warn or error, got ${show(logLevel)}`);
  }
  const logFormat = raw.log_format ?? 'auto';
  if (!(['auto', ...LOG_FORMATS] as readonly unknown[]).includes(logFormat)) {
    fail('log_format', `expected auto, json or pretty, got ${show(logFormat)}`);
  }
  const journal = raw.journal === undefined ? undefined : path('journal', raw.journal);
  const dataDir = raw.data_dir === undefined ? undefined : path('data_dir', raw.data_dir);
  return {
    source,
    controlSocket: path('control_socket', required('control_socket')),
    binary: path('binary', required('binary')),
    args: args as string[],
    env: parseEnv(raw.env, fail),
    listeners: parseListeners(raw.listeners, fail, baseDir),
    triggerSocket: path('trigger_socket', required('trigger_socket')),
    journal,
    drainGraceMs: seconds('drain_grace_secs', DEFAULT_DRAIN_GRACE_MS),
    deadlineMs: seconds('deadline_secs', DEFAULT_DEADLINE_MS),
    startTimeoutMs: seconds('start_timeout_secs', DEFAULT_START_TIMEOUT_MS),
    readyTimeoutMs: seconds('ready_timeout_secs', DEFAULT_READY_TIMEOUT_MS),
    dataDir,
    allowUnhealthy: bool('allow_unhealthy'),
    verifyRevisions: bool('verify_revisions'),
    allowedBinaryDirs: pathList('allowed_binary_dirs'),
    restartBackoffMs: Math.round(number('restart_backoff_ms', 1000, 1, MAX_TIMER_MS)),
    maxRestarts: integer('max_restarts', 5, 0),
    restartWindowMs: seconds('restart_window_secs', 60_000),
    shutdownGraceMs: seconds('shutdown_grace_secs', 30_000, 0),
    logLevel: logLevel as LogLevel,
    logFormat: logFormat as LogFormat | 'auto',
    probationMs: seconds('probation_secs', 0, 0),
    probeUrl: probeUrl(raw.probe_url, fail),
    probeIntervalMs: integer('probe_interval_ms', 1000, 1, MAX_TIMER_MS),
    probeFailures: integer('probe_failures', 3, 1),
    metricsAddr:
      raw.metrics_addr === undefined
        ? undefined
        : tcpAddress(raw.metrics_addr, 'metrics_addr', fail, baseDir),
    historySize: integer('history_size', 50, 1, MAX_HISTORY_SIZE),
  };
}

function probeUrl(value: unknown, fail: (key: string, message: string) => never): URL | undefined {
  if (value === undefined) return undefined;
  const url = typeof value === 'string' && URL.canParse(value) ? new URL(value) : undefined;
  if (url?.protocol !== 'http:') return fail('probe_url', `expected an http:// URL, got ${show(value)}`);
  return url;
}

function tcpAddress(
  value: unknown,
  key: string,
  fail: (key: string, message: string) => never,
  baseDir: string,
): { host: string; port: number } {
  const addr = parseAddress(value, undefined, key, fail, baseDir);
  if (addr.kind !== 'tcp') return fail(key, `expected "host:port", got ${show(value)}`);
  return { host: addr.host, port: addr.port };
}

function parseEnv(value: unknown, fail: (key: string, message: string) => never): Record<string, string> {
  if (value === undefined) return {};
  const pairs: Array<[string, unknown]> = Array.isArray(value)
    ? value.map((pair, i) => {
        if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string') {
          fail(`env[${i}]`, `expected ["KEY", "value"], got ${show(pair)}`);
        }
        return pair as [string, unknown];
      })
    : typeof value === 'object' && value !== null
      ? Object.entries(value)
      : fail('env', `expected [["KEY", "value"], …] or a table, got ${show(value)}`);
  const env: Record<string, string> = {};
  for (const [key, v] of pairs) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      fail(`env.${key}`, 'expected a POSIX variable name (letters, digits and _, not starting with a digit)');
    }
    if (reservedEnv(key)) {
      fail(
        `env.${key}`,
        'is reserved: the supervisor sets it (fd layout and role) or it injects crashes in tests',
      );
    }
    if (typeof v !== 'string') fail(`env.${key}`, `expected a string value, got ${show(v)}`);
    if ((v as string).includes('\0')) fail(`env.${key}`, 'a value cannot contain a NUL byte');
    env[key] = v as string;
  }
  return env;
}

/**
 * The variables a daemon must never get from a config: the layout the supervisor passes (LISTEN_*, the role
 * and control fd) and crash injection (HANDOFF_CRASH_*, for tests only: a config must not turn it on).
 */
function reservedEnv(key: string): boolean {
  return (
    key.startsWith(CrashEnv.AT.slice(0, 'HANDOFF_CRASH_'.length)) ||
    (Object.values(RoleEnv) as string[]).includes(key) ||
    key === 'LISTEN_PID'
  );
}

function parseListeners(
  value: unknown,
  fail: (key: string, message: string) => never,
  baseDir: string,
): ListenerConfig[] {
  if (value === undefined) return [];
  if (!Array.isArray(value))
    return fail('listeners', `expected an array of { name, addr } tables, got ${show(value)}`);
  const names = new Set<string>();
  return value.map((entry, i) => {
    const key = `listeners[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      fail(key, `expected { name, addr }, got ${show(entry)}`);
    const { name, addr, mode, ...rest } = entry as Raw;
    const unknown = Object.keys(rest)[0];
    if (unknown) fail(`${key}.${unknown}`, 'unknown key (known keys: name, addr, mode)');
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(name)) {
      fail(`${key}.name`, `expected a name of letters, digits, _ . -, got ${show(name)}`);
    }
    if (names.has(name as string)) fail(`${key}.name`, `duplicate listener name ${show(name)}`);
    names.add(name as string);
    return { name: name as string, addr: parseAddress(addr, mode, `${key}.addr`, fail, baseDir) };
  });
}

/** `host:port`, `[v6]:port` or `unix:/path`. Host names are not resolved: give an address. */
export function parseAddress(
  addr: unknown,
  mode: unknown,
  key: string,
  fail: (key: string, message: string) => never,
  baseDir: string,
): ListenAddress {
  if (typeof addr !== 'string') return fail(key, `expected "host:port" or "unix:/path", got ${show(addr)}`);
  if (addr.startsWith('unix:')) {
    const path = addr.slice(5);
    if (path === '') fail(key, 'unix: needs a path');
    const m = mode ?? 0o600;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 0 || m > 0o777)
      fail(`${key}.mode`, `expected a mode like 0o600, got ${show(m)}`);
    return { kind: 'unix', path: isAbsolute(path) ? path : resolve(baseDir, path), mode: m as number };
  }
  if (mode !== undefined) fail(`${key}.mode`, 'only unix: listeners have a mode');
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+|localhost)):(\d{1,5})$/.exec(addr);
  const port = Number(match?.[3]);
  if (!match || port > 65535)
    return fail(key, `expected "host:port", "[v6]:port" or "unix:/path", got ${show(addr)}`);
  const host = match[1] ?? (match[2] === 'localhost' ? '127.0.0.1' : match[2]!);
  return { kind: 'tcp', host, port };
}

/** `host:port` for display, with IPv6 hosts in brackets. */
export function formatAddress(addr: ListenAddress): string {
  if (addr.kind === 'unix') return `unix:${addr.path}`;
  return addr.host.includes(':') ? `[${addr.host}]:${addr.port}` : `${addr.host}:${addr.port}`;
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : (JSON.stringify(value) ?? String(value));
}
