/**
 * The executor: walks parsed trees against data with Go's text/template semantics (dot,
 * variables and their scopes, pipelines with the previous result as the final argument,
 * method-before-field-before-map-key lookup, missingkey options, short-circuit and/or,
 * break/continue, template calls) and Go's error messages.
 *
 * Bounded: a step budget, an output size limit and a template call depth limit stop runaway
 * templates with a TemplateLimitError.
 */
import { TemplateExecError, TemplateFuncError, TemplateLimitError } from './errors.ts';
import { formatValue } from './fmt.ts';
import { BUILTINS, P, type FuncContext, type FuncDef, type ParamSpec } from './funcs.ts';
import {
  errorContext, nodeString,
  type ArgNode, type ChainNode, type CommandNode, type FieldNode, type IdentifierNode, type ItemNode,
  type ListNode, type NumberNode, type PipeNode, type RangeNode, type TemplateNode, type Tree, type VariableNode,
} from './parse.ts';
import {
  isTrue, kindOf, mapElemZero, mapGet, mapHas, methodOf, sortedEntries, typeName,
} from './values.ts';

export type MissingKey = 'default' | 'invalid' | 'zero' | 'error';

/** Limits and options of one execution. */
export interface ExecLimits {
  /** Evaluation steps (nodes and commands) before execution stops. Default 1,000,000. */
  maxSteps: number;
  /** Output size in UTF-16 code units before execution stops. Default 4 MiB. */
  maxOutputBytes: number;
  /** Nested `{{template}}` calls before execution stops. Default 1,000. */
  maxDepth: number;
  /** Distinct asynchronous calls (e.g. `query`) in one executeAsync. Default 1,000. */
  maxAsyncCalls: number;
}

export const DEFAULT_LIMITS: ExecLimits = {
  maxSteps: 1_000_000,
  maxOutputBytes: 4 << 20,
  maxDepth: 1000,
  maxAsyncCalls: 1000,
};

/** What the executor needs from a template set. */
export interface ExecEnv {
  lookupTree(name: string): Tree | undefined;
  lookupFunc(name: string): FuncDef | undefined;
  missingKey: MissingKey;
}

/** Signals that an async function call is pending; the async driver awaits and replays. */
export class AsyncPending {
  constructor(readonly key: string, readonly promise: Promise<unknown>) {}
}

/** Results of awaited calls, keyed by function name and arguments; shared across replays. */
export type AsyncCache = Map<string, { ok: true; value: unknown } | { ok: false; error: unknown }>;

const MISSING: unique symbol = Symbol('missing');
type Final = unknown | typeof MISSING;

const BREAK = { kind: 'break' };
const CONTINUE = { kind: 'continue' };

interface Var {
  name: string;
  value: unknown;
}

/** Shared by all template calls of one execution. */
interface Run {
  out: string;
  steps: number;
  readonly env: ExecEnv;
  readonly limits: ExecLimits;
  readonly ctx: FuncContext;
  /** Present in async mode. */
  readonly cache: AsyncCache | null;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** Stable text of call arguments for the async memo key. */
function argKey(args: unknown[]): string {
  return args.map((a) => typeName(a) + ':' + (typeof a === 'string' ? a : formatValue(a))).join('\u0000');
}

class State {
  private node: { type: string; pos: number; src: { parseName: string; text: string } } | null = null;

  constructor(
    private readonly run: Run,
    private readonly tmplName: string,
    private vars: Var[],
    private readonly depth: number,
  ) {}

  private at(node: State['node']): void {
    this.node = node;
  }

  errorf(msg: string, cause?: unknown): never {
    throw new TemplateExecError(this.errorText(msg), cause !== undefined ? { cause } : undefined);
  }

  private errorText(msg: string): string {
    if (!this.node) return `template: ${this.tmplName}: ${msg}`;
    const [location, context] = errorContext(this.node);
    return `template: ${location}: executing ${goQuote(this.tmplName)} at <${context}>: ${msg}`;
  }

  private limit(msg: string): never {
    throw new TemplateLimitError(this.errorText(msg));
  }

  private step(): void {
    if (++this.run.steps > this.run.limits.maxSteps) this.limit(`execution exceeded the limit of ${this.run.limits.maxSteps} steps`);
  }

