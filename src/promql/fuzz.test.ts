/**
 * Property tests: random and mutated query strings give a result or a clean error, never a
 * crash or a hang; what this parser accepts, Prometheus' own lezer grammar
 * (@prometheus-io/lezer-promql) parses without an error node; generated well-typed queries
 * print and re-parse to the same text.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parser as lezer } from '@prometheus-io/lezer-promql';
import { Labels, VigilError } from '../model/index.ts';
import { MemoryStorage } from '../storage/index.ts';
import { parseExpr } from './parser.ts';
import { exprToString } from './printer.ts';
import { ParseError } from './errors.ts';
import { FUNCTIONS } from './functions.ts';
import { Engine } from './engine.ts';
import { corpusDir } from './conformance/main.ts';

const STRICT = { holtWinters: false };

function lezerAccepts(q: string): boolean {
  const tree = lezer.parse(q);
  let ok = true;
  tree.iterate({
    enter: (n) => {
      if (n.type.isError) ok = false;
    },
  });
  return ok;
}

/**
 * Inputs Prometheus' Go parser (which this parser follows) accepts but the lezer grammar does
 * not: numbers with a trailing dot (`2.`), keywords used as bare metric names (`offset`,
 * `by`, ...), and a few lexer corner cases. They are excluded from the agreement property.
 */
const KEYWORDS = new Set(['offset', 'by', 'without', 'and', 'or', 'unless', 'start', 'end', 'step', 'range', 'anchored', 'smoothed', 'bool', 'on', 'ignoring', 'group_left', 'group_right', 'sum', 'avg', 'min', 'max', 'count', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'limitk', 'limit_ratio', 'atan2', 'inf', 'nan']);

/** Functions of the corpus' Prometheus version that this lezer release does not know yet. */
const lezerUnknownFunctions = [...FUNCTIONS.keys()].filter((f) => !lezerAccepts(`${f}(x)`) && !lezerAccepts(`${f}()`));

function knownLezerDivergence(q: string): boolean {
  for (const f of lezerUnknownFunctions) if (new RegExp(`(^|[^a-zA-Z_:])${f}\\s*\\(`).test(q)) return true;
  // Keywords are case-insensitive in Prometheus (`SUM(x) BY (job)`, `STep()`), not in lezer.
  for (const w of q.match(/[A-Za-z_]+/g) ?? []) if (KEYWORDS.has(w.toLowerCase()) && w !== w.toLowerCase() && !/^(inf|nan)$/i.test(w)) return true;
  return (
    /(^|[^0-9a-zA-Z_.])[0-9]+\.($|[^0-9eE])/.test(q) ||
    /(^|[^a-zA-Z_:])(offset|by|without|and|or|unless|start|end|step|range|anchored|smoothed|bool|on|ignoring|group_left|group_right|limitk|limit_ratio|atan2|sum|avg|min|max|count|group|stddev|stdvar|topk|bottomk|quantile|count_values)($|[^a-zA-Z0-9_:(])/i.test(q) ||
    /\d_\d/.test(q) ||
    /0[xX]_/.test(q)
  );
}

/** Parses; returns the error for a clean rejection and rethrows anything else. */
function parseClean(q: string): Error | undefined {
  try {
    parseExpr(q, STRICT);
    return undefined;
  } catch (e) {
    if (e instanceof ParseError) return e;
    throw new Error(`parser crashed on ${JSON.stringify(q)}: ${(e as Error).stack}`);
  }
}

const TOKENS = [
  'foo', 'bar', 'up', 'http_requests_total', '{', '}', '(', ')', '[', ']', ',', '=', '!=', '=~', '!~', '"a"', "'b'", '`c`', '5m', '1h', '30s', '0', '1',
  '1.5', '0x1f', 'Inf', 'NaN', '+', '-', '*', '/', '%', '^', '==', '!=', '>', '<', '>=', '<=', 'and', 'or', 'unless', 'bool', 'on', 'ignoring',
  'group_left', 'group_right', 'by', 'without', 'sum', 'avg', 'topk', 'count_values', 'quantile', 'rate', 'irate', 'abs', 'histogram_quantile',
  'label_replace', 'time', 'vector', 'scalar', 'offset', '@', 'start()', 'end()', ':', 'job', '__name__', '#c\n', ' ', '\t', '.', '"', '$', '\\',
];

const SEEDS = [
  'sum by (code) (rate(http_requests_total[5m]))',
  'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))',
  'topk(5, rate(http_requests_total{job=~"api.*"}[1m]))',
  'count({__name__=~".+"})',
  'up == 0 and on(instance) group_left(team) owner_info',
  'max_over_time(rate(foo[5m])[1h:1m] offset -10m) @ 1700000000',
  'label_replace(up, "host", "$1", "instance", "(.*):.*")',
  '-2 ^ 2 * vector(time()) > bool 1',
];

function corpusExpressions(): string[] {
  const dir = join(corpusDir(), 'testdata');
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.test')) continue;
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const m = /^\s*eval(?:_\w+)?\s+(?:instant\s+at\s+\S+|range\s+from\s+\S+\s+to\s+\S+\s+step\s+\S+)\s+(.+)$/.exec(line);
      if (m) out.push(m[1]!);
    }
  }
  return out;
}

