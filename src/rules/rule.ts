/**
 * Recording and alerting rules with Prometheus' evaluation semantics (rules/recording.go and
 * rules/alerting.go): relabelling of results, the duplicate-labelset and `limit` errors, the
 * inactive → pending → firing state machine with `for` and `keep_firing_for`, resolved alerts
 * kept (and re-sent) for 15 minutes, the `ALERTS` / `ALERTS_FOR_STATE` series, templated
 * labels and annotations.
 */
import type { Logger } from 'pino';
import { Labels, LabelsBuilder, METRIC_NAME, VigilError, errorMessage } from '../model/index.ts';
import { AlertTemplate, type AlertTemplateInput, type PrometheusTemplateContext, type TemplateQueryFn } from '../template/index.ts';
import type { RuleDef } from './rulefile.ts';
import type { Alert, AlertState, NotifyFunc, OutputSample, QueryFunc, RuleHealth } from './types.ts';

/** Rule evaluation errors with Prometheus' texts. */
export class RuleEvalError extends VigilError {
  constructor(code: 'rules_duplicate_labelset' | 'rules_limit_exceeded', message: string) {
    super(code, message);
  }
}

export const ALERT_METRIC_NAME = 'ALERTS';
export const ALERT_FOR_STATE_METRIC_NAME = 'ALERTS_FOR_STATE';
export const ALERT_NAME_LABEL = 'alertname';
export const ALERT_STATE_LABEL = 'alertstate';

/** `lastSentAt` of an alert never sent (Go's zero time: any resend delay has passed). */
export const NEVER_SENT = Number.NEGATIVE_INFINITY;

/** How long a resolved alert is kept (and re-sent as resolved). */
export const RESOLVED_RETENTION_MS = 15 * 60_000;

/** What every evaluation of a rule is given. */
export interface EvalContext {
  /** Evaluation time (ms): the group's aligned timestamp. */
  ts: number;
  /** The group's query offset (ms): queries and written samples are at `ts - queryOffsetMs`. */
  queryOffsetMs: number;
  query: QueryFunc;
  /** The group's `limit` (0: none). */
  limit: number;
  externalURL: string;
  externalLabels: Labels;
  logger: Logger;
}

/** State and identity shared by both rule kinds. */
export abstract class Rule {
  health: RuleHealth = 'unknown';
  lastError: Error | undefined = undefined;
  /** Duration of the last evaluation, ms. */
  evaluationMs = 0;
  /** Wall-clock start of the last evaluation (ms); 0 when never evaluated. */
  lastEvaluation = 0;

  constructor(readonly def: RuleDef) {}

  get name(): string {
    return this.def.name;
  }

  /** The printed expression (Prometheus' `rule.Query().String()`). */
  get query(): string {
    return this.def.query;
  }

  get labels(): Labels {
    return this.def.labels;
  }

  /** Identity for reload state transfer: name and labels (Prometheus' nameAndLabels). */
  nameAndLabels(): string {
    return this.def.name + '\xff' + this.def.labels.key();
  }

  /** A canonical text of the definition: two rules with equal texts behave the same. */
  canonical(): string {
    const d = this.def;
    return JSON.stringify([d.type, d.name, d.query, d.forMs, d.keepFiringForMs, d.labels.pairs, d.annotations.pairs]);
  }

  setError(e: Error): void {
    this.health = 'err';
    this.lastError = e;
  }

  /** Evaluates at `ctx.ts`; returns the samples to append. Throws for an evaluation error. */
  abstract eval(ctx: EvalContext): Promise<OutputSample[]>;
}

export class RecordingRule extends Rule {
  async eval(ctx: EvalContext): Promise<OutputSample[]> {
    const t = ctx.ts - ctx.queryOffsetMs;
    const vector = await ctx.query(this.def.query, t);
    const out: OutputSample[] = new Array(vector.length);
    const seen = new Set<string>();
    const ruleLabels = this.def.labels;
    for (let i = 0; i < vector.length; i++) {
      const s = vector[i]!;
      const lb = new LabelsBuilder(s.metric);
      lb.set(METRIC_NAME, this.def.name);
      ruleLabels.forEach((n, v) => lb.set(n, v));
      const metric = lb.build();
      const key = metric.key();
      if (seen.has(key)) throw new RuleEvalError('rules_duplicate_labelset', 'vector contains metrics with the same labelset after applying rule labels');
      seen.add(key);
      out[i] = { metric, t, v: s.v };
    }
    if (ctx.limit > 0 && out.length > ctx.limit) {
      throw new RuleEvalError('rules_limit_exceeded', `exceeded limit of ${ctx.limit} with ${out.length} series`);
    }
    this.health = 'ok';
    this.lastError = undefined;
    return out;
  }
}

