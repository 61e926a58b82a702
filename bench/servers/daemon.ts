// One small handoff-able daemon per server kind, for the servers test and `npm run bench -- --server`:
// https and h2/h2c answer with their pid, ws acknowledges each message once it is fsynced to messages.log,
// tcp acknowledges each line. Everything handoff-specific is the drainer and the runDaemon call.
//
//   node dist/bench/servers/daemon.js --kind https|h2|h2c|ws|tcp --data-dir DIR --control-socket PATH
//                                     [--tls-dir DIR (key.pem, cert.pem)] [--port N]

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';
import {
  createLogger,
  Http2Drain,
  HttpDrain,
  HttpsDrain,
  type LogLevel,
  runDaemon,
  TcpDrain,
  WebSocketDrain,
} from '../../src/index.js';
import { SERVER_KINDS, type ServerKind } from './daemon-kinds.js';
import { readTestCert } from './tls-cert.js';

const { values } = parseArgs({
  options: {
    kind: { type: 'string' },
    'data-dir': { type: 'string' },
    'control-socket': { type: 'string' },
    'tls-dir': { type: 'string' },
    port: { type: 'string', default: '8443' },
    'log-level': { type: 'string', default: 'warn' },
  },
});
const kind = values.kind as ServerKind;
const dataDir = values['data-dir'];
const controlPath = values['control-socket'];
if (!SERVER_KINDS.includes(kind) || !dataDir || !controlPath) {
  process.stderr.write(`servers daemon: --kind (${SERVER_KINDS.join('|')}), --data-dir, --control-socket\n`);
  process.exit(64);
}
const secure = kind === 'https' || kind === 'h2';
if (secure && !values['tls-dir']) {
  process.stderr.write(`servers daemon: --kind ${kind} needs --tls-dir\n`);
  process.exit(64);
}
const logger = createLogger(`servers-${kind}`, { level: values['log-level'] as LogLevel });
const pid = `${process.pid}`;

/** The durable part of the ws kind: one fsynced line per acknowledged message id. */
class MessageLog {
  #fd: number | undefined;
  constructor(readonly path: string) {
    this.reopen();
  }
  reopen(): void {
    this.#fd ??= openSync(this.path, 'a');
  }
  append(id: string): void {
    if (this.#fd === undefined) throw new Error('the message log is sealed');
    writeSync(this.#fd, `${id}\n`);
    fsyncSync(this.#fd);
  }
  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

interface Served {
  readonly server: net.Server;
  drain: HttpDrain | Http2Drain | TcpDrain;
  log?: MessageLog;
}

function serve(): Served {
  const tls = secure ? readTestCert(values['tls-dir']!) : undefined;
  switch (kind) {
    case 'https': {
      const server = https.createServer({ key: tls!.key, cert: tls!.cert }, (_req, res) => res.end(pid));
      return { server, drain: new HttpsDrain(server) };
    }
    case 'h2':
    case 'h2c': {
      const onStream = (stream: http2.ServerHttp2Stream) => {
        stream.respond({ ':status': 200 });
        stream.end(pid);
      };
      const server =
        kind === 'h2' ? http2.createSecureServer({ key: tls!.key, cert: tls!.cert }) : http2.createServer();
      server.on('stream', onStream);
      return { server, drain: new Http2Drain(server) };
    }
    case 'ws': {
      const server = http.createServer((_req, res) => res.writeHead(426).end());
      const drain = new HttpDrain(server);
      const wss = new WebSocketServer({ noServer: true });
      const ws = new WebSocketDrain(wss, drain);
      const log = new MessageLog(join(dataDir!, 'messages.log'));
      wss.on('connection', (socket) => {
        socket.on('message', (data) => {
          const id = String(data);
          ws.handle(socket, () => {
            log.append(id); // durable before the ack
            socket.send(`ack ${id}`);
          });
        });
      });
      return { server, drain, log };
    }
    case 'tcp': {
      // Line protocol: each line is acknowledged with `ack <line>`. During a drain a connection ends right
      // after its next acknowledgement, or at once when no line is half received: a protocol boundary.
      const partial = new Map<net.Socket, { line: string; draining: boolean }>();
      const server = net.createServer((socket) => {
        const state = { line: '', draining: false };
        partial.set(socket, state);
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => {
          state.line += chunk;
          let newline = state.line.indexOf('\n');
          while (newline >= 0 && !socket.writableEnded) {
            socket.write(`ack ${state.line.slice(0, newline)}\n`);
            state.line = state.line.slice(newline + 1);
            if (state.draining) socket.end();
            newline = state.line.indexOf('\n');
          }
        });
        socket.on('error', () => {});
        socket.once('close', () => partial.delete(socket));
      });
      const drain = new TcpDrain(server, {
        onDrain(socket) {
          const state = partial.get(socket);
          if (!state) return;
          state.draining = true;
          if (state.line === '') socket.end();
        },
      });
      return { server, drain };
    }
  }
}

await runDaemon({
  dataDir,
  controlPath,
  buildId: `servers-${kind}`,
  logger,
  async start(context) {
    mkdirSync(context.dataDir, { recursive: true });
    const { server, drain, log } = serve();
    const listener = context.takeListener('http') ?? { port: Number(values.port), host: '127.0.0.1' };
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listener, 4096, () => resolve());
    });
    return {
      drainable: {
        drain: (ctx) => drain.drain(ctx),
        async seal() {
          log?.close();
          const bytes = log ? readFileSync(log.path) : Buffer.alloc(0);
          const { createHash } = await import('node:crypto');
          return {
            lastRevisionPerShard: [],
            dataDirFingerprint: createHash('sha256').update(bytes).digest(),
          };
        },
        async resumeAfterAbort() {
          log?.reopen();
          await drain.resume();
        },
      },
      readiness: () => ({ listeningOn: [], healthzOk: true, advertisedRevisionPerShard: [] }),
      stop: async () => {
        await drain.drain({ deadline: Date.now() + 5000, signal: AbortSignal.timeout(5000) });
        log?.close();
      },
    };
  },
});
