/**
 * Inhibition (Alertmanager's inhibitor): an alert matching a rule's target matchers is muted
 * while a firing alert matching its source matchers has the same values for the `equal`
 * labels (absent on both sides counts as equal). An alert matching both sides cannot inhibit
 * itself or other alerts that also match both sides.
 */
import type { Labels, Matcher } from '../model/index.ts';
import { resolvedAt, type Alert } from './alert.ts';
import type { InhibitRuleConfig } from './config.ts';
import type { Marker } from './marker.ts';
import { amMatcher, matchesLabels } from './matchers.ts';

class InhibitRule {
  readonly source: Matcher[];
  readonly target: Matcher[];
  readonly equal: string[];
  /** Firing (or once firing) source alerts by fingerprint. */
  readonly cache = new Map<string, Alert>();

  constructor(cfg: InhibitRuleConfig) {
    const build = (eq: Record<string, string>, re: Record<string, string>, ms: Matcher[]) => [
      ...Object.entries(eq).map(([k, v]) => amMatcher('=', k, v)),
      ...Object.entries(re).map(([k, v]) => amMatcher('=~', k, v)),
      ...ms,
    ];
    this.source = build(cfg.sourceMatch, cfg.sourceMatchRe, cfg.sourceMatchers);
    this.target = build(cfg.targetMatch, cfg.targetMatchRe, cfg.targetMatchers);
    this.equal = cfg.equal;
  }

  /** The fingerprint of a firing source alert with equal labels, if any. */
  hasEqual(labels: Labels, excludeTwoSided: boolean, now: number): string | undefined {
    outer: for (const a of this.cache.values()) {
      if (resolvedAt(a, now)) continue;
      for (const n of this.equal) if (a.labels.get(n) !== labels.get(n)) continue outer;
      if (excludeTwoSided && matchesLabels(this.source, (n) => a.labels.get(n))) continue;
      return a.fingerprint;
    }
    return undefined;
  }
}

export class Inhibitor {
  private readonly rules: InhibitRule[];

  constructor(rules: readonly InhibitRuleConfig[], private readonly marker: Marker) {
    this.rules = rules.map((r) => new InhibitRule(r));
  }

  /** Feeds an alert (every stored alert goes through here). */
  observe(a: Alert): void {
    for (const r of this.rules) {
      if (matchesLabels(r.source, (n) => a.labels.get(n))) r.cache.set(a.fingerprint, a);
    }
  }

  /** Whether the alert is inhibited at `now`; records the answer in the marker. */
  mutes(labels: Labels, fp: string, now: number): boolean {
    const get = (n: string) => labels.get(n);
    for (const r of this.rules) {
      if (!matchesLabels(r.target, get)) continue;
      const by = r.hasEqual(labels, matchesLabels(r.source, get), now);
      if (by !== undefined) {
        this.marker.setInhibited(fp, [by]);
        return true;
      }
    }
    this.marker.setInhibited(fp, []);
    return false;
  }

  /** Drops resolved source alerts. */
  gc(now: number): void {
    for (const r of this.rules) for (const [fp, a] of r.cache) if (resolvedAt(a, now)) r.cache.delete(fp);
  }

  get ruleCount(): number {
    return this.rules.length;
  }
}