  private write(s: string): void {
    this.run.out += s;
    if (this.run.out.length > this.run.limits.maxOutputBytes) this.limit(`output exceeded the limit of ${this.run.limits.maxOutputBytes} bytes`);
  }

  // ---- variables ----

  private push(name: string, value: unknown): void {
    this.vars.push({ name, value });
  }

  private setVar(name: string, value: unknown): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
    this.errorf(`undefined variable: ${name}`);
  }

  private setTopVar(n: number, value: unknown): void {
    this.vars[this.vars.length - n]!.value = value;
  }

  private varValue(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) return this.vars[i]!.value;
    }
    return this.errorf(`undefined variable: ${name}`);
  }

  // ---- walking ----

  walk(dot: unknown, node: ItemNode | ListNode): void {
    this.step();
    switch (node.type) {
      case 'text':
        this.write(node.text);
        return;
      case 'action': {
        const val = this.evalPipeline(dot, node.pipe);
        if (node.pipe.decl.length === 0) this.printValue(node, val);
        return;
      }
      case 'list':
        for (const n of node.nodes) this.walk(dot, n);
        return;
      case 'if':
      case 'with': {
        const mark = this.vars.length;
        const val = this.evalPipeline(dot, node.pipe);
        if (isTrue(val)) this.walk(node.type === 'with' ? val : dot, node.list);
        else if (node.elseList) this.walk(dot, node.elseList);
        this.vars.length = mark;
        return;
      }
      case 'range':
        this.walkRange(dot, node);
        return;
      case 'template':
        this.walkTemplate(dot, node);
        return;
      case 'break':
        throw BREAK;
      case 'continue':
        throw CONTINUE;
    }
  }

  private printValue(node: ItemNode, v: unknown): void {
    this.at(node);
    if (v === undefined) {
      this.write('<no value>');
      return;
    }
    if (kindOf(v) === 'func') this.errorf(`can't print ${nodeString(node)} of type ${typeName(v)}`);
    this.write(formatValue(v));
  }

  private walkRange(dot: unknown, r: RangeNode): void {
    this.at(r);
    const mark0 = this.vars.length;
    try {
      const val = this.evalPipeline(dot, r.pipe);
      const mark = this.vars.length;
      const decl = r.pipe.decl;
      // Returns false to stop (break).
      const one = (index: unknown, elem: unknown): boolean => {
        if (decl.length > 0) {
          if (r.pipe.isAssign) {
            if (decl.length === 1) this.setVar(decl[0]!.ident[0]!, elem);
            else {
              this.setVar(decl[0]!.ident[0]!, index);
              this.setVar(decl[1]!.ident[0]!, elem);
            }
          } else {
            this.setTopVar(1, elem);
            if (decl.length > 1) this.setTopVar(2, index);
          }
        }
        try {
          this.walk(elem, r.list);
        } catch (e) {
          if (e === BREAK) return false;
          if (e !== CONTINUE) throw e;
        } finally {
          this.vars.length = mark;
        }
        return true;
      };
      const k = kindOf(val);
      switch (k) {
        case 'slice': {
          const arr = val as unknown[];
          if (arr.length === 0) break;
          for (let i = 0; i < arr.length; i++) {
            this.step();
            if (!one(BigInt(i), arr[i])) break;
          }
          return;
        }
        case 'map': {
          const entries = sortedEntries(val as object);
          if (entries.length === 0) break;
          for (const [key, v] of entries) {
            this.step();
            if (!one(key, v)) break;
          }
          return;
        }
        case 'int': {
          const n = val as bigint;
          if (decl.length > 1) this.errorf(`can't use ${formatValue(val)} to iterate over more than one variable`);
          if (n <= 0n) break;
          for (let i = 0n; i < n; i++) {
            this.step();
            if (!one(i, i)) break;
          }
          return;
        }
        case 'invalid':
        case 'nil':
          break;
        default:
          this.errorf(`range can't iterate over ${formatValue(val)}`);
      }
      if (r.elseList) this.walk(dot, r.elseList);
    } finally {
      this.vars.length = mark0;
    }
  }

  private walkTemplate(dot: unknown, t: TemplateNode): void {
    this.at(t);
    const tree = this.run.env.lookupTree(t.name);
    if (!tree) this.errorf(`template ${goQuote(t.name)} not defined`);
    if (this.depth >= this.run.limits.maxDepth) this.limit(`exceeded maximum template depth (${this.run.limits.maxDepth})`);
    const newDot = t.pipe ? this.evalPipeline(dot, t.pipe) : undefined;
    const inner = new State(this.run, t.name, [{ name: '$', value: newDot }], this.depth + 1);
    inner.walk(newDot, tree.root);
  }

  // ---- pipelines and commands ----

  evalPipeline(dot: unknown, pipe: PipeNode): unknown {
    this.at(pipe);
    let value: Final = MISSING;
    for (const cmd of pipe.cmds) {
      value = this.evalCommand(dot, cmd, value);
      if (value === null) value = undefined;
    }
    for (const v of pipe.decl) {
      if (pipe.isAssign) this.setVar(v.ident[0]!, value);
      else this.push(v.ident[0]!, value);
    }
    return value;
  }

  private notAFunction(args: ArgNode[], final: Final): void {
    if (args.length > 1 || final !== MISSING) this.errorf(`can't give argument to non-function ${nodeString(args[0]!)}`);
  }

  private evalCommand(dot: unknown, cmd: CommandNode, final: Final): unknown {
    this.step();
    const first = cmd.args[0]!;
    switch (first.type) {
      case 'field':
        return this.evalFieldNode(dot, first, cmd.args, final);
      case 'chain':
        return this.evalChainNode(dot, first, cmd.args, final);
      case 'identifier':
        return this.evalFunction(dot, first, cmd, cmd.args, final);
      case 'pipe':
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first);
      case 'variable':
        return this.evalVariableNode(dot, first, cmd.args, final);
    }
    this.at(first);
    this.notAFunction(cmd.args, final);
    switch (first.type) {
      case 'bool':
        return first.value;
      case 'dot':
        return dot;
      case 'nil':
        return this.errorf('nil is not a command');
      case 'number':
        return this.idealConstant(first);
      case 'string':
        return first.text;
    }
    return this.errorf(`can't evaluate command ${goQuote(nodeString(first))}`);
  }

  private idealConstant(n: NumberNode): unknown {
    this.at(n);
    const t = n.text;
    const isHexInt = t.length > 2 && t[0] === '0' && (t[1] === 'x' || t[1] === 'X') && !/[pP]/.test(t);
    const isRuneInt = t[0] === "'";
    if (n.isFloat && !isHexInt && !isRuneInt && /[.eEpP]/.test(t)) return n.float;
    if (n.isInt) return n.int;
    if (n.isUint) this.errorf(`${t} overflows int`);
    return undefined;
  }

  private evalFieldNode(dot: unknown, field: FieldNode, args: ArgNode[] | null, final: Final): unknown {
    this.at(field);
    return this.evalFieldChain(dot, dot, field, field.ident, args, final);
  }

  private evalChainNode(dot: unknown, chain: ChainNode, args: ArgNode[] | null, final: Final): unknown {
    if (chain.field.length === 0) this.errorf('internal error: no fields in evalChainNode');
    if (chain.node.type === 'nil') this.errorf(`indirection through explicit nil in ${nodeString(chain)}`);
    const pipe = this.evalArg(dot, P.value, chain.node);
    return this.evalFieldChain(dot, pipe, chain, chain.field, args, final);
  }

  private evalVariableNode(dot: unknown, v: VariableNode, args: ArgNode[] | null, final: Final): unknown {
    this.at(v);
    const parts = v.ident[0]!.split('.');
    const value = this.varValue(parts[0]!);
    const fields = [...parts.slice(1), ...v.ident.slice(1)];
    if (fields.length === 0) {
      if (args) this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(dot, value, v, fields, args, final);
  }

  private evalFieldChain(dot: unknown, receiver: unknown, node: FieldNode | ChainNode | VariableNode, ident: string[], args: ArgNode[] | null, final: Final): unknown {
    const n = ident.length;
    for (let i = 0; i < n - 1; i++) receiver = this.evalField(dot, ident[i]!, node, null, MISSING, receiver);
    return this.evalField(dot, ident[n - 1]!, node, args, final, receiver);
  }

  private evalField(dot: unknown, fieldName: string, node: FieldNode | ChainNode | VariableNode, args: ArgNode[] | null, final: Final, receiver: unknown): unknown {
    if (receiver === undefined) {
      if (this.run.env.missingKey === 'error') this.errorf(`nil data; no entry for key ${goQuote(fieldName)}`);
      return undefined;
    }
    if (receiver === null) this.errorf(`nil pointer evaluating interface {}.${fieldName}`);
    if (typeof receiver === 'object' || typeof receiver === 'function') {
      const method = methodOf(receiver as object, fieldName);
      if (method) {
        const def: FuncDef = {
          params: ((method as { goParams?: ParamSpec[] }).goParams) ?? new Array(method.length).fill(P.any),
          variadic: (method as { goVariadic?: ParamSpec }).goVariadic,
          fn(...a: unknown[]) {
            return method.apply(receiver, a);
          },
        };
        return this.evalCall(dot, def, node, fieldName, args, final);
      }
    }
    const hasArgs = (args !== null && args.length > 1) || final !== MISSING;
    const k = kindOf(receiver);
    if (k === 'struct') {
      if (Object.prototype.hasOwnProperty.call(receiver, fieldName)) {
        if (!/^\p{Lu}/u.test(fieldName)) this.errorf(`${fieldName} is an unexported field of struct type ${typeName(receiver)}`);
        if (hasArgs) this.errorf(`${fieldName} has arguments but cannot be invoked as function`);
        return (receiver as Record<string, unknown>)[fieldName];
      }
    } else if (k === 'map') {
      if (hasArgs) this.errorf(`${fieldName} is not a method but has arguments`);
      const m = receiver as object;
      if (mapHas(m, fieldName)) return mapGet(m, fieldName);
      switch (this.run.env.missingKey) {
        case 'zero':
          return mapElemZero(m);
        case 'error':
          return this.errorf(`map has no entry for key ${goQuote(fieldName)}`);
        default:
          return undefined;
      }
    }
    return this.errorf(`can't evaluate field ${fieldName} in type ${typeName(receiver)}`);
  }

  private evalFunction(dot: unknown, node: IdentifierNode, cmd: CommandNode | IdentifierNode, args: ArgNode[] | null, final: Final): unknown {
    this.at(node);
    const name = node.ident;
    const fn = this.run.env.lookupFunc(name) ?? BUILTINS[name];
    if (!fn) this.errorf(`${goQuote(name)} is not a defined function`);
    return this.evalCall(dot, fn, cmd, name, args, final);
  }

  private evalCall(dot: unknown, fn: FuncDef, node: State['node'], name: string, argNodes: ArgNode[] | null, final: Final): unknown {
    const args = argNodes ? argNodes.slice(1) : [];
    let numIn = args.length;
    if (final !== MISSING) numIn++;
    let numFixed = args.length;
    const nParams = fn.params.length + (fn.variadic ? 1 : 0);
    if (fn.variadic) {
      numFixed = fn.params.length;
      if (numIn < numFixed) this.errorf(`wrong number of args for ${name}: want at least ${numFixed} got ${args.length}`);
    } else if (numIn !== nParams) {
      this.errorf(`wrong number of args for ${name}: want ${nParams} got ${numIn}`);
    }

    if (fn.shortCircuit) {
      let v: unknown;
      for (const arg of args) {
        v = this.evalArg(dot, P.value, arg);
        if (isTrue(v) === (fn.shortCircuit === 'or')) return v;
      }
      if (final !== MISSING) v = final;
      return v;
    }

    const argv: unknown[] = new Array(numIn);
    let i = 0;
    for (; i < numFixed && i < args.length; i++) argv[i] = this.evalArg(dot, fn.params[i]!, args[i]!);
    if (fn.variadic) for (; i < args.length; i++) argv[i] = this.evalArg(dot, fn.variadic, args[i]!);
    if (final !== MISSING) {
      let t: ParamSpec;
      if (fn.variadic) t = numIn - 1 < numFixed ? fn.params[numIn - 1]! : fn.variadic;
      else t = fn.params[fn.params.length - 1]!;
      argv[i] = this.validateType(final, t);
    }

    const cache = this.run.cache;
    let key: string | undefined;
    if (fn.mayBeAsync && cache) {
      key = name + '\u0001' + argKey(argv);
      const hit = cache.get(key);
      if (hit) {
        if (hit.ok) return fn.fromAwaited ? fn.fromAwaited(hit.value) : hit.value;
        this.at(node);
        this.errorf(`error calling ${name}: ${errText(hit.error)}`, hit.error);
      }
    }
    let v: unknown;
    try {
      v = fn.fn.apply(this.run.ctx, argv);
    } catch (e) {
      if (e instanceof TemplateLimitError) throw e;
      if (e instanceof RangeError && /call stack/.test(e.message)) throw e;
      this.at(node);
      this.errorf(`error calling ${name}: ${errText(e)}`, e);
    }
    if (isThenable(v)) {
      if (key !== undefined && cache) {
        if (cache.size >= this.run.limits.maxAsyncCalls) this.limit(`more than ${this.run.limits.maxAsyncCalls} asynchronous calls`);
        throw new AsyncPending(key, Promise.resolve(v));
      }
      // Keep unhandled rejections from escaping.
      Promise.resolve(v).catch(() => undefined);
      this.at(node);
      this.errorf(`error calling ${name}: the function is asynchronous; use executeAsync`);
    }
    return v;
  }

  private validateType(value: unknown, typ: ParamSpec): unknown {
    if (value === undefined || (value === null && typ.kind !== 'any' && typ.kind !== 'value')) {
      if (typ.nilValue) return typ.kind === 'value' ? value : typ.nilValue.value;
      this.errorf(`invalid value; expected ${typ.name}`);
    }
    if (!typ.check(value)) this.errorf(`wrong type for value; expected ${typ.name}; got ${typeName(value)}`);
    return value;
  }

  private evalArg(dot: unknown, typ: ParamSpec, n: ArgNode): unknown {
    this.at(n);
    switch (n.type) {
      case 'dot':
        return this.validateType(dot, typ);
      case 'nil':
        if (typ.nilValue) return typ.nilValue.value;
        return this.errorf(`cannot assign nil to ${typ.name}`);
      case 'field':
        return this.validateType(this.evalFieldNode(dot, n, [n], MISSING), typ);
      case 'variable':
        return this.validateType(this.evalVariableNode(dot, n, null, MISSING), typ);
      case 'pipe':
        return this.validateType(this.evalPipeline(dot, n), typ);
      case 'identifier':
        return this.validateType(this.evalFunction(dot, n, n, null, MISSING), typ);
      case 'chain':
        return this.validateType(this.evalChainNode(dot, n, null, MISSING), typ);
    }
    switch (typ.kind) {
      case 'bool':
        if (n.type === 'bool') return n.value;
        return this.errorf(`expected bool; found ${nodeString(n)}`);
      case 'float':
        if (n.type === 'number' && n.isFloat) return n.float;
        return this.errorf(`expected float; found ${nodeString(n)}`);
      case 'int':
        if (n.type === 'number' && n.isInt) return n.int;
        return this.errorf(`expected integer; found ${nodeString(n)}`);
      case 'string':
        if (n.type === 'string') return n.text;
        return this.errorf(`expected string; found ${nodeString(n)}`);
      case 'any':
      case 'value':
        switch (n.type) {
          case 'bool':
            return n.value;
          case 'number':
            return this.idealConstant(n);
          case 'string':
            return n.text;
        }
    }
    return this.errorf(`can't handle ${nodeString(n)} for arg of type ${typ.name}`);
  }
}

function errText(e: unknown): string {
  if (e instanceof TemplateFuncError || e instanceof Error) return e.message;
  return String(e);
}

/**
 * Executes `tree` once. Throws TemplateExecError / TemplateLimitError, or AsyncPending when an
 * async function was called and `cache` is given (the async driver awaits and calls again).
 */
export function executeTree(env: ExecEnv, tree: Tree, name: string, data: unknown, limits: ExecLimits, context: unknown, cache: AsyncCache | null): string {
  const run: Run = { out: '', steps: 0, env, limits, ctx: { context }, cache };
  const state = new State(run, name, [{ name: '$', value: data }], 0);
  try {
    state.walk(data, tree.root);
  } catch (e) {
    if (e instanceof RangeError && /call stack/.test(e.message)) {
      throw new TemplateLimitError(`template: ${name}: execution exceeded the call stack (template recursion too deep)`);
    }
    throw e;
  }
  return run.out;
}
