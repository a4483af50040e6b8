/**
 * How Go values are represented in JavaScript for the template engine.
 *
 * | Go                         | JavaScript                                                   |
 * |----------------------------|--------------------------------------------------------------|
 * | no value (invalid)         | `undefined`                                                  |
 * | nil                        | `null`                                                       |
 * | string                     | `string`                                                     |
 * | named string (template.HTML) | `TypedString`                                              |
 * | int (and int64)            | `bigint`                                                     |
 * | float64                    | `number`                                                     |
 * | bool                       | `boolean`                                                    |
 * | slice                      | `Array` (type name from `[GO_TYPE]`, default `[]interface {}`) |
 * | map[string]X               | plain object or `Map` (default `map[string]interface {}`), or any object whose `[GO_TYPE].kind` is `'map'` (its own enumerable properties are the entries; its prototype's functions are methods, as Go's `KV`) |
 * | struct                     | class instance (type name `[GO_TYPE].name` or the constructor's name): own properties are fields, prototype functions are methods |
 * | time.Time                  | `GoTime`                                                     |
 * | time.Duration              | `GoDuration`                                                 |
 * | func                       | `function` or `TemplateFunc`                                 |
 *
 * A map's missing key yields `[GO_TYPE].elemZero` under `missingkey=zero` (`''` for
 * `map[string]string`, `undefined` — printed `<no value>` — for `map[string]interface {}`).
 */
import { GoDuration, GoTime } from './gotime.ts';

export const GO_TYPE: unique symbol = Symbol.for('vigil.template.goType');

export interface GoTypeInfo {
  /** The Go type's name as Go prints it in messages (`map[string]string`, `template.Data`). */
  name: string;
  kind: 'map' | 'struct' | 'slice';
  /** Maps: the element type's zero value (`undefined` for interface elements). */
  elemZero?: unknown;
  /** Slices: the element type's name (`string` for `[]string`). */
  elem?: string;
}

/** A value of a named string type such as html/template.HTML: a string for every purpose but type checks. */
export class TypedString {
  constructor(readonly value: string, readonly goType: string) {}
  toString(): string {
    return this.value;
  }
}

/** Tags `obj` as a Go map with the given type name and element zero value; returns it. */
export function goMap<T extends object>(obj: T, name = 'map[string]string', elemZero: unknown = ''): T {
  Object.defineProperty(obj, GO_TYPE, { value: { kind: 'map', name, elemZero } satisfies GoTypeInfo, enumerable: false });
  return obj;
}

/** Tags `arr` as a Go slice of `elem` (`[]elem`); returns it. */
export function goSlice<T extends unknown[]>(arr: T, elem = 'string', name = '[]' + elem): T {
  Object.defineProperty(arr, GO_TYPE, { value: { kind: 'slice', name, elem } satisfies GoTypeInfo, enumerable: false });
  return arr;
}

/** Tags `obj` as a Go struct named `name`; returns it. */
export function goStruct<T extends object>(obj: T, name: string): T {
  Object.defineProperty(obj, GO_TYPE, { value: { kind: 'struct', name } satisfies GoTypeInfo, enumerable: false });
  return obj;
}

export type Kind =
  | 'invalid'
  | 'nil'
  | 'string'
  | 'int'
  | 'float'
  | 'bool'
  | 'slice'
  | 'map'
  | 'struct'
  | 'func'
  | 'time'
  | 'duration';

export function typeInfo(v: object): GoTypeInfo | undefined {
  return (v as { [GO_TYPE]?: GoTypeInfo })[GO_TYPE];
}

/** The reflect kind of a value, in this engine's terms. */
export function kindOf(v: unknown): Kind {
  switch (typeof v) {
    case 'undefined':
      return 'invalid';
    case 'string':
      return 'string';
    case 'number':
      return 'float';
    case 'bigint':
      return 'int';
    case 'boolean':
      return 'bool';
    case 'function':
      return 'func';
    case 'object': {
      if (v === null) return 'nil';
      if (v instanceof TypedString) return 'string';
      if (v instanceof GoTime) return 'time';
      if (v instanceof GoDuration) return 'duration';
      const ti = typeInfo(v);
      if (ti) return ti.kind;
      if (Array.isArray(v)) return 'slice';
      if (v instanceof Map) return 'map';
      const proto = Object.getPrototypeOf(v);
      if (proto === Object.prototype || proto === null) return 'map';
      return 'struct';
    }
    default:
      return 'invalid';
  }
}

