/**
 * File writes of the store go through `FileOps` so that faults (disk full, I/O errors) can be
 * injected in tests and every write error is reported the same way. Reads use node:fs directly.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Called before every write with the file and byte count; throwing makes the write fail. */
export type WriteHook = (file: string, bytes: number) => void;

export class FileOps {
  constructor(private readonly hook?: WriteHook) {}

  /**
   * Writes all buffers at `position` (or at the file's current position when omitted), retrying
   * short writes. With a position, a failed write never moves where the next write lands.
   */
  writeAll(fd: number, file: string, bufs: readonly Uint8Array[], position?: number): number {
    let total = 0;
    for (const b of bufs) total += b.length;
    this.hook?.(file, total);
    let list = bufs.filter((b) => b.length > 0);
    let left = total;
    let pos = position;
    while (left > 0) {
      const n = pos === undefined ? fs.writevSync(fd, list as Uint8Array[]) : fs.writevSync(fd, list as Uint8Array[], pos);
      left -= n;
      if (pos !== undefined) pos += n;
      if (left === 0) break;
      // Short write: drop what was written.
      let skip = n;
      const rest: Uint8Array[] = [];
      for (const b of list) {
        if (skip >= b.length) {
          skip -= b.length;
          continue;
        }
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
      list = rest;
    }
    return total;
  }

  /** Writes a whole file (create or truncate), fsyncs it. */
  writeFile(file: string, data: Uint8Array | string): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const fd = fs.openSync(file, 'w');
    try {
      this.writeAll(fd, file, [bytes]);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Writes a file atomically: to `file.tmp`, fsync, rename, fsync the directory. */
  writeFileAtomic(file: string, data: Uint8Array | string): void {
    const tmp = file + '.tmp';
    this.writeFile(tmp, data);
    fs.renameSync(tmp, file);
    syncDir(path.dirname(file));
  }
}

/** fsyncs a directory so that renames and creations in it survive a power loss. */
export function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some file systems do not support fsync on directories.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Total bytes of the regular files under a directory. */
export function dirBytes(dir: string): number {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += dirBytes(p);
    else if (e.isFile()) {
      try {
        total += fs.statSync(p).size;
      } catch {
        // Removed meanwhile.
      }
    }
  }
  return total;
}
