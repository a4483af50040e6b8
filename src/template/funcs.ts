/**
 * Function signatures (Go's reflect-based argument checks) and the builtin functions of
 * text/template: and, or, not, len, index, slice, print, printf, println, html, js, urlquery,
 * call, eq, ne, lt, le, gt, ge.
 */
import { TemplateFuncError } from './errors.ts';
import { sprint, sprintf, sprintln, formatValue } from './fmt.ts';
import { GoDuration, GoTime } from './gotime.ts';
import {
  TypedString, isTrue as isTrueValue, kindOf, mapElemZero, mapGet, mapHas, mapSize, stringOf, typeInfo, typeName,
} from './values.ts';

/**
 * A parameter type. `kind` decides how literal arguments are converted (Go converts constants
 * to the parameter's type); `check` decides whether a computed value is assignable.
 */
export interface ParamSpec {
  /** Go's name of the type, used in messages (`expected string; got float64`). */
  readonly name: string;
  readonly kind: 'any' | 'value' | 'string' | 'int' | 'float' | 'bool' | 'other';
  /** Whether a value of this type may be nil; the value passed for a nil or missing argument. */
  readonly nilValue?: { value: unknown };
  check(v: unknown): boolean;
}

const isStringSlice = (v: unknown) => {
  if (!Array.isArray(v)) return false;
  const ti = typeInfo(v);
  if (ti) return ti.kind === 'slice' && ti.name === '[]string';
  return v.every((x) => typeof x === 'string');
};

/** Parameter types for function signatures. */
export const P = {
  /** interface{}: anything; a missing value arrives as `null`. */
  any: { name: 'interface {}', kind: 'any', nilValue: { value: null }, check: () => true } as ParamSpec,
  /** reflect.Value (builtins): anything, a missing value arrives as `undefined`. */
  value: { name: 'reflect.Value', kind: 'value', nilValue: { value: undefined }, check: () => true } as ParamSpec,
  string: { name: 'string', kind: 'string', check: (v) => typeof v === 'string' } as ParamSpec,
  int: { name: 'int', kind: 'int', check: (v) => typeof v === 'bigint' } as ParamSpec,
  float64: { name: 'float64', kind: 'float', check: (v) => typeof v === 'number' } as ParamSpec,
  bool: { name: 'bool', kind: 'bool', check: (v) => typeof v === 'boolean' } as ParamSpec,
  time: { name: 'time.Time', kind: 'other', check: (v) => v instanceof GoTime } as ParamSpec,
  duration: { name: 'time.Duration', kind: 'other', check: (v) => v instanceof GoDuration } as ParamSpec,
  stringSlice: { name: '[]string', kind: 'other', nilValue: { value: [] }, check: isStringSlice } as ParamSpec,
  /** A named type checked by a predicate (e.g. Prometheus' `queryResult`). */
  named(name: string, check: (v: unknown) => boolean, nilValue?: { value: unknown }): ParamSpec {
    return { name, kind: 'other', nilValue, check };
  },
};

/** What a template function receives as `this`: the caller's per-execution context. */
export interface FuncContext {
  /** The `context` given to execute(); functions such as `query` read their environment from it. */
  readonly context: unknown;
}

/** A template function with a Go-style signature. */
export interface FuncDef {
  readonly params: readonly ParamSpec[];
  /** The type of each trailing variadic argument; absent for non-variadic functions. */
  readonly variadic?: ParamSpec;
  /** Throws (any Error) to report Go's `error calling NAME: message`. */
  readonly fn: (this: FuncContext, ...args: any[]) => unknown;
  /**
   * The function may return a Promise (e.g. `query`). Such calls are awaited by executeAsync,
   * memoised by name and arguments within one execution; execute() reports an error.
   */
  readonly mayBeAsync?: boolean;
  /**
   * For mayBeAsync functions: turns the awaited (memoised) value into the call's result, so
   * that every call gets fresh objects (e.g. `sortByLabel` sorts one query result only).
   */
  readonly fromAwaited?: (value: unknown) => unknown;
  /** Internal: builtin and/or short-circuit evaluation. */
  readonly shortCircuit?: 'and' | 'or';
}

/** A function map entry: a FuncDef, or a plain function taking any number of interface{} args. */
export type TemplateFunc = FuncDef | ((this: FuncContext, ...args: any[]) => unknown);
export type FuncMap = Record<string, TemplateFunc>;

/** Builds a FuncDef. */
export function defineFunc(params: readonly ParamSpec[], fn: FuncDef['fn'], extra: Partial<Pick<FuncDef, 'variadic' | 'mayBeAsync' | 'fromAwaited'>> = {}): FuncDef {
  return { params, fn, ...extra };
}

export function toFuncDef(f: TemplateFunc): FuncDef {
  if (typeof f === 'function') return { params: [], variadic: P.any, fn: f };
  return f;
}

const fail = (msg: string): never => {
  throw new TemplateFuncError(msg);
};

