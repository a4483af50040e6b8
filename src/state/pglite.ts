/**
 * The embedded store: PostgreSQL compiled to WebAssembly (PGlite), in this process, persisted
 * under a directory (`<storage.path>/state` by default). Layout: `pgdata/` (PostgreSQL's data
 * directory) and `LOCK` (the PID of the process using it: one process at a time).
 *
 * A statement resolves only after PostgreSQL committed it (synchronous commit, files written
 * through the OS), so an acknowledged write survives `kill -9` of the process.
 *
 * PGlite costs about 120 MB of memory and a second of start-up, so the package is loaded only
 * when a store is opened, and `PGliteStateStore.deferred` opens none until the first write.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, unlinkSync, renameSync, rmSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';
import { errorMessage } from '../model/index.ts';
import { DeferredStateStore } from './deferred.ts';
import { StateError } from './errors.ts';
import { AlwaysLeader, SqlStateStore } from './store.ts';
import type { SqlClient } from './types.ts';

/** The PGlite class, imported on first use (the package and its WebAssembly are large). */
async function loadPGlite(): Promise<typeof PGlite> {
  return (await import('@electric-sql/pglite')).PGlite;
}

/** postgresql.conf for the embedded server: small buffers, it holds a few MB of records. */
const PGLITE_CONF = ['shared_buffers = 4MB', 'wal_buffers = 256kB', 'work_mem = 2MB', 'maintenance_work_mem = 8MB', 'temp_buffers = 1MB'];

/**
 * Written to postgresql.auto.conf (read after postgresql.conf) at every open, so that data
 * directories made from older templates get the same settings.
 */
function writeAutoConf(pgdata: string): void {
  writeFileSync(join(pgdata, 'postgresql.auto.conf'), `# Written by Vigil at every start; edits are overwritten.\n${PGLITE_CONF.join('\n')}\n`);
}

interface Queryable {
  query<T>(text: string, params?: unknown[]): Promise<{ rows: T[] }>;
}

class PGliteClient implements SqlClient {
  constructor(private readonly q: Queryable, private readonly db: PGlite) {}

  async query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]> {
    try {
      const r = await this.q.query<R>(text, params ? [...params] : undefined);
      return r.rows;
    } catch (e) {
      if (this.db.closed) throw new StateError('state_closed', 'the state store is closed', { cause: e });
      throw new StateError('state_query', `state store: ${errorMessage(e)}`, { cause: e });
    }
  }

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new PGliteClient(tx as unknown as Queryable, this.db)));
  }
}

/** The installed PGlite's version (part of the template cache's name). */
function pgliteVersion(): string {
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite')));
    for (let i = 0; i < 4; i++) {
      const pkg = join(dir, 'package.json');
      if (existsSync(pkg)) return String((JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version ?? 'unknown');
      dir = dirname(dir);
    }
  } catch {
    /* fall through */
  }
  return 'unknown';
}

/**
 * A freshly initialised data directory, made once per machine and PGlite version under
 * `$VIGIL_CACHE_DIR` (default `~/.cache/vigil`) and copied for every new store: initdb takes
 * seconds, a copy a fraction of one. Undefined when the cache directory is not writable.
 */
async function cachedTemplate(onProgress?: (m: string) => void): Promise<string | undefined> {
  const base = process.env.VIGIL_CACHE_DIR ?? join(homedir(), '.cache', 'vigil');
  const final = join(base, `pglite-${pgliteVersion()}-initdb`);
  if (existsSync(join(final, 'VIGIL_COMPLETE'))) return final;
  const tmp = `${final}.tmp-${process.pid}-${Date.now()}`;
  try {
    mkdirSync(base, { recursive: true });
    // Templates whose building was interrupted (the cache is shared: only dead builders' ones).
    for (const e of readdirSync(base)) {
      const m = /^pglite-.+-initdb\.tmp-(\d+)-/.exec(e);
      if (m && !pidAlive(Number(m[1]))) rmSync(join(base, e), { recursive: true, force: true });
    }
    onProgress?.(`initialising the embedded state database template in ${final} (once per machine, takes a few seconds)`);
    const t0 = Date.now();
    await runInitdb(tmp, false);
    writeFileSync(join(tmp, 'VIGIL_COMPLETE'), `${new Date().toISOString()}\n`);
    try {
      renameSync(tmp, final);
    } catch {
      // Another process made it meanwhile.
      rmSync(tmp, { recursive: true, force: true });
    }
    onProgress?.(`embedded state database template ready in ${Date.now() - t0} ms`);
    return existsSync(join(final, 'VIGIL_COMPLETE')) ? final : undefined;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    onProgress?.(`could not prepare the embedded state database template in ${final} (${errorMessage(e)}); initialising this store directly`);
    return undefined;
  }
}

