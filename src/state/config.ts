/**
 * The `state` section of vigil.yml:
 *
 * ```yaml
 * state:
 *   # Without `postgres`: the embedded store (PGlite) in `path` (default <storage.path>/state).
 *   path: ./data/state
 *   postgres:                  # a PostgreSQL server instead; several instances may share it
 *     url: postgres://vigil:pw@db:5432/vigil     # or url_file: /run/secrets/vigil-db-url
 *     schema: vigil
 *     max_connections: 5
 *     leader_check_interval: 5s
 * ```
 */
import { defineSection, exclusiveSecret, filePath, pickSecret, positiveDuration, secret, secretFile, z } from '../config/index.ts';

const postgresSchema = z
  .strictObject({
    url: secret().optional(),
    url_file: secretFile().optional(),
    schema: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, { message: 'must be a PostgreSQL identifier (letters, digits, _; at most 63)' }).default('vigil'),
    max_connections: z.number().int().min(1).max(100).default(5),
    leader_check_interval: positiveDuration().default(5000),
  })
  .superRefine((v, ctx) => {
    exclusiveSecret(v as Record<string, unknown>, 'url', ctx);
    if (!v.url && !v.url_file) ctx.addIssue({ code: 'custom', message: 'one of url and url_file is required', path: [] });
  })
  .transform((v) => ({ url: pickSecret(v.url, v.url_file)!, schema: v.schema, maxConnections: v.max_connections, leaderCheckIntervalMs: v.leader_check_interval }));

export const stateSection = defineSection(
  'state',
  z
    .strictObject({
      /** Directory of the embedded store; relative to the configuration file. */
      path: filePath().optional(),
      postgres: postgresSchema.optional(),
    })
    .default(() => ({})),
);

export type StateConfig = z.output<typeof stateSection.schema>;
