/**
 * The PromQL engine: admission (max concurrency), limits (timeout, max samples, max points per
 * series), evaluation and result assembly.
 *
 *   const engine = new Engine({ timeoutMs: 120_000 });
 *   const r = await engine.instantQuery(storage, 'sum by (job) (rate(http_requests_total[5m]))', Date.now());
 *   const m = await engine.rangeQuery(storage, 'up', start, end, 15_000);
 *
 * Results: `r.value` is a vector, matrix, scalar or string; `r.warnings`/`r.infos` are rendered
 * annotations. Errors are typed: `ParseError`, `BadQueryError` (bad parameters: 400),
 * `QueryError` (evaluation: 422), `QueryTimeoutError`/`QueryCanceledError` (503),
 * `TooManySamplesError` (422), `QueryStorageError` (500).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { Labels, VigilError, compareLabels } from '../model/index.ts';
import type { Queryable } from '../storage/index.ts';
import { walk, type Expr } from './ast.ts';
import { QueryError, QueryTimeoutError, QueryCanceledError, TooManySamplesError } from './errors.ts';
import { Evaluator, type NodeValue } from './engine/evaluator.ts';
import { dropMetadata } from './engine/labels.ts';
import { DUPLICATE_LABELSET, MatrixBuilder, makeGrid, type StepMatrix } from './engine/matrix.ts';
import { parseExpr, type ParseOptions } from './parser.ts';
import { exprToString } from './printer.ts';
import type { InstantSample, QueryResult, QueryValue, RangeSeries } from './value.ts';

/** A query that cannot be run as asked (wrong result type for a range query, too many points). */
export class BadQueryError extends VigilError {
  constructor(message: string) {
    super('promql_bad_data', message);
  }
}

export interface EngineOptions {
  /** `--query.lookback-delta`, ms. Default 5 minutes. */
  lookbackDeltaMs?: number;
  /** `--query.max-samples`. Default 50,000,000. */
  maxSamples?: number;
  /** `--query.timeout`, ms. Default 2 minutes. */
  timeoutMs?: number;
  /** `--query.max-concurrency`. Default 20. */
  maxConcurrency?: number;
  /** Step of subqueries written without one (the global evaluation interval), ms. Default 1 minute. */
  defaultSubqueryStepMs?: number;
  /** Prometheus' delayed `__name__` removal feature. Default false (Prometheus' default). */
  delayedNameRemoval?: boolean;
  /** Experimental syntax to accept. */
  parseOptions?: ParseOptions;
  /** Range queries producing more points per series are refused. Default 11,000. */
  maxPointsPerSeries?: number;
  /** Self-metrics (`vigil_engine_*`) are registered here when given. */
  registry?: Registry;
}

export interface QueryOptions {
  /** Per-query lookback delta (ms); 0 or absent: the engine's. */
  lookbackDeltaMs?: number;
  /** Per-query timeout (ms); the smaller of this and the engine's applies. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULTS = {
  lookbackDeltaMs: 5 * 60_000,
  maxSamples: 50_000_000,
  timeoutMs: 120_000,
  maxConcurrency: 20,
  defaultSubqueryStepMs: 60_000,
  delayedNameRemoval: false,
  maxPointsPerSeries: 11_000,
};

export class Engine {
  readonly opts: Required<Omit<EngineOptions, 'parseOptions' | 'registry'>> & { parseOptions: ParseOptions };
  private active = 0;
  private readonly waiters: Array<() => void> = [];
  /** Queries started since construction (self-metrics). */
  queriesTotal = 0;
  /** Samples read from storage by all queries. */
  samplesTotal = 0;
  /** Queries that ended with an error, by kind (self-metrics). */
  readonly failures = { timeout: 0, canceled: 0, too_many_samples: 0, other: 0 };
  private duration: Histogram | undefined;

  constructor(opts: EngineOptions = {}) {
    this.opts = {
      lookbackDeltaMs: opts.lookbackDeltaMs || DEFAULTS.lookbackDeltaMs,
      maxSamples: opts.maxSamples ?? DEFAULTS.maxSamples,
      timeoutMs: opts.timeoutMs ?? DEFAULTS.timeoutMs,
      maxConcurrency: opts.maxConcurrency ?? DEFAULTS.maxConcurrency,
      defaultSubqueryStepMs: opts.defaultSubqueryStepMs ?? DEFAULTS.defaultSubqueryStepMs,
      delayedNameRemoval: opts.delayedNameRemoval ?? DEFAULTS.delayedNameRemoval,
      maxPointsPerSeries: opts.maxPointsPerSeries ?? DEFAULTS.maxPointsPerSeries,
      parseOptions: opts.parseOptions ?? {},
    };
    if (opts.registry) this.registerMetrics(opts.registry);
  }