// ---- comparison -------------------------------------------------------------------------------

type BasicKind = 'bool' | 'int' | 'float' | 'string' | 'invalid' | 'other';

function basicKind(v: unknown): BasicKind {
  switch (typeof v) {
    case 'boolean': return 'bool';
    case 'bigint': return 'int';
    case 'number': return 'float';
    case 'string': return 'string';
    case 'undefined': return 'invalid';
  }
  if (v instanceof TypedString) return 'string';
  if (v instanceof GoDuration) return 'int';
  return 'other';
}

function basicValue(v: unknown): unknown {
  if (v instanceof TypedString) return v.value;
  if (v instanceof GoDuration) return v.ns;
  return v;
}

const errBadComparisonType = 'invalid type for comparison';
const errBadComparison = 'incompatible types for comparison';
const errNoComparison = 'missing argument for comparison';

function eqValues(a: unknown, b: unknown): boolean {
  const k1 = basicKind(a);
  const k2 = basicKind(b);
  if (k1 !== k2) {
    if (a !== undefined && b !== undefined) fail(errBadComparison);
    return false;
  }
  if (k1 !== 'other' && k1 !== 'invalid') return basicValue(a) === basicValue(b);
  if (k1 === 'invalid') return true;
  // Non-basic kinds: nil, times, structs compare; slices, maps and functions do not.
  const nil1 = a === null;
  const nil2 = b === null;
  if (nil1 || nil2) return nil1 === nil2;
  const ka = kindOf(a);
  const kb = kindOf(b);
  if (ka === 'slice' || ka === 'map' || ka === 'func') fail(`non-comparable type ${formatValue(a)}: ${typeName(a)}`);
  if (kb === 'slice' || kb === 'map' || kb === 'func') fail(`non-comparable type ${formatValue(b)}: ${typeName(b)}`);
  if (typeName(a) !== typeName(b)) return false;
  if (a instanceof GoTime && b instanceof GoTime) return a.unixSec === b.unixSec && a.nsec === b.nsec && a.loc === b.loc;
  return a === b;
}

function eq(arg1: unknown, ...rest: unknown[]): boolean {
  if (rest.length === 0) fail(errNoComparison);
  for (const a of rest) if (eqValues(arg1, a)) return true;
  return false;
}

function lt(a: unknown, b: unknown): boolean {
  const k1 = basicKind(a);
  if (k1 === 'invalid' || k1 === 'other') fail(errBadComparisonType);
  const k2 = basicKind(b);
  if (k2 === 'invalid' || k2 === 'other') fail(errBadComparisonType);
  if (k1 !== k2) fail(errBadComparison);
  if (k1 === 'bool') fail(errBadComparisonType);
  const x = basicValue(a) as string | number | bigint;
  const y = basicValue(b) as string | number | bigint;
  return x < y;
}

// ---- index / slice / len ----------------------------------------------------------------------

function indexArg(index: unknown, cap: number): number {
  let x: number;
  if (typeof index === 'bigint') x = Number(index);
  else if (index === undefined || index === null) return fail('cannot index slice/array with nil');
  else return fail(`cannot index slice/array with type ${typeName(index)}`);
  if (x < 0 || x > cap) fail(`index out of range: ${x}`);
  return x;
}

function index(item: unknown, ...indexes: unknown[]): unknown {
  let v = item;
  if (v === undefined) fail('index of untyped nil');
  for (const ix of indexes) {
    if (v === null || v === undefined) fail('index of nil pointer');
    const s = stringOf(v);
    if (s !== undefined) {
      const bytes = Buffer.from(s, 'utf8');
      const x = indexArg(ix, bytes.length);
      if (x === bytes.length) fail(`index out of range: ${x}`);
      v = BigInt(bytes[x]!);
      continue;
    }
    const k = kindOf(v);
    if (k === 'slice') {
      const arr = v as unknown[];
      const x = indexArg(ix, arr.length);
      if (x === arr.length) fail(`index out of range: ${x}`);
      v = arr[x];
      continue;
    }
    if (k === 'map') {
      const key = stringOf(ix);
      if (key === undefined) {
        if (ix === undefined || ix === null) fail('value is nil; should be of type string');
        return fail(`value has type ${typeName(ix)}; should be string`);
      }
      const m = v as object;
      v = mapHas(m, key) ? mapGet(m, key) : mapElemZero(m);
      continue;
    }
    fail(`can't index item of type ${typeName(v)}`);
  }
  return v;
}

