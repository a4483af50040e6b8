/**
 * Warnings and infos returned beside query results (Prometheus' annotations). They are
 * de-duplicated by message text (the last position wins, as in Prometheus) and rendered as
 * `PromQL warning: <message> (<line>:<col>)` against the query string.
 */
import type { PosRange } from './ast.ts';
import { positionString } from './errors.ts';

export type AnnotationKind = 'warning' | 'info';

export interface Annotation {
  kind: AnnotationKind;
  /** Text without the `PromQL warning: ` prefix and without position. */
  message: string;
  /** Position of the sub-expression the annotation refers to (UTF-16 offsets). */
  pos: PosRange;
}

export class Annotations {
  private readonly byText = new Map<string, Annotation>();

  warn(message: string, pos: PosRange): void {
    this.byText.set('w' + message, { kind: 'warning', message, pos });
  }

  info(message: string, pos: PosRange): void {
    this.byText.set('i' + message, { kind: 'info', message, pos });
  }

  merge(other: Annotations): void {
    for (const [k, v] of other.byText) this.byText.set(k, v);
  }

  get size(): number {
    return this.byText.size;
  }

  list(): Annotation[] {
    return [...this.byText.values()];
  }

  /** Rendered texts, split into warnings and infos, each with its position in `query`. */
  render(query: string): { warnings: string[]; infos: string[] } {
    const warnings: string[] = [];
    const infos: string[] = [];
    for (const a of this.byText.values()) {
      const text = `PromQL ${a.kind}: ${a.message} (${positionString(query, a.pos.start)})`;
      (a.kind === 'warning' ? warnings : infos).push(text);
    }
    return { warnings, infos };
  }
}
