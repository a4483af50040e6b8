/**
 * The rule manager: loads rule files (globs), runs one evaluation loop per group, reloads
 * without losing state, and hands alerts on as Prometheus' rule manager does.
 *
 *   const rules = new RuleManager({ query, appendable: storage, queryable: storage, notify, logger, registry });
 *   await rules.update({ files: cfg.rule_files, evaluationIntervalMs, externalLabels, externalURL });
 *   rules.start();            // evaluation begins (after storage is ready)
 *   ...
 *   await rules.stop();
 *
 * A rule file that does not parse is reported and skipped: the other files load. On a reload,
 * a broken file keeps the groups of its last good version running.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, Summary, type Registry } from 'prom-client';
import { Labels, errorMessage, type HealthCheck, type HealthResult, type PostableAlert } from '../model/index.ts';
import type { Appendable, Queryable } from '../storage/index.ts';
import { glob, GlobError } from './glob.ts';
import { Group, groupKey, realScheduler, type Scheduler } from './group.ts';
import { AlertingRule, type Rule } from './rule.ts';
import { formatRuleFileProblem, loadRuleFile, type RuleFileProblem, type RuleGroupDef } from './rulefile.ts';
import type { Alert, QueryFunc } from './types.ts';

export const DEFAULT_OUTAGE_TOLERANCE_MS = 3_600_000;
export const DEFAULT_FOR_GRACE_PERIOD_MS = 600_000;
export const DEFAULT_RESEND_DELAY_MS = 60_000;

export interface RuleManagerOptions {
  /** Instant queries (see QueryFunc); app.ts adapts the PromQL engine to it. */
  query: QueryFunc;
  /** Where recording rules, ALERTS and ALERTS_FOR_STATE are written. */
  appendable: Appendable;
  /** Read to restore `for` state from ALERTS_FOR_STATE at start-up; no restore without it. */
  queryable?: Queryable;
  /**
   * Receives the alerts to send (firing, re-sent every resend delay; resolved ones), already
   * in Alertmanager's shape. External labels are *not* added here: the delivery layer adds them
   * (see AlertDispatcher). Must not throw.
   */
  notify?: (alerts: PostableAlert[]) => void;
  logger: Logger;
  /** Self-metrics (`vigil_rule_*`) are registered here when given. */
  registry?: Registry;
  /** `--rules.alert.for-outage-tolerance` (default 1h). */
  outageToleranceMs?: number;
  /** `--rules.alert.for-grace-period` (default 10m). */
  forGracePeriodMs?: number;
  /** `--rules.alert.resend-delay` (default 1m). */
  resendDelayMs?: number;
  /** Virtual time for tests. */
  scheduler?: Scheduler;
}

/** What one configuration gives the manager. */
export interface RuleManagerConfig {
  /** `rule_files` patterns: absolute, or relative to `baseDir`. */
  files: readonly string[];
  baseDir?: string;
  /** `global.evaluation_interval`, ms: the interval of groups that set none. */
  evaluationIntervalMs: number;
  externalLabels: Labels;
  /** The external URL (generator URLs, `$externalURL`); a trailing slash is dropped. */
  externalURL: string;
  /** Default query offset of groups that set none (Prometheus' `rule_query_offset`), ms. */
  queryOffsetMs?: number;
}

/** The outcome of loading rule files. */
export interface RuleLoadReport {
  /** Files matched by the patterns, in order. */
  files: string[];
  /** Problems of files that were skipped (and of patterns that are malformed). */
  problems: RuleFileProblem[];
  groups: number;
  rules: number;
}

export class RuleManager {
  private groupsByKey = new Map<string, Group>();
  private readonly scheduler: Scheduler;
  private readonly outageToleranceMs: number;
  private readonly forGracePeriodMs: number;
  private readonly resendDelayMs: number;
  private running = false;
  private stopped = false;
  /** The first load restores `for` state; later loads do not (Prometheus' `restored`). */
  private restored = false;
  private externalURL = '';
  private lastReport: RuleLoadReport = { files: [], problems: [], groups: 0, rules: 0 };
  private updating: Promise<unknown> = Promise.resolve();
  private readonly evalDuration: Summary | undefined;
  private readonly groupDuration: Summary | undefined;
  /** Notifications handed on (alerts), for self-metrics. */
  alertsSent = 0;

  constructor(private readonly opts: RuleManagerOptions) {
    this.scheduler = opts.scheduler ?? realScheduler;
    this.outageToleranceMs = opts.outageToleranceMs ?? DEFAULT_OUTAGE_TOLERANCE_MS;
    this.forGracePeriodMs = opts.forGracePeriodMs ?? DEFAULT_FOR_GRACE_PERIOD_MS;
    this.resendDelayMs = opts.resendDelayMs ?? DEFAULT_RESEND_DELAY_MS;
    if (opts.registry) {
      this.evalDuration = new Summary({ name: 'vigil_rule_evaluation_duration_seconds', help: 'The duration for a rule to execute.', percentiles: [0.5, 0.9, 0.99], maxAgeSeconds: 600, ageBuckets: 5, registers: [opts.registry] });
      this.groupDuration = new Summary({ name: 'vigil_rule_group_duration_seconds', help: 'The duration of rule group evaluations.', percentiles: [0.01, 0.05, 0.5, 0.9, 0.99], maxAgeSeconds: 600, ageBuckets: 5, registers: [opts.registry] });
      this.registerGroupMetrics(opts.registry);
    }
  }

