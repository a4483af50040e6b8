/**
 * The dispatcher (Alertmanager's dispatch package): every alert goes to the routes it matches;
 * each route keeps one aggregation group per set of group-by label values. A group notifies
 * first after `group_wait` (at once when an alert in it is older than that and the group has
 * not notified yet), then re-evaluates every `group_interval`; the notification pipeline
 * decides whether anything is sent (new alerts, resolved ones, or `repeat_interval` passed).
 * Empty groups are removed by a maintenance pass every 30 s.
 *
 * A configuration reload keeps the groups, and their timers, of routes whose definition and
 * position did not change; other groups are dropped and their alerts re-dispatched.
 */
import type { Logger } from 'pino';
import { errorMessage, type Labels } from '../model/index.ts';
import { compareAlertsForNotification, compareLabelSets, resolvedAt, type Alert } from './alert.ts';
import type { NotifyContext } from './notify/integration.ts';
import type { Route } from './route.ts';

/** Sends a group's alerts through the pipeline; resolves true on success. */
export type NotifyFn = (ctx: NotifyContext, alerts: Alert[]) => Promise<boolean>;

/** Alertmanager's minimum notification deadline (ms). */
export const MIN_NOTIFY_TIMEOUT_MS = 10_000;

export const MAINTENANCE_INTERVAL_MS = 30_000;

/** How early a precise timer's coarse part fires (ms); the rest is waited out turn by turn. */
const PRECISE_LEAD_MS = 2;

export interface DispatcherDeps {
  now: () => number;
  logger: Logger;
  /** The current pipeline (looked up at every flush, so reloads take effect). */
  notify: () => NotifyFn;
  /** Called with (group, alerts sent) after each flush attempt; for tests and history. */
  onFlush?: (g: AggregationGroup, alerts: Alert[], ok: boolean) => void;
}

export class AggregationGroup {
  readonly labels: Labels;
  readonly groupKey: string;
  route: Route;
  private readonly alerts = new Map<string, Alert>();
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** When the next flush is due (ms). */
  nextFlushAt = 0;
  hasFlushed = false;
  private flushing = false;
  private flushPending = false;
  private stopped = false;

  constructor(route: Route, labels: Labels, private readonly deps: DispatcherDeps) {
    this.route = route;
    this.labels = labels;
    this.groupKey = `${route.key}:${labels.toString()}`;
  }

  /** Starts the group_wait timer (precise: the first notification is the one that pages). */
  start(): void {
    this.schedule(this.route.opts.groupWait, true);
  }

