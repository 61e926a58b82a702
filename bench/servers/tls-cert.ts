// A throwaway self-signed certificate for 127.0.0.1/localhost, made with the openssl CLI when a test or the
// benchmark starts (never committed): key.pem and cert.pem in the given directory.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCert {
  readonly dir: string;
  readonly key: Buffer;
  readonly cert: Buffer;
}

/** Writes a fresh P-256 key and a one-day certificate for localhost and 127.0.0.1 into `dir`. */
export function makeTestCert(dir: string): TestCert {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return { dir, key: readFileSync(key), cert: readFileSync(cert) };
}

/** Reads what makeTestCert wrote. */
export function readTestCert(dir: string): TestCert {
  return { dir, key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
}