  /**
   * Loads the rule files of a configuration and applies them: unchanged groups keep running,
   * changed groups take over the alert state of rules with the same name and labels, removed
   * groups stop and mark their series stale. Serialised with other updates.
   */
  update(cfg: RuleManagerConfig): Promise<RuleLoadReport> {
    const run = this.updating.then(() => this.doUpdate(cfg));
    this.updating = run.catch(() => undefined);
    return run;
  }

  private async doUpdate(cfg: RuleManagerConfig): Promise<RuleLoadReport> {
    const { logger } = this.opts;
    this.externalURL = cfg.externalURL.replace(/\/+$/, '');
    const problems: RuleFileProblem[] = [];
    const files: string[] = [];
    for (const pattern of cfg.files) {
      try {
        for (const f of glob(pattern, cfg.baseDir)) if (!files.includes(f)) files.push(f);
      } catch (e) {
        if (!(e instanceof GlobError)) throw e;
        problems.push({ file: pattern, line: 0, column: 0, text: e.message });
      }
    }
    const defs: RuleGroupDef[] = [];
    const brokenFiles = new Set<string>();
    for (const f of files) {
      const parsed = await loadRuleFile(f);
      if (parsed.problems.length > 0) {
        brokenFiles.add(f);
        problems.push(...parsed.problems);
        for (const p of parsed.problems) logger.error({ file: f, err: formatRuleFileProblem(p) }, 'loading rule file failed; the file is skipped');
        continue;
      }
      defs.push(...parsed.groups);
    }

    const restored = this.restored;
    const next = new Map<string, Group>();
    for (const def of defs) {
      const g = new Group(def, cfg.evaluationIntervalMs, {
        query: this.opts.query,
        appendable: this.opts.appendable,
        queryable: this.opts.queryable,
        notify: (expr, alerts) => this.notify(expr, alerts),
        logger: logger.child({ component: 'rule manager', group: def.name, file: def.file }),
        scheduler: this.scheduler,
        externalURL: this.externalURL,
        externalLabels: cfg.externalLabels,
        outageToleranceMs: this.outageToleranceMs,
        forGracePeriodMs: this.forGracePeriodMs,
        resendDelayMs: this.resendDelayMs,
        onRuleEvaluated: (s) => this.evalDuration?.observe(s),
      }, { restored, queryOffsetMs: cfg.queryOffsetMs });
      next.set(g.key, g);
    }
    // A broken file keeps its last good groups.
    for (const [k, g] of this.groupsByKey) if (brokenFiles.has(g.file) && !next.has(k)) next.set(k, g);

    const keep = new Map<string, Group>();
    const waits: Array<Promise<void>> = [];
    for (const [k, ng] of next) {
      const og = this.groupsByKey.get(k);
      if (og === ng || (og && og.equals(ng) && sameEnv(og, ng))) {
        keep.set(k, og!);
        continue;
      }
      keep.set(k, ng);
      waits.push((async () => {
        if (og) {
          await og.stop();
          ng.copyState(og);
        }
        if (this.running && !this.stopped) ng.start((gr) => this.groupDuration?.observe(gr.evaluationMs / 1000));
      })());
    }
    for (const [k, og] of this.groupsByKey) {
      if (keep.has(k)) continue;
      og.markStale = true;
      waits.push(og.stop());
    }
    await Promise.all(waits);
    this.groupsByKey = keep;
    this.restored = true;
    let rules = 0;
    for (const g of keep.values()) rules += g.rules.length;
    this.lastReport = { files, problems, groups: keep.size, rules };
    logger.info({ files: files.length, groups: keep.size, rules, skippedFiles: brokenFiles.size }, 'rules loaded');
    return this.lastReport;
  }

