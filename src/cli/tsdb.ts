/**
 * `vigil tsdb import openmetrics FILE` writes the samples of an OpenMetrics file (the input of
 * `promtool tsdb create-blocks-from openmetrics`) as blocks into the data directory, where a
 * running or later `vigil server` serves them. `vigil tsdb stats` describes a data directory.
 */
import fs from 'node:fs';
import { Entry, ExpositionParseError, parseExpositionStream } from '../exposition/index.ts';
import { errorMessage, parseDuration, type Labels } from '../model/index.ts';
import { BlockImporter, TsdbError, analyzeTsdb, formatImportProgress, formatImportSummary, formatTsdbAnalysis } from '../tsdb/index.ts';
import type { Command, ParsedCommand } from './command.ts';
import { UsageError } from './command.ts';

function str(p: ParsedCommand, name: string): string {
  const v = p.flags[name];
  return typeof v === 'string' ? v : '';
}

export const tsdbImportCommand: Command = {
  path: ['tsdb', 'import', 'openmetrics'],
  summary: 'Import an OpenMetrics file into blocks of the data directory (as promtool tsdb create-blocks-from openmetrics).',
  args: 'FILE',
  description:
    'Every sample needs a timestamp. Samples are written as blocks of --max-block-duration aligned to it; label values are kept byte for byte and no staleness marker is added. ' +
    'A server using the same directory picks the blocks up within a minute; samples older than its retention are deleted then.',
  flags: {
    'storage.tsdb.path': { type: 'string', default: 'data', placeholder: 'DIR', help: 'Data directory to write the blocks into.' },
    'max-block-duration': { type: 'string', default: '2h', placeholder: 'DURATION', help: 'Time range of each block written.' },
    quiet: { type: 'boolean', default: false, help: 'No progress output, only the summary.' },
  },
  async run(parsed, io) {
    if (parsed.positionals.length !== 1) throw new UsageError('tsdb import openmetrics needs exactly one FILE');
    const file = parsed.positionals[0]!;
    let blockRange: number;
    try {
      blockRange = parseDuration(str(parsed, 'max-block-duration'));
    } catch {
      throw new UsageError(`--max-block-duration: ${JSON.stringify(str(parsed, 'max-block-duration'))} is not a duration (e.g. 2h)`);
    }
    if (blockRange <= 0) throw new UsageError('--max-block-duration must be positive');
    let total: number;
    try {
      total = fs.statSync(file).size;
    } catch (e) {
      io.err(`vigil: error: cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : errorMessage(e)}\n`);
      return 1;
    }
    const dir = str(parsed, 'storage.tsdb.path');
    const quiet = parsed.flags.quiet === true;
    const importer = new BlockImporter({ dir, blockRange, progressEverySamples: 1 << 62 });
    let bytesDone = 0;
    let lastDraw = 0;
    const draw = (final: boolean) => {
      if (quiet) return;
      const now = performance.now();
      if (!final && now - lastDraw < (io.isTty ? 200 : 10_000)) return;
      lastDraw = now;
      const line = formatImportProgress(importer.progress(), bytesDone, total);
      if (io.isTty) io.err(`\r${line}\x1b[K${final ? '\n' : ''}`);
      else io.err(line + '\n');
    };
    // Labels are parsed once per distinct series text.
    const seen = new Map<string, Labels>();
    let missingTs: string | undefined;
    try {
      await parseExpositionStream(
        fs.createReadStream(file, { highWaterMark: 1 << 20 }),
        'openmetrics',
        (p, e) => {
          if (e !== Entry.Series || missingTs) return;
          const key = p.input.toString('latin1', p.seriesStart, p.seriesEnd);
          let labels = seen.get(key);
          if (!labels) {
            labels = p.labels();
            seen.set(key, labels);
          }
          if (!p.hasTimestamp) {
            // The parser has moved past the series' line ending.
            missingTs = `${file}:${p.line - 1}: expected timestamp for series ${labels.toString()}, got none`;
            return;
          }
          importer.add(labels, p.timestamp, p.value);
        },
        {
          onProgress: async (done) => {
            bytesDone = done;
            draw(false);
            if (importer.needsFlush) await importer.flush();
          },
        },
      );
      if (missingTs) {
        io.err(`vigil: error: ${missingTs}\n`);
        return 1;
      }
      bytesDone = total;
      draw(true);
      const summary = await importer.finish();
      io.out(formatImportSummary(summary) + '\n');
      return 0;
    } catch (e) {
      if (!quiet && io.isTty) io.err('\n');
      if (e instanceof ExpositionParseError) io.err(`vigil: error: ${file}:${e.message}\n`);
      else if (e instanceof TsdbError) io.err(`vigil: error: ${e.message}\n`);
      else throw e;
      return 1;
    }
  },
};

export const tsdbStatsCommand: Command = {
  path: ['tsdb', 'stats'],
  summary: 'Describe a data directory: blocks, head, bytes per sample, top label cardinalities.',
  description: 'Read-only: safe to run beside a server using the directory.',
  flags: {
    'storage.tsdb.path': { type: 'string', default: 'data', placeholder: 'DIR', help: 'Data directory.' },
    limit: { type: 'string', default: '10', placeholder: 'N', help: 'Entries per cardinality list.' },
    json: { type: 'boolean', default: false, help: 'Print the report as JSON.' },
  },
  async run(parsed, io) {
    const limit = Number(str(parsed, 'limit'));
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit: ${JSON.stringify(str(parsed, 'limit'))} is not a positive integer`);
    const dir = str(parsed, 'storage.tsdb.path');
    let report;
    try {
      report = analyzeTsdb(dir, { limit });
    } catch (e) {
      io.err(`vigil: error: ${errorMessage(e)}\n`);
      return 1;
    }
    io.out(parsed.flags.json === true ? JSON.stringify(report, null, 2) + '\n' : formatTsdbAnalysis(report));
    return 0;
  },
};