// A generator of well-typed queries (instant vectors, scalars, range vectors).
const metric = fc.constantFrom('up', 'http_requests_total', 'node_cpu_seconds_total', 'foo:bar');
const label = fc.constantFrom('job', 'instance', 'code', 'le');
const value = fc.constantFrom('"a"', '"api"', '"5.."', '""', '"x\\"y"');
const matcher = fc.tuple(label, fc.constantFrom('=', '!=', '=~', '!~'), value).map(([l, o, v]) => `${l}${o}${v}`);
const duration = fc.constantFrom('5m', '1h', '30s', '1m30s', '90', '2d');
const selector = fc.tuple(metric, fc.array(matcher, { maxLength: 3 })).map(([m, ms]) => (ms.length ? `${m}{${ms.join(', ')}}` : m));
const number = fc.oneof(fc.integer({ min: -100, max: 1000 }).map((n) => (n < 0 ? `(${n})` : String(n))), fc.constantFrom('0.5', '1e3', '0x10', '(Inf)', '(NaN)', '.25'));
const modifiers = fc.tuple(fc.option(duration), fc.option(fc.constantFrom('@ 1700000000', '@ start()', '@ end()'))).map(([o, a]) => `${a ? ' ' + a : ''}${o ? ' offset ' + o : ''}`);

const { vec } = fc.letrec<{ vec: string; sca: string; mat: string }>((tie) => ({
  vec: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(selector, modifiers).map(([s, m]) => s + m),
    fc.tuple(fc.constantFrom('rate', 'increase', 'delta', 'irate', 'avg_over_time', 'max_over_time', 'changes', 'resets', 'deriv', 'last_over_time'), tie('mat')).map(([f, m]) => `${f}(${m})`),
    fc.tuple(fc.constantFrom('abs', 'ceil', 'floor', 'sqrt', 'exp', 'ln', 'sgn', 'timestamp', 'sort', 'sort_desc', 'absent'), tie('vec')).map(([f, v]) => `${f}(${v})`),
    fc.tuple(fc.constantFrom('sum', 'avg', 'min', 'max', 'count', 'group', 'stddev'), fc.constantFrom('', ' by (job)', ' without (instance)'), tie('vec')).map(([a, g, v]) => `${a}${g} (${v})`),
    fc.tuple(fc.constantFrom('topk', 'bottomk', 'quantile'), tie('sca'), tie('vec')).map(([a, k, v]) => `${a}(${k}, ${v})`),
    fc.tuple(tie('vec'), fc.constantFrom('+', '-', '*', '/', '%', '^', '==', '!=', '>', '<', 'and', 'or', 'unless', '> bool', '+ on(job)', '* ignoring(code) group_left(job)', '- on() group_right ()'), tie('vec')).map(([a, o, b]) => `(${a}) ${o} (${b})`),
    fc.tuple(tie('vec'), fc.constantFrom('+', '*', '>', '== bool'), tie('sca')).map(([a, o, b]) => `(${a}) ${o} (${b})`),
    tie('vec').map((v) => `(${v})`),
    tie('vec').map((v) => `-(${v})`),
    tie('sca').map((s) => `vector(${s})`),
    fc.tuple(tie('sca'), tie('vec')).map(([q, v]) => `histogram_quantile(${q}, ${v})`),
    tie('vec').map((v) => `label_replace(${v}, "dst", "$1", "job", "(.*)")`),
    tie('vec').map((v) => `count_values("value", ${v})`),
  ),
  sca: fc.oneof(
    { depthSize: 'small' },
    number,
    fc.constant('time()'),
    tie('vec').map((v) => `scalar(${v})`),
    fc.tuple(tie('sca'), fc.constantFrom('+', '-', '*', '/', '^', '== bool', '< bool', 'atan2'), tie('sca')).map(([a, o, b]) => `(${a}) ${o} (${b})`),
    tie('sca').map((s) => `(${s})`),
  ),
  mat: fc.oneof(
    { depthSize: 'small' },
    fc.tuple(selector, duration, modifiers).map(([s, d, m]) => `${s}[${d}]${m}`),
    fc.tuple(tie('vec'), duration, fc.constantFrom('', '1m', '30s')).map(([v, r, s]) => `(${v})[${r}:${s}]`),
  ),
}));

