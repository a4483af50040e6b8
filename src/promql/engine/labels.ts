/** Label helpers with Prometheus' semantics for the evaluator. */
import { Labels, LabelsBuilder, METRIC_NAME, type Matcher } from '../../model/index.ts';
import type { Expr } from '../ast.ts';

/** Labels removed together with the metric name (Prometheus' schema metadata labels). */
export const METADATA_LABELS: readonly string[] = ['__name__', '__type__', '__unit__'];

export function dropMetadata(l: Labels): Labels {
  const p = l.pairs;
  for (let i = 0; i < p.length; i += 2) {
    const n = p[i]!;
    if (n === '__name__' || n === '__type__' || n === '__unit__') return l.without(METADATA_LABELS);
    if (n > '__unit__') break;
  }
  return l;
}

/** The labels `absent()`/`absent_over_time()` return for their argument. */
export function labelsForAbsent(arg: Expr): Labels {
  let matchers: readonly Matcher[];
  if (arg.type === 'VectorSelector') matchers = arg.matchers;
  else if (arg.type === 'MatrixSelector' && arg.vectorSelector.type === 'VectorSelector') matchers = arg.vectorSelector.matchers;
  else return Labels.EMPTY;
  const b = new LabelsBuilder();
  const has = new Set<string>();
  for (const m of matchers) {
    if (m.name === METRIC_NAME) continue;
    if (m.type === '=' && !has.has(m.name)) {
      b.set(m.name, m.value);
      has.add(m.name);
    } else b.del(m.name);
  }
  return b.build();
}

/** Prometheus' Labels.MatchLabels: the labels a vector-matching signature is made of. */
export function matchLabels(l: Labels, on: boolean, names: readonly string[]): Labels {
  const out: string[] = [];
  const p = l.pairs;
  for (let i = 0; i < p.length; i += 2) {
    const n = p[i]!;
    const inSet = names.includes(n);
    if (on === inSet && (on || n !== METRIC_NAME)) out.push(n, p[i + 1]!);
  }
  return Labels.fromSortedPairs(out);
}

/** Signature key for vector matching: `on` keeps the names, `ignoring` drops them and the metric name. */
export function matchingKey(l: Labels, on: boolean, names: readonly string[]): string {
  return matchLabels(l, on, names).key();
}

/** Grouping key and output labels of an aggregation. */
export function groupingLabels(l: Labels, grouping: readonly string[], without: boolean): Labels {
  if (without) return l.without([...grouping, METRIC_NAME]);
  if (grouping.length === 0) return Labels.EMPTY;
  return l.keep(grouping);
}

/** facette/natsort's Compare (natural order, numbers compared by value): true when a < b. */
export function natLess(a: string, b: string): boolean {
  const ca = a.match(/\d+|\D+/g) ?? [];
  const cb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < ca.length; i++) {
    if (i >= cb.length) return false;
    const x = ca[i]!;
    const y = cb[i]!;
    const xi = /^\d+$/.test(x) ? Number(x) : NaN;
    const yi = /^\d+$/.test(y) ? Number(y) : NaN;
    if (xi === xi && yi === yi) {
      if (xi === yi) {
        if (i === ca.length - 1) return true;
        if (i === cb.length - 1) return false;
        continue;
      }
      return xi < yi;
    }
    if (x === y) {
      if (i === ca.length - 1) return true;
      if (i === cb.length - 1) return false;
      continue;
    }
    return x < y;
  }
  return false;
}

const SEP = '\xff';

/**
 * The identity of an aggregation group as a string, without building the group's label set
 * (names must be sorted): `by` keeps the grouping labels, `without` drops them and the name.
 */
export function groupingKey(l: Labels, sortedGrouping: readonly string[], without: boolean): string {
  const p = l.pairs;
  let key = '';
  if (without) {
    let j = 0;
    for (let i = 0; i < p.length; i += 2) {
      const n = p[i]!;
      while (j < sortedGrouping.length && sortedGrouping[j]! < n) j++;
      if (n === METRIC_NAME || (j < sortedGrouping.length && sortedGrouping[j] === n)) continue;
      key += n + SEP + p[i + 1]! + SEP;
    }
    return key;
  }
  if (sortedGrouping.length === 0) return '';
  let j = 0;
  for (let i = 0; i < p.length && j < sortedGrouping.length; i += 2) {
    const n = p[i]!;
    while (j < sortedGrouping.length && sortedGrouping[j]! < n) j++;
    if (j < sortedGrouping.length && sortedGrouping[j] === n) key += n + SEP + p[i + 1]! + SEP;
  }
  return key;
}

/**
 * True when dropping the metadata labels of these label sets cannot make two of them equal:
 * all share one metric name and none has `__type__` or `__unit__`.
 */
export function nameDropIsInjective(ls: readonly Labels[], count: number): boolean {
  let name: string | undefined;
  for (let s = 0; s < count; s++) {
    const l = ls[s]!;
    const n = l.get(METRIC_NAME);
    if (name === undefined) name = n;
    else if (n !== name) return false;
    if (l.has('__type__') || l.has('__unit__')) return false;
  }
  return true;
}
