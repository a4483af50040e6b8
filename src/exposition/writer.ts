/**
 * Writers of the text format 0.0.4 and OpenMetrics 1.0 (federation, Vigil's own exposition,
 * tests). Output is what client_golang writes: values as Go's FormatFloat 'g' (OpenMetrics:
 * with `.0` on integral values), label values escaped (`\\`, `\"`, `\n`), names that are not
 * legacy identifiers quoted (`{"my.metric",le="1"}`).
 */
import { formatFloatF, formatFloatG, isLegacyLabelName, isLegacyMetricName, METRIC_NAME, type Labels } from '../model/index.ts';
import { formatOpenMetricsFloat } from './floats.ts';
import type { ExpositionFormat, MetricType } from './parser.ts';

/** Content-Type headers of what the writer produces. */
export const CONTENT_TYPE_TEXT = 'text/plain; version=0.0.4; charset=utf-8';
export const CONTENT_TYPE_OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

export function escapeLabelValue(v: string): string {
  let out = '';
  let last = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    let rep: string | undefined;
    if (c === 92) rep = '\\\\';
    else if (c === 34) rep = '\\"';
    else if (c === 10) rep = '\\n';
    if (rep === undefined) continue;
    out += v.slice(last, i) + rep;
    last = i + 1;
  }
  return last === 0 ? v : out + v.slice(last);
}

function escapeHelp(v: string, om: boolean): string {
  let out = '';
  let last = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    let rep: string | undefined;
    if (c === 92) rep = '\\\\';
    else if (c === 10) rep = '\\n';
    else if (om && c === 34) rep = '\\"';
    if (rep === undefined) continue;
    out += v.slice(last, i) + rep;
    last = i + 1;
  }
  return last === 0 ? v : out + v.slice(last);
}

function metaName(name: string): string {
  return isLegacyMetricName(name) ? name : `"${escapeLabelValue(name)}"`;
}

/**
 * Accumulates one exposition. Call `help`/`type`/`unit` before a family's samples, `sample`
 * for each sample, then `finish()` once. Families must not be interleaved (the formats
 * require each family's lines to be contiguous).
 */
export class ExpositionWriter {
  readonly format: ExpositionFormat;
  private out = '';
  private finished = false;

  constructor(format: ExpositionFormat) {
    this.format = format;
  }

  get contentType(): string {
    return this.format === 'openmetrics' ? CONTENT_TYPE_OPENMETRICS : CONTENT_TYPE_TEXT;
  }

  help(name: string, text: string): this {
    this.out += `# HELP ${metaName(name)} ${escapeHelp(text, this.format === 'openmetrics')}\n`;
    return this;
  }

  type(name: string, type: MetricType): this {
    let t: string = type;
    if (this.format === 'prometheus') {
      if (type === 'unknown' || type === 'gaugehistogram' || type === 'stateset') t = 'untyped';
      else if (type === 'info') t = 'gauge';
    }
    this.out += `# TYPE ${metaName(name)} ${t}\n`;
    return this;
  }

  /** OpenMetrics only (ignored for the text format, which has no units). */
  unit(name: string, unit: string): this {
    if (this.format === 'openmetrics') this.out += `# UNIT ${metaName(name)} ${unit}\n`;
    return this;
  }

  /**
   * One sample. `labels` carries the metric name as `__name__`; `timestampMs` is written when
   * given (text: integer ms; OpenMetrics: seconds).
   */
  sample(labels: Labels, value: number, timestampMs?: number): this {
    const name = labels.get(METRIC_NAME);
    let line = '';
    let inner = '';
    let sep = '';
    if (isLegacyMetricName(name)) line = name;
    else {
      inner = `"${escapeLabelValue(name)}"`;
      sep = ',';
    }
    const p = labels.pairs;
    for (let i = 0; i < p.length; i += 2) {
      const n = p[i]!;
      if (n === METRIC_NAME) continue;
      inner += `${sep}${isLegacyLabelName(n) ? n : `"${escapeLabelValue(n)}"`}="${escapeLabelValue(p[i + 1]!)}"`;
      sep = ',';
    }
    if (inner !== '') line += `{${inner}}`;
    const om = this.format === 'openmetrics';
    line += ' ' + (om ? formatOpenMetricsFloat(value) : formatFloatG(value));
    if (timestampMs !== undefined) line += ' ' + (om ? formatFloatF(timestampMs / 1000) : String(Math.trunc(timestampMs)));
    this.out += line + '\n';
    return this;
  }

  /** The exposition text (OpenMetrics: terminated by `# EOF`). The writer is done afterwards. */
  finish(): string {
    if (!this.finished && this.format === 'openmetrics') this.out += '# EOF\n';
    this.finished = true;
    return this.out;
  }
}
