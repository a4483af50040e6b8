/**
 * The log probe: follows files like `tail -F` and counts the lines that match each pattern
 * into `vigil_log_lines_total{file,pattern}` (the runbook's `docker logs | grep -i error` as a
 * metric).
 *
 * Rotation-safe: each run stats the path; when it names a different file (rename + create)
 * the old handle is read to its end, closed, and the new file is read from its start; when
 * the file shrank (copytruncate) reading restarts at 0. A file present when the probe starts
 * is read from its end (`start_at: end`, the default) or start; files that appear later are
 * read from their start. Counters live as long as the probe (a reload that changes the probe
 * starts them again at 0, which PromQL's rate() treats as a counter reset).
 */
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { compileRe2, errorMessage } from '../model/index.ts';
import type { LogProbeConfig } from './config.ts';
import type { SampleBuffer } from './samples.ts';
import type { MetadataTable, ProbeContext, ProbeOutcome, Prober } from './types.ts';

export const LOG_METADATA: MetadataTable = {
  vigil_log_lines_total: ['counter', 'Lines of the file that matched the pattern since the probe started.'],
  vigil_log_lines_read_total: ['counter', 'Lines read from the file since the probe started.'],
  vigil_log_bytes_read_total: ['counter', 'Bytes read from the file since the probe started.'],
  vigil_log_rotations_total: ['counter', 'Times the file was rotated (replaced or truncated) since the probe started.'],
};

/** A line longer than this is counted in pieces rather than buffered without bound. */
const MAX_LINE_BYTES = 1024 * 1024;
const CHUNK_BYTES = 256 * 1024;
const NL = 0x0a;

interface FileState {
  path: string;
  fh: FileHandle | undefined;
  dev: number;
  ino: number;
  pos: number;
  /** Bytes after the last newline read so far. */
  partial: Buffer | undefined;
  /** Matches per pattern (index as in `patterns`). */
  counts: Float64Array;
  lines: number;
  bytes: number;
  rotations: number;
  /** Whether the file has been opened once (decides where a newly opened file starts). */
  opened: boolean;
}

export class LogProber implements Prober {
  private readonly patternNames: string[];
  private readonly patterns: RegExp[];
  private readonly files = new Map<string, FileState>();
  private firstRun = true;

  constructor(private readonly cfg: LogProbeConfig) {
    this.patternNames = Object.keys(cfg.patterns);
    this.patterns = this.patternNames.map((n) => compileRe2(cfg.patterns[n]!));
  }

  async run(out: SampleBuffer, ctx: ProbeContext): Promise<ProbeOutcome> {
    const problems: string[] = [];
    const wanted = new Set<string>();
    for (const spec of this.cfg.files) {
      if (!hasGlob(spec)) {
        wanted.add(spec);
        continue;
      }
      const matches = await expandGlob(spec);
      if (matches.length === 0) problems.push(`no file matches ${spec}`);
      for (const m of matches) wanted.add(m);
    }
    const atStart = this.firstRun;
    this.firstRun = false;
    for (const path of wanted) {
      if (ctx.signal.aborted) break;
      let st = this.files.get(path);
      if (!st) {
        st = { path, fh: undefined, dev: -1, ino: -1, pos: 0, partial: undefined, counts: new Float64Array(this.patterns.length), lines: 0, bytes: 0, rotations: 0, opened: false };
        this.files.set(path, st);
      }
      try {
        const missing = await this.follow(st, atStart && this.cfg.start_at === 'end', ctx.signal);
        if (missing) problems.push(`${path} does not exist`);
      } catch (e) {
        problems.push(`cannot read ${path}: ${errorMessage(e)}`);
      }
    }
    // Files a glob no longer matches go away (their series become stale).
    for (const [path, st] of this.files) {
      if (wanted.has(path)) continue;
      await st.fh?.close().catch(() => {});
      this.files.delete(path);
    }
    for (const st of this.files.values()) {
      for (let i = 0; i < this.patterns.length; i++) out.add('vigil_log_lines_total', st.counts[i]!, ['file', st.path, 'pattern', this.patternNames[i]!]);
      out.add('vigil_log_lines_read_total', st.lines, ['file', st.path]);
      out.add('vigil_log_bytes_read_total', st.bytes, ['file', st.path]);
      out.add('vigil_log_rotations_total', st.rotations, ['file', st.path]);
    }
    if (ctx.signal.aborted) problems.push(`timed out after ${ctx.timeoutMs / 1000}s (reading continues on the next run)`);
    return problems.length ? { success: false, error: problems.join('; ') } : { success: true };
  }