  private registerMetrics(registry: Registry): void {
    const registers = [registry];
    const self = this;
    new Gauge({ name: 'vigil_engine_queries', help: 'The current number of queries being executed or waiting.', registers, collect() { this.set(self.active + self.waiters.length); } });
    new Gauge({ name: 'vigil_engine_queries_concurrent_max', help: 'The max number of concurrent queries.', registers, collect() { this.set(self.opts.maxConcurrency); } });
    new Counter({ name: 'vigil_engine_queries_total', help: 'Queries started.', registers, collect() { this.reset(); this.inc(self.queriesTotal); } });
    new Counter({ name: 'vigil_engine_query_samples_total', help: 'The total number of samples loaded by all queries.', registers, collect() { this.reset(); this.inc(self.samplesTotal); } });
    new Counter({
      name: 'vigil_engine_query_failures_total', help: 'Queries that failed, by reason.', labelNames: ['reason'], registers,
      collect() {
        this.reset();
        for (const [k, v] of Object.entries(self.failures)) this.inc({ reason: k }, v);
      },
    });
    this.duration = new Histogram({
      name: 'vigil_engine_query_duration_seconds', help: 'Query evaluation time (admission to result).', registers,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
    });
  }

  /** Queries currently running. */
  get activeQueries(): number {
    return this.active;
  }

  /** Queries waiting for a concurrency slot. */
  get queuedQueries(): number {
    return this.waiters.length;
  }

  /** Parses with this engine's syntax options. Throws ParseError. */
  parse(query: string): Expr {
    return parseExpr(query, this.opts.parseOptions);
  }

  async instantQuery(queryable: Queryable, query: string | Expr, timeMs: number, qopts: QueryOptions = {}): Promise<QueryResult> {
    const expr = typeof query === 'string' ? this.parse(query) : query;
    const text = typeof query === 'string' ? query : exprToString(query);
    return this.exec(queryable, expr, text, timeMs, timeMs, 0, qopts);
  }

  async rangeQuery(queryable: Queryable, query: string | Expr, startMs: number, endMs: number, stepMs: number, qopts: QueryOptions = {}): Promise<QueryResult> {
    const expr = typeof query === 'string' ? this.parse(query) : query;
    const text = typeof query === 'string' ? query : exprToString(query);
    const t = expr.valueType();
    if (t !== 'vector' && t !== 'scalar') {
      throw new BadQueryError(`invalid expression type "${t === 'matrix' ? 'range vector' : t}" for range query, must be Scalar or instant Vector`);
    }
    if (!(stepMs > 0)) throw new BadQueryError('zero or negative query resolution step widths are not accepted. Try a positive integer');
    if (endMs < startMs) throw new BadQueryError('end timestamp must not be before start time');
    if ((endMs - startMs) / stepMs > this.opts.maxPointsPerSeries) {
      throw new BadQueryError('exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)');
    }
    return this.exec(queryable, expr, text, startMs, endMs, stepMs, qopts);
  }

