/**
 * Relabeling with Prometheus' semantics (relabel_configs, metric_relabel_configs): source
 * labels joined by `separator`, the RE2 `regex` anchored at both ends (`^(?:re)$`), Go's
 * `$1` / `${name}` expansion in `replacement` and `target_label`, `hashmod` on the last 8
 * bytes of the MD5 of the joined value (big-endian) modulo `modulus`, and a label set with an
 * empty value being the same as the label absent.
 */
import { createHash } from 'node:crypto';
import { compileAnchoredRe2, isLegacyLabelName, Labels, LabelsBuilder } from '../model/index.ts';
import type { RelabelAction, RelabelConfig } from './config.ts';

export interface CompiledRelabel {
  action: RelabelAction;
  sourceLabels: readonly string[];
  separator: string;
  regex: RegExp;
  /** The regex exactly as configured (for display). */
  regexSource: string;
  modulus: number;
  targetLabel: string;
  replacement: string;
}

/** Compiles relabel configs (already validated by the config schema). Throws RegexSyntaxError. */
export function compileRelabelConfigs(cfgs: readonly RelabelConfig[]): CompiledRelabel[] {
  return cfgs.map((c) => ({
    action: c.action,
    sourceLabels: c.source_labels ?? [],
    separator: c.separator,
    regex: compileAnchoredRe2(c.regex),
    regexSource: c.regex,
    modulus: c.modulus,
    targetLabel: c.target_label,
    replacement: c.replacement,
  }));
}

/**
 * Applies the rules in order. Returns the resulting label set, or null when a rule dropped it.
 * `lset` is not modified.
 */
export function relabel(lset: Labels, rules: readonly CompiledRelabel[]): Labels | null {
  let cur = lset;
  for (const r of rules) {
    const next = applyRule(cur, r);
    if (next === null) return null;
    cur = next;
  }
  return cur;
}

function sourceValue(lset: Labels, r: CompiledRelabel): string {
  const n = r.sourceLabels.length;
  if (n === 0) return '';
  if (n === 1) return lset.get(r.sourceLabels[0]!);
  let s = lset.get(r.sourceLabels[0]!);
  for (let i = 1; i < n; i++) s += r.separator + lset.get(r.sourceLabels[i]!);
  return s;
}

function applyRule(lset: Labels, r: CompiledRelabel): Labels | null {
  const val = sourceValue(lset, r);
  switch (r.action) {
    case 'drop':
      return r.regex.test(val) ? null : lset;
    case 'keep':
      return r.regex.test(val) ? lset : null;
    case 'dropequal':
      return lset.get(r.targetLabel) === val ? null : lset;
    case 'keepequal':
      return lset.get(r.targetLabel) === val ? lset : null;
    case 'replace': {
      const m = r.regex.exec(val);
      if (m === null) return lset;
      const target = expandTemplate(r.targetLabel, m);
      if (!isLegacyLabelName(target)) return lset; // Prometheus 2.x: target labels are legacy names
      const res = expandTemplate(r.replacement, m);
      return lset.with(target, res);
    }
    case 'lowercase':
      return lset.with(r.targetLabel, val.toLowerCase());
    case 'uppercase':
      return lset.with(r.targetLabel, val.toUpperCase());
    case 'hashmod':
      return lset.with(r.targetLabel, String(hashMod(val, r.modulus)));
    case 'labelmap': {
      const b = new LabelsBuilder(lset);
      lset.forEach((name, value) => {
        const m = r.regex.exec(name);
        if (m !== null) b.set(expandTemplate(r.replacement, m), value);
      });
      return b.build();
    }
    case 'labeldrop': {
      const drop: string[] = [];
      lset.forEach((name) => {
        if (r.regex.test(name)) drop.push(name);
      });
      return drop.length ? lset.without(drop) : lset;
    }
    case 'labelkeep': {
      const drop: string[] = [];
      lset.forEach((name) => {
        if (!r.regex.test(name)) drop.push(name);
      });
      return drop.length ? lset.without(drop) : lset;
    }
  }
}

/** Prometheus' hashmod: the MD5 of `value`, its last 8 bytes as a big-endian uint64, modulo `modulus`. */
export function hashMod(value: string, modulus: number): number {
  const d = createHash('md5').update(value, 'utf8').digest();
  const x = d.readBigUInt64BE(8);
  return Number(x % BigInt(modulus));
}

const WORD_CHAR = /[\p{L}\p{Nd}_]/u;

/**
 * Go's regexp.Expand: `$n`, `${n}`, `$name`, `${name}` (the longest run of letters, digits and
 * `_`), `$$` for a literal dollar; a malformed reference is kept as text; a missing or
 * non-participating group expands to ''.
 */
export function expandTemplate(template: string, m: RegExpExecArray): string {
  if (template.indexOf('$') < 0) return template;
  let out = '';
  let i = 0;
  while (i < template.length) {
    const d = template.indexOf('$', i);
    if (d < 0) break;
    out += template.slice(i, d);
    i = d + 1;
    if (template[i] === '$') {
      out += '$';
      i++;
      continue;
    }
    let j = i;
    const brace = template[j] === '{';
    if (brace) j++;
    const nameStart = j;
    while (j < template.length) {
      const cp = template.codePointAt(j)!;
      const ch = String.fromCodePoint(cp);
      if (!WORD_CHAR.test(ch)) break;
      j += ch.length;
    }
    const name = template.slice(nameStart, j);
    if (name === '' || (brace && template[j] !== '}')) {
      out += '$';
      continue;
    }
    if (brace) j++;
    i = j;
    let num = -1;
    if (/^[0-9]+$/.test(name) && !(name.length > 1 && name[0] === '0') && name.length <= 9) num = Number(name);
    if (num >= 0) out += m[num] ?? '';
    else out += m.groups?.[name] ?? '';
  }
  return out + template.slice(i);
}