function copyAlert(a: Alert): Alert {
  return { ...a };
}

export class AlertingRule extends Rule {
  /** Active alerts (pending, firing, and resolved ones kept for RESOLVED_RETENTION_MS), by label key. */
  active = new Map<string, Alert>();
  /**
   * Whether `for` state has been restored (or needs no restoring). Until then the rule writes
   * no ALERTS / ALERTS_FOR_STATE series.
   */
  restored: boolean;
  private readonly labelTemplates: Array<[string, AlertTemplate]>;
  private readonly annotationTemplates: Array<[string, AlertTemplate]>;

  constructor(def: RuleDef, restored: boolean) {
    super(def);
    this.restored = restored;
    this.labelTemplates = [];
    def.labels.forEach((n, v) => this.labelTemplates.push([n, new AlertTemplate(def.name, v)]));
    this.annotationTemplates = [];
    def.annotations.forEach((n, v) => this.annotationTemplates.push([n, new AlertTemplate(def.name, v)]));
  }

  get holdDurationMs(): number {
    return this.def.forMs;
  }

  get keepFiringForMs(): number {
    return this.def.keepFiringForMs;
  }

  /** The highest state among the rule's alerts (firing > pending > inactive). */
  state(): AlertState {
    let s: AlertState = 'inactive';
    for (const a of this.active.values()) {
      if (a.state === 'firing') return 'firing';
      if (a.state === 'pending') s = 'pending';
    }
    return s;
  }

  /** Pending and firing alerts (copies), sorted by labels. */
  activeAlerts(): Alert[] {
    const out: Alert[] = [];
    for (const a of this.active.values()) if (a.resolvedAt === 0) out.push(copyAlert(a));
    return out.sort((x, y) => (x.labels.key() < y.labels.key() ? -1 : x.labels.key() > y.labels.key() ? 1 : 0));
  }

  private sample(a: Alert, t: number): OutputSample {
    const lb = new LabelsBuilder(a.labels);
    lb.set(METRIC_NAME, ALERT_METRIC_NAME);
    lb.set(ALERT_STATE_LABEL, a.state);
    return { metric: lb.build(), t, v: 1 };
  }

  /** The ALERTS_FOR_STATE sample of an alert: its labels and `__name__`; value = activeAt in whole seconds. */
  forStateLabels(a: Alert): Labels {
    return new LabelsBuilder(a.labels).set(METRIC_NAME, ALERT_FOR_STATE_METRIC_NAME).build();
  }