function sliceFn(item: unknown, ...indexes: unknown[]): unknown {
  if (item === undefined || item === null) fail('slice of untyped nil');
  if (indexes.length > 3) fail(`too many slice indexes: ${indexes.length}`);
  const s = stringOf(item);
  let len: number;
  let bytes: Buffer | undefined;
  if (s !== undefined) {
    if (indexes.length === 3) fail('cannot 3-index slice a string');
    bytes = Buffer.from(s, 'utf8');
    len = bytes.length;
  } else if (kindOf(item) === 'slice') {
    len = (item as unknown[]).length;
  } else {
    return fail(`can't slice item of type ${typeName(item)}`);
  }
  const idx = [0, len];
  for (let i = 0; i < indexes.length; i++) idx[i] = indexArg(indexes[i], len);
  if (idx[0]! > idx[1]!) fail(`invalid slice index: ${idx[0]} > ${idx[1]}`);
  if (indexes.length === 3 && idx[1]! > idx[2]!) fail(`invalid slice index: ${idx[1]} > ${idx[2]}`);
  if (bytes) return bytes.subarray(idx[0], idx[1]).toString('utf8');
  const out = (item as unknown[]).slice(idx[0], idx[1]);
  const ti = typeInfo(item as object);
  if (ti) Object.defineProperty(out, Symbol.for('vigil.template.goType'), { value: ti, enumerable: false });
  return out;
}

function length(item: unknown): bigint {
  if (item === undefined || item === null) fail('len of nil pointer');
  const s = stringOf(item);
  if (s !== undefined) return BigInt(Buffer.byteLength(s, 'utf8'));
  const k = kindOf(item);
  if (k === 'slice') return BigInt((item as unknown[]).length);
  if (k === 'map') return BigInt(mapSize(item as object));
  return fail(`len of type ${typeName(item)}`);
}

// ---- escaping -----------------------------------------------------------------------------------

function evalArgs(args: unknown[]): string {
  if (args.length === 1 && typeof args[0] === 'string') return args[0];
  return sprint(args);
}

/** Go's template.HTMLEscapeString. */
export function htmlEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    switch (ch) {
      case '"': out += '&#34;'; break;
      case "'": out += '&#39;'; break;
      case '&': out += '&amp;'; break;
      case '<': out += '&lt;'; break;
      case '>': out += '&gt;'; break;
      case '\0': out += '\uFFFD'; break;
      default: out += ch;
    }
  }
  return out;
}

/** Go's template.JSEscapeString. */
export function jsEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    switch (ch) {
      case '\\': out += '\\\\'; continue;
      case "'": out += "\\'"; continue;
      case '"': out += '\\"'; continue;
      case '<': out += '\\u003C'; continue;
      case '>': out += '\\u003E'; continue;
      case '&': out += '\\u0026'; continue;
      case '=': out += '\\u003D'; continue;
    }
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || (c >= 0x7f && c < 0xa0) || c === 0x2028 || c === 0x2029) {
      out += '\\u' + c.toString(16).toUpperCase().padStart(4, '0');
    } else out += ch;
  }
  return out;
}

/** Go's url.QueryEscape. */
export function queryEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(ch)) out += ch;
    else if (ch === ' ') out += '+';
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function call(fn: unknown, ...args: unknown[]): unknown {
  if (fn === undefined || fn === null) fail('call of nil');
  if (typeof fn !== 'function') fail(`non-function of type ${typeName(fn)}`);
  return (fn as (...a: unknown[]) => unknown)(...args);
}

/** Go's builtin template functions. */
export const BUILTINS: Record<string, FuncDef> = {
  and: { params: [P.value], variadic: P.value, fn: () => undefined, shortCircuit: 'and' },
  or: { params: [P.value], variadic: P.value, fn: () => undefined, shortCircuit: 'or' },
  not: { params: [P.value], fn: (v: unknown) => !isTrueValue(v) },
  len: { params: [P.value], fn: length },
  index: { params: [P.value], variadic: P.value, fn: index },
  slice: { params: [P.value], variadic: P.value, fn: sliceFn },
  print: { params: [], variadic: P.any, fn: (...a: unknown[]) => sprint(a) },
  printf: { params: [P.string], variadic: P.any, fn: (f: string, ...a: unknown[]) => sprintf(f, a) },
  println: { params: [], variadic: P.any, fn: (...a: unknown[]) => sprintln(a) },
  html: { params: [], variadic: P.any, fn: (...a: unknown[]) => htmlEscape(evalArgs(a)) },
  js: { params: [], variadic: P.any, fn: (...a: unknown[]) => jsEscape(evalArgs(a)) },
  urlquery: { params: [], variadic: P.any, fn: (...a: unknown[]) => queryEscape(evalArgs(a)) },
  call: { params: [P.value], variadic: P.value, fn: call },
  eq: { params: [P.value], variadic: P.value, fn: eq },
  ne: { params: [P.value, P.value], fn: (a: unknown, b: unknown) => !eq(a, b) },
  lt: { params: [P.value, P.value], fn: lt },
  le: { params: [P.value, P.value], fn: (a: unknown, b: unknown) => lt(a, b) || eq(a, b) },
  gt: { params: [P.value, P.value], fn: (a: unknown, b: unknown) => !(lt(a, b) || eq(a, b)) },
  ge: { params: [P.value, P.value], fn: (a: unknown, b: unknown) => !lt(a, b) },
};