/** Whether `dir` holds an initialised embedded store (its data directory is complete). */
export function pgliteStoreExists(dir: string): boolean {
  return existsSync(join(dir, 'pgdata', 'PG_VERSION'));
}

export interface PGliteOpenOptions {
  /** Directory for the store (created if missing). */
  dir: string;
  /**
   * An initialised data directory to copy when `dir` has none yet (tests use one template to
   * avoid running initdb for every store).
   */
  templatePgdata?: string;
  /** Run initdb in this process instead of a child process. */
  inProcessInitdb?: boolean;
  /** Progress messages (first start runs initdb, which takes seconds). */
  onProgress?: (message: string) => void;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function takeLock(lockFile: string): void {
  if (existsSync(lockFile)) {
    const pid = Number(readFileSync(lockFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
      throw new StateError('state_unavailable', `the state directory ${lockFile.replace(/\/LOCK$/, '')} is in use by process ${pid}; stop it or use another --storage.tsdb.path`);
    }
  }
  writeFileSync(lockFile, `${process.pid}\n`);
}

/** Creates `dir` and takes its LOCK for this process; returns the lock file. Throws StateError. */
function lockDir(dir: string): string {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new StateError('state_unavailable', `cannot create the state directory ${dir}: ${errorMessage(e)}`);
  }
  const lockFile = join(dir, 'LOCK');
  takeLock(lockFile);
  return lockFile;
}

/** Removes the LOCK if this process holds it. */
function releaseLock(lockFile: string): void {
  try {
    if (readFileSync(lockFile, 'utf8').trim() === String(process.pid)) unlinkSync(lockFile);
  } catch {
    /* already gone */
  }
}

async function runInitdb(pgdata: string, inProcess: boolean): Promise<void> {
  if (!inProcess) {
    const script = fileURLToPath(new URL('./pglite-initdb.mjs', import.meta.url));
    const ok = await new Promise<string | undefined>((resolve) => {
      const child = spawn(process.execPath, [script, pgdata, JSON.stringify(PGLITE_CONF)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      child.on('error', (e) => resolve(errorMessage(e)));
      child.on('exit', (code) => resolve(code === 0 ? undefined : err.trim() || `initdb exited with ${code}`));
    });
    if (ok === undefined) return;
    // Fall through to the in-process initdb when the child could not do it.
  }
  const PGliteClass = await loadPGlite();
  const db = await PGliteClass.create({ dataDir: pgdata, postgresqlconf: PGLITE_CONF });
  await db.close();
}

/** Copies with Node's cpSync in a child process (`-e`: script, source, destination). */
const COPY_SCRIPT = "require('node:fs').cpSync(process.argv[1], process.argv[2], { recursive: true, filter: (s) => !s.endsWith('VIGIL_COMPLETE') })";

/**
 * Copies a template data directory (about a thousand files, 40 MB) in a short-lived child
 * process: a synchronous copy there takes half a second and leaves this thread free, where an
 * asynchronous copy here takes seconds of this thread's turns while requests are being served.
 * Falls back to the asynchronous copy when the child cannot run.
 */
async function copyTree(from: string, to: string): Promise<void> {
  const ok = await new Promise<boolean>((resolve) => {
    const child = spawn(process.execPath, ['-e', COPY_SCRIPT, from, to], { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('exit', (code) => resolve(code === 0));
  });
  if (ok) return;
  rmSync(to, { recursive: true, force: true });
  await cp(from, to, { recursive: true, filter: (src) => !src.endsWith('VIGIL_COMPLETE') });
}

/**
 * Makes `pgdata` (absent) an initialised data directory: a copy of the template, or initdb.
 * Built under a temporary name and renamed, so that a crash part-way leaves no half-made
 * directory behind that a later start would take for a store.
 */
async function createPgdata(pgdata: string, opts: PGliteOpenOptions): Promise<void> {
  const parent = dirname(pgdata);
  for (const e of readdirSync(parent)) {
    // Left by a creation that was interrupted.
    if (e.startsWith('pgdata.tmp-')) rmSync(join(parent, e), { recursive: true, force: true });
  }
  const tmp = `${pgdata}.tmp-${process.pid}`;
  const template = opts.templatePgdata ?? (opts.inProcessInitdb ? undefined : await cachedTemplate(opts.onProgress));
  if (template) {
    await copyTree(template, tmp);
  } else {
    opts.onProgress?.(`initialising the embedded state database in ${pgdata} (first start, takes a few seconds)`);
    const t0 = Date.now();
    await runInitdb(tmp, opts.inProcessInitdb ?? false);
    opts.onProgress?.(`embedded state database initialised in ${Date.now() - t0} ms`);
  }
  renameSync(tmp, pgdata);
}

export class PGliteStateStore extends SqlStateStore {
  readonly kind = 'pglite' as const;
  readonly leader = new AlwaysLeader();

  private constructor(private readonly db: PGlite, readonly location: string, private readonly lockFile: string) {
    super(new PGliteClient(db as unknown as Queryable, db), 'pglite');
  }

  /** Opens (creating and initialising on first use) the store in `opts.dir`. Throws StateError. */
  static async open(opts: PGliteOpenOptions): Promise<PGliteStateStore> {
    const lockFile = lockDir(opts.dir);
    try {
      return await PGliteStateStore.openLocked(opts, lockFile);
    } catch (e) {
      releaseLock(lockFile);
      throw e;
    }
  }

  /**
   * The store in `opts.dir`, opened now if its database exists and otherwise created by the
   * first write (reads before that see no records). The directory is locked at once either
   * way. Throws StateError.
   */
  static async deferred(opts: PGliteOpenOptions): Promise<DeferredStateStore> {
    if (pgliteStoreExists(opts.dir)) return DeferredStateStore.of(await PGliteStateStore.open(opts));
    const lockFile = lockDir(opts.dir);
    return new DeferredStateStore({
      kind: 'pglite',
      location: opts.dir,
      create: () => PGliteStateStore.openLocked(opts, lockFile),
      release: () => releaseLock(lockFile),
      onCreated: (ms) => opts.onProgress?.(`embedded state store created by the first write in ${ms} ms`),
    });
  }

  /** Opens the store in a directory this process has locked; the lock stays on failure. */
  private static async openLocked(opts: PGliteOpenOptions, lockFile: string): Promise<PGliteStateStore> {
    const pgdata = join(opts.dir, 'pgdata');
    let db: PGlite | undefined;
    try {
      if (!existsSync(join(pgdata, 'PG_VERSION'))) await createPgdata(pgdata, opts);
      writeAutoConf(pgdata);
      const PGliteClass = await loadPGlite();
      db = await PGliteClass.create({ dataDir: pgdata });
      const store = new PGliteStateStore(db, opts.dir, lockFile);
      await store.init();
      return store;
    } catch (e) {
      if (db) await db.close().catch(() => undefined);
      if (e instanceof StateError) throw e;
      throw new StateError('state_unavailable', `cannot open the embedded state database in ${pgdata}: ${errorMessage(e)}`, { cause: e });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
    releaseLock(this.lockFile);
  }
}

/**
 * Creates an initialised PGlite data directory at `pgdata` (for tests: a template copied into
 * each new store). Runs initdb in a child process.
 */
export async function createPGliteTemplate(pgdata: string): Promise<void> {
  await runInitdb(pgdata, false);
}