  /**
   * Flushes after `ms`. Node's timers fire up to about a millisecond late (millisecond loop
   * clock); with `precise` the timer is set PRECISE_LEAD_MS early and the last stretch is
   * waited out on the high-resolution clock, a turn of the event loop at a time (I/O goes on).
   */
  private schedule(ms: number, precise = false): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.nextFlushAt = this.deps.now() + ms;
    if (!precise || ms <= PRECISE_LEAD_MS) {
      this.timer = setTimeout(() => void this.tick(), ms);
      return;
    }
    const deadline = performance.now() + ms;
    const spin = () => {
      this.immediate = undefined;
      this.timer = undefined;
      if (this.stopped) return;
      const left = deadline - performance.now();
      if (left <= 0) void this.tick();
      // The loop clock the timer ran on can lag the real one: wait again, coarsely.
      else if (left > PRECISE_LEAD_MS + 1) this.timer = setTimeout(spin, left - PRECISE_LEAD_MS);
      else this.immediate = setImmediate(spin);
    };
    this.timer = setTimeout(spin, ms - PRECISE_LEAD_MS);
  }

  insert(a: Alert): void {
    this.alerts.set(a.fingerprint, a);
    // An alert older than group_wait in a group that has not notified yet: flush at once.
    if (!this.hasFlushed && a.startsAt + this.route.opts.groupWait < this.deps.now()) this.schedule(0);
  }

  remove(fp: string): void {
    this.alerts.delete(fp);
  }

  has(fp: string): boolean {
    return this.alerts.has(fp);
  }

  empty(): boolean {
    return this.alerts.size === 0;
  }

  get size(): number {
    return this.alerts.size;
  }

  /** The alerts as stored (endsAt as received). */
  list(): Alert[] {
    return [...this.alerts.values()];
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    if (this.flushing) {
      // Go's timer channel holds one tick until the running flush returns.
      this.flushPending = true;
      return;
    }
    const now = this.deps.now();
    this.schedule(this.route.opts.groupInterval);
    this.hasFlushed = true;
    this.flushing = true;
    try {
      await this.flush(now);
    } catch (e) {
      this.deps.logger.error({ aggrGroup: this.groupKey, err: errorMessage(e) }, 'flush failed');
    } finally {
      this.flushing = false;
      if (this.flushPending && !this.stopped) {
        this.flushPending = false;
        void this.tick();
      }
    }
  }

  private async flush(now: number): Promise<void> {
    if (this.alerts.size === 0) return;
    const snapshot: Alert[] = [];
    for (const a of this.alerts.values()) {
      // Copies (the store updates alerts in place); firing alerts carry no end time in
      // notifications, so they do not resolve as time passes.
      snapshot.push(resolvedAt(a, now) ? { ...a } : { ...a, endsAt: 0 });
    }
    snapshot.sort(compareAlertsForNotification);
    const opts = this.route.opts;
    const ctx: NotifyContext = {
      now,
      groupKey: this.groupKey,
      groupLabels: this.labels,
      receiver: opts.receiver,
      repeatInterval: opts.repeatInterval,
      muteTimeIntervals: opts.muteTimeIntervals,
      activeTimeIntervals: opts.activeTimeIntervals,
      signal: AbortSignal.timeout(Math.max(opts.groupInterval, MIN_NOTIFY_TIMEOUT_MS)),
    };
    let ok = false;
    try {
      ok = await this.deps.notify()(ctx, snapshot);
    } catch (e) {
      this.deps.logger.error({ aggrGroup: this.groupKey, err: errorMessage(e) }, 'Notify for alerts failed');
    }
    this.deps.onFlush?.(this, snapshot, ok);
    if (!ok) return;
    // Forget resolved alerts that were notified and not updated since.
    for (const a of snapshot) {
      if (a.endsAt === 0) continue;
      const cur = this.alerts.get(a.fingerprint);
      if (cur && cur.updatedAt === a.updatedAt && resolvedAt(a, now)) this.alerts.delete(a.fingerprint);
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }
}

interface Placement {
  route: Route;
  groupKey: string;
  labels: Labels;
}

/** One group as the API shows it. */
export interface GroupView {
  labels: Labels;
  receiver: string;
  groupKey: string;
  routeKey: string;
  alerts: Alert[];
}

export class Dispatcher {
  private route: Route;
  private readonly groups = new Map<Route, Map<string, AggregationGroup>>();
  /** fingerprint → where the alert goes; depends only on the labels and the route tree. */
  private placements = new Map<string, Placement[]>();
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(route: Route, private readonly deps: DispatcherDeps) {
    this.route = route;
    this.maintenanceTimer = setInterval(() => this.maintenance(), MAINTENANCE_INTERVAL_MS);
    this.maintenanceTimer.unref();
  }

  get root(): Route {
    return this.route;
  }

  private place(a: Alert): Placement[] {
    let p = this.placements.get(a.fingerprint);
    if (!p) {
      p = this.route.match(a.labels).map((route) => {
        const labels = route.groupLabels(a.labels);
        return { route, labels, groupKey: `${route.key}:${labels.toString()}` };
      });
      if (this.placements.size >= 200_000) this.placements.clear();
      this.placements.set(a.fingerprint, p);
    }
    return p;
  }

  /** Routes an alert into its aggregation groups (creating and starting them as needed). */
  process(a: Alert): void {
    if (this.stopped) return;
    const places = this.place(a);
    for (let i = 0; i < places.length; i++) {
      const p = places[i]!;
      let byKey = this.groups.get(p.route);
      if (!byKey) {
        byKey = new Map();
        this.groups.set(p.route, byKey);
      }
      let g = byKey.get(p.groupKey);
      if (g) {
        g.insert(a);
        continue;
      }
      g = new AggregationGroup(p.route, p.labels, this.deps);
      byKey.set(p.groupKey, g);
      // The group_wait timer starts with the group; inserting an alert older than group_wait
      // then moves it to now (Alertmanager's order).
      g.start();
      g.insert(a);
    }
  }