describe('fuzz: parser', () => {
  let corpus: string[] = [];
  before(() => {
    corpus = corpusExpressions();
  });

  it('random token soups are parsed or cleanly rejected', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 25 }), fc.array(fc.boolean(), { maxLength: 25 }), (toks, spaces) => {
        const q = toks.map((t, i) => (spaces[i] ? t + ' ' : t)).join('');
        parseClean(q);
      }),
      { numRuns: 3000 },
    );
  });

  it('arbitrary unicode strings are parsed or cleanly rejected', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (q) => void parseClean(q)), { numRuns: 2000 });
  });

  it('mutations of corpus queries are parsed or cleanly rejected, and agree with lezer when accepted', () => {
    const seeds = corpus.length ? corpus : SEEDS;
    const mutation = fc.tuple(fc.nat(), fc.nat(), fc.constantFrom('delete', 'insert', 'replace', 'duplicate'), fc.constantFrom(...'(){}[],=!~"\'`:@#+-*/^%<> \n0123456789abcxyz_.$\\é'));
    fc.assert(
      fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (si, muts) => {
        let q = seeds[si]!;
        for (const [pos, len, kind, ch] of muts) {
          const p = pos % (q.length + 1);
          if (kind === 'delete') q = q.slice(0, p) + q.slice(p + 1 + (len % 3));
          else if (kind === 'insert') q = q.slice(0, p) + ch + q.slice(p);
          else if (kind === 'replace') q = q.slice(0, p) + ch + q.slice(p + 1);
          else q = q.slice(0, p) + q.slice(p, p + (len % 8)) + q.slice(p);
        }
        const e = parseClean(q);
        if (!e && !knownLezerDivergence(q)) assert.ok(lezerAccepts(q), `lezer rejects ${JSON.stringify(q)}`);
      }),
      { numRuns: 3000 },
    );
  });

  it('generated well-typed queries parse, print to a fixpoint, and lezer accepts them', () => {
    fc.assert(
      fc.property(vec, (q) => {
        const e = parseExpr(q, STRICT);
        const printed = exprToString(e);
        assert.equal(exprToString(parseExpr(printed, STRICT)), printed);
        assert.ok(lezerAccepts(q), `lezer rejects ${JSON.stringify(q)}`);
        assert.ok(lezerAccepts(printed), `lezer rejects printed ${JSON.stringify(printed)}`);
      }),
      { numRuns: 1500 },
    );
  });

  it('every corpus expression that lezer does not diverge on is accepted by both', () => {
    const exp = { experimentalFunctions: true, durationExpressions: true, extendedRangeSelectors: true, binopFillModifiers: true };
    let checked = 0;
    for (const q of corpus) {
      parseExpr(q, exp);
      if (!knownLezerDivergence(q)) {
        assert.ok(lezerAccepts(q), `lezer rejects ${JSON.stringify(q)}`);
        checked++;
      }
    }
    if (corpus.length > 0) assert.ok(checked > 500);
  });
});

describe('fuzz: engine', () => {
  let storage: MemoryStorage;
  before(async () => {
    storage = new MemoryStorage();
    const app = storage.appender();
    for (let i = 0; i < 40; i++) {
      for (const [name, job, code] of [['up', 'api', ''], ['up', 'db', ''], ['http_requests_total', 'api', '200'], ['http_requests_total', 'api', '500'], ['foo:bar', 'x', '1']] as const) {
        app.append(0, Labels.fromRecord({ __name__: name, job, code, le: i % 2 ? '+Inf' : '0.5' }), i * 15_000, i % 7 === 0 ? NaN : i * (code === '500' ? 0.5 : 1));
      }
    }
    await app.commit();
  });

  /** Engine errors are typed; anything else (TypeError, RangeError...) is a crash. */
  async function runClean(engine: Engine, q: string): Promise<void> {
    try {
      await engine.instantQuery(storage, q, 300_000);
      await engine.rangeQuery(storage, q, 0, 600_000, 30_000).catch((e) => {
        if (!(e instanceof VigilError)) throw e;
      });
    } catch (e) {
      if (e instanceof VigilError) return;
      throw new Error(`engine crashed on ${JSON.stringify(q)}: ${(e as Error).stack}`);
    }
  }

  it('generated queries evaluate to a result or a typed error', async () => {
    const engine = new Engine({ maxSamples: 200_000, timeoutMs: 20_000 });
    await fc.assert(fc.asyncProperty(vec, async (q) => runClean(engine, q)), { numRuns: 400 });
  });

  it('mutated queries that parse evaluate to a result or a typed error', async () => {
    const engine = new Engine({ maxSamples: 200_000, timeoutMs: 20_000 });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...SEEDS), fc.nat(), fc.constantFrom('', '1', ' ', 'x', ')', '[1m]', ' or up'), async (seed, pos, ins) => {
        const p = pos % (seed.length + 1);
        await runClean(engine, seed.slice(0, p) + ins + seed.slice(p));
      }),
      { numRuns: 400 },
    );
  });
});