  private async acquire(deadline: number, signal?: AbortSignal): Promise<void> {
    if (this.active < this.opts.maxConcurrency) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        cleanup();
        reject(new QueryCanceledError('query queue'));
      };
      const grant = (): void => {
        cleanup();
        this.active++;
        resolve();
      };
      const cleanup = (): void => {
        const i = this.waiters.indexOf(grant);
        if (i >= 0) this.waiters.splice(i, 1);
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      this.waiters.push(grant);
      timer = setTimeout(() => {
        cleanup();
        reject(new QueryTimeoutError('query queue'));
      }, Math.max(0, deadline - Date.now()));
      signal?.addEventListener('abort', onAbort);
    });
  }

  private releaseSlot(): void {
    this.active--;
    const next = this.waiters.shift();
    if (next) next();
  }

  private async exec(queryable: Queryable, expr: Expr, text: string, start: number, end: number, step: number, qopts: QueryOptions): Promise<QueryResult> {
    const t0 = Date.now();
    const timeout = Math.min(this.opts.timeoutMs, qopts.timeoutMs && qopts.timeoutMs > 0 ? qopts.timeoutMs : Infinity);
    const deadline = t0 + timeout;
    try {
      await this.acquire(deadline, qopts.signal);
    } catch (e) {
      if (e instanceof QueryTimeoutError) this.failures.timeout++;
      else this.failures.canceled++;
      throw e;
    }
    const t1 = Date.now();
    this.queriesTotal++;
    try {
      const lookback = qopts.lookbackDeltaMs && qopts.lookbackDeltaMs > 0 ? qopts.lookbackDeltaMs : this.opts.lookbackDeltaMs;
      const ev = new Evaluator({
        lookbackDelta: lookback,
        delayedNameRemoval: this.opts.delayedNameRemoval,
        subqueryStep: () => this.opts.defaultSubqueryStepMs,
        maxSamples: this.opts.maxSamples,
        deadline,
        signal: qopts.signal,
        queryStart: start,
        queryEnd: end,
        queryStep: step,
      });
      ev.prepare(expr);
      const [mint, maxt] = ev.timeRange(expr);
      const querier = queryable.querier(mint, maxt);
      ev.querier = querier;
      try {
        if (step > 0) addSortWarnings(expr, ev);
        const grid = makeGrid(start, end, step > 0 ? step : 1);
        const v = await ev.eval(expr, grid);
        const value = step > 0 ? this.rangeResult(v, grid.start, grid.step) : this.instantResult(v, start);
        const { warnings, infos } = ev.annos.render(text);
        this.samplesTotal += ev.samplesRead;
        this.duration?.observe((Date.now() - t1) / 1000);
        return {
          value,
          warnings: [...ev.storageWarnings, ...warnings],
          infos,
          stats: { samplesRead: ev.samplesRead, peakSamples: ev.peakSamples, evalMs: Date.now() - t1, queueMs: t1 - t0 },
        };
      } catch (e) {
        this.samplesTotal += ev.samplesRead;
        if (e instanceof QueryTimeoutError) this.failures.timeout++;
        else if (e instanceof QueryCanceledError) this.failures.canceled++;
        else if (e instanceof TooManySamplesError) this.failures.too_many_samples++;
        else this.failures.other++;
        throw e;
      } finally {
        querier.close();
      }
    } finally {
      this.releaseSlot();
    }
  }

  /** Drops names marked for delayed removal; duplicates are an error (instant) or merged (range). */
  private cleanup(m: StepMatrix, merge: boolean): StepMatrix {
    if (!this.opts.delayedNameRemoval) return m;
    const b = new MatrixBuilder(m.n, m.count, false);
    for (let s = 0; s < m.count; s++) {
      const labels = m.drop[s] === 1 ? dropMetadata(m.labels[s]!) : m.labels[s]!;
      let d = -1;
      for (let i = 0; i < m.n; i++) {
        if (!m.has(s, i)) continue;
        if (d < 0) d = b.series(labels, false);
        if (!merge && b.m.has(d, i)) throw new QueryError(DUPLICATE_LABELSET);
        b.put(d, i, m.get(s, i));
      }
    }
    return b.m;
  }

  private instantResult(v: NodeValue, t: number): QueryValue {
    switch (v.kind) {
      case 'scalar':
        return { type: 'scalar', t, v: v.v[0]! };
      case 'string':
        return { type: 'string', t, v: v.s };
      case 'range': {
        const series: RangeSeries[] = v.series.map((s) => ({
          metric: this.opts.delayedNameRemoval && s.dropName ? dropMetadata(s.labels) : s.labels,
          ts: s.ts.subarray(0, s.n),
          vs: s.vs.subarray(0, s.n),
        }));
        series.sort((a, b) => compareLabels(a.metric, b.metric));
        return { type: 'matrix', series };
      }
      case 'vector': {
        const m = this.cleanup(v.m, false);
        const samples: InstantSample[] = [];
        for (let s = 0; s < m.count; s++) if (m.has(s, 0)) samples.push({ metric: m.labels[s]!, t, v: m.get(s, 0) });
        return { type: 'vector', samples };
      }
    }
  }

  private rangeResult(v: NodeValue, start: number, step: number): QueryValue {
    if (v.kind === 'scalar') {
      const n = v.v.length;
      const ts = new Float64Array(n);
      for (let i = 0; i < n; i++) ts[i] = start + i * step;
      return { type: 'matrix', series: n > 0 ? [{ metric: Labels.EMPTY, ts, vs: Float64Array.from(v.v) }] : [] };
    }
    if (v.kind !== 'vector') throw new QueryError('unexpected range query result type');
    const m = this.cleanup(v.m, true);
    const series: RangeSeries[] = [];
    for (let s = 0; s < m.count; s++) {
      const cnt = m.seriesPoints(s);
      if (cnt === 0) continue;
      const ts = new Float64Array(cnt);
      const vs = new Float64Array(cnt);
      let k = 0;
      for (let i = 0; i < m.n; i++) {
        if (!m.has(s, i)) continue;
        ts[k] = start + i * step;
        vs[k] = m.get(s, i);
        k++;
      }
      series.push({ metric: m.labels[s]!, ts, vs });
    }
    series.sort((a, b) => compareLabels(a.metric, b.metric));
    return { type: 'matrix', series };
  }
}

/** Range queries cannot be ordered by value: Prometheus warns about sort functions. */
function addSortWarnings(expr: Expr, ev: Evaluator): void {
  walk(expr, (n) => {
    if (n.type === 'Call' && (n.func.name === 'sort' || n.func.name === 'sort_desc' || n.func.name === 'sort_by_label' || n.func.name === 'sort_by_label_desc')) {
      ev.annos.warn('sort is ineffective for range queries since results are always ordered by labels', n.positionRange());
    }
  });
}
