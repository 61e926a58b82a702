// Deploying with `pm2 reload` in cluster mode, one instance: pm2's God daemon (in a private PM2_HOME) holds
// the port and round-robins connections to its worker; a reload starts a new worker, waits for it to
// listen, then SIGINTs the old one (SIGKILL after pm2's kill_timeout, 1.6 s). Driven through pm2's API.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACCEPT_LOG_ENV } from '../accept-gap.js';
import {
  ACCEPT_LOG_MODULE,
  type Deployment,
  freePort,
  PLAIN_DAEMON,
  plainDaemonArgs,
  type WaySetup,
  waitForHttp,
} from './way.js';

type Pm2 = typeof import('pm2');

/** pm2 reads PM2_HOME once, when it is first imported: every run in this process shares that home. */
async function loadPm2(pm2Home: string): Promise<Pm2> {
  if (process.env.PM2_HOME !== undefined && process.env.PM2_HOME !== pm2Home) {
    throw new Error(`PM2_HOME is already ${process.env.PM2_HOME}; one pm2 home per benchmark process`);
  }
  process.env.PM2_HOME = pm2Home;
  process.env.PM2_SILENT = 'true';
  return (await import('pm2')).default;
}

function call<T>(run: (callback: (error: unknown, value?: T) => void) => void): Promise<T | undefined> {
  return new Promise((resolve, reject) =>
    run((error, value) => (error ? reject(toError(error)) : resolve(value))),
  );
}

function toError(error: unknown): Error {
  if (error instanceof Error) return error;
  return new Error(typeof error === 'object' ? JSON.stringify(error) : String(error));
}

/** Starts pm2's daemon and the app in cluster mode; `stop` deletes the app and kills the daemon. */
export async function startWithPm2(setup: WaySetup, pm2Home: string): Promise<Deployment> {
  const pm2 = await loadPm2(pm2Home);
  await call((cb) => pm2.connect(cb));
  const name = `bench-${setup.kind}`;
  const port = await freePort();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await call((cb) => pm2.delete(name, cb)).catch(() => {});
    await call((cb) => pm2.killDaemon(cb)).catch(() => {});
    pm2.disconnect();
  };
  try {
    const [, ...args] = plainDaemonArgs(setup, port);
    await call((cb) =>
      pm2.start(
        {
          name,
          script: PLAIN_DAEMON,
          args,
          exec_mode: 'cluster',
          instances: 1,
          node_args: ['--import', ACCEPT_LOG_MODULE],
          env: { [ACCEPT_LOG_ENV]: setup.acceptLog },
          output: join(setup.dir, 'out.log'),
          error: join(setup.dir, 'err.log'),
        },
        cb,
      ),
    );
    await waitForHttp(port, 20_000);
    const godPid = Number(readFileSync(join(pm2Home, 'pm2.pid'), 'utf8'));
    return {
      port,
      supervisorPid: godPid,
      async deploy() {
        try {
          await call((cb) => pm2.reload(name, cb));
          return { ok: true };
        } catch (error) {
          return { ok: false, detail: error instanceof Error ? error.message : String(error) };
        }
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
