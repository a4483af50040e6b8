/**
 * The routing tree (Alertmanager's dispatch.Route): options inherited from the parent, matchers
 * from `match`, `match_re` and `matchers` sorted as Alertmanager sorts them, depth-first
 * matching with `continue`, and the route key that prefixes every group key.
 */
import type { Labels, Matcher } from '../model/index.ts';
import { DEFAULT_GROUP_INTERVAL_MS, DEFAULT_GROUP_WAIT_MS, DEFAULT_REPEAT_INTERVAL_MS, type RouteConfig } from './config.ts';
import { amMatcher, compareMatchers, matchesLabels, matchersString } from './matchers.ts';

export interface RouteOpts {
  receiver: string;
  /** Label names to group by (when not `groupByAll`). */
  groupBy: readonly string[];
  groupByAll: boolean;
  /** ms. */
  groupWait: number;
  groupInterval: number;
  repeatInterval: number;
  /** Not inherited (Alertmanager). */
  muteTimeIntervals: readonly string[];
  activeTimeIntervals: readonly string[];
}

export class Route {
  readonly parent: Route | undefined;
  readonly opts: RouteOpts;
  readonly matchers: readonly Matcher[];
  readonly continue: boolean;
  readonly routes: Route[];
  /** Position in the tree: `0` for the root, `0.1.0` for the root's second child's first child. */
  readonly path: string;
  /** Alertmanager's route key: parent keys and `{matchers}` joined with `/`. */
  readonly key: string;
  /**
   * Everything that defines this route's behaviour (position, matchers, options). A reload keeps
   * the aggregation groups of routes whose signature did not change.
   */
  readonly signature: string;

  constructor(cfg: RouteConfig, parent: Route | undefined, path = '0') {
    this.parent = parent;
    this.path = path;
    const base: RouteOpts = parent
      ? parent.opts
      : { receiver: '', groupBy: [], groupByAll: false, groupWait: DEFAULT_GROUP_WAIT_MS, groupInterval: DEFAULT_GROUP_INTERVAL_MS, repeatInterval: DEFAULT_REPEAT_INTERVAL_MS, muteTimeIntervals: [], activeTimeIntervals: [] };
    let groupBy = base.groupBy;
    let groupByAll = base.groupByAll;
    if (cfg.groupBy !== undefined) {
      if (cfg.groupBy.includes('...')) groupByAll = true;
      else {
        groupBy = [...cfg.groupBy];
        groupByAll = false;
      }
    }
    this.opts = {
      receiver: cfg.receiver || base.receiver,
      groupBy,
      groupByAll,
      groupWait: cfg.groupWait ?? base.groupWait,
      groupInterval: cfg.groupInterval ?? base.groupInterval,
      repeatInterval: cfg.repeatInterval ?? base.repeatInterval,
      muteTimeIntervals: cfg.muteTimeIntervals,
      activeTimeIntervals: cfg.activeTimeIntervals,
    };
    const ms: Matcher[] = [];
    for (const [k, v] of Object.entries(cfg.match)) ms.push(amMatcher('=', k, v));
    // match_re values are Alertmanager Regexps, whose text is the anchored pattern (visible in route keys).
    for (const [k, v] of Object.entries(cfg.matchRe)) ms.push(amMatcher('=~', k, `^(?:${v})$`));
    ms.push(...cfg.matchers);
    ms.sort(compareMatchers);
    this.matchers = ms;
    this.continue = cfg.continue;
    this.key = (parent ? parent.key + '/' : '') + matchersString(ms);
    this.signature = JSON.stringify([path, this.key, this.continue, this.opts]);
    this.routes = cfg.routes.map((c, i) => new Route(c, this, `${path}.${i}`));
  }

  /** The routes an alert with these labels goes to: depth-first, `continue` lets siblings match too. */
  match(labels: Labels): Route[] {
    const get = (n: string) => labels.get(n);
    return this.matchWith(get) ?? [];
  }

  private matchWith(get: (n: string) => string): Route[] | undefined {
    if (!matchesLabels(this.matchers, get)) return undefined;
    let all: Route[] | undefined;
    for (const child of this.routes) {
      const m = child.matchWith(get);
      if (m) {
        (all ??= []).push(...m);
        if (!child.continue) break;
      }
    }
    return all ?? [this];
  }

  /** Visits this route and all descendants depth-first. */
  walk(fn: (r: Route) => void): void {
    fn(this);
    for (const c of this.routes) c.walk(fn);
  }

  /** The labels an alert is grouped by on this route. */
  groupLabels(labels: Labels): Labels {
    if (this.opts.groupByAll) return labels;
    return labels.keep(this.opts.groupBy);
  }
}
