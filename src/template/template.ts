/**
 * A set of associated templates (Go's *template.Template with its namespace): parse once,
 * execute many times, synchronously or with asynchronous functions awaited.
 */
import { TemplateExecError } from './errors.ts';
import { AsyncPending, DEFAULT_LIMITS, executeTree, type AsyncCache, type ExecEnv, type ExecLimits, type MissingKey } from './exec.ts';
import { BUILTINS, toFuncDef, type FuncDef, type FuncMap } from './funcs.ts';
import { isEmptyTree, parseTrees, type Tree } from './parse.ts';

export interface TemplateSetOptions {
  /** Go's `missingkey` option. Default `default` (missing map keys print `<no value>`). */
  missingKey?: MissingKey;
  /** Action delimiters, default `{{` and `}}`. */
  leftDelim?: string;
  rightDelim?: string;
  /** Execution bounds (see ExecLimits). */
  limits?: Partial<ExecLimits>;
}

export interface ExecuteOptions {
  /** Per-execution context handed to functions as `this.context` (query function, time...). */
  context?: unknown;
  limits?: Partial<ExecLimits>;
}

/**
 * Templates sharing one namespace and function map. `parse` adds the trees a text defines;
 * a later definition of a name replaces the earlier one unless it is empty (Go's rule), which
 * is how user templates override defaults.
 */
export class TemplateSet implements ExecEnv {
  private readonly trees = new Map<string, Tree>();
  private readonly funcMap = new Map<string, FuncDef>();
  missingKey: MissingKey;
  private readonly leftDelim: string;
  private readonly rightDelim: string;
  private readonly limits: ExecLimits;

  constructor(funcs: FuncMap = {}, opts: TemplateSetOptions = {}) {
    this.missingKey = opts.missingKey ?? 'default';
    this.leftDelim = opts.leftDelim ?? '{{';
    this.rightDelim = opts.rightDelim ?? '}}';
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.funcs(funcs);
  }

  /** Adds functions (they must be present before parsing templates that call them). */
  funcs(map: FuncMap): this {
    for (const [name, f] of Object.entries(map)) {
      if (!/^[\p{L}_][\p{L}\p{Nd}_]*$/u.test(name)) throw new TypeError(`template: function name ${JSON.stringify(name)} is not a valid identifier`);
      this.funcMap.set(name, toFuncDef(f));
    }
    return this;
  }

  hasFunc(name: string): boolean {
    return this.funcMap.has(name) || Object.prototype.hasOwnProperty.call(BUILTINS, name);
  }

  lookupFunc(name: string): FuncDef | undefined {
    return this.funcMap.get(name);
  }

  lookupTree(name: string): Tree | undefined {
    return this.trees.get(name);
  }

  /**
   * Parses `text` as the template `name` (Go's `New(name).Parse(text)` within this set) and adds
   * every template it defines. Throws TemplateParseError; on error the set is unchanged.
   */
  parse(name: string, text: string): this {
    const parsed = parseTrees(name, text, (f) => this.hasFunc(f), { leftDelim: this.leftDelim, rightDelim: this.rightDelim });
    for (const [n, tree] of parsed) {
      const old = this.trees.get(n);
      // An empty definition does not replace a non-empty one.
      if (old && isEmptyTree(tree.root) && !isEmptyTree(old.root)) continue;
      this.trees.set(n, tree);
    }
    return this;
  }

  /** Names of all templates in the set, sorted. */
  names(): string[] {
    return [...this.trees.keys()].sort();
  }

  /** A copy sharing parsed trees and functions (Go's Clone); later parses do not affect this set. */
  clone(): TemplateSet {
    const c = new TemplateSet({}, { missingKey: this.missingKey, leftDelim: this.leftDelim, rightDelim: this.rightDelim, limits: this.limits });
    for (const [k, v] of this.funcMap) c.funcMap.set(k, v);
    for (const [k, v] of this.trees) c.trees.set(k, v);
    return c;
  }

  private treeFor(name: string): Tree {
    const tree = this.trees.get(name);
    if (!tree) {
      throw new TemplateExecError(`template: no template ${JSON.stringify(name)} associated with template ${JSON.stringify(name)}`);
    }
    return tree;
  }

  /** Executes template `name` with `data`. Throws TemplateExecError / TemplateLimitError. */
  execute(name: string, data: unknown, opts: ExecuteOptions = {}): string {
    const tree = this.treeFor(name);
    const limits = opts.limits ? { ...this.limits, ...opts.limits } : this.limits;
    try {
      return executeTree(this, tree, name, data, limits, opts.context, null);
    } catch (e) {
      if (e instanceof AsyncPending) throw new TemplateExecError(`template: ${name}: asynchronous call; use executeAsync`);
      throw e;
    }
  }

  /**
   * Executes template `name`, awaiting functions that return promises (`query`). Each awaited
   * call's result is memoised by function name and arguments, and the template is evaluated
   * again from the start with the results known: output and errors are those of one
   * synchronous run. Cost grows with the number of distinct awaited calls (bounded by
   * `limits.maxAsyncCalls`).
   */
  async executeAsync(name: string, data: unknown, opts: ExecuteOptions = {}): Promise<string> {
    const tree = this.treeFor(name);
    const limits = opts.limits ? { ...this.limits, ...opts.limits } : this.limits;
    const cache: AsyncCache = new Map();
    for (;;) {
      try {
        return executeTree(this, tree, name, data, limits, opts.context, cache);
      } catch (e) {
        if (!(e instanceof AsyncPending)) throw e;
        try {
          cache.set(e.key, { ok: true, value: await e.promise });
        } catch (err) {
          cache.set(e.key, { ok: false, error: err });
        }
      }
    }
  }
}
