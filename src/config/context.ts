/**
 * The context of one configuration load: the directory relative paths resolve against. Schema
 * transforms run synchronously inside `withLoadContext`, so a module-level slot is enough.
 */
import { dirname, isAbsolute, resolve } from 'node:path';

export interface LoadContext {
  /** Directory of the configuration file (cwd for built-in defaults). */
  baseDir: string;
}

let current: LoadContext | undefined;

export function withLoadContext<T>(ctx: LoadContext, fn: () => T): T {
  const prev = current;
  current = ctx;
  try {
    return fn();
  } finally {
    current = prev;
  }
}

export function loadContext(): LoadContext {
  return current ?? { baseDir: process.cwd() };
}

/** Resolves `p` against the configuration file's directory (absolute paths unchanged). */
export function resolveConfigPath(p: string): string {
  return isAbsolute(p) ? p : resolve(loadContext().baseDir, p);
}

export function contextFor(file: string | undefined): LoadContext {
  return { baseDir: file ? dirname(resolve(file)) : process.cwd() };
}