  /** The receivers the alert is routed to (API). */
  receiversFor(a: Alert): string[] {
    return this.place(a).map((p) => p.route.opts.receiver);
  }

  /** Removes empty groups (Alertmanager does this every 30 s). */
  maintenance(): void {
    for (const byKey of this.groups.values()) {
      for (const [k, g] of byKey) {
        if (g.empty()) {
          g.stop();
          byKey.delete(k);
        }
      }
    }
  }

  get groupCount(): number {
    let n = 0;
    for (const m of this.groups.values()) n += m.size;
    return n;
  }

  /** Every group (tests, API). */
  allGroups(): AggregationGroup[] {
    const out: AggregationGroup[] = [];
    for (const m of this.groups.values()) out.push(...m.values());
    return out;
  }

  /**
   * The groups for the API: those whose route passes `routeFilter`, with the alerts that pass
   * `alertFilter`; groups left empty are omitted. Also the receivers of each listed alert.
   */
  groupsView(routeFilter: (r: Route) => boolean, alertFilter: (a: Alert) => boolean): { groups: GroupView[]; receivers: Map<string, string[]> } {
    const out: GroupView[] = [];
    const receivers = new Map<string, string[]>();
    for (const [route, byKey] of this.groups) {
      if (!routeFilter(route)) continue;
      for (const g of byKey.values()) {
        const alerts = g.list().filter(alertFilter);
        if (alerts.length === 0) continue;
        for (const a of alerts) {
          const r = receivers.get(a.fingerprint);
          if (r) r.push(route.opts.receiver);
          else receivers.set(a.fingerprint, [route.opts.receiver]);
        }
        alerts.sort(compareAlertsForNotification);
        out.push({ labels: g.labels, receiver: route.opts.receiver, groupKey: g.groupKey, routeKey: route.key, alerts });
      }
    }
    out.sort((x, y) => (x.labels.equals(y.labels) ? (x.receiver < y.receiver ? -1 : x.receiver > y.receiver ? 1 : 0) : compareLabelSets(x.labels, y.labels)));
    return { groups: out, receivers };
  }

  /**
   * Switches to a new routing tree. Groups of routes with an unchanged signature keep their
   * alerts and timers; the others stop. Then every current alert is dispatched again, and
   * alerts that no longer belong to a kept group leave it.
   */
  reload(next: Route, currentAlerts: Iterable<Alert>): { kept: number; dropped: number } {
    const bySignature = new Map<string, Route>();
    next.walk((r) => bySignature.set(r.signature, r));
    const old = this.groups;
    const kept = new Map<Route, Map<string, AggregationGroup>>();
    let keptN = 0;
    let droppedN = 0;
    for (const [route, byKey] of old) {
      const same = bySignature.get(route.signature);
      if (same) {
        for (const g of byKey.values()) g.route = same;
        kept.set(same, byKey);
        keptN += byKey.size;
      } else {
        for (const g of byKey.values()) g.stop();
        droppedN += byKey.size;
      }
    }
    this.groups.clear();
    for (const [r, m] of kept) this.groups.set(r, m);
    this.route = next;
    this.placements = new Map();
    const assigned = new Set<string>();
    for (const a of currentAlerts) {
      this.process(a);
      for (const p of this.place(a)) assigned.add(`${p.groupKey}\u0000${a.fingerprint}`);
    }
    for (const byKey of kept.values()) {
      for (const g of byKey.values()) {
        for (const a of g.list()) if (!assigned.has(`${g.groupKey}\u0000${a.fingerprint}`)) g.remove(a.fingerprint);
      }
    }
    return { kept: keptN, dropped: droppedN };
  }

  stop(): void {
    this.stopped = true;
    if (this.maintenanceTimer) clearInterval(this.maintenanceTimer);
    for (const byKey of this.groups.values()) for (const g of byKey.values()) g.stop();
  }
}
