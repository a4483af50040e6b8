/**
 * Convenience layers over the pull parser: whole-input parsing into objects (tests, small
 * inputs, tools) and chunked parsing of a byte stream (importers of large files).
 */
import type { Labels } from '../model/index.ts';
import { Entry, ExpositionParser, type EntryKind, type ExpositionFormat, type MetricType } from './parser.ts';

export interface ParsedExemplar {
  labels: Labels;
  value: number;
  /** ms */
  timestamp?: number;
}

export interface ParsedSample {
  labels: Labels;
  value: number;
  /** ms, when the exposition gave one */
  timestamp?: number;
  exemplar?: ParsedExemplar;
}

export interface ParsedMetadata {
  type: MetricType;
  help: string;
  unit: string;
}

export interface ParsedExposition {
  samples: ParsedSample[];
  /** By metric family name, in order of first appearance. */
  metadata: Map<string, ParsedMetadata>;
}

/**
 * Parses a whole exposition into objects (one per sample: not for hot paths). Throws
 * ExpositionParseError on invalid input.
 */
export function parseExposition(input: string | Uint8Array, format: ExpositionFormat): ParsedExposition {
  const p = new ExpositionParser(format, input);
  const samples: ParsedSample[] = [];
  const metadata = new Map<string, ParsedMetadata>();
  const meta = (name: string): ParsedMetadata => {
    let m = metadata.get(name);
    if (!m) {
      m = { type: 'unknown', help: '', unit: '' };
      metadata.set(name, m);
    }
    return m;
  };
  for (let e = p.next(); e !== Entry.End; e = p.next()) {
    switch (e) {
      case Entry.Series: {
        const s: ParsedSample = { labels: p.labels(), value: p.value };
        if (p.hasTimestamp) s.timestamp = p.timestamp;
        if (p.hasExemplar) {
          s.exemplar = { labels: p.exemplarLabels(), value: p.exemplarValue };
          if (p.exemplarHasTimestamp) s.exemplar.timestamp = p.exemplarTimestamp;
        }
        samples.push(s);
        break;
      }
      case Entry.Help:
        meta(p.metaName()).help = p.helpText();
        break;
      case Entry.Type:
        meta(p.metaName()).type = p.metricType();
        break;
      case Entry.Unit:
        meta(p.metaName()).unit = p.unitText();
        break;
    }
  }
  return { samples, metadata };
}

export interface StreamParseOptions {
  /** Bytes per parsed chunk (default 4 MiB). */
  chunkBytes?: number;
  /** Called after each chunk with the bytes consumed so far (progress, flushing); awaited. */
  onProgress?: (bytesDone: number) => void | Promise<void>;
  /** See ExpositionParser.normalizeBucketLabels (default true; false keeps `le="1"` as written). */
  normalizeBucketLabels?: boolean;
}

/**
 * Parses an exposition arriving as a byte stream, in chunks cut at line boundaries, calling
 * `visit` for every entry with the parser positioned on it (read it with the parser's
 * accessors; do not keep the parser). Memory stays bounded by the chunk size. Label values with
 * raw line breaks (legal only in the text format) must not straddle a chunk boundary.
 * Throws ExpositionParseError (line numbers count from the start of the stream).
 */
export async function parseExpositionStream(
  source: AsyncIterable<Uint8Array>,
  format: ExpositionFormat,
  visit: (parser: ExpositionParser, entry: EntryKind) => void,
  opts: StreamParseOptions = {},
): Promise<{ bytes: number }> {
  const chunkBytes = opts.chunkBytes ?? 4 << 20;
  const parser = new ExpositionParser(format);
  parser.normalizeBucketLabels = opts.normalizeBucketLabels ?? true;
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let done = 0;
  let first = true;
  const run = async (bytes: Buffer, final: boolean): Promise<void> => {
    parser.reset(bytes, { final, continuation: !first });
    first = false;
    for (let e = parser.next(); e !== Entry.End; e = parser.next()) visit(parser, e);
    done += bytes.length;
    await opts.onProgress?.(done);
  };
  for await (const piece of source) {
    const b = Buffer.isBuffer(piece) ? piece : Buffer.from(piece);
    pending.push(b);
    pendingLen += b.length;
    if (pendingLen < chunkBytes) continue;
    const all = Buffer.concat(pending, pendingLen);
    const cut = all.lastIndexOf(10);
    if (cut < 0) {
      pending = [all];
      continue;
    }
    const head = all.subarray(0, cut + 1);
    const tail = all.subarray(cut + 1);
    pending = tail.length ? [Buffer.from(tail)] : [];
    pendingLen = tail.length;
    await run(head, false);
  }
  await run(Buffer.concat(pending, pendingLen), true);
  return { bytes: done };
}
