// Creates a PGlite data directory (runs initdb) in a short-lived child process, so that the
// memory initdb needs (several hundred MB of WebAssembly heap) is returned to the system when it
// exits instead of staying in the long-running Vigil process.
// Usage: node pglite-initdb.mjs DIR CONF_JSON   (CONF_JSON: array of postgresql.conf lines)
import { PGlite } from '@electric-sql/pglite';

const [dir, conf] = process.argv.slice(2);
try {
  const db = await PGlite.create({ dataDir: dir, postgresqlconf: JSON.parse(conf ?? '[]') });
  await db.query('SELECT 1');
  await db.close();
  process.exit(0);
} catch (e) {
  process.stderr.write(String(e && e.message ? e.message : e) + '\n');
  process.exit(1);
}