  async eval(ctx: EvalContext): Promise<OutputSample[]> {
    const qt = ctx.ts - ctx.queryOffsetMs;
    const res = await ctx.query(this.def.query, qt);
    const tctx: PrometheusTemplateContext = { query: templateQuery(ctx.query), timestampMs: qt, externalURL: ctx.externalURL };
    const externalLabels = ctx.externalLabels.toRecord();
    const fresh = new Map<string, Alert>();
    for (const smpl of res) {
      const input: AlertTemplateInput = { labels: smpl.metric.toRecord(), externalLabels, externalURL: ctx.externalURL, value: smpl.v };
      const lb = new LabelsBuilder(smpl.metric).del(METRIC_NAME);
      for (const [name, tmpl] of this.labelTemplates) lb.set(name, await this.expand(tmpl, input, tctx, ctx.logger));
      lb.set(ALERT_NAME_LABEL, this.def.name);
      let annotations = Labels.EMPTY;
      if (this.annotationTemplates.length > 0) {
        // Sorted by name already; empty expansions are kept, as Prometheus keeps them.
        const pairs: string[] = [];
        for (const [name, tmpl] of this.annotationTemplates) pairs.push(name, await this.expand(tmpl, input, tctx, ctx.logger));
        annotations = Labels.fromSortedPairs(pairs);
      }
      const labels = lb.build();
      const key = labels.key();
      if (fresh.has(key)) throw new RuleEvalError('rules_duplicate_labelset', 'vector contains metrics with the same labelset after applying alert labels');
      fresh.set(key, {
        state: 'pending', labels, annotations, value: smpl.v, activeAt: ctx.ts,
        firedAt: 0, resolvedAt: 0, lastSentAt: NEVER_SENT, validUntil: 0, keepFiringSince: 0,
      });
    }

    for (const [key, a] of fresh) {
      const cur = this.active.get(key);
      if (cur && cur.state !== 'inactive') {
        cur.value = a.value;
        cur.annotations = a.annotations;
        continue;
      }
      this.active.set(key, a);
    }

    const ts = ctx.ts;
    const out: OutputSample[] = [];
    let numActivePending = 0;
    for (const [key, a] of this.active) {
      if (!fresh.has(key)) {
        let keepFiring = false;
        if (a.state === 'firing' && this.def.keepFiringForMs > 0) {
          if (a.keepFiringSince === 0) a.keepFiringSince = ts;
          if (ts - a.keepFiringSince < this.def.keepFiringForMs) keepFiring = true;
        }
        if (a.state === 'pending' || (a.resolvedAt !== 0 && ts - a.resolvedAt > RESOLVED_RETENTION_MS)) this.active.delete(key);
        if (a.state !== 'inactive' && !keepFiring) {
          a.state = 'inactive';
          a.resolvedAt = ts;
        }
        if (!keepFiring) continue;
      } else {
        a.keepFiringSince = 0;
      }
      numActivePending++;
      if (a.state === 'pending' && ts - a.activeAt >= this.def.forMs) {
        a.state = 'firing';
        a.firedAt = ts;
      }
      if (this.restored) {
        out.push(this.sample(a, qt));
        out.push({ metric: this.forStateLabels(a), t: qt, v: Math.trunc(a.activeAt / 1000) });
      }
    }
    if (ctx.limit > 0 && numActivePending > ctx.limit) {
      this.active = new Map();
      throw new RuleEvalError('rules_limit_exceeded', `exceeded limit of ${ctx.limit} with ${numActivePending} alerts`);
    }
    this.health = 'ok';
    this.lastError = undefined;
    return out;
  }

  private async expand(tmpl: AlertTemplate, input: AlertTemplateInput, tctx: PrometheusTemplateContext, logger: Logger): Promise<string> {
    const r = await tmpl.expandAsync(input, tctx);
    if (r.error) logger.warn({ alert: this.def.name, err: errorMessage(r.error), labels: input.labels, value: input.value }, 'Expanding alert template failed');
    return r.text;
  }

  /**
   * Hands the alerts that need sending at `ts` to `notify` (Prometheus' sendAlerts): firing
   * alerts not sent within `resendDelayMs`, and alerts resolved since their last send. Each sent
   * alert is valid until `ts + 4 × max(resendDelay, interval)`.
   */
  sendAlerts(ts: number, resendDelayMs: number, intervalMs: number, notify: NotifyFunc): void {
    const alerts: Alert[] = [];
    for (const a of this.active.values()) {
      if (!needsSending(a, ts, resendDelayMs)) continue;
      a.lastSentAt = ts;
      a.validUntil = ts + 4 * Math.max(resendDelayMs, intervalMs);
      alerts.push(copyAlert(a));
    }
    if (alerts.length > 0) notify(this.def.query, alerts);
  }
}

function needsSending(a: Alert, ts: number, resendDelayMs: number): boolean {
  if (a.state === 'pending') return false;
  if (a.resolvedAt > a.lastSentAt) return true;
  return a.lastSentAt + resendDelayMs < ts;
}

/** The template `query` function over the rule's query function. */
function templateQuery(query: QueryFunc): TemplateQueryFn {
  return async (expr, t) => {
    const v = await query(expr, t);
    return v.map((s) => ({ labels: s.metric.toRecord(), value: s.v }));
  };
}