/** Go's name for the value's type, as in `can't evaluate field X in type T`. */
export function typeName(v: unknown): string {
  switch (typeof v) {
    case 'undefined':
      return '<nil>';
    case 'string':
      return 'string';
    case 'number':
      return 'float64';
    case 'bigint':
      return 'int';
    case 'boolean':
      return 'bool';
    case 'function':
      return 'func';
    case 'object': {
      if (v === null) return '<nil>';
      if (v instanceof TypedString) return v.goType;
      if (v instanceof GoTime) return 'time.Time';
      if (v instanceof GoDuration) return 'time.Duration';
      const ti = typeInfo(v);
      if (ti) return ti.name;
      if (Array.isArray(v)) return '[]interface {}';
      if (v instanceof Map) return 'map[string]interface {}';
      const proto = Object.getPrototypeOf(v);
      if (proto === Object.prototype || proto === null) return 'map[string]interface {}';
      return (proto.constructor && proto.constructor.name) || 'struct';
    }
    default:
      return 'interface {}';
  }
}

/** A string value's text (string or TypedString). */
export function stringOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof TypedString) return v.value;
  return undefined;
}

/** Entries of a map value, unsorted. */
export function mapEntries(v: object): [string, unknown][] {
  if (v instanceof Map) return [...v.entries()].map(([k, x]) => [String(k), x]);
  return Object.entries(v);
}

export function mapGet(v: object, key: string): unknown {
  if (v instanceof Map) return v.get(key);
  return Object.prototype.hasOwnProperty.call(v, key) ? (v as Record<string, unknown>)[key] : undefined;
}

export function mapHas(v: object, key: string): boolean {
  if (v instanceof Map) return v.has(key);
  return Object.prototype.hasOwnProperty.call(v, key);
}

export function mapSize(v: object): number {
  if (v instanceof Map) return v.size;
  return Object.keys(v).length;
}

/** The zero value of a map's elements (missingkey=zero). */
export function mapElemZero(v: object): unknown {
  const ti = typeInfo(v);
  return ti && ti.kind === 'map' ? ti.elemZero : undefined;
}

/**
 * A method of `v` named `name` (Go resolves methods before fields and map keys). Methods are
 * functions reachable through the prototype chain, below Object.prototype and Array.prototype.
 */
export function methodOf(v: object, name: string): ((...args: unknown[]) => unknown) | undefined {
  let proto = Object.getPrototypeOf(v);
  while (proto && proto !== Object.prototype && proto !== Array.prototype && proto !== Map.prototype && proto !== Function.prototype) {
    const d = Object.getOwnPropertyDescriptor(proto, name);
    if (d) return typeof d.value === 'function' && name !== 'constructor' ? d.value : undefined;
    proto = Object.getPrototypeOf(proto);
  }
  return undefined;
}

/** Go's truth: false, 0, a nil pointer or interface, and empty arrays, maps, slices or strings are false. */
export function isTrue(v: unknown): boolean {
  switch (typeof v) {
    case 'undefined':
      return false;
    case 'string':
      return v.length > 0;
    case 'number':
      return v !== 0;
    case 'bigint':
      return v !== 0n;
    case 'boolean':
      return v;
    case 'function':
      return true;
    case 'object': {
      if (v === null) return false;
      if (v instanceof TypedString) return v.value.length > 0;
      if (v instanceof GoDuration) return v.ns !== 0n;
      if (v instanceof GoTime) return true;
      const k = kindOf(v);
      if (k === 'slice') return (v as unknown[]).length > 0;
      if (k === 'map') return mapSize(v) > 0;
      return true;
    }
    default:
      return false;
  }
}

/** Go's sort order for map keys of a basic kind (all string keys here). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Map entries sorted by key as Go's fmtsort and range do. */
export function sortedEntries(v: object): [string, unknown][] {
  return mapEntries(v).sort((x, y) => compareKeys(x[0], y[0]));
}