  /** Reads what is new in one file; returns true when the path does not exist. */
  private async follow(st: FileState, skipExisting: boolean, signal: AbortSignal): Promise<boolean> {
    let info;
    try {
      info = await stat(st.path);
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') throw e;
      if (st.fh) await this.retire(st, signal);
      return true;
    }
    if (!info.isFile()) throw new Error('not a regular file');
    if (st.fh && (info.ino !== st.ino || info.dev !== st.dev)) {
      // Renamed away and replaced: finish the old file, then start the new one from 0.
      await this.retire(st, signal);
    }
    if (!st.fh) {
      st.fh = await open(st.path, 'r');
      const opened = await st.fh.stat();
      st.dev = opened.dev;
      st.ino = opened.ino;
      st.pos = !st.opened && skipExisting ? opened.size : 0;
      st.partial = undefined;
      if (st.opened) st.rotations++;
      st.opened = true;
    } else if (info.size < st.pos) {
      // Truncated in place (copytruncate).
      st.pos = 0;
      st.partial = undefined;
      st.rotations++;
    }
    await this.readTo(st, Math.min(info.size, st.pos + this.cfg.max_read_bytes), signal);
    return false;
  }

  /** Reads the old handle to its end, counts a final unterminated line, and closes it. */
  private async retire(st: FileState, signal: AbortSignal): Promise<void> {
    const fh = st.fh!;
    try {
      const size = (await fh.stat()).size;
      await this.readTo(st, size, signal);
      if (st.partial && st.partial.length) {
        this.countLines(st, Buffer.concat([st.partial, Buffer.from([NL])]));
        st.partial = undefined;
      }
    } finally {
      st.fh = undefined;
      await fh.close().catch(() => {});
    }
  }

  private async readTo(st: FileState, end: number, signal: AbortSignal): Promise<void> {
    const fh = st.fh!;
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    while (st.pos < end && !signal.aborted) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK_BYTES, end - st.pos), st.pos);
      if (bytesRead === 0) break;
      st.pos += bytesRead;
      st.bytes += bytesRead;
      let data = buf.subarray(0, bytesRead);
      if (st.partial) data = Buffer.concat([st.partial, data]);
      const last = data.lastIndexOf(NL);
      if (last < 0) {
        if (data.length > MAX_LINE_BYTES) {
          this.countLines(st, Buffer.concat([data, Buffer.from([NL])]));
          st.partial = undefined;
        } else st.partial = Buffer.from(data);
        continue;
      }
      this.countLines(st, data.subarray(0, last + 1));
      const rest = data.subarray(last + 1);
      st.partial = rest.length ? Buffer.from(rest) : undefined;
    }
  }

  /** `data` ends with a newline; each line is tested against every pattern. */
  private countLines(st: FileState, data: Buffer): void {
    const text = data.toString('utf8');
    const pats = this.patterns;
    const counts = st.counts;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      const line = text.slice(start, nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl);
      st.lines++;
      for (let i = 0; i < pats.length; i++) if (pats[i]!.test(line)) counts[i]!++;
      start = nl + 1;
    }
  }

  async close(): Promise<void> {
    for (const st of this.files.values()) await st.fh?.close().catch(() => {});
    this.files.clear();
  }
}

function hasGlob(s: string): boolean {
  return /[*?[]/.test(s);
}

/** At most this many files per glob, so a careless pattern cannot open the whole disk. */
const MAX_GLOB_MATCHES = 1000;

/** Expands `*`, `?` and `[...]` in any path element (one element each; no `**`), sorted. */
async function expandGlob(spec: string): Promise<string[]> {
  const parts = spec.split('/');
  let current = [parts[0] === '' ? '/' : parts[0]!];
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '') continue;
    const next: string[] = [];
    if (!hasGlob(part)) {
      for (const d of current) next.push(join(d, part));
    } else {
      const re = globToRegExp(part);
      for (const d of current) {
        let names: string[];
        try {
          names = await readdir(d);
        } catch {
          continue;
        }
        for (const n of names.sort()) if (re.test(n) && !(n.startsWith('.') && !part.startsWith('.'))) next.push(join(d, n));
        if (next.length > MAX_GLOB_MATCHES) break;
      }
    }
    current = next.slice(0, MAX_GLOB_MATCHES);
    if (current.length === 0) break;
  }
  return current.sort();
}

function globToRegExp(glob: string): RegExp {
  let src = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') src += '[^/]*';
    else if (c === '?') src += '[^/]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 1);
      if (close < 0) src += '\\[';
      else {
        let cls = glob.slice(i + 1, close);
        if (cls.startsWith('!')) cls = '^' + cls.slice(1);
        src += '[' + cls.replace(/\\/g, '\\\\') + ']';
        i = close;
      }
    } else src += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp('^' + src + '$');
}
