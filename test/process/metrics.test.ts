// The supervisor's Prometheus endpoint (src/cli/metrics.ts) scraped with a plain HTTP client after real
// handoffs, and read with a Prometheus text-format parser: the counters, histograms and build info agree with
// what happened, and the output is valid exposition text.

import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import { MetricName } from '../../src/cli/metrics.js';
import { sendTrigger } from '../../src/cli/trigger.js';
import { buildScript, fixtureDaemon, freePort, startSupervised } from '../helpers/supervised.js';

function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
        );
      })
      .on('error', reject);
  });
}

/** The value of the sample of `name` whose labels include `labels`. */
function sample(families: ParsedFamily[], name: string, labels: Record<string, string> = {}) {
  const family = families.find((f) => f.name === name);
  assert.ok(family, `${name} is exported`);
  const found = family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  assert.ok(found, `${name}${JSON.stringify(labels)} is exported`);
  return found;
}

test('after 3 handoffs (one rolled back) the metrics endpoint counts each outcome, times the phases and names the serving build', async (t) => {
  const metricsPort = await freePort();
  const s = await startSupervised(t, {
    ...fixtureDaemon(),
    extraToml: ['probation_secs = 0.5', `metrics_addr = "127.0.0.1:${metricsPort}"`],
  });
  const v2 = buildScript(s.dir, 'v2', { HANDOFF_BUILD_TAG: 'v2' });
  const unhealthy = buildScript(s.dir, 'v3', { HANDOFF_BUILD_TAG: 'v3', HANDOFF_HEALTHZ: 'false' });

  // 1. A new build that passes its probation; 2. the same build again (no probation: nothing to fall back
  // to); 3. a build that reports itself unhealthy in Ready, rolled back.
  const first = await sendTrigger(s.trigger, `handoff --stream --wait-probation ${v2}`);
  assert.match(first.result, /committed=true/, s.supervisor.tail());
  assert.deepEqual(first.probation, { result: 'passed', probationMs: 500 });
  assert.match((await sendTrigger(s.trigger, 'handoff')).result, /committed=true/);
  assert.match(
    (await sendTrigger(s.trigger, `handoff ${unhealthy}`)).result,
    /committed=false abort_reason=Some\("successor reported healthzOk=false/,
  );

  const scrape = await get(metricsPort, '/metrics');
  assert.equal(scrape.status, 200);
  assert.match(scrape.type, /^text\/plain; version=0\.0\.4/);
  const families = parsePrometheusTextFormat(scrape.body);
  const value = (name: string, labels?: Record<string, string>) =>
    Number(sample(families, name, labels).value);

  assert.equal(value(MetricName.HANDOFFS_TOTAL, { outcome: 'committed' }), 2);
  assert.equal(value(MetricName.HANDOFFS_TOTAL, { outcome: 'rolled_back' }), 1);
  assert.equal(value(MetricName.HANDOFFS_TOTAL, { outcome: 'failed' }), 0);
  assert.equal(value(MetricName.ROLLED_BACK_TOTAL, { reason: 'unhealthy' }), 1);
  assert.equal(value(MetricName.ROLLED_BACK_TOTAL, { reason: 'seal_failed' }), 0);
  assert.equal(value(MetricName.SEAL_FAILURES_TOTAL), 0);
  assert.equal(value(MetricName.FAILURES_TOTAL, { code: 'Timeout' }), 0);
  assert.equal(value(MetricName.FALL_BACKS_TOTAL, { cause: 'exited', how: 'cold_start' }), 0);
  assert.equal(value(MetricName.FALL_BACKS_TOTAL, { cause: 'probe_failed', how: 'handoff' }), 0);
  assert.equal(value(MetricName.DAEMON_RESTARTS_TOTAL), 0);
  assert.equal(value(MetricName.PROBATION_ACTIVE), 0);

  // Every handoff is timed as a whole; each phase it reached is a histogram observation in seconds.
  const histogram = (name: string) => {
    const family = families.find((f) => f.name === name);
    assert.equal(family?.type, 'HISTOGRAM', name);
    return sample(families, name);
  };
  assert.equal(Number(histogram(MetricName.DURATION_SECONDS).count), 3);
  for (const phase of [
    MetricName.SPAWN_TO_HELLO_SECONDS,
    MetricName.DRAIN_SECONDS,
    MetricName.SEAL_SECONDS,
    MetricName.BEGIN_TO_READY_SECONDS,
  ]) {
    const observed = histogram(phase);
    assert.equal(Number(observed.count), 3, phase);
    assert.ok(Number(observed.sum) > 0, phase);
    assert.equal(observed.buckets?.['+Inf'], observed.count, phase);
  }
  assert.equal(Number(histogram(MetricName.ACCEPT_GAP_SECONDS).count), 2, 'committed handoffs only');

  const status = (await s.status())!;
  const info = sample(families, MetricName.SERVING_BUILD_INFO);
  assert.deepEqual(info.labels, {
    pid: String(status.daemon!.pid),
    build_id: 'fixture-successor-v2',
    binary: v2,
  });
  assert.equal(info.value, '1');
  assert.ok(value(MetricName.SERVING_BUILD_START_TIME_SECONDS) * 1000 <= Date.now());
  // The supervisor process's own metrics come along.
  assert.ok(value('process_resident_memory_bytes') > 0);
  assert.ok(value('process_cpu_seconds_total') > 0);

  assert.equal((await get(metricsPort, '/')).status, 404);
});
