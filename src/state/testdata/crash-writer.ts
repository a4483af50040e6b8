/**
 * Child process for the kill -9 test: opens a state store and writes silences and
 * notification-log entries one after another, printing `ack <id>` after each write resolved.
 * The parent kills it with SIGKILL mid-stream and checks that every acknowledged write is there.
 * Usage: crash-writer.ts pglite|pglite-deferred DIR TEMPLATE_PGDATA | crash-writer.ts postgres URL SCHEMA
 * (`pglite-deferred`: the store is created by the first write, as `vigil server` does.)
 */
import { randomUUID } from 'node:crypto';
import { PGliteStateStore } from '../pglite.ts';
import { PostgresStateStore } from '../postgres.ts';
import type { StateStore } from '../types.ts';

const [kind, a, b] = process.argv.slice(2);
let store: StateStore;
if (kind === 'pglite') store = await PGliteStateStore.open({ dir: a!, templatePgdata: b });
else if (kind === 'pglite-deferred') store = await PGliteStateStore.deferred({ dir: a!, templatePgdata: b });
else store = await PostgresStateStore.open({ url: a!, schema: b!, leaderCheckIntervalMs: 60_000 });
process.stdout.write('ready\n');
for (let i = 0; ; i++) {
  const id = randomUUID();
  const now = Date.now();
  await store.silences.upsert({ id, matchers: [{ name: 'n', type: '=', value: String(i) }], startsAt: now, endsAt: now + 3_600_000, updatedAt: now, createdBy: 'crash', comment: `#${i}`, expireWhenResolved: false });
  await store.nflog.upsert([{ receiver: 'r/webhook/0', groupKey: id, timestamp: now, firing: [String(i)], resolved: [], expiresAt: now + 3_600_000 }]);
  process.stdout.write(`ack ${id}\n`);
}
