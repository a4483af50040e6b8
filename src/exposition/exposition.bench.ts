/**
 * Exposition parse throughput: `npm run bench:exposition`.
 *
 * Inputs: the shared corpus files and a generated 100k-series page (the bench harness' series
 * mix). Modes:
 *  - scan:   reset(bytes) (UTF-8 check included) + next() + seriesHash() per sample: the scraper's steady state (cache hit, no strings);
 *  - labels: next() + labels() per sample: a cold scrape (every series new);
 *  - objects: parseExposition() (one object per sample; tests and tools).
 * Peer figure: `promtool check metrics` on the same input (Prometheus 2.42's parser plus its
 * lint checks, including process start-up; it reads stdin). Medians of several runs; the machine
 * is shared, so compare ratios.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { Entry, ExpositionParser, parseExposition, validateExpositionUtf8, type ExpositionFormat } from './index.ts';
import { sharedPath } from '../../test/helpers/shared-dir.ts';

const CORPUS = sharedPath('conformance/exposition');
const PROMTOOL = '/usr/bin/promtool';

function generatePage(series: number): string {
  const out: string[] = [];
  const LE = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'];
  const methods = ['GET', 'POST', 'PUT', 'DELETE'];
  const codes = ['200', '201', '204', '301', '400', '401', '403', '404', '500', '503'];
  const nHist = Math.floor((0.35 * series) / 14);
  const nGauge = Math.floor(0.15 * series);
  const nCounter = series - nHist * 14 - nGauge;
  out.push('# HELP http_requests_total Total HTTP requests.\n# TYPE http_requests_total counter\n');
  for (let i = 0; i < nCounter; i++) {
    out.push(`http_requests_total{method="${methods[i % 4]}",code="${codes[Math.floor(i / 4) % 10]}",handler="/api/v1/h${Math.floor(i / 40)}"} ${Math.floor(i * 7919 + 12345)}\n`);
  }
  out.push('# HELP http_request_duration_seconds Request latency.\n# TYPE http_request_duration_seconds histogram\n');
  for (let h = 0; h < nHist; h++) {
    const count = 1000 + h * 13;
    for (let b = 0; b < 12; b++) out.push(`http_request_duration_seconds_bucket{handler="/api/v1/h${h}",le="${LE[b]}"} ${Math.floor((count * (b + 1)) / 12)}\n`);
    out.push(`http_request_duration_seconds_sum{handler="/api/v1/h${h}"} ${(count * 0.0731).toFixed(3)}\n`);
    out.push(`http_request_duration_seconds_count{handler="/api/v1/h${h}"} ${count}\n`);
  }
  out.push('# HELP app_queue_depth Queue depth.\n# TYPE app_queue_depth gauge\n');
  for (let i = 0; i < nGauge; i++) out.push(`app_queue_depth{queue="q${i}"} ${(Math.sin(i) * 50 + 60).toFixed(2)}\n`);
  return out.join('');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timeIt(runs: number, fn: () => number): { ms: number; samples: number } {
  let samples = 0;
  fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    samples = fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { ms: median(times), samples };
}

function scan(text: Buffer, format: ExpositionFormat, parser: ExpositionParser): number {
  parser.reset(text);
  let n = 0;
  let h = 0;
  for (let e = parser.next(); e !== Entry.End; e = parser.next()) {
    if (e === Entry.Series) {
      h ^= parser.seriesHash();
      n++;
    }
  }
  if (h === 0.5) console.log(format);
  return n;
}

function withLabels(text: Buffer, parser: ExpositionParser): number {
  parser.reset(text);
  let n = 0;
  for (let e = parser.next(); e !== Entry.End; e = parser.next()) {
    if (e === Entry.Series) {
      parser.labels();
      n++;
    }
  }
  return n;
}

function promtoolMs(bytes: Buffer, runs: number): number | undefined {
  if (!existsSync(PROMTOOL)) return undefined;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    spawnSync(PROMTOOL, ['check', 'metrics'], { input: bytes });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

const inputs: Array<{ name: string; format: ExpositionFormat; bytes: Buffer }> = [
  { name: 'alltypes.237mfs.prom.txt', format: 'prometheus', bytes: readFileSync(join(CORPUS, 'alltypes.237mfs.prom.txt')) },
  { name: 'alltypes.5mfs.om.txt', format: 'openmetrics', bytes: readFileSync(join(CORPUS, 'alltypes.5mfs.om.txt')) },
  { name: 'generated 100k series', format: 'prometheus', bytes: Buffer.from(generatePage(100_000)) },
];

console.log('# Exposition parse throughput (median of runs; MB = 10^6 bytes)\n');
console.log('| input | bytes | samples | UTF-8 check MB/s | scan MB/s | scan samples/s | labels samples/s | objects samples/s | promtool check metrics ms | Vigil scan ms | promtool ÷ Vigil |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const inp of inputs) {
  const runs = inp.bytes.length > 1e6 ? 15 : 200;
  const dec = timeIt(runs, () => {
    validateExpositionUtf8(inp.bytes, inp.format);
    return 0;
  });
  const text = inp.bytes;
  const parser = new ExpositionParser(inp.format);
  const s = timeIt(runs, () => scan(text, inp.format, parser));
  const l = timeIt(Math.max(5, runs >> 1), () => withLabels(text, parser));
  const o = timeIt(Math.max(5, runs >> 2), () => parseExposition(text, inp.format).samples.length);
  // promtool only reads the text format.
  const pt = inp.format === 'prometheus' ? promtoolMs(inp.bytes, inp.bytes.length > 1e6 ? 5 : 9) : undefined;
  const mbps = (ms: number) => (inp.bytes.length / 1e6 / (ms / 1000)).toFixed(0);
  const sps = (ms: number, n: number) => Math.round(n / (ms / 1000)).toLocaleString('en-US');
  console.log(
    `| ${inp.name} | ${inp.bytes.length.toLocaleString('en-US')} | ${s.samples.toLocaleString('en-US')} | ${mbps(dec.ms)} | ${mbps(s.ms)} | ${sps(s.ms, s.samples)} | ${sps(l.ms, l.samples)} | ${sps(o.ms, o.samples)} | ${pt === undefined ? 'n/a' : pt.toFixed(1)} | ${s.ms.toFixed(2)} | ${pt === undefined ? 'n/a' : (pt / s.ms).toFixed(1) + '×'} |`,
  );
}
console.log('\npromtool check metrics: a whole process (start-up, parse, lint) on the same bytes, so it is an upper bound on Prometheus\' parse time, not its parser alone.');
console.log('scan = next() + seriesHash(): what a steady-state scrape does per sample before its cache lookup.');
