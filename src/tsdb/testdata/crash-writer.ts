/**
 * Child process of the kill -9 test: appends rounds of samples as fast as it can and prints
 * "committed <round>" after each commit() resolved. Small segments and block ranges make
 * segment cuts, block writes and checkpoints happen while it runs, so the kill can land in any
 * of them. Usage: node --import tsx crash-writer.ts DIR SERIES
 */
import { Labels } from '../../model/index.ts';
import { openTsdb } from '../index.ts';

const dir = process.argv[2]!;
const seriesCount = Number(process.argv[3] ?? 50);
const db = await openTsdb({ dir, blockRange: 60_000, compactionIntervalMs: 20, wal: { segmentSize: 64 * 1024 }, retentionTime: 0 });
const labels = Array.from({ length: seriesCount }, (_, i) => Labels.fromRecord({ __name__: 'crash_test', series: String(i) }));
const refs = new Array<number>(seriesCount).fill(0);
process.stdout.write(`ready\n`);
for (let round = 0; ; round++) {
  const app = db.appender();
  for (let i = 0; i < seriesCount; i++) refs[i] = app.append(refs[i]!, labels[i]!, round * 1000, round * 10 + i);
  await app.commit();
  process.stdout.write(`committed ${round}\n`);
}
