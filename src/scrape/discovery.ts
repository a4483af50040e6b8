/**
 * Target discovery: `static_configs` and `file_sd_configs` (JSON or YAML files of
 * `[{targets: [...], labels: {...}}]`, globs in the last path element, re-read on change and
 * every `refresh_interval`). A file that cannot be read or parsed keeps its previous targets
 * and is logged with its name and the problem.
 */
import { readdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { errorMessage, isValidLabelName, Labels, LabelsBuilder, VigilError } from '../model/index.ts';
import { ADDRESS_LABEL, type TargetGroup } from './target.ts';

export interface DiscoveryProvider {
  /** Starts discovery; `onUpdate` receives the provider's full current list of groups. */
  start(onUpdate: (groups: TargetGroup[]) => void): void;
  stop(): void;
}

/** Groups from `static_configs`. */
export class StaticDiscovery implements DiscoveryProvider {
  constructor(private readonly configs: ReadonlyArray<{ targets: readonly string[]; labels: Labels }>) {}

  start(onUpdate: (groups: TargetGroup[]) => void): void {
    onUpdate(
      this.configs.map((c, i) => ({
        source: String(i),
        targets: c.targets.map((t) => Labels.fromPairs([ADDRESS_LABEL, t])),
        labels: c.labels,
      })),
    );
  }

  stop(): void {}
}

export class FileSdError extends VigilError {
  constructor(message: string) {
    super('file_sd_invalid', message);
  }
}

/** Parses the content of a file_sd file. Throws FileSdError naming the file and the problem. */
export function parseFileSd(file: string, text: string): TargetGroup[] {
  let data: unknown;
  try {
    data = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new FileSdError(`${file}: cannot parse ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${errorMessage(e).split('\n')[0]}`);
  }
  if (data === null || data === undefined) return [];
  if (!Array.isArray(data)) throw new FileSdError(`${file}: expected a list of target groups ({targets: [...], labels: {...}})`);
  return data.map((g: unknown, i: number) => {
    if (!g || typeof g !== 'object' || Array.isArray(g)) throw new FileSdError(`${file}: [${i}]: expected a map with targets and labels`);
    const { targets, labels, ...rest } = g as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length) throw new FileSdError(`${file}: [${i}]: unknown key ${JSON.stringify(extra[0])} (allowed: targets, labels)`);
    if (targets !== undefined && (!Array.isArray(targets) || targets.some((t) => typeof t !== 'string'))) throw new FileSdError(`${file}: [${i}].targets: expected a list of strings`);
    const b = new LabelsBuilder();
    if (labels !== undefined && labels !== null) {
      if (typeof labels !== 'object' || Array.isArray(labels)) throw new FileSdError(`${file}: [${i}].labels: expected a map of label names to values`);
      for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
        if (!isValidLabelName(k)) throw new FileSdError(`${file}: [${i}].labels: ${JSON.stringify(k)} is not a valid label name`);
        if (typeof v !== 'string') throw new FileSdError(`${file}: [${i}].labels.${k}: expected a string, got ${JSON.stringify(v)}`);
        b.set(k, v);
      }
    }
    b.set('__meta_filepath', file);
    return {
      source: `${file}:${i}`,
      targets: ((targets as string[] | undefined) ?? []).map((t) => Labels.fromPairs([ADDRESS_LABEL, t])),
      labels: b.build(),
    };
  });
}

function globToRegExp(glob: string): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 1);
      if (close < 0) re += '\\[';
      else {
        let cls = glob.slice(i + 1, close);
        if (cls.startsWith('^')) cls = '^' + cls.slice(1);
        re += '[' + cls.replace(/\\/g, '\\\\') + ']';
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}

/** Files matching a pattern whose last element may hold `*`, `?` or `[...]`. */
export function expandFilePattern(pattern: string): string[] {
  const dir = dirname(pattern);
  const base = basename(pattern);
  if (!/[*?[]/.test(base)) {
    try {
      return statSync(pattern).isFile() ? [pattern] : [];
    } catch {
      return [];
    }
  }
  const re = globToRegExp(base);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => re.test(n)).sort().map((n) => join(dir, n));
}

/** Groups from `file_sd_configs` (one provider per config entry). */
export class FileDiscovery implements DiscoveryProvider {
  private readonly byFile = new Map<string, TargetGroup[]>();
  private watchers: FSWatcher[] = [];
  private interval: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private onUpdate: ((groups: TargetGroup[]) => void) | undefined;
  private stopped = false;
  /** Read errors since start (self-metrics). */
  readErrors = 0;

  constructor(
    private readonly patterns: readonly string[],
    private readonly refreshMs: number,
    private readonly logger: Logger,
  ) {}

  start(onUpdate: (groups: TargetGroup[]) => void): void {
    this.onUpdate = onUpdate;
    this.refresh();
    const dirs = new Set(this.patterns.map((p) => dirname(p)));
    for (const d of dirs) {
      try {
        const w = watch(d, { persistent: false }, () => this.scheduleRefresh());
        w.on('error', (e) => this.logger.warn({ dir: d, err: errorMessage(e) }, 'file_sd: watching directory failed; relying on refresh_interval'));
        this.watchers.push(w);
      } catch (e) {
        this.logger.warn({ dir: d, err: errorMessage(e) }, 'file_sd: cannot watch directory; relying on refresh_interval');
      }
    }
    this.interval = setInterval(() => this.refresh(), this.refreshMs);
    this.interval.unref();
  }

  private scheduleRefresh(): void {
    if (this.stopped) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.refresh(), 50);
    this.debounce.unref();
  }

  /** Re-reads every matching file and reports the groups (also called by tests). */
  refresh(): void {
    if (this.stopped) return;
    const files = new Set<string>();
    for (const p of this.patterns) for (const f of expandFilePattern(p)) files.add(f);
    for (const f of [...this.byFile.keys()]) if (!files.has(f)) this.byFile.delete(f);
    for (const f of files) {
      try {
        this.byFile.set(f, parseFileSd(f, readFileSync(f, 'utf8')));
      } catch (e) {
        this.readErrors++;
        // A file being rewritten may be read half-way; its previous targets stay until it parses.
        this.logger.error({ file: f, err: errorMessage(e) }, 'file_sd: error reading file');
      }
    }
    this.onUpdate?.([...this.byFile.values()].flat());
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.interval) clearInterval(this.interval);
    if (this.debounce) clearTimeout(this.debounce);
  }
}
