/**
 * Decoding YAML into struct-like shapes the way Go's yaml decoders do for Prometheus' files:
 * unknown keys and type mismatches collected as `yaml: unmarshal errors:` lines, scalars read
 * into strings by their source text, durations parsed strictly (the first bad one stops
 * decoding, as a custom unmarshaler error does in Go).
 */
import { isMap, isPair, isScalar, isSeq, Scalar, type LineCounter, type Node as YamlNode, type YAMLMap } from 'yaml';
import { DurationError, parseDuration } from '../model/index.ts';

export { isMap, isSeq, isScalar };
export type { YamlNode };

export interface Pos {
  line: number;
  column: number;
}


export class Decoder {
  readonly unmarshalErrors: string[] = [];
  /** Errors of custom unmarshalers (durations): Go's decoder stops at the first one. */
  readonly otherErrors: Array<{ line: number; column: number; text: string }> = [];

  constructor(private readonly text: string, private readonly lc: LineCounter) {}

  pos(node: YamlNode | null | undefined): Pos {
    const off = node?.range?.[0];
    if (off === undefined) return { line: 0, column: 0 };
    const p = this.lc.linePos(off);
    return { line: p.line, column: p.col };
  }

  private tag(node: YamlNode): string {
    if (isMap(node)) return '!!map';
    if (isSeq(node)) return '!!seq';
    if (isScalar(node)) {
      const v = node.value;
      if (node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE || node.type === Scalar.BLOCK_LITERAL || node.type === Scalar.BLOCK_FOLDED) return '!!str';
      if (v === null) return '!!null';
      if (typeof v === 'boolean') return '!!bool';
      if (typeof v === 'number' || typeof v === 'bigint') return /^[-+]?(0x[0-9a-fA-F_]+|0o?[0-7_]+|[0-9_]+)$/.test(this.source(node)) ? '!!int' : '!!float';
      return '!!str';
    }
    return '!!str';
  }

  /** The scalar's text as Go's yaml decodes it into a string (plain scalars keep their source). */
  private source(node: Scalar): string {
    if (node.type === Scalar.PLAIN && node.range) return this.text.slice(node.range[0], node.range[1]).trimEnd();
    return String(node.value ?? '');
  }

  typeError(node: YamlNode, into: string): void {
    const t = this.tag(node);
    const show = isScalar(node) ? ` \`${this.source(node as Scalar)}\`` : '';
    this.unmarshalErrors.push(`line ${this.pos(node).line}: cannot unmarshal ${t}${show} into ${into}`);
  }

  isNull(node: YamlNode | null | undefined): boolean {
    return node === null || node === undefined || (isScalar(node) && node.value === null && node.type === Scalar.PLAIN);
  }

  /** Go: decode a scalar into a string field. */
  str(node: YamlNode | null | undefined): string {
    if (this.isNull(node)) return '';
    if (!isScalar(node)) {
      this.typeError(node!, 'string');
      return '';
    }
    return this.source(node);
  }

  int(node: YamlNode | null | undefined): number {
    if (this.isNull(node)) return 0;
    if (!isScalar(node) || this.tag(node) !== '!!int') {
      this.typeError(node!, 'int');
      return 0;
    }
    return Number(String(node.value).replace(/_/g, ''));
  }

  float(node: YamlNode | null | undefined): number {
    if (this.isNull(node)) return 0;
    if (!isScalar(node)) {
      this.typeError(node!, 'float64');
      return 0;
    }
    const t = this.tag(node);
    if (t === '!!int' || t === '!!float') return Number(node.value);
    const src = this.source(node).toLowerCase();
    if (node.type === Scalar.PLAIN && (src === '.inf' || src === '+.inf')) return Infinity;
    if (node.type === Scalar.PLAIN && src === '-.inf') return -Infinity;
    if (node.type === Scalar.PLAIN && src === '.nan') return NaN;
    this.typeError(node, 'float64');
    return 0;
  }

  bool(node: YamlNode | null | undefined): boolean {
    if (this.isNull(node)) return false;
    if (!isScalar(node) || this.tag(node) !== '!!bool') {
      this.typeError(node!, 'bool');
      return false;
    }
    return node.value === true;
  }

  /** A list; a non-list is a type error naming `into`. */
  list(node: YamlNode | null | undefined, into: string): YamlNode[] {
    if (this.isNull(node)) return [];
    if (!isSeq(node)) {
      this.typeError(node!, into);
      return [];
    }
    return node.items as YamlNode[];
  }

  duration(node: YamlNode | null | undefined): number | undefined {
    if (this.isNull(node)) return undefined;
    if (!isScalar(node)) {
      this.typeError(node!, 'string');
      return undefined;
    }
    const s = this.source(node);
    try {
      return parseDuration(s);
    } catch (e) {
      if (!(e instanceof DurationError)) throw e;
      const p = this.pos(node);
      this.otherErrors.push({ ...p, text: `${p.line}:${p.column}: not a valid duration string: ${JSON.stringify(s)}` });
      return undefined;
    }
  }

  /** A map of strings (labels, annotations), in file order; duplicate keys were rejected by the parser. */
  stringMap(node: YamlNode | null | undefined): Array<[string, string, YamlNode]> {
    if (this.isNull(node)) return [];
    if (!isMap(node)) {
      this.typeError(node!, 'map[string]string');
      return [];
    }
    const out: Array<[string, string, YamlNode]> = [];
    for (const it of node.items) {
      const k = this.str(it.key as YamlNode);
      const v = this.str(it.value as YamlNode);
      out.push([k, v, (it.value ?? it.key) as YamlNode]);
    }
    return out;
  }

  /** Fields of a struct-like map; unknown keys are reported as Go's KnownFields decoder does. */
  fields(node: YamlNode, known: Set<string>, type: string): Map<string, { key: YamlNode; value: YamlNode | null }> | undefined {
    if (!isMap(node)) {
      this.typeError(node, type);
      return undefined;
    }
    const out = new Map<string, { key: YamlNode; value: YamlNode | null }>();
    for (const it of (node as YAMLMap).items) {
      if (!isPair(it)) continue;
      const keyNode = it.key as YamlNode;
      const k = isScalar(keyNode) ? String(keyNode.value) : '';
      if (!known.has(k)) {
        this.unmarshalErrors.push(`line ${this.pos(keyNode).line}: field ${k} not found in type ${type}`);
        continue;
      }
      out.set(k, { key: keyNode, value: (it.value as YamlNode | null) ?? null });
    }
    return out;
  }
}