  /** Starts evaluation of every loaded group (and of groups loaded later). */
  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    for (const g of this.groupsByKey.values()) g.start((gr) => this.groupDuration?.observe(gr.evaluationMs / 1000));
  }

  /** Stops every group, waiting for running evaluations. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.updating;
    const gs = [...this.groupsByKey.values()];
    for (const g of gs) g.managerStopped();
    await Promise.all(gs.map((g) => g.stop()));
  }

  /** The groups, sorted by file then name (as Prometheus lists them). */
  groups(): Group[] {
    return [...this.groupsByKey.values()].sort((a, b) => (a.file !== b.file ? (a.file < b.file ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  alertingRules(): AlertingRule[] {
    const out: AlertingRule[] = [];
    for (const g of this.groups()) for (const r of g.rules) if (r instanceof AlertingRule) out.push(r);
    return out;
  }

  rules(): Rule[] {
    return this.groups().flatMap((g) => g.rules);
  }

  /** The outcome of the last load. */
  get lastLoad(): RuleLoadReport {
    return this.lastReport;
  }

  /** Converts a rule's alerts to Alertmanager's shape (Prometheus' sendAlerts) and hands them on. */
  private notify(expr: string, alerts: readonly Alert[]): void {
    if (!this.opts.notify || alerts.length === 0) return;
    const generatorURL = this.externalURL + tableLinkForExpression(expr);
    const out: PostableAlert[] = alerts.map((a) => ({
      labels: a.labels,
      annotations: a.annotations,
      startsAt: a.firedAt,
      endsAt: a.resolvedAt !== 0 ? a.resolvedAt : a.validUntil,
      generatorURL,
    }));
    this.alertsSent += out.length;
    try {
      this.opts.notify(out);
    } catch (e) {
      this.opts.logger.error({ err: errorMessage(e) }, 'handing alerts on failed');
    }
  }

  /**
   * `rules:evaluation`: warns while a rule file is skipped or a rule's last evaluation failed
   * (naming them), passes otherwise.
   */
  healthCheck(): HealthCheck {
    return {
      name: 'rules:evaluation',
      run: (): HealthResult => {
        const bad = this.rules().filter((r) => r.health === 'err');
        const files = [...new Set(this.lastReport.problems.map((p) => p.file))];
        const parts: string[] = [];
        if (files.length) parts.push(`rule files skipped: ${files.join(', ')}`);
        if (bad.length) parts.push(`rules failing: ${bad.slice(0, 10).map((r) => `${r.name} (${errorMessage(r.lastError)})`).join('; ')}${bad.length > 10 ? ` and ${bad.length - 10} more` : ''}`);
        return {
          componentType: 'component',
          observedValue: bad.length,
          observedUnit: 'failing rules',
          status: parts.length ? 'warn' : 'pass',
          ...(parts.length ? { output: parts.join('; ') } : {}),
        };
      },
    };
  }

  private registerGroupMetrics(registry: Registry): void {
    const groupsOf = () => [...this.groupsByKey.values()];
    const labelNames = ['rule_group'] as const;
    const gauge = (name: string, help: string, value: (g: Group) => number) =>
      new Gauge({
        name, help, labelNames, registers: [registry],
        collect() {
          this.reset();
          for (const g of groupsOf()) this.set({ rule_group: g.key }, value(g));
        },
      });
    const counter = (name: string, help: string, value: (g: Group) => number) =>
      new Counter({
        name, help, labelNames, registers: [registry],
        collect() {
          this.reset();
          for (const g of groupsOf()) this.inc({ rule_group: g.key }, value(g));
        },
      });
    gauge('vigil_rule_group_interval_seconds', 'The interval of a rule group.', (g) => g.intervalMs / 1000);
    gauge('vigil_rule_group_last_duration_seconds', 'The duration of the last rule group evaluation.', (g) => g.evaluationMs / 1000);
    gauge('vigil_rule_group_last_evaluation_timestamp_seconds', 'The timestamp of the last rule group evaluation in seconds.', (g) => g.lastEvalTimestamp / 1000);
    gauge('vigil_rule_group_last_evaluation_samples', 'The number of samples returned during the last rule group evaluation.', (g) => g.stats.lastSamples);
    gauge('vigil_rule_group_rules', 'The number of rules.', (g) => g.rules.length);
    counter('vigil_rule_group_iterations_total', 'The total number of scheduled rule group evaluations, whether executed or missed.', (g) => g.stats.iterationsTotal);
    counter('vigil_rule_group_iterations_missed_total', 'The total number of rule group evaluations missed due to slow rule group evaluation.', (g) => g.stats.iterationsMissed);
    counter('vigil_rule_evaluations_total', 'The total number of rule evaluations.', (g) => g.stats.evaluationsTotal);
    counter('vigil_rule_evaluation_failures_total', 'The total number of rule evaluation failures.', (g) => g.stats.evaluationFailures);
    const self = this;
    new Counter({
      name: 'vigil_rule_alerts_handed_on_total', help: 'Alerts (firing, re-sent and resolved) handed to alert delivery.', registers: [registry],
      collect() {
        this.reset();
        this.inc(self.alertsSent);
      },
    });
  }
}

/** External labels and URL are baked into templates: a change re-creates the group (state is kept). */
function sameEnv(a: Group, b: Group): boolean {
  return a.envKey === b.envKey;
}

/** Go's url.QueryEscape. */
export function goQueryEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Prometheus' strutil.TableLinkForExpression. */
export function tableLinkForExpression(expr: string): string {
  return `/graph?g0.expr=${goQueryEscape(expr)}&g0.tab=1`;
}

export { groupKey };
